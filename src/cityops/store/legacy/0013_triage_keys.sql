-- Lookups of the triage queue by a request's Idempotency-Key (every keyed Open311 POST asks) and
-- by import source (every import asks) read every item ever triaged without these: the table
-- keeps decided items, so it only grows. The key index's expression is the query's, verbatim.
CREATE INDEX intel_triage_key ON intel_triage(json_extract(attributes, '$.idempotency_key'));
CREATE INDEX intel_triage_source ON intel_triage(source);

-- Reports classified on intake keep what their source attached (an Open311 request's key,
-- contact and token, an imported record's origin) while they wait in triage, so the case a
-- person's pick creates carries it too.
ALTER TABLE intel_triage ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';

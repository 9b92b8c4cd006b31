-- Short videos on cases (cityops.field.videos): their length in seconds; NULL for photos and
-- for a live WebM recording that wrote no duration.
ALTER TABLE attachments ADD COLUMN duration_s REAL;

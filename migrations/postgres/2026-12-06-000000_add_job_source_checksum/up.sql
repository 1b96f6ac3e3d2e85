-- Checksum of the source record's state that a dead-lettered job failed on, so that the
-- pollers do not queue that same state again.
ALTER TABLE sync_jobs ADD COLUMN source_checksum TEXT;

ALTER TABLE sync_jobs DROP COLUMN source_checksum;

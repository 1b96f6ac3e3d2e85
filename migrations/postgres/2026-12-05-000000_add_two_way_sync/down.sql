-- The previous schema has no direction, so Siagh-side jobs would read as
-- CRM-side ones: they are deleted. The finance poller finds those changes
-- again once this migration is reapplied, because finance_seen is dropped.

DROP TABLE leases;
DROP TABLE conflicts;
DROP TABLE poll_cursors;
DROP TABLE finance_seen;

DELETE FROM sync_jobs WHERE direction = 'siagh_to_crm';

DROP INDEX sync_jobs_one_pending_per_record_direction;
CREATE UNIQUE INDEX sync_jobs_one_pending_per_record
    ON sync_jobs (entity, record_id) WHERE status = 'pending';

ALTER TABLE sync_jobs DROP COLUMN payload;
ALTER TABLE sync_jobs DROP COLUMN direction;

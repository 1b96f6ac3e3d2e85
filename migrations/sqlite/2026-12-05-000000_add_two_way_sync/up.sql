-- Two-way customer sync and pollers. Jobs carry the direction of the change
-- and, for sources without a per-record read, a snapshot of the record. The
-- Siagh poller stores what it last saw, pollers keep cursors, merges record
-- their conflicts, and SQLite instances elect a poller leader with time leases.
-- Same changes as migrations/postgres. SQLite has no advisory locks.

ALTER TABLE sync_jobs
    ADD COLUMN direction TEXT NOT NULL DEFAULT 'crm_to_siagh'
        CONSTRAINT sync_jobs_direction_check
        CHECK (direction IN ('crm_to_siagh', 'siagh_to_crm'));
-- JSON snapshot of the source record, for sources that cannot be read per
-- record (Siagh contacts come only from GetAll).
ALTER TABLE sync_jobs ADD COLUMN payload TEXT;

-- One waiting job per record and direction, so a waiting CRM-side job does not
-- absorb a Siagh-side change. Claims still run one job per (entity, record_id).
DROP INDEX sync_jobs_one_pending_per_record;
CREATE UNIQUE INDEX sync_jobs_one_pending_per_record_direction
    ON sync_jobs (entity, direction, record_id) WHERE status = 'pending';

-- The last state of each Siagh contact the finance poller stored.
CREATE TABLE finance_seen (
    code TEXT PRIMARY KEY NOT NULL,
    checksum TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    seen_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE poll_cursors (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- Fields changed on both sides since the last sync, and which side won.
CREATE TABLE conflicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL,
    crm_id TEXT,
    siagh_code TEXT,
    field TEXT NOT NULL,
    base_value TEXT,
    crm_value TEXT,
    siagh_value TEXT,
    resolution TEXT NOT NULL,
    policy TEXT NOT NULL,
    job_id BIGINT REFERENCES sync_jobs (id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT conflicts_resolution_check CHECK (resolution IN ('crm', 'siagh'))
);

CREATE INDEX conflicts_created_at ON conflicts (created_at);

-- Time leases for single-holder work on SQLite. PostgreSQL uses advisory locks
-- instead and leaves this table empty.
CREATE TABLE leases (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

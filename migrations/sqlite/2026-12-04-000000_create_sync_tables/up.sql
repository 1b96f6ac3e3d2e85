-- Sync state: the durable job queue, the links between CRM and Siagh records,
-- the audit log, pause switches and remembered CRM record kinds.
-- Same tables as migrations/postgres. Timestamps are UTC text written by the
-- application; booleans are stored as 0 and 1.

CREATE TABLE sync_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    kind_hint TEXT,
    event TEXT NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    run_at TIMESTAMP NOT NULL,
    leased_by TEXT,
    lease_expires_at TIMESTAMP,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    finished_at TIMESTAMP,
    CONSTRAINT sync_jobs_status_check
        CHECK (status IN ('pending', 'running', 'done', 'dead'))
);

-- At most one waiting job per record: a delivery that arrives while a job
-- waits is merged into it, one that arrives after the claim makes a new job.
CREATE UNIQUE INDEX sync_jobs_one_pending_per_record
    ON sync_jobs (entity, record_id) WHERE status = 'pending';
CREATE INDEX sync_jobs_status_run_at ON sync_jobs (status, run_at);
CREATE INDEX sync_jobs_entity_record_id ON sync_jobs (entity, record_id);

CREATE TABLE entity_links (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL,
    crm_id TEXT,
    siagh_code TEXT,
    crm_kind TEXT,
    state TEXT NOT NULL,
    attempt_id TEXT,
    crm_checksum TEXT,
    siagh_checksum TEXT,
    base_snapshot TEXT,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT entity_links_entity_crm_id_key UNIQUE (entity, crm_id),
    CONSTRAINT entity_links_entity_siagh_code_key UNIQUE (entity, siagh_code),
    CONSTRAINT entity_links_state_check
        CHECK (state IN ('creating', 'uncertain', 'linked'))
);

CREATE TABLE sync_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id BIGINT REFERENCES sync_jobs (id) ON DELETE SET NULL,
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    direction TEXT NOT NULL,
    action TEXT NOT NULL,
    source_snapshot TEXT,
    target_before TEXT,
    target_after TEXT,
    target_id TEXT,
    error TEXT,
    duration_ms BIGINT,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX sync_log_entity_record_id ON sync_log (entity, record_id);
CREATE INDEX sync_log_job_id ON sync_log (job_id);

CREATE TABLE sync_control (
    scope TEXT PRIMARY KEY NOT NULL,
    paused BOOLEAN NOT NULL DEFAULT 0,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE crm_kinds (
    crm_id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

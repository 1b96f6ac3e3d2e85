DROP TABLE crm_kinds;
DROP TABLE sync_control;
DROP TABLE sync_log;
DROP TABLE entity_links;
DROP TABLE sync_jobs;

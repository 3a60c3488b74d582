-- laneway audit schema, version 1. Portable SQL: runs unchanged on SQLite and PostgreSQL.
-- JSON columns are TEXT so both backends store them the same way; readers are tolerant.
CREATE TABLE IF NOT EXISTS audit_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS audit_requests (
    request_id TEXT PRIMARY KEY,
    ts DOUBLE PRECISION NOT NULL,
    finished_ts DOUBLE PRECISION,
    status TEXT NOT NULL,
    lane TEXT NOT NULL,
    phase TEXT,
    complexity TEXT,
    job_id TEXT,
    user_hash TEXT,
    user_id TEXT,
    prompt_version TEXT,
    decision_model TEXT,
    decision_method TEXT,
    decision_rule_index INTEGER,
    decision_reasoning TEXT,
    provider TEXT,
    model TEXT,
    error_code TEXT,
    attempts TEXT,
    trace TEXT,
    duration_ms DOUBLE PRECISION,
    tokens_in BIGINT,
    tokens_out BIGINT,
    cost_usd DOUBLE PRECISION,
    payload_sha256 TEXT,
    output_sha256 TEXT,
    content TEXT,
    output TEXT,
    extra TEXT,
    host TEXT,
    pid INTEGER
);

CREATE INDEX IF NOT EXISTS audit_requests_ts ON audit_requests (ts);
-- partial: only the few `pending` rows are indexed, so finishing a request costs little
CREATE INDEX IF NOT EXISTS audit_requests_pending ON audit_requests (status) WHERE status = 'pending';

CREATE TABLE IF NOT EXISTS audit_routing_events (
    request_id TEXT,
    ts DOUBLE PRECISION NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    model TEXT,
    code TEXT,
    elapsed_ms DOUBLE PRECISION,
    cost_usd DOUBLE PRECISION,
    detail TEXT
);

CREATE INDEX IF NOT EXISTS audit_routing_events_request ON audit_routing_events (request_id);
CREATE INDEX IF NOT EXISTS audit_routing_events_ts ON audit_routing_events (ts);

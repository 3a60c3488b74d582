-- laneway audit schema, version 3: a request in flight is a row of `audit_pending`, a
-- small table of its own, until its final row goes to `audit_requests` and the pending
-- row is deleted in the same transaction. Why: a strict start commits before every
-- provider call, and a row in `audit_requests` cost four index pages per commit
-- (docs/performance.md, `## Server`). Readers see both tables (`status` 'pending').
CREATE TABLE IF NOT EXISTS audit_pending (
    request_id TEXT PRIMARY KEY,
    ts DOUBLE PRECISION NOT NULL,
    lane TEXT NOT NULL,
    phase TEXT,
    complexity TEXT,
    job_id TEXT,
    user_hash TEXT,
    user_id TEXT,
    prompt_version TEXT,
    payload_sha256 TEXT,
    content TEXT,
    host TEXT,
    pid INTEGER
);

INSERT INTO audit_pending (request_id, ts, lane, phase, complexity, job_id, user_hash, user_id, prompt_version, payload_sha256, content, host, pid)
SELECT request_id, ts, lane, phase, complexity, job_id, user_hash, user_id, prompt_version, payload_sha256, content, host, pid
FROM audit_requests WHERE status = 'pending';

DELETE FROM audit_requests WHERE status = 'pending';

DROP INDEX IF EXISTS audit_requests_pending;

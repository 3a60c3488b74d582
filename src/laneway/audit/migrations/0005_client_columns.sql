-- laneway audit schema, version 5: every request the server receives has a row, refusals
-- included, so a row names who asked: `client_key` (the server key's name; for an unknown
-- key `unknown:sha256:<first 12 hex digits of its digest>`, never the key) and
-- `client_request_id` (the caller's own X-Request-Id, kept apart from `request_id`, which
-- the server generates: a caller can never choose which row is written).
ALTER TABLE audit_requests ADD COLUMN client_key TEXT;
ALTER TABLE audit_requests ADD COLUMN client_request_id TEXT;
CREATE INDEX IF NOT EXISTS audit_requests_client_key ON audit_requests (client_key, ts);

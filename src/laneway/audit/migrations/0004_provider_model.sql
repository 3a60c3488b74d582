-- laneway audit schema, version 4: `model` is the configured provider/model that
-- served; `provider_model` keeps the name the upstream reported for it (a dated
-- version such as claude-opus-4-5-20251101), so statistics group by the former.
ALTER TABLE audit_requests ADD COLUMN provider_model TEXT;

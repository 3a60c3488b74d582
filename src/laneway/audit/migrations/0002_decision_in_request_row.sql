-- laneway audit schema, version 2: the decision's fallback chain and estimated cost
-- live on the request row, which already holds the decision and every attempt;
-- `decision` and `attempt` routing-event rows are no longer written (older rows stay).
ALTER TABLE audit_requests ADD COLUMN decision_fallback_chain TEXT;
ALTER TABLE audit_requests ADD COLUMN decision_estimated_cost_usd DOUBLE PRECISION;

-- Transactional outbox for margin workers (issue 20): an account's creation and each mutation that
-- changes its positions write, in the same transaction, the account's whole book after it. A relay
-- (`serve --nats`) publishes the rows to NATS JetStream in id order with the id as the message's
-- deduplication id, and deletes them once JetStream has acknowledged them (at least once).
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    account_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);

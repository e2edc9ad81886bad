-- Projection checkpoints: a digest (SHA-256) of the verified projections (balances, credit lines,
-- system accounts) as of event `upto_seq`, with the money that entered or left the system per asset
-- up to it (JSON object asset -> decimal string of base units). A restart verifies the projections
-- from the latest checkpoint and the events after it, instead of replaying the whole event log:
-- the projections minus the changes those events made must hash to the checkpoint's digest.
CREATE TABLE checkpoints (
    id BIGSERIAL PRIMARY KEY,
    upto_seq BIGINT NOT NULL,
    digest TEXT NOT NULL,
    flows TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);

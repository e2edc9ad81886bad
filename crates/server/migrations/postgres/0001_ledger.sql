-- intermargin ledger (PostgreSQL). Events are the source of truth; balances and positions are
-- projections updated in the same transaction. Amounts are decimal strings of base units
-- (same representation as on SQLite, so both backends share one code path).
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE api_keys (
    key_id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE assets (
    symbol TEXT PRIMARY KEY,
    decimals INTEGER NOT NULL
);
CREATE TABLE events (
    seq BIGSERIAL PRIMARY KEY,
    account_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX events_account ON events (account_id, seq);
CREATE TABLE balances (
    account_id TEXT NOT NULL,
    location TEXT NOT NULL,
    asset TEXT NOT NULL,
    amount TEXT NOT NULL,
    PRIMARY KEY (account_id, location, asset)
);
CREATE TABLE positions (
    account_id TEXT NOT NULL,
    venue TEXT NOT NULL,
    positions TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (account_id, venue)
);
CREATE TABLE idempotency (
    principal TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    response TEXT NOT NULL,
    PRIMARY KEY (principal, idem_key)
);

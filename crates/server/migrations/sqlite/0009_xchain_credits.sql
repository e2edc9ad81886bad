-- Cross-chain credit lines (`serve --xchain`): one row per (account, spoke chain) while a credit
-- is being locked, waits for the spoke's acceptance, is accepted, or is being released/voided.
-- Amounts are decimal strings of base units of the hub's collateral token.
CREATE TABLE xchain_credits (
    account_id TEXT NOT NULL,
    chain_id BIGINT NOT NULL,
    address TEXT NOT NULL,
    asset TEXT NOT NULL,
    amount TEXT NOT NULL,
    state TEXT NOT NULL,
    credit_nonce BIGINT,
    prior_nonce BIGINT NOT NULL,
    expiry_ms BIGINT NOT NULL,
    hub_from BIGINT NOT NULL,
    spoke_from BIGINT NOT NULL,
    lock_tx TEXT,
    accept_tx TEXT,
    release_tx TEXT,
    reason TEXT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (account_id, chain_id)
);

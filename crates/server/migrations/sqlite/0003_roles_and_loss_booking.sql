-- Keys can be revoked (and say which key replaced them when rotated); the stored hash is an
-- HMAC-SHA256 under the server's pepper for new keys (argon2 PHC strings from older versions are
-- re-hashed on first use).
ALTER TABLE api_keys ADD COLUMN revoked_ms BIGINT;
ALTER TABLE api_keys ADD COLUMN replaced_by TEXT;
-- Ledger accounts outside any customer account, per asset, in base units (decimal strings):
-- `insurance_fund` (penalties it received), `bad_debt` (negative: losses nobody paid),
-- `fees` (paid out of the system: transfer fees, liquidator fees, execution costs) and
-- `settlements` (net realised P&L received from venue counterparties). A projection of the
-- `liquidation` events; the ledger invariant per asset is
-- Σ balances + insurance_fund + bad_debt = Σ deposits − Σ withdrawals − Σ fees + settlements.
CREATE TABLE system_balances (
    name TEXT NOT NULL,
    asset TEXT NOT NULL,
    amount TEXT NOT NULL,
    PRIMARY KEY (name, asset)
);

-- The outbox keeps at most one row per account: each row carries the account's whole book, so a
-- newer row supersedes the older ones (ledger.rs `write_outbox` deletes them in the same
-- transaction). Without a relay (`serve` without `--nats`) the table therefore stays at one row
-- per account instead of growing with every mutation. Compacts what 0007 may have accumulated.
DELETE FROM outbox WHERE id NOT IN (SELECT MAX(id) FROM outbox GROUP BY account_id);
CREATE INDEX outbox_account ON outbox (account_id);

-- What an operator-configured account stream (`serve --live`, `[[accounts]]`) last reported for
-- an account on its venue, beside the positions it files in `positions`:
-- * `orders`: the venue's open (resting) orders, one JSON list per (account, venue), replaced
--   whole by each `orders` event; the margin reserves initial margin for them by each venue's rule.
-- * `streamed_balances`: the venue's balances (JSON list of collateral rows, amounts as decimal
--   strings of base units), replaced whole by each `streamed_balances` event, with the stream
--   that declared them and when. They are the venue's statement of fact, not deposits: they
--   never enter `balances` (the ledger's money) nor its invariant; the margin uses them for
--   that venue's pool in place of the ledger's deposits there.
CREATE TABLE orders (
    account_id TEXT NOT NULL,
    venue TEXT NOT NULL,
    orders TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (account_id, venue)
);
CREATE TABLE streamed_balances (
    account_id TEXT NOT NULL,
    venue TEXT NOT NULL,
    balances TEXT NOT NULL,
    source TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (account_id, venue)
);

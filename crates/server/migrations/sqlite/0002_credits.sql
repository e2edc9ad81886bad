-- Credit lines: hub collateral an account pledges to a venue (the venue lets the account trade
-- on it without the collateral moving). A projection of the `credit` events; the ledger keeps
-- the sum of an asset's credits at or below the account's hub balance of that asset.
CREATE TABLE credits (
    account_id TEXT NOT NULL,
    venue TEXT NOT NULL,
    asset TEXT NOT NULL,
    amount TEXT NOT NULL,
    PRIMARY KEY (account_id, venue, asset)
);

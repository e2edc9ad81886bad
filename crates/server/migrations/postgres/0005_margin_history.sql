-- Margin history (PostgreSQL): the figures of each margin update of an account (equity; siloed total, the
-- requirement venue by venue; unified initial and maintenance; saving), written by the live
-- monitor and served by `GET …/history` for the dashboard's history chart. Downsampled when
-- written (at most one point per account per `serve --history-step`, plus every state change)
-- and bounded (the newest `history::KEEP` points per account are kept). Derived figures, not
-- events: the event log stays the source of truth and replays without this table.
CREATE TABLE margin_history (
    account_id TEXT NOT NULL,
    t_ms BIGINT NOT NULL,
    market_ms BIGINT NOT NULL,
    equity DOUBLE PRECISION NOT NULL,
    siloed_total DOUBLE PRECISION NOT NULL,
    initial_margin DOUBLE PRECISION NOT NULL,
    maintenance_margin DOUBLE PRECISION NOT NULL,
    saving DOUBLE PRECISION NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (account_id, t_ms)
);

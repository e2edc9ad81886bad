//! Binance USDⓈ-M user-data stream as an account stream ([`crate::account::AccountStream`]).
//!
//! * A listen key from `POST /fapi/v1/listenKey` (signing and HTTP from
//!   `intermargin_venues::fetch::Fetcher`), the stream at `{ws_base}/ws/<listenKey>`, the key
//!   kept alive by `PUT` every `keepalive` (Binance: valid 60 minutes, so at most 59);
//!   `listenKeyExpired` (or a keep-alive answered -1125 "does not exist") → a new key and a
//!   new connection; a dropped connection → reconnect with backoff and jitter.
//! * `ACCOUNT_UPDATE` changes balances and positions, `ORDER_TRADE_UPDATE` open orders
//!   (`intermargin_venues::user_stream` turns them into the REST payloads' rows, and the REST
//!   adapter builds the canonical account from them).
//! * Binance pushes only what changed, so the REST state (`GET /fapi/v3/account`,
//!   `/fapi/v3/positionRisk`) is the base at every (re)connect and every `reconcile_every`.
//!   Open orders are the stream's (the fetcher does not read them).

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use intermargin_model::Venue;
use intermargin_venues::fetch::Fetcher;
use intermargin_venues::user_stream::{
    binance_order_open, binance_position_key, parse_binance_user, BinanceUserEvent,
};
use intermargin_venues::Payload;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::{interval, MissedTickBehavior};

use crate::account::{
    balance_differences, connect, lock, num, position_differences, reconcile, source_fields,
    text_of, Driver, End, Shared,
};
use crate::now_ms;
use crate::ws::Backoff;

/// Binance keeps a listen key 60 minutes after its last keep-alive.
pub const LISTEN_KEY_VALIDITY: Duration = Duration::from_secs(60 * 60);

/// One Binance USDⓈ-M account to stream.
#[derive(Clone)]
pub struct BinanceAccountSource {
    /// Canonical account id the snapshot files positions under.
    pub account: String,
    /// Signed REST access (listen keys, reconciliation).
    pub rest: Fetcher,
    /// WebSocket base (`wss://fstream.binance.com`); the stream is `{ws_base}/ws/<listenKey>`.
    pub ws_base: String,
    /// Listen-key keep-alive period (below [`LISTEN_KEY_VALIDITY`]; Binance suggests 30 min).
    pub keepalive: Duration,
    /// REST reconciliation period.
    pub reconcile_every: Duration,
    /// Reconnect delays.
    pub backoff: Backoff,
}

/// The account as rows of the Binance REST payloads.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rows {
    /// `GET /fapi/v3/account` asset rows by asset.
    assets: BTreeMap<String, Value>,
    /// positionRisk rows by `SYMBOL/SIDE`.
    positions: BTreeMap<String, Value>,
    /// Open orders by id.
    orders: BTreeMap<i64, Value>,
    /// `GET /fapi/v1/leverageBracket` text, once fetched.
    brackets: Option<String>,
}

impl Driver for BinanceAccountSource {
    type Rows = Rows;
    const VENUE: Venue = Venue::Binance;

    source_fields!();

    fn payloads(rows: &Rows) -> Vec<Payload> {
        payloads(rows)
    }

    fn rest_rows(payloads: &[Payload]) -> Result<Rows, String> {
        rest_rows(payloads)
    }

    fn differences(streamed: &Rows, rest: &Rows) -> Vec<String> {
        differences(streamed, rest)
    }

    fn carry(rest: &mut Rows, streamed: &mut Rows) {
        rest.orders = std::mem::take(&mut streamed.orders);
        if rest.brackets.is_none() {
            rest.brackets = streamed.brackets.take();
        }
    }

    async fn session(
        &self,
        shared: &Shared<Rows>,
        stop: &mut watch::Receiver<bool>,
        backoff: &mut Backoff,
    ) -> End {
        let key = match self.rest.binance_listen_key(false).await {
            Ok(k) => k,
            Err(e) => return End::Failed(format!("listen key: {e}")),
        };
        lock(shared).status.listen_keys += 1;
        session(self, shared, &key, stop, backoff).await
    }
}

/// Differences between the streamed and the REST state (wallet balances, positions' amounts
/// and entry prices); empty when they agree. A position of amount 0 counts as absent.
fn differences(streamed: &Rows, rest: &Rows) -> Vec<String> {
    let bal = |r: &Rows| -> BTreeMap<String, f64> {
        r.assets
            .iter()
            .map(|(k, v)| (k.clone(), num(v, "walletBalance")))
            .collect()
    };
    let pos = |r: &Rows| -> BTreeMap<String, (f64, f64)> {
        r.positions
            .iter()
            .map(|(k, v)| (k.clone(), (num(v, "positionAmt"), num(v, "entryPrice"))))
            .collect()
    };
    let mut out = balance_differences("wallet balance", &bal(streamed), &bal(rest));
    out.extend(position_differences(&pos(streamed), &pos(rest)));
    out
}

/// The rows as the payloads the adapter reads.
fn payloads(rows: &Rows) -> Vec<Payload> {
    let assets: Vec<&Value> = rows.assets.values().collect();
    let positions: Vec<&Value> = rows.positions.values().collect();
    let orders: Vec<&Value> = rows
        .orders
        .values()
        .filter(|o| binance_order_open(o))
        .collect();
    let mut out = vec![
        Payload::named(
            "/fapi/v3/account",
            json!({"assets": assets, "positions": []}).to_string(),
        ),
        Payload::named("/fapi/v3/positionRisk", json!(positions).to_string()),
        Payload::named("/fapi/v1/openOrders", json!(orders).to_string()),
    ];
    if let Some(b) = &rows.brackets {
        out.push(Payload::named("/fapi/v1/leverageBracket", b.clone()));
    }
    out
}

/// The REST state as rows: account assets, positionRisk rows, brackets (orders are not fetched).
fn rest_rows(payloads: &[Payload]) -> Result<Rows, String> {
    let mut rows = Rows::default();
    for p in payloads {
        let name = p.name.as_deref().unwrap_or_default();
        if name.contains("leverageBracket") {
            rows.brackets = Some(p.text.clone());
            continue;
        }
        let v: Value = serde_json::from_str(&p.text).map_err(|e| format!("{name}: {e}"))?;
        if name.contains("positionRisk") {
            for r in v.as_array().ok_or(format!("{name}: expected an array"))? {
                rows.positions.insert(binance_position_key(r), r.clone());
            }
        } else if name.contains("account") {
            for a in v
                .get("assets")
                .and_then(Value::as_array)
                .ok_or(format!("{name}: no assets array"))?
            {
                let asset = a.get("asset").and_then(Value::as_str).unwrap_or_default();
                rows.assets.insert(
                    asset.to_string(),
                    json!({"asset": asset, "walletBalance": a.get("walletBalance").cloned().unwrap_or(Value::Null)}),
                );
            }
        }
    }
    Ok(rows)
}

/// Applies one event; returns true when the listen key expired.
fn apply(shared: &Shared<Rows>, ev: BinanceUserEvent) -> bool {
    let mut g = lock(shared);
    match ev {
        BinanceUserEvent::Account {
            event_ms,
            assets,
            positions,
            ..
        } => {
            for a in assets {
                let k = a
                    .get("asset")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                g.rows.assets.insert(k, a);
            }
            for p in positions {
                g.rows.positions.insert(binance_position_key(&p), p);
            }
            g.status.events += 1;
            g.status.last_event_ms = Some(event_ms.unwrap_or_else(now_ms));
        }
        BinanceUserEvent::Order {
            event_ms,
            order_id,
            row,
        } => {
            if binance_order_open(&row) {
                g.rows.orders.insert(order_id, row);
            } else {
                g.rows.orders.remove(&order_id);
            }
            g.status.events += 1;
            g.status.last_event_ms = Some(event_ms.unwrap_or_else(now_ms));
        }
        BinanceUserEvent::ListenKeyExpired => return true,
        BinanceUserEvent::Ignored(_) => {}
    }
    false
}

async fn session(
    src: &BinanceAccountSource,
    shared: &Shared<Rows>,
    key: &str,
    stop: &mut watch::Receiver<bool>,
    backoff: &mut Backoff,
) -> End {
    let url = format!("{}/ws/{key}", src.ws_base.trim_end_matches('/'));
    let mut ws = match connect(&url).await {
        Ok(ws) => ws,
        Err(e) => return End::Reconnect(e),
    };
    lock(shared).status.connected = true;
    backoff.reset();
    let mut keepalive = interval(src.keepalive.min(LISTEN_KEY_VALIDITY));
    keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
    keepalive.tick().await;
    let mut recon = interval(src.reconcile_every);
    recon.set_missed_tick_behavior(MissedTickBehavior::Delay);
    recon.tick().await;
    let expired = |shared: &Shared<Rows>| {
        lock(shared).status.expiries += 1;
        End::Restart("listen key expired: a new key and a new connection".into())
    };
    loop {
        tokio::select! {
            msg = ws.next() => {
                let text = match text_of(msg) {
                    Err(reason) => return End::Reconnect(reason),
                    Ok(None) => continue,
                    Ok(Some(t)) => t,
                };
                match parse_binance_user(&text) {
                    Err(e) => {
                        tracing::warn!(account = %src.account, "skipped user-data frame: {e}");
                        lock(shared).status.bad_frames += 1;
                    }
                    Ok(ev) => {
                        if apply(shared, ev) {
                            let _ = ws.close(None).await;
                            return expired(shared);
                        }
                    }
                }
            }
            _ = keepalive.tick() => {
                match src.rest.binance_listen_key(true).await {
                    Ok(_) => lock(shared).status.keepalives += 1,
                    // -1125: "This listenKey does not exist." — start over with a new key.
                    Err(e) if e.to_string().contains("-1125") => {
                        let _ = ws.close(None).await;
                        return expired(shared);
                    }
                    Err(e) => {
                        tracing::warn!(account = %src.account, "listen key keep-alive: {e}");
                        lock(shared).status.last_error = Some(format!("keep-alive: {e}"));
                    }
                }
            }
            _ = recon.tick() => reconcile(src, shared).await,
            _ = stop.changed() => {
                let _ = ws.close(None).await;
                return End::Stop;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(assets: &[(&str, &str)], positions: &[(&str, &str, &str, &str)]) -> Rows {
        let mut r = Rows::default();
        for (a, w) in assets {
            r.assets
                .insert(a.to_string(), json!({"asset": a, "walletBalance": w}));
        }
        for (s, side, amt, ep) in positions {
            let row =
                json!({"symbol": s, "positionSide": side, "positionAmt": amt, "entryPrice": ep});
            r.positions.insert(binance_position_key(&row), row);
        }
        r
    }

    #[test]
    fn differences_compare_values_not_spellings() {
        let a = rows(
            &[("USDT", "94.91018561")],
            &[
                ("BTCUSDT", "LONG", "0.010", "11445.71000"),
                ("ETHUSDT", "BOTH", "0", "0"),
            ],
        );
        let b = rows(
            &[("USDT", "94.91018561000")],
            &[("BTCUSDT", "LONG", "0.01", "11445.71")],
        );
        assert!(differences(&a, &b).is_empty(), "{:?}", differences(&a, &b));
        let c = rows(
            &[("USDT", "90")],
            &[("BTCUSDT", "LONG", "0.02", "11445.71")],
        );
        let d = differences(&a, &c);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].starts_with("USDT wallet balance: streamed 94.91018561, REST 90"));
        assert!(d[1].starts_with("BTCUSDT/LONG: streamed 0.01 @ 11445.71, REST 0.02 @ 11445.71"));
    }
}

//! Deribit account stream: a private JSON-RPC WebSocket kept authenticated and applied to the
//! account, with periodic REST reconciliation (a [`crate::account::Driver`]; started as an
//! [`crate::account::AccountStream`]).
//!
//! * Each connection: `public/auth` with `grant_type=client_credentials` (the client id and
//!   secret of [`intermargin_venues::fetch::Credentials`], as the REST fetcher uses them), then
//!   `public/set_heartbeat` and `private/subscribe` to `user.portfolio.{currency}` and
//!   `user.changes.any.{currency}.raw` per configured currency. `test_request` heartbeats are
//!   answered with `public/test`; silence longer than three heartbeat intervals drops the
//!   connection.
//! * The access token is renewed on the same connection with `grant_type=refresh_token` when
//!   [`REFRESH_AT`] of its `expires_in` has passed; an auth error ends the connection, and the
//!   next one authenticates afresh (`client_credentials`). A dropped connection reconnects with
//!   backoff and jitter, re-authenticates and resubscribes.
//! * Notifications become rows of `private/get_account_summaries` (portfolio) and
//!   `private/get_positions` / open orders (changes) through
//!   [`intermargin_venues::user_stream::parse_deribit_user`], and the Deribit REST adapter builds
//!   the canonical account from them ([`crate::account::AccountStream::snapshot`]).
//! * The REST state (`Fetcher::fetch`: positions, account summaries, option tickers) is the base
//!   at every (re)connection and every `reconcile_every`: streamed balances or positions that
//!   disagree are replaced, a warning names each difference, and the status counts it.
//! * A malformed frame is logged and counted (`bad_frames`), never a panic.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use intermargin_model::Venue;
use intermargin_venues::fetch::{Credentials, Fetcher};
use intermargin_venues::user_stream::{
    deribit_order_id, deribit_order_open, deribit_tokens, parse_deribit_user, DeribitUserMessage,
};
use intermargin_venues::Payload;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::{interval, sleep_until, Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;

use crate::account::{
    balance_differences, connect, lock, num, position_differences, reconcile, source_fields,
    text_of, Driver, End, Shared,
};
use crate::now_ms;
use crate::ws::Backoff;

/// Fraction of a token's lifetime after which it is refreshed.
pub const REFRESH_AT: f64 = 0.8;

/// Deribit's minimum `public/set_heartbeat` interval, seconds.
pub const MIN_HEARTBEAT_SECS: u64 = 10;

const AUTH_ID: i64 = 1;
const HEARTBEAT_ID: i64 = 2;
const SUBSCRIBE_ID: i64 = 3;
const REFRESH_ID: i64 = 4;
const TEST_ID: i64 = 5;

/// One Deribit account to stream.
#[derive(Clone)]
pub struct DeribitAccountSource {
    /// Canonical account id the snapshot files positions under.
    pub account: String,
    /// Client id and secret for `public/auth`.
    pub creds: Credentials,
    /// REST access for reconciliation (authenticates with the same credentials).
    pub rest: Fetcher,
    /// WebSocket URL (`wss://www.deribit.com/ws/api/v2`).
    pub ws_url: String,
    /// Currencies to subscribe (`BTC`, `ETH`, or `any`).
    pub currencies: Vec<String>,
    /// `public/set_heartbeat` interval (raised to [`MIN_HEARTBEAT_SECS`]).
    pub heartbeat_secs: u64,
    /// REST reconciliation period.
    pub reconcile_every: Duration,
    /// Reconnect delays.
    pub backoff: Backoff,
}

impl DeribitAccountSource {
    /// The channels subscribed: `user.portfolio.{c}` and `user.changes.any.{c}.raw` per currency.
    pub fn channels(&self) -> Vec<String> {
        let mut out = Vec::new();
        for c in &self.currencies {
            let c = c.to_ascii_lowercase();
            out.push(format!("user.portfolio.{c}"));
            out.push(format!("user.changes.any.{c}.raw"));
        }
        out
    }
}

/// The account as rows of the Deribit REST payloads.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rows {
    /// `private/get_account_summaries` rows by currency.
    summaries: BTreeMap<String, Value>,
    /// `private/get_positions` rows by instrument.
    positions: BTreeMap<String, Value>,
    /// Open-order rows by order id.
    orders: BTreeMap<String, Value>,
    /// `public/ticker` payloads fetched with the REST state (options' Greeks and mark IV).
    tickers: Vec<Payload>,
}

impl Driver for DeribitAccountSource {
    type Rows = Rows;
    const VENUE: Venue = Venue::Deribit;

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
    }

    async fn session(
        &self,
        shared: &Shared<Rows>,
        stop: &mut watch::Receiver<bool>,
        backoff: &mut Backoff,
    ) -> End {
        session(self, shared, stop, backoff).await
    }
}

/// The rows as the payloads the adapter reads.
fn payloads(rows: &Rows) -> Vec<Payload> {
    let sums: Vec<&Value> = rows.summaries.values().collect();
    let positions: Vec<&Value> = rows.positions.values().collect();
    let orders: Vec<&Value> = rows
        .orders
        .values()
        .filter(|o| deribit_order_open(o))
        .collect();
    let mut out = vec![
        Payload::named(
            "/api/v2/private/get_positions",
            json!({"jsonrpc": "2.0", "result": positions}).to_string(),
        ),
        Payload::named(
            "/api/v2/private/get_account_summaries",
            json!({"jsonrpc": "2.0", "result": {"summaries": sums}}).to_string(),
        ),
        Payload::named(
            "/api/v2/private/get_open_orders_by_currency",
            json!({"jsonrpc": "2.0", "result": orders}).to_string(),
        ),
    ];
    out.extend(rows.tickers.iter().cloned());
    out
}

/// A position row's signed size (Deribit sends `size` signed and `direction`; a `sell` with a
/// positive size is short, as the adapter reads it) and average price.
fn signed(v: &Value) -> (f64, f64) {
    let s = num(v, "size");
    let s = if v.get("direction").and_then(Value::as_str) == Some("sell") && s > 0.0 {
        -s
    } else {
        s
    };
    (s, num(v, "average_price"))
}

/// Differences between the streamed and the REST state (balances, positions' signed sizes and
/// average prices); empty when they agree. A position of size 0 counts as absent.
fn differences(streamed: &Rows, rest: &Rows) -> Vec<String> {
    let bal = |r: &Rows| -> BTreeMap<String, f64> {
        r.summaries
            .iter()
            .map(|(k, v)| (k.clone(), num(v, "balance")))
            .collect()
    };
    let pos = |r: &Rows| -> BTreeMap<String, (f64, f64)> {
        r.positions
            .iter()
            .map(|(k, v)| (k.clone(), signed(v)))
            .collect()
    };
    let mut out = balance_differences("balance", &bal(streamed), &bal(rest));
    out.extend(position_differences(&pos(streamed), &pos(rest)));
    out
}

/// The JSON-RPC `result` of a REST answer.
fn result_of<'a>(name: &str, v: &'a Value) -> Result<&'a Value, String> {
    if let Some(e) = v.get("error") {
        return Err(format!("{name}: venue error {e}"));
    }
    v.get("result")
        .ok_or_else(|| format!("{name}: no result in the answer"))
}

/// The REST state as rows: positions, account summaries, tickers (orders are not fetched).
fn rest_rows(payloads: &[Payload]) -> Result<Rows, String> {
    let mut rows = Rows::default();
    for p in payloads {
        let name = p.name.as_deref().unwrap_or_default();
        if name.contains("ticker") {
            rows.tickers.push(p.clone());
            continue;
        }
        let v: Value = serde_json::from_str(&p.text).map_err(|e| format!("{name}: {e}"))?;
        let res = result_of(name, &v)?;
        if name.contains("get_positions") {
            for r in res
                .as_array()
                .ok_or(format!("{name}: result is not an array"))?
            {
                let k = r
                    .get("instrument_name")
                    .and_then(Value::as_str)
                    .ok_or(format!("{name}: a position without instrument_name"))?;
                rows.positions.insert(k.to_string(), r.clone());
            }
        } else if name.contains("get_account_summar") {
            let list: Vec<Value> = match res.get("summaries") {
                Some(Value::Array(a)) => a.clone(),
                _ => vec![res.clone()],
            };
            for s in list {
                let c = s
                    .get("currency")
                    .and_then(Value::as_str)
                    .ok_or(format!("{name}: a summary without currency"))?
                    .to_ascii_uppercase();
                rows.summaries.insert(c, s);
            }
        }
    }
    Ok(rows)
}

/// Applies a portfolio or changes notification.
fn apply(shared: &Shared<Rows>, msg: DeribitUserMessage) {
    let mut g = lock(shared);
    match msg {
        DeribitUserMessage::Portfolio { currency, summary } => {
            g.rows.summaries.insert(currency, summary);
        }
        DeribitUserMessage::Changes { positions, orders } => {
            for p in positions {
                let k = p
                    .get("instrument_name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                g.rows.positions.insert(k, p);
            }
            for o in orders {
                let Some(id) = deribit_order_id(&o) else {
                    continue;
                };
                if deribit_order_open(&o) {
                    g.rows.orders.insert(id, o);
                } else {
                    g.rows.orders.remove(&id);
                }
            }
        }
        _ => return,
    }
    g.status.events += 1;
    g.status.last_event_ms = Some(now_ms());
}

fn rpc(id: i64, method: &str, params: Value) -> Message {
    Message::text(
        json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string(),
    )
}

/// When to refresh a token that expires in `expires_in` seconds.
fn refresh_deadline(expires_in: u64) -> Instant {
    Instant::now() + Duration::from_secs_f64(expires_in as f64 * REFRESH_AT)
}

async fn session(
    src: &DeribitAccountSource,
    shared: &Shared<Rows>,
    stop: &mut watch::Receiver<bool>,
    backoff: &mut Backoff,
) -> End {
    let mut ws = match connect(&src.ws_url).await {
        Ok(ws) => ws,
        Err(e) => return End::Reconnect(e),
    };
    let auth = rpc(
        AUTH_ID,
        "public/auth",
        json!({"grant_type": "client_credentials", "client_id": src.creds.key,
               "client_secret": src.creds.secret}),
    );
    if let Err(e) = ws.send(auth).await {
        return End::Reconnect(format!("send public/auth: {e}"));
    }
    lock(shared).status.connected = true;
    let hb = src.heartbeat_secs.max(MIN_HEARTBEAT_SECS);
    let silence = Duration::from_secs(hb * 3);
    let mut last_rx = Instant::now();
    // No refresh until the first token arrives.
    let mut refresh_at: Option<Instant> = None;
    let mut refresh_token: Option<String> = None;
    let mut recon = interval(src.reconcile_every);
    recon.set_missed_tick_behavior(MissedTickBehavior::Delay);
    recon.tick().await;
    loop {
        let deadline = refresh_at;
        let refresh_sleep = async move {
            match deadline {
                Some(t) => sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            msg = ws.next() => {
                let text = match text_of(msg) {
                    Err(reason) => return End::Reconnect(reason),
                    Ok(None) => continue,
                    Ok(Some(t)) => t,
                };
                last_rx = Instant::now();
                let msg = match parse_deribit_user(&text) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(account = %src.account, "skipped deribit frame: {e}");
                        lock(shared).status.bad_frames += 1;
                        continue;
                    }
                };
                match msg {
                    DeribitUserMessage::Response { id: Some(id @ (AUTH_ID | REFRESH_ID)), result } => {
                        let t = match deribit_tokens(&result) {
                            Ok(t) => t,
                            Err(e) => return End::Reconnect(format!("public/auth answer: {e}")),
                        };
                        refresh_at = Some(refresh_deadline(t.expires_in));
                        refresh_token = Some(t.refresh_token);
                        if id == AUTH_ID {
                            lock(shared).status.auths += 1;
                            backoff.reset();
                            let sub = [
                                rpc(HEARTBEAT_ID, "public/set_heartbeat", json!({"interval": hb})),
                                rpc(SUBSCRIBE_ID, "private/subscribe", json!({"channels": src.channels()})),
                            ];
                            for m in sub {
                                if let Err(e) = ws.send(m).await {
                                    return End::Reconnect(format!("send: {e}"));
                                }
                            }
                        } else {
                            lock(shared).status.token_refreshes += 1;
                        }
                    }
                    DeribitUserMessage::Error { id, error } => {
                        tracing::warn!(account = %src.account, "deribit answered request {id:?} with an error: {error}");
                        lock(shared).status.last_error = Some(format!("request {id:?}: {error}"));
                        if matches!(id, Some(AUTH_ID)) {
                            lock(shared).status.auth_failures += 1;
                            let _ = ws.close(None).await;
                            return End::Failed(format!("public/auth refused: {error}"));
                        }
                        if matches!(id, Some(REFRESH_ID | SUBSCRIBE_ID)) {
                            let _ = ws.close(None).await;
                            return End::Reconnect(format!("token refresh or subscription refused: {error}"));
                        }
                    }
                    DeribitUserMessage::TestRequest => {
                        if let Err(e) = ws.send(rpc(TEST_ID, "public/test", json!({}))).await {
                            return End::Reconnect(format!("heartbeat reply: {e}"));
                        }
                        lock(shared).status.heartbeats += 1;
                    }
                    m @ (DeribitUserMessage::Portfolio { .. } | DeribitUserMessage::Changes { .. }) => apply(shared, m),
                    DeribitUserMessage::Response { .. }
                    | DeribitUserMessage::Heartbeat
                    | DeribitUserMessage::Ignored(_) => {}
                }
            }
            _ = refresh_sleep => {
                refresh_at = None;
                let Some(rt) = refresh_token.clone() else { continue };
                let m = rpc(REFRESH_ID, "public/auth", json!({"grant_type": "refresh_token", "refresh_token": rt}));
                if let Err(e) = ws.send(m).await {
                    return End::Reconnect(format!("send token refresh: {e}"));
                }
            }
            _ = sleep_until(last_rx + silence) => {
                let _ = ws.close(None).await;
                return End::Reconnect(format!("nothing received for {} s (heartbeat {hb} s)", silence.as_secs()));
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

    fn rows(bal: &[(&str, f64)], pos: &[(&str, f64, &str, f64)]) -> Rows {
        let mut r = Rows::default();
        for (c, b) in bal {
            r.summaries
                .insert(c.to_string(), json!({"currency": c, "balance": b}));
        }
        for (n, size, dir, avg) in pos {
            r.positions.insert(
                n.to_string(),
                json!({"instrument_name": n, "size": size, "direction": dir, "average_price": avg}),
            );
        }
        r
    }

    #[test]
    fn differences_name_balances_and_signed_positions() {
        let a = rows(
            &[("BTC", 0.23399957)],
            &[
                ("BTC-PERPETUAL", 185160.0, "buy", 15000.0),
                ("ETH-PERPETUAL", 0.0, "zero", 0.0),
            ],
        );
        let b = rows(
            &[("BTC", 0.23399957)],
            &[("BTC-PERPETUAL", 185160.0, "buy", 15000.0)],
        );
        assert!(differences(&a, &b).is_empty(), "{:?}", differences(&a, &b));
        // A short given as a positive size with direction sell equals the signed size.
        let s1 = rows(&[], &[("BTC-PERPETUAL", 50.0, "sell", 7440.18)]);
        let s2 = rows(&[], &[("BTC-PERPETUAL", -50.0, "sell", 7440.18)]);
        assert!(differences(&s1, &s2).is_empty());
        let c = rows(
            &[("BTC", 1.0)],
            &[("BTC-PERPETUAL", -50.0, "sell", 7440.18)],
        );
        let d = differences(&a, &c);
        assert_eq!(
            d,
            [
                "BTC balance: streamed 0.23399957, REST 1",
                "BTC-PERPETUAL: streamed 185160 @ 15000, REST -50 @ 7440.18"
            ]
        );
    }
}

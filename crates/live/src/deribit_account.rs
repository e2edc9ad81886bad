//! Deribit account stream: a private JSON-RPC WebSocket kept authenticated and applied to the
//! account, with periodic REST reconciliation (the Deribit counterpart of [`crate::account`]).
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
//!   the canonical account from them ([`DeribitAccountStream::snapshot`]).
//! * The REST state (`Fetcher::fetch`: positions, account summaries, option tickers) is the base
//!   at every (re)connection and every `reconcile_every`: streamed balances or positions that
//!   disagree are replaced, a warning names each difference, and the status counts it.
//! * A malformed frame is logged and counted (`bad_frames`), never a panic.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use intermargin_model::{Snapshot, Venue};
use intermargin_venues::fetch::{Credentials, Fetcher};
use intermargin_venues::user_stream::{
    deribit_order_id, deribit_order_open, deribit_tokens, parse_deribit_user, DeribitUserMessage,
};
use intermargin_venues::{ImportOptions, Payload, VenueError};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{interval, sleep, sleep_until, timeout, Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;

use crate::account::{adopt_rest, lock, AccountStreamStatus, Shared};
use crate::now_ms;
use crate::ws::{Backoff, MAX_FRAME_BYTES};

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
struct Rows {
    /// `private/get_account_summaries` rows by currency.
    summaries: BTreeMap<String, Value>,
    /// `private/get_positions` rows by instrument.
    positions: BTreeMap<String, Value>,
    /// Open-order rows by order id.
    orders: BTreeMap<String, Value>,
    /// `public/ticker` payloads fetched with the REST state (options' Greeks and mark IV).
    tickers: Vec<Payload>,
}

/// A running Deribit account stream.
pub struct DeribitAccountStream {
    account: String,
    shared: Shared<Rows>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl DeribitAccountStream {
    /// Starts streaming on the current tokio runtime.
    pub fn start(src: DeribitAccountSource) -> DeribitAccountStream {
        let shared: Shared<Rows> = Arc::default();
        let (stop, rx) = watch::channel(false);
        let account = src.account.clone();
        let task = tokio::spawn(run(src, shared.clone(), rx));
        DeribitAccountStream {
            account,
            shared,
            stop,
            task,
        }
    }

    /// The account as streamed (and reconciled), through the Deribit REST adapter.
    pub fn snapshot(&self) -> Result<Snapshot, VenueError> {
        let rows = lock(&self.shared).rows.clone();
        intermargin_venues::import(
            Venue::Deribit,
            &payloads(&rows),
            &ImportOptions {
                account: self.account.clone(),
            },
        )
    }

    /// The canonical account id it files positions under.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// Counters and state.
    pub fn status(&self) -> AccountStreamStatus {
        lock(&self.shared).status.clone()
    }

    /// Stops the stream (also done on drop).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for DeribitAccountStream {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.task.abort();
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

fn num(v: &Value, field: &str) -> f64 {
    v.get(field).and_then(Value::as_f64).unwrap_or(0.0)
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

/// Differences between the streamed and the REST state (balances, positions' sizes and average
/// prices); empty when they agree. A position of size 0 counts as absent.
fn differences(streamed: &Rows, rest: &Rows) -> Vec<String> {
    let mut out = Vec::new();
    let mut ccys: Vec<&String> = streamed
        .summaries
        .keys()
        .chain(rest.summaries.keys())
        .collect();
    ccys.sort();
    ccys.dedup();
    for c in ccys {
        let s = streamed.summaries.get(c).map(|v| num(v, "balance"));
        let r = rest.summaries.get(c).map(|v| num(v, "balance"));
        if s.unwrap_or(0.0) != r.unwrap_or(0.0) {
            out.push(format!(
                "{c} balance: streamed {}, REST {}",
                s.unwrap_or(0.0),
                r.unwrap_or(0.0)
            ));
        }
    }
    let open = |rows: &Rows| -> BTreeMap<String, (f64, f64)> {
        rows.positions
            .iter()
            .map(|(k, v)| (k.clone(), signed(v)))
            .filter(|(_, (size, _))| *size != 0.0)
            .collect()
    };
    let (s, r) = (open(streamed), open(rest));
    let mut keys: Vec<&String> = s.keys().chain(r.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let (a, b) = (s.get(k), r.get(k));
        if a != b {
            let show = |x: Option<&(f64, f64)>| match x {
                Some((size, avg)) => format!("{size} @ {avg}"),
                None => "none".to_string(),
            };
            out.push(format!("{k}: streamed {}, REST {}", show(a), show(b)));
        }
    }
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

/// Fetches the REST state and makes it the account's (the first time silently; later, a
/// disagreement is logged and counted).
async fn reconcile(src: &DeribitAccountSource, shared: &Shared<Rows>) {
    let fetched = src.rest.fetch().await.map_err(|e| e.to_string());
    let rest = fetched.and_then(|p| rest_rows(&p));
    adopt_rest(
        shared,
        "deribit",
        &src.account,
        rest,
        differences,
        |rest, streamed| {
            rest.orders = std::mem::take(&mut streamed.orders);
        },
    );
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

enum End {
    Stop,
    Reconnect(String),
}

async fn run(src: DeribitAccountSource, shared: Shared<Rows>, mut stop: watch::Receiver<bool>) {
    let mut backoff = src.backoff.clone();
    loop {
        if *stop.borrow() {
            return;
        }
        // Every (re)connection starts from the REST state.
        reconcile(&src, &shared).await;
        let end = session(&src, &shared, &mut stop, &mut backoff).await;
        lock(&shared).status.connected = false;
        match end {
            End::Stop => return,
            End::Reconnect(reason) => {
                tracing::warn!(account = %src.account, "deribit account stream: {reason}; reconnecting");
                {
                    let mut g = lock(&shared);
                    g.status.disconnects += 1;
                    g.status.last_error = Some(reason);
                }
                tokio::select! {
                    _ = sleep(backoff.next_delay()) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }
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
    let cfg = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES));
    let connect =
        tokio_tungstenite::connect_async_with_config(src.ws_url.as_str(), Some(cfg), false);
    let mut ws = match timeout(Duration::from_secs(10), connect).await {
        Err(_) => return End::Reconnect("connect timed out after 10 s".into()),
        Ok(Err(e)) => return End::Reconnect(format!("connect: {e}")),
        Ok(Ok((ws, _))) => ws,
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
                let text = match msg {
                    None => return End::Reconnect("closed by the venue".into()),
                    Some(Err(e)) => return End::Reconnect(format!("read: {e}")),
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Close(_))) => return End::Reconnect("close frame".into()),
                    Some(Ok(_)) => continue,
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
                        if matches!(id, Some(AUTH_ID | REFRESH_ID | SUBSCRIBE_ID)) {
                            let _ = ws.close(None).await;
                            return End::Reconnect(format!("authentication or subscription refused: {error}"));
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

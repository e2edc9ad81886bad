//! Account streams: the Binance USDⓈ-M user-data stream kept connected and applied to the
//! account, with periodic REST reconciliation.
//!
//! * A listen key from `POST /fapi/v1/listenKey` (signing and HTTP from
//!   `intermargin_venues::fetch::Fetcher`), the stream at `{ws_base}/ws/<listenKey>`, the key
//!   kept alive by `PUT` every `keepalive` (Binance: valid 60 minutes, so at most 59);
//!   `listenKeyExpired` (or a keep-alive answered -1125 "does not exist") → a new key and a
//!   new connection; a dropped connection → reconnect with backoff and jitter.
//! * `ACCOUNT_UPDATE` changes balances and positions, `ORDER_TRADE_UPDATE` open orders
//!   (`intermargin_venues::user_stream` turns them into the REST payloads' rows, and the REST
//!   adapter builds the canonical account from them: [`AccountStream::snapshot`]).
//! * Binance pushes only what changed, so the REST state (`GET /fapi/v3/account`,
//!   `/fapi/v3/positionRisk`) is the base at every (re)connect and every `reconcile_every`:
//!   when the streamed balances or positions disagree with it, the REST state replaces them,
//!   a warning names each difference, and the status counts it (`disagreements`,
//!   `last_disagreement`). Open orders are the stream's (the fetcher does not read them).
//! * A malformed frame is logged and counted (`bad_frames`), never a panic.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use intermargin_model::{Snapshot, Venue};
use intermargin_venues::fetch::Fetcher;
use intermargin_venues::user_stream::{
    binance_order_open, binance_position_key, parse_binance_user, BinanceUserEvent,
};
use intermargin_venues::{ImportOptions, Payload, VenueError};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{interval, sleep, timeout, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;

use crate::now_ms;
use crate::ws::{Backoff, MAX_FRAME_BYTES};

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

/// What the account stream has done, for `/health` and the logs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AccountStreamStatus {
    /// Connected now.
    pub connected: bool,
    /// Listen keys obtained (`POST`).
    pub listen_keys: u64,
    /// Keep-alives sent (`PUT`).
    pub keepalives: u64,
    /// `listenKeyExpired` events (or keep-alives refused for an unknown key).
    pub expiries: u64,
    /// Connections lost.
    pub disconnects: u64,
    /// Frames skipped as unreadable.
    pub bad_frames: u64,
    /// Account and order events applied.
    pub events: u64,
    /// REST reconciliations done.
    pub reconciliations: u64,
    /// Reconciliations that found the streamed state wrong (the REST state replaced it).
    pub disagreements: u64,
    /// What the last disagreement was.
    pub last_disagreement: Option<String>,
    /// Last event applied (UTC ms, the venue's event time when given).
    pub last_event_ms: Option<i64>,
    /// Last REST or connection error.
    pub last_error: Option<String>,
    /// Deribit: `public/auth` answered with tokens (`client_credentials` at each connection).
    pub auths: u64,
    /// Deribit: access tokens renewed with the `refresh_token` grant before they expired.
    pub token_refreshes: u64,
    /// Deribit: `test_request` heartbeats answered with `public/test`.
    pub heartbeats: u64,
}

/// The account as rows of the venue's REST payloads.
#[derive(Debug, Clone, Default)]
struct Rows {
    /// `GET /fapi/v3/account` asset rows by asset.
    assets: BTreeMap<String, Value>,
    /// positionRisk rows by `SYMBOL/SIDE`.
    positions: BTreeMap<String, Value>,
    /// Open orders by id.
    orders: BTreeMap<i64, Value>,
    /// `GET /fapi/v1/leverageBracket` text, once fetched.
    brackets: Option<String>,
}

/// What a venue's stream task and its handle share: the account as rows of the venue's REST
/// payloads, the counters, and whether a REST state was adopted yet.
#[derive(Default)]
pub(crate) struct Inner<R> {
    pub(crate) rows: R,
    pub(crate) status: AccountStreamStatus,
    pub(crate) reconciled: bool,
}

pub(crate) type Shared<R> = Arc<Mutex<Inner<R>>>;

pub(crate) fn lock<R>(s: &Shared<R>) -> std::sync::MutexGuard<'_, Inner<R>> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// Makes a fetched REST state the account's: the first time silently, later naming each
/// disagreement with the streamed rows (`differences`; logged and counted). `carry` moves onto
/// the REST rows what REST does not report (open orders, cached tables) from the streamed ones.
pub(crate) fn adopt_rest<R>(
    shared: &Shared<R>,
    venue: &str,
    account: &str,
    rest: Result<R, String>,
    differences: fn(&R, &R) -> Vec<String>,
    carry: impl FnOnce(&mut R, &mut R),
) {
    let mut g = lock(shared);
    match rest {
        Err(e) => {
            tracing::warn!(account = %account, "{venue} account reconciliation failed: {e}");
            g.status.last_error = Some(format!("reconciliation: {e}"));
        }
        Ok(mut rest) => {
            let diffs = differences(&g.rows, &rest);
            if g.reconciled && !diffs.is_empty() {
                let msg = diffs.join("; ");
                tracing::warn!(
                    account = %account,
                    "{venue} account stream disagreed with REST, REST state adopted: {msg}"
                );
                g.status.disagreements += 1;
                g.status.last_disagreement = Some(msg);
            }
            carry(&mut rest, &mut g.rows);
            g.rows = rest;
            g.reconciled = true;
            g.status.reconciliations += 1;
        }
    }
}

/// A running account stream.
pub struct AccountStream {
    account: String,
    shared: Shared<Rows>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl AccountStream {
    /// Starts streaming on the current tokio runtime.
    pub fn start(src: BinanceAccountSource) -> AccountStream {
        let shared: Shared<Rows> = Arc::default();
        let (stop, rx) = watch::channel(false);
        let account = src.account.clone();
        let task = tokio::spawn(run(src, shared.clone(), rx));
        AccountStream {
            account,
            shared,
            stop,
            task,
        }
    }

    /// The account as streamed (and reconciled), through the Binance REST adapter.
    pub fn snapshot(&self) -> Result<Snapshot, VenueError> {
        let rows = lock(&self.shared).rows.clone();
        intermargin_venues::import(
            Venue::Binance,
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

impl Drop for AccountStream {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.task.abort();
    }
}

/// The account source of one `[[accounts]]` entry, by venue.
#[derive(Clone)]
pub enum AnyAccountSource {
    /// Binance USDⓈ-M user-data stream.
    Binance(BinanceAccountSource),
    /// Deribit private JSON-RPC stream.
    Deribit(crate::deribit_account::DeribitAccountSource),
}

/// A running account stream of any venue.
pub enum AnyAccountStream {
    /// Binance USDⓈ-M.
    Binance(AccountStream),
    /// Deribit.
    Deribit(crate::deribit_account::DeribitAccountStream),
}

impl AnyAccountStream {
    /// Starts the venue's stream on the current tokio runtime.
    pub fn start(src: AnyAccountSource) -> AnyAccountStream {
        match src {
            AnyAccountSource::Binance(s) => AnyAccountStream::Binance(AccountStream::start(s)),
            AnyAccountSource::Deribit(s) => {
                AnyAccountStream::Deribit(crate::deribit_account::DeribitAccountStream::start(s))
            }
        }
    }

    /// The venue streamed.
    pub fn venue(&self) -> Venue {
        match self {
            AnyAccountStream::Binance(_) => Venue::Binance,
            AnyAccountStream::Deribit(_) => Venue::Deribit,
        }
    }

    /// The account as streamed (and reconciled), through the venue's REST adapter.
    pub fn snapshot(&self) -> Result<Snapshot, VenueError> {
        match self {
            AnyAccountStream::Binance(s) => s.snapshot(),
            AnyAccountStream::Deribit(s) => s.snapshot(),
        }
    }

    /// The canonical account id it files positions under.
    pub fn account(&self) -> &str {
        match self {
            AnyAccountStream::Binance(s) => s.account(),
            AnyAccountStream::Deribit(s) => s.account(),
        }
    }

    /// Counters and state.
    pub fn status(&self) -> AccountStreamStatus {
        match self {
            AnyAccountStream::Binance(s) => s.status(),
            AnyAccountStream::Deribit(s) => s.status(),
        }
    }

    /// Stops the stream (also done on drop).
    pub fn stop(&self) {
        match self {
            AnyAccountStream::Binance(s) => s.stop(),
            AnyAccountStream::Deribit(s) => s.stop(),
        }
    }
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

fn num(v: &Value, field: &str) -> f64 {
    match v.get(field) {
        Some(Value::String(s)) => s.parse().unwrap_or(0.0),
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Differences between the streamed and the REST state (balances, positions' amounts and entry
/// prices); empty when they agree. A position of amount 0 counts as absent.
fn differences(streamed: &Rows, rest: &Rows) -> Vec<String> {
    let mut out = Vec::new();
    let mut assets: Vec<&String> = streamed.assets.keys().chain(rest.assets.keys()).collect();
    assets.sort();
    assets.dedup();
    for a in assets {
        let s = streamed.assets.get(a).map(|v| num(v, "walletBalance"));
        let r = rest.assets.get(a).map(|v| num(v, "walletBalance"));
        if s.unwrap_or(0.0) != r.unwrap_or(0.0) {
            out.push(format!(
                "{a} wallet balance: streamed {}, REST {}",
                s.unwrap_or(0.0),
                r.unwrap_or(0.0)
            ));
        }
    }
    let open = |rows: &Rows| -> BTreeMap<String, (f64, f64)> {
        rows.positions
            .iter()
            .map(|(k, v)| (k.clone(), (num(v, "positionAmt"), num(v, "entryPrice"))))
            .filter(|(_, (amt, _))| *amt != 0.0)
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
                Some((amt, ep)) => format!("{amt} @ {ep}"),
                None => "none".to_string(),
            };
            out.push(format!("{k}: streamed {}, REST {}", show(a), show(b)));
        }
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

/// Fetches the REST state and makes it the account's (the first time silently; later, a
/// disagreement is logged and counted).
async fn reconcile(src: &BinanceAccountSource, shared: &Shared<Rows>) {
    let fetched = src.rest.fetch().await.map_err(|e| e.to_string());
    let rest = fetched.and_then(|p| rest_rows(&p));
    adopt_rest(
        shared,
        "binance",
        &src.account,
        rest,
        differences,
        |rest, streamed| {
            rest.orders = std::mem::take(&mut streamed.orders);
            if rest.brackets.is_none() {
                rest.brackets = streamed.brackets.take();
            }
        },
    );
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

enum End {
    Stop,
    Expired,
    Reconnect(String),
}

async fn run(src: BinanceAccountSource, shared: Shared<Rows>, mut stop: watch::Receiver<bool>) {
    let mut backoff = src.backoff.clone();
    loop {
        if *stop.borrow() {
            return;
        }
        // Binance pushes changes only: every (re)connection starts from the REST state.
        reconcile(&src, &shared).await;
        let key = match src.rest.binance_listen_key(false).await {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(account = %src.account, "binance listen key: {e}");
                lock(&shared).status.last_error = Some(format!("listen key: {e}"));
                tokio::select! {
                    _ = sleep(backoff.next_delay()) => continue,
                    _ = stop.changed() => return,
                }
            }
        };
        lock(&shared).status.listen_keys += 1;
        let end = session(&src, &shared, &key, &mut stop, &mut backoff).await;
        lock(&shared).status.connected = false;
        match end {
            End::Stop => return,
            End::Expired => {
                tracing::info!(account = %src.account, "binance listen key expired: a new key and a new connection");
                lock(&shared).status.expiries += 1;
            }
            End::Reconnect(reason) => {
                tracing::warn!(account = %src.account, "binance account stream: {reason}; reconnecting");
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

async fn session(
    src: &BinanceAccountSource,
    shared: &Shared<Rows>,
    key: &str,
    stop: &mut watch::Receiver<bool>,
    backoff: &mut Backoff,
) -> End {
    let url = format!("{}/ws/{key}", src.ws_base.trim_end_matches('/'));
    let cfg = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES));
    let connect = tokio_tungstenite::connect_async_with_config(url.as_str(), Some(cfg), false);
    let mut ws = match timeout(Duration::from_secs(10), connect).await {
        Err(_) => return End::Reconnect("connect timed out after 10 s".into()),
        Ok(Err(e)) => return End::Reconnect(format!("connect: {e}")),
        Ok(Ok((ws, _))) => ws,
    };
    lock(shared).status.connected = true;
    backoff.reset();
    let mut keepalive = interval(src.keepalive.min(LISTEN_KEY_VALIDITY));
    keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
    keepalive.tick().await;
    let mut recon = interval(src.reconcile_every);
    recon.set_missed_tick_behavior(MissedTickBehavior::Delay);
    recon.tick().await;
    loop {
        tokio::select! {
            msg = ws.next() => {
                let text = match msg {
                    None => return End::Reconnect("closed by the venue".into()),
                    Some(Err(e)) => return End::Reconnect(format!("read: {e}")),
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Close(_))) => return End::Reconnect("close frame".into()),
                    Some(Ok(_)) => continue,
                };
                match parse_binance_user(&text) {
                    Err(e) => {
                        tracing::warn!(account = %src.account, "skipped user-data frame: {e}");
                        lock(shared).status.bad_frames += 1;
                    }
                    Ok(ev) => {
                        if apply(shared, ev) {
                            let _ = ws.close(None).await;
                            return End::Expired;
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
                        return End::Expired;
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

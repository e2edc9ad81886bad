//! OKX account stream: the v5 private WebSocket (`wss://ws.okx.com:8443/ws/v5/private`) kept
//! logged in and applied to the account, with periodic REST reconciliation (a
//! [`crate::account::Driver`]; started as an [`crate::account::AccountStream`]).
//!
//! * Each connection: `login` with `apiKey`, `passphrase`, `timestamp` (Unix seconds) and
//!   `sign` = Base64(HMAC-SHA256(secret, timestamp + "GET" + "/users/self/verify"))
//!   (`intermargin_venues::fetch::sign::okx_ws_login_sign`), then `subscribe` to `positions`
//!   (instType `ANY`), `account` and `orders` (instType `ANY`). A refused login
//!   (`{"event":"error"}`) ends the connection; the next one, after a backoff, logs in afresh.
//! * OKX closes a connection silent for 30 s: after `ping_every` (below 30 s) without a message
//!   the text `ping` is sent, and a connection still silent after twice that is dropped and
//!   reconnected. `{"event":"notice"}` (a service upgrade) reconnects at once.
//! * Pushes become rows of `GET /api/v5/account/positions`, `/account/balance` details and
//!   `/trade/orders-pending` ([`intermargin_venues::user_stream::parse_okx_user`]), read by the
//!   OKX REST adapter. A `snapshot` push (all pages) replaces the positions or balances; an
//!   `event_update` changes the rows it carries.
//! * The REST state (`Fetcher::fetch`: positions, balance) is the base at every (re)connection
//!   and every `reconcile_every`; open orders are the stream's.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use intermargin_model::Venue;
use intermargin_venues::fetch::sign::okx_ws_login_sign;
use intermargin_venues::fetch::{Credentials, Fetcher};
use intermargin_venues::user_stream::{
    okx_order_open, okx_payloads, okx_position_key, parse_okx_user, OkxPush, OkxUserMessage,
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

/// OKX closes a connection that has received nothing for this long.
pub const OKX_SILENCE_LIMIT: Duration = Duration::from_secs(30);

/// How long a login may go unanswered.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);

/// One OKX account to stream.
#[derive(Clone)]
pub struct OkxAccountSource {
    /// Canonical account id the snapshot files positions under.
    pub account: String,
    /// API key, secret and passphrase (`extra`) for `login`.
    pub creds: Credentials,
    /// Signed REST access for reconciliation.
    pub rest: Fetcher,
    /// WebSocket URL (`wss://ws.okx.com:8443/ws/v5/private`).
    pub ws_url: String,
    /// Silence after which the text `ping` is sent (below [`OKX_SILENCE_LIMIT`]).
    pub ping_every: Duration,
    /// REST reconciliation period.
    pub reconcile_every: Duration,
    /// Reconnect delays.
    pub backoff: Backoff,
}

impl OkxAccountSource {
    /// The `login` request, signed at `now_ms`.
    pub fn login_frame(&self, now_ms: i64) -> Result<String, String> {
        let ts = (now_ms.div_euclid(1000)).to_string();
        let sign = okx_ws_login_sign(&self.creds.secret, &ts).map_err(|e| e.to_string())?;
        Ok(json!({"op": "login", "args": [{
            "apiKey": self.creds.key,
            "passphrase": self.creds.extra.clone().unwrap_or_default(),
            "timestamp": ts,
            "sign": sign,
        }]})
        .to_string())
    }

    /// The `subscribe` request: `positions` and `orders` of every instrument type, `account`.
    pub fn subscribe_frame() -> String {
        json!({"op": "subscribe", "args": [
            {"channel": "positions", "instType": "ANY"},
            {"channel": "account"},
            {"channel": "orders", "instType": "ANY"},
        ]})
        .to_string()
    }
}

/// The account as rows of the OKX REST payloads.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rows {
    /// `GET /api/v5/account/positions` rows by `instId/posSide/mgnMode`.
    positions: BTreeMap<String, Value>,
    /// `GET /api/v5/account/balance` details by currency.
    details: BTreeMap<String, Value>,
    /// `GET /api/v5/trade/orders-pending` rows by order id.
    orders: BTreeMap<String, Value>,
}

impl Driver for OkxAccountSource {
    type Rows = Rows;
    const VENUE: Venue = Venue::Okx;

    source_fields!();

    fn payloads(rows: &Rows) -> Vec<Payload> {
        okx_payloads(
            rows.positions.values(),
            rows.details.values(),
            rows.orders.values(),
        )
    }

    fn rest_rows(payloads: &[Payload]) -> Result<Rows, String> {
        let mut rows = Rows::default();
        for p in payloads {
            let name = p.name.as_deref().unwrap_or_default();
            let v: Value = serde_json::from_str(&p.text).map_err(|e| format!("{name}: {e}"))?;
            let code = match v.get("code") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => "0".into(),
            };
            if code != "0" {
                return Err(format!(
                    "{name}: venue error code {code} {}",
                    v.get("msg").cloned().unwrap_or(Value::Null)
                ));
            }
            let data = v
                .get("data")
                .and_then(Value::as_array)
                .ok_or(format!("{name}: no data array"))?;
            if name.contains("positions") {
                for r in data {
                    rows.positions.insert(okx_position_key(r), r.clone());
                }
            } else if name.contains("balance") {
                for a in data {
                    for d in a
                        .get("details")
                        .and_then(Value::as_array)
                        .ok_or(format!("{name}: a balance without details"))?
                    {
                        let ccy = d
                            .get("ccy")
                            .and_then(Value::as_str)
                            .ok_or(format!("{name}: a detail without ccy"))?;
                        rows.details.insert(ccy.to_string(), d.clone());
                    }
                }
            }
        }
        Ok(rows)
    }

    fn differences(streamed: &Rows, rest: &Rows) -> Vec<String> {
        let bal = |r: &Rows| -> BTreeMap<String, f64> {
            r.details
                .iter()
                .map(|(k, v)| (k.clone(), num(v, "cashBal")))
                .collect()
        };
        let pos = |r: &Rows| -> BTreeMap<String, (f64, f64)> {
            r.positions
                .iter()
                .map(|(k, v)| (k.clone(), signed(v)))
                .collect()
        };
        let mut out = balance_differences("cash balance", &bal(streamed), &bal(rest));
        out.extend(position_differences(&pos(streamed), &pos(rest)));
        out
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

/// A position row's signed size (`posSide` short with a positive `pos` is short, as the adapter
/// reads it) and average price.
fn signed(v: &Value) -> (f64, f64) {
    let p = num(v, "pos");
    let p = if v.get("posSide").and_then(Value::as_str) == Some("short") && p > 0.0 {
        -p
    } else {
        p
    };
    (p, num(v, "avgPx"))
}

/// Snapshot pages being collected (a snapshot replaces the state once its last page is in).
#[derive(Default)]
struct Pages {
    positions: Option<BTreeMap<String, Value>>,
    details: Option<BTreeMap<String, Value>>,
}

/// Adds `rows` of one push to `state` (an update) or to the snapshot being collected in
/// `pending`, which replaces `state` on its last page.
fn merge(
    state: &mut BTreeMap<String, Value>,
    pending: &mut Option<BTreeMap<String, Value>>,
    push: OkxPush,
    rows: Vec<(String, Value)>,
) {
    match push {
        OkxPush::Update => state.extend(rows),
        OkxPush::Snapshot {
            cur_page,
            last_page,
        } => {
            if cur_page <= 1 || pending.is_none() {
                *pending = Some(BTreeMap::new());
            }
            if let Some(p) = pending.as_mut() {
                p.extend(rows);
            }
            if last_page {
                if let Some(p) = pending.take() {
                    *state = p;
                }
            }
        }
    }
}

/// Applies a positions, account or orders push.
fn apply(shared: &Shared<Rows>, pages: &mut Pages, msg: OkxUserMessage) {
    let mut g = lock(shared);
    match msg {
        OkxUserMessage::Positions { push, rows } => {
            let rows = rows
                .into_iter()
                .map(|r| (okx_position_key(&r), r))
                .collect();
            merge(&mut g.rows.positions, &mut pages.positions, push, rows);
        }
        OkxUserMessage::Account { push, details } => {
            let rows = details
                .into_iter()
                .map(|d| {
                    let ccy = d
                        .get("ccy")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    (ccy, d)
                })
                .collect();
            merge(&mut g.rows.details, &mut pages.details, push, rows);
        }
        OkxUserMessage::Orders { rows } => {
            for o in rows {
                let id = o
                    .get("ordId")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                if okx_order_open(&o) {
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

async fn session(
    src: &OkxAccountSource,
    shared: &Shared<Rows>,
    stop: &mut watch::Receiver<bool>,
    backoff: &mut Backoff,
) -> End {
    let mut ws = match connect(&src.ws_url).await {
        Ok(ws) => ws,
        Err(e) => return End::Reconnect(e),
    };
    let login = match src.login_frame(now_ms()) {
        Ok(f) => f,
        Err(e) => return End::Failed(format!("login signature: {e}")),
    };
    if let Err(e) = ws.send(Message::text(login)).await {
        return End::Reconnect(format!("send login: {e}"));
    }
    lock(shared).status.connected = true;
    let ping_every = src
        .ping_every
        .min(OKX_SILENCE_LIMIT - Duration::from_secs(1));
    let mut logged_in = false;
    let login_deadline = Instant::now() + LOGIN_TIMEOUT;
    let mut last_rx = Instant::now();
    let mut next_ping = last_rx + ping_every;
    let mut pages = Pages::default();
    let mut recon = interval(src.reconcile_every);
    recon.set_missed_tick_behavior(MissedTickBehavior::Delay);
    recon.tick().await;
    loop {
        let login_wait = async move {
            if logged_in {
                std::future::pending::<()>().await
            } else {
                sleep_until(login_deadline).await
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
                next_ping = last_rx + ping_every;
                let msg = match parse_okx_user(&text) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(account = %src.account, "skipped okx frame: {e}");
                        lock(shared).status.bad_frames += 1;
                        continue;
                    }
                };
                match msg {
                    OkxUserMessage::Login => {
                        logged_in = true;
                        lock(shared).status.auths += 1;
                        backoff.reset();
                        if let Err(e) = ws.send(Message::text(OkxAccountSource::subscribe_frame())).await {
                            return End::Reconnect(format!("send subscribe: {e}"));
                        }
                    }
                    OkxUserMessage::Error { code, msg } => {
                        tracing::warn!(account = %src.account, "okx answered with error {code}: {msg}");
                        let _ = ws.close(None).await;
                        if !logged_in {
                            lock(shared).status.auth_failures += 1;
                            return End::Failed(format!("login refused: {code} {msg}"));
                        }
                        return End::Reconnect(format!("subscription refused: {code} {msg}"));
                    }
                    OkxUserMessage::Notice { code, msg } => {
                        let _ = ws.close(None).await;
                        return End::Reconnect(format!("venue notice {code}: {msg}"));
                    }
                    OkxUserMessage::Pong => lock(shared).status.pongs += 1,
                    m @ (OkxUserMessage::Positions { .. }
                    | OkxUserMessage::Account { .. }
                    | OkxUserMessage::Orders { .. }) => apply(shared, &mut pages, m),
                    OkxUserMessage::Subscribed(_) | OkxUserMessage::Ignored(_) => {}
                }
            }
            _ = sleep_until(next_ping) => {
                if last_rx.elapsed() >= ping_every * 2 {
                    let _ = ws.close(None).await;
                    return End::Reconnect(format!(
                        "no pong within {:.1} s of a ping",
                        ping_every.as_secs_f64()
                    ));
                }
                if let Err(e) = ws.send(Message::text("ping")).await {
                    return End::Reconnect(format!("send ping: {e}"));
                }
                lock(shared).status.pings += 1;
                next_ping = Instant::now() + ping_every;
            }
            _ = login_wait => {
                let _ = ws.close(None).await;
                lock(shared).status.auth_failures += 1;
                return End::Failed(format!("login not answered within {} s", LOGIN_TIMEOUT.as_secs()));
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

    fn pos(inst: &str, side: &str, p: &str, px: &str) -> (String, Value) {
        let r = json!({"instId": inst, "posSide": side, "mgnMode": "cross", "pos": p, "avgPx": px});
        (okx_position_key(&r), r)
    }

    #[test]
    fn snapshots_replace_after_their_last_page_and_updates_merge() {
        let mut state: BTreeMap<String, Value> = [pos("A-USDT-SWAP", "net", "1", "10")].into();
        let mut pending = None;
        let snap = |cur_page, last_page| OkxPush::Snapshot {
            cur_page,
            last_page,
        };
        merge(
            &mut state,
            &mut pending,
            snap(1, false),
            vec![pos("B-USDT-SWAP", "net", "2", "20")],
        );
        assert!(
            state.contains_key("A-USDT-SWAP/net/cross"),
            "not before the last page"
        );
        merge(
            &mut state,
            &mut pending,
            snap(2, true),
            vec![pos("C-USDT-SWAP", "net", "3", "30")],
        );
        let keys: Vec<&String> = state.keys().collect();
        assert_eq!(keys, ["B-USDT-SWAP/net/cross", "C-USDT-SWAP/net/cross"]);
        merge(
            &mut state,
            &mut pending,
            OkxPush::Update,
            vec![pos("B-USDT-SWAP", "net", "0", "0")],
        );
        assert_eq!(state["B-USDT-SWAP/net/cross"]["pos"], "0");
        assert_eq!(state.len(), 2);
    }

    #[test]
    fn differences_sign_short_positions_and_name_cash_balances() {
        let mut a = Rows::default();
        let mut b = Rows::default();
        let (k, r) = pos("BTC-USDT-SWAP", "short", "2", "30000");
        a.positions.insert(k.clone(), r);
        let (_, mut r2) = pos("BTC-USDT-SWAP", "short", "2", "30000");
        r2["pos"] = json!("-2");
        b.positions.insert(k, r2);
        assert!(OkxAccountSource::differences(&a, &b).is_empty());
        b.details
            .insert("USDT".into(), json!({"ccy": "USDT", "cashBal": "5"}));
        assert_eq!(
            OkxAccountSource::differences(&a, &b),
            ["USDT cash balance: streamed 0, REST 5"]
        );
    }
}

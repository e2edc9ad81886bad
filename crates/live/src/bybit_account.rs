//! Bybit account stream: the v5 private WebSocket (`wss://stream.bybit.com/v5/private`) kept
//! authenticated and applied to the account, with periodic REST reconciliation (a
//! [`crate::account::Driver`]; started as an [`crate::account::AccountStream`]).
//!
//! * Each connection: `{"op":"auth","args":[apiKey, expires, signature]}` with `expires` a UTC
//!   ms timestamp [`AUTH_VALIDITY`] ahead and signature = hex HMAC-SHA256(secret,
//!   "GET/realtime" + expires) (`intermargin_venues::fetch::sign::bybit_ws_auth_signature`), then
//!   `subscribe` to `position`, `wallet` and `order` (all categories). A refused auth
//!   (`"success": false`) ends the connection; the next one, after a backoff, authenticates
//!   afresh.
//! * `{"op":"ping"}` every `ping_every` (Bybit recommends 20 s); a connection silent for twice
//!   that is dropped and reconnected.
//! * Pushes become rows of `GET /v5/position/list`, `/v5/account/wallet-balance` and
//!   `/v5/order/realtime` ([`intermargin_venues::user_stream::parse_bybit_user`]), read by the
//!   Bybit REST adapter; a pushed position or coin replaces the row it names.
//! * The REST state (`Fetcher::fetch`: linear and inverse positions, the unified wallet) is the
//!   base at every (re)connection and every `reconcile_every`; open orders are the stream's.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use intermargin_model::Venue;
use intermargin_venues::fetch::sign::bybit_ws_auth_signature;
use intermargin_venues::fetch::{Credentials, Fetcher};
use intermargin_venues::user_stream::{
    bybit_order_open, bybit_payloads, bybit_position_key, parse_bybit_user, BybitUserMessage,
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

/// How far ahead of now the `auth` request's `expires` is set.
pub const AUTH_VALIDITY: Duration = Duration::from_secs(10);

/// How long an `auth` may go unanswered.
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);

/// One Bybit account to stream.
#[derive(Clone)]
pub struct BybitAccountSource {
    /// Canonical account id the snapshot files positions under.
    pub account: String,
    /// API key and secret for `auth`.
    pub creds: Credentials,
    /// Signed REST access for reconciliation.
    pub rest: Fetcher,
    /// WebSocket URL (`wss://stream.bybit.com/v5/private`).
    pub ws_url: String,
    /// Keep-alive ping period (Bybit recommends 20 s).
    pub ping_every: Duration,
    /// REST reconciliation period.
    pub reconcile_every: Duration,
    /// Reconnect delays.
    pub backoff: Backoff,
}

impl BybitAccountSource {
    /// The `auth` request, signed at `now_ms` (expires [`AUTH_VALIDITY`] later).
    pub fn auth_frame(&self, now_ms: i64) -> Result<String, String> {
        let expires = now_ms + AUTH_VALIDITY.as_millis() as i64;
        let sig =
            bybit_ws_auth_signature(&self.creds.secret, expires).map_err(|e| e.to_string())?;
        Ok(
            json!({"req_id": "auth", "op": "auth", "args": [self.creds.key, expires, sig]})
                .to_string(),
        )
    }

    /// The `subscribe` request: the all-in-one `position`, `wallet` and `order` topics.
    pub fn subscribe_frame() -> String {
        json!({"req_id": "subscribe", "op": "subscribe", "args": ["position", "wallet", "order"]})
            .to_string()
    }
}

/// The account as rows of the Bybit REST payloads.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rows {
    /// Position-list rows (with `category`) by `category/symbol/positionIdx`.
    positions: BTreeMap<String, Value>,
    /// Wallet-balance list rows by account type (`coin[]` merged coin by coin).
    wallets: BTreeMap<String, Value>,
    /// Open-order rows (with `category`) by order id.
    orders: BTreeMap<String, Value>,
}

impl Driver for BybitAccountSource {
    type Rows = Rows;
    const VENUE: Venue = Venue::Bybit;

    source_fields!();

    fn payloads(rows: &Rows) -> Vec<Payload> {
        bybit_payloads(
            rows.positions.values(),
            rows.wallets.values(),
            rows.orders.values(),
        )
    }

    fn rest_rows(payloads: &[Payload]) -> Result<Rows, String> {
        let mut rows = Rows::default();
        for p in payloads {
            let name = p.name.as_deref().unwrap_or_default();
            let v: Value = serde_json::from_str(&p.text).map_err(|e| format!("{name}: {e}"))?;
            if let Some(c) = v.get("retCode").and_then(Value::as_i64) {
                if c != 0 {
                    return Err(format!(
                        "{name}: retCode {c} {}",
                        v.get("retMsg").cloned().unwrap_or(Value::Null)
                    ));
                }
            }
            let result = v.get("result").ok_or(format!("{name}: no result"))?;
            let list = result
                .get("list")
                .and_then(Value::as_array)
                .ok_or(format!("{name}: no result.list"))?;
            if name.contains("position") {
                let cat = result
                    .get("category")
                    .and_then(Value::as_str)
                    .ok_or(format!("{name}: no result.category"))?;
                for r in list {
                    let mut r = r.clone();
                    r["category"] = json!(cat);
                    rows.positions.insert(bybit_position_key(&r), r);
                }
            } else if name.contains("wallet") {
                for w in list {
                    let t = w
                        .get("accountType")
                        .and_then(Value::as_str)
                        .ok_or(format!("{name}: a wallet without accountType"))?;
                    rows.wallets.insert(t.to_string(), w.clone());
                }
            }
        }
        Ok(rows)
    }

    fn differences(streamed: &Rows, rest: &Rows) -> Vec<String> {
        // Only what REST was asked for can disagree with it.
        let streamed = &Rows {
            positions: streamed
                .positions
                .iter()
                .filter(|(_, r)| rest_covers(r))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            ..streamed.clone()
        };
        let bal = |r: &Rows| -> BTreeMap<String, f64> {
            let mut m = BTreeMap::new();
            for (t, w) in &r.wallets {
                for c in w
                    .get("coin")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let coin = c.get("coin").and_then(Value::as_str).unwrap_or_default();
                    m.insert(format!("{t}/{coin}"), num(c, "walletBalance"));
                }
            }
            m
        };
        let pos = |r: &Rows| -> BTreeMap<String, (f64, f64)> {
            r.positions
                .iter()
                .map(|(k, v)| (k.clone(), signed(v)))
                .collect()
        };
        let mut out = balance_differences("wallet balance", &bal(streamed), &bal(rest));
        out.extend(position_differences(&pos(streamed), &pos(rest)));
        out
    }

    fn carry(rest: &mut Rows, streamed: &mut Rows) {
        rest.orders = std::mem::take(&mut streamed.orders);
        // Positions REST was not asked for (options, USDC-settled contracts) stay as streamed.
        for (k, v) in std::mem::take(&mut streamed.positions) {
            if !rest_covers(&v) {
                rest.positions.insert(k, v);
            }
        }
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

/// Whether the REST state (`Fetcher::fetch`: `category=linear&settleCoin=USDT`,
/// `category=inverse`) reports this position row.
fn rest_covers(row: &Value) -> bool {
    let symbol = row
        .get("symbol")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match row.get("category").and_then(Value::as_str) {
        Some("inverse") => true,
        Some("linear") => symbol.ends_with("USDT"),
        _ => false,
    }
}

/// A position row's signed size (`side` Sell is short) and average price.
fn signed(v: &Value) -> (f64, f64) {
    let s = num(v, "size").abs();
    let s = if v.get("side").and_then(Value::as_str) == Some("Sell") {
        -s
    } else {
        s
    };
    (s, num(v, "avgPrice"))
}

/// Puts a pushed wallet row in place: coins it carries replace the stored ones of the same
/// name, the others stay.
fn merge_wallet(wallets: &mut BTreeMap<String, Value>, w: Value) {
    let t = w
        .get("accountType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let Some(old) = wallets.get(&t) else {
        wallets.insert(t, w);
        return;
    };
    let mut coins: BTreeMap<String, Value> = BTreeMap::new();
    for src in [old, &w] {
        for c in src
            .get("coin")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = c.get("coin").and_then(Value::as_str).unwrap_or_default();
            coins.insert(name.to_string(), c.clone());
        }
    }
    let mut row = w.clone();
    row["coin"] = Value::Array(coins.into_values().collect());
    wallets.insert(t, row);
}

/// Applies a position, wallet or order push.
fn apply(shared: &Shared<Rows>, msg: BybitUserMessage) {
    let mut g = lock(shared);
    match msg {
        BybitUserMessage::Positions(rows) => {
            for r in rows {
                g.rows.positions.insert(bybit_position_key(&r), r);
            }
        }
        BybitUserMessage::Wallet(rows) => {
            for w in rows {
                merge_wallet(&mut g.rows.wallets, w);
            }
        }
        BybitUserMessage::Orders(rows) => {
            for o in rows {
                let id = o
                    .get("orderId")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                if bybit_order_open(&o) {
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
    src: &BybitAccountSource,
    shared: &Shared<Rows>,
    stop: &mut watch::Receiver<bool>,
    backoff: &mut Backoff,
) -> End {
    let mut ws = match connect(&src.ws_url).await {
        Ok(ws) => ws,
        Err(e) => return End::Reconnect(e),
    };
    let auth = match src.auth_frame(now_ms()) {
        Ok(f) => f,
        Err(e) => return End::Failed(format!("auth signature: {e}")),
    };
    if let Err(e) = ws.send(Message::text(auth)).await {
        return End::Reconnect(format!("send auth: {e}"));
    }
    lock(shared).status.connected = true;
    let mut authed = false;
    let auth_deadline = Instant::now() + AUTH_TIMEOUT;
    let mut last_rx = Instant::now();
    let mut ping = interval(src.ping_every);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ping.tick().await;
    let mut pings = 0u64;
    let mut recon = interval(src.reconcile_every);
    recon.set_missed_tick_behavior(MissedTickBehavior::Delay);
    recon.tick().await;
    loop {
        let auth_wait = async move {
            if authed {
                std::future::pending::<()>().await
            } else {
                sleep_until(auth_deadline).await
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
                let msg = match parse_bybit_user(&text) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(account = %src.account, "skipped bybit frame: {e}");
                        lock(shared).status.bad_frames += 1;
                        continue;
                    }
                };
                match msg {
                    BybitUserMessage::Auth { success: true, .. } => {
                        authed = true;
                        lock(shared).status.auths += 1;
                        backoff.reset();
                        if let Err(e) = ws.send(Message::text(BybitAccountSource::subscribe_frame())).await {
                            return End::Reconnect(format!("send subscribe: {e}"));
                        }
                    }
                    BybitUserMessage::Auth { success: false, msg } => {
                        tracing::warn!(account = %src.account, "bybit refused auth: {msg}");
                        lock(shared).status.auth_failures += 1;
                        let _ = ws.close(None).await;
                        return End::Failed(format!("auth refused: {msg}"));
                    }
                    BybitUserMessage::Subscribed { success: false, msg } => {
                        let _ = ws.close(None).await;
                        return End::Reconnect(format!("subscription refused: {msg}"));
                    }
                    BybitUserMessage::Pong => lock(shared).status.pongs += 1,
                    m @ (BybitUserMessage::Positions(_)
                    | BybitUserMessage::Wallet(_)
                    | BybitUserMessage::Orders(_)) => apply(shared, m),
                    BybitUserMessage::Subscribed { .. } | BybitUserMessage::Ignored(_) => {}
                }
            }
            _ = ping.tick() => {
                if last_rx.elapsed() >= src.ping_every * 2 {
                    let _ = ws.close(None).await;
                    return End::Reconnect(format!(
                        "nothing received for {:.1} s (ping every {:.1} s)",
                        last_rx.elapsed().as_secs_f64(),
                        src.ping_every.as_secs_f64()
                    ));
                }
                pings += 1;
                let m = json!({"req_id": format!("ping-{pings}"), "op": "ping"}).to_string();
                if let Err(e) = ws.send(Message::text(m)).await {
                    return End::Reconnect(format!("send ping: {e}"));
                }
                lock(shared).status.pings += 1;
            }
            _ = auth_wait => {
                let _ = ws.close(None).await;
                lock(shared).status.auth_failures += 1;
                return End::Failed(format!("auth not answered within {} s", AUTH_TIMEOUT.as_secs()));
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

    #[test]
    fn wallet_pushes_replace_the_coins_they_carry() {
        let mut w = BTreeMap::new();
        merge_wallet(
            &mut w,
            json!({"accountType": "UNIFIED", "coin": [
                {"coin": "USDT", "walletBalance": "10"}, {"coin": "BTC", "walletBalance": "1"}]}),
        );
        merge_wallet(
            &mut w,
            json!({"accountType": "UNIFIED", "coin": [{"coin": "USDT", "walletBalance": "7"}]}),
        );
        let coins = w["UNIFIED"]["coin"].as_array().unwrap();
        assert_eq!(coins.len(), 2);
        let usdt = coins.iter().find(|c| c["coin"] == "USDT").unwrap();
        assert_eq!(usdt["walletBalance"], "7");
    }

    #[test]
    fn positions_rest_does_not_fetch_are_kept_and_not_compared() {
        let opt = json!({"category": "option", "symbol": "BTC-27DEC24-60000-C", "positionIdx": 0,
                         "side": "Buy", "size": "1", "avgPrice": "500"});
        let mut streamed = Rows::default();
        streamed
            .positions
            .insert(bybit_position_key(&opt), opt.clone());
        let mut rest = Rows::default();
        assert!(BybitAccountSource::differences(&streamed, &rest).is_empty());
        BybitAccountSource::carry(&mut rest, &mut streamed);
        assert_eq!(rest.positions.len(), 1, "the option stays");
    }

    #[test]
    fn differences_sign_sells_and_name_wallet_coins() {
        let row = |side: &str, size: &str| {
            json!({"category": "linear", "symbol": "BTCUSDT", "positionIdx": 0,
                   "side": side, "size": size, "avgPrice": "28000"})
        };
        let mut a = Rows::default();
        a.positions
            .insert("linear/BTCUSDT/0".into(), row("Sell", "0.5"));
        let mut b = a.clone();
        assert!(BybitAccountSource::differences(&a, &b).is_empty());
        b.positions
            .insert("linear/BTCUSDT/0".into(), row("Buy", "0.5"));
        b.wallets.insert(
            "UNIFIED".into(),
            json!({"accountType": "UNIFIED", "coin": [{"coin": "USDT", "walletBalance": "3"}]}),
        );
        assert_eq!(
            BybitAccountSource::differences(&a, &b),
            [
                "UNIFIED/USDT wallet balance: streamed 0, REST 3",
                "linear/BTCUSDT/0: streamed -0.5 @ 28000, REST 0.5 @ 28000"
            ]
        );
    }
}

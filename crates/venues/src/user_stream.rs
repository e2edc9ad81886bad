//! Account streams as wire formats: what a venue's private WebSocket events mean for the
//! account, as rows of the venue's own REST payloads, so the REST adapter (one source of truth
//! for every field's meaning) builds the canonical account from streamed and fetched state alike.
//!
//! Binance USDⓈ-M user-data stream (developers.binance.com, "User Data Streams" of USDⓈ-M
//! futures, as of 2026-12-03): a `listenKey` from `POST /fapi/v1/listenKey` (valid 60 minutes,
//! extended by `PUT`), the stream at `wss://fstream.binance.com/ws/<listenKey>`; events
//! `ACCOUNT_UPDATE` (changed balances `a.B[]`: `a` asset, `wb` wallet balance; changed positions
//! `a.P[]`: `s` symbol, `pa` amount, `ep` entry price, `up` unrealised PnL, `mt` margin type,
//! `iw` isolated wallet, `ps` position side), `ORDER_TRADE_UPDATE` (`o.s`, `o.S` side, `o.o` type,
//! `o.q` quantity, `o.p` price, `o.sp` stop price, `o.X` status, `o.i` order id, `o.z` filled,
//! `o.R` reduce-only, `o.ps` position side) and `listenKeyExpired` (no more events until a new
//! key is used; its `E` is a number or a decimal string).
//!
//! Deribit: see [`DeribitUserMessage`] (portfolio and changes notifications as rows of
//! `private/get_account_summaries` and `private/get_positions`).
//!
//! OKX: see [`OkxUserMessage`] (`positions`, `account`, `orders` pushes as rows of
//! `GET /api/v5/account/positions`, `/account/balance` details, `/trade/orders-pending`;
//! [`okx_payloads`] wraps them back into those payloads).
//!
//! Bybit: see [`BybitUserMessage`] (`position`, `wallet`, `order` pushes as rows of
//! `GET /v5/position/list`, `/v5/account/wallet-balance`, `/v5/order/realtime`;
//! [`bybit_payloads`] wraps them back into those payloads).

use serde_json::{json, Value};

use crate::stream::FrameError;
use crate::Payload;

/// What one Binance user-data event means.
#[derive(Debug, Clone, PartialEq)]
pub enum BinanceUserEvent {
    /// Balances and positions changed: `GET /fapi/v3/account` asset rows (`asset`,
    /// `walletBalance`) and `GET /fapi/v3/positionRisk` rows (`symbol`, `positionSide`,
    /// `positionAmt`, `entryPrice`, `unRealizedProfit`, `marginType`, `isolatedWallet`).
    Account {
        /// Event time (UTC ms).
        event_ms: Option<i64>,
        /// Why (`ORDER`, `FUNDING_FEE`, `DEPOSIT`, …).
        reason: String,
        /// Changed assets, as account asset rows.
        assets: Vec<Value>,
        /// Changed positions, as positionRisk rows (amount 0 = closed).
        positions: Vec<Value>,
    },
    /// An order changed: a `GET /fapi/v1/openOrders` row (`status` says whether still open).
    Order {
        /// Event time (UTC ms).
        event_ms: Option<i64>,
        /// The order id.
        order_id: i64,
        /// The openOrders-shaped row.
        row: Value,
    },
    /// The listen key expired: get a new one and reconnect.
    ListenKeyExpired,
    /// A well-formed event this account stream does not use (`MARGIN_CALL`, config updates).
    Ignored(String),
}

fn err(path: impl Into<String>, reason: impl Into<String>) -> FrameError {
    FrameError {
        venue: "binance",
        path: path.into(),
        reason: reason.into(),
    }
}

fn ms(v: &Value) -> Option<i64> {
    match v.get("E")? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A decimal string field (Binance sends every amount as one), checked to parse as a number.
fn dec(v: &Value, field: &str, path: &str) -> Result<String, FrameError> {
    match v.get(field) {
        Some(Value::String(s)) if s.trim().parse::<f64>().is_ok_and(f64::is_finite) => {
            Ok(s.trim().to_string())
        }
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(other) => Err(err(
            format!("{path}.{field}"),
            format!("expected a decimal string, got {other}"),
        )),
        None => Err(err(format!("{path}.{field}"), "missing")),
    }
}

fn text<'a>(v: &'a Value, field: &str, path: &str) -> Result<&'a str, FrameError> {
    v.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| err(format!("{path}.{field}"), "missing or not a string"))
}

/// Reads one text frame of the Binance USDⓈ-M user-data stream (raw or in a combined-stream
/// `{"stream","data"}` wrapper). A malformed frame is an error naming the JSON path.
pub fn parse_binance_user(frame: &str) -> Result<BinanceUserEvent, FrameError> {
    let v: Value =
        serde_json::from_str(frame.trim()).map_err(|e| err("$", format!("not JSON: {e}")))?;
    let (v, root) = match v.get("data") {
        Some(d) if d.is_object() => (d.clone(), "data"),
        _ => (v, "$"),
    };
    if !v.is_object() {
        return Err(err(root, "expected a JSON object"));
    }
    let kind = text(&v, "e", root)?;
    match kind {
        "listenKeyExpired" => Ok(BinanceUserEvent::ListenKeyExpired),
        "ACCOUNT_UPDATE" => {
            let a = v
                .get("a")
                .filter(|a| a.is_object())
                .ok_or_else(|| err(format!("{root}.a"), "missing update data"))?;
            let list = |k: &str| -> Result<Vec<Value>, FrameError> {
                match a.get(k) {
                    None | Some(Value::Null) => Ok(Vec::new()),
                    Some(Value::Array(x)) => Ok(x.clone()),
                    Some(_) => Err(err(format!("{root}.a.{k}"), "expected an array")),
                }
            };
            let mut assets = Vec::new();
            for (i, b) in list("B")?.iter().enumerate() {
                let p = format!("{root}.a.B[{i}]");
                assets.push(json!({
                    "asset": text(b, "a", &p)?,
                    "walletBalance": dec(b, "wb", &p)?,
                }));
            }
            let mut positions = Vec::new();
            for (i, r) in list("P")?.iter().enumerate() {
                let p = format!("{root}.a.P[{i}]");
                let side = r.get("ps").and_then(Value::as_str).unwrap_or("BOTH");
                if !matches!(side, "BOTH" | "LONG" | "SHORT") {
                    return Err(err(
                        format!("{p}.ps"),
                        format!("unknown position side {side:?}"),
                    ));
                }
                let mut row = json!({
                    "symbol": text(r, "s", &p)?,
                    "positionSide": side,
                    "positionAmt": dec(r, "pa", &p)?,
                    "entryPrice": dec(r, "ep", &p)?,
                });
                if r.get("up").is_some() {
                    row["unRealizedProfit"] = Value::String(dec(r, "up", &p)?);
                }
                if let Some(mt) = r.get("mt").and_then(Value::as_str) {
                    row["marginType"] = Value::String(mt.to_string());
                }
                if r.get("iw").is_some() {
                    row["isolatedWallet"] = Value::String(dec(r, "iw", &p)?);
                }
                positions.push(row);
            }
            Ok(BinanceUserEvent::Account {
                event_ms: ms(&v),
                reason: a
                    .get("m")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                assets,
                positions,
            })
        }
        "ORDER_TRADE_UPDATE" => {
            let p = format!("{root}.o");
            let o = v
                .get("o")
                .filter(|o| o.is_object())
                .ok_or_else(|| err(&p, "missing order data"))?;
            let order_id = o
                .get("i")
                .and_then(Value::as_i64)
                .ok_or_else(|| err(format!("{p}.i"), "missing or not an integer order id"))?;
            let mut row = json!({
                "orderId": order_id,
                "symbol": text(o, "s", &p)?,
                "side": text(o, "S", &p)?,
                "type": text(o, "o", &p)?,
                "status": text(o, "X", &p)?,
                "origQty": dec(o, "q", &p)?,
                "executedQty": dec(o, "z", &p)?,
                "price": dec(o, "p", &p)?,
                "positionSide": o.get("ps").and_then(Value::as_str).unwrap_or("BOTH"),
                "reduceOnly": o.get("R").and_then(Value::as_bool).unwrap_or(false),
            });
            if o.get("sp").is_some() {
                row["stopPrice"] = Value::String(dec(o, "sp", &p)?);
            }
            if let Some(t) = o.get("T").and_then(Value::as_i64) {
                row["updateTime"] = json!(t);
            }
            Ok(BinanceUserEvent::Order {
                event_ms: ms(&v),
                order_id,
                row,
            })
        }
        other => Ok(BinanceUserEvent::Ignored(other.to_string())),
    }
}

/// Whether an openOrders-shaped row is still open (`NEW`, `PARTIALLY_FILLED`).
pub fn binance_order_open(row: &Value) -> bool {
    matches!(
        row.get("status").and_then(Value::as_str),
        Some("NEW" | "PARTIALLY_FILLED")
    )
}

/// The key a positionRisk row is kept under (`BTCUSDT/LONG`).
pub fn binance_position_key(row: &Value) -> String {
    format!(
        "{}/{}",
        row.get("symbol")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        row.get("positionSide")
            .and_then(Value::as_str)
            .unwrap_or("BOTH")
    )
}

/// What one message on a Deribit private WebSocket connection means.
///
/// Deribit (docs.deribit.com, as of 2026-12-03): JSON-RPC 2.0 over `wss://www.deribit.com/ws/api/v2`;
/// `public/auth` (`client_credentials` or `refresh_token` grant) authenticates the connection,
/// `private/subscribe` to `user.portfolio.(currency)` (the `private/get_account_summary`
/// fields: `currency`, `balance`, `equity`, `initial_margin`, `maintenance_margin`, …) and
/// `user.changes.(kind).(currency).(interval)` (`data.positions[]` with the
/// `private/get_positions` fields, `data.orders[]` with the open-orders fields, `data.trades[]`);
/// `public/set_heartbeat` makes the server send `heartbeat` / `test_request`, answered by
/// `public/test`.
#[derive(Debug, Clone, PartialEq)]
pub enum DeribitUserMessage {
    /// `user.portfolio.*`: the currency's `private/get_account_summary` row (the notification's
    /// `data` as sent: the same field names).
    Portfolio {
        /// The currency (`BTC`), upper-case.
        currency: String,
        /// The account-summary row.
        summary: Value,
    },
    /// `user.changes.*`: changed positions as `private/get_positions` rows (size 0 = closed)
    /// and changed orders as `private/get_open_orders_by_currency` rows (`order_state` says
    /// whether still open).
    Changes {
        /// Position rows.
        positions: Vec<Value>,
        /// Order rows.
        orders: Vec<Value>,
    },
    /// A JSON-RPC answer to one of our requests.
    Response {
        /// The request id.
        id: Option<i64>,
        /// Its `result`.
        result: Value,
    },
    /// A JSON-RPC error answer (`error` as text).
    Error {
        /// The request id, if the venue echoed it.
        id: Option<i64>,
        /// The venue's error object.
        error: String,
    },
    /// `heartbeat` of type `test_request`: answer with `public/test` now.
    TestRequest,
    /// A plain `heartbeat`.
    Heartbeat,
    /// A well-formed message this account stream does not use (`user.trades.*`, other channels).
    Ignored(String),
}

fn derr(path: impl Into<String>, reason: impl Into<String>) -> FrameError {
    FrameError {
        venue: "deribit",
        path: path.into(),
        reason: reason.into(),
    }
}

/// A JSON number field, required (`req`) or optional, checked finite.
fn deribit_num(v: &Value, field: &str, path: &str, req: bool) -> Result<(), FrameError> {
    match v.get(field) {
        Some(Value::Number(n)) if n.as_f64().is_some_and(f64::is_finite) => Ok(()),
        None | Some(Value::Null) if !req => Ok(()),
        None => Err(derr(format!("{path}.{field}"), "missing")),
        Some(other) => Err(derr(
            format!("{path}.{field}"),
            format!("expected a number, got {other}"),
        )),
    }
}

fn deribit_rows(data: &Value, key: &str, path: &str) -> Result<Vec<Value>, FrameError> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => Ok(a.clone()),
        Some(_) => Err(derr(format!("{path}.{key}"), "expected an array")),
    }
}

/// Reads one text frame of a Deribit private connection. A malformed frame (not JSON, a
/// notification without its channel or data, a row without the fields its REST payload
/// requires) is an error naming the JSON path.
pub fn parse_deribit_user(frame: &str) -> Result<DeribitUserMessage, FrameError> {
    let v: Value =
        serde_json::from_str(frame.trim()).map_err(|e| derr("$", format!("not JSON: {e}")))?;
    if !v.is_object() {
        return Err(derr("$", "expected a JSON object"));
    }
    let id = v.get("id").and_then(Value::as_i64);
    if let Some(e) = v.get("error") {
        return Ok(DeribitUserMessage::Error {
            id,
            error: e.to_string(),
        });
    }
    match v.get("method").and_then(Value::as_str) {
        Some("heartbeat") => {
            return Ok(match v.pointer("/params/type").and_then(Value::as_str) {
                Some("test_request") => DeribitUserMessage::TestRequest,
                _ => DeribitUserMessage::Heartbeat,
            })
        }
        Some("subscription") => {}
        Some(other) => return Ok(DeribitUserMessage::Ignored(other.to_string())),
        None => {
            return match v.get("result") {
                Some(r) => Ok(DeribitUserMessage::Response {
                    id,
                    result: r.clone(),
                }),
                None => Err(derr("$", "neither a notification, a result nor an error")),
            }
        }
    }
    let channel = v
        .pointer("/params/channel")
        .and_then(Value::as_str)
        .ok_or_else(|| derr("params.channel", "missing or not a string"))?;
    let data = v
        .pointer("/params/data")
        .ok_or_else(|| derr("params.data", "missing"))?;
    let path = "params.data";
    if channel.starts_with("user.portfolio.") {
        if !data.is_object() {
            return Err(derr(path, "expected an object"));
        }
        let currency = data
            .get("currency")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| derr(format!("{path}.currency"), "missing or not a string"))?
            .to_ascii_uppercase();
        deribit_num(data, "balance", path, true)?;
        for f in ["equity", "initial_margin", "maintenance_margin"] {
            deribit_num(data, f, path, false)?;
        }
        let mut summary = data.clone();
        summary["currency"] = Value::String(currency.clone());
        Ok(DeribitUserMessage::Portfolio { currency, summary })
    } else if channel.starts_with("user.changes.") {
        if !data.is_object() {
            return Err(derr(path, "expected an object"));
        }
        let positions = deribit_rows(data, "positions", path)?;
        for (i, p) in positions.iter().enumerate() {
            let pp = format!("{path}.positions[{i}]");
            p.get("instrument_name")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| derr(format!("{pp}.instrument_name"), "missing or not a string"))?;
            deribit_num(p, "size", &pp, true)?;
        }
        let orders = deribit_rows(data, "orders", path)?;
        for (i, o) in orders.iter().enumerate() {
            let op = format!("{path}.orders[{i}]");
            if deribit_order_id(o).is_none() {
                return Err(derr(format!("{op}.order_id"), "missing"));
            }
            o.get("order_state")
                .and_then(Value::as_str)
                .ok_or_else(|| derr(format!("{op}.order_state"), "missing or not a string"))?;
        }
        Ok(DeribitUserMessage::Changes { positions, orders })
    } else {
        Ok(DeribitUserMessage::Ignored(channel.to_string()))
    }
}

/// An order row's id (`order_id`, a string on Deribit; a number is accepted as its text).
pub fn deribit_order_id(row: &Value) -> Option<String> {
    match row.get("order_id")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Whether a Deribit order row is still open (`open`, `untriggered`).
pub fn deribit_order_open(row: &Value) -> bool {
    matches!(
        row.get("order_state").and_then(Value::as_str),
        Some("open" | "untriggered")
    )
}

/// The tokens a `public/auth` result carries.
#[derive(Clone, PartialEq)]
pub struct DeribitTokens {
    /// Bearer token of the connection.
    pub access_token: String,
    /// Token for the `refresh_token` grant.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

impl std::fmt::Debug for DeribitTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeribitTokens")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Reads a `public/auth` result (`access_token`, `refresh_token`, `expires_in` seconds).
pub fn deribit_tokens(result: &Value) -> Result<DeribitTokens, FrameError> {
    let s = |f: &str| {
        result
            .get(f)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| derr(format!("result.{f}"), "missing or not a string"))
    };
    Ok(DeribitTokens {
        access_token: s("access_token")?,
        refresh_token: s("refresh_token")?,
        expires_in: result
            .get("expires_in")
            .and_then(Value::as_u64)
            .ok_or_else(|| {
                derr(
                    "result.expires_in",
                    "missing or not a whole number of seconds",
                )
            })?,
    })
}

// ---------------------------------------------------------------------------------------------
// OKX v5 private WebSocket
// ---------------------------------------------------------------------------------------------

/// Whether a push of a paged channel is a (page of a) full snapshot or an event update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OkxPush {
    /// `eventType` `snapshot` (initial and regular pushes): page `cur_page`, `last_page` true on
    /// the last one. The rows of all pages together are the whole state.
    Snapshot {
        /// `curPage` (1 when absent).
        cur_page: u64,
        /// `lastPage` (true when absent).
        last_page: bool,
    },
    /// `eventType` `event_update` (or absent): only what changed.
    Update,
}

/// What one message on an OKX private WebSocket connection means.
///
/// OKX (www.okx.com/docs-v5/en, "WebSocket" overview and "Trading account / WebSocket", as of
/// 2026-12-03): `wss://ws.okx.com:8443/ws/v5/private`; `login` answered by
/// `{"event":"login","code":"0"}` or `{"event":"error","code":…}`; `subscribe` to `positions`
/// (`data[]` = `GET /api/v5/account/positions` rows), `account` (`data[].details[]` =
/// `GET /api/v5/account/balance` details: `ccy`, `cashBal`, …; event pushes carry only the
/// currencies that changed) and `orders` (`data[]` = `GET /api/v5/trade/orders-pending` rows;
/// `state` says whether still live); the text `ping` is answered by the text `pong`.
#[derive(Debug, Clone, PartialEq)]
pub enum OkxUserMessage {
    /// `{"event":"login","code":"0"}`: the connection is logged in.
    Login,
    /// `{"event":"subscribe","arg":{"channel":…}}`: a subscription confirmed.
    Subscribed(String),
    /// `{"event":"error",…}` (a refused login, e.g. 60009 "Login failed.", or subscription).
    Error {
        /// The venue's error code.
        code: String,
        /// The venue's message.
        msg: String,
    },
    /// `{"event":"notice",…}` (64008: the connection closes soon for a service upgrade).
    Notice {
        /// The venue's code.
        code: String,
        /// The venue's message.
        msg: String,
    },
    /// The text `pong`.
    Pong,
    /// `positions` push: rows of `GET /api/v5/account/positions` (`pos` "0" = closed).
    Positions {
        /// Snapshot page or event update.
        push: OkxPush,
        /// The rows.
        rows: Vec<Value>,
    },
    /// `account` push: `details[]` rows of `GET /api/v5/account/balance`, by currency.
    Account {
        /// Snapshot page or event update.
        push: OkxPush,
        /// The detail rows (`ccy`, `cashBal`, `uTime`, …).
        details: Vec<Value>,
    },
    /// `orders` push: rows of `GET /api/v5/trade/orders-pending` (`state` live or not).
    Orders {
        /// The rows.
        rows: Vec<Value>,
    },
    /// A well-formed message this account stream does not use.
    Ignored(String),
}

fn oerr(path: impl Into<String>, reason: impl Into<String>) -> FrameError {
    FrameError {
        venue: "okx",
        path: path.into(),
        reason: reason.into(),
    }
}

/// An OKX decimal string (every amount is one; "" means not applicable) checked to be a number.
fn okx_dec(v: &Value, field: &str, path: &str) -> Result<(), FrameError> {
    match v.get(field) {
        Some(Value::String(s)) if s.trim().parse::<f64>().is_ok_and(f64::is_finite) => Ok(()),
        Some(other) => Err(oerr(
            format!("{path}.{field}"),
            format!("expected a decimal string, got {other}"),
        )),
        None => Err(oerr(format!("{path}.{field}"), "missing")),
    }
}

fn okx_text(v: &Value, field: &str, path: &str) -> Result<String, FrameError> {
    v.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| oerr(format!("{path}.{field}"), "missing or not a string"))
}

fn okx_code(v: &Value) -> String {
    match v.get("code") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// Reads one text frame of an OKX private connection. A malformed frame (not JSON, a push
/// without `arg.channel` or `data`, a row without the fields its REST payload requires) is an
/// error naming the JSON path.
pub fn parse_okx_user(frame: &str) -> Result<OkxUserMessage, FrameError> {
    let t = frame.trim();
    if t == "pong" {
        return Ok(OkxUserMessage::Pong);
    }
    let v: Value = serde_json::from_str(t).map_err(|e| oerr("$", format!("not JSON: {e}")))?;
    if !v.is_object() {
        return Err(oerr("$", "expected a JSON object"));
    }
    if let Some(ev) = v.get("event") {
        let ev = ev
            .as_str()
            .ok_or_else(|| oerr("event", "expected a string"))?;
        let msg = v
            .get("msg")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        return Ok(match ev {
            "login" if okx_code(&v) == "0" => OkxUserMessage::Login,
            "login" | "error" => OkxUserMessage::Error {
                code: okx_code(&v),
                msg,
            },
            "notice" => OkxUserMessage::Notice {
                code: okx_code(&v),
                msg,
            },
            "subscribe" => OkxUserMessage::Subscribed(
                v.pointer("/arg/channel")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            ),
            other => OkxUserMessage::Ignored(other.to_string()),
        });
    }
    let channel = v
        .pointer("/arg/channel")
        .and_then(Value::as_str)
        .ok_or_else(|| oerr("arg.channel", "missing or not a string"))?;
    let rows = match v.get("data") {
        Some(Value::Array(a)) => a,
        Some(_) => return Err(oerr("data", "expected an array")),
        None => return Err(oerr("data", "missing")),
    };
    let push = match v.get("eventType").and_then(Value::as_str) {
        Some("snapshot") => OkxPush::Snapshot {
            cur_page: v.get("curPage").and_then(Value::as_u64).unwrap_or(1),
            last_page: v.get("lastPage").and_then(Value::as_bool).unwrap_or(true),
        },
        _ => OkxPush::Update,
    };
    match channel {
        "positions" => {
            for (i, r) in rows.iter().enumerate() {
                let p = format!("data[{i}]");
                okx_text(r, "instId", &p)?;
                okx_text(r, "instType", &p)?;
                okx_dec(r, "pos", &p)?;
            }
            Ok(OkxUserMessage::Positions {
                push,
                rows: rows.clone(),
            })
        }
        "account" => {
            let mut details = Vec::new();
            for (i, a) in rows.iter().enumerate() {
                let p = format!("data[{i}].details");
                let list = match a.get("details") {
                    Some(Value::Array(d)) => d,
                    Some(_) => return Err(oerr(p, "expected an array")),
                    None => return Err(oerr(p, "missing")),
                };
                for (j, d) in list.iter().enumerate() {
                    let dp = format!("{p}[{j}]");
                    okx_text(d, "ccy", &dp)?;
                    okx_dec(d, "cashBal", &dp)?;
                    details.push(d.clone());
                }
            }
            Ok(OkxUserMessage::Account { push, details })
        }
        "orders" => {
            for (i, r) in rows.iter().enumerate() {
                let p = format!("data[{i}]");
                okx_text(r, "instId", &p)?;
                okx_text(r, "ordId", &p)?;
                okx_text(r, "state", &p)?;
            }
            Ok(OkxUserMessage::Orders { rows: rows.clone() })
        }
        other => Ok(OkxUserMessage::Ignored(other.to_string())),
    }
}

/// The key an OKX position row is kept under (`BTC-USDT-SWAP/long/cross`): one position per
/// instrument, side and margin mode.
pub fn okx_position_key(row: &Value) -> String {
    let s = |f: &str, d: &'static str| {
        row.get(f)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or(d)
            .to_string()
    };
    format!(
        "{}/{}/{}",
        s("instId", ""),
        s("posSide", "net"),
        s("mgnMode", "cross")
    )
}

/// Whether an OKX order row is still resting (`live`, `partially_filled`).
pub fn okx_order_open(row: &Value) -> bool {
    matches!(
        row.get("state").and_then(Value::as_str),
        Some("live" | "partially_filled")
    )
}

// ---------------------------------------------------------------------------------------------
// Bybit v5 private WebSocket
// ---------------------------------------------------------------------------------------------

/// What one message on a Bybit v5 private WebSocket connection means.
///
/// Bybit (bybit-exchange.github.io/docs/v5, "WebSocket Connect" and "Private" topics, as of
/// 2026-12-03): `wss://stream.bybit.com/v5/private`; `{"op":"auth","args":[key, expires,
/// signature]}` answered `{"success":…,"op":"auth"}`; `subscribe` to `position` (`data[]` = the
/// `GET /v5/position/list` rows plus `category`; the stream names the entry price `entryPrice`
/// where REST says `avgPrice`), `wallet` (`data[]` = `GET /v5/account/wallet-balance` list rows)
/// and `order` (`data[]` = `GET /v5/order/realtime` rows plus `category`); `{"op":"ping"}`
/// answered by `{"op":"pong"}` (private) or `{"op":"ping","ret_msg":"pong"}`.
#[derive(Debug, Clone, PartialEq)]
pub enum BybitUserMessage {
    /// The answer to `auth`.
    Auth {
        /// Whether the connection is authenticated.
        success: bool,
        /// The venue's message (why it failed).
        msg: String,
    },
    /// The answer to `subscribe`.
    Subscribed {
        /// Whether every topic was accepted.
        success: bool,
        /// The venue's message.
        msg: String,
    },
    /// The answer to a ping.
    Pong,
    /// `position` push: position-list rows (with `category`; `avgPrice` set from `entryPrice`).
    Positions(Vec<Value>),
    /// `wallet` push: wallet-balance list rows (`accountType`, `coin[]`).
    Wallet(Vec<Value>),
    /// `order` push: open-order rows (with `category`; `orderStatus` says whether still open).
    Orders(Vec<Value>),
    /// A well-formed message this account stream does not use.
    Ignored(String),
}

fn berr(path: impl Into<String>, reason: impl Into<String>) -> FrameError {
    FrameError {
        venue: "bybit",
        path: path.into(),
        reason: reason.into(),
    }
}

fn bybit_text(v: &Value, field: &str, path: &str) -> Result<String, FrameError> {
    v.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| berr(format!("{path}.{field}"), "missing or not a string"))
}

fn bybit_dec(v: &Value, field: &str, path: &str) -> Result<(), FrameError> {
    match v.get(field) {
        Some(Value::String(s)) if s.trim().parse::<f64>().is_ok_and(f64::is_finite) => Ok(()),
        Some(other) => Err(berr(
            format!("{path}.{field}"),
            format!("expected a decimal string, got {other}"),
        )),
        None => Err(berr(format!("{path}.{field}"), "missing")),
    }
}

/// Reads one text frame of a Bybit v5 private connection. A malformed frame (not JSON, a topic
/// push without `data`, a row without the fields its REST payload requires) is an error naming
/// the JSON path.
pub fn parse_bybit_user(frame: &str) -> Result<BybitUserMessage, FrameError> {
    let v: Value =
        serde_json::from_str(frame.trim()).map_err(|e| berr("$", format!("not JSON: {e}")))?;
    if !v.is_object() {
        return Err(berr("$", "expected a JSON object"));
    }
    if let Some(op) = v.get("op") {
        let op = op.as_str().ok_or_else(|| berr("op", "expected a string"))?;
        let success = v.get("success").and_then(Value::as_bool);
        let msg = v
            .get("ret_msg")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        return Ok(match op {
            "auth" => BybitUserMessage::Auth {
                success: success.unwrap_or(false),
                msg,
            },
            "subscribe" => BybitUserMessage::Subscribed {
                success: success.unwrap_or(false),
                msg,
            },
            "pong" => BybitUserMessage::Pong,
            "ping" if msg == "pong" => BybitUserMessage::Pong,
            other => BybitUserMessage::Ignored(other.to_string()),
        });
    }
    let topic = v
        .get("topic")
        .and_then(Value::as_str)
        .ok_or_else(|| berr("topic", "missing or not a string"))?;
    let kind = topic.split('.').next().unwrap_or_default();
    if !matches!(kind, "position" | "wallet" | "order") {
        return Ok(BybitUserMessage::Ignored(topic.to_string()));
    }
    let rows = match v.get("data") {
        Some(Value::Array(a)) => a,
        Some(_) => return Err(berr("data", "expected an array")),
        None => return Err(berr("data", "missing")),
    };
    match kind {
        "position" => {
            let mut out = Vec::with_capacity(rows.len());
            for (i, r) in rows.iter().enumerate() {
                let p = format!("data[{i}]");
                bybit_text(r, "category", &p)?;
                bybit_text(r, "symbol", &p)?;
                bybit_dec(r, "size", &p)?;
                let mut row = r.clone();
                if row.get("avgPrice").is_none() {
                    if let Some(e) = r.get("entryPrice") {
                        bybit_dec(r, "entryPrice", &p)?;
                        row["avgPrice"] = e.clone();
                    }
                }
                out.push(row);
            }
            Ok(BybitUserMessage::Positions(out))
        }
        "wallet" => {
            for (i, r) in rows.iter().enumerate() {
                let p = format!("data[{i}]");
                bybit_text(r, "accountType", &p)?;
                let coins = match r.get("coin") {
                    Some(Value::Array(c)) => c,
                    _ => return Err(berr(format!("{p}.coin"), "missing or not an array")),
                };
                for (j, c) in coins.iter().enumerate() {
                    let cp = format!("{p}.coin[{j}]");
                    bybit_text(c, "coin", &cp)?;
                    bybit_dec(c, "walletBalance", &cp)?;
                }
            }
            Ok(BybitUserMessage::Wallet(rows.clone()))
        }
        _ => {
            for (i, r) in rows.iter().enumerate() {
                let p = format!("data[{i}]");
                bybit_text(r, "category", &p)?;
                bybit_text(r, "symbol", &p)?;
                bybit_text(r, "orderId", &p)?;
                bybit_text(r, "orderStatus", &p)?;
            }
            Ok(BybitUserMessage::Orders(rows.clone()))
        }
    }
}

/// The key a Bybit position row is kept under (`linear/BTCUSDT/0`).
pub fn bybit_position_key(row: &Value) -> String {
    format!(
        "{}/{}/{}",
        row.get("category")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        row.get("symbol")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        row.get("positionIdx").and_then(Value::as_i64).unwrap_or(0)
    )
}

/// Whether a Bybit order row is still open (`New`, `PartiallyFilled`, `Untriggered`).
pub fn bybit_order_open(row: &Value) -> bool {
    matches!(
        row.get("orderStatus").and_then(Value::as_str),
        Some("New" | "PartiallyFilled" | "Untriggered")
    )
}

/// OKX rows as the REST payloads the OKX adapter reads: positions as
/// `GET /api/v5/account/positions`, balance details as one `GET /api/v5/account/balance` row,
/// live orders as `GET /api/v5/trade/orders-pending`.
pub fn okx_payloads<'a>(
    positions: impl IntoIterator<Item = &'a Value>,
    details: impl IntoIterator<Item = &'a Value>,
    orders: impl IntoIterator<Item = &'a Value>,
) -> Vec<Payload> {
    let positions: Vec<&Value> = positions.into_iter().collect();
    let details: Vec<&Value> = details.into_iter().collect();
    let orders: Vec<&Value> = orders.into_iter().filter(|o| okx_order_open(o)).collect();
    vec![
        Payload::named(
            "/api/v5/account/positions",
            json!({"code": "0", "msg": "", "data": positions}).to_string(),
        ),
        Payload::named(
            "/api/v5/account/balance",
            json!({"code": "0", "msg": "", "data": [{"details": details}]}).to_string(),
        ),
        Payload::named(
            "/api/v5/trade/orders-pending",
            json!({"code": "0", "msg": "", "data": orders}).to_string(),
        ),
    ]
}

/// Bybit rows as the REST payloads the Bybit adapter reads: one `GET /v5/position/list` and one
/// `GET /v5/order/realtime` per category (the rows' `category`), the wallet rows as
/// `GET /v5/account/wallet-balance`. Closed orders are left out.
pub fn bybit_payloads<'a>(
    positions: impl IntoIterator<Item = &'a Value>,
    wallets: impl IntoIterator<Item = &'a Value>,
    orders: impl IntoIterator<Item = &'a Value>,
) -> Vec<Payload> {
    use std::collections::BTreeMap;
    let by_category = |rows: Vec<&'a Value>| {
        let mut m: BTreeMap<String, Vec<&'a Value>> = BTreeMap::new();
        for r in rows {
            let c = r
                .get("category")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            m.entry(c).or_default().push(r);
        }
        m
    };
    let wallets: Vec<&Value> = wallets.into_iter().collect();
    let mut out = vec![Payload::named(
        "/v5/account/wallet-balance",
        json!({"retCode": 0, "retMsg": "OK", "result": {"list": wallets}}).to_string(),
    )];
    for (c, rows) in by_category(positions.into_iter().collect()) {
        out.push(Payload::named(
            format!("/v5/position/list?category={c}"),
            json!({"retCode": 0, "retMsg": "OK", "result": {"category": c, "list": rows}})
                .to_string(),
        ));
    }
    let open: Vec<&Value> = orders.into_iter().filter(|o| bybit_order_open(o)).collect();
    for (c, rows) in by_category(open) {
        out.push(Payload::named(
            format!("/v5/order/realtime?category={c}"),
            json!({"retCode": 0, "retMsg": "OK", "result": {"category": c, "list": rows}})
                .to_string(),
        ));
    }
    out
}

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

use serde_json::{json, Value};

use crate::stream::FrameError;

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

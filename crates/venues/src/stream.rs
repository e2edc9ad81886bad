//! The venues' public market-data WebSocket protocols as wire formats: the frames a client
//! sends (subscribe, keep-alive, heartbeat replies) and what each frame it receives means
//! (prices, acknowledgements, heartbeats, errors, sequence numbers). No I/O here: the
//! connection loop lives in `intermargin-live`; this module only says what the bytes mean, so
//! every venue's rules can be tested on the documentation's own messages.
//!
//! Price keys are the canonical market keys the adapters fill (`mark:deribit:BTC-PERPETUAL`,
//! `index:okx:BTC`, `iv:okx:BTC-USD-241227-60000-C`): a price streamed here lands exactly where
//! the same price imported from a REST payload would.
//!
//! Sources, one per venue (as of 2026-12-03):
//! * Deribit: docs.deribit.com `public/subscribe`, `ticker.(instrument_name).(interval)`,
//!   `deribit_price_index.(index_name)`, `public/set_heartbeat` (reply to `test_request` with
//!   `public/test`), "Notifications" (method `subscription`, params.channel/data).
//! * Binance USDⓈ-M: developers.binance.com "Mark Price Stream" (`<symbol>@markPrice@1s`,
//!   event `markPriceUpdate`: `p` mark, `i` index, `E` event time), combined streams
//!   `/stream?streams=` wrap each event as `{"stream":…,"data":…}`; the server pings, the
//!   client pongs (a WebSocket control frame, answered by the transport).
//! * OKX v5: `{"op":"subscribe","args":[{"channel":"mark-price","instId":…}]}`, channels
//!   `mark-price` (`markPx`), `index-tickers` (`idxPx`), `opt-summary` (`markVol`, `fwdPx`,
//!   by `instFamily`); keep-alive is the text `ping` answered by `pong` within 30 s.
//! * Bybit v5: `{"op":"subscribe","args":["tickers.BTCUSDT"]}`; `tickers.*` pushes a
//!   `snapshot` then `delta`s carrying only changed fields (`markPrice`, `indexPrice`,
//!   `markPriceIv` for options), `ts`, `cs`; keep-alive `{"op":"ping"}` every 20 s.
//! * Hyperliquid: `{"method":"subscribe","subscription":{"type":"allMids"}}` and
//!   `{"type":"activeAssetCtx","coin":…}` (`ctx.markPx`, `ctx.oraclePx`); keep-alive
//!   `{"method":"ping"}` → `{"channel":"pong"}` (the server closes an idle socket after 60 s).
//! * dYdX v4 indexer: `{"type":"subscribe","channel":"v4_markets"}`; `connected` (message_id
//!   0), `subscribed` with `contents.markets`, then `channel_data` with
//!   `contents.oraclePrices`; `message_id` counts every message of the connection, so a jump
//!   is a lost message. The server pings every 30 s (control frame).

use serde_json::{json, Value};

use crate::symbols::{self, BybitCategory};

/// The venues with a market-data WebSocket connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamVenue {
    /// Deribit JSON-RPC over WebSocket.
    Deribit,
    /// Binance USDⓈ-M combined streams.
    Binance,
    /// OKX v5 public channel.
    Okx,
    /// Bybit v5 public linear/inverse/option streams.
    Bybit,
    /// Hyperliquid info WebSocket.
    Hyperliquid,
    /// dYdX v4 indexer WebSocket.
    Dydx,
}

impl StreamVenue {
    /// Parses the venue name used in configs (`deribit`, `binance`, …).
    pub fn parse(name: &str) -> Option<StreamVenue> {
        Some(match name {
            "deribit" => StreamVenue::Deribit,
            "binance" => StreamVenue::Binance,
            "okx" => StreamVenue::Okx,
            "bybit" => StreamVenue::Bybit,
            "hyperliquid" => StreamVenue::Hyperliquid,
            "dydx" => StreamVenue::Dydx,
            _ => return None,
        })
    }

    /// The canonical venue name used in market keys.
    pub fn name(self) -> &'static str {
        match self {
            StreamVenue::Deribit => "deribit",
            StreamVenue::Binance => "binance",
            StreamVenue::Okx => "okx",
            StreamVenue::Bybit => "bybit",
            StreamVenue::Hyperliquid => "hyperliquid",
            StreamVenue::Dydx => "dydx",
        }
    }

    /// The venue's production endpoint for these channels.
    pub fn default_url(self, sub: &StreamSubscription) -> String {
        match self {
            StreamVenue::Deribit => "wss://www.deribit.com/ws/api/v2".into(),
            StreamVenue::Binance => binance_combined_url("wss://fstream.binance.com", sub),
            StreamVenue::Okx => "wss://ws.okx.com:8443/ws/v5/public".into(),
            StreamVenue::Bybit => "wss://stream.bybit.com/v5/public/linear".into(),
            StreamVenue::Hyperliquid => "wss://api.hyperliquid.xyz/ws".into(),
            StreamVenue::Dydx => "wss://indexer.dydx.trade/v4/ws".into(),
        }
    }

    /// How often the client must show life (`None`: the server pings and the transport pongs).
    pub fn keepalive_secs(self) -> Option<u64> {
        match self {
            StreamVenue::Okx => Some(25),
            StreamVenue::Bybit => Some(20),
            StreamVenue::Hyperliquid => Some(30),
            // Deribit: the server sends test_request after set_heartbeat; answered on receipt.
            StreamVenue::Deribit | StreamVenue::Binance | StreamVenue::Dydx => None,
        }
    }
}

/// What to subscribe to on one venue.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamSubscription {
    /// The venue's own instrument symbols (`BTC-PERPETUAL`, `BTCUSDT`, `BTC-USD-SWAP`; for
    /// Hyperliquid the coin `BTC`; for dYdX the ticker `BTC-USD`, all streamed on one channel).
    pub instruments: Vec<String>,
    /// Index names (Deribit `btc_usd`; OKX `BTC-USD`); empty where marks carry the index.
    pub indices: Vec<String>,
    /// Option families (OKX `opt-summary` `instFamily`, e.g. `BTC-USD`).
    pub option_families: Vec<String>,
    /// Deribit heartbeat interval in seconds (at least 10, the venue's minimum).
    pub heartbeat_secs: u64,
}

/// The combined-stream URL of Binance for the subscription's symbols (`<symbol>@markPrice@1s`).
pub fn binance_combined_url(base: &str, sub: &StreamSubscription) -> String {
    let streams: Vec<String> = sub
        .instruments
        .iter()
        .map(|s| format!("{}@markPrice@1s", s.to_lowercase()))
        .collect();
    format!(
        "{}/stream?streams={}",
        base.trim_end_matches('/'),
        streams.join("/")
    )
}

/// The text frames a client sends right after connecting (and again after each reconnect).
pub fn subscribe_frames(venue: StreamVenue, sub: &StreamSubscription) -> Vec<String> {
    match venue {
        StreamVenue::Deribit => {
            let mut channels: Vec<String> = sub
                .instruments
                .iter()
                .map(|i| format!("ticker.{i}.100ms"))
                .collect();
            channels.extend(
                sub.indices
                    .iter()
                    .map(|i| format!("deribit_price_index.{i}")),
            );
            vec![
                json!({"jsonrpc":"2.0","id":1,"method":"public/set_heartbeat",
                       "params":{"interval": sub.heartbeat_secs.max(10)}})
                .to_string(),
                json!({"jsonrpc":"2.0","id":2,"method":"public/subscribe",
                       "params":{"channels": channels}})
                .to_string(),
            ]
        }
        // Binance subscribes through the URL of the combined stream.
        StreamVenue::Binance => Vec::new(),
        StreamVenue::Okx => {
            let mut args: Vec<Value> = sub
                .instruments
                .iter()
                .map(|i| json!({"channel":"mark-price","instId":i}))
                .collect();
            args.extend(
                sub.indices
                    .iter()
                    .map(|i| json!({"channel":"index-tickers","instId":i})),
            );
            args.extend(
                sub.option_families
                    .iter()
                    .map(|f| json!({"channel":"opt-summary","instFamily":f})),
            );
            vec![json!({"op":"subscribe","args":args}).to_string()]
        }
        StreamVenue::Bybit => {
            let args: Vec<String> = sub
                .instruments
                .iter()
                .map(|i| format!("tickers.{i}"))
                .collect();
            vec![json!({"op":"subscribe","args":args}).to_string()]
        }
        StreamVenue::Hyperliquid => {
            let mut frames =
                vec![json!({"method":"subscribe","subscription":{"type":"allMids"}}).to_string()];
            frames.extend(sub.instruments.iter().map(|c| {
                json!({"method":"subscribe","subscription":{"type":"activeAssetCtx","coin":c}})
                    .to_string()
            }));
            frames
        }
        StreamVenue::Dydx => vec![json!({"type":"subscribe","channel":"v4_markets"}).to_string()],
    }
}

/// The keep-alive frame the client sends when the venue expects one (see `keepalive_secs`).
pub fn keepalive_frame(venue: StreamVenue) -> Option<String> {
    match venue {
        StreamVenue::Okx => Some("ping".into()),
        StreamVenue::Bybit => Some(json!({"op":"ping"}).to_string()),
        StreamVenue::Hyperliquid => Some(json!({"method":"ping"}).to_string()),
        StreamVenue::Deribit | StreamVenue::Binance | StreamVenue::Dydx => None,
    }
}

/// One price a frame carried, under its canonical market key.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamPrice {
    /// `mark:venue:SYMBOL`, `index:venue:UNDERLYING`, `iv:venue:SYMBOL` or `mid:venue:COIN`.
    pub key: String,
    /// The price (or implied vol as a fraction for `iv:`).
    pub value: f64,
    /// The venue's own timestamp in UTC milliseconds, when the frame has one.
    pub venue_ms: Option<i64>,
    /// The underlying asset the price belongs to (`BTC`), when the symbol says.
    pub asset: Option<String>,
}

/// What a received frame means.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamFrame {
    /// Prices, and the connection-level sequence number if the venue numbers its messages.
    Prices {
        /// The prices carried.
        prices: Vec<StreamPrice>,
        /// The venue's message counter (dYdX `message_id`).
        seq: Option<u64>,
    },
    /// A subscription was confirmed (or the connection greeted), with its sequence number.
    Ack {
        /// The venue's message counter, if any.
        seq: Option<u64>,
    },
    /// A heartbeat or pong: the connection is alive, no prices.
    Heartbeat,
    /// The venue asks for a reply now (Deribit `test_request` → `public/test`).
    Reply(String),
    /// The venue reported an error (failed subscription, bad request).
    VenueError(String),
    /// A well-formed message this connector does not use.
    Ignored,
}

/// Why a frame could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{venue} frame: {path}: {reason}")]
pub struct FrameError {
    /// The venue.
    pub venue: &'static str,
    /// JSON path of the offending field (`$` for the whole frame).
    pub path: String,
    /// What was wrong.
    pub reason: String,
}

fn ferr(venue: StreamVenue, path: impl Into<String>, reason: impl Into<String>) -> FrameError {
    FrameError {
        venue: venue.name(),
        path: path.into(),
        reason: reason.into(),
    }
}

/// A positive finite price from a JSON number or decimal string; `Ok(None)` when absent or
/// empty (Binance sends `""` for fields that do not apply).
fn price(
    venue: StreamVenue,
    v: &Value,
    field: &str,
    path: &str,
) -> Result<Option<f64>, FrameError> {
    let Some(x) = v.get(field) else {
        return Ok(None);
    };
    let p = match x {
        Value::Null => return Ok(None),
        Value::String(s) if s.is_empty() => return Ok(None),
        Value::String(s) => s.parse::<f64>().map_err(|_| {
            ferr(
                venue,
                format!("{path}.{field}"),
                format!("not a number: {s:?}"),
            )
        })?,
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| ferr(venue, format!("{path}.{field}"), "not a finite number"))?,
        other => {
            return Err(ferr(
                venue,
                format!("{path}.{field}"),
                format!("expected a number, got {other}"),
            ))
        }
    };
    if !p.is_finite() || p <= 0.0 {
        return Err(ferr(
            venue,
            format!("{path}.{field}"),
            format!("must be a positive number, got {p}"),
        ));
    }
    Ok(Some(p))
}

fn ms(v: &Value, field: &str) -> Option<i64> {
    match v.get(field)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn push(
    out: &mut Vec<StreamPrice>,
    kind: &str,
    venue: StreamVenue,
    name: &str,
    value: Option<f64>,
    t: Option<i64>,
) {
    if let Some(value) = value {
        let asset = match kind {
            "index" | "mid" => Some(name.to_string()),
            _ => underlying(venue, name),
        };
        out.push(StreamPrice {
            key: format!("{kind}:{}:{name}", venue.name()),
            value,
            venue_ms: t,
            asset,
        });
    }
}

/// The underlying asset of a venue symbol, as the REST adapters name it (`BTC-USD-SWAP` →
/// `BTC`), or `None` when the symbol is not one the venue's naming rules recognise.
pub fn underlying(venue: StreamVenue, symbol: &str) -> Option<String> {
    match venue {
        StreamVenue::Deribit => symbols::deribit(symbol, None).map(|i| i.underlying),
        StreamVenue::Binance => symbols::binance(symbol, None).map(|i| i.underlying),
        StreamVenue::Okx => symbols::okx(symbol, None)
            .map(|i| i.underlying)
            .or_else(|| symbol.split('-').next().map(str::to_string)),
        StreamVenue::Bybit => {
            let cat = if symbol.matches('-').count() >= 3 {
                BybitCategory::Option
            } else if symbol.ends_with("USD")
                || (symbol.len() > 6 && symbol[..symbol.len() - 3].ends_with("USD"))
            {
                BybitCategory::Inverse
            } else {
                BybitCategory::Linear
            };
            symbols::bybit(symbol, cat, None)
                .or_else(|| symbols::bybit(symbol, BybitCategory::Linear, None))
                .map(|i| i.underlying)
        }
        StreamVenue::Hyperliquid => Some(symbol.to_string()),
        StreamVenue::Dydx => symbols::dydx(symbol).map(|i| i.underlying),
    }
}

/// Reads one text frame of `venue`. Unknown but well-formed messages are `Ignored`; a
/// malformed frame (not JSON, a price that is not a positive number) is an error naming the
/// path, which the connection loop logs and skips.
pub fn parse_frame(venue: StreamVenue, text: &str) -> Result<StreamFrame, FrameError> {
    let trimmed = text.trim();
    if venue == StreamVenue::Okx && trimmed == "pong" {
        return Ok(StreamFrame::Heartbeat);
    }
    let v: Value =
        serde_json::from_str(trimmed).map_err(|e| ferr(venue, "$", format!("not JSON: {e}")))?;
    if !v.is_object() {
        return Err(ferr(venue, "$", "expected a JSON object"));
    }
    match venue {
        StreamVenue::Deribit => deribit(&v),
        StreamVenue::Binance => binance(&v),
        StreamVenue::Okx => okx(&v),
        StreamVenue::Bybit => bybit(&v),
        StreamVenue::Hyperliquid => hyperliquid(&v),
        StreamVenue::Dydx => dydx(&v),
    }
}

fn deribit(v: &Value) -> Result<StreamFrame, FrameError> {
    let ven = StreamVenue::Deribit;
    if let Some(e) = v.get("error") {
        return Ok(StreamFrame::VenueError(e.to_string()));
    }
    match v.get("method").and_then(Value::as_str) {
        Some("heartbeat") => {
            let kind = v.pointer("/params/type").and_then(Value::as_str);
            return Ok(if kind == Some("test_request") {
                StreamFrame::Reply(
                    json!({"jsonrpc":"2.0","id":9,"method":"public/test","params":{}}).to_string(),
                )
            } else {
                StreamFrame::Heartbeat
            });
        }
        Some("subscription") => {}
        _ => {
            return Ok(if v.get("result").is_some() {
                StreamFrame::Ack { seq: None }
            } else {
                StreamFrame::Ignored
            })
        }
    }
    let channel = v
        .pointer("/params/channel")
        .and_then(Value::as_str)
        .ok_or_else(|| ferr(ven, "params.channel", "missing"))?;
    let data = v
        .pointer("/params/data")
        .ok_or_else(|| ferr(ven, "params.data", "missing"))?;
    let t = ms(data, "timestamp");
    let mut out = Vec::new();
    if let Some(index) = channel.strip_prefix("deribit_price_index.") {
        let p = price(ven, data, "price", "params.data")?
            .ok_or_else(|| ferr(ven, "params.data.price", "missing"))?;
        push(
            &mut out,
            "index",
            ven,
            &deribit_index_underlying(index),
            Some(p),
            t,
        );
    } else if let Some(rest) = channel.strip_prefix("ticker.") {
        let name = data
            .get("instrument_name")
            .and_then(Value::as_str)
            .or_else(|| rest.rsplit_once('.').map(|(n, _)| n))
            .ok_or_else(|| ferr(ven, "params.data.instrument_name", "missing"))?;
        push(
            &mut out,
            "mark",
            ven,
            name,
            price(ven, data, "mark_price", "params.data")?,
            t,
        );
        push(
            &mut out,
            "index",
            ven,
            &crate::deribit::index_key(name),
            price(ven, data, "index_price", "params.data")?,
            t,
        );
        // Deribit quotes mark_iv in percent.
        if let Some(iv) = price(ven, data, "mark_iv", "params.data")? {
            push(&mut out, "iv", ven, name, Some(iv / 100.0), t);
        }
    } else {
        return Ok(StreamFrame::Ignored);
    }
    Ok(StreamFrame::Prices {
        prices: out,
        seq: None,
    })
}

/// Deribit index name → the underlying key the adapter uses: `btc_usd` → `BTC` (inverse and
/// USD-quoted), `sol_usdc` → `SOL_USDC` (the linear instruments' prefix).
pub fn deribit_index_underlying(index: &str) -> String {
    match index.split_once('_') {
        Some((base, "usd")) => base.to_uppercase(),
        _ => index.to_uppercase(),
    }
}

fn binance(v: &Value) -> Result<StreamFrame, FrameError> {
    let ven = StreamVenue::Binance;
    // Combined streams wrap the event; a raw stream is the event itself.
    let (data, path) = match v.get("data") {
        Some(d) => (d, "data"),
        None => (v, "$"),
    };
    if v.get("result").is_some() && v.get("id").is_some() {
        return Ok(StreamFrame::Ack { seq: None });
    }
    if let Some(e) = v.get("error") {
        return Ok(StreamFrame::VenueError(e.to_string()));
    }
    let events: Vec<&Value> = match data {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let mut out = Vec::new();
    for (i, ev) in events.iter().enumerate() {
        if ev.get("e").and_then(Value::as_str) != Some("markPriceUpdate") {
            continue;
        }
        let p = if events.len() > 1 {
            format!("{path}[{i}]")
        } else {
            path.to_string()
        };
        let sym = ev
            .get("s")
            .and_then(Value::as_str)
            .ok_or_else(|| ferr(ven, format!("{p}.s"), "missing symbol"))?;
        let t = ms(ev, "E");
        push(&mut out, "mark", ven, sym, price(ven, ev, "p", &p)?, t);
        if let Some(u) = underlying(ven, sym) {
            push(&mut out, "index", ven, &u, price(ven, ev, "i", &p)?, t);
        }
    }
    if out.is_empty() {
        return Ok(StreamFrame::Ignored);
    }
    Ok(StreamFrame::Prices {
        prices: out,
        seq: None,
    })
}

fn okx(v: &Value) -> Result<StreamFrame, FrameError> {
    let ven = StreamVenue::Okx;
    match v.get("event").and_then(Value::as_str) {
        Some("subscribe") => return Ok(StreamFrame::Ack { seq: None }),
        Some("error") => {
            return Ok(StreamFrame::VenueError(format!(
                "{} {}",
                v.get("code").and_then(Value::as_str).unwrap_or(""),
                v.get("msg").and_then(Value::as_str).unwrap_or("")
            )))
        }
        Some(_) => return Ok(StreamFrame::Ignored),
        None => {}
    }
    let Some(channel) = v.pointer("/arg/channel").and_then(Value::as_str) else {
        return Ok(StreamFrame::Ignored);
    };
    let rows = v
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| ferr(ven, "data", "expected an array"))?;
    let mut out = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let path = format!("data[{i}]");
        let id = row
            .get("instId")
            .and_then(Value::as_str)
            .ok_or_else(|| ferr(ven, format!("{path}.instId"), "missing"))?;
        let t = ms(row, "ts");
        match channel {
            "mark-price" => push(
                &mut out,
                "mark",
                ven,
                id,
                price(ven, row, "markPx", &path)?,
                t,
            ),
            "index-tickers" => {
                let base = id.split('-').next().unwrap_or(id);
                push(
                    &mut out,
                    "index",
                    ven,
                    base,
                    price(ven, row, "idxPx", &path)?,
                    t,
                )
            }
            "opt-summary" => {
                push(
                    &mut out,
                    "iv",
                    ven,
                    id,
                    price(ven, row, "markVol", &path)?,
                    t,
                );
            }
            _ => {}
        }
    }
    Ok(StreamFrame::Prices {
        prices: out,
        seq: None,
    })
}

fn bybit(v: &Value) -> Result<StreamFrame, FrameError> {
    let ven = StreamVenue::Bybit;
    if let Some(op) = v.get("op").and_then(Value::as_str) {
        let ok = v.get("success").and_then(Value::as_bool).unwrap_or(true);
        if !ok {
            return Ok(StreamFrame::VenueError(
                v.get("ret_msg")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            ));
        }
        return Ok(match op {
            "ping" | "pong" => StreamFrame::Heartbeat,
            "subscribe" => StreamFrame::Ack { seq: None },
            _ => StreamFrame::Ignored,
        });
    }
    let Some(topic) = v.get("topic").and_then(Value::as_str) else {
        return Ok(StreamFrame::Ignored);
    };
    let Some(sym) = topic.strip_prefix("tickers.") else {
        return Ok(StreamFrame::Ignored);
    };
    let data = v.get("data").ok_or_else(|| ferr(ven, "data", "missing"))?;
    let t = ms(v, "ts");
    let mut out = Vec::new();
    push(
        &mut out,
        "mark",
        ven,
        sym,
        price(ven, data, "markPrice", "data")?,
        t,
    );
    if let Some(u) = underlying(ven, sym) {
        push(
            &mut out,
            "index",
            ven,
            &u,
            price(ven, data, "indexPrice", "data")?,
            t,
        );
    }
    if let Some(iv) = price(ven, data, "markPriceIv", "data")? {
        push(&mut out, "iv", ven, sym, Some(iv), t);
    }
    Ok(StreamFrame::Prices {
        prices: out,
        seq: None,
    })
}

fn hyperliquid(v: &Value) -> Result<StreamFrame, FrameError> {
    let ven = StreamVenue::Hyperliquid;
    let channel = v.get("channel").and_then(Value::as_str).unwrap_or("");
    match channel {
        "pong" => Ok(StreamFrame::Heartbeat),
        "subscriptionResponse" => Ok(StreamFrame::Ack { seq: None }),
        "error" => Ok(StreamFrame::VenueError(
            v.get("data").map(Value::to_string).unwrap_or_default(),
        )),
        "allMids" => {
            let mids = v
                .pointer("/data/mids")
                .and_then(Value::as_object)
                .ok_or_else(|| ferr(ven, "data.mids", "expected an object"))?;
            let mut out = Vec::new();
            for (coin, _) in mids.iter() {
                // `@123` keys are spot pairs; only perp coins are margined.
                if coin.starts_with('@') {
                    continue;
                }
                let p = price(ven, &Value::Object(mids.clone()), coin, "data.mids")?;
                push(&mut out, "mid", ven, coin, p, None);
            }
            Ok(StreamFrame::Prices {
                prices: out,
                seq: None,
            })
        }
        "activeAssetCtx" => {
            let coin = v
                .pointer("/data/coin")
                .and_then(Value::as_str)
                .ok_or_else(|| ferr(ven, "data.coin", "missing"))?;
            let ctx = v
                .pointer("/data/ctx")
                .ok_or_else(|| ferr(ven, "data.ctx", "missing"))?;
            let mut out = Vec::new();
            push(
                &mut out,
                "mark",
                ven,
                coin,
                price(ven, ctx, "markPx", "data.ctx")?,
                None,
            );
            push(
                &mut out,
                "index",
                ven,
                coin,
                price(ven, ctx, "oraclePx", "data.ctx")?,
                None,
            );
            Ok(StreamFrame::Prices {
                prices: out,
                seq: None,
            })
        }
        _ => Ok(StreamFrame::Ignored),
    }
}

fn dydx(v: &Value) -> Result<StreamFrame, FrameError> {
    let ven = StreamVenue::Dydx;
    let seq = v.get("message_id").and_then(Value::as_u64);
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "connected" | "unsubscribed" => return Ok(StreamFrame::Ack { seq }),
        "error" => {
            return Ok(StreamFrame::VenueError(
                v.get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            ))
        }
        "subscribed" | "channel_data" | "channel_batch_data" => {}
        _ => return Ok(StreamFrame::Ignored),
    }
    if v.get("channel").and_then(Value::as_str) != Some("v4_markets") {
        return Ok(StreamFrame::Ignored);
    }
    let contents: Vec<(&Value, String)> = match v.get("contents") {
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, c)| (c, format!("contents[{i}]")))
            .collect(),
        Some(c) => vec![(c, "contents".to_string())],
        None => return Err(ferr(ven, "contents", "missing")),
    };
    let mut out = Vec::new();
    for (c, path) in contents {
        for field in ["markets", "oraclePrices"] {
            let Some(map) = c.get(field).and_then(Value::as_object) else {
                continue;
            };
            for (ticker, m) in map {
                let p = price(ven, m, "oraclePrice", &format!("{path}.{field}.{ticker}"))?;
                // dYdX v4 margins at the oracle price: it is both mark and index, as the REST
                // adapter reads GET /v4/perpetualMarkets.
                push(&mut out, "mark", ven, ticker, p, None);
                if let Some(u) = underlying(ven, ticker) {
                    push(&mut out, "index", ven, &u, p, None);
                }
            }
        }
    }
    if kind == "subscribed" && out.is_empty() {
        return Ok(StreamFrame::Ack { seq });
    }
    Ok(StreamFrame::Prices { prices: out, seq })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deribit_index_names_map_to_adapter_keys() {
        assert_eq!(deribit_index_underlying("btc_usd"), "BTC");
        assert_eq!(deribit_index_underlying("sol_usdc"), "SOL_USDC");
        assert_eq!(crate::deribit::index_key("SOL_USDC-PERPETUAL"), "SOL_USDC");
    }

    #[test]
    fn malformed_frames_name_the_path() {
        let e = parse_frame(StreamVenue::Okx, "{not json").unwrap_err();
        assert_eq!(e.path, "$");
        let e = parse_frame(
            StreamVenue::Okx,
            r#"{"arg":{"channel":"mark-price","instId":"BTC-USDT-SWAP"},"data":[{"instId":"BTC-USDT-SWAP","markPx":"-1","ts":"1"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.path, "data[0].markPx");
        let e = parse_frame(StreamVenue::Binance, "[1,2]").unwrap_err();
        assert_eq!(e.reason, "expected a JSON object");
    }
}

//! Trade specs for the what-if: `VENUE:INSTRUMENT:SIZE[@PRICE]`, the venue's own symbol resolved
//! to a canonical instrument, and the fills applied to a snapshot through
//! [`Snapshot::apply_fill`] (the model's one trade rule).

use std::str::FromStr;

use intermargin_model::{Fill, Instrument, ModelError, Snapshot, Venue};
use serde::{Deserialize, Serialize};

use crate::symbols;

/// Most trades one what-if may carry (bounds the work of one request).
pub const MAX_TRADES: usize = 64;

/// One hypothetical trade as given: venue, the venue's own symbol, signed size in the venue's
/// size unit, and an optional price (the mark when absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TradeSpec {
    /// Venue name (`deribit`, `binance`, …).
    pub venue: String,
    /// The venue's own symbol (`BTC-27DEC24-60000-C`, `BTCUSDT`, `BTC-USD-SWAP`).
    pub instrument: String,
    /// Signed contracts in the venue's size unit (buy > 0, sell < 0).
    pub size: f64,
    /// Fill price in the instrument's quote currency; the mark when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
}

/// A trade that cannot be applied: which trade, which part (`venue`, `instrument`, `size`,
/// `price`) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct TradeError {
    /// Index of the trade in the list.
    pub index: usize,
    /// The part at fault: `venue`, `instrument`, `size`, `price` (or `trades` for the list).
    pub part: &'static str,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for TradeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "trades[{}].{}: {}", self.index, self.part, self.message)
    }
}

impl std::error::Error for TradeError {}

fn err(index: usize, part: &'static str, message: impl Into<String>) -> TradeError {
    TradeError {
        index,
        part,
        message: message.into(),
    }
}

impl TradeSpec {
    /// Parses `VENUE:INSTRUMENT:SIZE[@PRICE]` (the instrument is everything between the first
    /// and the last colon); `index` only labels errors.
    pub fn parse(text: &str, index: usize) -> Result<TradeSpec, TradeError> {
        let (venue, rest) = text.split_once(':').ok_or_else(|| {
            err(
                index,
                "venue",
                format!("{text:?}: expected VENUE:INSTRUMENT:SIZE[@PRICE]"),
            )
        })?;
        let (instrument, amount) = rest.rsplit_once(':').ok_or_else(|| {
            err(
                index,
                "size",
                format!("{text:?}: expected VENUE:INSTRUMENT:SIZE[@PRICE], no size"),
            )
        })?;
        let (size, price) = match amount.split_once('@') {
            Some((s, p)) => (s, Some(p)),
            None => (amount, None),
        };
        let size = size
            .trim()
            .parse::<f64>()
            .map_err(|_| err(index, "size", format!("{size:?} is not a number")))?;
        let price = price
            .map(|p| {
                p.trim()
                    .parse::<f64>()
                    .map_err(|_| err(index, "price", format!("{p:?} is not a number")))
            })
            .transpose()?;
        Ok(TradeSpec {
            venue: venue.trim().to_string(),
            instrument: instrument.trim().to_string(),
            size,
            price,
        })
    }
}

/// The canonical instrument of a venue's own symbol, from its name alone (Deribit inverse faces
/// and OKX contract values from the dated tables the adapters use). Bybit symbols are read as
/// options when they have an option's four or five dash-separated parts, as inverse contracts
/// when they end in `USD` or a `USD` futures month code, as linear contracts otherwise.
pub fn resolve_symbol(venue: Venue, symbol: &str) -> Option<Instrument> {
    match venue {
        Venue::Deribit => {
            let underlying = symbol.split(['-', '_']).next()?;
            symbols::deribit(symbol, symbols::deribit_inverse_face(underlying))
        }
        Venue::Binance => symbols::binance(symbol, None).or_else(|| {
            let probe = symbols::binance_coinm(symbol, 1.0)?;
            let cs = crate::binance_coinm::contract_usd(&probe.underlying)?;
            symbols::binance_coinm(symbol, cs)
        }),
        Venue::Okx => symbols::okx(symbol, crate::okx::table_terms(symbol)),
        Venue::Bybit => {
            let dashes = symbol.matches('-').count();
            let inverse_future = symbol.len() > 6
                && symbol
                    .get(symbol.len() - 6..symbol.len() - 3)
                    .is_some_and(|s| s.starts_with("USD"))
                && symbol[symbol.len() - 2..]
                    .chars()
                    .all(|c| c.is_ascii_digit());
            let cat = if dashes >= 3 {
                symbols::BybitCategory::Option
            } else if symbol.ends_with("USD") || inverse_future {
                symbols::BybitCategory::Inverse
            } else {
                symbols::BybitCategory::Linear
            };
            symbols::bybit(symbol, cat, None)
        }
        Venue::Dydx => symbols::dydx(symbol),
        Venue::Hyperliquid => symbols::hyperliquid(symbol),
        Venue::Aave | Venue::Cme | Venue::Hub => None,
    }
}

/// Part of a trade a model error's field names.
fn part_of(e: &ModelError) -> &'static str {
    let s = e.to_string();
    ["size", "price", "instrument"]
        .into_iter()
        .find(|p| s.starts_with(&format!("trade.{p}")))
        .unwrap_or("instrument")
}

/// Applies every trade, in order, to account `account` of `snap`, and returns the venues traded.
///
/// The instrument is the account's own position in that venue and symbol when it holds one (its
/// terms as imported), otherwise [`resolve_symbol`]; the snapshot's market must mark it (margin
/// values every position at the mark), and the price defaults to that mark. The traded snapshot
/// and its terms are validated (an instrument expired at the market's time is refused).
pub fn apply_trades(
    snap: &mut Snapshot,
    account: &str,
    trades: &[TradeSpec],
) -> Result<Vec<Venue>, TradeError> {
    if trades.is_empty() {
        return Err(err(0, "trades", "at least one trade is required"));
    }
    if trades.len() > MAX_TRADES {
        return Err(err(
            MAX_TRADES,
            "trades",
            format!("{} trades exceed the limit of {MAX_TRADES}", trades.len()),
        ));
    }
    let acc = snap
        .portfolio
        .accounts
        .iter()
        .position(|a| a.id == account)
        .ok_or_else(|| {
            err(
                0,
                "trades",
                format!("no account {account:?} in the snapshot"),
            )
        })?;
    let mut venues = Vec::new();
    for (i, t) in trades.iter().enumerate() {
        let venue = Venue::from_str(&t.venue)
            .map_err(|_| err(i, "venue", format!("unknown venue {:?}", t.venue)))?;
        if matches!(venue, Venue::Aave | Venue::Cme | Venue::Hub) {
            return Err(err(
                i,
                "venue",
                format!("{venue}: no tradable instruments with a what-if (lending balances and the hub are not positions; CME has no standard model)"),
            ));
        }
        if t.instrument.is_empty() || t.instrument.len() > 64 {
            return Err(err(
                i,
                "instrument",
                "must be the venue's symbol, 1 to 64 characters",
            ));
        }
        let held = snap.portfolio.accounts[acc]
            .positions
            .iter()
            .find(|p| p.instrument.venue == venue && p.instrument.symbol == t.instrument)
            .map(|p| p.instrument.clone());
        let instrument = held
            .or_else(|| resolve_symbol(venue, &t.instrument))
            .ok_or_else(|| {
                err(
                    i,
                    "instrument",
                    format!(
                        "{:?} is not a {venue} symbol this build can read",
                        t.instrument
                    ),
                )
            })?;
        let now = (snap.market.timestamp_ms > 0).then_some(snap.market.timestamp_ms);
        instrument
            .validate("trade.instrument", now)
            .map_err(|e| err(i, "instrument", e.to_string()))?;
        let id = instrument.id();
        let mark = snap.market.mark_prices.get(&id).copied().ok_or_else(|| {
            err(
                i,
                "instrument",
                format!("the snapshot's market has no mark price for {id} (market.mark_prices)"),
            )
        })?;
        if !t.size.is_finite() || t.size == 0.0 {
            return Err(err(
                i,
                "size",
                format!("must be a non-zero number, got {}", t.size),
            ));
        }
        let price = t.price.unwrap_or(mark);
        if !(price.is_finite() && price > 0.0) {
            return Err(err(i, "price", format!("must be > 0, got {price}")));
        }
        let fill = Fill {
            instrument,
            size: t.size,
            price,
        };
        snap.apply_fill(account, &fill)
            .map_err(|e| err(i, part_of(&e), e.to_string()))?;
        if !venues.contains(&venue) {
            venues.push(venue);
        }
    }
    Ok(venues)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_name_the_bad_part() {
        let t = TradeSpec::parse("deribit:BTC-27DEC24-60000-C:-2.5@0.04", 0).unwrap();
        assert_eq!(
            t,
            TradeSpec {
                venue: "deribit".into(),
                instrument: "BTC-27DEC24-60000-C".into(),
                size: -2.5,
                price: Some(0.04)
            }
        );
        assert_eq!(
            TradeSpec::parse("binance:BTCUSDT:1", 0).unwrap().price,
            None
        );
        assert_eq!(TradeSpec::parse("binance", 3).unwrap_err().part, "venue");
        assert_eq!(
            TradeSpec::parse("binance:BTCUSDT", 0).unwrap_err().part,
            "size"
        );
        assert_eq!(
            TradeSpec::parse("binance:BTCUSDT:x", 0).unwrap_err().part,
            "size"
        );
        let e = TradeSpec::parse("binance:BTCUSDT:1@abc", 2).unwrap_err();
        assert_eq!((e.index, e.part), (2, "price"));
    }

    #[test]
    fn symbols_resolve_per_venue() {
        let d = resolve_symbol(Venue::Deribit, "BTC-PERPETUAL").unwrap();
        assert_eq!((d.contract_size, d.settle.as_str()), (10.0, "BTC"));
        let o = resolve_symbol(Venue::Okx, "BTC-USD-SWAP").unwrap();
        assert_eq!(o.settle, "BTC");
        let b = resolve_symbol(Venue::Bybit, "BTCUSD").unwrap();
        assert_eq!(b.settlement, intermargin_model::Settlement::Inverse);
        let b = resolve_symbol(Venue::Bybit, "BTCUSDH24").unwrap();
        assert!(matches!(
            b.kind,
            intermargin_model::InstrumentKind::Future { .. }
        ));
        let b = resolve_symbol(Venue::Bybit, "BTCUSDT").unwrap();
        assert_eq!(b.settle, "USDT");
        assert!(resolve_symbol(Venue::Bybit, "BTC-27MAR26-70000-P-USDT")
            .unwrap()
            .is_option());
        assert!(resolve_symbol(Venue::Binance, "NOTASYMBOL").is_none());
    }
}

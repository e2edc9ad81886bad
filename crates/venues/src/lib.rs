//! Venue adapters: real API responses of Deribit, Binance USDⓈ-M, OKX, Bybit v5, dYdX v4,
//! Hyperliquid and Aave v3 → the canonical [`Snapshot`], plus signed live [`fetch`]ers.
//!
//! The crate owns wire formats and nothing else: it never computes margin. Each adapter reads
//! one or several payloads of its venue (positions, balances, instruments, tickers, risk
//! parameters — the payload's shape says which endpoint it came from), and produces one
//! validated snapshot: positions and collateral for one account, and the market data the
//! payloads carry (mark and index prices, mark IVs, Greeks, and venue-published risk parameters
//! in `Market.venue_params`, whose shapes are specified in `PARAMS.md`).
//!
//! Why these choices:
//! * balances are parsed as exact decimals (`rust_decimal`) from the JSON text, never through
//!   `f64`, and become integer base units; sizes and prices become `f64` risk figures;
//! * every error names the venue, the file and the JSON path (`result[2].size: expected a
//!   decimal string, got null`); unknown fields are ignored, missing required ones are errors;
//! * rows of size zero, which venues return for every symbol, are skipped;
//! * a repeat of the same position or balance across payloads must agree, and so must market
//!   data: a disagreement is a [`VenueError::Conflict`] naming the key, never a silent pick.
#![deny(missing_docs)]

mod aave;
mod binance;
mod binance_coinm;
mod binance_pm;
mod builder;
mod bybit;
mod deribit;
mod dydx;
mod error;
pub mod fetch;
mod hyperliquid;
mod json;
mod okx;
mod okx_tiers;
pub mod stream;
pub mod symbols;
pub mod trade;
pub mod user_stream;

use intermargin_model::{Snapshot, Venue};
use serde_json::Value;

pub use builder::{asset_decimals, ImportOptions, QUOTE};
pub use error::VenueError;
pub use json::Source;

/// Venues with an adapter, in the CLI's order.
pub const SUPPORTED: [Venue; 7] = [
    Venue::Deribit,
    Venue::Binance,
    Venue::Okx,
    Venue::Bybit,
    Venue::Dydx,
    Venue::Hyperliquid,
    Venue::Aave,
];

/// One payload to import: its JSON text and, for messages, the file it came from.
#[derive(Debug, Clone)]
pub struct Payload {
    /// File name or other label, shown in errors.
    pub name: Option<String>,
    /// The JSON text as the venue returned it.
    pub text: String,
}

impl Payload {
    /// A payload read from a named file.
    pub fn named(name: impl Into<String>, text: impl Into<String>) -> Self {
        Payload {
            name: Some(name.into()),
            text: text.into(),
        }
    }
}

/// Parses JSON text, naming the venue and file on failure.
pub fn parse_payload(venue: Venue, p: &Payload) -> Result<(Source, Value), VenueError> {
    let src = Source {
        venue,
        file: p.name.clone(),
    };
    let v: Value = serde_json::from_str(&p.text).map_err(|e| VenueError::Json {
        venue,
        file: src.file_label(),
        reason: e.to_string(),
    })?;
    Ok((src, v))
}

/// Imports payloads of one venue into one validated canonical snapshot.
pub fn import(
    venue: Venue,
    payloads: &[Payload],
    opts: &ImportOptions,
) -> Result<Snapshot, VenueError> {
    let parsed = payloads
        .iter()
        .map(|p| parse_payload(venue, p))
        .collect::<Result<Vec<_>, _>>()?;
    import_values(venue, &parsed, opts)
}

/// Imports already-parsed JSON values of one venue.
pub fn import_values(
    venue: Venue,
    payloads: &[(Source, Value)],
    opts: &ImportOptions,
) -> Result<Snapshot, VenueError> {
    if opts.account.trim().is_empty() {
        return Err(VenueError::Unsupported(
            "account id must not be empty".to_string(),
        ));
    }
    let mut b = builder::Builder::new(venue, opts);
    match venue {
        Venue::Deribit => deribit::import(payloads, &mut b)?,
        Venue::Binance => binance::import(payloads, &mut b)?,
        Venue::Okx => okx::import(payloads, &mut b)?,
        Venue::Bybit => bybit::import(payloads, &mut b)?,
        Venue::Dydx => dydx::import(payloads, &mut b)?,
        Venue::Hyperliquid => hyperliquid::import(payloads, &mut b)?,
        Venue::Aave => aave::import(payloads, &mut b, &opts.account)?,
        other => {
            return Err(VenueError::Unsupported(format!(
                "no adapter for venue {other}"
            )))
        }
    }
    let mut snap = b.finish()?;
    complete_fx(&mut snap);
    Ok(snap)
}

/// Venues whose index prices are quoted in USD, the canonical quote, in order of preference.
const USD_INDEX_VENUES: [Venue; 6] = [
    Venue::Deribit,
    Venue::Okx,
    Venue::Bybit,
    Venue::Dydx,
    Venue::Hyperliquid,
    Venue::Aave,
];

/// USD stablecoins valued at par when no payload prices them; the unified model's stablecoin
/// basis charge, not this conversion, carries the de-peg risk.
const PAR_STABLECOINS: [&str; 4] = ["USD", "USDT", "USDC", "DAI"];

/// Fills `market.fx` for every asset the portfolio uses or trades and that has no rate yet, so
/// that reports convert into USD: from the first USD-quoted venue index for it (Binance's index is
/// USDT-quoted and is not used), and USD stablecoins at par.
pub fn complete_fx(snap: &mut Snapshot) {
    let mut assets: Vec<String> = snap
        .portfolio
        .assets
        .iter()
        .map(|a| a.symbol.clone())
        .collect();
    for acc in &snap.portfolio.accounts {
        for p in &acc.positions {
            assets.push(p.instrument.underlying.clone());
            assets.push(p.instrument.settle.clone());
        }
    }
    let m = &mut snap.market;
    if m.quote != QUOTE {
        return;
    }
    for asset in assets {
        if m.fx.contains_key(&asset) {
            continue;
        }
        let from_index = USD_INDEX_VENUES
            .iter()
            .find_map(|v| m.index_prices.get(&format!("{v}:{asset}")).copied());
        if let Some(px) = from_index {
            m.fx.insert(asset, px);
        } else if PAR_STABLECOINS.contains(&asset.as_str()) {
            m.fx.insert(asset, 1.0);
        }
    }
}

//! Each venue's own (standard, siloed) margin rules, one module per venue.
//!
//! Every rule set is a [`MarginModel`]: a pure function of an account, the portfolio's asset
//! table and a market snapshot. Parameters live in `params/<venue>.toml` (embedded at build
//! time, each table with `source` and `as_of`); parameters the venue publishes through its API
//! and the adapter stored in `Market::venue_params` take precedence over the file.
//!
//! Conventions shared by all venues:
//! * one [`VenueMargin`] per margin pool (settlement currency, or the cross account), figures in
//!   that pool's currency, converted at `market.fx` under `in_quote`;
//! * equity = collateral at the venue (base units → whole units via the asset table) plus
//!   unrealised P&L of futures-style positions from entry versus mark (the venue-reported P&L
//!   when the entry is unknown); option positions count at market value (size × mark);
//! * `margin_ratio = maintenance / equity` (≥ 1 liquidatable; infinite — JSON `null` — when
//!   equity ≤ 0);
//! * Aave maps onto the same shape so that `margin_ratio ≥ 1 ⇔ health factor ≤ 1`
//!   (see [`aave`]).

pub mod aave;
pub mod binance;
pub mod binance_coinm;
pub mod binance_pm;
pub mod bybit;
pub mod bybit_options;
mod common;
pub mod deribit;
pub mod dydx;
pub mod hyperliquid;
pub mod okx;
pub mod okx_options;
pub mod orders;
pub mod param_files;
mod params;
pub mod reconcile;
mod std_options;
pub mod tiers;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use intermargin_model::{Account, Asset, Market, Position, Venue};

pub use common::{
    inverse_liquidation_price, linear_liquidation_price, margin_ratio, position_risk,
    PositionGreeks, PositionRisk,
};
pub use params::Provenance;

use crate::error::MarginError;
use crate::report::{MarginModel, VenueMargin};

/// The standard rule set of `venue`, with its embedded parameters.
///
/// CME (SPAN) and the hub have no standard per-venue model here: SPAN is a portfolio model and
/// the hub is the unified pool itself.
pub fn model_for(venue: Venue) -> Result<Box<dyn MarginModel>, MarginError> {
    Ok(match venue {
        Venue::Deribit => Box::new(deribit::DeribitStandard::new()?),
        Venue::Binance => Box::new(binance::BinanceUsdm::new()?),
        Venue::Okx => Box::new(okx::OkxTiered::new()?),
        Venue::Bybit => Box::new(bybit::BybitRiskLimit::new()?),
        Venue::Dydx => Box::new(dydx::DydxV4::new()?),
        Venue::Hyperliquid => Box::new(hyperliquid::HyperliquidPerps::new()?),
        Venue::Aave => Box::new(aave::AaveV3::new()?),
        Venue::Cme | Venue::Hub => {
            return Err(MarginError::Unsupported {
                field: "venue".into(),
                reason: format!(
                    "{venue}: no standard per-venue margin model (use a portfolio model)"
                ),
            })
        }
    })
}

/// Every venue's own requirement for the account: the siloed total, pool by pool.
///
/// Venues are visited in [`Venue`] order. Hub balances are skipped (the hub is not a venue with
/// rules of its own); a CME position is an error, since SPAN is a portfolio model.
pub fn venue_margins(
    account: &Account,
    assets: &[Asset],
    market: &Market,
) -> Result<Vec<VenueMargin>, MarginError> {
    let mut out = Vec::new();
    for venue in account.venues() {
        out.extend(venue_margins_at(venue, account, assets, market)?);
    }
    Ok(out)
}

/// One venue's part of [`venue_margins`]: its pools for `account` (nothing for the hub). Each
/// venue's rules read only that venue's positions, balances and orders, so a book that changes at
/// other venues leaves these figures unchanged (the what-if reuses them).
pub fn venue_margins_at(
    venue: Venue,
    account: &Account,
    assets: &[Asset],
    market: &Market,
) -> Result<Vec<VenueMargin>, MarginError> {
    if venue == Venue::Hub {
        return Ok(Vec::new());
    }
    match cached_model(venue) {
        Some(m) => m.margin(account, assets, market),
        // Not cached means it failed to build: build it again to report why.
        None => model_for(venue)?.margin(account, assets, market),
    }
}

/// The margin pool a position belongs to, labelled as the venue models label their
/// [`VenueMargin`]s: `(venue, settlement, pool)`. dYdX subaccounts, isolated positions and each
/// settlement currency are separate pools, liquidated (and so judged) on their own.
pub fn pool_of(p: &Position) -> (Venue, String, String) {
    let ins = &p.instrument;
    match ins.venue {
        Venue::Dydx => (
            Venue::Dydx,
            "USDC".into(),
            format!(
                "subaccount:{}",
                p.sub_account.clone().unwrap_or_else(|| "0".into())
            ),
        ),
        Venue::Aave => (Venue::Aave, "USD".into(), "cross".into()),
        Venue::Binance | Venue::Okx | Venue::Bybit | Venue::Hyperliquid if p.isolated => (
            ins.venue,
            ins.settle.clone(),
            ins.isolated_pool(p.size > 0.0),
        ),
        v => (v, ins.settle.clone(), "cross".into()),
    }
}

/// [`pool_of`] in the snapshot's market: a Binance position of a portfolio-margin account
/// (`venue_params["binance:portfolio_margin"]`) belongs to the one unified pool
/// `(binance, <quote>, portfolio_margin)` the rules compute for it.
pub fn pool_of_in(p: &Position, market: &Market) -> (Venue, String, String) {
    if p.instrument.venue == Venue::Binance && binance_pm::is_portfolio_margin(market) {
        return (
            Venue::Binance,
            market.quote.clone(),
            binance_pm::POOL.to_string(),
        );
    }
    pool_of(p)
}

/// Each venue's standard model, built from its embedded parameters once per process: parsing
/// the TOML on every call cost more than the margin arithmetic itself.
fn cached_model(venue: Venue) -> Option<&'static dyn MarginModel> {
    static MODELS: OnceLock<BTreeMap<Venue, Box<dyn MarginModel>>> = OnceLock::new();
    MODELS
        .get_or_init(|| {
            Venue::ALL
                .iter()
                .filter_map(|v| model_for(*v).ok().map(|m| (*v, m)))
                .collect()
        })
        .get(&venue)
        .map(|m| m.as_ref())
}

//! Binance Portfolio Margin: the whole Binance book (USDⓈ-M, COIN-M, cross-margin balances and
//! loans) is one unified account judged by its uniMMR
//! (<https://www.binance.com/en/support/faq/what-is-the-unified-account-maintenance-margin-ratio-unimmr-and-how-is-it-calculated-4868b2f1aa6c4d08af973328462bb0bd>,
//! <https://binance.com/en-IN/support/faq/binance-portfolio-margin-pro-maintenance-margin-ratio-calculation-5e33af8e6ac04d57a1d0a3398e0a0752>):
//!
//! * `uniMMR = ∑Equity / ∑MM` (open orders' loss is not modelled: no orders in a snapshot);
//! * `∑Equity = ∑ₐ min(Eₐ·Pₐ·collateralRateₐ, Eₐ·Pₐ)`, `Eₐ = MarginAsset − MarginLoan +
//!   futuresAsset + futuresUnrealPnL` of asset `a` (its Binance balances, loans negative, plus
//!   the unrealised P&L of the futures that settle in it), `Pₐ` its USD index price (`market.fx`):
//!   a positive equity is haircut, a negative one counts in full;
//! * `∑MM = ∑ futuresMM·Pₐ + ∑ Loan·MMR·Pₐ`, futures maintenance as the USDⓈ-M and COIN-M rules
//!   compute it (`notional × MMR − cum` at the bracket);
//! * "100 % < uniMMR ≤ 105 %: liquidation will take place" — the trigger `liquidation_uni_mmr`
//!   (1.05) in `params/binance.toml`.
//!
//! The account is one pool, `portfolio_margin`, in USD. Its `maintenance_margin` is the equity
//! at which Binance liquidates, `liquidation_uni_mmr × ∑MM`, so that `margin_ratio ≥ 1 ⇔ uniMMR ≤
//! 1.05` as for every other venue; [`unified`] gives back uniMMR and ∑MM (what `/papi/v1/account`
//! reports as `uniMMR` and `accountMaintMargin`).

use std::collections::BTreeMap;

use intermargin_model::{Account, Asset, Market, Venue};
use serde::Deserialize;

use super::common::pool;
use super::params::{bad_param, num, published, Provenance};
use crate::error::MarginError;
use crate::report::{PositionMargin, VenueMargin};

/// Marker written by the adapter for a portfolio-margin account (`GET /papi/v1/account` or
/// `/papi/v1/balance` imported); may carry `margin_loan_mmr`.
pub const PM_KEY: &str = "binance:portfolio_margin";
/// Collateral rates by asset published by `GET /sapi/v1/portfolio/collateralRate`.
pub const RATES_KEY: &str = "binance:collateral_rate";
/// Label of the unified pool.
pub const POOL: &str = "portfolio_margin";

/// Portfolio-margin parameters of `params/binance.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PortfolioMarginParams {
    /// Where the numbers come from.
    #[serde(flatten)]
    pub provenance: Provenance,
    /// uniMMR at or below which Binance liquidates (1.05).
    pub liquidation_uni_mmr: f64,
    /// Dated collateral rates (a published `GET /sapi/v1/portfolio/collateralRate` wins).
    pub collateral_rates: CollateralRates,
}

/// A dated table of collateral rates by asset.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CollateralRates {
    /// Where the numbers come from.
    #[serde(flatten)]
    pub provenance: Provenance,
    /// Rate by asset.
    pub rates: BTreeMap<String, f64>,
}

/// True when the snapshot says the Binance account is portfolio-margined.
pub fn is_portfolio_margin(market: &Market) -> bool {
    published(market, PM_KEY).is_some()
}

fn collateral_rate(
    params: &PortfolioMarginParams,
    market: &Market,
    asset: &str,
) -> Result<f64, MarginError> {
    if let Some(v) = published(market, RATES_KEY).and_then(|o| o.get(asset)) {
        let path = format!("[{RATES_KEY:?}].{asset}");
        let r = num(v, &path)?;
        if !(0.0..=1.0).contains(&r) {
            return Err(bad_param(&path, format!("{r} is not a rate in [0, 1]")));
        }
        return Ok(r);
    }
    params
        .collateral_rates
        .rates
        .get(asset)
        .copied()
        .ok_or_else(|| MarginError::MissingMarket {
            field: format!("market.venue_params[{RATES_KEY:?}].{asset}"),
            reason: format!(
                "no portfolio-margin collateral rate for {asset}: import GET /sapi/v1/portfolio/collateralRate"
            ),
        })
}

/// uniMMR and ∑MM (USD) of a `portfolio_margin` pool computed by [`margin`] with trigger
/// `liquidation_uni_mmr`; `None` for any other pool.
pub fn unified(pool: &VenueMargin, liquidation_uni_mmr: f64) -> Option<(f64, f64)> {
    if pool.venue != Venue::Binance || pool.pool != POOL {
        return None;
    }
    let mm = pool.maintenance_margin / liquidation_uni_mmr;
    let uni = if mm > 0.0 {
        pool.equity / mm
    } else {
        f64::INFINITY
    };
    Some((uni, mm))
}

/// The unified pool from the per-wallet pools `standard` the USDⓈ-M and COIN-M rules computed
/// (each pool's equity is its wallet plus the P&L of the futures settling in it; each position's
/// maintenance is the bracket's), plus the maintenance of the account's cross-margin loans (its
/// negative Binance balances).
pub(crate) fn margin(
    params: &PortfolioMarginParams,
    account: &Account,
    assets: &[Asset],
    market: &Market,
    standard: Vec<VenueMargin>,
) -> Result<Vec<VenueMargin>, MarginError> {
    let price = |asset: &str| -> Result<f64, MarginError> {
        market
            .fx_rate(asset)
            .ok_or_else(|| MarginError::MissingMarket {
                field: format!("market.fx[{asset:?}]"),
                reason: "the unified account values every asset in USD at its index price".into(),
            })
    };
    // Eₐ and futures MM by asset: the per-wallet pools of one settlement asset together hold its
    // whole balance (cross and isolated) and every P&L settling in it.
    let mut by: BTreeMap<&str, (f64, f64, f64)> = BTreeMap::new();
    for p in &standard {
        let e = by.entry(p.settlement.as_str()).or_default();
        e.0 += p.equity;
        e.1 += p.maintenance_margin;
        e.2 += p.initial_margin;
    }
    let (mut equity, mut mm, mut im) = (0.0, 0.0, 0.0);
    for (asset, (e, m, i)) in &by {
        let px = price(asset)?;
        equity += if *e > 0.0 {
            (e * px * collateral_rate(params, market, asset)?).min(e * px)
        } else {
            e * px
        };
        mm += m * px;
        im += i * px;
    }
    // Cross-margin loans: ∑ Loan × MMR × P, the MMR of the margin leverage the user chose.
    let mut loans: BTreeMap<&str, f64> = BTreeMap::new();
    for (i, c) in account.collateral.iter().enumerate() {
        if c.venue != Venue::Binance || c.amount.0 >= 0 {
            continue;
        }
        let a = assets.iter().find(|a| a.symbol == c.asset).ok_or_else(|| {
            MarginError::Model(intermargin_model::ModelError::UnknownAsset {
                field: format!("account[{:?}].collateral[{i}].asset", account.id),
                asset: c.asset.clone(),
            })
        })?;
        *loans.entry(c.asset.as_str()).or_default() += -c.amount.to_f64(a.decimals);
    }
    if !loans.is_empty() {
        let path = format!("[{PM_KEY:?}].margin_loan_mmr");
        let r = match published(market, PM_KEY).and_then(|o| o.get("margin_loan_mmr")) {
            Some(v) => num(v, &path)?,
            None => {
                return Err(MarginError::MissingMarket {
                    field: format!("market.venue_params{path}"),
                    reason: format!(
                        "the account borrows {} in cross margin; a loan's maintenance is Loan × MMR at the margin leverage chosen, which the payloads do not carry",
                        loans.keys().copied().collect::<Vec<_>>().join(", ")
                    ),
                })
            }
        };
        if !(0.0..=1.0).contains(&r) {
            return Err(bad_param(&path, format!("{r} is not a rate in [0, 1]")));
        }
        for (asset, owed) in &loans {
            mm += owed * r * price(asset)?;
        }
    }
    let mut positions = Vec::new();
    for p in &standard {
        let px = price(&p.settlement)?;
        positions.extend(p.positions.iter().map(|x| PositionMargin {
            instrument: x.instrument.clone(),
            initial_margin: x.initial_margin * px,
            maintenance_margin: x.maintenance_margin * px,
            // The unified account is liquidated as a whole: no price per position.
            liquidation_price: None,
        }));
    }
    Ok(vec![pool(
        Venue::Binance,
        &market.quote,
        POOL,
        (equity, im, params.liquidation_uni_mmr * mm),
        positions,
        market,
    )?])
}

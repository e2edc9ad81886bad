//! Binance Portfolio Margin (the unified account): `GET /papi/v1/account` (account totals: the
//! venue's `uniMMR`, `accountEquity`, `accountMaintMargin`, kept for reconcile), `GET
//! /papi/v1/balance` (per asset: wallet and cross-margin loan) and `GET
//! /sapi/v1/portfolio/collateralRate` (each asset's collateral rate). Positions come from
//! `/papi/v1/um/positionRisk` and `/papi/v1/cm/positionRisk` through the USDⓈ-M and COIN-M readers.
//! Collateral rates are stored one field per asset: `venue_params["binance:collateral_rate"]` =
//! `{source, "BTC": 0.95, …}`.
//!
//! Any of the first two marks the account as portfolio-margined:
//! `market.venue_params["binance:portfolio_margin"]` (`{source}`), which the margin rules read to
//! margin the whole Binance book by uniMMR instead of per futures wallet.

use serde_json::{json, Map};

use crate::builder::Builder;
use crate::error::VenueError;
use crate::json::Node;

/// Key of the marker (and venue-published settings) of a portfolio-margin account.
pub(crate) const PM_KEY: &str = "binance:portfolio_margin";
/// Key of the collateral rates published by `GET /sapi/v1/portfolio/collateralRate`.
pub(crate) const RATES_KEY: &str = "binance:collateral_rate";

/// The pool label the rules give the unified account.
const POOL: &str = "portfolio_margin";

/// Account states `GET /papi/v1/account` documents for `accountStatus`.
const STATUSES: [&str; 7] = [
    "NORMAL",
    "MARGIN_CALL",
    "SUPPLY_MARGIN",
    "REDUCE_ONLY",
    "ACTIVE_LIQUIDATION",
    "FORCE_LIQUIDATION",
    "BANKRUPTED",
];

fn mark(b: &mut Builder, source: &str) -> Result<(), VenueError> {
    if b.has_param(PM_KEY, "source") {
        return Ok(());
    }
    let mut m = Map::new();
    m.insert("source".into(), json!(source));
    b.params(PM_KEY.to_string(), m)
}

/// `GET /papi/v1/account`: the venue's unified figures, in USD.
pub(crate) fn account(n: &Node, b: &mut Builder) -> Result<(), VenueError> {
    if let Some(t) = n.opt_i64("updateTime")? {
        b.observe_time(t);
    }
    n.opt_enum("accountStatus", &STATUSES)?;
    let equity = n.num("accountEquity")?;
    let uni = n.opt_num("uniMMR")?;
    if let Some(u) = uni {
        if u < 0.0 {
            return Err(n.get("uniMMR")?.err(format!("{u} is not a ratio ≥ 0")));
        }
    }
    let mm = n.opt_num("accountMaintMargin")?;
    if let Some(x) = mm.filter(|x| *x < 0.0) {
        return Err(n.get("accountMaintMargin")?.err(format!("{x} is negative")));
    }
    mark(b, "GET /papi/v1/account")?;
    let pool = Some(POOL.to_string());
    b.report(
        pool.clone(),
        None,
        Some("USD"),
        "equity",
        Some(equity),
        "accountEquity",
    );
    b.report(pool.clone(), None, Some("USD"), "uni_mmr", uni, "uniMMR");
    b.report(
        pool,
        None,
        Some("USD"),
        "unified_maintenance_margin",
        mm,
        "accountMaintMargin",
    );
    Ok(())
}

/// `GET /papi/v1/balance` row: `totalWalletBalance` (cross-margin free + locked + UM wallet + CM
/// wallet) as the asset, and the cross-margin loan with its interest as a debt of the asset.
pub(crate) fn balance(n: &Node, b: &mut Builder) -> Result<(), VenueError> {
    let asset = n.get("asset")?.nonempty_str()?;
    if let Some(t) = n.opt_i64("updateTime")? {
        b.observe_time(t);
    }
    mark(b, "GET /papi/v1/balance")?;
    b.balance(
        asset,
        n.dec("totalWalletBalance")?,
        None,
        None,
        &format!("{}.totalWalletBalance", n.path),
    )?;
    let mut owed = rust_decimal::Decimal::ZERO;
    for k in ["crossMarginBorrowed", "crossMarginInterest"] {
        if let Some(d) = n.opt_decimal(k)? {
            if d.is_sign_negative() {
                return Err(n.get(k)?.err(format!("{d} is negative")));
            }
            owed += d;
        }
    }
    if !owed.is_zero() {
        b.balance(
            asset,
            -owed,
            None,
            None,
            &format!("{}.crossMarginBorrowed", n.path),
        )?;
    }
    Ok(())
}

/// `GET /sapi/v1/portfolio/collateralRate` row (`asset`, `collateralRate`): one field per asset
/// of `venue_params["binance:collateral_rate"]` (a second, different rate for an asset conflicts).
pub(crate) fn collateral_rate(n: &Node, b: &mut Builder) -> Result<(), VenueError> {
    let asset = n.get("asset")?.nonempty_str()?.trim().to_uppercase();
    let rate = n.num("collateralRate")?;
    if !(0.0..=1.0).contains(&rate) {
        return Err(n
            .get("collateralRate")?
            .err(format!("{rate} is not a rate in [0, 1]")));
    }
    let mut m = Map::new();
    m.insert(
        "source".into(),
        json!("GET /sapi/v1/portfolio/collateralRate"),
    );
    m.insert(asset, json!(rate));
    b.params(RATES_KEY.to_string(), m)
}

//! intermargin's figures beside the venue's own: every figure a venue reported in the payloads
//! an account was imported from ([`intermargin_model::Reported`]) is set against what the venue
//! rules compute for the same pool or position, with the difference and, where the two
//! disagree, what explains it.
//!
//! Explanations are computed, not guessed: a margin figure that disagrees is restated as the
//! rate of the position's value each side charges (a tier the parameter file places the size
//! in versus the venue's current one); a liquidation price that disagrees is restated as the
//! pool equity at which intermargin's formula gives the venue's price (a venue-side state
//! different from the payload's balance: a stale mark or balance, another account state).

use intermargin_model::{Account, Amount, Asset, Collateral, Market, Reported, Venue};
use serde::{Deserialize, Serialize};

use super::aave::AaveV3;
use super::model_for;
use crate::error::MarginError;
use crate::report::VenueMargin;

/// One figure, the venue's and intermargin's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconcileRow {
    /// Venue.
    pub venue: Venue,
    /// Account id.
    pub account: String,
    /// Instrument id, when the figure is one position's.
    pub instrument: Option<String>,
    /// Pool (`cross`, `isolated:<id>:<side>`, `subaccount:<n>`), when known.
    pub pool: Option<String>,
    /// Currency of the figure (prices: the instrument's quote).
    pub currency: Option<String>,
    /// `initial_margin`, `maintenance_margin`, `liquidation_price`, `equity`,
    /// `free_collateral`, `health_factor` or `margin_used`.
    pub field: String,
    /// intermargin's figure; `None` when it could not be computed (see `explained_by`).
    pub computed: Option<f64>,
    /// The venue's figure.
    pub reported: f64,
    /// `computed − reported`.
    pub difference: Option<f64>,
    /// True when the two agree within the venue's rounding of the figure.
    pub agrees: bool,
    /// Why the two differ (`None` when they agree).
    pub explained_by: Option<String>,
    /// Payload field the venue's figure came from.
    pub source: String,
}

/// Relative tolerance: venues round reported figures (OKX to 3–4 significant digits, Binance to
/// 8 decimals), so figures within 0.05 % — or 1e-8 absolute — agree.
const RELATIVE_TOLERANCE: f64 = 5e-4;

fn agrees(computed: f64, reported: f64) -> bool {
    (computed - reported).abs() <= (RELATIVE_TOLERANCE * reported.abs()).max(1e-8)
}

/// Reconciles every reported figure of `account` against the venue rules.
///
/// A venue whose rules fail on the account (missing parameters, market data) yields rows with
/// `computed: None` and the error as the explanation, so the other venues still reconcile.
pub fn reconcile_account(
    account: &Account,
    assets: &[Asset],
    market: &Market,
) -> Vec<ReconcileRow> {
    let mut venues: Vec<Venue> = account.reported.iter().map(|r| r.venue).collect();
    venues.sort();
    venues.dedup();
    let mut rows = Vec::new();
    for venue in venues {
        let computed = venue_pools(venue, account, assets, market);
        for r in account.reported.iter().filter(|r| r.venue == venue) {
            rows.push(row(account, assets, market, r, &computed));
        }
    }
    rows
}

/// Every row of a set of accounts with the count that agree: the JSON that `intermargin
/// reconcile --json` prints and `GET /api/v1/accounts/{id}/reconcile` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconcileReport {
    /// One row per reported figure.
    pub rows: Vec<ReconcileRow>,
    /// Rows whose two figures agree.
    pub agree: usize,
    /// Rows whose two figures disagree or could not be compared.
    pub disagree: usize,
}

/// Reconciles every account of `accounts` ([`reconcile_account`] each) into one report.
pub fn reconcile_report<'a>(
    accounts: impl IntoIterator<Item = &'a Account>,
    assets: &[Asset],
    market: &Market,
) -> ReconcileReport {
    let rows: Vec<ReconcileRow> = accounts
        .into_iter()
        .flat_map(|acc| reconcile_account(acc, assets, market))
        .collect();
    let agree = rows.iter().filter(|r| r.agrees).count();
    ReconcileReport {
        disagree: rows.len() - agree,
        agree,
        rows,
    }
}

fn venue_pools(
    venue: Venue,
    account: &Account,
    assets: &[Asset],
    market: &Market,
) -> Result<Vec<VenueMargin>, MarginError> {
    model_for(venue)?.margin(account, assets, market)
}

/// The pool a reported figure refers to.
fn find_pool<'a>(pools: &'a [VenueMargin], r: &Reported) -> Option<&'a VenueMargin> {
    pools.iter().find(|p| {
        r.pool.as_deref().is_none_or(|l| l == p.pool)
            && match &r.instrument {
                Some(id) => p.positions.iter().any(|x| &x.instrument == id),
                None => r.currency.as_deref().is_none_or(|c| c == p.settlement),
            }
    })
}

fn computed_value(
    account: &Account,
    assets: &[Asset],
    market: &Market,
    r: &Reported,
    pool: &VenueMargin,
) -> Result<Option<f64>, MarginError> {
    if let Some(id) = &r.instrument {
        let Some(p) = pool.positions.iter().find(|x| &x.instrument == id) else {
            return Ok(None);
        };
        return Ok(match r.field.as_str() {
            "initial_margin" => Some(p.initial_margin),
            "maintenance_margin" => Some(p.maintenance_margin),
            "liquidation_price" => p.liquidation_price,
            // Hyperliquid's marginUsed: an isolated position's whole pool value, a cross
            // position's initial margin.
            "margin_used" if pool.pool.starts_with("isolated:") => Some(pool.equity),
            "margin_used" => Some(p.initial_margin),
            _ => None,
        });
    }
    Ok(match r.field.as_str() {
        "equity" => Some(pool.equity),
        "initial_margin" => Some(pool.initial_margin),
        "maintenance_margin" => Some(pool.maintenance_margin),
        "free_collateral" => Some(pool.equity - pool.initial_margin),
        // Binance Portfolio Margin: the venue's uniMMR and unified maintenance (accountMaintMargin).
        "uni_mmr" | "unified_maintenance_margin" if r.venue == Venue::Binance => {
            let trigger = super::binance::BinanceParams::embedded()?
                .portfolio_margin
                .map(|p| p.liquidation_uni_mmr);
            trigger
                .and_then(|t| super::binance_pm::unified(pool, t))
                .map(|(uni, mm)| if r.field == "uni_mmr" { uni } else { mm })
                .filter(|x| x.is_finite())
        }
        "health_factor" if r.venue == Venue::Aave => {
            let hf = AaveV3::new()?
                .account_state(account, assets, market)?
                .health_factor();
            hf.is_finite().then_some(hf)
        }
        _ => None,
    })
}

fn row(
    account: &Account,
    assets: &[Asset],
    market: &Market,
    r: &Reported,
    pools: &Result<Vec<VenueMargin>, MarginError>,
) -> ReconcileRow {
    let mut out = ReconcileRow {
        venue: r.venue,
        account: account.id.clone(),
        instrument: r.instrument.clone(),
        pool: r.pool.clone(),
        currency: r.currency.clone(),
        field: r.field.clone(),
        computed: None,
        reported: r.value,
        difference: None,
        agrees: false,
        explained_by: None,
        source: r.source.clone(),
    };
    let pools = match pools {
        Ok(p) => p,
        Err(e) => {
            out.explained_by = Some(format!("intermargin cannot compute it: {e}"));
            return out;
        }
    };
    let Some(pool) = find_pool(pools, r) else {
        out.explained_by = Some("no matching pool or position in intermargin's figures".into());
        return out;
    };
    if out.currency.is_none() && r.field != "liquidation_price" && r.field != "health_factor" {
        out.currency = Some(pool.settlement.clone());
    }
    let value = match computed_value(account, assets, market, r, pool) {
        Ok(Some(v)) => v,
        Ok(None) => {
            out.explained_by = Some(match r.field.as_str() {
                "liquidation_price" => {
                    "intermargin finds no price that liquidates the position, all else fixed".into()
                }
                "health_factor" => "no debt: the health factor is infinite".into(),
                f => format!("intermargin has no figure {f:?} for this pool"),
            });
            return out;
        }
        Err(e) => {
            out.explained_by = Some(format!("intermargin cannot compute it: {e}"));
            return out;
        }
    };
    out.computed = Some(value);
    out.difference = Some(value - r.value);
    out.agrees = agrees(value, r.value);
    if !out.agrees {
        out.explained_by = Some(explain(account, assets, market, r, pool, value));
    }
    out
}

/// Value of the position `id` in the pool's settlement currency at the snapshot's mark.
fn position_value(account: &Account, market: &Market, id: &str) -> Option<f64> {
    let p = account.positions.iter().find(|p| p.instrument.id() == id)?;
    let mark = *market.mark_prices.get(id)?;
    let base = p.instrument.base_quantity(p.size, mark);
    Some(match p.instrument.settlement {
        intermargin_model::Settlement::Linear => (base * mark).abs(),
        intermargin_model::Settlement::Inverse => base.abs(),
    })
}

fn explain(
    account: &Account,
    assets: &[Asset],
    market: &Market,
    r: &Reported,
    pool: &VenueMargin,
    computed: f64,
) -> String {
    let ccy = &pool.settlement;
    match (r.field.as_str(), &r.instrument) {
        ("initial_margin" | "maintenance_margin", Some(id)) => {
            let Some(value) = position_value(account, market, id) else {
                return "the position's value is not computable from the snapshot".into();
            };
            let what = if r.field == "initial_margin" {
                "initial"
            } else {
                "maintenance"
            };
            let lev = |x: f64| {
                if r.field == "initial_margin" && x > 0.0 {
                    format!(" ({:.2}×)", value / x)
                } else {
                    String::new()
                }
            };
            format!(
                "rate: the venue charges {:.4} % of the position's value {value:.8} {ccy}{}, \
                 intermargin's {what} rate is {:.4} %{}; the tier (or leverage) in intermargin's \
                 dated parameters differs from the venue's current one — import the venue's \
                 published tiers",
                100.0 * r.value / value,
                lev(r.value),
                100.0 * computed / value,
                lev(computed)
            )
        }
        ("liquidation_price", Some(id)) => {
            match implied_equity(account, assets, market, r, pool, id) {
                Some(e) => format!(
                    "state: intermargin's formula gives the venue's price at a pool equity of \
                 {e:.8} {ccy}, where the payload gives {:.8} {ccy} ({:+.8}): the venue priced \
                 another account state than the payload's balance and P&L (a stale balance or \
                 mark, or margin held elsewhere)",
                    pool.equity,
                    e - pool.equity
                ),
                None => {
                    "no pool equity reproduces the venue's price with intermargin's formula".into()
                }
            }
        }
        ("free_collateral", None) => format!(
            "free collateral is equity − initial margin ({:.6} − {:.6} {ccy} computed); the \
             venue's figure implies an initial margin of {:.6} {ccy}",
            pool.equity,
            pool.initial_margin,
            pool.equity - r.value
        ),
        ("equity" | "margin_used", _) => format!(
            "valuation: {:+.8} {ccy} of equity — the venue valued collateral or unrealised P&L \
             at another mark or balance than the snapshot's",
            computed - r.value
        ),
        ("health_factor", _) => {
            "valuation: prices or reserve parameters differ from the venue's at the payload's \
             block"
                .into()
        }
        _ => format!("{:+} differs", computed - r.value),
    }
}

/// The pool equity at which intermargin's liquidation price equals the venue's: the account
/// with its balance in the pool's currency shifted (or an isolated position's margin), solved
/// by bisection on the shift.
fn implied_equity(
    account: &Account,
    assets: &[Asset],
    market: &Market,
    r: &Reported,
    pool: &VenueMargin,
    id: &str,
) -> Option<f64> {
    let model = model_for(r.venue).ok()?;
    let target = r.value;
    let pi = account
        .positions
        .iter()
        .position(|p| p.instrument.id() == id)?;
    let decimals = assets
        .iter()
        .find(|a| a.symbol == pool.settlement)?
        .decimals;
    let isolated = pool.pool.starts_with("isolated:");
    let lp_at = |shift: f64| -> Option<(f64, f64)> {
        let mut a = account.clone();
        if isolated {
            let p = &mut a.positions[pi];
            p.isolated_margin = Some(p.isolated_margin.unwrap_or(0.0) + shift);
        }
        let units = (shift * 10f64.powi(decimals as i32)).round();
        if !units.is_finite() || units.abs() > 1e30 {
            return None;
        }
        a.collateral.push(Collateral {
            venue: r.venue,
            asset: pool.settlement.clone(),
            amount: Amount(units as i128),
            sub_account: account.positions[pi].sub_account.clone(),
            chain_id: None,
        });
        let pools = model.margin(&a, assets, market).ok()?;
        let p = pools
            .iter()
            .find(|p| p.pool == pool.pool && p.settlement == pool.settlement)?;
        let lp = p
            .positions
            .iter()
            .find(|x| x.instrument == id)?
            .liquidation_price?;
        Some((lp, p.equity))
    };
    let (lp0, _) = lp_at(0.0)?;
    // The price moves monotonically with equity: away from the mark as equity grows.
    let scale = pool.equity.abs().max(pool.maintenance_margin).max(1e-6);
    let (mut lo, mut hi) = (-scale, scale);
    let f = |s: f64| lp_at(s).map(|(lp, _)| lp - target);
    let mut flo = f(lo);
    let mut fhi = f(hi);
    for _ in 0..40 {
        if let (Some(a), Some(b)) = (flo, fhi) {
            if a.signum() != b.signum() {
                break;
            }
        }
        lo *= 2.0;
        hi *= 2.0;
        flo = f(lo);
        fhi = f(hi);
    }
    let (mut a, mut b) = (lo, hi);
    let fa = flo?;
    if lp0 == target {
        return Some(pool.equity);
    }
    if fa.signum() == fhi?.signum() {
        return None;
    }
    let mut sa = fa.signum();
    for _ in 0..200 {
        let m = 0.5 * (a + b);
        let fm = f(m)?;
        if fm.signum() == sa {
            a = m;
            sa = fm.signum();
        } else {
            b = m;
        }
        if (b - a).abs() <= 1e-9 * scale {
            break;
        }
    }
    lp_at(0.5 * (a + b)).map(|(_, e)| e)
}

//! Helpers every venue rule set shares: collateral valuation, market look-ups that name the
//! missing field, unrealised P&L, and the assembly of a [`VenueMargin`] pool.

use std::collections::BTreeMap;

use intermargin_model::{Account, Asset, Market, Position, Venue};

use crate::error::MarginError;
use crate::report::{PositionMargin, QuoteFigures, VenueMargin};

/// Whole units of every balance the account holds at `venue`, summed per asset (debt negative).
pub(crate) fn balances(
    account: &Account,
    assets: &[Asset],
    venue: Venue,
) -> Result<BTreeMap<String, f64>, MarginError> {
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for (i, c) in account.collateral.iter().enumerate() {
        if c.venue != venue {
            continue;
        }
        let asset = assets.iter().find(|a| a.symbol == c.asset).ok_or_else(|| {
            MarginError::Model(intermargin_model::ModelError::UnknownAsset {
                field: format!("account[{:?}].collateral[{i}].asset", account.id),
                asset: c.asset.clone(),
            })
        })?;
        *out.entry(c.asset.clone()).or_insert(0.0) += c.amount.to_f64(asset.decimals);
    }
    Ok(out)
}

/// Mark price of an instrument id, or an error naming the missing market key.
pub(crate) fn mark_price(market: &Market, id: &str) -> Result<f64, MarginError> {
    market
        .mark_prices
        .get(id)
        .copied()
        .ok_or_else(|| MarginError::MissingMarket {
            field: format!("market.mark_prices[{id:?}]"),
            reason: "mark price needed to value the position".into(),
        })
}

/// Index price of `underlying` on `venue` (falls back to the FX rate), or an error naming it.
pub(crate) fn index_price(
    market: &Market,
    venue: Venue,
    underlying: &str,
) -> Result<f64, MarginError> {
    market
        .index_price(venue.as_str(), underlying)
        .ok_or_else(|| MarginError::MissingMarket {
            field: format!("market.index_prices[\"{venue}:{underlying}\"]"),
            reason: "index price of the underlying needed".into(),
        })
}

/// Unrealised P&L of a futures-style position in its settle currency.
///
/// Entry versus mark when the entry price is known (linear: base quantity × (mark − entry);
/// inverse: USD face × (1/entry − 1/mark), in coin); otherwise the venue-reported figure;
/// otherwise zero (the position is taken as opened at the mark).
pub(crate) fn unrealised_pnl(p: &Position, mark: f64) -> f64 {
    let ins = &p.instrument;
    match p.entry_price {
        Some(entry) if entry > 0.0 => ins.pnl(p.size, entry, mark),
        _ => p.unrealized_pnl.unwrap_or(0.0),
    }
}

/// The venues' margin ratio: maintenance / equity; infinite when equity is not positive
/// (serialised as JSON `null`). ≥ 1 means the pool is liquidatable.
pub fn margin_ratio(maintenance: f64, equity: f64) -> f64 {
    if equity <= 0.0 {
        if maintenance <= 0.0 && equity == 0.0 {
            0.0
        } else {
            f64::INFINITY
        }
    } else {
        maintenance / equity
    }
}

/// Assembles one pool: ratio and the quote-currency conversion at `market.fx[settlement]`
/// (`in_quote: None` when the market has no such rate: own-currency figures need none).
pub(crate) fn pool(
    venue: Venue,
    settlement: &str,
    label: &str,
    (equity, initial_margin, maintenance_margin): (f64, f64, f64),
    positions: Vec<PositionMargin>,
    market: &Market,
) -> Result<VenueMargin, MarginError> {
    let rate = market.fx_rate(settlement);
    // Empty float sums are −0.0; report them as 0.
    let (equity, initial_margin, maintenance_margin) =
        (equity + 0.0, initial_margin + 0.0, maintenance_margin + 0.0);
    Ok(VenueMargin {
        venue,
        settlement: settlement.to_string(),
        pool: label.to_string(),
        equity,
        initial_margin,
        orders_initial_margin: 0.0,
        maintenance_margin,
        margin_ratio: margin_ratio(maintenance_margin, equity),
        in_quote: rate.map(|rate| QuoteFigures {
            equity: equity * rate,
            initial_margin: initial_margin * rate,
            maintenance_margin: maintenance_margin * rate,
            orders_initial_margin: 0.0,
        }),
        positions,
    })
}

/// Adds the initial margin open orders reserve (in the pool's currency) to a pool: it joins
/// `initial_margin` (venues report and check one total) and is kept apart in
/// `orders_initial_margin`, in both currencies.
pub(crate) fn add_orders_margin(pool: &mut VenueMargin, orders_im: f64, market: &Market) {
    if orders_im == 0.0 {
        return;
    }
    pool.initial_margin += orders_im;
    pool.orders_initial_margin += orders_im;
    if let (Some(q), Some(rate)) = (pool.in_quote.as_mut(), market.fx_rate(&pool.settlement)) {
        q.initial_margin += orders_im * rate;
        q.orders_initial_margin += orders_im * rate;
    }
}

/// Path of a position inside an account, for error messages.
pub(crate) fn position_path(account: &Account, index: usize) -> String {
    format!("account[{:?}].positions[{index}]", account.id)
}

/// Liquidation price of a linear position when every other figure is held fixed.
///
/// Hyperliquid's documented form: `price − side·margin_available / |size| / (1 − mmr·side)`,
/// with `margin_available = equity − total maintenance` at the current `price` and `mmr` the
/// position's marginal maintenance rate. Algebraically identical to dYdX's
/// `(e − s·p − MMR_others) / (|s|·MMF − s)` and to solving equity = maintenance for the price
/// (see the tests). `None` when no positive price liquidates the position.
pub fn linear_liquidation_price(
    price: f64,
    size_base: f64,
    mmr: f64,
    margin_available: f64,
) -> Option<f64> {
    if size_base == 0.0 {
        return None;
    }
    let side = size_base.signum();
    let denom = 1.0 - mmr * side;
    if denom <= 0.0 {
        return None;
    }
    let lp = price - side * margin_available / size_base.abs() / denom;
    (lp.is_finite() && lp > 0.0).then_some(lp)
}

/// Liquidation price of an inverse (coin-margined) position, all else fixed.
///
/// With `Q` the signed USD face, equity in coin at price `P` is
/// `e + Q/p − Q/P` and maintenance is `|Q|·mmr/P + other_mm`; equating and solving for
/// `x = 1/P` gives `x = (e + Q/p − other_mm) / (Q + |Q|·mmr)`.
pub fn inverse_liquidation_price(
    price: f64,
    usd_face: f64,
    mmr: f64,
    equity: f64,
    other_mm: f64,
) -> Option<f64> {
    let denom = usd_face + usd_face.abs() * mmr;
    if denom == 0.0 {
        return None;
    }
    let x = (equity + usd_face / price - other_mm) / denom;
    (x.is_finite() && x > 0.0).then(|| 1.0 / x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_liquidation_price_solves_equity_equals_maintenance() {
        // Long 2 BTC at 50,000 with equity 20,000 and a 1 % rate, nothing else.
        // Hand: equity(P) = 20,000 + 2(P − 50,000); MM(P) = 2·P·0.01.
        // 20,000 + 2P − 100,000 = 0.02P → 1.98P = 80,000 → P = 40,404.0404…
        let mm_now = 2.0 * 50_000.0 * 0.01;
        let lp = linear_liquidation_price(50_000.0, 2.0, 0.01, 20_000.0 - mm_now).unwrap();
        assert!((lp - 80_000.0 / 1.98).abs() < 1e-6, "{lp}");
    }

    #[test]
    fn inverse_liquidation_price_solves_equity_equals_maintenance() {
        // Long 10,000 USD of BTC inverse at 50,000, equity 0.1 BTC, mmr 0.5 %.
        // equity(P) = 0.1 + 10,000/50,000 − 10,000/P ; MM(P) = 10,000·0.005/P
        // 0.3 = 10,050/P → P = 33,500.
        let lp = inverse_liquidation_price(50_000.0, 10_000.0, 0.005, 0.1, 0.0).unwrap();
        assert!((lp - 33_500.0).abs() < 1e-6, "{lp}");
    }

    #[test]
    fn empty_pools_report_positive_zero() {
        let empty: f64 = std::iter::empty::<f64>().sum();
        let v = pool(
            Venue::Okx,
            "USDT",
            "cross",
            (100.0, empty, empty),
            vec![],
            &Market::new(0, "USDT"),
        )
        .unwrap();
        assert!(v.initial_margin.is_sign_positive() && v.maintenance_margin.is_sign_positive());
        assert_eq!(v.margin_ratio, 0.0);
        assert!(v.margin_ratio.is_sign_positive());
    }

    #[test]
    fn margin_ratio_is_infinite_without_equity() {
        assert_eq!(margin_ratio(1.0, 0.0), f64::INFINITY);
        assert_eq!(margin_ratio(0.0, 0.0), 0.0);
        assert!((margin_ratio(1.0, 4.0) - 0.25).abs() < 1e-15);
    }
}

/// A position's mark, unrealised P&L and Greeks at the market, for display (dashboards, risk
/// pages); `None` when the market has no mark for it.
///
/// P&L is in the settlement currency: futures and perpetuals use [`unrealised_pnl`] (the figure
/// the venue rules add to equity); options are premium-style, `(mark − entry) × size × contract
/// size`, premiums being quoted in the settlement currency (coin for Deribit's inverse options).
/// Greeks follow the venues' display convention: delta in underlying units (coin), gamma per 1
/// quote unit of the underlying, vega per vol point and theta per day as the venue quotes them.
/// Options take the venue-published Greeks per contract (`market.greeks`) × size × contract
/// size (none when the venue published none); futures and perpetuals have delta = their base
/// quantity at the mark and zero other Greeks.
pub fn position_risk(p: &Position, market: &Market) -> Option<PositionRisk> {
    let ins = &p.instrument;
    let mark = market.mark_prices.get(&ins.id()).copied()?;
    let (pnl, greeks) = if ins.is_option() {
        let pnl = match p.entry_price {
            Some(entry) => (mark - entry) * p.size * ins.contract_size,
            None => p.unrealized_pnl.unwrap_or(0.0),
        };
        let n = p.size * ins.contract_size;
        let g = market.greeks.get(&ins.id()).map(|g| PositionGreeks {
            delta: g.delta * n,
            gamma: g.gamma * n,
            vega: g.vega * n,
            theta: g.theta * n,
        });
        (pnl, g)
    } else {
        let g = PositionGreeks {
            delta: ins.base_quantity(p.size, mark),
            gamma: 0.0,
            vega: 0.0,
            theta: 0.0,
        };
        (unrealised_pnl(p, mark), Some(g))
    };
    Some(PositionRisk {
        mark_price: mark,
        unrealised_pnl: pnl,
        currency: ins.settle.clone(),
        greeks,
    })
}

/// Mark, unrealised P&L and Greeks of one position (see [`position_risk`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PositionRisk {
    /// Mark price in the instrument's quote currency (the premium, for options).
    pub mark_price: f64,
    /// Unrealised P&L in `currency`.
    pub unrealised_pnl: f64,
    /// Settlement currency of the P&L.
    pub currency: String,
    /// Position Greeks in the venue's convention; `None` for an option without published Greeks.
    pub greeks: Option<PositionGreeks>,
}

/// A position's Greeks as venues display them (see [`position_risk`]).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PositionGreeks {
    /// Exposure in underlying units (coin).
    pub delta: f64,
    /// Change of `delta` per 1 quote unit of the underlying.
    pub gamma: f64,
    /// Quote currency per vol point, as the venue quotes it.
    pub vega: f64,
    /// Quote currency per day, as the venue quotes it.
    pub theta: f64,
}

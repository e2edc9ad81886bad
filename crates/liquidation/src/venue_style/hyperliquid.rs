//! Hyperliquid: how the clearinghouse itself liquidates a margin pool (the cross account, or
//! one isolated position), from <https://hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations>
//! and the partial-liquidation announcement
//! (<https://t.me/hyperliquid_announcements/307>, via `params/venues.toml`):
//!
//! * a pool is liquidatable when its equity is below its maintenance margin;
//! * market orders are sent to the book for the **whole** position, except that a position
//!   worth more than 100,000 USDC is sent **20 %** at a time; after a block with a partial
//!   liquidation a **30 s** cooldown starts, during which every liquidation order is for the
//!   whole position; the liquidated trader keeps what is left once maintenance is met, and no
//!   clearance fee is charged;
//! * when equity falls below **2/3 of the maintenance margin** the **backstop** liquidator
//!   vault takes over the pool's positions and margin;
//! * a pool whose value turns negative is **auto-deleveraged** against the opposite side,
//!   so the platform carries no bad debt.
//!
//! Thresholds come from [`crate::rules::VenueRules`] (`params/venues.toml`, `[hyperliquid]`).

use serde::{Deserialize, Serialize};

use crate::error::{param, LiquidationError};
use crate::impact::ImpactParams;
use crate::rules::VenueRules;

/// One position of the pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HlPosition {
    /// Instrument id.
    pub instrument: String,
    /// Signed size in base units.
    pub size: f64,
    /// Mark price.
    pub mark: f64,
    /// Maintenance margin of the position, USDC.
    pub maintenance: f64,
    /// Price impact of market orders in this instrument.
    pub impact: ImpactParams,
}

/// One market liquidation order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HlOrder {
    /// Instrument id.
    pub instrument: String,
    /// `sell` (closing a long) or `buy`.
    pub side: String,
    /// Base units.
    pub size: f64,
    /// Fraction of the position the order is for (0.2 for a partial liquidation).
    pub fraction: f64,
    /// Expected average fill after impact.
    pub expected_price: f64,
    /// Loss against the mark from the fill, USDC.
    pub slippage: f64,
}

/// One step of the venue's liquidation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HlStep {
    /// `market` (orders to the book) or `backstop` (the liquidator vault takes the pool).
    pub method: String,
    /// Orders sent (empty for `backstop`).
    pub orders: Vec<HlOrder>,
    /// True when a partial liquidation started the cooldown.
    pub starts_cooldown: bool,
    /// Equity of the pool after the step, USDC.
    pub equity_after: f64,
    /// Maintenance margin after the step, USDC.
    pub maintenance_after: f64,
}

/// What Hyperliquid does to one pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HlLiquidation {
    /// Whether the pool is liquidatable now.
    pub liquidatable: bool,
    /// Steps, in order.
    pub steps: Vec<HlStep>,
    /// Cooldown after a partial liquidation, ms (during it orders are for whole positions).
    pub cooldown_ms: Option<i64>,
    /// Negative pool value left for auto-deleveraging, USDC (≥ 0).
    pub auto_deleveraged: f64,
    /// Margin returned to the trader (or left in the pool), USDC.
    pub equity_after: f64,
}

/// The documented thresholds, read from the rules table; each must be present.
struct Thresholds {
    partial_above: f64,
    partial_fraction: f64,
    cooldown_ms: i64,
    backstop_fraction: f64,
}

fn thresholds(rules: &VenueRules) -> Result<Thresholds, LiquidationError> {
    let need = |name: &str| param(format!("venues.hyperliquid.{name}"), "missing");
    Ok(Thresholds {
        partial_above: rules
            .partial_threshold_notional
            .ok_or_else(|| need("partial_threshold_notional"))?,
        partial_fraction: rules
            .partial_first_fraction
            .ok_or_else(|| need("partial_first_fraction"))?,
        cooldown_ms: rules
            .partial_cooldown_ms
            .ok_or_else(|| need("partial_cooldown_ms"))?,
        backstop_fraction: rules
            .backstop_equity_fraction_of_maintenance
            .ok_or_else(|| need("backstop_equity_fraction_of_maintenance"))?,
    })
}

/// Liquidates one pool (`equity`, its positions) as Hyperliquid does.
pub fn liquidate_pool(
    equity: f64,
    positions: &[HlPosition],
    rules: &VenueRules,
) -> Result<HlLiquidation, LiquidationError> {
    let t = thresholds(rules)?;
    if !equity.is_finite() {
        return Err(param("hyperliquid.equity", "must be finite"));
    }
    for p in positions {
        if !(p.size.is_finite() && p.mark.is_finite() && p.mark > 0.0) {
            return Err(param(
                format!("hyperliquid.positions[{:?}]", p.instrument),
                "size must be finite and mark > 0",
            ));
        }
        if !(p.maintenance.is_finite() && p.maintenance >= 0.0) {
            return Err(param(
                format!("hyperliquid.positions[{:?}].maintenance", p.instrument),
                "must be finite and ≥ 0",
            ));
        }
    }
    let mut left: Vec<HlPosition> = positions
        .iter()
        .filter(|p| p.size != 0.0)
        .cloned()
        .collect();
    let mut equity = equity;
    let mm = |ps: &[HlPosition]| ps.iter().map(|p| p.maintenance).sum::<f64>();
    let liquidatable = equity < mm(&left);
    let mut steps = Vec::new();
    let mut cooling = false;
    let mut cooldown_ms = None;
    // At most two rounds of market orders (partial, then whole) and a backstop.
    while equity < mm(&left) && !left.is_empty() {
        if equity < t.backstop_fraction * mm(&left) {
            // The vault takes every position of the pool and its margin.
            steps.push(HlStep {
                method: "backstop".into(),
                orders: Vec::new(),
                starts_cooldown: false,
                equity_after: 0.0,
                maintenance_after: 0.0,
            });
            left.clear();
            equity = 0.0;
            break;
        }
        let mut orders = Vec::new();
        let mut partial = false;
        for p in left.iter_mut() {
            let notional = (p.size * p.mark).abs();
            let fraction = if !cooling && notional > t.partial_above {
                partial = true;
                t.partial_fraction
            } else {
                1.0
            };
            let size = p.size.abs() * fraction;
            let sell = p.size > 0.0;
            let price = p.impact.expected_price(p.mark, size * p.mark, sell);
            let slippage = (p.mark - price).abs() * size;
            equity -= slippage;
            p.maintenance *= 1.0 - fraction;
            p.size *= 1.0 - fraction;
            orders.push(HlOrder {
                instrument: p.instrument.clone(),
                side: if sell { "sell" } else { "buy" }.into(),
                size,
                fraction,
                expected_price: price,
                slippage,
            });
        }
        left.retain(|p| p.size != 0.0);
        if partial {
            cooling = true;
            cooldown_ms = Some(t.cooldown_ms);
        }
        steps.push(HlStep {
            method: "market".into(),
            orders,
            starts_cooldown: partial,
            equity_after: equity,
            maintenance_after: mm(&left),
        });
        if !partial {
            break; // every position was sent whole
        }
    }
    let auto_deleveraged = (-equity).max(0.0);
    Ok(HlLiquidation {
        liquidatable,
        steps,
        cooldown_ms,
        auto_deleveraged,
        equity_after: equity.max(0.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleBook;
    use intermargin_model::Venue;

    fn no_impact() -> ImpactParams {
        ImpactParams {
            k: 0.0,
            alpha: 1.0,
            depth: 1.0,
        }
    }

    #[test]
    fn a_large_position_goes_twenty_percent_first_then_whole_within_the_cooldown() {
        // 10 BTC at 50,000 = 500,000 USDC > 100,000: 20 % (2 BTC) first. Maintenance 10,000
        // (2 %); equity 9,000 < 10,000 but ≥ 2/3·10,000: market orders, no backstop.
        let rules = RuleBook::bundled().unwrap();
        let p = HlPosition {
            instrument: "hyperliquid:BTC".into(),
            size: 10.0,
            mark: 50_000.0,
            maintenance: 10_000.0,
            impact: no_impact(),
        };
        let l = liquidate_pool(9_000.0, &[p], rules.get(Venue::Hyperliquid)).unwrap();
        assert!(l.liquidatable);
        assert_eq!(l.steps[0].orders[0].size, 2.0);
        assert!(l.steps[0].starts_cooldown);
        // After 20 %: maintenance 8,000 ≤ equity 9,000 (no slippage): the trader keeps the rest.
        assert_eq!(l.steps.len(), 1);
        assert_eq!(l.steps[0].maintenance_after, 8_000.0);
        assert_eq!(l.cooldown_ms, Some(30_000));
    }

    #[test]
    fn below_two_thirds_of_maintenance_the_backstop_vault_takes_the_pool() {
        let rules = RuleBook::bundled().unwrap();
        let p = HlPosition {
            instrument: "hyperliquid:ETH".into(),
            size: -10.0,
            mark: 3_000.0,
            maintenance: 600.0,
            impact: no_impact(),
        };
        // 399 < 2/3 · 600 = 400.
        let l = liquidate_pool(399.0, &[p], rules.get(Venue::Hyperliquid)).unwrap();
        assert_eq!(l.steps.len(), 1);
        assert_eq!(l.steps[0].method, "backstop");
    }
}

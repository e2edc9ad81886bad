//! Deribit: incremental auto-liquidation, from
//! <https://support.deribit.com/hc/en-us/articles/25944769313309-Liquidations> and the older
//! <https://www.deribit.com/docs/auto-liquidation/>:
//!
//! * an account is liquidated as soon as its maintenance margin exceeds its equity (margin
//!   balance); there is no margin call;
//! * the engine closes **a part** of the position per round, in the market, at market prices
//!   (futures first), one round per second (the support page; the older page: "up till 200
//!   future contracts of $10 each … per step", i.e. 2,000 USD of notional per round);
//! * as soon as the maintenance margin is again below the equity, liquidation stops and the
//!   rest of the position stays open;
//! * a liquidation fee is charged on the liquidated notional (BTC 0.75 %, ETH 0.9 % from
//!   11 January 2022, <https://support.deribit.com/hc/en-us/articles/25944826427293-11-January-2022>);
//! * a futures position's maintenance rate grows with its size: `MM_base + |size| × MM_increase`
//!   (reference §1.1, the Linear Perpetual article).
//!
//! Round size, rounds per second and the fee are read from `params/venues.toml` (`[deribit]`).

use serde::{Deserialize, Serialize};

use crate::error::{param, LiquidationError};
use crate::impact::ImpactParams;
use crate::rules::VenueRules;

/// One futures position of the account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeribitPosition {
    /// Instrument id.
    pub instrument: String,
    /// Signed size in base units (coin).
    pub size: f64,
    /// Mark price.
    pub mark: f64,
    /// Maintenance rate at size 0 (`MM_base`, 0.01 for BTC).
    pub mm_base: f64,
    /// Increase of the maintenance rate per base unit of size (`MM_increase`, 0.00005 for BTC).
    pub mm_increase: f64,
    /// Price impact of a market order in this instrument.
    pub impact: ImpactParams,
}

impl DeribitPosition {
    /// Maintenance margin at `size`: `|size| × mark × (MM_base + |size| × MM_increase)`.
    pub fn maintenance_at(&self, size: f64) -> f64 {
        size.abs() * self.mark * (self.mm_base + size.abs() * self.mm_increase)
    }
}

/// One liquidation round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeribitRound {
    /// `sell` (reducing a long) or `buy`.
    pub side: String,
    /// Base units closed.
    pub size: f64,
    /// Average fill after the order's impact.
    pub price: f64,
    /// Liquidation fee charged, quote currency.
    pub fee: f64,
    /// Equity after the round.
    pub equity_after: f64,
    /// Maintenance margin after the round.
    pub maintenance_after: f64,
}

/// What Deribit does to the account within `rounds` rounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeribitLiquidation {
    /// Whether the account is liquidatable now (maintenance > equity).
    pub liquidatable: bool,
    /// Rounds run, in order.
    pub rounds: Vec<DeribitRound>,
    /// Signed size left open.
    pub size_after: f64,
    /// Equity after (negative: the insurance fund's loss).
    pub equity_after: f64,
    /// Σ fees charged.
    pub fees: f64,
    /// True when the rounds ran out with maintenance still above equity (liquidation continues).
    pub continues: bool,
}

/// Round size (quote notional), rounds per second and fee, read from the rules table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeribitParams {
    /// Notional closed per round, quote currency.
    pub round_notional: f64,
    /// Rounds per second.
    pub rounds_per_second: f64,
    /// Liquidation fee, fraction of the liquidated notional.
    pub fee: f64,
}

impl DeribitParams {
    /// From `[deribit]` of `params/venues.toml`; each key must be present.
    pub fn from_rules(rules: &VenueRules) -> Result<DeribitParams, LiquidationError> {
        let need = |name: &str| param(format!("venues.deribit.{name}"), "missing");
        let p = DeribitParams {
            round_notional: rules
                .incremental_round_notional
                .ok_or_else(|| need("incremental_round_notional"))?,
            rounds_per_second: rules
                .incremental_rounds_per_second
                .ok_or_else(|| need("incremental_rounds_per_second"))?,
            fee: rules.liquidation_fee,
        };
        if !(p.round_notional.is_finite() && p.round_notional > 0.0) {
            return Err(param(
                "venues.deribit.incremental_round_notional",
                "must be > 0",
            ));
        }
        if !(p.rounds_per_second.is_finite() && p.rounds_per_second > 0.0) {
            return Err(param(
                "venues.deribit.incremental_rounds_per_second",
                "must be > 0",
            ));
        }
        Ok(p)
    }

    /// Whole rounds in `seconds` (at least one).
    pub fn rounds_in(&self, seconds: f64) -> u32 {
        (self.rounds_per_second * seconds)
            .floor()
            .clamp(1.0, u32::MAX as f64) as u32
    }
}

/// Liquidates one futures position incrementally: while maintenance exceeds equity and rounds
/// are left, close `min(|size|, round_notional / mark)` at the order's expected fill, charging
/// the fee on the filled notional.
pub fn liquidate_incremental(
    equity: f64,
    position: &DeribitPosition,
    params: &DeribitParams,
    rounds: u32,
) -> Result<DeribitLiquidation, LiquidationError> {
    let p = position;
    if !equity.is_finite() {
        return Err(param("deribit.equity", "must be finite"));
    }
    if !(p.size.is_finite() && p.mark.is_finite() && p.mark > 0.0) {
        return Err(param(
            format!("deribit.positions[{:?}]", p.instrument),
            "size must be finite and mark > 0",
        ));
    }
    if !(p.mm_base >= 0.0 && p.mm_increase >= 0.0 && p.mm_base.is_finite()) {
        return Err(param(
            format!("deribit.positions[{:?}].mm_base", p.instrument),
            "maintenance rates must be finite and ≥ 0",
        ));
    }
    if !(params.fee.is_finite() && (0.0..1.0).contains(&params.fee)) {
        return Err(param("venues.deribit.liquidation_fee", "must be in [0, 1)"));
    }
    let mut size = p.size;
    let mut equity = equity;
    let liquidatable = p.maintenance_at(size) > equity;
    let mut out = Vec::new();
    let mut fees = 0.0;
    let chunk = params.round_notional / p.mark;
    while p.maintenance_at(size) > equity && size != 0.0 && (out.len() as u32) < rounds {
        let q = size.abs().min(chunk);
        // A remnant below a millionth of the round is closed with it.
        let q = if size.abs() - q < chunk * 1e-6 {
            size.abs()
        } else {
            q
        };
        let sell = size > 0.0;
        let price = p.impact.expected_price(p.mark, q * p.mark, sell);
        let fee = params.fee * q * price;
        equity -= q * (p.mark - price).abs() + fee;
        fees += fee;
        size = if q >= size.abs() {
            0.0
        } else {
            size - size.signum() * q
        };
        out.push(DeribitRound {
            side: if sell { "sell" } else { "buy" }.into(),
            size: q,
            price,
            fee,
            equity_after: equity,
            maintenance_after: p.maintenance_at(size),
        });
    }
    Ok(DeribitLiquidation {
        liquidatable,
        continues: p.maintenance_at(size) > equity && size != 0.0,
        rounds: out,
        size_after: size,
        equity_after: equity,
        fees,
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
    fn rounds_stop_as_soon_as_maintenance_is_below_equity() {
        // 1 BTC long at 100,000, MM 1 % + 1 × 0.005 % = 1.005 % → 1,005; equity 1,000.
        // Round of 2,000 USD = 0.02 BTC, fee 0.75 % = 15 per round, no impact.
        // After k rounds: size 1 − 0.02k, MM = (1 − 0.02k)·100,000·(0.01 + (1 − 0.02k)·0.00005),
        // equity 1,000 − 15k. k = 1: MM = 0.98·100,000·0.010049 = 984.802 > 985 ? no: 984.802 < 985.
        let p = DeribitPosition {
            instrument: "deribit:BTC-PERPETUAL".into(),
            size: 1.0,
            mark: 100_000.0,
            mm_base: 0.01,
            mm_increase: 0.00005,
            impact: no_impact(),
        };
        let params = DeribitParams {
            round_notional: 2_000.0,
            rounds_per_second: 1.0,
            fee: 0.0075,
        };
        assert!((p.maintenance_at(1.0) - 1_005.0).abs() < 1e-9);
        let l = liquidate_incremental(1_000.0, &p, &params, 60).unwrap();
        assert!(l.liquidatable && !l.continues);
        assert_eq!(l.rounds.len(), 1);
        assert!((l.size_after - 0.98).abs() < 1e-12);
        assert!((l.equity_after - 985.0).abs() < 1e-9);
        assert!((l.rounds[0].maintenance_after - 984.802).abs() < 1e-6);
    }

    #[test]
    fn a_deep_shortfall_runs_out_of_rounds_and_continues() {
        let p = DeribitPosition {
            instrument: "deribit:ETH-PERPETUAL".into(),
            size: -100.0,
            mark: 3_000.0,
            mm_base: 0.01,
            mm_increase: 0.0,
            impact: no_impact(),
        };
        let params = DeribitParams {
            round_notional: 2_000.0,
            rounds_per_second: 1.0,
            fee: 0.009,
        };
        // MM 3,000 vs equity 100: 2,000 USD a round cannot restore it in 3 rounds.
        let l = liquidate_incremental(100.0, &p, &params, 3).unwrap();
        assert_eq!(l.rounds.len(), 3);
        assert!(l.continues);
        assert!((l.size_after + 98.0).abs() < 1e-9);
        assert!((l.fees - 3.0 * 18.0).abs() < 1e-9);
    }

    #[test]
    fn the_bundled_table_has_the_incremental_keys() {
        let b = RuleBook::bundled().unwrap();
        let p = DeribitParams::from_rules(b.get(Venue::Deribit)).unwrap();
        assert_eq!(p.round_notional, 2_000.0);
        assert_eq!(p.rounds_in(60.0), 60);
    }
}

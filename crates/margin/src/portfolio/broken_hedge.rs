//! The broken-hedge add-on: a book hedged across venues can lose its hedge when the venue holding
//! its winning leg auto-deleverages that leg (closes it at a bankrupt trader's price) while the
//! losing leg stays open elsewhere. The risk lab (`intermargin simulate`, each venue liquidating by
//! its own rules) forecasts per venue the expected fraction of a hedged leg left unhedged that way
//! (`summary.json`: `without_breakers.venues[].expected_unhedged_fraction`); the unified model prices
//! it as
//!
//! `add-on = Σ_underlying max(down, up) × stress_u`, with
//! `down = Σ_venues e_v × short delta notional_v × H / S` (shorts win a fall and may be deleveraged),
//! `up = Σ_venues e_v × long delta notional_v × H / L` (longs win a rise),
//!
//! `L`, `S` the account's long and short delta notional of the underlying over all venues, `H =
//! min(L, S)` the hedged part, `e_v` the venue's forecast and `stress_u` the model's own worst move
//! of one unit of delta-one exposure over its horizon ([`super::UnifiedModel::delta_one_stress`]):
//! the exposure left unhedged is exposed to that move while the account is re-hedged.
//!
//! **Materiality**: the add-on is charged (and shown as the `broken_hedge_adl` component) only
//! when it is at least `materiality` (1 % by default) of the unified initial margin before it:
//! below that it is within the forecast's own Monte Carlo error (a few hundred stress paths
//! estimate `e_v` to about ±10 % of itself) and within the rounding of the calibrated ranges, so
//! charging it would move requirements by noise rather than by risk.

use std::collections::BTreeMap;

use intermargin_model::Venue;
use serde::{Deserialize, Serialize};

use crate::error::MarginError;

/// Materiality threshold used when a forecast does not state one: 1 % of the initial margin.
pub const DEFAULT_MATERIALITY: f64 = 0.01;

/// The risk lab's forecast, per venue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokenHedgeForecast {
    /// Where the figures come from (the run that produced them).
    pub source: String,
    /// Expected fraction of a hedged leg on the venue left unhedged by auto-deleveraging.
    pub expected_unhedged_fraction: BTreeMap<Venue, f64>,
    /// Fraction of the initial margin from which the add-on is charged.
    #[serde(default = "default_materiality")]
    pub materiality: f64,
}

fn default_materiality() -> f64 {
    DEFAULT_MATERIALITY
}

impl BrokenHedgeForecast {
    /// Checks every figure, naming it.
    pub fn validate(&self) -> Result<(), MarginError> {
        let bad = |field: String, reason: String| MarginError::Params {
            file: "broken-hedge forecast".into(),
            field,
            reason,
        };
        for (v, e) in &self.expected_unhedged_fraction {
            if !(e.is_finite() && (0.0..=1.0).contains(e)) {
                return Err(bad(
                    format!("expected_unhedged_fraction.{}", v.as_str()),
                    format!("must be within [0, 1], got {e}"),
                ));
            }
        }
        if !(self.materiality.is_finite() && (0.0..1.0).contains(&self.materiality)) {
            return Err(bad(
                "materiality".into(),
                format!("must be within [0, 1), got {}", self.materiality),
            ));
        }
        Ok(())
    }
}

/// One venue's part of the add-on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrokenHedgeLeg {
    /// Venue whose winning leg may be deleveraged.
    pub venue: Venue,
    /// Underlying.
    pub underlying: String,
    /// Expected notional left unhedged.
    pub unhedged_notional: f64,
    /// Its loss over the stress move.
    pub loss: f64,
}

/// The add-on for one account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrokenHedgeAddOn {
    /// Expected loss from broken hedges, quote currency.
    pub value: f64,
    /// Threshold it was compared with (`materiality × initial margin before it`).
    pub threshold: f64,
    /// Whether it is charged.
    pub material: bool,
    /// Per venue and underlying, in the binding direction.
    pub legs: Vec<BrokenHedgeLeg>,
}

/// The add-on of a book given as `(venue, underlying, signed delta notional, deleveragable)` legs
/// (`deleveragable`: a position a venue can auto-deleverage; balances can only be left unhedged),
/// with `stress(u)` the worst move of one unit of delta-one exposure and `initial_margin` the
/// requirement it is compared with.
pub fn broken_hedge_addon(
    legs: &[(Venue, String, f64, bool)],
    stress: impl Fn(&str) -> f64,
    forecast: &BrokenHedgeForecast,
    initial_margin: f64,
) -> BrokenHedgeAddOn {
    // Per underlying, per venue: (all delta, positions' delta).
    let mut by: BTreeMap<&str, BTreeMap<Venue, (f64, f64)>> = BTreeMap::new();
    for (v, u, d, pos) in legs {
        let e = by.entry(u.as_str()).or_default().entry(*v).or_default();
        e.0 += d;
        if *pos {
            e.1 += d;
        }
    }
    let mut value = 0.0;
    let mut out = Vec::new();
    for (u, venues) in &by {
        let long: f64 = venues.values().map(|x| x.0.max(0.0)).sum();
        let short: f64 = venues.values().map(|x| (-x.0).max(0.0)).sum();
        let hedged = long.min(short);
        if hedged <= 0.0 {
            continue;
        }
        let s = stress(u);
        let side = |sign: f64, total: f64| -> (f64, Vec<BrokenHedgeLeg>) {
            let mut loss = 0.0;
            let mut rows = Vec::new();
            for (v, (all, pos)) in venues {
                let e = forecast
                    .expected_unhedged_fraction
                    .get(v)
                    .copied()
                    .unwrap_or(0.0);
                // The winning side's positions here, at most the venue's net on that side.
                let winning = (sign * pos).max(0.0).min((sign * all).max(0.0));
                let x = e * winning * hedged / total;
                if x > 0.0 {
                    loss += x * s;
                    rows.push(BrokenHedgeLeg {
                        venue: *v,
                        underlying: u.to_string(),
                        unhedged_notional: x,
                        loss: x * s,
                    });
                }
            }
            (loss, rows)
        };
        let down = side(-1.0, short);
        let up = side(1.0, long);
        let (loss, rows) = if down.0 >= up.0 { down } else { up };
        value += loss;
        out.extend(rows);
    }
    let threshold = forecast.materiality * initial_margin.max(0.0);
    BrokenHedgeAddOn {
        value,
        threshold,
        material: value > 0.0 && value >= threshold,
        legs: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forecast(binance: f64, dydx: f64) -> BrokenHedgeForecast {
        BrokenHedgeForecast {
            source: "test".into(),
            expected_unhedged_fraction: [(Venue::Binance, binance), (Venue::Dydx, dydx)]
                .into_iter()
                .collect(),
            materiality: 0.01,
        }
    }

    #[test]
    fn a_two_venue_basis_trade_by_hand() {
        // Long 100,000 of BTC on dYdX, short 100,000 on Binance; e: Binance 2 %, dYdX 1 %;
        // stress 20 %. A fall: Binance's short wins, 2 % × 100,000 = 2,000 unhedged → 400.
        // A rise: dYdX's long wins, 1 % × 100,000 = 1,000 → 200. The add-on is 400.
        let legs = vec![
            (Venue::Dydx, "BTC".to_string(), 100_000.0, true),
            (Venue::Binance, "BTC".to_string(), -100_000.0, true),
        ];
        let a = broken_hedge_addon(&legs, |_| 0.2, &forecast(0.02, 0.01), 10_000.0);
        assert!((a.value - 400.0).abs() < 1e-9);
        assert!(a.material && (a.threshold - 100.0).abs() < 1e-12);
        assert_eq!(a.legs.len(), 1);
        assert_eq!(a.legs[0].venue, Venue::Binance);
        assert!((a.legs[0].unhedged_notional - 2_000.0).abs() < 1e-9);
        // Against 50,000 of initial margin the threshold is 500: not material.
        let a = broken_hedge_addon(&legs, |_| 0.2, &forecast(0.02, 0.01), 50_000.0);
        assert!(!a.material && (a.value - 400.0).abs() < 1e-9);
    }

    #[test]
    fn only_the_hedged_part_and_only_positions_count() {
        // Long 50,000 spot balance on dYdX (cannot be deleveraged), short 100,000 on Binance:
        // H = 50,000, a fall deleverages 2 % × 100,000 × 50,000/100,000 = 1,000 → 200 at 20 %;
        // a rise has no deleveragable long.
        let legs = vec![
            (Venue::Dydx, "BTC".to_string(), 50_000.0, false),
            (Venue::Binance, "BTC".to_string(), -100_000.0, true),
        ];
        let a = broken_hedge_addon(&legs, |_| 0.2, &forecast(0.02, 0.5), 1.0);
        assert!((a.value - 200.0).abs() < 1e-9, "{}", a.value);
        // Unhedged books and hedges within one venue carry nothing.
        let one_side = vec![(Venue::Binance, "BTC".to_string(), -100_000.0, true)];
        assert_eq!(
            broken_hedge_addon(&one_side, |_| 0.2, &forecast(0.02, 0.01), 1.0).value,
            0.0
        );
        let same_venue = vec![
            (Venue::Binance, "BTC".to_string(), 100_000.0, true),
            (Venue::Binance, "BTC".to_string(), -100_000.0, true),
        ];
        assert_eq!(
            broken_hedge_addon(&same_venue, |_| 0.2, &forecast(0.02, 0.01), 1.0).value,
            0.0
        );
    }

    #[test]
    fn a_bad_forecast_names_the_venue() {
        let mut f = forecast(0.02, 0.01);
        f.expected_unhedged_fraction.insert(Venue::Okx, 1.5);
        let e = f.validate().unwrap_err().to_string();
        assert!(e.contains("okx"), "{e}");
    }
}

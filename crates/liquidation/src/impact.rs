//! Price impact of a liquidation order: `expected = mark × (1 ∓ k·(notional/depth)^α)`.
//!
//! `α = 1` is linear (constant-depth book), `α = 0.5` the square-root law of market impact.
//! Depth is the notional (quote currency) that moves the price by `k`; a sale pushes the
//! price down, a buy pushes it up.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{param, LiquidationError};

/// Impact parameters of one instrument's book.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImpactParams {
    /// Fractional price move when the order's notional equals `depth`.
    pub k: f64,
    /// Exponent: 1 linear, 0.5 square-root.
    pub alpha: f64,
    /// Notional, in the quote currency, that moves the price by `k`.
    pub depth: f64,
}

impl Default for ImpactParams {
    fn default() -> Self {
        // 1% move for 1M of notional, square-root: a mid-cap perpetual book.
        ImpactParams {
            k: 0.01,
            alpha: 0.5,
            depth: 1_000_000.0,
        }
    }
}

impl ImpactParams {
    /// Checks the parameters, naming `path` in the error.
    pub fn validate(&self, path: &str) -> Result<(), LiquidationError> {
        if !(self.k.is_finite() && self.k >= 0.0) {
            return Err(param(
                format!("{path}.k"),
                format!("must be >= 0, got {}", self.k),
            ));
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(param(
                format!("{path}.alpha"),
                format!("must be > 0, got {}", self.alpha),
            ));
        }
        if !(self.depth.is_finite() && self.depth > 0.0) {
            return Err(param(
                format!("{path}.depth"),
                format!("must be > 0, got {}", self.depth),
            ));
        }
        Ok(())
    }

    /// Fractional move caused by an order of `notional` (≥ 0), capped at 100%.
    pub fn fractional_move(&self, notional: f64) -> f64 {
        if notional <= 0.0 {
            return 0.0;
        }
        (self.k * (notional / self.depth).powf(self.alpha)).min(1.0)
    }

    /// Average execution price of an order: `sell = true` pushes the price down.
    pub fn expected_price(&self, mark: f64, notional: f64, sell: bool) -> f64 {
        let m = self.fractional_move(notional);
        if sell {
            mark * (1.0 - m)
        } else {
            mark * (1.0 + m)
        }
    }

    /// Cost of the order against the mark, in quote currency: `notional × move`.
    pub fn cost(&self, notional: f64) -> f64 {
        notional * self.fractional_move(notional)
    }
}

/// Depth file: a default and per-instrument overrides keyed `venue:symbol`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepthBook {
    /// Used for any instrument not listed.
    #[serde(default)]
    pub default: ImpactParams,
    /// Overrides by instrument id.
    #[serde(default)]
    pub instruments: BTreeMap<String, ImpactParams>,
}

impl DepthBook {
    /// Parses and validates a depth file (JSON).
    pub fn from_json(text: &str) -> Result<DepthBook, LiquidationError> {
        let book: DepthBook = serde_json::from_str(text)
            .map_err(|e| param("depth", format!("cannot parse depth JSON: {e}")))?;
        book.validate()?;
        Ok(book)
    }

    /// Checks every entry.
    pub fn validate(&self) -> Result<(), LiquidationError> {
        self.default.validate("depth.default")?;
        for (k, p) in &self.instruments {
            p.validate(&format!("depth.instruments[{k:?}]"))?;
        }
        Ok(())
    }

    /// Parameters for an instrument id.
    pub fn get(&self, instrument_id: &str) -> ImpactParams {
        self.instruments
            .get(instrument_id)
            .copied()
            .unwrap_or(self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_root_impact_matches_a_hand_calculation() {
        // k = 1%, depth 1M, α = 0.5: selling 4M moves 1% × √4 = 2%; 100 × 0.98 = 98.
        let p = ImpactParams::default();
        assert!((p.expected_price(100.0, 4_000_000.0, true) - 98.0).abs() < 1e-9);
        assert!((p.expected_price(100.0, 4_000_000.0, false) - 102.0).abs() < 1e-9);
        assert!((p.cost(4_000_000.0) - 80_000.0).abs() < 1e-6);
    }

    #[test]
    fn linear_impact_is_proportional_and_capped() {
        let p = ImpactParams {
            k: 0.5,
            alpha: 1.0,
            depth: 10.0,
        };
        assert!((p.fractional_move(2.0) - 0.1).abs() < 1e-12);
        assert_eq!(p.fractional_move(1e9), 1.0);
        assert_eq!(p.expected_price(10.0, 1e9, true), 0.0);
    }

    #[test]
    fn depth_file_errors_name_the_instrument_and_field() {
        let e = DepthBook::from_json(
            r#"{"instruments":{"dydx:ETH-USD":{"k":0.01,"alpha":0.5,"depth":0}}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("dydx:ETH-USD") && e.contains("depth"), "{e}");
    }
}

//! Closed-form liquidation sizing (Drift's `calculate_base_asset_amount_to_cover_margin_shortage`).

use crate::error::{param, LiquidationError};

/// Base amount to close so that a margin shortage is covered.
///
/// Closing `q` units at `price` frees `q·price·margin_ratio` of requirement (margin_ratio =
/// maintenance fraction × (1 + buffer)) and costs `q·price·cost_rate` of equity (penalty plus
/// expected impact, as a fraction of notional). The shortage `S = mm·(1+b) − equity` is covered
/// when `q·price·(margin_ratio − cost_rate) = S`, so `q = S / (price·(margin_ratio − cost_rate))`.
/// When the cost rate reaches the margin ratio, closing cannot help: an error naming why.
pub fn base_to_cover_margin_shortage(
    shortage: f64,
    price: f64,
    margin_ratio: f64,
    cost_rate: f64,
) -> Result<f64, LiquidationError> {
    if !(price.is_finite() && price > 0.0) {
        return Err(param("price", format!("must be > 0, got {price}")));
    }
    if shortage <= 0.0 {
        return Ok(0.0);
    }
    let net = margin_ratio - cost_rate;
    if net <= 0.0 {
        return Err(param(
            "cost_rate",
            format!("penalty and impact {cost_rate} reach the margin ratio {margin_ratio}: closing does not cover the shortage"),
        ));
    }
    Ok(shortage / (price * net))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortage_over_price_times_net_ratio() {
        // Shortage 100 USD, price 2,000, MMF 5% with no buffer, fee 1%: 100 / (2000 × 0.04) = 1.25.
        let q = base_to_cover_margin_shortage(100.0, 2_000.0, 0.05, 0.01).unwrap();
        assert!((q - 1.25).abs() < 1e-12);
        assert_eq!(
            base_to_cover_margin_shortage(-1.0, 2_000.0, 0.05, 0.01).unwrap(),
            0.0
        );
    }

    #[test]
    fn a_fee_above_the_margin_ratio_cannot_cover_anything() {
        let e = base_to_cover_margin_shortage(1.0, 1.0, 0.01, 0.02)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cost_rate"), "{e}");
    }
}

use intermargin_model::OptionKind;

use crate::black76::{black76_price, check_inputs, PricingError};

/// Implied volatility of a linear Black-76 premium.
///
/// Safeguarded Newton on vega inside a bisection bracket [1e-6, 20]; converges to
/// machine precision on the price (the bracket makes it global, Newton makes it fast).
pub fn implied_vol(
    kind: OptionKind,
    forward: f64,
    strike: f64,
    years: f64,
    price: f64,
    rate: f64,
) -> Result<f64, PricingError> {
    check_inputs(forward, strike, years, 0.2, rate)?;
    if !price.is_finite() {
        return Err(PricingError::BadInput {
            field: "price",
            reason: "must be a finite number",
            value: price,
        });
    }
    let df = (-rate * years).exp();
    let (intrinsic, upper) = match kind {
        OptionKind::Call => (df * (forward - strike).max(0.0), df * forward),
        OptionKind::Put => (df * (strike - forward).max(0.0), df * strike),
    };
    if price <= intrinsic {
        return Err(PricingError::BadInput {
            field: "price",
            reason: "must exceed the discounted intrinsic value (no time value, vol undefined)",
            value: price,
        });
    }
    if price >= upper {
        return Err(PricingError::BadInput {
            field: "price",
            reason: "must be below the no-arbitrage upper bound (discounted forward for calls, strike for puts)",
            value: price,
        });
    }
    let (mut lo, mut hi) = (1e-9_f64, 20.0_f64);
    let mut vol = (2.0 * std::f64::consts::PI / years).sqrt() * (price / df) / forward.max(strike);
    vol = vol.clamp(1e-3, 5.0);
    let sqrt_t = years.sqrt();
    for _ in 0..200 {
        let p = black76_price(kind, forward, strike, years, vol, rate);
        let diff = p - price;
        if diff.abs() <= 1e-14 * price.max(1e-300) {
            return Ok(vol);
        }
        if diff > 0.0 {
            hi = vol;
        } else {
            lo = vol;
        }
        let sd = vol * sqrt_t;
        let d1 = (forward / strike).ln() / sd + 0.5 * sd;
        let vega = df * forward * crate::black76::norm_pdf(d1) * sqrt_t;
        let mut next = if vega > 0.0 {
            vol - diff / vega
        } else {
            f64::NAN
        };
        if !(next > lo && next < hi) {
            next = 0.5 * (lo + hi);
        }
        if (next - vol).abs() <= 1e-15 * vol {
            return Ok(next);
        }
        vol = next;
    }
    Ok(vol)
}

/// Implied volatility of a coin-settled premium: inverts `price·F` as a linear premium.
pub fn implied_vol_inverse(
    kind: OptionKind,
    forward: f64,
    strike: f64,
    years: f64,
    price: f64,
    rate: f64,
) -> Result<f64, PricingError> {
    implied_vol(kind, forward, strike, years, price * forward, rate)
}

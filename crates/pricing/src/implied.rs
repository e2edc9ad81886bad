//! Implied volatility: Jäckel's "Let's Be Rational" (via the `implied-vol` crate) with a
//! bracketed Newton fallback, behind no-arbitrage checks that name the `price` argument.

use implied_vol::{DefaultSpecialFn, ImpliedBlackVolatility};
use intermargin_model::OptionKind;

use crate::black76::{black76_price, check_inputs, norm_pdf, PricingError};

/// Why a premium has no implied volatility, decided before any iteration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Bound {
    /// At or below the discounted intrinsic value: no time value.
    BelowIntrinsic,
    /// At or above the discounted forward (call) or strike (put).
    AboveUpper,
}

impl Bound {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Bound::BelowIntrinsic => {
                "must exceed the discounted intrinsic value (no time value, vol undefined)"
            }
            Bound::AboveUpper => {
                "must be below the no-arbitrage upper bound (discounted forward for calls, discounted strike for puts)"
            }
        }
    }
}

/// Implied volatility of an *undiscounted* premium, inputs assumed finite and positive.
///
/// Returns `Err(Bound)` outside the open interval (intrinsic, upper); otherwise the solver
/// result, or NaN if both the rational method and the fallback fail (never observed on the
/// test grid; kept so the hot path has no panic).
#[inline]
pub(crate) fn implied_vol_undiscounted(
    is_call: bool,
    f: f64,
    k: f64,
    t: f64,
    undiscounted: f64,
) -> Result<f64, Bound> {
    let (intrinsic, upper) = if is_call {
        ((f - k).max(0.0), f)
    } else {
        ((k - f).max(0.0), k)
    };
    if undiscounted.is_nan() || undiscounted <= intrinsic {
        return Err(Bound::BelowIntrinsic);
    }
    if undiscounted >= upper {
        return Err(Bound::AboveUpper);
    }
    let lbr = ImpliedBlackVolatility::builder()
        .option_price(undiscounted)
        .forward(f)
        .strike(k)
        .expiry(t)
        .is_call(is_call)
        .build_unchecked()
        .calculate::<DefaultSpecialFn>();
    match lbr {
        Some(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Ok(bracketed_newton(is_call, f, k, t, undiscounted)),
    }
}

/// Safeguarded Newton on vega inside a bisection bracket: the fallback when the rational
/// method declines (it has edge cases where the attainable precision is not reached).
fn bracketed_newton(is_call: bool, f: f64, k: f64, t: f64, target: f64) -> f64 {
    let kind = if is_call {
        OptionKind::Call
    } else {
        OptionKind::Put
    };
    let (mut lo, mut hi) = (1e-9_f64, 50.0_f64);
    let sqrt_t = t.sqrt();
    // Brenner–Subrahmanyam ATM guess, clamped into the bracket.
    let mut vol = ((2.0 * std::f64::consts::PI / t).sqrt() * target / f.max(k)).clamp(1e-3, 5.0);
    for _ in 0..300 {
        let p = black76_price(kind, f, k, t, vol, 0.0);
        let diff = p - target;
        if diff == 0.0 {
            return vol;
        }
        if diff > 0.0 {
            hi = vol;
        } else {
            lo = vol;
        }
        let sd = vol * sqrt_t;
        let d1 = (f / k).ln() / sd + 0.5 * sd;
        let vega = f * norm_pdf(d1) * sqrt_t;
        let mut next = vol - diff / vega;
        if next.is_nan() || next <= lo || next >= hi {
            next = 0.5 * (lo + hi);
        }
        if (next - vol).abs() <= 1e-16 * vol || hi - lo <= 1e-16 * hi {
            return next;
        }
        vol = next;
    }
    vol
}

/// Implied volatility of a linear Black-76 premium (discounted, quote currency).
///
/// Uses Jäckel's "Let's Be Rational" (the `implied-vol` crate), which reaches the maximum
/// attainable precision in two Householder steps, with a bracketed Newton fallback. Errors name
/// `price` when the premium is outside (discounted intrinsic, discounted upper bound).
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
    implied_vol_undiscounted(
        matches!(kind, OptionKind::Call),
        forward,
        strike,
        years,
        price / df,
    )
    .map_err(|b| PricingError::BadInput {
        field: "price",
        reason: b.reason(),
        value: price,
    })
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
    check_inputs(forward, strike, years, 0.2, rate)?;
    if !price.is_finite() {
        return Err(PricingError::BadInput {
            field: "price",
            reason: "must be a finite number",
            value: price,
        });
    }
    let df = (-rate * years).exp();
    implied_vol_undiscounted(
        matches!(kind, OptionKind::Call),
        forward,
        strike,
        years,
        price * forward / df,
    )
    .map_err(|b| PricingError::BadInput {
        field: "price",
        reason: match b {
            Bound::BelowIntrinsic => {
                "must exceed the discounted intrinsic value / forward (no time value, vol undefined)"
            }
            Bound::AboveUpper => {
                "must be below the no-arbitrage upper bound (discounted 1 coin for calls, discounted strike / forward for puts)"
            }
        },
        value: price,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relative repricing error of an implied vol on a grid spanning deep wings and 1 day–3 years.
    ///
    /// Expected values are the inputs themselves (a round trip): the premium we started from and
    /// the vol that generated it. Deep-wing premiums are compared with the `implied-vol` crate's
    /// own Black pricer (an independent implementation) as well.
    #[test]
    fn round_trip_grid_reaches_1e_10_relative_price_error() {
        let f = 100.0;
        let years = [1.0 / 365.0, 7.0 / 365.0, 30.0 / 365.0, 0.25, 1.0, 3.0];
        let vols = [0.05, 0.2, 0.5, 1.0, 2.0];
        // log-moneyness in units of total vol σ√T, out to 6 standard deviations and beyond
        let zs = [
            -8.0, -6.0, -4.0, -3.0, -2.0, -1.0, -0.3, 0.0, 0.3, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0,
        ];
        let mut checked = 0;
        let mut worst: f64 = 0.0;
        for &t in &years {
            for &v in &vols {
                let sd = v * f64::sqrt(t);
                for &z in &zs {
                    let k = f * (z * sd).exp();
                    for kind in [OptionKind::Call, OptionKind::Put] {
                        let p = black76_price(kind, f, k, t, v, 0.03);
                        let df = (-0.03 * t).exp();
                        let intrinsic = match kind {
                            OptionKind::Call => df * (f - k).max(0.0),
                            OptionKind::Put => df * (k - f).max(0.0),
                        };
                        // Representable time value only: deep ITM premiums whose time value is
                        // lost in rounding have no implied vol to recover.
                        if p < 1e-250 || p - intrinsic < 1e-9 * p {
                            continue;
                        }
                        let iv = implied_vol(kind, f, k, t, p, 0.03).unwrap();
                        let back = black76_price(kind, f, k, t, iv, 0.03);
                        let rel = ((back - p) / p).abs();
                        worst = worst.max(rel);
                        assert!(
                            rel <= 1e-10,
                            "{kind:?} F={f} K={k} T={t} σ={v}: iv={iv} rel err {rel:e}"
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 500, "grid too thin: {checked}");
        assert!(worst <= 1e-10);
    }

    #[test]
    fn recovers_the_generating_vol_where_vega_is_material() {
        // Where vega is not tiny, recovering σ itself is the stronger check.
        for &t in &[1.0 / 365.0, 0.5, 3.0] {
            for &v in &[0.1, 0.8, 1.5] {
                for &k in &[70.0, 95.0, 100.0, 110.0, 140.0] {
                    let p = black76_price(OptionKind::Call, 100.0, k, t, v, 0.0);
                    let sd = v * f64::sqrt(t);
                    let d1 = (100.0_f64 / k).ln() / sd + 0.5 * sd;
                    if d1.abs() > 3.0 {
                        continue;
                    }
                    let iv = implied_vol(OptionKind::Call, 100.0, k, t, p, 0.0).unwrap();
                    assert!(
                        (iv - v).abs() < 1e-11 * v.max(1.0),
                        "K={k} T={t} {iv} vs {v}"
                    );
                }
            }
        }
    }

    #[test]
    fn premium_outside_no_arbitrage_bounds_is_an_error_naming_price() {
        // Call upper bound is the discounted forward: 100 at zero rate.
        let e = implied_vol(OptionKind::Call, 100.0, 90.0, 1.0, 100.0, 0.0).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("price:") && msg.contains("upper bound"),
            "{msg}"
        );
        // Below intrinsic: a call 20 in the money priced at 19.
        let e = implied_vol(OptionKind::Call, 100.0, 80.0, 1.0, 19.0, 0.0).unwrap_err();
        assert!(e.to_string().starts_with("price:") && e.to_string().contains("intrinsic"));
        // Put upper bound is the discounted strike: 80 at zero rate.
        let e = implied_vol(OptionKind::Put, 100.0, 80.0, 1.0, 80.5, 0.0).unwrap_err();
        assert!(e.to_string().contains("upper bound"));
        let e = implied_vol(OptionKind::Put, 100.0, 80.0, 1.0, f64::NAN, 0.0).unwrap_err();
        assert!(e.to_string().starts_with("price:"));
        let e = implied_vol(OptionKind::Put, 100.0, -80.0, 1.0, 1.0, 0.0).unwrap_err();
        assert!(e.to_string().starts_with("strike:"));
    }

    #[test]
    fn inverse_round_trip_matches_linear() {
        let f = 60_000.0;
        let p_lin = black76_price(OptionKind::Put, f, 50_000.0, 0.1, 0.7, 0.0);
        let iv = implied_vol_inverse(OptionKind::Put, f, 50_000.0, 0.1, p_lin / f, 0.0).unwrap();
        assert!((iv - 0.7).abs() < 1e-12, "{iv}");
        let e = implied_vol_inverse(OptionKind::Call, f, 50_000.0, 0.1, 1.0, 0.0).unwrap_err();
        assert!(e.to_string().starts_with("price:"), "{e}");
    }

    #[test]
    fn fallback_solver_agrees_with_lets_be_rational() {
        // The fallback is reached only when the rational method declines; check it directly.
        for &(k, t, v) in &[
            (80.0, 0.5, 0.3),
            (130.0, 2.0, 0.9),
            (100.0, 1.0 / 365.0, 0.6),
        ] {
            let p = black76_price(OptionKind::Call, 100.0, k, t, v, 0.0);
            let iv = bracketed_newton(true, 100.0, k, t, p);
            assert!((iv - v).abs() < 1e-10, "K={k}: {iv} vs {v}");
        }
    }
}

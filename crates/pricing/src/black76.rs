use intermargin_model::OptionKind;
use thiserror::Error;

/// Why an option cannot be priced or inverted; names the offending input.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum PricingError {
    /// An input is NaN, infinite, or out of its domain.
    #[error("{field}: {reason} (got {value})")]
    BadInput {
        /// Input name (`forward`, `strike`, `years`, `vol`, `rate`, `price`).
        field: &'static str,
        /// Why it is rejected.
        reason: &'static str,
        /// The value given.
        value: f64,
    },
    /// One element of a batch input is NaN, infinite, or out of its domain.
    #[error("{field}[{index}]: {reason} (got {value})")]
    BadElement {
        /// Input slice name (`forward`, `strike`, `years`, `vol`, `price`, `rate`).
        field: &'static str,
        /// Position in the slice.
        index: usize,
        /// Why it is rejected.
        reason: &'static str,
        /// The value given.
        value: f64,
    },
    /// Batch input slices differ in length.
    #[error("{field}: length {got} differs from the batch length {expected}")]
    LengthMismatch {
        /// Slice name.
        field: &'static str,
        /// Batch length (length of `forward`).
        expected: usize,
        /// Length of this slice.
        got: usize,
    },
    /// A vol quote cannot enter a surface.
    #[error("quotes[{index}].{field}: {reason} (got {value})")]
    BadQuote {
        /// Position in the quote slice.
        index: usize,
        /// Field of `VolQuote` (`expiry_ms`, `strike`, `iv`).
        field: &'static str,
        /// Why it is rejected.
        reason: &'static str,
        /// The value given.
        value: f64,
    },
    /// A surface needs at least one quote.
    #[error("quotes: a vol surface needs at least one quote")]
    NoQuotes,
}

/// Premium and sensitivities of one option, per unit of underlying.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Greeks {
    /// Premium (quote currency for linear, coin for inverse).
    pub price: f64,
    /// dV/dF, discounted.
    pub delta: f64,
    /// d²V/dF².
    pub gamma: f64,
    /// dV/dσ per 1.00 of vol.
    pub vega: f64,
    /// −dV/dT per year at fixed forward (includes the discount term rV).
    pub theta: f64,
    /// d²V/dF dσ.
    pub vanna: f64,
    /// d²V/dσ².
    pub volga: f64,
}

/// Standard normal density.
#[inline]
pub fn norm_pdf(x: f64) -> f64 {
    const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
    INV_SQRT_2PI * (-0.5 * x * x).exp()
}

/// Standard normal cumulative distribution, accurate to ~1e-16 relative (via erfc).
#[inline]
pub fn norm_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// Complementary error function (W. J. Cody's rational approximations, double precision).
fn erfc(x: f64) -> f64 {
    let ax = x.abs();
    if ax < 0.5 {
        return 1.0 - erf_small(x);
    }
    erfc_with_exp(x, exp_neg_sq(ax))
}

/// `erfc(x)` given `e = exp(−x²)` computed by the caller (shared with the normal density in
/// the Greeks kernel, which saves one exponential per call).
#[inline(always)]
fn erfc_with_exp(x: f64, e: f64) -> f64 {
    let ax = x.abs();
    let r = if ax < 0.5 {
        return 1.0 - erf_small(x);
    } else if ax < 4.0 {
        const P: [f64; 9] = [
            5.641_884_969_886_700_9e-1,
            8.883_149_794_388_376e0,
            6.611_919_063_714_163e1,
            2.986_351_381_974_001_3e2,
            8.819_522_212_417_691e2,
            1.712_047_612_634_070_7e3,
            2.051_078_377_826_071_6e3,
            1.230_339_354_797_997_2e3,
            2.153_115_354_744_038_3e-8,
        ];
        const Q: [f64; 8] = [
            1.574_492_611_070_983_5e1,
            1.176_939_508_913_124_9e2,
            5.371_811_018_620_098_6e2,
            1.621_389_574_566_690_2e3,
            3.290_799_235_733_459_7e3,
            4.362_619_090_143_247e3,
            3.439_367_674_143_721_6e3,
            1.230_339_354_803_749_4e3,
        ];
        let mut num = P[8] * ax;
        let mut den = ax;
        for i in 0..7 {
            num = (num + P[i]) * ax;
            den = (den + Q[i]) * ax;
        }
        let res = (num + P[7]) / (den + Q[7]);
        e * res
    } else {
        const P: [f64; 6] = [
            3.053_266_349_612_323_4e-1,
            3.603_448_999_498_044_5e-1,
            1.257_817_261_112_292_5e-1,
            1.608_378_514_874_227_6e-2,
            6.587_491_615_298_378_5e-4,
            1.631_538_713_730_709_6e-2,
        ];
        const Q: [f64; 5] = [
            2.568_520_192_289_822_4e0,
            1.872_952_849_923_460_5e0,
            5.279_051_029_514_284_1e-1,
            6.051_834_131_244_131_9e-2,
            2.335_204_976_268_691_8e-3,
        ];
        const SQRPI: f64 = 5.641_895_835_477_562_8e-1;
        let z = 1.0 / (ax * ax);
        let mut num = P[5] * z;
        let mut den = z;
        for i in 0..4 {
            num = (num + P[i]) * z;
            den = (den + Q[i]) * z;
        }
        let res = z * (num + P[4]) / (den + Q[4]);
        let res = (SQRPI - res) / ax;
        e * res
    };
    if x < 0.0 {
        2.0 - r
    } else {
        r
    }
}

/// `N(x)` given the standard normal density `pdf = φ(x)` already computed by the caller.
///
/// `exp(−(x/√2)²) = √(2π)·φ(x)`, so Cody's erfc needs no exponential of its own. The
/// density carries the rounding of `x²` (relative ~x²·1e-16), harmless for |x| < 40.
#[inline(always)]
pub(crate) fn norm_cdf_with_pdf(x: f64, pdf: f64) -> f64 {
    const SQRT_2PI: f64 = 2.506_628_274_631_000_5;
    0.5 * erfc_with_exp(-x * std::f64::consts::FRAC_1_SQRT_2, pdf * SQRT_2PI)
}

/// exp(−x²) computed with the split that keeps full precision for large x.
#[inline]
fn exp_neg_sq(x: f64) -> f64 {
    let xs = (x * 16.0).trunc() / 16.0;
    let del = (x - xs) * (x + xs);
    (-xs * xs).exp() * (-del).exp()
}

fn erf_small(x: f64) -> f64 {
    const A: [f64; 5] = [
        3.161_123_743_870_565_6e0,
        1.138_641_541_510_501_6e2,
        3.774_852_376_853_020_2e2,
        3.209_377_589_138_469_5e3,
        1.857_777_061_846_031_5e-1,
    ];
    const B: [f64; 4] = [
        2.360_129_095_234_412_2e1,
        2.440_246_379_344_441_7e2,
        1.282_616_526_077_372_3e3,
        2.844_236_833_439_170_6e3,
    ];
    let z = x * x;
    let mut num = A[4] * z;
    let mut den = z;
    for i in 0..3 {
        num = (num + A[i]) * z;
        den = (den + B[i]) * z;
    }
    x * (num + A[3]) / (den + B[3])
}

fn check(field: &'static str, value: f64, positive: bool) -> Result<(), PricingError> {
    if !value.is_finite() {
        return Err(PricingError::BadInput {
            field,
            reason: "must be a finite number",
            value,
        });
    }
    if positive && value <= 0.0 {
        return Err(PricingError::BadInput {
            field,
            reason: "must be > 0",
            value,
        });
    }
    Ok(())
}

/// Largest volatility accepted as an input: 5.0 = 500 % a year.
///
/// Vol is a fraction (0.5 = 50 %); a trader typing `50` for 50 % would otherwise price silently
/// at 5,000 %. No listed crypto option trades near 500 % (Deribit's BTC/ETH marks stay below
/// 300 % even in crashes), so anything above is refused as a units mistake.
pub const MAX_VOL: f64 = 5.0;

/// Why a vol above [`MAX_VOL`] is refused, shared by the scalar and batch checks.
pub(crate) const VOL_TOO_HIGH: &str =
    "must be at most 5: vol is a fraction of one (0.5 = 50 %), not a percentage";

/// Validates Black-76 inputs, naming the first bad one.
pub(crate) fn check_inputs(
    forward: f64,
    strike: f64,
    years: f64,
    vol: f64,
    rate: f64,
) -> Result<(), PricingError> {
    check("forward", forward, true)?;
    check("strike", strike, true)?;
    check("years", years, true)?;
    check("vol", vol, true)?;
    if vol > MAX_VOL {
        return Err(PricingError::BadInput {
            field: "vol",
            reason: VOL_TOO_HIGH,
            value: vol,
        });
    }
    check("rate", rate, false)
}

/// Linear Black-76 premium only: the fast path for scenario grids.
///
/// Inputs are assumed valid (positive, finite); use [`black76`] at a trust boundary.
#[inline]
pub fn black76_price(
    kind: OptionKind,
    forward: f64,
    strike: f64,
    years: f64,
    vol: f64,
    rate: f64,
) -> f64 {
    let df = (-rate * years).exp();
    let sd = vol * years.sqrt();
    if sd <= 0.0 {
        let intrinsic = match kind {
            OptionKind::Call => (forward - strike).max(0.0),
            OptionKind::Put => (strike - forward).max(0.0),
        };
        return df * intrinsic;
    }
    let d1 = (forward / strike).ln() / sd + 0.5 * sd;
    let d2 = d1 - sd;
    let pdf1 = norm_pdf(d1);
    let pdf2 = pdf1 * (forward / strike);
    match kind {
        OptionKind::Call => {
            df * (forward * norm_cdf_with_pdf(d1, pdf1) - strike * norm_cdf_with_pdf(d2, pdf2))
        }
        OptionKind::Put => {
            df * (strike * norm_cdf_with_pdf(-d2, pdf2) - forward * norm_cdf_with_pdf(-d1, pdf1))
        }
    }
}

/// Linear Black-76 premium and Greeks, with validated inputs.
pub fn black76(
    kind: OptionKind,
    forward: f64,
    strike: f64,
    years: f64,
    vol: f64,
    rate: f64,
) -> Result<Greeks, PricingError> {
    check_inputs(forward, strike, years, vol, rate)?;
    Ok(black76_unchecked(kind, forward, strike, years, vol, rate))
}

/// Linear Black-76 premium and Greeks without input checks (hot loops).
#[inline(always)]
pub(crate) fn black76_unchecked(
    kind: OptionKind,
    f: f64,
    k: f64,
    t: f64,
    vol: f64,
    r: f64,
) -> Greeks {
    greeks_lane(matches!(kind, OptionKind::Call), f, k, t, vol, r)
}

/// The one Black-76 Greeks formula, branch-free so the batch loop vectorises; the scalar API
/// calls the same code, so batch and scalar results are bit-identical.
#[inline(always)]
pub(crate) fn greeks_lane(call: bool, f: f64, k: f64, t: f64, vol: f64, r: f64) -> Greeks {
    use crate::fastmath;
    const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
    let df = fastmath::exp(-r * t);
    let sqrt_t = t.sqrt();
    let sd = vol * sqrt_t;
    // One division serves every 1/σ√T, 1/σ and 1/√T below (divisions dominate the vector cost).
    let inv_sd = 1.0 / sd;
    let fk = f / k;
    let d1 = fastmath::ln(fk) * inv_sd + 0.5 * sd;
    let d2 = d1 - sd;
    let e1 = fastmath::exp(-0.5 * d1 * d1);
    let pdf1 = e1 * INV_SQRT_2PI;
    // K·φ(d2) = F·φ(d1): one exponential serves both densities and both N(·).
    let e2 = e1 * fk;
    // Call: s = 1; put: s = −1. V = s·D·(F·N(s·d1) − K·N(s·d2)), Δ = s·D·N(s·d1).
    let sign = if call { 1.0 } else { -1.0 };
    let nd1 = fastmath::norm_cdf_given_exp(sign * d1, e1);
    let nd2 = fastmath::norm_cdf_given_exp(sign * d2, e2);
    let price = sign * df * (f * nd1 - k * nd2);
    let delta = sign * df * nd1;
    let dpdf = df * pdf1;
    let gamma = dpdf * inv_sd / f;
    let vega = dpdf * f * sqrt_t;
    // −dV/dT at fixed F: time decay of the undiscounted value plus the discount term r·V.
    // F·φ·σ/(2√T) = F·φ·σ²·/(2σ√T).
    let theta = -0.5 * dpdf * f * vol * vol * inv_sd + r * price;
    // 1/σ = √T/(σ√T).
    let inv_vol = sqrt_t * inv_sd;
    let vanna = -dpdf * d2 * inv_vol;
    let volga = vega * d1 * d2 * inv_vol;
    Greeks {
        price,
        delta,
        gamma,
        vega,
        theta,
        vanna,
        volga,
    }
}

/// Coin-settled (inverse) premium and Greeks: the linear value divided by the forward.
///
/// See the crate documentation for the quotient-rule derivation of each Greek.
pub fn black76_inverse(
    kind: OptionKind,
    forward: f64,
    strike: f64,
    years: f64,
    vol: f64,
    rate: f64,
) -> Result<Greeks, PricingError> {
    let lin = black76(kind, forward, strike, years, vol, rate)?;
    Ok(to_inverse(&lin, forward))
}

impl Greeks {
    /// Vega per vol point (σ + 0.01), the unit venues display; [`Greeks::vega`] is per 1.00 of vol.
    pub fn vega_per_vol_point(&self) -> f64 {
        self.vega / 100.0
    }

    /// Theta per calendar day (365 a year), the unit venues display; [`Greeks::theta`] is per year.
    pub fn theta_per_day(&self) -> f64 {
        self.theta / DAYS_PER_YEAR
    }
}

/// Calendar days per year for per-day theta (Deribit and OKX quote theta per calendar day).
pub const DAYS_PER_YEAR: f64 = 365.0;

/// A coin-settled option's Greeks per contract of one coin, as Deribit displays them.
///
/// Deribit's option delta is the "net transaction delta": the Black-Scholes delta minus the mark
/// price in coin, which is `F·Δ_inv` (the coin exposure the position adds to the account, since
/// the premium paid is itself coin). Gamma, vega and theta are the Black-Scholes ones in the
/// quote currency (Deribit API `greeks`, support article "Delta Total").
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CoinGreeks {
    /// Premium in coin per contract (`V_lin / F`).
    pub price_coin: f64,
    /// Premium in the quote currency per contract, at the forward (`V_lin`).
    pub price_quote: f64,
    /// Net transaction delta, coin per contract: `Δ_lin − V_lin/F = F·Δ_inv`.
    pub delta_coin: f64,
    /// Change of the Black-Scholes delta per 1 quote unit of forward (`Γ_lin`).
    pub gamma: f64,
    /// Quote-currency change of the premium per vol point (`Vega_lin / 100`).
    pub vega_per_vol_point: f64,
    /// Quote-currency change of the premium per calendar day (`Θ_lin / 365`).
    pub theta_per_day: f64,
}

/// Greeks of a coin-settled option in the venue's display convention (see [`CoinGreeks`]).
pub fn coin_greeks(
    kind: OptionKind,
    forward: f64,
    strike: f64,
    years: f64,
    vol: f64,
    rate: f64,
) -> Result<CoinGreeks, PricingError> {
    let lin = black76(kind, forward, strike, years, vol, rate)?;
    Ok(coin_greeks_from_linear(&lin, forward))
}

/// [`CoinGreeks`] from linear Greeks at forward `f` (one formula for scalar and batch callers).
#[inline]
pub fn coin_greeks_from_linear(lin: &Greeks, f: f64) -> CoinGreeks {
    CoinGreeks {
        price_coin: lin.price / f,
        price_quote: lin.price,
        delta_coin: lin.delta - lin.price / f,
        gamma: lin.gamma,
        vega_per_vol_point: lin.vega_per_vol_point(),
        theta_per_day: lin.theta_per_day(),
    }
}

/// Converts linear Greeks at forward `f` into their coin-settled counterparts.
#[inline]
pub(crate) fn to_inverse(lin: &Greeks, f: f64) -> Greeks {
    let f2 = f * f;
    Greeks {
        price: lin.price / f,
        delta: lin.delta / f - lin.price / f2,
        gamma: lin.gamma / f - 2.0 * lin.delta / f2 + 2.0 * lin.price / (f2 * f),
        vega: lin.vega / f,
        theta: lin.theta / f,
        vanna: lin.vanna / f - lin.vega / f2,
        volga: lin.volga / f,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hull_textbook_example_matches() {
        // Hull, Options Futures and Other Derivatives, Example 15.6: S=42, K=40, r=10%, σ=20%, T=0.5
        // gives c ≈ 4.76 and p ≈ 0.81. Black-76 on F = S·e^{rT} reproduces Black–Scholes.
        let (s, k, r, vol, t): (f64, f64, f64, f64, f64) = (42.0, 40.0, 0.10, 0.20, 0.5);
        let f = s * (r * t).exp();
        let c = black76(OptionKind::Call, f, k, t, vol, r).unwrap().price;
        let p = black76(OptionKind::Put, f, k, t, vol, r).unwrap().price;
        assert!((c - 4.76).abs() < 0.005, "call {c}");
        assert!((p - 0.81).abs() < 0.005, "put {p}");
    }

    #[test]
    fn norm_cdf_matches_known_values() {
        // Abramowitz & Stegun table 26.1 values.
        assert!((norm_cdf(0.0) - 0.5).abs() < 1e-16);
        assert!((norm_cdf(1.0) - 0.841_344_746_068_542_9).abs() < 1e-15);
        assert!((norm_cdf(-2.0) - 0.022_750_131_948_179_2).abs() < 1e-16);
        assert!((norm_cdf(-8.0) - 6.220_960_574_271_785e-16).abs() < 1e-28);
    }

    #[test]
    fn bad_inputs_name_the_field() {
        let e = black76(OptionKind::Call, -1.0, 100.0, 1.0, 0.5, 0.0).unwrap_err();
        assert!(e.to_string().starts_with("forward:"), "{e}");
        let e = black76(OptionKind::Call, 100.0, 100.0, 1.0, f64::NAN, 0.0).unwrap_err();
        assert!(e.to_string().starts_with("vol:"), "{e}");
    }

    #[test]
    fn a_vol_typed_as_a_percentage_is_refused_with_the_fraction_hint() {
        let e = black76(OptionKind::Call, 100.0, 100.0, 1.0, 50.0, 0.0).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("vol:"), "{text}");
        assert!(text.contains("0.5 = 50 %"), "{text}");
        assert!(black76_inverse(OptionKind::Put, 100.0, 100.0, 1.0, 5.01, 0.0).is_err());
        assert!(black76(OptionKind::Call, 100.0, 100.0, 1.0, MAX_VOL, 0.0).is_ok());
    }

    #[test]
    fn coin_delta_is_the_black_scholes_delta_minus_the_coin_premium() {
        // Deribit's "net transaction delta" = Black-Scholes delta − mark price in coin. Computed
        // here by hand from N(d1) (A&S-accurate norm_cdf) and the textbook call price, for the
        // README's inverse example (F 90,000, K 100,000, T 0.25, σ 0.55).
        let (f, k, t, v) = (90_000.0_f64, 100_000.0_f64, 0.25_f64, 0.55_f64);
        let sd = v * t.sqrt();
        let d1 = (f / k).ln() / sd + 0.5 * sd;
        let n1 = norm_cdf(d1);
        let call = f * n1 - k * norm_cdf(d1 - sd);
        let expected = n1 - call / f;
        let c = coin_greeks(OptionKind::Call, f, k, t, v, 0.0).unwrap();
        assert!(
            (c.delta_coin - expected).abs() < 1e-12,
            "{c:?} vs {expected}"
        );
        assert!((0.33..0.34).contains(&c.delta_coin), "{c:?}");
        // The same number is F times the derivative of the coin premium.
        let inv = black76_inverse(OptionKind::Call, f, k, t, v, 0.0).unwrap();
        assert!((c.delta_coin - f * inv.delta).abs() < 1e-12);
        assert!((c.price_coin - call / f).abs() < 1e-12);
        // Vega per vol point is a bump of 0.01 in vol (central difference).
        let up = black76_price(OptionKind::Call, f, k, t, v + 1e-4, 0.0);
        let dn = black76_price(OptionKind::Call, f, k, t, v - 1e-4, 0.0);
        assert!((c.vega_per_vol_point - (up - dn) / 2e-4 / 100.0).abs() < 1e-4);
        // Theta per day is minus the premium lost over one day of the 365 (theta = −dV/dT).
        let later = black76_price(OptionKind::Call, f, k, t - 1.0 / 365.0, v, 0.0);
        assert!((c.theta_per_day + (call - later)).abs() < 0.05 * c.theta_per_day.abs());
    }
}

//! Struct-of-arrays batch pricing: thousands of options per call, no per-element allocation.
//!
//! Inputs are validated once, up front, and the first bad element is reported by index and
//! field (`vol[17]: must be > 0`). The kernels then run branch-light over plain slices and write
//! into caller-owned output slices; above [`PARALLEL_THRESHOLD`] elements they are split into
//! chunks of [`CHUNK`] and run on rayon's pool.

use intermargin_model::OptionKind;
use rayon::prelude::*;

use crate::black76::{greeks_lane, to_inverse, Greeks, PricingError};
use crate::implied::implied_vol_undiscounted;

/// Below this many options a batch runs on the calling thread (rayon's fork cost dominates).
pub const PARALLEL_THRESHOLD: usize = 16_384;
/// Options per rayon task: large enough to amortise scheduling, small enough to balance.
pub const CHUNK: usize = 4_096;

/// Caller-owned output of [`price_greeks_batch`]: one slice per Greek (struct of arrays).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchGreeks {
    /// Premiums.
    pub price: Vec<f64>,
    /// dV/dF, discounted.
    pub delta: Vec<f64>,
    /// d²V/dF².
    pub gamma: Vec<f64>,
    /// dV/dσ per 1.00 of vol.
    pub vega: Vec<f64>,
    /// −dV/dT per year at fixed forward.
    pub theta: Vec<f64>,
    /// d²V/dF dσ.
    pub vanna: Vec<f64>,
    /// d²V/dσ².
    pub volga: Vec<f64>,
}

impl BatchGreeks {
    /// Output buffers for `n` options, zero-filled; reuse them across calls to avoid allocating.
    pub fn with_len(n: usize) -> Self {
        let z = || vec![0.0; n];
        BatchGreeks {
            price: z(),
            delta: z(),
            gamma: z(),
            vega: z(),
            theta: z(),
            vanna: z(),
            volga: z(),
        }
    }

    /// Number of options the buffers hold.
    pub fn len(&self) -> usize {
        self.price.len()
    }

    /// True when the buffers hold no option.
    pub fn is_empty(&self) -> bool {
        self.price.is_empty()
    }

    /// Resizes every buffer to `n` (allocates only when growing past the capacity).
    pub fn resize(&mut self, n: usize) {
        for v in [
            &mut self.price,
            &mut self.delta,
            &mut self.gamma,
            &mut self.vega,
            &mut self.theta,
            &mut self.vanna,
            &mut self.volga,
        ] {
            v.resize(n, 0.0);
        }
    }

    /// The Greeks of option `i` as one struct (convenience; not for hot loops).
    pub fn get(&self, i: usize) -> Option<Greeks> {
        Some(Greeks {
            price: *self.price.get(i)?,
            delta: *self.delta.get(i)?,
            gamma: *self.gamma.get(i)?,
            vega: *self.vega.get(i)?,
            theta: *self.theta.get(i)?,
            vanna: *self.vanna.get(i)?,
            volga: *self.volga.get(i)?,
        })
    }
}

/// Borrowed inputs of a batch: one slice per field, all of the same length.
#[derive(Debug, Clone, Copy)]
pub struct BatchInputs<'a> {
    /// Call or put per option.
    pub kind: &'a [OptionKind],
    /// Forward per option (> 0).
    pub forward: &'a [f64],
    /// Strike per option (> 0).
    pub strike: &'a [f64],
    /// Years to expiry per option (> 0).
    pub years: &'a [f64],
    /// For pricing: vol (> 0). For implied vol: the premium (finite).
    pub vol_or_price: &'a [f64],
    /// Continuously compounded rate per option (finite).
    pub rate: &'a [f64],
}

fn bad(field: &'static str, index: usize, reason: &'static str, value: f64) -> PricingError {
    PricingError::BadElement {
        field,
        index,
        reason,
        value,
    }
}

/// Checks lengths against `n` and every element's domain; the error names index and field.
fn validate(inp: &BatchInputs<'_>, n: usize, second: &'static str) -> Result<(), PricingError> {
    let lens = [
        ("kind", inp.kind.len()),
        ("forward", inp.forward.len()),
        ("strike", inp.strike.len()),
        ("years", inp.years.len()),
        (second, inp.vol_or_price.len()),
        ("rate", inp.rate.len()),
    ];
    for (field, len) in lens {
        if len != n {
            return Err(PricingError::LengthMismatch {
                field,
                expected: n,
                got: len,
            });
        }
    }
    // Cheap scan first, branch-free so it vectorises, and split over rayon's pool for large
    // batches (it reads every input once more); only on failure find the first offender.
    let positive = |s: &[f64]| {
        s.iter()
            .fold(true, |ok, x| ok & (x.is_finite() & (*x > 0.0)))
    };
    let finite = |s: &[f64]| s.iter().fold(true, |ok, x| ok & x.is_finite());
    let vol = second == "vol";
    let vol_ok = |s: &[f64]| {
        s.iter().fold(true, |ok, x| {
            ok & (x.is_finite() & (*x > 0.0) & (*x <= crate::black76::MAX_VOL))
        })
    };
    let range_ok = |a: usize, b: usize| {
        let second_ok = if vol {
            vol_ok(&inp.vol_or_price[a..b])
        } else {
            finite(&inp.vol_or_price[a..b])
        };
        positive(&inp.forward[a..b])
            & positive(&inp.strike[a..b])
            & positive(&inp.years[a..b])
            & second_ok
            & finite(&inp.rate[a..b])
    };
    let all_ok = if n < PARALLEL_THRESHOLD {
        range_ok(0, n)
    } else {
        (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .all(|c| range_ok(c * CHUNK, n.min((c + 1) * CHUNK)))
    };
    if all_ok {
        return Ok(());
    }
    for i in 0..n {
        for (field, v, must_be_positive) in [
            ("forward", inp.forward[i], true),
            ("strike", inp.strike[i], true),
            ("years", inp.years[i], true),
            (second, inp.vol_or_price[i], second == "vol"),
            ("rate", inp.rate[i], false),
        ] {
            if !v.is_finite() {
                return Err(bad(field, i, "must be a finite number", v));
            }
            if must_be_positive && v <= 0.0 {
                return Err(bad(field, i, "must be > 0", v));
            }
            if vol && field == "vol" && v > crate::black76::MAX_VOL {
                return Err(bad(field, i, crate::black76::VOL_TOO_HIGH, v));
            }
        }
    }
    Ok(())
}

/// Fills one chunk of Greeks (serial kernel shared by the serial and parallel paths).
///
/// `FULL = false` writes only price, delta, gamma and vega (theta, vanna, volga slices are
/// empty and untouched): a compile-time switch, so the reduced loop carries no branch.
///
/// Dispatches at run time to an AVX-512 or AVX2 build of the same loop when the CPU has it;
/// the arithmetic is identical (no FMA contraction), so every path gives the same bits.
#[allow(clippy::too_many_arguments)]
#[inline]
fn greeks_kernel<const FULL: bool>(
    inp: &BatchInputs<'_>,
    start: usize,
    inverse: bool,
    price: &mut [f64],
    delta: &mut [f64],
    gamma: &mut [f64],
    vega: &mut [f64],
    theta: &mut [f64],
    vanna: &mut [f64],
    volga: &mut [f64],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            unsafe {
                greeks_kernel_avx512::<FULL>(
                    inp, start, inverse, price, delta, gamma, vega, theta, vanna, volga,
                )
            };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe {
                greeks_kernel_avx2::<FULL>(
                    inp, start, inverse, price, delta, gamma, vega, theta, vanna, volga,
                )
            };
            return;
        }
    }
    greeks_kernel_generic::<FULL>(
        inp, start, inverse, price, delta, gamma, vega, theta, vanna, volga,
    );
}

#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f")]
fn greeks_kernel_avx512<const FULL: bool>(
    inp: &BatchInputs<'_>,
    start: usize,
    inverse: bool,
    price: &mut [f64],
    delta: &mut [f64],
    gamma: &mut [f64],
    vega: &mut [f64],
    theta: &mut [f64],
    vanna: &mut [f64],
    volga: &mut [f64],
) {
    greeks_kernel_generic::<FULL>(
        inp, start, inverse, price, delta, gamma, vega, theta, vanna, volga,
    );
}

#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2")]
fn greeks_kernel_avx2<const FULL: bool>(
    inp: &BatchInputs<'_>,
    start: usize,
    inverse: bool,
    price: &mut [f64],
    delta: &mut [f64],
    gamma: &mut [f64],
    vega: &mut [f64],
    theta: &mut [f64],
    vanna: &mut [f64],
    volga: &mut [f64],
) {
    greeks_kernel_generic::<FULL>(
        inp, start, inverse, price, delta, gamma, vega, theta, vanna, volga,
    );
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn greeks_kernel_generic<const FULL: bool>(
    inp: &BatchInputs<'_>,
    start: usize,
    inverse: bool,
    price: &mut [f64],
    delta: &mut [f64],
    gamma: &mut [f64],
    vega: &mut [f64],
    theta: &mut [f64],
    vanna: &mut [f64],
    volga: &mut [f64],
) {
    let n = price.len();
    let end = start + n;
    let kind = &inp.kind[start..end];
    let f = &inp.forward[start..end];
    let k = &inp.strike[start..end];
    let t = &inp.years[start..end];
    let v = &inp.vol_or_price[start..end];
    let r = &inp.rate[start..end];
    let (delta, gamma, vega) = (&mut delta[..n], &mut gamma[..n], &mut vega[..n]);
    if FULL {
        let (theta, vanna, volga) = (&mut theta[..n], &mut vanna[..n], &mut volga[..n]);
        for i in 0..n {
            let g = greeks_lane(
                matches!(kind[i], OptionKind::Call),
                f[i],
                k[i],
                t[i],
                v[i],
                r[i],
            );
            price[i] = g.price;
            delta[i] = g.delta;
            gamma[i] = g.gamma;
            vega[i] = g.vega;
            theta[i] = g.theta;
            vanna[i] = g.vanna;
            volga[i] = g.volga;
        }
        if inverse {
            // Second pass, also vectorised: the quotient-rule map of the crate docs.
            for i in 0..n {
                let g = to_inverse(
                    &Greeks {
                        price: price[i],
                        delta: delta[i],
                        gamma: gamma[i],
                        vega: vega[i],
                        theta: theta[i],
                        vanna: vanna[i],
                        volga: volga[i],
                    },
                    f[i],
                );
                price[i] = g.price;
                delta[i] = g.delta;
                gamma[i] = g.gamma;
                vega[i] = g.vega;
                theta[i] = g.theta;
                vanna[i] = g.vanna;
                volga[i] = g.volga;
            }
        }
        return;
    }
    for i in 0..n {
        // Unused Greeks of the lane are dead code here and compiled away.
        let g = greeks_lane(
            matches!(kind[i], OptionKind::Call),
            f[i],
            k[i],
            t[i],
            v[i],
            r[i],
        );
        price[i] = g.price;
        delta[i] = g.delta;
        gamma[i] = g.gamma;
        vega[i] = g.vega;
    }
    if inverse {
        for i in 0..n {
            let g = to_inverse(
                &Greeks {
                    price: price[i],
                    delta: delta[i],
                    gamma: gamma[i],
                    vega: vega[i],
                    ..Greeks::default()
                },
                f[i],
            );
            price[i] = g.price;
            delta[i] = g.delta;
            gamma[i] = g.gamma;
            vega[i] = g.vega;
        }
    }
}

/// Black-76 premium and all Greeks for every option in `inp`, written into `out`.
///
/// `inp.vol_or_price` holds vols. `inverse = true` gives coin-settled values (linear / F, see the
/// crate docs). `out` is resized to the batch length (no allocation when it already fits).
/// Runs in parallel above [`PARALLEL_THRESHOLD`] options. Errors name the first bad element.
pub fn price_greeks_batch(
    inp: &BatchInputs<'_>,
    inverse: bool,
    out: &mut BatchGreeks,
) -> Result<(), PricingError> {
    let n = inp.forward.len();
    validate(inp, n, "vol")?;
    out.resize(n);
    if n < PARALLEL_THRESHOLD {
        greeks_kernel::<true>(
            inp,
            0,
            inverse,
            &mut out.price,
            &mut out.delta,
            &mut out.gamma,
            &mut out.vega,
            &mut out.theta,
            &mut out.vanna,
            &mut out.volga,
        );
        return Ok(());
    }
    (
        out.price.par_chunks_mut(CHUNK),
        out.delta.par_chunks_mut(CHUNK),
        out.gamma.par_chunks_mut(CHUNK),
        out.vega.par_chunks_mut(CHUNK),
        out.theta.par_chunks_mut(CHUNK),
        out.vanna.par_chunks_mut(CHUNK),
        out.volga.par_chunks_mut(CHUNK),
    )
        .into_par_iter()
        .enumerate()
        .for_each(|(c, (p, d, g, v, th, va, vo))| {
            greeks_kernel::<true>(inp, c * CHUNK, inverse, p, d, g, v, th, va, vo)
        });
    Ok(())
}

/// Premium, delta, gamma and vega only (first-order risk), written into `out`.
///
/// Same inputs, validation, `inverse` flag and parallelism as [`price_greeks_batch`], and the
/// same values bit for bit; `out.theta`, `out.vanna` and `out.volga` are cleared to length 0.
/// Skipping the three higher-order outputs saves their arithmetic and 3 of 7 output streams.
pub fn price_delta_gamma_vega_batch(
    inp: &BatchInputs<'_>,
    inverse: bool,
    out: &mut BatchGreeks,
) -> Result<(), PricingError> {
    let n = inp.forward.len();
    validate(inp, n, "vol")?;
    for v in [
        &mut out.price,
        &mut out.delta,
        &mut out.gamma,
        &mut out.vega,
    ] {
        v.resize(n, 0.0);
    }
    for v in [&mut out.theta, &mut out.vanna, &mut out.volga] {
        v.clear();
    }
    if n < PARALLEL_THRESHOLD {
        greeks_kernel::<false>(
            inp,
            0,
            inverse,
            &mut out.price,
            &mut out.delta,
            &mut out.gamma,
            &mut out.vega,
            &mut [],
            &mut [],
            &mut [],
        );
        return Ok(());
    }
    (
        out.price.par_chunks_mut(CHUNK),
        out.delta.par_chunks_mut(CHUNK),
        out.gamma.par_chunks_mut(CHUNK),
        out.vega.par_chunks_mut(CHUNK),
    )
        .into_par_iter()
        .enumerate()
        .for_each(|(c, (p, d, g, v))| {
            greeks_kernel::<false>(
                inp,
                c * CHUNK,
                inverse,
                p,
                d,
                g,
                v,
                &mut [],
                &mut [],
                &mut [],
            )
        });
    Ok(())
}

#[inline]
fn iv_kernel(inp: &BatchInputs<'_>, start: usize, inverse: bool, out: &mut [f64]) {
    let n = out.len();
    let end = start + n;
    let kind = &inp.kind[start..end];
    let f = &inp.forward[start..end];
    let k = &inp.strike[start..end];
    let t = &inp.years[start..end];
    let p = &inp.vol_or_price[start..end];
    let r = &inp.rate[start..end];
    for i in 0..n {
        let df = (-r[i] * t[i]).exp();
        let linear = if inverse { p[i] * f[i] } else { p[i] };
        out[i] = implied_vol_undiscounted(
            matches!(kind[i], OptionKind::Call),
            f[i],
            k[i],
            t[i],
            linear / df,
        )
        .unwrap_or(f64::NAN);
    }
}

/// Implied vols for every premium in `inp` (`vol_or_price` holds premiums), written into `out`.
///
/// Inputs other than the premium are validated up front (errors name index and field). A premium
/// outside its no-arbitrage bounds yields NaN in `out` rather than failing the whole batch; use
/// [`implied_vol_batch_checked`] to get an error naming the first such premium instead.
pub fn implied_vol_batch(
    inp: &BatchInputs<'_>,
    inverse: bool,
    out: &mut [f64],
) -> Result<(), PricingError> {
    let n = inp.forward.len();
    validate(inp, n, "price")?;
    if out.len() != n {
        return Err(PricingError::LengthMismatch {
            field: "out",
            expected: n,
            got: out.len(),
        });
    }
    if n < PARALLEL_THRESHOLD {
        iv_kernel(inp, 0, inverse, out);
    } else {
        out.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(c, o)| iv_kernel(inp, c * CHUNK, inverse, o));
    }
    Ok(())
}

/// As [`implied_vol_batch`], but a premium outside its bounds is an error naming `price[i]`.
pub fn implied_vol_batch_checked(
    inp: &BatchInputs<'_>,
    inverse: bool,
    out: &mut [f64],
) -> Result<(), PricingError> {
    implied_vol_batch(inp, inverse, out)?;
    match out.iter().position(|v| v.is_nan()) {
        None => Ok(()),
        Some(i) => {
            let df = (-inp.rate[i] * inp.years[i]).exp();
            let linear = if inverse {
                inp.vol_or_price[i] * inp.forward[i]
            } else {
                inp.vol_or_price[i]
            };
            let is_call = matches!(inp.kind[i], OptionKind::Call);
            let reason = match implied_vol_undiscounted(
                is_call,
                inp.forward[i],
                inp.strike[i],
                inp.years[i],
                linear / df,
            ) {
                Err(b) => b.reason(),
                Ok(_) => "has no implied volatility (solver did not converge)",
            };
            Err(bad("price", i, reason, inp.vol_or_price[i]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{black76, black76_inverse, implied_vol, implied_vol_inverse};

    /// A deterministic spread of options: both kinds, wings, short and long expiries.
    type Columns = (
        Vec<OptionKind>,
        Vec<f64>,
        Vec<f64>,
        Vec<f64>,
        Vec<f64>,
        Vec<f64>,
    );

    fn sample(n: usize) -> Columns {
        let mut s = 0x2545_f491_4f6c_dd1d_u64;
        let mut u = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut c = (vec![], vec![], vec![], vec![], vec![], vec![]);
        for _ in 0..n {
            c.0.push(if u() < 0.5 {
                OptionKind::Call
            } else {
                OptionKind::Put
            });
            let f = 50.0 + 100.0 * u();
            c.1.push(f);
            c.2.push(f * (0.6 * (u() - 0.5)).exp());
            c.3.push(1.0 / 365.0 + 2.0 * u());
            c.4.push(0.1 + 0.9 * u());
            c.5.push(0.05 * u());
        }
        c
    }

    #[test]
    fn batch_equals_scalar_serial_and_parallel_linear_and_inverse() {
        for n in [257, PARALLEL_THRESHOLD + 3 * CHUNK + 5] {
            let (kind, f, k, t, v, r) = sample(n);
            let inp = BatchInputs {
                kind: &kind,
                forward: &f,
                strike: &k,
                years: &t,
                vol_or_price: &v,
                rate: &r,
            };
            for inverse in [false, true] {
                let mut out = BatchGreeks::default();
                price_greeks_batch(&inp, inverse, &mut out).unwrap();
                assert_eq!(out.len(), n);
                for i in (0..n).step_by(7) {
                    let scalar = if inverse {
                        black76_inverse(kind[i], f[i], k[i], t[i], v[i], r[i]).unwrap()
                    } else {
                        black76(kind[i], f[i], k[i], t[i], v[i], r[i]).unwrap()
                    };
                    assert_eq!(out.get(i).unwrap(), scalar, "i={i} inverse={inverse}");
                }
            }
        }
    }

    #[test]
    fn implied_vol_batch_equals_scalar_and_round_trips() {
        let n = PARALLEL_THRESHOLD + 1234;
        let (kind, f, k, t, v, r) = sample(n);
        for inverse in [false, true] {
            let mut prem = BatchGreeks::default();
            let inp = BatchInputs {
                kind: &kind,
                forward: &f,
                strike: &k,
                years: &t,
                vol_or_price: &v,
                rate: &r,
            };
            price_greeks_batch(&inp, inverse, &mut prem).unwrap();
            let inp = BatchInputs {
                vol_or_price: &prem.price,
                ..inp
            };
            let mut iv = vec![0.0; n];
            implied_vol_batch(&inp, inverse, &mut iv).unwrap();
            let mut round_trips = 0;
            for i in (0..n).step_by(5) {
                let scalar = if inverse {
                    implied_vol_inverse(kind[i], f[i], k[i], t[i], prem.price[i], r[i])
                } else {
                    implied_vol(kind[i], f[i], k[i], t[i], prem.price[i], r[i])
                };
                match scalar {
                    // Deep ITM at short expiry: the time value is below the premium's rounding,
                    // so both paths must refuse it (NaN in the batch, an error in the scalar).
                    Err(_) => assert!(iv[i].is_nan(), "i={i}"),
                    Ok(s) => {
                        assert_eq!(iv[i], s);
                        let sd = v[i] * t[i].sqrt();
                        let d1 = (f[i] / k[i]).ln() / sd + 0.5 * sd;
                        if d1.abs() < 4.0 {
                            assert!((iv[i] - v[i]).abs() < 1e-9, "i={i}: {} vs {}", iv[i], v[i]);
                            round_trips += 1;
                        }
                    }
                }
            }
            assert!(round_trips > n / 10, "{round_trips}");
        }
    }

    #[test]
    fn first_order_batch_equals_the_full_batch() {
        for n in [100, PARALLEL_THRESHOLD + CHUNK + 3] {
            let (kind, f, k, t, v, r) = sample(n);
            let inp = BatchInputs {
                kind: &kind,
                forward: &f,
                strike: &k,
                years: &t,
                vol_or_price: &v,
                rate: &r,
            };
            for inverse in [false, true] {
                let (mut full, mut core) = (BatchGreeks::default(), BatchGreeks::with_len(n));
                price_greeks_batch(&inp, inverse, &mut full).unwrap();
                price_delta_gamma_vega_batch(&inp, inverse, &mut core).unwrap();
                assert_eq!(core.price, full.price);
                assert_eq!(core.delta, full.delta);
                assert_eq!(core.gamma, full.gamma);
                assert_eq!(core.vega, full.vega);
                assert!(core.theta.is_empty() && core.vanna.is_empty() && core.volga.is_empty());
            }
        }
    }

    #[test]
    fn bad_element_error_names_index_and_field() {
        let (kind, f, k, t, mut v, r) = sample(40);
        v[17] = -0.2;
        let inp = BatchInputs {
            kind: &kind,
            forward: &f,
            strike: &k,
            years: &t,
            vol_or_price: &v,
            rate: &r,
        };
        let mut out = BatchGreeks::default();
        let e = price_greeks_batch(&inp, false, &mut out).unwrap_err();
        assert_eq!(e.to_string(), "vol[17]: must be > 0 (got -0.2)");
        let short = &f[..39];
        let e = price_greeks_batch(
            &BatchInputs {
                forward: short,
                ..inp
            },
            false,
            &mut out,
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("kind:"), "{e}");
    }

    #[test]
    fn a_batch_vol_typed_as_a_percentage_is_refused_at_its_index() {
        let (kind, f, k, t, mut v, r) = sample(PARALLEL_THRESHOLD + 10);
        let at = PARALLEL_THRESHOLD + 3;
        v[at] = 55.0;
        let inp = BatchInputs {
            kind: &kind,
            forward: &f,
            strike: &k,
            years: &t,
            vol_or_price: &v,
            rate: &r,
        };
        let mut out = BatchGreeks::default();
        let e = price_greeks_batch(&inp, true, &mut out).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("vol[{at}]: must be at most 5")),
            "{text}"
        );
        assert!(text.contains("0.5 = 50 %"), "{text}");
    }

    #[test]
    fn premium_above_bound_is_nan_or_named_error() {
        let kind = [OptionKind::Call, OptionKind::Call];
        let inp = BatchInputs {
            kind: &kind,
            forward: &[100.0, 100.0],
            strike: &[100.0, 100.0],
            years: &[1.0, 1.0],
            vol_or_price: &[8.0, 150.0],
            rate: &[0.0, 0.0],
        };
        let mut out = [0.0; 2];
        implied_vol_batch(&inp, false, &mut out).unwrap();
        assert!(out[0] > 0.19 && out[0] < 0.21, "{}", out[0]); // ATM: σ ≈ 2.5·8/100 (Brenner–Subrahmanyam)
        assert!(out[1].is_nan());
        let e = implied_vol_batch_checked(&inp, false, &mut out).unwrap_err();
        assert!(e.to_string().starts_with("price[1]: must be below"), "{e}");
    }
}

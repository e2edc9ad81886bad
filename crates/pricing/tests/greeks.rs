//! Black-76 identities checked from independent sources: put–call parity, central finite
//! differences of the premium for every Greek (linear and inverse), inverse = linear / F, the
//! `implied-vol` crate's own Black pricer for deep wings, and proptest monotonicity.

use implied_vol::{DefaultSpecialFn, PriceBlackScholes};
use intermargin_pricing::{black76, black76_inverse, black76_price, Greeks, OptionKind};
use proptest::prelude::*;

/// (F, K, T, σ, r) cases: ATM, wings, short and long expiries, positive and negative rates.
const CASES: [(f64, f64, f64, f64, f64); 8] = [
    (100.0, 100.0, 1.0, 0.2, 0.05),
    (100.0, 130.0, 0.25, 0.6, 0.0),
    (100.0, 70.0, 2.0, 0.35, 0.03),
    (60_000.0, 75_000.0, 30.0 / 365.0, 0.8, 0.0),
    (60_000.0, 45_000.0, 7.0 / 365.0, 1.1, 0.01),
    (3_000.0, 3_050.0, 1.0 / 365.0, 0.5, 0.0),
    (1.0, 1.2, 3.0, 0.9, -0.01),
    (42.0, 40.0, 0.5, 0.2, 0.1),
];

const KINDS: [OptionKind; 2] = [OptionKind::Call, OptionKind::Put];

fn close(name: &str, got: f64, want: f64, scale: f64, rel: f64) {
    assert!(
        (got - want).abs() <= rel * (want.abs() + scale),
        "{name}: analytic {got} vs finite difference {want}"
    );
}

/// Every Greek against central differences of a premium function `v(F, T, σ)`.
fn check_against_fd(g: &Greeks, v: &dyn Fn(f64, f64, f64) -> f64, f: f64, t: f64, s: f64) {
    // Steps scaled to the distribution's width F·σ√T so truncation error stays ~1e-8.
    let (hf, ht, hs) = (1e-4 * f * s * t.sqrt(), 1e-4 * t, 1e-4 * s);
    let p = v(f, t, s);
    let scale = p.abs() + 1e-12;
    // Two implementations (vectorisable kernel vs libm-based pricer): agree to a few ulp.
    close("price", g.price, p, 0.0, 5e-14);
    let delta = (v(f + hf, t, s) - v(f - hf, t, s)) / (2.0 * hf);
    close("delta", g.delta, delta, scale / f, 1e-6);
    let gamma = (v(f + hf, t, s) - 2.0 * p + v(f - hf, t, s)) / (hf * hf);
    close("gamma", g.gamma, gamma, scale / (f * f), 1e-4);
    let vega = (v(f, t, s + hs) - v(f, t, s - hs)) / (2.0 * hs);
    close("vega", g.vega, vega, scale, 1e-6);
    let theta = -(v(f, t + ht, s) - v(f, t - ht, s)) / (2.0 * ht);
    close("theta", g.theta, theta, scale / t, 1e-5);
    let vanna = (v(f + hf, t, s + hs) - v(f + hf, t, s - hs) - v(f - hf, t, s + hs)
        + v(f - hf, t, s - hs))
        / (4.0 * hf * hs);
    close("vanna", g.vanna, vanna, scale / f, 1e-4);
    let volga = (v(f, t, s + hs) - 2.0 * p + v(f, t, s - hs)) / (hs * hs);
    close("volga", g.volga, volga, scale, 1e-4);
}

#[test]
fn linear_greeks_match_central_finite_differences() {
    for &(f, k, t, s, r) in &CASES {
        for kind in KINDS {
            let g = black76(kind, f, k, t, s, r).unwrap();
            let v = |f: f64, t: f64, s: f64| black76_price(kind, f, k, t, s, r);
            check_against_fd(&g, &v, f, t, s);
        }
    }
}

#[test]
fn inverse_greeks_match_central_finite_differences_of_the_coin_premium() {
    for &(f, k, t, s, r) in &CASES {
        for kind in KINDS {
            let g = black76_inverse(kind, f, k, t, s, r).unwrap();
            // The coin premium as a function of the forward: linear premium / F.
            let v = |f: f64, t: f64, s: f64| black76_price(kind, f, k, t, s, r) / f;
            check_against_fd(&g, &v, f, t, s);
        }
    }
}

#[test]
fn inverse_premium_is_linear_premium_over_forward() {
    for &(f, k, t, s, r) in &CASES {
        for kind in KINDS {
            let lin = black76(kind, f, k, t, s, r).unwrap().price;
            let inv = black76_inverse(kind, f, k, t, s, r).unwrap().price;
            assert!(
                (inv - lin / f).abs() <= 1e-15 * (lin / f),
                "{inv} vs {}",
                lin / f
            );
        }
    }
}

#[test]
fn inverse_delta_differs_from_linear_delta_by_the_premium_term() {
    // Deribit BTC call, F=60000, K=65000, 30 days, 70 % vol: Δ_inv = Δ_lin/F − V/F².
    let (f, k, t, s) = (60_000.0, 65_000.0, 30.0 / 365.0, 0.7);
    let lin = black76(OptionKind::Call, f, k, t, s, 0.0).unwrap();
    let inv = black76_inverse(OptionKind::Call, f, k, t, s, 0.0).unwrap();
    let want = lin.delta / f - lin.price / (f * f);
    assert!((inv.delta - want).abs() < 1e-20, "{} vs {want}", inv.delta);
    assert!(inv.delta < lin.delta / f);
}

#[test]
fn put_call_parity_holds() {
    // C − P = D·(F − K), a no-arbitrage identity independent of the model.
    for &(f, k, t, s, r) in &CASES {
        let c = black76(OptionKind::Call, f, k, t, s, r).unwrap();
        let p = black76(OptionKind::Put, f, k, t, s, r).unwrap();
        let df = (-r * t).exp();
        close("parity", c.price - p.price, df * (f - k), f * 1e-3, 1e-12);
        // Delta parity: Δc − Δp = D; gamma and vega are equal.
        close("delta parity", c.delta - p.delta, df, 0.0, 1e-14);
        close("gamma", c.gamma, p.gamma, 0.0, 1e-14);
        close("vega", c.vega, p.vega, 0.0, 1e-14);
    }
}

#[test]
fn premiums_match_an_independent_black_pricer_in_the_wings() {
    // The `implied-vol` crate prices the undiscounted Black formula with Jäckel's own
    // normalised algorithm (asymptotic expansions in the wings): an independent implementation.
    let mut checked = 0;
    for &t in &[1.0 / 365.0, 0.1, 1.0, 3.0] {
        for &s in &[0.1, 0.5, 1.5] {
            let sd = s * f64::sqrt(t);
            for &z in &[-7.0, -5.0, -3.0, -1.0, 0.0, 1.0, 3.0, 5.0, 7.0] {
                let (f, k) = (100.0, 100.0 * (z * sd).exp());
                for kind in KINDS {
                    let ours = black76_price(kind, f, k, t, s, 0.0);
                    let peer = PriceBlackScholes::builder()
                        .forward(f)
                        .strike(k)
                        .volatility(s)
                        .expiry(t)
                        .is_call(matches!(kind, OptionKind::Call))
                        .build()
                        .unwrap()
                        .calculate::<DefaultSpecialFn>();
                    assert!(
                        (ours - peer).abs() <= 1e-12 * peer,
                        "{kind:?} K={k} T={t} σ={s}: {ours} vs {peer}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 4 * 3 * 9 * 2);
}

#[test]
fn hull_put_matches_textbook_and_greeks_match_black_scholes_closed_form() {
    // Hull Example 15.6 (S=42, K=40, r=10 %, σ=20 %, T=0.5): c = 4.76, p = 0.81.
    // Black–Scholes delta of that call is N(d1) with d1 = 0.7693 (Hull's worked value),
    // N(0.7693) = 0.7791; Black-76 delta is w.r.t. F = S·e^{rT}, i.e. N(d1)·e^{−rT}.
    let (s, k, r, vol, t): (f64, f64, f64, f64, f64) = (42.0, 40.0, 0.10, 0.20, 0.5);
    let f = s * (r * t).exp();
    let c = black76(OptionKind::Call, f, k, t, vol, r).unwrap();
    assert!(
        (c.delta / (-r * t).exp() - 0.7791).abs() < 5e-4,
        "{}",
        c.delta
    );
    let p = black76(OptionKind::Put, f, k, t, vol, r).unwrap();
    assert!((p.price - 0.81).abs() < 0.005);
}

proptest! {
    #[test]
    fn premium_increases_with_vol(
        f in 1.0f64..1e5, m in -1.0f64..1.0, t in 0.003f64..3.0,
        s in 0.05f64..2.0, ds in 0.01f64..0.5, call in any::<bool>(),
    ) {
        let kind = if call { OptionKind::Call } else { OptionKind::Put };
        let k = f * m.exp();
        let lo = black76_price(kind, f, k, t, s, 0.01);
        let hi = black76_price(kind, f, k, t, s + ds, 0.01);
        prop_assert!(hi >= lo, "{} < {}", hi, lo);
        // Strictly, where the time value is not lost below the rounding of the premium.
        let df = (-0.01 * t).exp();
        let intrinsic = df * if call { (f - k).max(0.0) } else { (k - f).max(0.0) };
        if lo - intrinsic > 1e-6 * lo {
            prop_assert!(hi > lo);
        }
    }

    #[test]
    fn call_falls_and_put_rises_with_strike(
        f in 1.0f64..1e5, m in -1.0f64..1.0, dm in 0.001f64..0.5,
        t in 0.003f64..3.0, s in 0.05f64..2.0,
    ) {
        let (k1, k2) = (f * m.exp(), f * (m + dm).exp());
        let c1 = black76_price(OptionKind::Call, f, k1, t, s, 0.02);
        let c2 = black76_price(OptionKind::Call, f, k2, t, s, 0.02);
        let p1 = black76_price(OptionKind::Put, f, k1, t, s, 0.02);
        let p2 = black76_price(OptionKind::Put, f, k2, t, s, 0.02);
        prop_assert!(c2 <= c1, "call {} > {}", c2, c1);
        prop_assert!(p2 >= p1, "put {} < {}", p2, p1);
        // And by no more than the discounted strike difference (no-arbitrage slope bound).
        let df = (-0.02 * t).exp();
        prop_assert!(c1 - c2 <= df * (k2 - k1) * (1.0 + 1e-12));
    }

    #[test]
    fn implied_vol_inverts_price(
        m in -1.5f64..1.5, t in 0.003f64..3.0, s in 0.05f64..2.0, call in any::<bool>(),
    ) {
        let kind = if call { OptionKind::Call } else { OptionKind::Put };
        let (f, k) = (100.0, 100.0 * m.exp());
        let p = black76_price(kind, f, k, t, s, 0.0);
        let intrinsic = match kind {
            OptionKind::Call => (f - k).max(0.0),
            OptionKind::Put => (k - f).max(0.0),
        };
        prop_assume!(p > 1e-300 && p - intrinsic > 1e-9 * p);
        let iv = intermargin_pricing::implied_vol(kind, f, k, t, p, 0.0).unwrap();
        let back = black76_price(kind, f, k, t, iv, 0.0);
        prop_assert!(((back - p) / p).abs() <= 1e-10, "{} vs {}", back, p);
    }
}

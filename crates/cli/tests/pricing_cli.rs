//! End-to-end tests of `intermargin price` and `intermargin iv`.
//!
//! Expected values come from Hull, *Options, Futures, and Other Derivatives*:
//! Example 15.6 (S=42, K=40, r=10 %, σ=20 %, T=0.5: c ≈ 4.76, p ≈ 0.81) and the Greek-letters
//! chapter's running example (S=49, K=50, r=5 %, σ=20 %, T=20 weeks = 0.3846 y: price ≈ 2.40,
//! delta 0.522, gamma 0.066, vega 12.1, theta −4.31 per year). Black-76 on F = S·e^{rT} gives the
//! same premium; its F-Greeks convert to Hull's S-Greeks by Δ_S = Δ_F·e^{rT},
//! Γ_S = Γ_F·e^{2rT}, Θ_S = Θ_F − Δ_F·r·F (vega is the same).

use assert_cmd::Command;
use serde_json::Value;

fn cli() -> Command {
    Command::cargo_bin("intermargin").unwrap()
}

fn run_json(args: &[&str]) -> Value {
    let out = cli().args(args).arg("--json").output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("missing {key} in {v}"))
}

/// Runs a command that must fail: returns (exit code, stderr).
fn run_err(args: &[&str]) -> (i32, String) {
    let out = cli().args(args).output().unwrap();
    let code = out.status.code().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).trim_end().to_string();
    assert_ne!(code, 0, "{args:?} should fail");
    assert_ne!(code, 101, "{args:?} panicked: {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "one-line message expected: {stderr:?}"
    );
    (code, stderr)
}

const HULL_GREEKS: [&str; 12] = [
    "price",
    "--forward",
    "",
    "--strike",
    "50",
    "--years",
    "0.384615",
    "--vol",
    "0.2",
    "--rate",
    "0.05",
    "--kind",
];

fn hull_forward() -> f64 {
    49.0 * (0.05_f64 * 0.384615).exp()
}

#[test]
fn price_json_has_every_greek_and_matches_hull() {
    let f = hull_forward().to_string();
    let mut args = HULL_GREEKS.to_vec();
    args[2] = &f;
    args.push("call");
    let v = run_json(&args);
    for key in ["price", "delta", "gamma", "vega", "theta", "vanna", "volga"] {
        assert!(v[key].is_f64(), "{key} missing in {v}");
    }
    let (r, t, fwd) = (0.05_f64, 0.384615_f64, hull_forward());
    let growth = (r * t).exp();
    assert!((num(&v, "price") - 2.40).abs() < 0.005, "{v}");
    assert!((num(&v, "delta") * growth - 0.522).abs() < 5e-4, "{v}");
    assert!(
        (num(&v, "gamma") * growth * growth - 0.066).abs() < 5e-4,
        "{v}"
    );
    assert!((num(&v, "vega") - 12.1).abs() < 0.05, "{v}");
    let theta_s = num(&v, "theta") - num(&v, "delta") * r * fwd;
    assert!((theta_s - -4.31).abs() < 0.01, "theta_S {theta_s}");
}

#[test]
fn price_put_matches_hull_example_15_6() {
    let f = (42.0 * (0.10_f64 * 0.5).exp()).to_string();
    let v = run_json(&[
        "price",
        "--forward",
        &f,
        "--strike",
        "40",
        "--years",
        "0.5",
        "--vol",
        "0.2",
        "--rate",
        "0.1",
        "--kind",
        "put",
    ]);
    assert!((num(&v, "price") - 0.81).abs() < 0.005, "{v}");
    let c = run_json(&[
        "price",
        "--forward",
        &f,
        "--strike",
        "40",
        "--years",
        "0.5",
        "--vol",
        "0.2",
        "--rate",
        "0.1",
        "--kind",
        "call",
    ]);
    assert!((num(&c, "price") - 4.76).abs() < 0.005, "{c}");
}

#[test]
fn inverse_price_is_linear_price_over_forward() {
    let base = [
        "price",
        "--forward",
        "60000",
        "--strike",
        "65000",
        "--years",
        "0.0821917808",
        "--vol",
        "0.7",
        "--kind",
        "call",
    ];
    let lin = run_json(&base);
    let mut args = base.to_vec();
    args.push("--inverse");
    let inv = run_json(&args);
    let want = num(&lin, "price") / 60_000.0;
    assert!((num(&inv, "price") - want).abs() < 1e-15, "{inv}");
    // Inverse delta = Δ_lin/F − V/F² (quotient rule), not Δ_lin/F.
    let want_delta = num(&lin, "delta") / 60_000.0 - num(&lin, "price") / 60_000.0_f64.powi(2);
    assert!((num(&inv, "delta") - want_delta).abs() < 1e-18, "{inv}");
}

#[test]
fn iv_recovers_hull_vol_and_round_trips() {
    // Hull's call premium 4.76 (rounded to cents) implies σ ≈ 20 %.
    let f = (42.0 * (0.10_f64 * 0.5).exp()).to_string();
    let v = run_json(&[
        "iv",
        "--forward",
        &f,
        "--strike",
        "40",
        "--years",
        "0.5",
        "--price",
        "4.76",
        "--rate",
        "0.1",
        "--kind",
        "call",
    ]);
    assert!((num(&v, "iv") - 0.20).abs() < 0.002, "{v}");

    // Exact round trip through both commands, linear and coin-settled.
    for inverse in [false, true] {
        let mut p_args = vec![
            "price",
            "--forward",
            "60000",
            "--strike",
            "48000",
            "--years",
            "0.02",
            "--vol",
            "0.93",
            "--kind",
            "put",
        ];
        if inverse {
            p_args.push("--inverse");
        }
        let p = num(&run_json(&p_args), "price").to_string();
        let mut iv_args = vec![
            "iv",
            "--forward",
            "60000",
            "--strike",
            "48000",
            "--years",
            "0.02",
            "--price",
            &p,
            "--kind",
            "put",
        ];
        if inverse {
            iv_args.push("--inverse");
        }
        let iv = num(&run_json(&iv_args), "iv");
        assert!((iv - 0.93).abs() < 1e-10, "inverse={inverse}: {iv}");
    }
}

#[test]
fn negative_forward_is_rejected_naming_the_flag() {
    let (code, msg) = run_err(&[
        "price",
        "--forward",
        "-100",
        "--strike",
        "100",
        "--years",
        "1",
        "--vol",
        "0.5",
        "--kind",
        "call",
    ]);
    assert_eq!(code, 1);
    assert!(msg.contains("--forward") && msg.contains("> 0"), "{msg}");
}

#[test]
fn nan_vol_is_rejected_naming_the_flag() {
    let (_, msg) = run_err(&[
        "price",
        "--forward",
        "100",
        "--strike",
        "100",
        "--years",
        "1",
        "--vol",
        "NaN",
        "--kind",
        "put",
    ]);
    assert!(msg.contains("--vol") && msg.contains("finite"), "{msg}");
}

#[test]
fn premium_above_no_arbitrage_bound_is_rejected_naming_price() {
    // A call can never be worth more than the (discounted) forward: 100 here.
    let (_, msg) = run_err(&[
        "iv",
        "--forward",
        "100",
        "--strike",
        "90",
        "--years",
        "1",
        "--price",
        "120",
        "--kind",
        "call",
    ]);
    assert!(
        msg.contains("--price") && msg.contains("upper bound"),
        "{msg}"
    );
    let (_, msg) = run_err(&[
        "iv",
        "--forward",
        "100",
        "--strike",
        "90",
        "--years",
        "1",
        "--price",
        "5",
        "--kind",
        "call",
    ]);
    assert!(
        msg.contains("--price") && msg.contains("intrinsic"),
        "{msg}"
    );
}

#[test]
fn missing_flag_is_a_one_line_usage_error_naming_it() {
    let (code, msg) = run_err(&[
        "price",
        "--forward",
        "100",
        "--strike",
        "100",
        "--years",
        "1",
        "--kind",
        "call",
    ]);
    assert_eq!(code, 2);
    assert!(msg.contains("--vol"), "{msg}");
    let (_, msg) = run_err(&[
        "iv",
        "--forward",
        "100",
        "--strike",
        "100",
        "--years",
        "1",
        "--price",
        "1",
        "--kind",
        "straddle",
    ]);
    assert!(msg.contains("--kind"), "{msg}");
}

#[test]
fn a_vol_typed_as_a_percentage_is_refused_with_the_fraction_hint() {
    let (code, msg) = run_err(&[
        "price",
        "--forward",
        "100",
        "--strike",
        "100",
        "--years",
        "1",
        "--vol",
        "50",
        "--kind",
        "call",
    ]);
    assert_eq!(code, 1);
    assert!(msg.contains("--vol") && msg.contains("0.5 = 50 %"), "{msg}");
}

#[test]
fn an_inverse_option_shows_deribits_coin_delta_and_every_unit() {
    // The README's inverse example. Deribit's displayed delta is the Black-Scholes delta minus the
    // premium in coin ("net transaction delta"): N(d1) − C/F, computed here from an independent
    // normal CDF (Abramowitz–Stegun 26.2.17, |error| < 7.5e-8).
    let (f, k, t, v) = (90_000.0_f64, 100_000.0_f64, 0.25_f64, 0.55_f64);
    let n = |x: f64| {
        let z = x.abs();
        let tt = 1.0 / (1.0 + 0.231_641_9 * z);
        let poly = tt
            * (0.319_381_530
                + tt * (-0.356_563_782
                    + tt * (1.781_477_937 + tt * (-1.821_255_978 + tt * 1.330_274_429))));
        let upper = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt() * poly;
        if x >= 0.0 {
            1.0 - upper
        } else {
            upper
        }
    };
    let sd = v * t.sqrt();
    let d1 = (f / k).ln() / sd + 0.5 * sd;
    let call = f * n(d1) - k * n(d1 - sd);
    let want = n(d1) - call / f;
    let out = run_json(&[
        "price",
        "--forward",
        "90000",
        "--strike",
        "100000",
        "--years",
        "0.25",
        "--vol",
        "0.55",
        "--kind",
        "call",
        "--inverse",
    ]);
    let conv = &out["venue_convention"];
    let delta = num(conv, "delta_coin");
    assert!((delta - want).abs() < 1e-6, "{delta} vs {want}");
    assert!((0.33..0.34).contains(&delta), "{delta}");
    assert!((num(conv, "price_quote") - call).abs() < 0.05, "{conv}");
    assert_eq!(out["quote"], "USD");
    assert_eq!(out["coin"], "BTC");
    assert!(out["units"]["delta"]
        .as_str()
        .unwrap()
        .contains("BTC per 1 USD"));
    // The table labels every figure with its unit.
    let text = cli()
        .args([
            "price",
            "--forward",
            "90000",
            "--strike",
            "100000",
            "--years",
            "0.25",
            "--vol",
            "0.55",
            "--kind",
            "call",
            "--inverse",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("vol 55 % a year"), "{text}");
    assert!(text.contains("USD per vol point"), "{text}");
    assert!(text.contains("as Deribit shows it"), "{text}");
}

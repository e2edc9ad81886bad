//! End-to-end cases of the cascade engine, expected values computed by hand.

use intermargin_sim::config::Config;
use intermargin_sim::engine::Engine;
use intermargin_sim::paths::PathModel;
use intermargin_sim::population::{generate, Leg, Pool, PopulationBook, UnifiedRates};

/// Two venues, one asset at 100, zero volatility, no impact unless asked.
fn base(extra: &str) -> String {
    format!(
        r#"
name = "t"
seed = 5
paths = 4
steps = 10
{extra}
[[assets]]
name = "ETH"
price = 100.0
vol = 0.0

[[venues]]
name = "a"
model_venue = "dydx"
im_rate = 0.05
mm_rate = 0.03
insurance_fund = 1000.0
depth = [{{ asset = "ETH", k = 0.0, alpha = 1.0, depth = 1.0 }}]

[[venues]]
name = "b"
model_venue = "hyperliquid"
im_rate = 0.05
mm_rate = 0.03
insurance_fund = 1000.0
depth = [{{ asset = "ETH", k = 0.0, alpha = 1.0, depth = 1.0 }}]

[population]
accounts = 1
notional_median = 10000.0
notional_sigma = 0.0
long_fraction = 1.0
mean_cushion = 0.0
"#
    )
}

fn book(pools: Vec<Pool>) -> PopulationBook {
    PopulationBook {
        total_collateral: pools.iter().map(|p| p.collateral).sum(),
        total_notional: 0.0,
        accounts: pools.len(),
        pools,
    }
}

fn silo(venue: usize, q: f64, collateral: f64) -> Pool {
    Pool {
        account: 0,
        legs: vec![Leg {
            venue,
            asset: 0,
            q,
            p0: 100.0,
        }],
        collateral,
        unified: false,
        charge: Default::default(),
    }
}

#[test]
fn a_halving_in_one_step_leaves_the_hand_computed_bad_debt() {
    // One long of 100 ETH at 100 with IM 5% = 500 of collateral. ETH halves at step 0:
    // equity 500 + 100 × (50 − 100) = −4,500 → closed in full at 50 (no impact) → bad debt 4,500;
    // the venue's fund of 1,000 pays first, 3,500 is socialised.
    let c = Config::from_toml(&base(
        "[[shocks]]\nasset = \"ETH\"\nstart_step = 0\nsteps = 1\ntotal_return = -0.5\n",
    ))
    .unwrap();
    let b = generate(&c).unwrap();
    assert_eq!(b.pools.len(), 1);
    assert!((b.pools[0].collateral - 500.0).abs() < 1e-9);
    let e = Engine::new(&c, &b, PathModel::new(&c, None).unwrap(), false);
    let r = e.run_path(0, None);
    let v = b.pools[0].legs[0].venue;
    assert!((r.bad_debt[v] - 4_500.0).abs() < 0.011, "{r:?}");
    assert!((r.uncovered[v] - 3_500.0).abs() < 0.011, "{r:?}");
    assert_eq!(r.fund_low[v], 0.0);
    assert!((r.liquidated[v] - 5_000.0).abs() < 1e-6);
    assert!((r.min_price[0] - 0.5).abs() < 1e-12);
}

#[test]
fn a_small_drop_liquidates_partially_to_the_closed_form_size() {
    // Long 100 at 100, collateral 500, MM 3%. A −3% step: price 97, equity 500 − 300 = 200,
    // MM = 0.03 × 9,700 = 291 → liquidation. Fraction f with buffer 5%, no fee:
    // f = (1.05 × 291 − 200) / (1.05 × 291) = 105.55 / 305.55; liquidated notional = f × 9,700.
    let c = Config::from_toml(&base(
        "[[shocks]]\nasset = \"ETH\"\nstart_step = 0\nsteps = 1\ntotal_return = -0.03\n",
    ))
    .unwrap();
    let e = Engine::new(
        &c,
        &book(vec![silo(0, 100.0, 500.0)]),
        PathModel::new(&c, None).unwrap(),
        false,
    );
    let r = e.run_path(0, None);
    let f = (1.05 * 291.0 - 200.0) / (1.05 * 291.0);
    assert!((r.liquidated[0] - f * 9_700.0).abs() < 1e-6, "{r:?}");
    assert_eq!(r.total_bad_debt(), 0.0);
}

#[test]
fn impact_on_one_venue_liquidates_an_account_on_the_other() {
    // Venue a: long 1,000 ETH, collateral 5,000 (5%) → liquidation price
    // (100,000 − 5,000) / (1,000 × 0.97) = 97.94. Venue b: long 10 ETH, collateral 40 →
    // (1,000 − 40)/(10 × 0.97) = 98.97 — wait, that is hit first; use collateral 60 on b:
    // (1,000 − 60) / 9.7 = 96.91. A −2.5% step (97.5) hits only a; a's sale of 1,000 ETH
    // through venue a's book (k 10%, depth 100,000, linear) moves ETH by ~9.75% → b is hit in the
    // next round: a cascade across venues.
    let extra = "[[shocks]]\nasset = \"ETH\"\nstart_step = 0\nsteps = 1\ntotal_return = -0.025\n";
    let text = base(extra).replace(
        "depth = [{ asset = \"ETH\", k = 0.0, alpha = 1.0, depth = 1.0 }]\n\n[[venues]]",
        "depth = [{ asset = \"ETH\", k = 0.1, alpha = 1.0, depth = 100000.0 }]\n\n[[venues]]",
    );
    let c = Config::from_toml(&text).unwrap();
    let e = Engine::new(
        &c,
        &book(vec![silo(0, 1_000.0, 5_000.0), silo(1, 10.0, 60.0)]),
        PathModel::new(&c, None).unwrap(),
        false,
    );
    let r = e.run_path(0, None);
    assert!(r.liquidated[0] > 0.0 && r.liquidated[1] > 0.0, "{r:?}");
    assert!(r.cascade_liquidated > 0.0);
    assert_eq!(r.venues_hit, 2);
    // Without the impact, b survives the same step.
    let c0 = Config::from_toml(&base(extra)).unwrap();
    let e0 = Engine::new(
        &c0,
        &book(vec![silo(0, 1_000.0, 5_000.0), silo(1, 10.0, 60.0)]),
        PathModel::new(&c0, None).unwrap(),
        false,
    );
    let r0 = e0.run_path(0, None);
    assert!(r0.liquidated[0] > 0.0 && r0.liquidated[1] == 0.0, "{r0:?}");
}

#[test]
fn an_oracle_failure_liquidates_only_where_it_happens_and_the_fallback_breaker_prevents_it() {
    // Venue b's oracle reads 10% low for 3 steps: a long at 5% IM there (liquidation price
    // (10,000 − 500)/97 = 97.94) is liquidated although ETH is at 100; the same long on venue a is not.
    let extra = "[[oracle_failures]]\nvenue = \"b\"\nasset = \"ETH\"\nstart_step = 2\nsteps = 3\nmode = \"offset\"\noffset = -0.1\n\n[[breakers]]\ntrigger = { kind = \"oracle_divergence\", pct = 0.05 }\naction = { kind = \"oracle_fallback\" }\ncooldown_steps = 5\n";
    let c = Config::from_toml(&base(extra)).unwrap();
    let pools = book(vec![silo(0, 100.0, 500.0), silo(1, 100.0, 500.0)]);
    let model = PathModel::new(&c, None).unwrap();
    let r = Engine::new(&c, &pools, model.clone(), false).run_path(0, None);
    assert_eq!(r.liquidated[0], 0.0);
    assert!(r.liquidated[1] > 0.0, "{r:?}");
    let rb = Engine::new(&c, &pools, model, true).run_path(0, None);
    assert_eq!(rb.total_liquidated(), 0.0, "{rb:?}");
    assert!(rb.breaker_trips >= 1);
}

/// Long 100 ETH on venue a (dYdX's unified parameters), short 100 on b (Hyperliquid's), at 100.
fn basis_legs() -> Vec<Leg> {
    vec![
        Leg {
            venue: 0,
            asset: 0,
            q: 100.0,
            p0: 100.0,
        },
        Leg {
            venue: 1,
            asset: 0,
            q: -100.0,
            p0: 100.0,
        },
    ]
}

/// The unified model's coefficients of the basis trade by hand, from crates/margin/params/unified.toml:
/// horizon 1,800 + 3,600 = 5,400 s (range scale max(1, √(5400/86400)) = 1); funding 0.003 × 5400/28800
/// = 0.0005625 on both venues; ETH daily vol 0.04, range 0.18; maintenance_fraction 0.8; buffer 10 %.
/// dYdX: basis 0.002, concentration 0.04 × √(10,000 / 1e8) = 0.0004 → add-ons 0.0029625.
/// Hyperliquid: basis 0.002, concentration 0.04 × √(10,000 / 1.5e9) → add-ons below.
/// Returns (initial, maintenance) per unit of notional, summed over both legs (net is 0).
fn basis_coefficients_by_hand() -> (f64, f64) {
    let funding = 0.003 * 5400.0 / 28800.0;
    let a = 0.002 + funding + 0.04 * (10_000.0f64 / 1e8).sqrt();
    let b = 0.002 + funding + 0.04 * (10_000.0f64 / 1.5e9).sqrt();
    let im = (0.03 * 1.1 + a) + (0.03 * 1.1 + b);
    let mm = (0.03 + 0.8 * a) + (0.03 + 0.8 * b);
    (im, mm)
}

#[test]
fn the_unified_requirement_keeps_each_venues_floor_by_hand() {
    let c = Config::from_toml(&base("")).unwrap();
    let u = UnifiedRates::new(&c).unwrap();
    let legs = basis_legs();
    let pool = Pool {
        account: 0,
        charge: u.charge(&legs, &[100.0, 100.0]).unwrap(),
        legs,
        collateral: 0.0,
        unified: true,
    };
    let (im, mm) = basis_coefficients_by_hand();
    let r = intermargin_sim::population::Rates::new(&c);
    // Net delta 0: the pooled scan adds nothing; each leg carries its own venue's floor.
    let got_im = pool.requirement(&[100.0, 100.0], 1, &r, true);
    let got_mm = pool.requirement(&[100.0, 100.0], 1, &r, false);
    assert!((got_im - 10_000.0 * im).abs() < 1e-9, "{got_im}");
    assert!((got_mm - 10_000.0 * mm).abs() < 1e-9, "{got_mm}");
    // Never below the venues' own maintenance (3 % of 10,000 on each): 600.
    assert!(got_mm >= 600.0);
    // An unhedged part pays the ETH stress on the net: short 80 instead of 100 at 100 →
    // net 2,000 x 0.18 = 360 initial, 0.8 x 360 = 288 maintenance, on top of the legs' charges.
    let mut legs = basis_legs();
    legs[1].q = -80.0;
    let ch = u.charge(&legs, &[100.0, 100.0]).unwrap();
    let funding = 0.003 * 5400.0 / 28800.0;
    let b8 = 0.002 + funding + 0.04 * (8_000.0f64 / 1.5e9).sqrt();
    let a10 = 0.002 + funding + 0.04 * (10_000.0f64 / 1e8).sqrt();
    let want_mm = 10_000.0 * (0.03 + 0.8 * a10) + 8_000.0 * (0.03 + 0.8 * b8) + 288.0;
    let p = Pool {
        account: 0,
        legs,
        collateral: 0.0,
        unified: true,
        charge: ch,
    };
    let got = p.requirement(&[100.0, 100.0], 1, &r, false);
    assert!((got - want_mm).abs() < 1e-9, "{got} vs {want_mm}");
}

#[test]
fn a_unified_basis_trade_below_its_venues_floors_is_liquidated() {
    // Net delta 0, so the old net-delta rule (3 % × 0 + 0.5 % × 20,000 = 100) let 590 of collateral
    // stand; the venues' own maintenance alone is 600 (each leg 3 % × 10,000), so the sound model
    // liquidates it at the first step with prices unchanged.
    let c = Config::from_toml(&base("")).unwrap();
    let u = UnifiedRates::new(&c).unwrap();
    let legs = basis_legs();
    let pool = Pool {
        account: 0,
        charge: u.charge(&legs, &[100.0, 100.0]).unwrap(),
        legs,
        collateral: 590.0,
        unified: true,
    };
    let model = PathModel::new(&c, None).unwrap();
    let r = Engine::new(&c, &book(vec![pool]), model, false).run_path(0, None);
    assert!(r.total_liquidated() > 0.0, "{r:?}");
}

#[test]
fn a_unified_basis_trade_survives_a_crash_that_liquidates_its_siloed_twin() {
    // Siloed with 5% IM per leg (500 each, 1,000 in all): a −10% step bankrupts the long leg's
    // silo (500 − 1,000 < 0) while the short gains. Unified with its initial requirement
    // (10,000 × im by hand ≈ 716, less than the siloed 1,000): at 90 the maintenance is
    // 9,000 × mm ≈ 581 and equity is unchanged (net 0): no liquidation.
    let extra = "[[shocks]]\nasset = \"ETH\"\nstart_step = 0\nsteps = 1\ntotal_return = -0.1\n";
    let c = Config::from_toml(&base(extra)).unwrap();
    let model = PathModel::new(&c, None).unwrap();
    let siloed = book(vec![silo(0, 100.0, 500.0), silo(1, -100.0, 500.0)]);
    let r = Engine::new(&c, &siloed, model.clone(), false).run_path(0, None);
    assert!((r.bad_debt[0] - 500.0).abs() < 0.011, "{r:?}");
    let (im, mm) = basis_coefficients_by_hand();
    assert!(10_000.0 * im < 1_000.0 && 9_000.0 * mm < 10_000.0 * im);
    let u = UnifiedRates::new(&c).unwrap();
    let legs = basis_legs();
    let unified = book(vec![Pool {
        account: 0,
        charge: u.charge(&legs, &[100.0, 100.0]).unwrap(),
        legs,
        collateral: 10_000.0 * im,
        unified: true,
    }]);
    let ru = Engine::new(&c, &unified, model, false).run_path(0, None);
    assert_eq!(ru.total_liquidated(), 0.0, "{ru:?}");
}

#[test]
fn results_do_not_depend_on_the_number_of_threads() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/bench_config.toml"
    ))
    .unwrap();
    let mut c = Config::from_toml(&text).unwrap();
    c.steps = 200;
    let b = generate(&c).unwrap();
    let e = Engine::new(&c, &b, PathModel::new(&c, None).unwrap(), false);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let two = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let r1 = one.install(|| intermargin_sim::run::run_paths(&e, 40, &|_| {}));
    let r2 = two.install(|| intermargin_sim::run::run_paths(&e, 40, &|_| {}));
    assert_eq!(r1, r2);
    // and different paths differ
    assert_ne!(r1[0].min_price, r1[1].min_price);
}

#[test]
fn config_errors_name_the_key() {
    let e = Config::from_toml(&base("").replace("mm_rate = 0.03", "mm_rate = 0.5"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("venues[0].mm_rate"), "{e}");
    let e = Config::from_toml(&base("").replace("vol = 0.0", "vol = 0.0\nvolatility = 1.0"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("assets[0]") && e.contains("volatility"), "{e}");
    let e = Config::from_toml(
        &base("").replace("notional_median = 10000.0", "notional_median = \"big\""),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("population.notional_median"), "{e}");
    let e = Config::from_toml(&base(
        "[[shocks]]\nasset = \"SOL\"\nstart_step = 0\nsteps = 1\ntotal_return = -0.5\n",
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("shocks[0].asset") && e.contains("SOL"), "{e}");
}

#[test]
fn the_shipped_stress_configs_parse() {
    for f in ["calm", "crash", "oracle-failure"] {
        let p = format!(
            "{}/../../examples/stress/{f}.toml",
            env!("CARGO_MANIFEST_DIR")
        );
        Config::from_toml(&std::fs::read_to_string(&p).unwrap())
            .unwrap_or_else(|e| panic!("{p}: {e}"));
    }
}

#[test]
fn the_throttle_defers_what_it_refuses_to_the_next_step() {
    // One venue's book (venue a): depth 1,000, no impact (k = 0). A liquidation spike of more
    // than 5,000 in a step trips a throttle of 0.5 × depth = 500 of notional per step for 5 steps.
    //
    // Step 0: ETH 100 → 90. A (long 100, collateral 500) has equity 500 − 1,000 = −500: closed in
    // full at 90, 9,000 liquidated, bad debt 500. B (long 20, collateral 300, liquidation price
    // (2,000 − 300) / (20 × 0.97) = 87.63) and C (long 5, collateral 70: (500 − 70) / 4.85 = 88.66)
    // survive 90. Step 1: ETH 90 → 80; the throttle is on (9,000 > 5,000 last step). C is
    // bankrupt (70 − 100 = −30, 400 of notional) and first in line: closed in full, 100 of the
    // budget left. B is bankrupt (300 − 400 = −100, 1,600 of notional): 100 / 1,600 of it is sold,
    // and the rest waits — in later rounds of step 1 too. Steps 2, 3, 4: 500 each (ETH stays at
    // 80), which closes B (100 + 3 × 500 = 1,600). Bad debt 500 + 30 + 100 = 630 either way.
    let extra = "[[shocks]]\nasset = \"ETH\"\nstart_step = 0\nsteps = 1\ntotal_return = -0.1\n\n\
        [[shocks]]\nasset = \"ETH\"\nstart_step = 1\nsteps = 1\ntotal_return = -0.11111111111111116\n\n\
        [[breakers]]\ntrigger = { kind = \"liquidation_spike\", notional = 5000.0 }\n\
        action = { kind = \"throttle_liquidations\", max_depth_fraction = 0.5 }\ncooldown_steps = 5\n";
    let text = base(extra).replace(
        "depth = [{ asset = \"ETH\", k = 0.0, alpha = 1.0, depth = 1.0 }]\n\n[[venues]]",
        "depth = [{ asset = \"ETH\", k = 0.0, alpha = 1.0, depth = 1000.0 }]\n\n[[venues]]",
    );
    let c = Config::from_toml(&text).unwrap();
    let pools = book(vec![
        silo(0, 100.0, 500.0),
        silo(0, 20.0, 300.0),
        silo(0, 5.0, 70.0),
    ]);
    let model = PathModel::new(&c, None).unwrap();
    let per_step = |e: &Engine| {
        let mut tl = Vec::new();
        let r = e.run_path(0, Some(&mut tl));
        (r, tl.iter().map(|p| p.liquidated).collect::<Vec<f64>>())
    };
    let close = |got: &[f64], want: &[f64]| {
        got.len() == want.len() && got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-6)
    };
    let (r0, l0) = per_step(&Engine::new(&c, &pools, model.clone(), false));
    let want0 = [9_000.0, 2_000.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    assert!(close(&l0, &want0), "without breakers: {l0:?}");
    assert!((r0.bad_debt[0] - 630.0).abs() < 0.011, "{r0:?}");
    let (r1, l1) = per_step(&Engine::new(&c, &pools, model, true));
    let want1 = [9_000.0, 500.0, 500.0, 500.0, 500.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    assert!(close(&l1, &want1), "with the throttle: {l1:?}");
    assert!((r1.bad_debt[0] - 630.0).abs() < 0.011, "{r1:?}");
    assert_eq!(r1.breaker_trips, 1);
    assert_eq!(r1.breaker_active_steps, vec![5]);
    // The notional-weighted mean step moves from (0 × 9,000 + 1 × 2,000) / 11,000 to
    // (0 × 9,000 + (1 + 2 + 3 + 4) × 500) / 11,000: the throttle defers, by 3,000 / 11,000 step.
    assert!((r0.liquidation_step_weight - 2_000.0).abs() < 1e-6);
    assert!((r1.liquidation_step_weight - 5_000.0).abs() < 1e-6);
}

#[test]
fn a_depth_entry_names_a_published_book_or_gives_its_numbers_not_both() {
    let with = |entry: &str| {
        base("").replace(
            "depth = [{ asset = \"ETH\", k = 0.0, alpha = 1.0, depth = 1.0 }]\n\n[[venues]]\nname = \"b\"",
            &format!("depth = [{entry}]\n\n[[venues]]\nname = \"b\""),
        )
    };
    // The published Binance BTC book is fitted through its two points (params/depth.toml):
    // k = 1 % at 16.53M, alpha = ln(10) / ln(16.53 / 3.5).
    let text = with("{ asset = \"ETH\", book = \"binance\" }").replace("\"ETH\"", "\"BTC\"");
    let c = Config::from_toml(&text).unwrap();
    let d = &c.venues[0].depth[0];
    assert_eq!((d.k, d.depth), (0.01, 16_530_000.0));
    assert!((d.alpha - 10f64.ln() / (16.53f64 / 3.5).ln()).abs() < 1e-12);
    // Both a book and numbers, or a book the file does not have: the key is named.
    let e = Config::from_toml(
        &with("{ asset = \"BTC\", book = \"binance\", k = 0.01 }").replace("\"ETH\"", "\"BTC\""),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("venues[0].depth[0].book") && e.contains("not both"),
        "{e}"
    );
    let e = Config::from_toml(&with("{ asset = \"ETH\", book = \"nowhere\" }"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("venues[0].depth[0].book") && e.contains("nowhere"),
        "{e}"
    );
}

//! Intrastep wicks (`assets[].wick`, `shocks[].wick`): liquidations are checked at each step's
//! low and high before its close. Expected steps are found by hand from the path's own drawn
//! wicks (`PathState::wick_down` / `wick_up`) against each pool's liquidation price.

use intermargin_sim::config::Config;
use intermargin_sim::engine::Engine;
use intermargin_sim::paths::PathModel;
use intermargin_sim::population::{Leg, Pool, PopulationBook};

fn config(wick: f64, vol: f64) -> Config {
    Config::from_toml(&format!(
        r#"
name = "wicks"
seed = 9
paths = 2
steps = 60

[[assets]]
name = "ETH"
price = 100.0
vol = {vol}
wick = {wick}

[[venues]]
name = "a"
im_rate = 0.05
mm_rate = 0.03
insurance_fund = 1000.0
depth = [{{ asset = "ETH", k = 0.0, alpha = 1.0, depth = 1.0 }}]

[population]
accounts = 1
notional_median = 10000.0
"#
    ))
    .expect("config")
}

/// A siloed pool of `q` ETH entered at 100 whose liquidation price is `thr`:
/// `C + q(P − 100) = 0.03·|q|·P` at `P = thr` ⇒ `C = q·100 − (q − 0.03|q|)·thr`.
fn pool(account: usize, q: f64, thr: f64) -> Pool {
    Pool {
        account,
        legs: vec![Leg {
            venue: 0,
            asset: 0,
            q,
            p0: 100.0,
        }],
        collateral: q * 100.0 - (q - 0.03 * q.abs()) * thr,
        unified: false,
        charge: Default::default(),
    }
}

fn book(pools: Vec<Pool>) -> PopulationBook {
    PopulationBook {
        total_collateral: pools.iter().map(|p| p.collateral).sum(),
        total_notional: 0.0,
        accounts: pools.len(),
        pools,
    }
}

#[test]
fn a_wick_liquidates_at_the_first_step_whose_low_or_high_reaches_the_price() {
    // Closes stay at 100 (no volatility); a long liquidated at 99 and a short at 101.
    let c = config(0.01, 0.0);
    let b = book(vec![pool(0, 100.0, 99.0), pool(1, -100.0, 101.0)]);
    let model = PathModel::new(&c, None).unwrap();
    // By hand: the first step whose drawn low (100·e^−down) is ≤ 99, and whose high ≥ 101.
    let mut st = model.start_path(0);
    let (mut first_low, mut first_high) = (None, None);
    for t in 0..c.steps {
        model.step(&mut st, t);
        if first_low.is_none() && 100.0 * (-st.wick_down[0]).exp() <= 99.0 {
            first_low = Some(t);
        }
        if first_high.is_none() && 100.0 * st.wick_up[0].exp() >= 101.0 {
            first_high = Some(t);
        }
    }
    let (tl, th) = (
        first_low.expect("a 1 % wick within 60 steps"),
        first_high.expect("idem"),
    );
    // Each side alone: its first liquidation is at the step found by hand.
    let first = |pools: Vec<Pool>| {
        let e = Engine::new(&c, &book(pools), PathModel::new(&c, None).unwrap(), false);
        let mut timeline = Vec::new();
        let r = e.run_path(0, Some(&mut timeline));
        let t = timeline.iter().find(|p| p.liquidated > 0.0).map(|p| p.step);
        (t, r)
    };
    let (t_long, r_long) = first(vec![pool(0, 100.0, 99.0)]);
    let (t_short, r_short) = first(vec![pool(1, -100.0, 101.0)]);
    assert_eq!(t_long, Some(tl));
    assert_eq!(t_short, Some(th));
    assert!(r_long.liquidated_long > 0.0);
    assert_eq!(r_short.liquidated_long, 0.0);
    let e = Engine::new(&c, &b, PathModel::new(&c, None).unwrap(), false);
    let r = e.run_path(0, None);
    // The same book without wicks: the closes never reach either price.
    let flat = config(0.0, 0.0);
    let e0 = Engine::new(&flat, &b, PathModel::new(&flat, None).unwrap(), false);
    assert_eq!(e0.run_path(0, None).liquidated[0], 0.0);
    // Deterministic per seed and path.
    assert_eq!(e.run_path(0, None), r);
}

#[test]
fn wicks_draw_from_their_own_stream_and_leave_the_closes_unchanged() {
    let with = config(0.02, 0.8);
    let without = config(0.0, 0.8);
    let (mw, m0) = (
        PathModel::new(&with, None).unwrap(),
        PathModel::new(&without, None).unwrap(),
    );
    for path in 0..3u64 {
        let (mut a, mut b) = (mw.start_path(path), m0.start_path(path));
        for t in 0..with.steps {
            mw.step(&mut a, t);
            m0.step(&mut b, t);
            assert_eq!(a.log_price, b.log_price, "path {path} step {t}");
            assert!(a.wick_down[0] >= 0.0 && a.wick_up[0] >= 0.0);
        }
    }
    // Mean of the drawn wicks ≈ the configured mean (exponential; 3 × 60 × 2 draws, 5 σ).
    let mut st = mw.start_path(7);
    let mut sum = 0.0;
    let n = 600;
    for t in 0..n {
        mw.step(&mut st, t % with.steps);
        sum += st.wick_down[0] + st.wick_up[0];
    }
    let mean = sum / (2 * n) as f64;
    let sigma = 0.02 / ((2 * n) as f64).sqrt();
    assert!((mean - 0.02).abs() < 5.0 * sigma, "{mean}");
}

//! The frontier's confidence intervals: they come from the paths, shrink as paths grow, and the
//! whole frontier is a function of the seed.

use intermargin_sim::config::Config;
use intermargin_sim::{frontier, Frontier};

const CRASH: &str = include_str!("../../../examples/stress/crash.toml");

/// The crash preset cut down to run in seconds: 200 accounts posting exactly their (scaled)
/// requirement, a 4-hour path with the crash compressed into it and frequent jumps (about one
/// per path, so that some paths gap through liquidation prices and some do), two multipliers.
fn small(paths: usize, seed: u64) -> Config {
    let text = CRASH
        .replacen("seed = 2", &format!("seed = {seed}"), 1)
        .replacen("steps = 1440", "steps = 240", 1)
        .replace(
            "start_step = 480\nsteps = 720",
            "start_step = 60\nsteps = 120",
        )
        .replacen("accounts = 1000", "accounts = 200", 1)
        .replacen("mean_cushion = 1.0", "mean_cushion = 0.0", 1)
        .replace("jump_intensity = 20.0", "jump_intensity = 3000.0")
        .replacen(
            "im_multipliers = [0.75, 1.0, 1.5, 2.0, 3.0]\npaths = 500",
            &format!("im_multipliers = [1.0, 2.0]\npaths = {paths}"),
            1,
        );
    Config::from_toml(&text).unwrap()
}

fn run(paths: usize, seed: u64) -> Frontier {
    frontier(&small(paths, seed), None, &|_| {}).unwrap()
}

#[test]
fn intervals_bracket_the_estimates_and_shrink_as_paths_grow() {
    let a = run(40, 2);
    let b = run(360, 2);
    assert_eq!(a.points.len(), 4);
    let mut compared = 0;
    for (p, q) in a.points.iter().zip(&b.points) {
        assert_eq!(
            (p.margining, p.im_multiplier),
            (q.margining, q.im_multiplier)
        );
        assert_eq!((p.paths, q.paths), (40, 360));
        for x in [p, q] {
            assert!(
                x.prob_bad_debt_ci[0] <= x.prob_bad_debt
                    && x.prob_bad_debt <= x.prob_bad_debt_ci[1]
            );
            assert!(
                x.mean_bad_debt_ci[0] <= x.mean_bad_debt
                    && x.mean_bad_debt <= x.mean_bad_debt_ci[1]
            );
        }
        // Wilson's width shrinks like 1/√n: 9x the paths, about a third of the width. It is
        // positive even at an estimate of 0 or 1, so it must shrink at every point.
        let wa = p.prob_bad_debt_ci[1] - p.prob_bad_debt_ci[0];
        let wb = q.prob_bad_debt_ci[1] - q.prob_bad_debt_ci[0];
        assert!(wb < 0.6 * wa, "{wa} -> {wb} at {p:?}");
        // The mean's interval, where the paths show any bad debt at all.
        let ma = p.mean_bad_debt_ci[1] - p.mean_bad_debt_ci[0];
        let mb = q.mean_bad_debt_ci[1] - q.mean_bad_debt_ci[0];
        if ma > 0.0 && mb > 0.0 && p.prob_bad_debt > 0.05 {
            assert!(mb < ma, "{ma} -> {mb} at {p:?}");
            compared += 1;
        }
    }
    assert!(compared >= 1, "no point with bad debt to compare: {a:?}");
}

#[test]
fn the_frontier_is_a_function_of_the_seed() {
    let a = run(30, 7);
    let b = run(30, 7);
    assert_eq!(a, b);
    let c = run(30, 8);
    assert_ne!(a.points, c.points);
}

#[test]
fn the_target_multiplier_is_the_smallest_from_which_the_upper_bound_holds() {
    let f = run(60, 2);
    let t = f.target_prob_bad_debt.unwrap();
    assert_eq!(f.target_multipliers.len(), 2);
    for m in &f.target_multipliers {
        let mut pts: Vec<_> = f
            .points
            .iter()
            .filter(|p| p.margining == m.margining)
            .collect();
        pts.sort_by(|a, b| a.im_multiplier.total_cmp(&b.im_multiplier));
        // Independent re-derivation: the first multiplier from which every upper bound is ≤ t.
        let want = (0..pts.len())
            .find(|&i| pts[i..].iter().all(|p| p.prob_bad_debt_ci[1] <= t))
            .map(|i| pts[i].im_multiplier);
        assert_eq!(m.im_multiplier, want, "{m:?}");
    }
}

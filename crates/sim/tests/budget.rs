//! Sizes that would exhaust memory are refused before anything is allocated, naming the key.

use intermargin_sim::config::{Budget, Config};

const CRASH: &str = include_str!("../../../examples/stress/crash.toml");

fn with(line_from: &str, line_to: &str) -> String {
    assert!(CRASH.contains(line_from), "{line_from} not in crash.toml");
    CRASH.replacen(line_from, line_to, 1)
}

fn key_of(e: intermargin_sim::SimError) -> String {
    match e {
        intermargin_sim::SimError::Config { key, .. } => key,
        other => panic!("expected a config error, got {other}"),
    }
}

#[test]
fn the_attack_sizes_are_refused_by_the_config_itself() {
    // The attack of issue 16: a billion accounts asked for 96 GB in `population::generate`.
    let e = Config::from_toml(&with("accounts = 1000", "accounts = 1000000000")).unwrap_err();
    assert_eq!(key_of(e), "population.accounts");
    // Two billion steps asked `PathModel::new` for a 32 GB shock table.
    let e = Config::from_toml(&with("steps = 1440", "steps = 2000000000")).unwrap_err();
    assert_eq!(key_of(e), "steps");
    let e = Config::from_toml(&with("paths = 2000", "paths = 100000000000")).unwrap_err();
    assert_eq!(key_of(e), "paths");
}

#[test]
fn the_service_budget_accepts_the_presets_and_refuses_fifty_times_more_work() {
    let c = Config::from_toml(CRASH).unwrap();
    let e = c.check_budget(&Budget::service(), false).unwrap();
    // Hand count: 2000 paths × 4 (without breakers, with both, each of the 2 alone) ×
    // (1440 steps × 2 assets × 3 venues + 1000 accounts).
    assert_eq!(c.assets.len(), 2);
    assert_eq!(c.venues.len(), 3);
    assert_eq!(c.breakers.len(), 2);
    assert_eq!(e.work, 2000 * 4 * (1440 * 2 * 3 + 1000));
    c.check_budget(&Budget::service(), true).unwrap();
    // Within every per-key limit, but 100 000 paths × 20 000 steps is far over the work budget.
    let mut big = Config::from_toml(&with("paths = 2000", "paths = 100000")).unwrap();
    big.steps = 20_000;
    let e = big.check_budget(&Budget::service(), false).unwrap_err();
    assert_eq!(key_of(e), "paths");
    big.steps = 1440;
    big.population.accounts = 100_001;
    let e = big.check_budget(&Budget::service(), false).unwrap_err();
    assert_eq!(key_of(e), "population.accounts");
}

#[test]
fn a_shock_window_outside_the_path_is_refused_instead_of_overflowing() {
    let e = Config::from_toml(&with(
        "start_step = 480",
        "start_step = 9223372036854775807",
    ));
    if let Err(e) = e {
        assert!(key_of(e).starts_with("shocks["));
    } else {
        panic!("a start_step past the path must be refused");
    }
}

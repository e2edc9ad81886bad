//! End-to-end simulation tests: example configs, determinism, an unsafe hub the checker
//! catches, and property tests over random fault schedules.

use intermargin_xchain::sim::{random_schedule, run, SimConfig};
use intermargin_xchain::Scheme;
use proptest::prelude::*;

const FAULTY: &str = include_str!("../../../examples/xchain/faulty_three_spokes.toml");
const HONEST: &str = include_str!("../../../examples/xchain/honest_three_spokes.toml");

fn cfg(text: &str) -> SimConfig {
    SimConfig::parse(text, "toml").unwrap()
}

#[test]
fn faulty_example_keeps_the_invariant_and_liveness() {
    let r = run(&cfg(FAULTY), 7).unwrap();
    println!("{}", serde_json::to_string_pretty(&r).unwrap());
    assert_eq!(r.invariant_violations, 0);
    assert_eq!(r.replays_accepted, 0);
    assert!(r.liveness_ok, "{r:?}");
    assert!(r.invariant_checks > 1000);
    assert!(r.credits > 10 && r.orders_accepted > 100, "{r:?}");
    let rej = &r.rejected;
    assert!(
        rej.replay > 0 && rej.bad_signature > 0 && rej.wrong_domain > 0 && rej.no_quorum > 0,
        "{rej:?}"
    );
    assert!(r.collateral_hub < r.collateral_siloed);
}

#[test]
fn honest_example_has_no_rejections_of_valid_messages() {
    let r = run(&cfg(HONEST), 1).unwrap();
    assert_eq!(r.invariant_violations, 0);
    assert!(r.liveness_ok);
    let rej = &r.rejected;
    assert_eq!(
        (rej.bad_signature, rej.wrong_domain, rej.no_quorum),
        (0, 0, 0)
    );
}

#[test]
fn same_seed_same_run() {
    let c = cfg(FAULTY);
    assert_eq!(run(&c, 42).unwrap(), run(&c, 42).unwrap());
    assert_ne!(run(&c, 42).unwrap(), run(&c, 43).unwrap());
}

#[test]
fn a_hub_that_ignores_outstanding_credits_is_caught() {
    let mut c = cfg(HONEST);
    c.testing.ignore_outstanding_credits = true;
    c.hub.collateral = 60_000_000_000; // 60,000 USDC: enough for one credit per spoke, not for all
    c.hub.withdrawal_every_ms = 0;
    let r = run(&c, 3).unwrap();
    assert!(r.invariant_violations > 0, "{r:?}");
}

#[test]
fn config_errors_name_the_key() {
    let bad = FAULTY.replace("threshold = 3", "threshold = 9");
    let e = SimConfig::parse(&bad, "toml").unwrap_err().to_string();
    assert!(e.contains("guardians.threshold"), "{e}");
    let bad = FAULTY.replace("reorg_max_depth = 3", "reorg_max_depth = 8");
    let e = SimConfig::parse(&bad, "toml").unwrap_err().to_string();
    assert!(
        e.contains("faults.reorg_max_depth") && e.contains("spokes[2]"),
        "{e}"
    );
    let bad = FAULTY.replace("stress = 72000.0", "stress = 70000.0");
    let e = SimConfig::parse(&bad, "toml").unwrap_err().to_string();
    assert!(e.contains("prices.BTC.stress"), "{e}");
    let bad = FAULTY.replace("haircut_bps = 200", "haircut_bps = 200\nhaircut = 1");
    let e = SimConfig::parse(&bad, "toml").unwrap_err().to_string();
    assert!(e.contains("haircut"), "{e}");
    let bad = FAULTY.replace("block_time_ms = 1000", "block_time_ms = 0");
    let e = SimConfig::parse(&bad, "toml").unwrap_err().to_string();
    assert!(e.contains("spokes[1].block_time_ms"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// Under random fault schedules (ECDSA signatures): the invariant never breaks, no replay
    /// is accepted, and once faults stop the entitled withdrawal completes.
    #[test]
    fn random_fault_schedules_keep_safety_and_liveness(seed in any::<u64>()) {
        let c = random_schedule(seed, Scheme::Ecdsa, 30_000);
        let r = run(&c, seed).unwrap();
        prop_assert_eq!(r.invariant_violations, 0, "{:?}", r);
        prop_assert_eq!(r.replays_accepted, 0);
        prop_assert!(r.liveness_ok, "{:?}", r);
        prop_assert_eq!(r.hub_max_withdrawable, r.entitled_withdrawal);
    }
}

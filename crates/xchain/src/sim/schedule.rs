//! Random fault schedules for property tests and the soak harness: a small random network
//! (2–4 spokes with random block times, finality, latencies and books) under random fault
//! probabilities, all drawn from one seed.

use std::collections::BTreeMap;

use alloy_primitives::Address;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::config::{
    FaultConfig, GuardianConfig, HubConfig, PriceConfig, SimConfig, SpokeConfig, TestingConfig,
};
use crate::guardian::Scheme;
use crate::unified::{SpokeModel, UnifiedSpokeModel};

/// A random short schedule (fault phase `faults_end_ms`) drawn from `seed`.
pub fn random_schedule(seed: u64, scheme: Scheme, faults_end_ms: u64) -> SimConfig {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_5eed_5eed_5eed);
    let n_spokes = rng.gen_range(2..=4usize);
    let n = rng.gen_range(1..=5usize);
    let threshold = rng.gen_range(1..=n);
    let mut prices = BTreeMap::new();
    prices.insert(
        "BTC".to_string(),
        PriceConfig {
            start: 60_000.0,
            band: 0.2,
            stress: 72_000.0,
        },
    );
    prices.insert(
        "ETH".to_string(),
        PriceConfig {
            start: 3_000.0,
            band: 0.2,
            stress: 3_600.0,
        },
    );
    let mut min_finality = u64::MAX;
    let spokes: Vec<SpokeConfig> = (0..n_spokes)
        .map(|i| {
            let finality = rng.gen_range(2..=8u64);
            min_finality = min_finality.min(finality);
            let mut bias = BTreeMap::new();
            let side = if i % 2 == 0 { 1.0 } else { -1.0 };
            bias.insert("BTC".to_string(), side * rng.gen_range(0.0..1.0));
            if rng.gen_bool(0.5) {
                bias.insert("ETH".to_string(), rng.gen_range(-1.0..1.0));
            }
            let mut contract = [0u8; 20];
            contract[19] = 0xb0 + i as u8;
            SpokeConfig {
                chain_id: 100 + i as u64,
                contract: Address::from(contract),
                block_time_ms: rng.gen_range(250..=2_000),
                finality_blocks: finality,
                report_every_blocks: rng.gen_range(1..=5),
                latency_min_ms: rng.gen_range(0..=1_000),
                latency_mean_ms: rng.gen_range(0..=3_000),
                order_every_ms: rng.gen_range(300..=3_000),
                max_order: rng.gen_range(1_000_000..=100_000_000),
                bias,
            }
        })
        .collect();
    let p = |rng: &mut ChaCha8Rng| {
        if rng.gen_bool(0.7) {
            rng.gen_range(0.0..0.3)
        } else {
            0.0
        }
    };
    let faults = FaultConfig {
        drop: p(&mut rng),
        duplicate: p(&mut rng),
        replay: p(&mut rng),
        withhold: p(&mut rng),
        withhold_ms: rng.gen_range(0..=faults_end_ms),
        misroute: p(&mut rng),
        corrupt: p(&mut rng),
        reorg: p(&mut rng),
        reorg_max_depth: rng.gen_range(0..min_finality),
        compromised_guardians: rng.gen_range(0..threshold),
        forge_every_ms: rng.gen_range(0..=10_000),
        shock_every_ms: rng.gen_range(0..=10_000),
        shock_max: rng.gen_range(0.0..0.2),
        breaker_threshold: rng.gen_range(0.0..0.2),
        breaker_ms: rng.gen_range(0..=20_000),
        release_every_ms: rng.gen_range(0..=20_000),
    };
    let credit_ttl_ms = rng.gen_range(1_000..=(faults_end_ms / 2).max(2_000));
    SimConfig {
        account: Address::repeat_byte(0x11),
        faults_end_ms,
        hub: HubConfig {
            chain_id: 1,
            contract: Address::repeat_byte(0xa1),
            collateral: rng.gen_range(1_000_000_000..=500_000_000_000),
            haircut_bps: rng.gen_range(0..=3_000),
            credit_size: rng.gen_range(1_000_000_000..=50_000_000_000),
            credit_ttl_ms,
            rate_capacity: rng.gen_range(1_000_000_000..=200_000_000_000),
            rate_window_ms: rng.gen_range(1_000..=60_000),
            withdrawal_every_ms: rng.gen_range(0..=10_000),
        },
        guardians: GuardianConfig {
            n,
            threshold,
            scheme,
        },
        model: SpokeModel::Unified(UnifiedSpokeModel {
            size_decimals: 8,
            collateral_decimals: 6,
            max_gross_notional: rng.gen_range(1.0e7..1.0e9),
            horizon_s: Some(rng.gen_range(60.0..7_200.0)),
        }),
        prices,
        spokes,
        faults,
        testing: TestingConfig::default(),
    }
}

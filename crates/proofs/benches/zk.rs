//! Groth16 margin proof for a 32-instrument × 64-scenario rule: prove, verify, proof size.

use criterion::{criterion_group, criterion_main, Criterion};
use intermargin_proofs::zk::rule::{MarginRule, PrivateBook, PrivatePosition, RULE_VERSION};
use intermargin_proofs::{prove, setup, verify};
use rand::SeedableRng;

fn rule() -> MarginRule {
    let (n, m) = (32usize, 64usize);
    MarginRule {
        version: RULE_VERSION,
        description: "bench grid".into(),
        collateral_asset: "USDC".into(),
        quantity_decimals: 0,
        loss_scale: 6,
        quantity_bits: 48,
        collateral_bits: 96,
        threshold: 0,
        instruments: (0..n).map(|i| format!("x:F{i:02}")).collect(),
        scenarios: (0..m).map(|s| format!("s{s:02}")).collect(),
        losses: (0..n)
            .map(|i| {
                (0..m)
                    .map(|s| ((i as i64 * 37 + s as i64 * 11) % 200 - 100) * 10_000)
                    .collect()
            })
            .collect(),
    }
}

fn bench(c: &mut Criterion) {
    let r = rule();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    let keys = setup(&r, &mut rng).expect("setup");
    let book = PrivateBook {
        collateral: 10_000_000,
        salt: "0x01".into(),
        positions: r
            .instruments
            .iter()
            .enumerate()
            .map(|(i, id)| PrivatePosition {
                instrument: id.clone(),
                quantity: if i % 2 == 0 { 25 } else { -13 },
            })
            .collect(),
    };
    let proof = prove(&r, &keys.pk, &book, &mut rng).expect("prove");
    let bytes = hex::decode(&proof.proof[2..]).expect("hex");
    println!(
        "32x64: {} constraints, proof {} bytes",
        intermargin_proofs::zk::groth::constraint_count(&r).expect("count"),
        bytes.len()
    );
    let mut g = c.benchmark_group("zk_32x64");
    g.sample_size(10);
    g.bench_function("prove", |b| {
        b.iter(|| prove(&r, &keys.pk, &book, &mut rng).expect("prove"))
    });
    g.bench_function("verify", |b| {
        b.iter(|| verify(&r, &keys.vk, &proof).expect("verify"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

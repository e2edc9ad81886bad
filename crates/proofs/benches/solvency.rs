//! Merkle-sum tree over 1,000,000 users × 3 assets: build, and build plus every inclusion proof.

use criterion::{criterion_group, criterion_main, Criterion};
use intermargin_proofs::solvency::{Ledger, SumTree};
use rayon::prelude::*;

fn ledger(n: usize) -> Ledger {
    Ledger {
        assets: vec!["BTC".into(), "ETH".into(), "USDC".into()],
        users: (0..n).map(|i| format!("user{i:07}")).collect(),
        balances: (0..n * 3)
            .map(|x| (x as u64).wrapping_mul(2_654_435_761) % 1_000_000_000)
            .collect(),
    }
}

fn bench(c: &mut Criterion) {
    let n = 1_000_000;
    let l = ledger(n);
    let mut g = c.benchmark_group("solvency_1m_users_3_assets");
    g.sample_size(10);
    g.bench_function("build_tree", |b| {
        b.iter(|| SumTree::build(l.clone(), [7u8; 32]).expect("build"))
    });
    g.bench_function("build_tree_and_all_proofs", |b| {
        b.iter(|| {
            let t = SumTree::build(l.clone(), [7u8; 32]).expect("build");
            // Every proof is generated (and its size summed) in memory; the CLI writes them to disk.
            (0..t.len())
                .into_par_iter()
                .map(|u| t.proof(u).path.len())
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Criterion bench of the cascade engine on the benchmark book (paths per second).
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use intermargin_sim::engine::Engine;
use intermargin_sim::paths::PathModel;
use intermargin_sim::population::generate;
use intermargin_sim::Config;

fn bench(c: &mut Criterion) {
    let cfg = Config::from_toml(include_str!("bench_config.toml")).unwrap();
    let book = generate(&cfg).unwrap();
    let engine = Engine::new(&cfg, &book, PathModel::new(&cfg, None).unwrap(), false);
    let mut g = c.benchmark_group("cascade");
    g.throughput(Throughput::Elements(100));
    g.sample_size(10);
    g.bench_function("100_paths_1440_steps_1000_accounts_3_venues", |b| {
        b.iter(|| intermargin_sim::run::run_paths(&engine, 100, &|_| {}))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

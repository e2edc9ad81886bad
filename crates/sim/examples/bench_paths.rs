//! Wall-clock benchmark of the target (100,000 paths × 1,440 steps × 1,000 accounts ×
//! 3 venues): `cargo run --release -p intermargin-sim --example bench_paths -- [PATHS] [THREADS]`.
use std::time::Instant;

use intermargin_sim::engine::Engine;
use intermargin_sim::paths::PathModel;
use intermargin_sim::population::generate;
use intermargin_sim::Config;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let paths: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let threads: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let cfg = match Config::from_toml(include_str!("../benches/bench_config.toml")) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let book = generate(&cfg).expect("population");
    let engine = Engine::new(
        &cfg,
        &book,
        PathModel::new(&cfg, None).expect("model"),
        false,
    );
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    let t0 = Instant::now();
    let r = pool.install(|| intermargin_sim::run::run_paths(&engine, paths, &|_| {}));
    let secs = t0.elapsed().as_secs_f64();
    let liq: f64 = r.iter().map(|x| x.total_liquidated()).sum::<f64>() / paths as f64;
    let bd: f64 = r.iter().map(|x| x.total_bad_debt()).sum::<f64>() / paths as f64;
    println!(
        "paths={paths} threads={} pools={} seconds={secs:.2} paths_per_s={:.0} mean_liquidated={liq:.0} mean_bad_debt={bd:.2}",
        pool.current_num_threads(),
        book.pools.len(),
        paths as f64 / secs
    );
}

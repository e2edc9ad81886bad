//! Batch portfolio margin: 1,000,000 accounts × 20 positions over 2,000 instruments × 63 scenarios.
//!
//! Groups: `matrix_build` (repricing every instrument once), `batch_1m/threads=1|2` (the old unified
//! form: one co-moving grid with a 60 % cross-underlying offset), `unified_1m/threads=1|2` (the
//! current unified model's pooled requirement: each underlying at its own worst plus basis, funding,
//! concentration and depeg), `tick_btc` (one underlying's price tick, only its holders re-margined)
//! and `naive_per_account` (each account repriced on its own through `GridModel`), all with element
//! throughput = accounts so that accounts/s compare directly. `BENCH_ACCOUNTS` lowers the account
//! count on a shared machine (default 1,000,000).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use intermargin_margin::portfolio::{
    BatchBook, BatchEngine, GridModel, GridParams, UnifiedBatch, UnifiedModel, UnifiedParams,
};
use intermargin_model::{
    Instrument, InstrumentKind, Market, OptionKind, Position, Settlement, SizeUnit, Venue,
};

const NOW: i64 = 1_700_000_000_000;
const DAY: i64 = 86_400_000;
const UNDERLYINGS: usize = 10;
const PER_UNDERLYING: usize = 200;
/// Default account count (`BENCH_ACCOUNTS` overrides it).
const ACCOUNTS: usize = 1_000_000;
const LEGS: usize = 20;

fn underlying(u: usize) -> (String, f64) {
    match u {
        0 => ("BTC".into(), 60_000.0),
        1 => ("ETH".into(), 3_000.0),
        _ => (format!("ALT{u}"), 10.0 * u as f64),
    }
}

fn book_instruments() -> Vec<Instrument> {
    let mut v = Vec::with_capacity(UNDERLYINGS * PER_UNDERLYING);
    for u in 0..UNDERLYINGS {
        let (name, px) = underlying(u);
        let mk = |symbol: String, kind: InstrumentKind| Instrument {
            venue: Venue::Deribit,
            symbol,
            kind,
            underlying: name.clone(),
            quote: "USD".into(),
            settle: "USD".into(),
            settlement: Settlement::Linear,
            contract_size: 1.0,
            size_unit: SizeUnit::Base,
        };
        v.push(mk(format!("{name}-PERP"), InstrumentKind::Perpetual));
        for e in 1..=4 {
            v.push(mk(
                format!("{name}-F{e}"),
                InstrumentKind::Future {
                    expiry_ms: NOW + e * 30 * DAY,
                },
            ));
        }
        let mut k = 0;
        while v.len() < (u + 1) * PER_UNDERLYING {
            let expiry = NOW + (7 + 30 * (k % 3) as i64) * DAY;
            let strike = px * (0.5 + 0.01 * (k / 2 % 100) as f64);
            let kind = if k % 2 == 0 {
                OptionKind::Call
            } else {
                OptionKind::Put
            };
            v.push(mk(
                format!("{name}-O{k}"),
                InstrumentKind::Option {
                    expiry_ms: expiry,
                    strike,
                    option_kind: kind,
                },
            ));
            k += 1;
        }
    }
    v
}

fn market(instruments: &[Instrument], btc: f64) -> Market {
    let mut m = Market::new(NOW, "USD");
    for u in 0..UNDERLYINGS {
        let (name, mut px) = underlying(u);
        if u == 0 {
            px = btc;
        }
        m.index_prices.insert(format!("deribit:{name}"), px);
        m.fx.insert(name.clone(), px);
    }
    for i in instruments {
        let px = m.index_prices[&format!("deribit:{}", i.underlying)];
        match i.kind {
            InstrumentKind::Option { .. } => {
                m.mark_ivs.insert(i.id(), 0.6);
            }
            _ => {
                m.mark_prices.insert(i.id(), px);
            }
        }
    }
    m
}

/// 63 scenarios: 21 price points × 3 vol moves, no extended table; the old unified form, where every
/// underlying co-moves and gains offset other underlyings' losses at 60 %.
fn params() -> GridParams {
    let mut p = UnifiedParams::bundled()
        .expect("bundled params")
        .grid(1.0, "USD");
    p.steps_per_side = 10;
    p.extended.moves.clear();
    for u in p.underlyings.values_mut() {
        u.pnl_offset = 0.6;
    }
    p
}

/// The current unified model on the same 63-scenario grid.
fn unified_model() -> UnifiedModel {
    let mut p = UnifiedParams::bundled().expect("bundled params");
    p.scenarios.steps_per_side = 10;
    p.scenarios.extended_moves.clear();
    UnifiedModel::new(p)
}

fn n_accounts() -> usize {
    std::env::var("BENCH_ACCOUNTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| (1..=ACCOUNTS).contains(n))
        .unwrap_or(ACCOUNTS)
}

/// Deterministic accounts: 16 legs on a primary underlying, 4 on a secondary.
fn accounts(n: usize) -> Vec<[(u32, f64); LEGS]> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|_| {
            let u1 = (next() % UNDERLYINGS as u64) as usize;
            let u2 = (next() % UNDERLYINGS as u64) as usize;
            let mut legs = [(0u32, 0.0f64); LEGS];
            for (j, l) in legs.iter_mut().enumerate() {
                let u = if j < 16 { u1 } else { u2 };
                let row = u * PER_UNDERLYING + (next() % PER_UNDERLYING as u64) as usize;
                let size = ((next() % 2001) as f64 - 1000.0) / 100.0;
                *l = (row as u32, if size == 0.0 { 1.0 } else { size });
            }
            legs
        })
        .collect()
}

/// CPU seconds (user + system) this process has used so far, from /proc/self/stat (Linux), so that
/// figures stay comparable when other processes share the cores.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields after the command: state is index 0, utime 11, stime 12; clock ticks are 100 per second.
    (ticks(11) + ticks(12)) / 100.0
}

/// Runs `f` once and prints wall and CPU time with accounts per second.
fn summary(label: &str, accounts: usize, f: impl FnOnce()) {
    let (t, c) = (std::time::Instant::now(), cpu_seconds());
    f();
    let (wall, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
    println!(
        "SUMMARY {label}: {accounts} accounts, wall {wall:.3} s ({:.0} accounts/s), cpu {cpu:.2} s ({:.0} accounts per cpu-second)",
        accounts as f64 / wall,
        accounts as f64 / cpu.max(1e-9)
    );
}

fn bench(c: &mut Criterion) {
    let inst = book_instruments();
    let mkt = market(&inst, 60_000.0);
    let mut g = c.benchmark_group("portfolio");
    g.sample_size(10);
    g.warm_up_time(std::time::Duration::from_secs(1));
    g.measurement_time(std::time::Duration::from_secs(6));
    g.throughput(Throughput::Elements(inst.len() as u64));
    g.bench_function("matrix_build_2000x63", |b| {
        b.iter(|| BatchEngine::new(params(), &mkt, inst.clone()).expect("matrix"))
    });
    let mut engine = BatchEngine::new(params(), &mkt, inst.clone()).expect("matrix");
    assert_eq!(engine.matrix.n_scenarios(), 63);
    let unified = UnifiedBatch::new(&unified_model(), &mkt, inst.clone()).expect("matrix");
    assert_eq!(unified.engine.matrix.n_scenarios(), 63);
    let n = n_accounts();
    let accts = accounts(n);
    let mut book = BatchBook::with_capacity(n, LEGS);
    for a in &accts {
        book.push(&engine.matrix, a).expect("legs");
    }
    book.index(&engine.matrix);
    let mut out = vec![0.0; n];
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("SUMMARY load average at start: {}", load.trim());
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        summary(
            &format!("old unified (co-moving) threads={threads}"),
            n,
            || pool.install(|| engine.margin_all(&book, &mut out)),
        );
        summary(
            &format!("new unified (pooled) threads={threads}"),
            n,
            || pool.install(|| unified.margin_all(&book, &mut out)),
        );
    }
    g.throughput(Throughput::Elements(n as u64));
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        g.bench_with_input(
            BenchmarkId::new(
                "batch_old_unified",
                format!("accounts={n},threads={threads}"),
            ),
            &threads,
            |b, _| b.iter(|| pool.install(|| engine.margin_all(&book, &mut out))),
        );
        g.bench_with_input(
            BenchmarkId::new(
                "batch_new_unified",
                format!("accounts={n},threads={threads}"),
            ),
            &threads,
            |b, _| b.iter(|| pool.install(|| unified.margin_all(&book, &mut out))),
        );
    }
    let holders = book.holders(0).len();
    g.throughput(Throughput::Elements(holders as u64));
    let ticked = market(&inst, 61_000.0);
    g.bench_function(format!("tick_btc_{holders}_holders"), |b| {
        b.iter(|| engine.tick(&ticked, "BTC", &book, &mut out).expect("tick"))
    });
    // Straightforward: each account on its own, repricing its instruments in every scenario.
    let naive_n = 1_000;
    let model = GridModel::new(params());
    let positions: Vec<Vec<Position>> = accts[..naive_n]
        .iter()
        .map(|a| {
            a.iter()
                .map(|&(r, s)| Position::new(inst[r as usize].clone(), s))
                .collect()
        })
        .collect();
    summary("naive per-account (1 thread)", naive_n, || {
        let _: f64 = positions
            .iter()
            .map(|p| {
                model
                    .margin_positions(p, &mkt)
                    .expect("margin")
                    .initial_margin
            })
            .sum();
    });
    g.throughput(Throughput::Elements(naive_n as u64));
    g.bench_function("naive_per_account_1000", |b| {
        b.iter(|| {
            positions
                .iter()
                .map(|p| {
                    model
                        .margin_positions(p, &mkt)
                        .expect("margin")
                        .initial_margin
                })
                .sum::<f64>()
        })
    });
    g.finish();
}

/// One account's full unified explanation: the hedged book of `examples/hedged-book` (4 venues, venue rules,
/// scenario table, liquidation-move search per segregated venue).
fn single(c: &mut Criterion) {
    let text = include_str!("../../../examples/hedged-book/snapshot.json");
    let snap = intermargin_model::Snapshot::from_json(text).expect("snapshot");
    let acc = &snap.portfolio.accounts[0];
    let model = UnifiedModel::new(UnifiedParams::bundled().expect("params"));
    let mut g = c.benchmark_group("unified_single");
    g.sample_size(20);
    g.bench_function("hedged_book_full_explanation", |b| {
        b.iter(|| {
            model
                .margin(acc, &snap.portfolio.assets, &snap.market)
                .expect("margin")
                .initial_margin
        })
    });
    g.finish();
}

criterion_group!(benches, bench, single);
criterion_main!(benches);

//! The live monitor's per-account figures (issue 20): each venue's own rules plus the unified
//! model's figures over shared instrument rows, per account, on the demo book (the hedged
//! three-venue book `serve --demo` copies) and on seeded random books over 7 venues and the hub.
//!
//! Groups: `figures_demo` / `figures_random` (µs per account of [`UnifiedModel::account_figures`],
//! what the monitor runs; `two_pass` = the reference computation it replaces: `venue_margins` on
//! the book as held, then `margin_figures`, which evaluates each venue again on the netted book
//! at the most favourable leverage) and `batch_peer` (the batch engine [`UnifiedBatch`] on the
//! same random books' legs: the pooled scan alone, no venue rules — the peer ratio). Element
//! throughput = accounts.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use intermargin_margin::portfolio::{
    BatchBook, SharedRows, UnifiedBatch, UnifiedModel, UnifiedParams,
};
use intermargin_margin::venue_margins;
use intermargin_model::{Account, Asset, Market};

#[path = "../tests/support/books.rs"]
mod books;
use books::{random_books, universe};

const RANDOM_BOOKS: usize = 2_000;

/// The reference computation the monitor ran before issue 20's venue work: the venues as held,
/// then the unified figures (which evaluate the venues again on the netted book).
fn two_pass(
    model: &UnifiedModel,
    a: &Account,
    assets: &[Asset],
    market: &Market,
    shared: &SharedRows,
) -> f64 {
    let held = venue_margins(a, assets, market)
        .map(|v| v.len())
        .unwrap_or(0) as f64;
    model
        .margin_figures(a, assets, market, Some(shared))
        .map(|f| f.initial_margin)
        .unwrap_or(0.0)
        + held
}

fn one_pass(
    model: &UnifiedModel,
    a: &Account,
    assets: &[Asset],
    market: &Market,
    shared: &SharedRows,
) -> f64 {
    model
        .account_figures(a, assets, market, Some(shared))
        .map(|f| f.unified.initial_margin)
        .unwrap_or(0.0)
}

fn bench(c: &mut Criterion) {
    let model = UnifiedModel::new(UnifiedParams::bundled().unwrap());
    let (assets, market, instruments, demo) = universe();
    let books = random_books(20_2026, RANDOM_BOOKS, &market, &instruments);
    let shared = model
        .shared_rows(
            &market,
            books
                .iter()
                .chain([&demo])
                .flat_map(|b| model.scan_instruments(b, &market.quote)),
        )
        .unwrap();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average at start: {}", load.trim());

    let mut g = c.benchmark_group("figures_demo");
    g.throughput(Throughput::Elements(1));
    g.bench_function("two_pass", |b| {
        b.iter(|| two_pass(&model, &demo, &assets, &market, &shared))
    });
    g.bench_function("account_figures", |b| {
        b.iter(|| one_pass(&model, &demo, &assets, &market, &shared))
    });
    g.finish();

    let mut g = c.benchmark_group("figures_random");
    g.throughput(Throughput::Elements(books.len() as u64));
    g.sample_size(10);
    g.bench_function(BenchmarkId::new("two_pass", books.len()), |b| {
        b.iter(|| {
            books
                .iter()
                .map(|a| two_pass(&model, a, &assets, &market, &shared))
                .sum::<f64>()
        })
    });
    g.bench_function(BenchmarkId::new("account_figures", books.len()), |b| {
        b.iter(|| {
            books
                .iter()
                .map(|a| one_pass(&model, a, &assets, &market, &shared))
                .sum::<f64>()
        })
    });
    g.finish();

    // The batch engine on the same books' positions (instrument index, size): its pooled scan
    // alone, one thread.
    let batch = UnifiedBatch::new(&model, &market, instruments.clone()).unwrap();
    let mut book = BatchBook::with_capacity(books.len(), 6);
    for a in &books {
        let legs: Vec<(u32, f64)> = a
            .positions
            .iter()
            .filter_map(|p| {
                instruments
                    .iter()
                    .position(|i| i == &p.instrument)
                    .map(|k| (k as u32, p.size))
            })
            .collect();
        book.push(&batch.engine.matrix, &legs).unwrap();
    }
    book.index(&batch.engine.matrix);
    let mut out = vec![0.0; books.len()];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let mut g = c.benchmark_group("batch_peer");
    g.throughput(Throughput::Elements(books.len() as u64));
    g.bench_function(BenchmarkId::new("unified_batch", books.len()), |b| {
        b.iter(|| pool.install(|| batch.margin_all(&book, &mut out)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Allocation for 10 venues × 5 assets (goal: < 10 ms), with proportional fees only and with
//! fixed fees and withdrawal minimums (which add the route-selection solves).

use criterion::{criterion_group, criterion_main, Criterion};
use intermargin_allocate::{allocate, AssetSpec, Holding, Options, Problem, Requirement, Route};
use intermargin_model::Amount;

const VENUES: [&str; 10] = [
    "deribit",
    "binance",
    "okx",
    "bybit",
    "dydx",
    "hyperliquid",
    "aave",
    "cme",
    "arbitrum",
    "base",
];

fn book(fixed_fees: bool) -> Problem {
    let assets: Vec<AssetSpec> = [
        ("USDC", 6, 1.0, 0.0),
        ("USDT", 6, 1.0004, 0.01),
        ("BTC", 8, 90_000.0, 0.05),
        ("ETH", 18, 3_000.0, 0.08),
        ("SOL", 9, 150.0, 0.15),
    ]
    .iter()
    .map(|&(s, d, p, h)| AssetSpec {
        symbol: s.into(),
        decimals: d,
        price: p,
        haircut: h,
    })
    .collect();
    let mut holdings = Vec::new();
    let mut requirements = Vec::new();
    let mut routes = Vec::new();
    for (v, venue) in VENUES.iter().enumerate() {
        for (a, s) in assets.iter().enumerate() {
            // Uneven balances: each venue is rich in a different asset.
            let whole = ((v * 7 + a * 3) % 11) as f64 * 50_000.0 / s.price;
            let base = (whole * 10f64.powi(s.decimals as i32)) as i128;
            holdings.push(Holding {
                location: venue.to_string(),
                asset: s.symbol.clone(),
                amount: Amount(base),
            });
            let scale = 10i128.pow(s.decimals);
            let fee_unit = scale / (s.price as i128).max(1);
            for (from, to) in [(*venue, "hub"), ("hub", *venue)] {
                routes.push(Route {
                    from: from.into(),
                    to: to.into(),
                    asset: s.symbol.clone(),
                    fee_fixed: Amount(if fixed_fees { fee_unit } else { 0 }),
                    fee_bps: 2.0 + v as f64,
                    latency_s: Some(60 * (1 + v as u64)),
                    min_amount: Amount(if fixed_fees { 10 * fee_unit } else { 0 }),
                    max_amount: Some(Amount(1_000_000 * fee_unit.max(1))),
                    daily_limit: None,
                    used_today: Amount(0),
                });
            }
        }
        requirements.push(Requirement {
            location: Some(venue.to_string()),
            requirement: 100_000.0 + 60_000.0 * ((v * 5) % 7) as f64,
        });
    }
    Problem {
        assets,
        holdings,
        haircut_overrides: vec![],
        requirements,
        routes,
        options: Options::default(),
    }
}

fn bench(c: &mut Criterion) {
    let proportional = book(false);
    let fixed = book(true);
    // Sanity outside the timed loop: the books do produce plans.
    for p in [&proportional, &fixed] {
        let a = allocate(p).expect("bench book allocates");
        assert!(!a.transfers.is_empty());
    }
    let mut g = c.benchmark_group("allocate_10_venues_5_assets");
    g.bench_function("proportional_fees", |b| b.iter(|| allocate(&proportional)));
    g.bench_function("fixed_fees_and_minimums", |b| b.iter(|| allocate(&fixed)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Seeded random books over 7 venues and the hub, on the demo snapshots' market (shared by the
//! monitor-figures tests and bench; the same shape as `crates/server/tests/monitor_fast_path.rs`).
#![allow(dead_code)]

use intermargin_model::{
    Account, Amount, Asset, Collateral, Instrument, InstrumentKind, Market, Position, Settlement,
    SizeUnit, Snapshot, Venue,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub fn perp(venue: Venue, symbol: &str, underlying: &str, settle: &str) -> Instrument {
    Instrument {
        venue,
        symbol: symbol.into(),
        kind: InstrumentKind::Perpetual,
        underlying: underlying.into(),
        quote: settle.into(),
        settle: settle.into(),
        settlement: Settlement::Linear,
        contract_size: 1.0,
        size_unit: SizeUnit::Base,
    }
}

/// The demo snapshots' accounts, instruments and market, plus linear perpetuals on Bybit,
/// Hyperliquid, dYdX and an ETH contract on Binance (the universe of
/// `crates/server/tests/monitor_fast_path.rs`).
pub fn universe() -> (Vec<Asset>, Market, Vec<Instrument>, Account) {
    let hedged = Snapshot::from_json(include_str!(
        "../../../../examples/hedged-book/snapshot.json"
    ))
    .unwrap();
    let demo =
        Snapshot::from_json(include_str!("../../../../examples/demo/snapshot.json")).unwrap();
    let mut market = hedged.market.clone();
    for (k, v) in &demo.market.mark_prices {
        market.mark_prices.entry(k.clone()).or_insert(*v);
    }
    for (k, v) in &demo.market.mark_ivs {
        market.mark_ivs.entry(k.clone()).or_insert(*v);
    }
    let mut instruments: Vec<Instrument> = Vec::new();
    for s in [&hedged, &demo] {
        for a in &s.portfolio.accounts {
            for p in &a.positions {
                if !instruments.contains(&p.instrument) {
                    instruments.push(p.instrument.clone());
                }
            }
        }
    }
    let btc = market.fx["BTC"];
    market.fx.insert("ETH".into(), 2_650.0);
    market.index_prices.insert("binance:ETH".into(), 2_650.0);
    for (inst, mark) in [
        (perp(Venue::Bybit, "BTCUSDT", "BTC", "USDT"), btc * 1.0002),
        (perp(Venue::Hyperliquid, "BTC", "BTC", "USDC"), btc * 0.9998),
        (perp(Venue::Dydx, "BTC-USD", "BTC", "USDC"), btc * 1.0001),
        (perp(Venue::Binance, "ETHUSDT", "ETH", "USDT"), 2_651.0),
    ] {
        market.mark_prices.insert(inst.id(), mark);
        instruments.push(inst);
    }
    let mut assets = hedged.portfolio.assets.clone();
    assets.push(Asset::new("ETH", 18));
    let demo_account = hedged.portfolio.accounts[0].clone();
    (assets, market, instruments, demo_account)
}

pub fn balance(venue: Venue, asset: &str, units: f64, decimals: u32) -> Collateral {
    Collateral {
        venue,
        asset: asset.into(),
        amount: Amount((units * 10f64.powi(decimals as i32)).round() as i128),
        sub_account: None,
        chain_id: None,
    }
}

/// A random book as in the monitor's equivalence test: 1–6 positions, repeated contracts,
/// leverage settings, isolated pools, balances at the venues, the hub and Aave.
pub fn random_book(
    rng: &mut StdRng,
    id: usize,
    market: &Market,
    instruments: &[Instrument],
) -> Account {
    let mut acc = Account::new(format!("r{id}"));
    for _ in 0..rng.gen_range(1..=6) {
        let inst = instruments[rng.gen_range(0..instruments.len())].clone();
        let mark = market.mark_prices.get(&inst.id()).copied().unwrap_or(1.0);
        let scale = match (&inst.kind, inst.size_unit) {
            (InstrumentKind::Option { .. }, _) => 20.0,
            (_, SizeUnit::Quote) => 5_000.0 / inst.contract_size.max(1.0),
            _ if inst.underlying == "ETH" => 3.5,
            _ => 3.0,
        };
        let size = (rng.gen::<f64>() * 2.0 - 1.0) * scale;
        if size.abs() < 1e-6 {
            continue;
        }
        let mut p = Position::new(inst.clone(), size);
        if !matches!(inst.kind, InstrumentKind::Option { .. }) && rng.gen_bool(0.8) {
            p.entry_price = Some(mark * (1.0 + (rng.gen::<f64>() - 0.5) * 0.1));
        }
        if inst.venue == Venue::Bybit || rng.gen_bool(0.3) {
            p.leverage = Some(rng.gen_range(2..=20) as f64);
        }
        if matches!(inst.venue, Venue::Binance | Venue::Okx | Venue::Bybit) && rng.gen_bool(0.15) {
            p.isolated = true;
            p.isolated_margin = Some(size.abs() * mark * 0.2);
        }
        acc.positions.push(p);
    }
    let mut venues: Vec<Venue> = acc.positions.iter().map(|p| p.instrument.venue).collect();
    venues.dedup();
    for v in venues {
        let (asset, units, dec) = match v {
            Venue::Deribit | Venue::Okx => ("BTC", rng.gen_range(0.5..5.0), 8),
            Venue::Hyperliquid | Venue::Dydx => ("USDC", rng.gen_range(5_000.0..200_000.0), 6),
            _ => ("USDT", rng.gen_range(5_000.0..200_000.0), 6),
        };
        acc.collateral.push(balance(v, asset, units, dec));
    }
    if rng.gen_bool(0.3) {
        acc.collateral.push(balance(
            Venue::Hub,
            "USDC",
            rng.gen_range(0.0..100_000.0),
            6,
        ));
    }
    if rng.gen_bool(0.2) {
        acc.collateral.push(balance(
            Venue::Aave,
            "USDC",
            rng.gen_range(1_000.0..50_000.0),
            6,
        ));
    }
    if rng.gen_bool(0.25) {
        for c in &mut acc.collateral {
            c.amount = Amount(c.amount.0 / 20);
        }
    }
    acc
}

/// `n` random books from `seed`.
pub fn random_books(
    seed: u64,
    n: usize,
    market: &Market,
    instruments: &[Instrument],
) -> Vec<Account> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| random_book(&mut rng, i, market, instruments))
        .collect()
}

//! The live monitor's fast path (figures only, instrument rows shared between accounts) against
//! the per-account path that builds the served report (issue 20 item 1): on many seeded random
//! books over several venues, every figure the fast path keeps — each venue's own pools, the
//! unified requirements, equity, siloed total, saving, state — equals the report's to 1e-9
//! relative, with and without shared rows. One account is also computed by hand.

use intermargin_margin::portfolio::UnifiedModel;
use intermargin_model::{
    Account, Amount, Asset, Collateral, Instrument, InstrumentKind, Market, Position, Settlement,
    SizeUnit, Snapshot, Venue,
};
use intermargin_server::risk::{assess_figures, margin_report, unified_model};
use intermargin_server::state::MarginFigures;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

fn close(got: f64, want: f64, what: &str) {
    let tol = 1e-9 * want.abs().max(1.0);
    assert!(
        (got - want).abs() <= tol,
        "{what}: fast path {got}, per-account path {want}"
    );
}

fn perp(venue: Venue, symbol: &str, underlying: &str, settle: &str) -> Instrument {
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

/// The demo snapshots' instruments and market, plus linear perpetuals on Bybit, Hyperliquid,
/// dYdX and an ETH contract on Binance (marks and FX added to the market).
fn universe() -> (Vec<Asset>, Market, Vec<Instrument>) {
    let hedged = Snapshot::from_json(intermargin_server::DEMO_SNAPSHOT).unwrap();
    let demo = Snapshot::from_json(include_str!("../../../examples/demo/snapshot.json")).unwrap();
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
    (assets, market, instruments)
}

fn balance(venue: Venue, asset: &str, units: f64, decimals: u32) -> Collateral {
    Collateral {
        venue,
        asset: asset.into(),
        amount: Amount((units * 10f64.powi(decimals as i32)).round() as i128),
        sub_account: None,
        chain_id: None,
    }
}

/// A random book: 1–6 positions (a repeated contract now and then, so netting matters), sizes of
/// either sign, entries near the mark or unknown, leverage settings and isolated margin on the
/// venues that have it, balances at the positions' venues, the hub and Aave.
fn random_book(
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
        // Bybit's initial margin needs the position's leverage; elsewhere it is optional.
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
    // A thin account now and then, so that margin calls and liquidations are among the states.
    if rng.gen_bool(0.25) {
        for c in &mut acc.collateral {
            c.amount = Amount(c.amount.0 / 20);
        }
    }
    acc
}

/// The figures of the served report (the per-account path), and its venues' pools.
fn per_account(acc: &Account, assets: &[Asset], market: &Market) -> Option<(MarginFigures, Value)> {
    let r = margin_report(acc, assets, market, None).ok()?;
    let json: Value = serde_json::from_slice(&r.json).unwrap();
    Some((r.margin_figures().unwrap(), json))
}

fn same(fast: &MarginFigures, slow: &MarginFigures, what: &str) {
    assert_eq!(fast.state, slow.state, "{what}: state");
    close(
        fast.figures.equity,
        slow.figures.equity,
        &format!("{what}: equity"),
    );
    close(
        fast.figures.initial,
        slow.figures.initial,
        &format!("{what}: initial"),
    );
    close(
        fast.figures.maintenance,
        slow.figures.maintenance,
        &format!("{what}: maintenance"),
    );
    close(
        fast.headline.siloed_total,
        slow.headline.siloed_total,
        &format!("{what}: siloed_total"),
    );
    close(
        fast.headline.saving,
        slow.headline.saving,
        &format!("{what}: saving"),
    );
}

#[test]
fn fast_path_equals_the_per_account_path_on_random_books() {
    let (assets, market, instruments) = universe();
    let model: &UnifiedModel = unified_model().unwrap();
    let mut rng = StdRng::seed_from_u64(20_2026);
    let books: Vec<Account> = (0..400)
        .map(|i| random_book(&mut rng, i, &market, &instruments))
        .collect();
    let shared = model
        .shared_rows(
            &market,
            books
                .iter()
                .flat_map(|b| model.scan_instruments(b, &market.quote)),
        )
        .unwrap();
    assert!(
        shared.len() >= instruments.len(),
        "every contract is shared"
    );
    let (mut ok, mut states, mut venues) = (
        0,
        std::collections::BTreeSet::new(),
        std::collections::BTreeSet::new(),
    );
    for b in &books {
        let slow = per_account(b, &assets, &market);
        for (label, rows) in [("shared rows", Some(&shared)), ("own rows", None)] {
            let fast = assess_figures(b, &assets, &market, rows);
            let what = format!("{} ({label})", b.id);
            match (&fast, &slow) {
                (Ok((fast_venues, f)), Some((s, json))) => {
                    same(f, s, &what);
                    // Each venue's own pools, as served in the report's `venues`.
                    let served = json["venues"].as_array().unwrap();
                    assert_eq!(fast_venues.len(), served.len(), "{what}: pools");
                    for (v, j) in fast_venues.iter().zip(served) {
                        assert_eq!(v.pool, j["pool"].as_str().unwrap(), "{what}");
                        let q = v.in_quote.as_ref().unwrap();
                        for (name, x) in [
                            ("equity", q.equity),
                            ("initial_margin", q.initial_margin),
                            ("maintenance_margin", q.maintenance_margin),
                        ] {
                            close(x, j["in_quote"][name].as_f64().unwrap(), &format!("{what}: {} {} {name}", v.venue, v.pool));
                        }
                        venues.insert(v.venue);
                    }
                    // The report's own top-level numbers are the same figures.
                    close(f.figures.initial, json["unified"]["initial_margin"].as_f64().unwrap(), &what);
                    close(f.figures.equity, json["equity"].as_f64().unwrap(), &what);
                    close(f.headline.siloed_total, json["siloed_total"].as_f64().unwrap(), &what);
                }
                (Err(_), None) => {}
                _ => panic!(
                    "{what}: the paths disagree on whether the book can be margined: fast {:?}, per-account {}",
                    fast.as_ref().map(|x| x.1),
                    if slow.is_some() { "ok" } else { "error" }
                ),
            }
        }
        if let Some((s, _)) = &slow {
            ok += 1;
            states.insert(format!("{:?}", s.state));
        }
    }
    let errors: std::collections::BTreeSet<String> = books
        .iter()
        .filter_map(|b| margin_report(b, &assets, &market, None).err())
        .map(|e| {
            e.split_once(':')
                .map_or(e.clone(), |x| x.1.to_string())
                .chars()
                .take(120)
                .collect()
        })
        .collect();
    assert!(
        ok >= 300,
        "only {ok} of 400 random books could be margined: {errors:#?}"
    );
    assert!(venues.len() >= 6, "venues covered: {venues:?}");
    assert!(states.len() >= 2, "states covered: {states:?}");
}

#[test]
fn shared_rows_leave_out_what_the_market_cannot_price() {
    let (_, market, mut instruments) = universe();
    let model = unified_model().unwrap();
    let unpriced = perp(Venue::Bybit, "NOPEUSDT", "NOPE", "USDT");
    instruments.push(unpriced.clone());
    let shared = model.shared_rows(&market, instruments.clone()).unwrap();
    assert!(!shared.holds(&unpriced));
    assert!(shared.holds(&instruments[0]));
    // The same id with other terms is not the shared contract.
    let mut other = instruments[0].clone();
    other.contract_size *= 2.0;
    assert!(!shared.holds(&other));
}

/// One Binance BTCUSDT long with USDT at the venue, computed by hand from the venue's bracket
/// (params/binance.toml: 0.4 % below 50,000 USDT) and the unified model's documented composition
/// for a linear perpetual ([`UnifiedModel::linear_leg_rates`] + `|net notional| x
/// delta_one_stress`).
#[test]
fn a_hand_computed_account() {
    let mut market = Market::new(1_724_742_000_000, "USD");
    for (k, v) in [
        ("USD", 1.0),
        ("USDT", 1.0),
        ("USDC", 1.0),
        ("BTC", 60_000.0),
    ] {
        market.fx.insert(k.into(), v);
    }
    market.index_prices.insert("binance:BTC".into(), 60_000.0);
    market
        .mark_prices
        .insert("binance:BTCUSDT".into(), 60_000.0);
    let assets = vec![
        Asset::new("BTC", 8),
        Asset::new("USDT", 6),
        Asset::new("USDC", 6),
    ];
    let mut acc = Account::new("hand");
    let mut p = Position::new(perp(Venue::Binance, "BTCUSDT", "BTC", "USDT"), 0.5);
    p.entry_price = Some(58_000.0);
    acc.positions.push(p);
    acc.collateral
        .push(balance(Venue::Binance, "USDT", 10_000.0, 6));
    let model = unified_model().unwrap();
    let shared = model
        .shared_rows(&market, model.scan_instruments(&acc, "USD"))
        .unwrap();
    let (venues, f) = assess_figures(&acc, &assets, &market, Some(&shared)).unwrap();
    // Binance: wallet 10,000 + 0.5 x (60,000 - 58,000) = 11,000 USDT; maintenance 30,000 x 0.4 %.
    let notional = 0.5 * 60_000.0;
    assert_eq!(venues.len(), 1);
    close(venues[0].equity, 11_000.0, "binance equity");
    close(
        venues[0].maintenance_margin,
        notional * 0.004,
        "binance maintenance",
    );
    close(f.figures.equity, 11_000.0, "equity");
    // Unified: local floor + add-ons per unit of notional, plus the pooled scan of the net BTC
    // delta; the USDT held (10,000) is less than the position's short USDT (30,000): no depeg.
    let rates = model
        .linear_leg_rates(Venue::Binance, "BTC", 0.004, notional)
        .unwrap();
    let stress = model.delta_one_stress("BTC");
    let mf = model.params.maintenance_fraction;
    close(
        f.figures.initial,
        notional * (rates.initial + stress),
        "initial",
    );
    close(
        f.figures.maintenance,
        notional * (rates.maintenance + mf * stress),
        "maintenance",
    );
    assert_eq!(format!("{:?}", f.state), "Healthy");
    // The per-account path agrees.
    let (slow, _) = per_account(&acc, &assets, &market).unwrap();
    same(&f, &slow, "hand");
}

//! The unified cross-venue model, tried as a CCP risk officer would: hand calculations for the cases of
//! issue 14 and property tests on random multi-venue books, each checked against an independent
//! calculator written here (delta-one legs and coin collateral repriced by hand; venues' own
//! maintenance margins from their rule sets).

use intermargin_margin::portfolio::{
    net_account, RequirementKind, UnifiedMargin, UnifiedModel, UnifiedParams, VenueKind,
};
use intermargin_margin::venue_margins;
use intermargin_model::{
    Account, Amount, Asset, Collateral, Instrument, InstrumentKind, Market, OptionKind, Position,
    Settlement, SizeUnit, Venue,
};
use proptest::prelude::*;

const BTC: f64 = 60_000.0;
const ETH: f64 = 3_000.0;
const PARAMS: &str = include_str!("../params/unified.toml");

fn params() -> UnifiedParams {
    UnifiedParams::bundled().unwrap()
}

fn model() -> UnifiedModel {
    UnifiedModel::new(params())
}

fn assets() -> Vec<Asset> {
    vec![
        Asset::new("BTC", 8),
        Asset::new("ETH", 8),
        Asset::new("USDT", 6),
        Asset::new("USDC", 6),
    ]
}

/// Perpetual templates: (venue, symbol, underlying, settle, settlement, contract size, unit).
#[derive(Debug, Clone, Copy)]
struct Tpl {
    venue: Venue,
    symbol: &'static str,
    underlying: &'static str,
    settle: &'static str,
    inverse: bool,
    cs: f64,
}

const TEMPLATES: [Tpl; 6] = [
    Tpl {
        venue: Venue::Binance,
        symbol: "BTCUSDT",
        underlying: "BTC",
        settle: "USDT",
        inverse: false,
        cs: 1.0,
    },
    Tpl {
        venue: Venue::Binance,
        symbol: "ETHUSDT",
        underlying: "ETH",
        settle: "USDT",
        inverse: false,
        cs: 1.0,
    },
    Tpl {
        venue: Venue::Hyperliquid,
        symbol: "BTC",
        underlying: "BTC",
        settle: "USDC",
        inverse: false,
        cs: 1.0,
    },
    Tpl {
        venue: Venue::Hyperliquid,
        symbol: "ETH",
        underlying: "ETH",
        settle: "USDC",
        inverse: false,
        cs: 1.0,
    },
    Tpl {
        venue: Venue::Deribit,
        symbol: "BTC-PERPETUAL",
        underlying: "BTC",
        settle: "BTC",
        inverse: true,
        cs: 10.0,
    },
    Tpl {
        venue: Venue::Deribit,
        symbol: "ETH-PERPETUAL",
        underlying: "ETH",
        settle: "ETH",
        inverse: true,
        cs: 1.0,
    },
];

fn inst(t: &Tpl) -> Instrument {
    Instrument {
        venue: t.venue,
        symbol: t.symbol.into(),
        kind: InstrumentKind::Perpetual,
        underlying: t.underlying.into(),
        quote: if t.inverse {
            "USD".into()
        } else {
            t.settle.into()
        },
        settle: t.settle.into(),
        settlement: if t.inverse {
            Settlement::Inverse
        } else {
            Settlement::Linear
        },
        contract_size: t.cs,
        size_unit: if t.inverse {
            SizeUnit::Quote
        } else {
            SizeUnit::Base
        },
    }
}

fn price(u: &str) -> f64 {
    if u == "BTC" {
        BTC
    } else {
        ETH
    }
}

fn market() -> Market {
    let mut m = Market::new(1_700_000_000_000, "USD");
    for (k, v) in [("BTC", BTC), ("ETH", ETH), ("USDT", 1.0), ("USDC", 1.0)] {
        m.fx.insert(k.into(), v);
    }
    for t in &TEMPLATES {
        m.mark_prices.insert(inst(t).id(), price(t.underlying));
        m.index_prices.insert(
            format!("{}:{}", t.venue.as_str(), t.underlying),
            price(t.underlying),
        );
    }
    // Binance's brackets in the shape GET /fapi/v1/leverageBracket publishes (the adapter stores them in
    // venue_params): the BTCUSDT table of params/binance.toml with each bracket's initial leverage
    // (125x, 100x, 50x, 20x, 10x, 5x, 4x, 3x, 2x, 1x), the same shape for ETHUSDT.
    let rows = [
        (0.0, 50_000.0, 0.004, 0.0, 125.0),
        (50_000.0, 250_000.0, 0.005, 50.0, 100.0),
        (250_000.0, 1_000_000.0, 0.01, 1_300.0, 50.0),
        (1_000_000.0, 10_000_000.0, 0.025, 16_300.0, 20.0),
        (10_000_000.0, 20_000_000.0, 0.05, 266_300.0, 10.0),
        (20_000_000.0, 50_000_000.0, 0.10, 1_266_300.0, 5.0),
        (50_000_000.0, 100_000_000.0, 0.125, 2_516_300.0, 4.0),
        (100_000_000.0, 200_000_000.0, 0.15, 5_016_300.0, 3.0),
        (200_000_000.0, 300_000_000.0, 0.25, 25_016_300.0, 2.0),
        (300_000_000.0, 500_000_000.0, 0.50, 100_016_300.0, 1.0),
    ];
    let brackets: Vec<serde_json::Value> = rows
        .iter()
        .map(|&(floor, cap, mmr, cum, lev)| {
            serde_json::json!({"notional_floor": floor, "notional_cap": cap,
                "maint_margin_ratio": mmr, "cum": cum, "initial_leverage": lev})
        })
        .collect();
    for sym in ["BTCUSDT", "ETHUSDT"] {
        m.venue_params.insert(
            format!("binance:{sym}"),
            serde_json::json!({ "brackets": brackets }),
        );
    }
    m
}

fn coll(venue: Venue, asset: &str, base_units: i128) -> Collateral {
    Collateral {
        venue,
        asset: asset.into(),
        amount: Amount(base_units),
        sub_account: None,
        chain_id: None,
    }
}

fn decimals(asset: &str) -> u32 {
    if asset == "BTC" || asset == "ETH" {
        8
    } else {
        6
    }
}

fn margin(acc: &Account) -> UnifiedMargin {
    model().margin(acc, &assets(), &market()).unwrap()
}

/// Σ of the venues' own maintenance margins (their rule sets), segregated venues only.
fn own_mm(acc: &Account) -> f64 {
    let p = params();
    venue_margins(&net_account(acc).unwrap(), &assets(), &market())
        .unwrap()
        .iter()
        .filter(|v| p.venues[&v.venue].kind == VenueKind::Segregated)
        .map(|v| v.in_quote.as_ref().unwrap().maintenance_margin)
        .sum()
}

// ---------------------------------------------------------------- independent calculator

/// USD loss of the book when each underlying moves by `mv[u]` (delta-one legs and coin collateral).
/// Linear: P&L = size x cs x F x m. Inverse (cs USD per contract): P&L in coin = usd (1/F0 − 1/F1),
/// worth usd x m in USD at F1. Coin balance: units x F x m. Stable balances do not move.
fn hand_loss(acc: &Account, mv: &dyn Fn(&str) -> f64) -> f64 {
    let mut pnl = 0.0;
    for p in &acc.positions {
        let m = mv(&p.instrument.underlying);
        let f = price(&p.instrument.underlying);
        pnl += match p.instrument.settlement {
            Settlement::Linear => p.size * p.instrument.contract_size * f * m,
            Settlement::Inverse => p.size * p.instrument.contract_size * m,
        };
    }
    for c in &acc.collateral {
        if c.asset == "BTC" || c.asset == "ETH" {
            let units = c.amount.0 as f64 / 10f64.powi(decimals(&c.asset) as i32);
            pnl += units * price(&c.asset) * mv(&c.asset);
        }
    }
    -pnl
}

/// Largest hand loss over each underlying moving alone (both ways, standard points and the extended
/// table at its cover) and over opposite pairs, with the ranges of the parameter file.
fn hand_single_and_pair_worst(acc: &Account) -> f64 {
    let p = params();
    let r = |u: &str| p.underlying(u).price_range;
    let steps = p.scenarios.steps_per_side as i32;
    let mut worst: f64 = 0.0;
    for u in ["BTC", "ETH"] {
        for k in -steps..=steps {
            let m = k as f64 / steps as f64 * r(u);
            worst = worst.max(hand_loss(acc, &|x| if x == u { m } else { 0.0 }));
        }
        for &m in &p.scenarios.extended_moves {
            let cover = (p.scenarios.extended_factor * r(u) / m.abs()).min(1.0);
            worst = worst.max(cover * hand_loss(acc, &|x| if x == u { m } else { 0.0 }));
        }
    }
    for k in 1..=steps {
        let f = k as f64 / steps as f64;
        for (up, down) in [("BTC", "ETH"), ("ETH", "BTC")] {
            worst = worst.max(hand_loss(acc, &|x| {
                if x == up {
                    f * r(up)
                } else if x == down {
                    -f * r(down)
                } else {
                    0.0
                }
            }));
        }
    }
    worst
}

// ---------------------------------------------------------------- cases of issue 14

/// Long 300 BTC perpetual on Deribit, short 300 BTCUSDT on Binance, 1.8M USDC on Aave, BTC 60,000;
/// 20 BTC held on Deribit, nothing on Binance.
fn basis_trade() -> Account {
    let mut acc = Account::new("basis");
    acc.positions
        .push(Position::new(inst(&TEMPLATES[4]), 300.0 * BTC / 10.0));
    acc.positions
        .push(Position::new(inst(&TEMPLATES[0]), -300.0));
    acc.collateral
        .push(coll(Venue::Aave, "USDC", 1_800_000 * 1_000_000));
    acc.collateral
        .push(coll(Venue::Deribit, "BTC", 20 * 100_000_000));
    acc
}

#[test]
fn basis_trade_holds_each_venues_own_maintenance_margin_locally() {
    let acc = basis_trade();
    let r = margin(&acc);
    let p = params();
    let own = venue_margins(&acc, &assets(), &market()).unwrap();
    let mm = |v: Venue| -> f64 {
        own.iter()
            .filter(|x| x.venue == v)
            .map(|x| x.in_quote.as_ref().unwrap().maintenance_margin)
            .sum()
    };
    let (deribit, binance) = (mm(Venue::Deribit), mm(Venue::Binance));
    assert!(deribit > 0.0 && binance > 0.0);
    for (v, own) in [(Venue::Deribit, deribit), (Venue::Binance, binance)] {
        let row = r.venues.iter().find(|x| x.venue == v).unwrap();
        // Local floor = own MM x (1 + buffer), held at the venue: never a fraction.
        let want = own * (1.0 + p.venues[&v].buffer);
        assert!(
            (row.local_minimum - want).abs() < 1e-6 * want,
            "{v}: {} vs {want}",
            row.local_minimum
        );
        assert_eq!(row.kind, VenueKind::Segregated);
    }
    assert!(r.initial_margin >= deribit + binance);
    // The perpetuals cancel (BTC +m gains 18M·m on Deribit, loses 18M·m on Binance); what is left is the
    // 20 BTC on Deribit falling the BTC range: 20 x 60,000 x 16 % = 192,000.
    let scan = r
        .explain
        .components
        .iter()
        .find(|c| c.name == "scenario_loss")
        .unwrap()
        .value;
    assert!((scan - 192_000.0).abs() < 1e-3, "scan {scan}");
    // Depeg by hand: USDC 1.8M x 13 %; the short BTCUSDT is long USDT for 18M x 5 %.
    let depeg = r
        .explain
        .components
        .iter()
        .find(|c| c.name == "depeg")
        .unwrap()
        .value;
    let want =
        1_800_000.0 * p.stablecoins["USDC"].depeg + 18_000_000.0 * p.stablecoins["USDT"].depeg;
    assert!(
        (depeg - want).abs() < 1e-6 * want,
        "depeg {depeg} vs {want}"
    );
    // Binance holds nothing: it liquidates first, at once; Deribit only after a fall.
    assert_eq!(r.liquidates_first, Some(Venue::Binance));
    let b = r.venues.iter().find(|x| x.venue == Venue::Binance).unwrap();
    assert_eq!(b.liquidation_move, Some(0.0));
    assert!(b.floor_shortfall > 0.0);
    let d = r.venues.iter().find(|x| x.venue == Venue::Deribit).unwrap();
    let dm = d.liquidation_move.unwrap();
    assert!(dm < 0.0, "Deribit liquidates on a fall: {dm}");
    // Aave: a deposit with no debt requires nothing siloed.
    let a = r.venues.iter().find(|x| x.venue == Venue::Aave).unwrap();
    assert_eq!(a.siloed_initial_margin, 0.0);
    assert!(r.saving >= -1e-6, "saving {}", r.saving);
}

#[test]
fn btc_long_eth_short_gets_no_cross_underlying_credit() {
    // Long 6M USD of BTC, short 6M USD of ETH on Binance. BTC falling its range alone loses
    // 6M x 16 % = 960,000; ETH rising alone loses 6M x 18 % = 1,080,000. With no published
    // inter-commodity credit, the scan is each at its own worst: 2,040,000.
    let mut acc = Account::new("pair");
    acc.positions
        .push(Position::new(inst(&TEMPLATES[0]), 6_000_000.0 / BTC));
    acc.positions
        .push(Position::new(inst(&TEMPLATES[1]), -6_000_000.0 / ETH));
    let r = margin(&acc);
    let scan = r
        .explain
        .components
        .iter()
        .find(|c| c.name == "scenario_loss")
        .unwrap()
        .value;
    assert!((scan - 2_040_000.0).abs() < 1e-3, "scan {scan}");
    assert!(r.initial_margin >= 2_040_000.0 + own_mm(&acc));
    let listed = |name: &str| {
        r.explain
            .scenarios
            .iter()
            .filter(|s| s.scenario.starts_with(name))
            .map(|s| s.loss)
            .fold(f64::NEG_INFINITY, f64::max)
    };
    assert!((listed("BTC alone") - 960_000.0).abs() < 1e-3);
    assert!((listed("ETH alone") - 1_080_000.0).abs() < 1e-3);
    let f = r
        .explain
        .factors
        .iter()
        .find(|f| f.factor == "underlying:ETH")
        .unwrap();
    assert!((f.loss - 1_080_000.0).abs() < 1e-3);
}

fn call(venue: Venue) -> Instrument {
    Instrument {
        venue,
        symbol: "BTC-27DEC30-60000-C".into(),
        kind: InstrumentKind::Option {
            expiry_ms: 1_700_000_000_000 + 90 * 86_400_000,
            strike: 60_000.0,
            option_kind: OptionKind::Call,
        },
        underlying: "BTC".into(),
        quote: "USD".into(),
        settle: "BTC".into(),
        settlement: Settlement::Inverse,
        contract_size: 1.0,
        size_unit: SizeUnit::Base,
    }
}

#[test]
fn long_and_short_of_the_same_option_cost_nothing_beyond_their_collateral() {
    let c = call(Venue::Deribit);
    let mut m = market();
    m.mark_ivs.insert(c.id(), 0.6);
    m.mark_prices.insert(c.id(), 0.08);
    let mut both = Account::new("x");
    both.positions.push(Position::new(c.clone(), 5.0));
    both.positions.push(Position::new(c, -5.0));
    let r = model().margin(&both, &assets(), &m).unwrap();
    assert_eq!(r.initial_margin, 0.0, "{:?}", r.explain.components);
    assert_eq!(r.siloed_total, 0.0);
    // With 1 BTC of collateral the pair adds nothing to the collateral's own figure.
    let mut with = both.clone();
    with.collateral
        .push(coll(Venue::Deribit, "BTC", 100_000_000));
    let mut alone = Account::new("x");
    alone
        .collateral
        .push(coll(Venue::Deribit, "BTC", 100_000_000));
    let a = model().margin(&with, &assets(), &m).unwrap();
    let b = model().margin(&alone, &assets(), &m).unwrap();
    assert!((a.initial_margin - b.initial_margin).abs() < 1e-9);
}

#[test]
fn size_costs_superlinearly_through_the_concentration_charge() {
    // A short straddle of 20 BTC and of 200,000 BTC on Deribit: 10,000x the size costs more than
    // 10,000x the requirement (square-root impact: the charge grows as size^1.5).
    let mut m = market();
    let c = call(Venue::Deribit);
    let mut put = call(Venue::Deribit);
    put.symbol = "BTC-27DEC30-60000-P".into();
    put.kind = InstrumentKind::Option {
        expiry_ms: 1_700_000_000_000 + 90 * 86_400_000,
        strike: 60_000.0,
        option_kind: OptionKind::Put,
    };
    for i in [&c, &put] {
        m.mark_ivs.insert(i.id(), 0.6);
        m.mark_prices.insert(i.id(), 0.08);
    }
    let book = |n: f64| {
        let mut a = Account::new("s");
        a.positions.push(Position::new(c.clone(), -n));
        a.positions.push(Position::new(put.clone(), -n));
        a
    };
    let small = model().margin(&book(20.0), &assets(), &m).unwrap();
    let big = model().margin(&book(200_000.0), &assets(), &m).unwrap();
    assert!(
        big.initial_margin > 10_000.0 * small.initial_margin,
        "{} vs 10,000 x {}",
        big.initial_margin,
        small.initial_margin
    );
    // The charge by hand: y x daily vol x G x sqrt(G / depth), G = 2 x n x 60,000 (gross underlying).
    let p = params();
    let g = 2.0 * 200_000.0 * BTC;
    let want = p.liquidity.y
        * p.underlying("BTC").daily_vol
        * g
        * (g / p.venues[&Venue::Deribit].depth["BTC"]).sqrt();
    let got = big
        .explain
        .components
        .iter()
        .find(|c| c.name == "concentration")
        .unwrap()
        .value;
    assert!((got - want).abs() < 1e-6 * want, "{got} vs {want}");
}

#[test]
fn the_hub_is_a_credit_venue_and_credit_lines_count_as_held_collateral() {
    let p = params();
    assert_eq!(p.venues[&Venue::Hub].kind, VenueKind::Credit);
    for v in [
        Venue::Deribit,
        Venue::Binance,
        Venue::Okx,
        Venue::Bybit,
        Venue::Dydx,
        Venue::Hyperliquid,
        Venue::Aave,
    ] {
        assert_eq!(p.venues[&v].kind, VenueKind::Segregated, "{v}");
    }
    let mut acc = Account::new("c");
    acc.positions.push(Position::new(inst(&TEMPLATES[0]), -1.0));
    acc.collateral
        .push(coll(Venue::Hub, "USDC", 100_000 * 1_000_000));
    let credit = intermargin_margin::portfolio::CreditLine {
        venue: Venue::Binance,
        asset: "USDC".into(),
        amount: Amount(50_000 * 1_000_000),
    };
    let r = model()
        .margin_with_credits(&acc, &assets(), &market(), &[credit])
        .unwrap();
    let b = r.venues.iter().find(|x| x.venue == Venue::Binance).unwrap();
    assert!((b.credit - 50_000.0).abs() < 1e-9);
    assert!((b.held - 50_000.0).abs() < 1e-9);
    assert_eq!(b.floor_shortfall, 0.0);
    // The allocator's view: floors at the venues, the pooled requirement at the hub.
    let (venues, pooled) = r.location_requirements(RequirementKind::Initial, true);
    assert!(venues.iter().all(|(v, _)| v != "hub"));
    assert!((pooled - r.pooled_requirement).abs() < 1e-9);
    let floors: f64 = venues.iter().map(|(_, x)| x).sum();
    assert!((floors + pooled - r.initial_margin).abs() < 1e-6);
}

#[test]
fn bad_parameters_name_the_file_and_the_field() {
    let file = "params/unified.toml";
    let no_kind = PARAMS.replacen("[venues.okx]\nkind = \"segregated\"\n", "[venues.okx]\n", 1);
    assert_ne!(no_kind, PARAMS);
    let e = UnifiedParams::from_toml(&no_kind, file)
        .unwrap_err()
        .to_string();
    assert!(e.contains(file) && e.contains("venues.okx.kind"), "{e}");
    let no_depth = PARAMS.replacen(
        "depth = { BTC = 1.5e10, ETH = 8.0e9, \"*\" = 5.0e8 }",
        "depth = { BTC = 1.5e10, ETH = 8.0e9 }",
        1,
    );
    assert_ne!(no_depth, PARAMS);
    let e = UnifiedParams::from_toml(&no_depth, file)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(file) && e.contains("venues.binance.depth"),
        "{e}"
    );
    let no_venue = PARAMS.replace("[venues.bybit]", "[not_a_venue]");
    let e = UnifiedParams::from_toml(&no_venue, file)
        .unwrap_err()
        .to_string();
    assert!(e.contains(file), "{e}");
}

// ---------------------------------------------------------------- properties on random books

fn book() -> impl Strategy<Value = Account> {
    let pos = (0..TEMPLATES.len(), -50i32..=50).prop_filter("non-zero", |(_, s)| *s != 0);
    let col = (
        prop::sample::select(vec![
            Venue::Binance,
            Venue::Hyperliquid,
            Venue::Deribit,
            Venue::Hub,
        ]),
        prop::sample::select(vec!["BTC", "ETH", "USDT", "USDC"]),
        1i64..1_000,
    );
    (
        prop::collection::vec(pos, 0..6),
        prop::collection::vec(col, 0..4),
    )
        .prop_map(|(ps, cs)| {
            let mut a = Account::new("p");
            for (t, s) in ps {
                let tpl = &TEMPLATES[t];
                // Sizes: linear in coins (0.1 .. 5 BTC / 1 .. 50 ETH), inverse in 10-USD / 1-USD contracts.
                let coins = s as f64 * if tpl.underlying == "BTC" { 0.1 } else { 1.0 };
                let size = if tpl.inverse {
                    (coins * price(tpl.underlying) / tpl.cs).round()
                } else {
                    coins
                };
                a.positions.push(Position::new(inst(tpl), size));
            }
            for (v, asset, x) in cs {
                // 0.01 .. 10 BTC, 0.1 .. 100 ETH, 100 .. 100,000 stablecoins; even base units.
                let units: i128 = match asset {
                    "BTC" => x as i128 * 1_000_000,
                    "ETH" => x as i128 * 10_000_000,
                    _ => x as i128 * 100_000_000,
                };
                a.collateral.push(coll(v, asset, units));
            }
            a
        })
}

fn negate(a: &Account) -> Account {
    let mut b = a.clone();
    for p in &mut b.positions {
        p.size = -p.size;
    }
    for c in &mut b.collateral {
        c.amount = Amount(-c.amount.0);
    }
    b
}

fn scale(a: &Account, k: f64) -> Account {
    let mut b = a.clone();
    for p in &mut b.positions {
        p.size *= k;
    }
    for c in &mut b.collateral {
        c.amount = Amount((c.amount.0 as f64 * k).round() as i128);
    }
    b
}

fn tol(x: f64) -> f64 {
    1e-7 * x.abs().max(1.0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn requirement_covers_every_segregated_floor(acc in book()) {
        let r = margin(&acc);
        let own = venue_margins(&net_account(&acc).unwrap(), &assets(), &market()).unwrap();
        let p = params();
        let mut sum = 0.0;
        for v in &r.venues {
            let mm: f64 = own.iter().filter(|x| x.venue == v.venue).map(|x| x.in_quote.as_ref().unwrap().maintenance_margin).sum();
            prop_assert!(v.local_minimum + tol(mm) >= mm, "{}: floor {} < own MM {}", v.venue, v.local_minimum, mm);
            if p.venues[&v.venue].kind == VenueKind::Segregated {
                sum += mm;
            }
        }
        prop_assert!(r.initial_margin + tol(sum) >= sum, "IM {} < Σ own MM {}", r.initial_margin, sum);
        prop_assert!(r.maintenance_margin <= r.initial_margin + tol(r.initial_margin));
        // The components add up to the requirement, the saving split to the saving.
        let c: f64 = r.explain.components.iter().map(|c| c.value).sum();
        prop_assert!((c - r.initial_margin).abs() <= tol(r.initial_margin));
        let s = r.saving_split.pooled_buffer + r.saving_split.credit_netting;
        prop_assert!((s - r.saving).abs() <= tol(r.siloed_total), "split {s} vs saving {}", r.saving);
        let att: f64 = r.venues.iter().map(|v| v.attributed).sum();
        prop_assert!((att - r.pooled_requirement).abs() <= tol(r.pooled_requirement));
    }

    #[test]
    fn requirement_covers_every_single_underlying_and_opposite_pair_scenario(acc in book()) {
        let r = margin(&acc);
        let w = hand_single_and_pair_worst(&net_account(&acc).unwrap());
        prop_assert!(r.initial_margin + tol(w) >= w, "IM {} < scenario loss {w}", r.initial_margin);
        prop_assert!(r.pooled_requirement + tol(w) >= w, "pooled {} < scenario loss {w}", r.pooled_requirement);
    }

    #[test]
    fn a_book_plus_its_exact_opposite_costs_nothing(acc in book()) {
        let mut both = acc.clone();
        let neg = negate(&acc);
        both.positions.extend(neg.positions);
        both.collateral.extend(neg.collateral);
        let r = margin(&both);
        prop_assert_eq!(r.initial_margin, 0.0);
        prop_assert_eq!(r.siloed_total, 0.0);
    }

    #[test]
    fn scaling_the_book_scales_the_requirement_at_least_proportionally(acc in book(), k in prop::sample::select(vec![2.0, 3.0, 10.0])) {
        let r1 = margin(&acc).initial_margin;
        let rk = margin(&scale(&acc, k)).initial_margin;
        prop_assert!(rk + tol(rk) >= k * r1, "k={k}: {rk} < {k} x {r1}");
        let half = margin(&scale(&scale(&acc, 2.0), 0.5)).initial_margin;
        let double = margin(&scale(&acc, 2.0)).initial_margin;
        prop_assert!(half <= 0.5 * double + tol(double), "k=0.5: {half} > 0.5 x {double}");
    }

    #[test]
    fn a_book_never_costs_more_than_its_venue_slices(acc in book()) {
        let whole = margin(&acc).initial_margin;
        let mut sum = 0.0;
        for v in acc.venues() {
            let slice = Account {
                reported: Vec::new(),
                orders: Vec::new(),
                id: acc.id.clone(),
                positions: acc.positions.iter().filter(|p| p.instrument.venue == v).cloned().collect(),
                collateral: acc.collateral.iter().filter(|c| c.venue == v).cloned().collect(),
            };
            sum += margin(&slice).initial_margin;
        }
        prop_assert!(whole <= sum + tol(sum), "book {whole} > Σ slices {sum}");
    }

    #[test]
    fn coin_collateral_moves_as_far_as_a_position(units in 1i64..1_000, eth in any::<bool>()) {
        // X coins held at the hub vs a long X-coin linear perpetual on a hub-margined (credit) venue:
        // in every single-underlying scenario, extended ones included, the losses are equal, and
        // equal to the hand figure cover x X x F x |m|.
        let (asset, tpl) = if eth { ("ETH", TEMPLATES[3]) } else { ("BTC", TEMPLATES[2]) };
        let coins = units as f64 / 100.0;
        let mut held = Account::new("h");
        held.collateral.push(coll(Venue::Hub, asset, (coins * 1e8).round() as i128));
        let mut text = PARAMS.to_string();
        text = text.replacen("[venues.hyperliquid]\nkind = \"segregated\"", "[venues.hyperliquid]\nkind = \"credit\"", 1);
        let credit_model = UnifiedModel::new(UnifiedParams::from_toml(&text, "test").unwrap());
        let mut long = Account::new("l");
        long.positions.push(Position::new(inst(&tpl), coins));
        let a = credit_model.margin(&held, &assets(), &market()).unwrap();
        let b = credit_model.margin(&long, &assets(), &market()).unwrap();
        let prefix = format!("{asset} alone:");
        let la: Vec<_> = a.explain.scenarios.iter().filter(|s| s.scenario.starts_with(&prefix)).collect();
        let lb: Vec<_> = b.explain.scenarios.iter().filter(|s| s.scenario.starts_with(&prefix)).collect();
        prop_assert_eq!(la.len(), lb.len());
        prop_assert!(!la.is_empty());
        for (x, y) in la.iter().zip(&lb) {
            prop_assert_eq!(&x.scenario, &y.scenario);
            prop_assert!((x.loss - y.loss).abs() <= tol(x.loss), "{}: {} vs {}", x.scenario, x.loss, y.loss);
        }
        let p = params();
        let range = p.underlying(asset).price_range;
        for &m in &p.scenarios.extended_moves {
            let cover = (p.scenarios.extended_factor * range / m.abs()).min(1.0);
            let want = -cover * coins * price(asset) * m;
            let got = la.iter().find(|s| s.scenario.contains(&format!("extended {:+}%", m * 100.0))).unwrap().loss;
            prop_assert!((got - want).abs() <= tol(want), "move {m}: {got} vs {want}");
        }
    }

    #[test]
    fn the_siloed_figure_ignores_the_leverage_setting(acc in book(), lev in 1u32..=20) {
        let base = margin(&acc);
        let mut levered = acc.clone();
        for p in &mut levered.positions {
            p.leverage = Some(lev as f64);
        }
        let r = margin(&levered);
        prop_assert!((r.siloed_total - base.siloed_total).abs() <= tol(base.siloed_total));
        prop_assert!((r.initial_margin - base.initial_margin).abs() <= tol(base.initial_margin));
    }
}

/// Standard normal CDF, Abramowitz & Stegun 26.2.17 (|error| < 7.5e-8), written here independently
/// of the pricing crate.
fn norm_cdf_as(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.231_641_9 * x.abs());
    let poly = t
        * (0.319_381_530
            + t * (-0.356_563_782
                + t * (1.781_477_937 + t * (-1.821_255_978 + t * 1.330_274_429))));
    let tail = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt() * poly;
    if x >= 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// Black-76 call with zero rate, by hand: F N(d1) − K N(d2).
fn call_by_hand(f: f64, k: f64, t: f64, vol: f64) -> f64 {
    let sd = vol * t.sqrt();
    let d1 = (f / k).ln() / sd + 0.5 * sd;
    f * norm_cdf_as(d1) - k * norm_cdf_as(d1 - sd)
}

#[test]
fn liquidation_move_reprices_short_options_along_the_move() {
    // Deribit: 2.5 BTC of collateral, short 5 BTC calls, strike 60,000, 90 days, IV 60 %, no rate;
    // the mark is the Black-76 value in coin. Deribit's standard rule (params/deribit.toml): short
    // call MM = 0.075 + mark per option, in coin; equity = collateral − 5 x mark (coin). At a BTC
    // price U the mark is V(U)/U, so the venue liquidates where 2.5 − 5 m = 5 (0.075 + m), i.e.
    // m(U) = (2.5 − 0.375) / 10 = 0.2125 BTC. Coin balances and coin marks scale together, so the
    // condition is the same in USD. Solved here by bisection on the hand-written Black-76.
    let t = 90.0 / 365.0;
    let (n, c, k, vol) = (5.0, 2.5, 60_000.0, 0.6);
    let mark = |u: f64| call_by_hand(u, k, t, vol) / u;
    let g = |mv: f64| c - n * mark(BTC * (1.0 + mv)) - n * (0.075 + mark(BTC * (1.0 + mv)));
    assert!(g(0.0) > 0.0 && g(1.0) < 0.0);
    let (mut lo, mut hi) = (0.0, 1.0);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if g(mid) > 0.0 {
            lo = mid
        } else {
            hi = mid
        }
    }
    let want = hi;
    let opt = call(Venue::Deribit);
    let mut m = market();
    m.mark_ivs.insert(opt.id(), vol);
    m.mark_prices.insert(opt.id(), mark(BTC));
    let mut acc = Account::new("short-calls");
    acc.collateral
        .push(coll(Venue::Deribit, "BTC", 250_000_000));
    acc.positions.push(Position::new(opt, -n));
    let r = model().margin(&acc, &assets(), &m).unwrap();
    let d = r.venues.iter().find(|x| x.venue == Venue::Deribit).unwrap();
    let got = d.liquidation_move.unwrap();
    assert!(
        (got - want).abs() < 2e-4,
        "liquidation move {got} vs {want} by hand"
    );
    // With the mark left where it was (no repricing), the venue would see only 5 x 0.075 x U of
    // maintenance growing against a fixed-coin equity: no liquidation on a rise at all.
    let stale = c - n * mark(BTC) - n * (0.075 + mark(BTC));
    assert!(stale > 0.0);
}

// ---------------------------------------------------------------- broken hedges (issue 19)

fn adl_forecast(materiality: f64) -> intermargin_margin::portfolio::BrokenHedgeForecast {
    intermargin_margin::portfolio::BrokenHedgeForecast {
        source: "test forecast".into(),
        expected_unhedged_fraction: [(Venue::Binance, 0.03), (Venue::Deribit, 0.01)]
            .into_iter()
            .collect(),
        materiality,
    }
}

#[test]
fn a_material_broken_hedge_add_on_is_charged_and_explained_by_hand() {
    // The basis trade: long 300 BTC on Deribit (+ 20 BTC held there), short 300 BTC on Binance,
    // BTC 60,000. Long delta 18.0M + 1.2M = 19.2M, short 18.0M, hedged 18.0M. A fall: Binance's
    // short wins and 3 % of it is deleveraged: 0.03 × 18.0M = 540,000 left unhedged; a rise:
    // Deribit's long (a position; the 20 BTC balance cannot be deleveraged) 1 % × 18.0M × 18.0/19.2
    // = 168,750. The add-on is 540,000 × the model's BTC stress move.
    let acc = basis_trade();
    let base = margin(&acc);
    let m = model().with_broken_hedge(adl_forecast(0.01)).unwrap();
    let r = m.margin(&acc, &assets(), &market()).unwrap();
    let s = m.delta_one_stress("BTC");
    let want = 0.03 * 300.0 * BTC * s;
    let a = r.broken_hedge.as_ref().expect("a hedge across venues");
    assert!(
        (a.value - want).abs() < 1e-6 * want,
        "{} vs {want}",
        a.value
    );
    assert!(a.material, "{} vs threshold {}", a.value, a.threshold);
    assert!((a.threshold - 0.01 * base.initial_margin).abs() < 1e-6 * base.initial_margin);
    assert!((r.initial_margin - base.initial_margin - want).abs() < 1e-6 * want);
    let p = params();
    assert!(
        (r.maintenance_margin - base.maintenance_margin - p.maintenance_fraction * want).abs()
            < 1e-6 * want
    );
    let c = r
        .explain
        .components
        .iter()
        .find(|c| c.name == "broken_hedge_adl")
        .expect("component");
    assert!((c.value - want).abs() < 1e-6 * want);
    // The components still add up to the initial margin.
    let sum: f64 = r.explain.components.iter().map(|c| c.value).sum();
    assert!((sum - r.initial_margin).abs() < 1e-6 * r.initial_margin);
}

#[test]
fn an_immaterial_broken_hedge_add_on_is_reported_but_not_charged() {
    let acc = basis_trade();
    let base = margin(&acc);
    // Materiality at 90 % of the initial margin: the same add-on is far below it.
    let r = model()
        .with_broken_hedge(adl_forecast(0.9))
        .unwrap()
        .margin(&acc, &assets(), &market())
        .unwrap();
    let a = r.broken_hedge.as_ref().unwrap();
    assert!(!a.material && a.value > 0.0);
    assert_eq!(r.initial_margin, base.initial_margin);
    assert!(r
        .explain
        .components
        .iter()
        .all(|c| c.name != "broken_hedge_adl"));
    // Without a forecast nothing is computed; an unhedged book has no add-on.
    assert!(base.broken_hedge.is_none());
    let mut long_only = Account::new("long");
    long_only
        .positions
        .push(Position::new(inst(&TEMPLATES[0]), 10.0));
    long_only
        .collateral
        .push(coll(Venue::Binance, "USDT", 200_000 * 1_000_000));
    let r = model()
        .with_broken_hedge(adl_forecast(0.01))
        .unwrap()
        .margin(&long_only, &assets(), &market())
        .unwrap();
    assert!(r.broken_hedge.is_none());
}

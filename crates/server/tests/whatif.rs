//! Issue 17's what-if: on randomized books and trades, the `after` side equals `margin` on the
//! snapshot with the trades applied, where the test builds that snapshot itself from the venues'
//! documented trade conventions (entry averaging, realised P&L into the balance, option premium).

use intermargin_margin::portfolio::{UnifiedModel, UnifiedParams};
use intermargin_margin::venue_margins;
use intermargin_model::{Amount, Collateral, Position, Settlement, SizeUnit, Snapshot, Venue};
use intermargin_server::risk::{whatif, WhatIfError};
use intermargin_venues::trade::TradeSpec;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const HEDGED: &str = include_str!("../../../examples/hedged-book/snapshot.json");

fn base() -> Snapshot {
    Snapshot::from_json(HEDGED).unwrap()
}

/// The book with one trade applied, by hand: the rules each venue documents for fills.
fn apply_by_hand(snap: &mut Snapshot, venue: Venue, symbol: &str, t: f64, price: f64) {
    let acc = &mut snap.portfolio.accounts[0];
    let i = acc
        .positions
        .iter()
        .position(|p| p.instrument.venue == venue && p.instrument.symbol == symbol);
    let ins = match i {
        Some(i) => acc.positions[i].instrument.clone(),
        None => base().portfolio.accounts[0]
            .positions
            .iter()
            .find(|p| p.instrument.venue == venue && p.instrument.symbol == symbol)
            .unwrap()
            .instrument
            .clone(),
    };
    let cs = ins.contract_size;
    let mut cash = 0.0;
    if ins.is_option() {
        cash -= t * price * cs; // premium paid (received when selling), in the settle coin
    }
    match i {
        None => {
            let mut p = Position::new(ins.clone(), t);
            p.entry_price = Some(price);
            acc.positions.push(p);
        }
        Some(i) => {
            let p = &mut acc.positions[i];
            let (q, e) = (p.size, p.entry_price.unwrap());
            if q.signum() == t.signum() {
                // Linear: weighted by contracts; inverse USD contracts: harmonic (by coin value).
                p.entry_price = Some(match (ins.settlement, ins.size_unit) {
                    (Settlement::Inverse, SizeUnit::Quote) => (q + t) / (q / e + t / price),
                    _ => (q * e + t * price) / (q + t),
                });
            } else {
                let closed = if t.abs() >= q.abs() { q } else { -t };
                if !ins.is_option() {
                    cash += match (ins.settlement, ins.size_unit) {
                        // USD face × (1/entry − 1/exit), in coin.
                        (Settlement::Inverse, SizeUnit::Quote) => {
                            closed * cs * (1.0 / e - 1.0 / price)
                        }
                        // Coin quantity × (exit − entry), in the quote.
                        (Settlement::Linear, SizeUnit::Base) => closed * cs * (price - e),
                        other => panic!("not in the test book: {other:?}"),
                    };
                }
                if t.abs() > q.abs() {
                    p.entry_price = Some(price);
                }
            }
            p.unrealized_pnl = None;
            if (q + t).abs() <= q.abs().max(t.abs()) * 1e-12 {
                acc.positions.remove(i);
            } else {
                acc.positions[i].size = q + t;
            }
        }
    }
    if cash != 0.0 {
        let decimals = snap
            .portfolio
            .assets
            .iter()
            .find(|a| a.symbol == ins.settle)
            .unwrap()
            .decimals;
        // Rounded down to base units (against the account).
        let units = (cash * 10f64.powi(decimals as i32)).floor() as i128;
        let acc = &mut snap.portfolio.accounts[0];
        match acc
            .collateral
            .iter_mut()
            .find(|c| c.venue == venue && c.asset == ins.settle)
        {
            Some(c) => c.amount = Amount(c.amount.0 + units),
            None => acc.collateral.push(Collateral {
                venue,
                asset: ins.settle.clone(),
                amount: Amount(units),
                sub_account: None,
                chain_id: None,
            }),
        }
    }
}

fn close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-7 * a.abs().max(b.abs()).max(1.0),
        "{what}: what-if {a} vs margin {b}"
    );
}

/// Asserts the what-if's `after` equals `margin` (each venue's rules and the unified model) on
/// the hand-traded snapshot.
fn check_after(before: &Snapshot, trades: &[TradeSpec], traded: &Snapshot) {
    let acc = &before.portfolio.accounts[0];
    let w = whatif(acc, &before.portfolio.assets, &before.market, trades)
        .unwrap_or_else(|e| panic!("{trades:?}: {e}"));
    let t = &traded.portfolio.accounts[0];
    let pools = venue_margins(t, &traded.portfolio.assets, &traded.market).unwrap();
    let unified = UnifiedModel::new(UnifiedParams::bundled().unwrap())
        .margin(t, &traded.portfolio.assets, &traded.market)
        .unwrap();
    for v in &w.venues {
        let mine: Vec<_> = pools.iter().filter(|p| p.venue == v.venue).collect();
        let sum = |f: fn(&intermargin_margin::QuoteFigures) -> f64| -> f64 {
            mine.iter().map(|p| f(p.in_quote.as_ref().unwrap())).sum()
        };
        close(v.after.initial_margin, sum(|q| q.initial_margin), "initial");
        close(
            v.after.maintenance_margin,
            sum(|q| q.maintenance_margin),
            "maintenance",
        );
        close(
            v.after.available,
            sum(|q| q.equity) - sum(|q| q.initial_margin),
            "available",
        );
        let lm = unified
            .venues
            .iter()
            .find(|c| c.venue == v.venue)
            .and_then(|c| c.liquidation_move);
        match (v.after.liquidation_move, lm) {
            (Some(a), Some(b)) => close(a, b, "liquidation_move"),
            (a, b) => assert_eq!(a, b, "liquidation_move of {}", v.venue),
        }
    }
    let mut seen: Vec<Venue> = pools.iter().map(|p| p.venue).collect();
    seen.dedup();
    for v in seen {
        assert!(w.venues.iter().any(|x| x.venue == v), "{v} missing");
    }
    close(
        w.unified.after.initial_margin,
        unified.initial_margin,
        "unified initial",
    );
    close(
        w.unified.after.maintenance_margin,
        unified.maintenance_margin,
        "unified maintenance",
    );
    close(w.unified.after.saving, unified.saving, "saving");
    assert_eq!(w.liquidates_first.after, unified.liquidates_first);
}

const SYMBOLS: [(Venue, &str); 3] = [
    (Venue::Deribit, "BTC-27DEC24-60000-C"),
    (Venue::Binance, "BTCUSDT"),
    (Venue::Okx, "BTC-USD-SWAP"),
];

#[test]
fn randomized_books_and_trades_match_margin_on_the_traded_book() {
    let mut rng = StdRng::seed_from_u64(17);
    for case in 0..60 {
        // A random book over the hedged book's instruments: sizes, entries and balances.
        let mut snap = base();
        let acc = &mut snap.portfolio.accounts[0];
        acc.positions.retain(|_| rng.gen_bool(0.8));
        for p in &mut acc.positions {
            let mark = snap.market.mark_prices[&p.instrument.id()];
            p.size *= rng.gen_range(0.2..2.0) * if rng.gen_bool(0.2) { -1.0 } else { 1.0 };
            p.entry_price = Some(mark * rng.gen_range(0.9..1.1));
            p.unrealized_pnl = None;
        }
        for c in &mut acc.collateral {
            c.amount = Amount((c.amount.0 as f64 * rng.gen_range(0.5..2.0)) as i128);
        }
        let mut traded = snap.clone();
        let mut trades = Vec::new();
        for _ in 0..rng.gen_range(1..4) {
            let (venue, symbol) = SYMBOLS[rng.gen_range(0..SYMBOLS.len())];
            let ins_id = format!("{venue}:{symbol}");
            let mark = snap.market.mark_prices[&ins_id];
            let held = traded.portfolio.accounts[0]
                .positions
                .iter()
                .find(|p| p.instrument.id() == ins_id)
                .map(|p| p.size);
            let unit = if venue == Venue::Okx { 1_000.0 } else { 5.0 };
            let size = match (held, rng.gen_range(0..4)) {
                (Some(q), 0) => -q,                           // closes the position
                (Some(q), 1) => -q * rng.gen_range(1.2..2.5), // flips it
                _ => (rng.gen_range(-1.0..1.0_f64) * unit * 100.0).round() / 100.0,
            };
            if size == 0.0 {
                continue;
            }
            let price = rng.gen_bool(0.5).then(|| mark * rng.gen_range(0.95..1.05));
            apply_by_hand(&mut traded, venue, symbol, size, price.unwrap_or(mark));
            trades.push(TradeSpec {
                venue: venue.to_string(),
                instrument: symbol.to_string(),
                size,
                price,
            });
        }
        if trades.is_empty() {
            continue;
        }
        eprintln!("case {case}: {trades:?}");
        check_after(&snap, &trades, &traded);
    }
}

#[test]
fn closing_a_position_removes_it_and_a_cross_venue_hedge_moves_the_unified_figures() {
    let snap = base();
    let acc = &snap.portfolio.accounts[0];
    let q = acc
        .positions
        .iter()
        .find(|p| p.instrument.symbol == "BTCUSDT")
        .unwrap()
        .size;
    // Close the Binance short at the mark: nothing open there; its requirement goes to 0.
    let close_trade = TradeSpec {
        venue: "binance".into(),
        instrument: "BTCUSDT".into(),
        size: -q,
        price: None,
    };
    let mut traded = snap.clone();
    apply_by_hand(&mut traded, Venue::Binance, "BTCUSDT", -q, 62895.1);
    check_after(&snap, std::slice::from_ref(&close_trade), &traded);
    let w = whatif(acc, &snap.portfolio.assets, &snap.market, &[close_trade]).unwrap();
    let b = w.venues.iter().find(|v| v.venue == Venue::Binance).unwrap();
    assert!(b.before.initial_margin > 0.0);
    assert_eq!(b.after.initial_margin, 0.0);
    assert_eq!(b.after.maintenance_margin, 0.0);
    assert!(!b.refused);

    // A hedge across venues: buy back half the OKX swap, sell the same BTC on Binance.
    let hedge = [
        TradeSpec {
            venue: "okx".into(),
            instrument: "BTC-USD-SWAP".into(),
            size: 2_000.0,
            price: None,
        },
        TradeSpec {
            venue: "binance".into(),
            instrument: "BTCUSDT".into(),
            size: -3.2,
            price: Some(62_900.0),
        },
    ];
    let mut traded = snap.clone();
    apply_by_hand(&mut traded, Venue::Okx, "BTC-USD-SWAP", 2_000.0, 62905.3);
    apply_by_hand(&mut traded, Venue::Binance, "BTCUSDT", -3.2, 62_900.0);
    check_after(&snap, &hedge, &traded);
    // `before` is margin on the book as it is.
    let w = whatif(acc, &snap.portfolio.assets, &snap.market, &hedge).unwrap();
    let unified = UnifiedModel::new(UnifiedParams::bundled().unwrap())
        .margin(acc, &snap.portfolio.assets, &snap.market)
        .unwrap();
    close(
        w.unified.before.initial_margin,
        unified.initial_margin,
        "before",
    );
    assert_eq!(w.liquidates_first.before, unified.liquidates_first);
}

#[test]
fn an_order_beyond_the_venues_margin_is_refused_and_a_reducing_one_is_not() {
    let snap = base();
    let acc = &snap.portfolio.accounts[0];
    // 1,000 BTC more short on Binance against 100,000 USDT: initial margin far above equity.
    let big = TradeSpec {
        venue: "binance".into(),
        instrument: "BTCUSDT".into(),
        size: -1_000.0,
        price: None,
    };
    let w = whatif(acc, &snap.portfolio.assets, &snap.market, &[big]).unwrap();
    let b = w.venues.iter().find(|v| v.venue == Venue::Binance).unwrap();
    assert!(b.refused, "{b:?}");
    assert!(b.after.available < 0.0);
    assert!(
        b.reason.as_deref().unwrap().contains("exceeds equity"),
        "{b:?}"
    );
    // Other venues are not asked, so they never refuse.
    assert!(w
        .venues
        .iter()
        .filter(|v| v.venue != Venue::Binance)
        .all(|v| !v.refused));
    let small = TradeSpec {
        venue: "binance".into(),
        instrument: "BTCUSDT".into(),
        size: 1.0,
        price: None,
    };
    let w = whatif(acc, &snap.portfolio.assets, &snap.market, &[small]).unwrap();
    assert!(w.venues.iter().all(|v| !v.refused && v.reason.is_none()));
}

#[test]
fn bad_trades_name_the_part() {
    let snap = base();
    let acc = &snap.portfolio.accounts[0];
    let t = |venue: &str, instrument: &str, size: f64, price: Option<f64>| TradeSpec {
        venue: venue.into(),
        instrument: instrument.into(),
        size,
        price,
    };
    for (trade, part) in [
        (t("kraken", "BTCUSDT", 1.0, None), "venue"),
        (t("aave", "USDC", 1.0, None), "venue"),
        (t("binance", "NOPE", 1.0, None), "instrument"),
        (t("binance", "ETHUSDT", 1.0, None), "instrument"), // no mark in the snapshot
        (t("binance", "BTCUSDT", 0.0, None), "size"),
        (t("binance", "BTCUSDT", f64::INFINITY, None), "size"),
        (t("binance", "BTCUSDT", 1.0, Some(-5.0)), "price"),
        (t("binance", "BTCUSDT", 1.0, Some(f64::NAN)), "price"),
    ] {
        match whatif(
            acc,
            &snap.portfolio.assets,
            &snap.market,
            std::slice::from_ref(&trade),
        ) {
            Err(WhatIfError::Trade(e)) => assert_eq!(e.part, part, "{trade:?}: {e}"),
            other => panic!(
                "{trade:?}: expected a bad {part}, got {:?}",
                other.map(|_| ())
            ),
        }
    }
    let many = vec![t("binance", "BTCUSDT", 1.0, None); intermargin_venues::trade::MAX_TRADES + 1];
    match whatif(acc, &snap.portfolio.assets, &snap.market, &many) {
        Err(WhatIfError::Trade(e)) => assert_eq!(e.part, "trades"),
        other => panic!("expected the list refused, got {:?}", other.map(|_| ())),
    }
}

//! Batch engine: the same figures as one-account margin, and a price tick that re-margins only holders.

use intermargin_margin::portfolio::{
    BatchBook, BatchEngine, GridModel, GridParams, UnifiedBatch, UnifiedModel, UnifiedParams,
};
use intermargin_model::Account;
use intermargin_model::{
    Instrument, InstrumentKind, Market, OptionKind, Position, Settlement, SizeUnit, Venue,
};
use proptest::prelude::*;

const NOW: i64 = 1_700_000_000_000;
const DAY: i64 = 86_400_000;

fn instruments() -> Vec<Instrument> {
    let mut v = Vec::new();
    for (u, px) in [("BTC", 50_000.0), ("ETH", 3_000.0)] {
        v.push(Instrument {
            venue: Venue::Okx,
            symbol: format!("{u}-USDT-SWAP"),
            kind: InstrumentKind::Perpetual,
            underlying: u.into(),
            quote: "USD".into(),
            settle: "USD".into(),
            settlement: Settlement::Linear,
            contract_size: 0.01,
            size_unit: SizeUnit::Base,
        });
        for (k, kind) in [
            (0.9, OptionKind::Put),
            (1.0, OptionKind::Call),
            (1.2, OptionKind::Call),
        ] {
            v.push(Instrument {
                venue: Venue::Deribit,
                symbol: format!("{u}-{}-{:?}", (px * k) as i64, kind),
                kind: InstrumentKind::Option {
                    expiry_ms: NOW + 20 * DAY,
                    strike: px * k,
                    option_kind: kind,
                },
                underlying: u.into(),
                quote: "USD".into(),
                settle: u.into(),
                settlement: Settlement::Inverse,
                contract_size: 1.0,
                size_unit: SizeUnit::Base,
            });
        }
    }
    v
}

fn market(btc: f64) -> Market {
    let mut m = Market::new(NOW, "USD");
    for (u, px) in [("BTC", btc), ("ETH", 3_000.0)] {
        m.index_prices.insert(format!("deribit:{u}"), px);
        m.mark_prices.insert(format!("okx:{u}-USDT-SWAP"), px);
        m.fx.insert(u.into(), px);
    }
    for i in instruments() {
        if i.is_option() {
            m.mark_ivs.insert(i.id(), 0.6);
        }
    }
    m
}

fn unified_grid() -> GridParams {
    intermargin_margin::portfolio::UnifiedParams::bundled()
        .unwrap()
        .grid(1.0, "USD")
}

fn accounts() -> Vec<Vec<(u32, f64)>> {
    vec![
        vec![(0, -50.0), (2, 1.0)],
        vec![(5, -2.0), (6, 3.0), (1, -1.0)],
        vec![(4, 10.0), (0, 3.0)],
        vec![(7, -1.0)],
    ]
}

#[test]
fn batch_figures_equal_single_account_margin() {
    let inst = instruments();
    let eng = BatchEngine::new(unified_grid(), &market(50_000.0), inst.clone()).unwrap();
    let mut book = BatchBook::with_capacity(4, 3);
    for a in accounts() {
        book.push(&eng.matrix, &a).unwrap();
    }
    let mut out = vec![0.0; book.len()];
    eng.margin_all(&book, &mut out);
    let model = GridModel::new(unified_grid());
    for (a, legs) in accounts().iter().enumerate() {
        let pos: Vec<Position> = legs
            .iter()
            .map(|&(r, s)| Position::new(inst[r as usize].clone(), s))
            .collect();
        let single = model.margin_positions(&pos, &market(50_000.0)).unwrap();
        assert!(
            (single.initial_margin - out[a]).abs() < 1e-6 * single.initial_margin.max(1.0),
            "account {a}: {} vs {}",
            single.initial_margin,
            out[a]
        );
        assert!(out[a] > 0.0);
    }
}

#[test]
fn unified_batch_equals_the_single_account_pooled_requirement() {
    let inst = instruments();
    let mkt = market(50_000.0);
    let model = UnifiedModel::new(UnifiedParams::bundled().unwrap());
    let eng = UnifiedBatch::new(&model, &mkt, inst.clone()).unwrap();
    let mut book = BatchBook::with_capacity(4, 3);
    for a in accounts() {
        book.push(&eng.engine.matrix, &a).unwrap();
    }
    let mut out = vec![0.0; book.len()];
    eng.margin_all(&book, &mut out);
    for (a, legs) in accounts().iter().enumerate() {
        let mut acc = Account::new("a");
        acc.positions = legs
            .iter()
            .map(|&(r, s)| Position::new(inst[r as usize].clone(), s))
            .collect();
        let single = model.margin_given(&acc, &[], &mkt, &[], &[]).unwrap();
        assert!(
            (single.pooled_requirement - out[a]).abs() < 1e-6 * out[a].max(1.0),
            "account {a}: {} vs {}",
            single.pooled_requirement,
            out[a]
        );
        assert!(out[a] > 0.0);
    }
}

#[test]
fn a_btc_tick_remargins_only_btc_holders_and_matches_a_full_run() {
    let inst = instruments();
    let mut eng = BatchEngine::new(unified_grid(), &market(50_000.0), inst.clone()).unwrap();
    let mut book = BatchBook::with_capacity(4, 3);
    for a in accounts() {
        book.push(&eng.matrix, &a).unwrap();
    }
    book.index(&eng.matrix);
    let mut out = vec![0.0; book.len()];
    eng.margin_all(&book, &mut out);
    let before = out.clone();
    let n = eng.tick(&market(45_000.0), "BTC", &book, &mut out).unwrap();
    // Accounts 0 and 2 hold BTC rows (0, 1, 2, 3); 1 and 3 hold only ETH rows (4 … 7) except 1 holds row 1.
    assert_eq!(n, 3);
    assert_eq!(out[3], before[3], "ETH-only account untouched");
    let fresh = BatchEngine::new(unified_grid(), &market(45_000.0), inst).unwrap();
    let mut full = vec![0.0; book.len()];
    fresh.margin_all(&book, &mut full);
    for a in 0..4 {
        assert!(
            (full[a] - out[a]).abs() < 1e-9 * full[a].max(1.0),
            "account {a}"
        );
    }
}

proptest! {
    #[test]
    fn maintenance_never_exceeds_initial_and_both_are_non_negative(
        sizes in proptest::collection::vec(-20.0f64..20.0, 8)
    ) {
        let inst = instruments();
        for params in [GridParams::deribit_pm().unwrap(), GridParams::span().unwrap(), unified_grid()] {
            let pos: Vec<Position> = inst.iter().zip(&sizes).filter(|(_, s)| s.abs() > 1e-9)
                .map(|(i, s)| Position::new(i.clone(), *s)).collect();
            let r = GridModel::new(params).margin_positions(&pos, &market(50_000.0)).unwrap();
            prop_assert!(r.initial_margin >= 0.0);
            prop_assert!(r.maintenance_margin <= r.initial_margin + 1e-9);
            for p in &r.pools {
                let sum: f64 = p.explain.contributions.iter().map(|c| c.loss).sum();
                let worst = p.explain.scenarios[p.explain.worst_index].loss;
                prop_assert!((sum - worst).abs() < 1e-6 * worst.abs().max(1.0));
            }
        }
    }
}

#[test]
fn unified_margin_accounts_equals_margin_all_on_the_listed_accounts() {
    let inst = instruments();
    let mkt = market(50_000.0);
    let model = UnifiedModel::new(UnifiedParams::bundled().unwrap());
    let eng = UnifiedBatch::new(&model, &mkt, inst.clone()).unwrap();
    let mut book = BatchBook::with_capacity(4, 3);
    for a in accounts() {
        book.push(&eng.engine.matrix, &a).unwrap();
    }
    let mut all = vec![0.0; book.len()];
    eng.margin_all(&book, &mut all);
    let listed = [3u32, 1, 1, 0];
    let mut some = vec![f64::NAN; listed.len()];
    eng.margin_accounts(&book, &listed, &mut some);
    for (k, a) in listed.iter().enumerate() {
        assert_eq!(some[k], all[*a as usize], "account {a}");
    }
}

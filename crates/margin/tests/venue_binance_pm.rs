//! Binance Portfolio Margin: uniMMR = ∑Equity / ∑MM with ∑Equity = ∑ min(E·P·collateralRate,
//! E·P) and ∑MM = ∑ futuresMM·P + ∑ Loan·MMR·P, liquidation at uniMMR ≤ 1.05
//! (https://www.binance.com/en/support/faq/what-is-the-unified-account-maintenance-margin-ratio-unimmr-and-how-is-it-calculated-4868b2f1aa6c4d08af973328462bb0bd,
//! https://binance.com/en-IN/support/faq/binance-portfolio-margin-pro-maintenance-margin-ratio-calculation-5e33af8e6ac04d57a1d0a3398e0a0752).
//! Hand calculations and random books against a calculator written here from those formulas.
mod venue_support;

use intermargin_margin::venues::binance::BinanceUsdm;
use intermargin_margin::venues::binance_pm::{unified, PM_KEY, POOL, RATES_KEY};
use intermargin_margin::{MarginModel, VenueMargin};
use intermargin_model::{Instrument, Market, Settlement, SizeUnit, Venue};
use proptest::prelude::*;
use serde_json::json;
use venue_support::*;

fn btcusdt() -> Instrument {
    linear_perp(Venue::Binance, "BTCUSDT", "BTC", "USDT")
}

fn btcusd_perp() -> Instrument {
    perp(
        Venue::Binance,
        "BTCUSD_PERP",
        "BTC",
        "BTC",
        Settlement::Inverse,
        100.0,
        SizeUnit::Quote,
    )
}

fn ethusd_perp() -> Instrument {
    perp(
        Venue::Binance,
        "ETHUSD_PERP",
        "ETH",
        "ETH",
        Settlement::Inverse,
        10.0,
        SizeUnit::Quote,
    )
}

/// A PM market: one 0.5 % bracket (cum 0) for each symbol, collateral rates, USD prices.
fn pm_market(btc: f64, eth: f64, rates: serde_json::Value) -> Market {
    let mut m = market();
    m.fx.insert("BTC".into(), btc);
    m.fx.insert("ETH".into(), eth);
    m.venue_params
        .insert(PM_KEY.into(), json!({"source": "GET /papi/v1/account"}));
    m.venue_params.insert(RATES_KEY.into(), rates);
    m.venue_params.insert(
        "binance:BTCUSDT".into(),
        json!({"brackets": [{"notional_floor": 0.0, "notional_cap": 1e12, "maint_margin_ratio": 0.005, "cum": 0.0}]}),
    );
    for pair in ["BTCUSD", "ETHUSD"] {
        m.venue_params.insert(
            format!("binance:{pair}"),
            json!({"brackets": [{"qty_floor": 0.0, "qty_cap": 1e12, "maint_margin_ratio": 0.005, "cum": 0.0}]}),
        );
    }
    m
}

fn unified_pool(out: &[VenueMargin]) -> &VenueMargin {
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].pool, POOL);
    &out[0]
}

/// USDT wallet 5,000 and 0.1 BTC; short 0.05 BTCUSDT from 52,000 and long 100 BTCUSD_PERP
/// (10,000 USD) from 50,000, both marked at 40,000 (the shape of Binance's PM example).
/// P&L: 0.05 × (52,000 − 40,000) = 600 USDT; 10,000 × (1/50,000 − 1/40,000) = −0.05 BTC.
/// E(USDT) = 5,600 × 1 × rate 1 = 5,600; E(BTC) = 0.05 BTC × 40,000 × 0.95 = 1,900; ∑Equity 7,500.
/// MM: 0.05 × 40,000 × 0.5 % = 10 USDT; 10,000 / 40,000 × 0.5 % = 0.00125 BTC = 50 USD; ∑MM 60.
/// uniMMR = 7,500 / 60 = 125.
#[test]
fn hand_calculation() {
    let m0 = pm_market(40_000.0, 2_000.0, json!({"USDT": 1.0, "BTC": 0.95}));
    let mut m = m0.clone();
    m.mark_prices.insert(btcusdt().id(), 40_000.0);
    m.mark_prices.insert(btcusd_perp().id(), 40_000.0);
    let acc = account(
        vec![
            coll(Venue::Binance, "USDT", 5_000.0, 6),
            coll(Venue::Binance, "BTC", 0.1, 8),
        ],
        vec![
            pos(btcusdt(), -0.05, Some(52_000.0)),
            pos(btcusd_perp(), 100.0, Some(50_000.0)),
        ],
    );
    let out = BinanceUsdm::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap();
    let p = unified_pool(&out);
    assert_eq!(p.settlement, "USD");
    close(p.equity, 7_500.0, 1e-9, "∑Equity");
    let (uni, mm) = unified(p, 1.05).unwrap();
    close(mm, 60.0, 1e-9, "∑MM");
    close(uni, 125.0, 1e-9, "uniMMR");
    close(
        p.maintenance_margin,
        63.0,
        1e-9,
        "liquidation equity 1.05 × ∑MM",
    );

    // A cross-margin loan of 0.02 BTC at a loan MMR of 10 %: E(BTC) = 0.03 → 0.03 × 40,000 × 0.95
    // = 1,140; ∑Equity 6,740; ∑MM = 60 + 0.02 × 10 % × 40,000 = 140; uniMMR = 48.142857…
    let mut with_loan = acc.clone();
    with_loan
        .collateral
        .push(coll(Venue::Binance, "BTC", -0.02, 8));
    let e = BinanceUsdm::new()
        .unwrap()
        .margin(&with_loan, &assets(), &m)
        .unwrap_err()
        .to_string();
    assert!(e.contains("margin_loan_mmr") && e.contains("BTC"), "{e}");
    m.venue_params.insert(
        PM_KEY.into(),
        json!({"source": "GET /papi/v1/account", "margin_loan_mmr": 0.1}),
    );
    let out = BinanceUsdm::new()
        .unwrap()
        .margin(&with_loan, &assets(), &m)
        .unwrap();
    let p = unified_pool(&out);
    close(p.equity, 6_740.0, 1e-9, "∑Equity with loan");
    let (uni, mm) = unified(p, 1.05).unwrap();
    close(mm, 140.0, 1e-9, "∑MM with loan");
    close(uni, 6_740.0 / 140.0, 1e-9, "uniMMR with loan");

    // A negative equity counts in full (min(E·P·rate, E·P) = E·P): BTC wallet 0.01 → E(BTC) =
    // −0.04 BTC = −1,600 USD (not −1,520); ∑Equity = 5,600 − 1,600 = 4,000.
    let mut short_btc = acc.clone();
    short_btc.collateral[1] = coll(Venue::Binance, "BTC", 0.01, 8);
    let out = BinanceUsdm::new()
        .unwrap()
        .margin(&short_btc, &assets(), &m0_with_marks(&m0))
        .unwrap();
    close(
        unified_pool(&out).equity,
        4_000.0,
        1e-9,
        "negative equity in full",
    );
}

fn m0_with_marks(m0: &Market) -> Market {
    let mut m = m0.clone();
    m.mark_prices.insert(btcusdt().id(), 40_000.0);
    m.mark_prices.insert(btcusd_perp().id(), 40_000.0);
    m
}

/// Liquidation at uniMMR ≤ 1.05: margin_ratio = 1.05 × ∑MM / ∑Equity reaches 1 exactly there.
/// Short 1 BTCUSDT at mark = entry 40,000: MM = 200 USDT; USDT wallet W: uniMMR = W / 200.
/// W = 210 → 1.05 (liquidated: ratio 1); W = 210.21 → 1.05105 (not).
#[test]
fn the_trigger_is_uni_mmr_105_percent() {
    for (w, liquidated) in [(210.0, true), (210.21, false), (150.0, true)] {
        let mut m = pm_market(40_000.0, 2_000.0, json!({"USDT": 1.0}));
        m.mark_prices.insert(btcusdt().id(), 40_000.0);
        let acc = account(
            vec![coll(Venue::Binance, "USDT", w, 6)],
            vec![pos(btcusdt(), -1.0, Some(40_000.0))],
        );
        let out = BinanceUsdm::new()
            .unwrap()
            .margin(&acc, &assets(), &m)
            .unwrap();
        let p = unified_pool(&out);
        assert_eq!(p.margin_ratio >= 1.0 - 1e-12, liquidated, "W {w}: {p:?}");
        close(unified(p, 1.05).unwrap().0, w / 200.0, 1e-12, "uniMMR");
    }
}

#[test]
fn an_asset_without_a_collateral_rate_names_what_to_import() {
    let mut m = pm_market(40_000.0, 2_000.0, json!({"USDT": 1.0}));
    m.mark_prices.insert(btcusdt().id(), 40_000.0);
    let acc = account(
        vec![
            coll(Venue::Binance, "USDT", 1_000.0, 6),
            coll(Venue::Binance, "ETH", 1.0, 18),
        ],
        vec![pos(btcusdt(), 0.01, Some(40_000.0))],
    );
    let e = BinanceUsdm::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("binance:collateral_rate") && e.contains("ETH") && e.contains("collateralRate"),
        "{e}"
    );
    // Bad published rate: refused with its path.
    m.venue_params
        .insert(RATES_KEY.into(), json!({"USDT": 1.0, "ETH": 1.5}));
    let e = BinanceUsdm::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap_err()
        .to_string();
    assert!(e.contains("ETH") && e.contains("[0, 1]"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random wallets in USDT, BTC, ETH; random BTCUSDT, BTCUSD_PERP and ETHUSD_PERP positions,
    /// prices and collateral rates: ∑Equity and ∑MM from the documented formulas.
    #[test]
    fn random_unified_accounts(
        usdt in -2_000.0f64..50_000.0,
        btc in 0.0f64..3.0,
        eth in 0.0f64..40.0,
        (q_um, e_um) in (-2.0f64..2.0, 10_000.0f64..100_000.0),
        (n_btc, e_btc) in (-2_000i64..2_000, 10_000.0f64..100_000.0),
        (n_eth, e_eth) in (-5_000i64..5_000, 500.0f64..6_000.0),
        p_btc in 10_000.0f64..100_000.0,
        p_eth in 500.0f64..6_000.0,
        r_btc in 0.5f64..1.0,
        r_eth in 0.5f64..1.0,
    ) {
        let usdt = (usdt * 1e6).round() / 1e6;
        let btc = (btc * 1e8).round() / 1e8;
        let eth = (eth * 1e8).round() / 1e8;
        let mut m = pm_market(p_btc, p_eth, json!({"USDT": 1.0, "BTC": r_btc, "ETH": r_eth}));
        m.venue_params.insert(PM_KEY.into(), json!({"source": "t", "margin_loan_mmr": 0.1}));
        m.mark_prices.insert(btcusdt().id(), p_btc);
        m.mark_prices.insert(btcusd_perp().id(), p_btc);
        m.mark_prices.insert(ethusd_perp().id(), p_eth);
        let mut positions = Vec::new();
        if q_um != 0.0 { positions.push(pos(btcusdt(), q_um, Some(e_um))); }
        if n_btc != 0 { positions.push(pos(btcusd_perp(), n_btc as f64, Some(e_btc))); }
        if n_eth != 0 { positions.push(pos(ethusd_perp(), n_eth as f64, Some(e_eth))); }
        let mut coll_rows = vec![
            coll(Venue::Binance, "BTC", btc, 8),
            coll(Venue::Binance, "ETH", eth, 18),
        ];
        // A negative USDT wallet is a cross-margin loan: a debt row of its own.
        coll_rows.push(coll(Venue::Binance, "USDT", usdt, 6));
        let acc = account(coll_rows, positions);
        let out = BinanceUsdm::new().unwrap().margin(&acc, &assets(), &m).unwrap();
        let p = unified_pool(&out);

        // The calculator: per asset E = wallet + P&L of what settles in it.
        let e_usdt = usdt + q_um * (p_btc - e_um);
        let e_btc_coin = btc + n_btc as f64 * 100.0 * (1.0 / e_btc - 1.0 / p_btc);
        let e_eth_coin = eth + n_eth as f64 * 10.0 * (1.0 / e_eth - 1.0 / p_eth);
        let haircut = |e: f64, px: f64, r: f64| (e * px * r).min(e * px);
        let want_equity = haircut(e_usdt, 1.0, 1.0) + haircut(e_btc_coin, p_btc, r_btc)
            + haircut(e_eth_coin, p_eth, r_eth);
        let loan = if usdt < 0.0 { -usdt * 0.1 } else { 0.0 };
        let want_mm = q_um.abs() * p_btc * 0.005
            + (n_btc.abs() as f64 * 100.0 / p_btc * 0.005) * p_btc
            + (n_eth.abs() as f64 * 10.0 / p_eth * 0.005) * p_eth
            + loan;
        let tol = |x: f64| 1e-9 * x.abs().max(1.0);
        prop_assert!((p.equity - want_equity).abs() <= tol(want_equity), "{} vs {want_equity}", p.equity);
        let (uni, mm) = unified(p, 1.05).unwrap();
        prop_assert!((mm - want_mm).abs() <= tol(want_mm), "{mm} vs {want_mm}");
        if want_mm > 0.0 {
            prop_assert!((uni - want_equity / want_mm).abs() <= 1e-9 * (want_equity / want_mm).abs().max(1.0));
            prop_assert_eq!(p.margin_ratio >= 1.0, want_equity / want_mm <= 1.05 || want_equity <= 0.0);
        }
    }
}

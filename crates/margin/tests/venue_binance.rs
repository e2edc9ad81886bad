//! Binance USDⓈ-M against the documented liquidation-price example.
mod venue_support;

use intermargin_margin::venues::binance::{liquidation_price, BinanceUsdm, Leg, LiquidationInputs};
use intermargin_margin::MarginModel;
use intermargin_model::Venue;
use serde_json::json;
use venue_support::*;

/// Binance FAQ "How to calculate liquidation price of USDⓈ-M contracts"
/// (https://www.binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93), example inputs as
/// quoted by freqtrade's `test_liquidation_price` (which cites the FAQ): WB 1,535,443.01;
/// ETHUSDT long 3,683.979 @ 1,456.84 (MMR 10 %, cum 135,365) with TMM1 71,200.81144 and UPNL1
/// −56,354.57; BTCUSDT long 109.488 @ 32,481.98 (MMR 2.5 %, cum 16,300) with TMM1 356,512.508
/// and UPNL1 −448,192.89. Documented: cross 1,153.26 / 26,316.89; isolated 1,114.78 / 18,778.73.
#[test]
fn faq_example_liquidation_prices_to_the_cent() {
    let eth = Leg {
        size: 3_683.979,
        entry: 1_456.84,
        mmr: 0.10,
        cum: 135_365.0,
    };
    let btc = Leg {
        size: 109.488,
        entry: 32_481.98,
        mmr: 0.025,
        cum: 16_300.0,
    };
    let cross = |leg, tmm, upnl| LiquidationInputs {
        wallet_balance: 1_535_443.01,
        other_maintenance: tmm,
        other_upnl: upnl,
        both: Some((1.0, leg)),
        ..Default::default()
    };
    let r = |x: f64| (x * 100.0).round() / 100.0;
    assert_eq!(
        r(liquidation_price(&cross(eth, 71_200.811_44, -56_354.57)).unwrap()),
        1_153.26
    );
    assert_eq!(
        r(liquidation_price(&cross(btc, 356_512.508, -448_192.89)).unwrap()),
        26_316.89
    );
    assert_eq!(
        r(liquidation_price(&cross(eth, 0.0, 0.0)).unwrap()),
        1_114.78
    );
    assert_eq!(
        r(liquidation_price(&cross(btc, 0.0, 0.0)).unwrap()),
        18_778.73
    );
}

/// The same example as a whole account: marks are those that give the FAQ's notionals
/// (ETHUSDT 4,918,775.081, BTCUSDT 3,500,032.458). BTCUSDT uses the embedded bracket table
/// (1M–10M: 2.5 %, cum 16,300); ETHUSDT's bracket is supplied as venue-published params in the
/// adapter's shape (crates/venues/PARAMS.md), 10 % with maintenance amount 135,365.
#[test]
fn faq_example_as_a_cross_margined_account() {
    let eth = linear_perp(Venue::Binance, "ETHUSDT", "ETH", "USDT");
    let btc = linear_perp(Venue::Binance, "BTCUSDT", "BTC", "USDT");
    let mut m = market();
    m.mark_prices.insert(eth.id(), 4_918_775.081 / 3_683.979);
    m.mark_prices.insert(btc.id(), 3_500_032.458 / 109.488);
    m.venue_params.insert(
        "binance:ETHUSDT".into(),
        json!({"source": "test", "brackets": [
            {"bracket": 1, "initial_leverage": 10.0, "notional_floor": 0.0, "notional_cap": 10000000.0,
             "maint_margin_ratio": 0.10, "cum": 135365.0}]}),
    );
    let mut pe = pos(eth, 3_683.979, Some(1_456.84));
    pe.leverage = Some(10.0);
    let mut pb = pos(btc, 109.488, Some(32_481.98));
    pb.leverage = Some(20.0);
    let acc = account(
        vec![coll(Venue::Binance, "USDT", 1_535_443.01, 6)],
        vec![pe, pb],
    );
    let out = BinanceUsdm::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap();
    assert_eq!(out.len(), 1);
    let v = &out[0];
    // MM = 491,877.5081 − 135,365 + 87,500.81145 − 16,300 = 427,713.31955
    close(v.maintenance_margin, 427_713.319_55, 1e-4, "MM");
    // Equity = 1,535,443.01 − 448,192.89 − 56,354.57 = 1,030,895.55
    close(v.equity, 1_030_895.55, 0.01, "equity");
    // IM = 4,918,775.081 / 10 + 3,500,032.458 / 20
    close(v.initial_margin, 491_877.508_1 + 175_001.622_9, 1e-4, "IM");
    let lp = |i: usize| (v.positions[i].liquidation_price.unwrap() * 100.0).round() / 100.0;
    assert_eq!(lp(0), 1_153.26);
    assert_eq!(lp(1), 26_316.89);
}

/// Hedge mode, hand calculation: BTCUSDT long 1 @ 60,000 and short 1 @ 62,000 in one cross
/// wallet of 1,000 USDT (bracket 0.4 %, cum 0 at these notionals).
/// num = 1,000 + 0 + 0 − 1×60,000 + 1×62,000 = 3,000; den = 0.004 + 0.004 − 1 + 1 = 0.008
/// → LP = 375,000: the hedged book only liquidates when maintenance outgrows the wallet.
#[test]
fn hedge_mode_liquidation_price_hand_calculation() {
    let x = LiquidationInputs {
        wallet_balance: 1_000.0,
        long: Some(Leg {
            size: 1.0,
            entry: 60_000.0,
            mmr: 0.004,
            cum: 0.0,
        }),
        short: Some(Leg {
            size: 1.0,
            entry: 62_000.0,
            mmr: 0.004,
            cum: 0.0,
        }),
        ..Default::default()
    };
    close(liquidation_price(&x).unwrap(), 375_000.0, 1e-6, "LP");
}

/// Isolated short, hand calculation through the account: BTCUSDT short 2 @ 50,000, mark 50,000,
/// isolated wallet 5,000 USDT, bracket 250k–1M would apply only above 250,000 notional; at
/// 100,000 notional the 50k–250k bracket (0.5 %, cum 50) applies.
/// num = 5,000 + 50 + 2 × 50,000 = 105,050; den = 2 × 0.005 + 2 = 2.01 → LP = 52,263.68.
#[test]
fn isolated_short_uses_its_own_wallet() {
    let btc = linear_perp(Venue::Binance, "BTCUSDT", "BTC", "USDT");
    let mut m = market();
    m.mark_prices.insert(btc.id(), 50_000.0);
    let mut p = pos(btc, -2.0, Some(50_000.0));
    p.leverage = Some(20.0);
    p.isolated = true;
    p.isolated_margin = Some(5_000.0);
    let acc = account(vec![coll(Venue::Binance, "USDT", 20_000.0, 6)], vec![p]);
    let all = BinanceUsdm::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap();
    // The isolated position is a pool of its own; the cross pool keeps the other 15,000.
    let out: Vec<_> = all
        .iter()
        .filter(|v| v.pool == "isolated:binance:BTCUSDT:short")
        .collect();
    close(
        all.iter().find(|v| v.pool == "cross").unwrap().equity,
        15_000.0,
        1e-9,
        "cross",
    );
    close(
        out[0].positions[0].liquidation_price.unwrap(),
        105_050.0 / 2.01,
        1e-6,
        "LP",
    );
    close(
        out[0].maintenance_margin,
        100_000.0 * 0.005 - 50.0,
        1e-9,
        "MM",
    );
    close(out[0].initial_margin, 5_000.0, 1e-9, "IM");
}

#[test]
fn unknown_symbol_without_published_brackets_is_a_named_error() {
    let x = linear_perp(Venue::Binance, "DOGEUSDT", "DOGE", "USDT");
    let mut m = market();
    m.mark_prices.insert(x.id(), 0.1);
    let acc = account(vec![], vec![pos(x, 100.0, None)]);
    let e = BinanceUsdm::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("symbols.DOGEUSDT") && e.contains("binance:DOGEUSDT"),
        "{e}"
    );
}

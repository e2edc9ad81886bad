//! Deribit standard margin against Deribit's documented examples.
mod venue_support;

use intermargin_margin::venues::deribit::{
    futures_margin_coin, short_option_margin_coin, DeribitParams, DeribitStandard,
};
use intermargin_margin::MarginModel;
use intermargin_model::{OptionKind, Settlement, SizeUnit, Venue};
use venue_support::*;

/// Worked example table of https://support.deribit.com/hc/en-us/articles/25944738177565-Linear-Perpetual
/// (BTC = 100,000 USDC, SOL = 200 USDC).
#[test]
fn linear_perpetual_example_table_is_reproduced_to_the_cent() {
    let p = DeribitParams::embedded().unwrap();
    let btc = p
        .futures
        .iter()
        .find(|f| f.underlying == "BTC" && f.settlement == Settlement::Linear)
        .unwrap();
    let sol = p
        .futures
        .iter()
        .find(|f| f.underlying == "SOL" && f.settlement == Settlement::Linear)
        .unwrap();
    // (rates, size, want IM coin, want IM USDC, want MM coin, want MM USDC) from the page.
    let (im, _) = futures_margin_coin(btc, 0.0);
    assert_eq!(im, 0.0);
    let (im, mm) = futures_margin_coin(btc, 25.0);
    close(im, 0.53125, 1e-12, "BTC IM 25");
    close(im * 100_000.0, 53_125.0, 0.005, "BTC IM 25 USDC");
    close(mm, 0.28125, 1e-12, "BTC MM 25");
    close(mm * 100_000.0, 28_125.0, 0.005, "BTC MM 25 USDC");
    let (im, _) = futures_margin_coin(btc, 350.0);
    close(im, 13.125, 1e-12, "BTC IM 350");
    close(im * 100_000.0, 1_312_500.0, 0.005, "BTC IM 350 USDC");
    let (im, mm) = futures_margin_coin(sol, 25.0);
    close(im, 1.003125, 1e-12, "SOL IM 25");
    close(im * 200.0, 200.625, 0.005, "SOL IM 25 USDC");
    close(mm, 0.503125, 1e-12, "SOL MM 25");
    close(mm * 200.0, 100.625, 0.005, "SOL MM 25 USDC");
    let (im, _) = futures_margin_coin(sol, 6000.0);
    close(im, 420.0, 1e-9, "SOL IM 6000");
    close(im * 200.0, 84_000.0, 0.005, "SOL IM 6000 USDC");
}

/// The same table through the whole model: a 25 BTC short BTC_USDC perpetual, margined in USDC
/// at the index price (the page: "converted to the margin currency at the index price").
#[test]
fn linear_perpetual_is_margined_in_usdc_at_the_index() {
    let ins = perp(
        Venue::Deribit,
        "BTC_USDC-PERPETUAL",
        "BTC",
        "USDC",
        Settlement::Linear,
        1.0,
        SizeUnit::Base,
    );
    let mut m = market();
    m.index_prices.insert("deribit:BTC".into(), 100_000.0);
    m.mark_prices.insert(ins.id(), 100_000.0);
    let acc = account(
        vec![coll(Venue::Deribit, "USDC", 100_000.0, 6)],
        vec![pos(ins, -25.0, Some(100_000.0))],
    );
    let out = DeribitStandard::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].settlement, "USDC");
    close(out[0].initial_margin, 53_125.0, 0.005, "IM");
    close(out[0].maintenance_margin, 28_125.0, 0.005, "MM");
    close(out[0].equity, 100_000.0, 1e-9, "equity");
    // LP: rate 1 % + 25 × 0.005 % = 1.125 %; 100,000 − 25·(P − 100,000) = 25·P·1.125 %
    // → P = 2,600,000 / 25.28125 = 102,843.02.
    let lp = out[0].positions[0].liquidation_price.unwrap();
    assert_eq!((lp * 100.0).round() / 100.0, 102_843.02);
}

/// Inverse BTC perpetual, hand calculation with the 11 January 2022 rates
/// (https://support.deribit.com/hc/en-us/articles/25944826427293-11-January-2022):
/// 250,000 USD of contracts (25,000 × 10 USD) at mark 50,000 → 5 BTC;
/// IM = 5 × (2 % + 5 × 0.005 %) = 5 × 0.02025 = 0.10125 BTC; MM = 5 × 0.01025 = 0.05125 BTC.
/// Long entered at 40,000: P&L = 250,000 × (1/40,000 − 1/50,000) = 1.25 BTC.
#[test]
fn inverse_perpetual_margin_is_in_coin() {
    let ins = perp(
        Venue::Deribit,
        "BTC-PERPETUAL",
        "BTC",
        "BTC",
        Settlement::Inverse,
        10.0,
        SizeUnit::Quote,
    );
    let mut m = market();
    m.fx.insert("BTC".into(), 50_000.0);
    m.mark_prices.insert(ins.id(), 50_000.0);
    let acc = account(
        vec![coll(Venue::Deribit, "BTC", 1.0, 8)],
        vec![pos(ins, 25_000.0, Some(40_000.0))],
    );
    let out = DeribitStandard::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap();
    close(out[0].initial_margin, 0.10125, 1e-12, "IM");
    close(out[0].maintenance_margin, 0.05125, 1e-12, "MM");
    close(out[0].equity, 2.25, 1e-12, "equity");
    close(
        out[0].in_quote.as_ref().unwrap().equity,
        112_500.0,
        1e-6,
        "equity USD",
    );
    close(out[0].margin_ratio, 0.05125 / 2.25, 1e-15, "ratio");
    // Liquidation price, all else fixed: with x = 1/P, equity 2.25 + 5 − 250,000·x equals
    // q·(1 % + q·0.005 %) with q = 250,000·x, i.e. 3,125,000·x² + 252,500·x − 7.25 = 0 →
    // x = (−252,500 + √(252,500² + 4 × 3,125,000 × 7.25)) / 6,250,000 → P = 34,839.958.
    // Check: at that price equity = MM = 0.0743312 BTC.
    let lp = out[0].positions[0].liquidation_price.unwrap();
    let x = (-252_500.0 + (252_500.0f64.powi(2) + 4.0 * 3_125_000.0 * 7.25).sqrt()) / 6_250_000.0;
    close(lp, 1.0 / x, 1e-6, "LP");
    let q = 250_000.0 / lp;
    close(
        7.25 - q,
        q * (0.01 + q * 0.00005),
        1e-12,
        "equity = MM at LP",
    );
}

/// Short call at U = 10,000 USD with mark 0.025 BTC, not out of the money: IM = (0.15 + 0.025) =
/// 0.175 BTC = 1,750 USD — the worked example of the formula's third-party re-implementation
/// (LEAN fork `DeribitOptionMarginModel` test, formula text at
/// https://doc.tslab.pro/tslab/eng/data-providers/connection-to-broker/deribit-cryptocurrency-exchange/deribit-margin-requirements-calculation).
/// MM = 0.075 + 0.025 = 0.1 BTC. Long options carry no requirement.
#[test]
fn short_call_example_is_reproduced() {
    let r = DeribitParams::embedded().unwrap().options;
    let (im, mm) = short_option_margin_coin(&r, OptionKind::Call, 9_000.0, 10_000.0, 0.025);
    close(im, 0.175, 1e-12, "IM");
    close(im * 10_000.0, 1_750.0, 1e-8, "IM USD");
    close(mm, 0.1, 1e-12, "MM");

    let call = inverse_option("BTC-1JAN30-9000-C", "BTC", 9_000.0, OptionKind::Call);
    let mut m = market();
    m.index_prices.insert("deribit:BTC".into(), 10_000.0);
    m.fx.insert("BTC".into(), 10_000.0);
    m.mark_prices.insert(call.id(), 0.025);
    let short = account(
        vec![coll(Venue::Deribit, "BTC", 1.0, 8)],
        vec![pos(call.clone(), -2.0, Some(0.02))],
    );
    let out = DeribitStandard::new()
        .unwrap()
        .margin(&short, &assets(), &m)
        .unwrap();
    close(out[0].initial_margin, 0.35, 1e-12, "IM 2 calls");
    close(out[0].maintenance_margin, 0.2, 1e-12, "MM 2 calls");
    // Equity = balance − 2 × 0.025 (options value of the short).
    close(out[0].equity, 0.95, 1e-12, "equity");
    let long = account(
        vec![coll(Venue::Deribit, "BTC", 1.0, 8)],
        vec![pos(call, 2.0, Some(0.02))],
    );
    let out = DeribitStandard::new()
        .unwrap()
        .margin(&long, &assets(), &m)
        .unwrap();
    assert_eq!(
        (out[0].initial_margin, out[0].maintenance_margin),
        (0.0, 0.0)
    );
    close(out[0].equity, 1.05, 1e-12, "equity long");
}

/// Short puts, hand calculation: U = 90,000, K = 80,000 → OTM = 10,000, OTM/U = 0.1111;
/// max(0.15 − 0.1111, 0.1) = 0.1; mark 0.019 → IM term 0.119; MM = max(0.075, 0.075 × 0.019) +
/// 0.019 = 0.094; IM = max(0.119, 0.094) = 0.119 per option.
/// In the money (K = 100,000): OTM = 0 → IM = 0.15 + 0.12 = 0.27; MM = 0.075 + 0.12 = 0.195.
#[test]
fn short_put_hand_calculation() {
    let r = DeribitParams::embedded().unwrap().options;
    let (im, mm) = short_option_margin_coin(&r, OptionKind::Put, 80_000.0, 90_000.0, 0.019);
    close(im, 0.119, 1e-12, "IM otm");
    close(mm, 0.094, 1e-12, "MM otm");
    let (im, mm) = short_option_margin_coin(&r, OptionKind::Put, 100_000.0, 90_000.0, 0.12);
    close(im, 0.27, 1e-12, "IM itm");
    close(mm, 0.195, 1e-12, "MM itm");
}

#[test]
fn missing_mark_names_the_market_key() {
    let ins = perp(
        Venue::Deribit,
        "BTC-PERPETUAL",
        "BTC",
        "BTC",
        Settlement::Inverse,
        10.0,
        SizeUnit::Quote,
    );
    let acc = account(vec![], vec![pos(ins, 10.0, None)]);
    let e = DeribitStandard::new()
        .unwrap()
        .margin(&acc, &assets(), &market())
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("market.mark_prices[\"deribit:BTC-PERPETUAL\"]"),
        "{e}"
    );
}

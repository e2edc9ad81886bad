//! Hyperliquid margin, hand calculations from the documented rules
//! (https://hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations,
//! https://hyperliquid.gitbook.io/hyperliquid-docs/trading/margin-tiers). Hyperliquid publishes
//! no numeric worked example, so each number is worked out in the comments.
mod venue_support;

use intermargin_margin::venues::hyperliquid::HyperliquidPerps;
use intermargin_margin::MarginModel;
use intermargin_model::Venue;
use serde_json::json;
use venue_support::*;

/// BTC long 10 @ 60,000 (mark 60,000), leverage 10, 100,000 USDC, embedded table (40x below
/// 150M): IM = 600,000 / 10 = 60,000; MM rate = 1/(2·40) = 1.25 % → MM = 7,500;
/// margin available = 100,000 − 7,500 = 92,500;
/// LP = 60,000 − 1 × 92,500 / 10 / (1 − 0.0125) = 60,000 − 9,367.0886 = 50,632.9114.
/// Check: at 50,632.9114 equity = 100,000 + 10 × (−9,367.0886) = 6,329.114 = 10 × P × 1.25 %.
#[test]
fn cross_long_hand_calculation() {
    let btc = linear_perp(Venue::Hyperliquid, "BTC", "BTC", "USDC");
    let mut m = market();
    m.mark_prices.insert(btc.id(), 60_000.0);
    let mut p = pos(btc, 10.0, Some(60_000.0));
    p.leverage = Some(10.0);
    let acc = account(
        vec![coll(Venue::Hyperliquid, "USDC", 100_000.0, 6)],
        vec![p],
    );
    let out = HyperliquidPerps::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap();
    let v = &out[0];
    close(v.initial_margin, 60_000.0, 1e-9, "IM");
    close(v.maintenance_margin, 7_500.0, 1e-9, "MM");
    close(
        v.positions[0].liquidation_price.unwrap(),
        60_000.0 - 9_250.0 / 0.9875,
        1e-6,
        "LP",
    );
    close(v.margin_ratio, 0.075, 1e-12, "ratio");
}

/// Short 100 ETH @ 3,000 with 50,000 USDC, leverage 5: MM rate 1/(2·25) = 2 % → MM 6,000;
/// margin available 44,000; LP = 3,000 + 44,000 / 100 / (1 + 0.02) = 3,431.3725.
#[test]
fn cross_short_hand_calculation() {
    let eth = linear_perp(Venue::Hyperliquid, "ETH", "ETH", "USDC");
    let mut m = market();
    m.mark_prices.insert(eth.id(), 3_000.0);
    let mut p = pos(eth, -100.0, Some(3_000.0));
    p.leverage = Some(5.0);
    let acc = account(vec![coll(Venue::Hyperliquid, "USDC", 50_000.0, 6)], vec![p]);
    let out = HyperliquidPerps::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap();
    close(out[0].maintenance_margin, 6_000.0, 1e-9, "MM");
    close(out[0].initial_margin, 60_000.0, 1e-9, "IM");
    close(
        out[0].positions[0].liquidation_price.unwrap(),
        3_000.0 + 440.0 / 1.02,
        1e-6,
        "LP",
    );
}

/// Tiered table (DERIVED on the margin-tiers page's BTC table): above 150M the max leverage is
/// 20x (2.5 %), deduction = 150,000,000 × (2.5 % − 1.25 %) = 1,875,000; a 200M position:
/// MM = 200,000,000 × 2.5 % − 1,875,000 = 3,125,000 (= 150M × 1.25 % + 50M × 2.5 %).
#[test]
fn second_tier_uses_the_maintenance_deduction() {
    let btc = linear_perp(Venue::Hyperliquid, "BTC", "BTC", "USDC");
    let mut m = market();
    m.mark_prices.insert(btc.id(), 100_000.0);
    let mut p = pos(btc, 2_000.0, Some(100_000.0));
    p.leverage = Some(20.0);
    let acc = account(
        vec![coll(Venue::Hyperliquid, "USDC", 50_000_000.0, 6)],
        vec![p],
    );
    let out = HyperliquidPerps::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap();
    close(out[0].maintenance_margin, 3_125_000.0, 1e-6, "MM");
}

/// Venue-published tables in the adapter's shape override the file: the docs' `meta` example
/// table 51 ("tiered 10x": 10x below 3,000,000, 5x above). A 4,000,000 position:
/// rates 5 % and 10 %, deduction = 3,000,000 × 5 % = 150,000 → MM = 400,000 − 150,000 = 250,000.
/// Without a table id, `max_leverage` 50 (the docs' BTC entry) → 1 %.
#[test]
fn published_margin_tables_override_the_file() {
    let coin = linear_perp(Venue::Hyperliquid, "ETH", "ETH", "USDC");
    let mut m = market();
    m.mark_prices.insert(coin.id(), 4_000.0);
    m.venue_params.insert(
        "hyperliquid:ETH".into(),
        json!({"source": "POST /info meta", "max_leverage": 10.0, "margin_table_id": 51}),
    );
    m.venue_params.insert(
        "hyperliquid".into(),
        json!({"source": "POST /info meta", "margin_tables": {
            "51": [{"lower_bound": 0.0, "max_leverage": 10.0}, {"lower_bound": 3000000.0, "max_leverage": 5.0}]}}),
    );
    let mut p = pos(coin.clone(), 1_000.0, Some(4_000.0));
    p.leverage = Some(5.0);
    let acc = account(
        vec![coll(Venue::Hyperliquid, "USDC", 1_000_000.0, 6)],
        vec![p.clone()],
    );
    let out = HyperliquidPerps::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap();
    close(out[0].maintenance_margin, 250_000.0, 1e-6, "MM");

    m.venue_params.insert(
        "hyperliquid:ETH".into(),
        json!({"source": "POST /info meta", "max_leverage": 50.0}),
    );
    let out = HyperliquidPerps::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap();
    close(out[0].maintenance_margin, 40_000.0, 1e-6, "MM 50x");
}

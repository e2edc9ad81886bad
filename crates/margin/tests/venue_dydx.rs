//! dYdX v4 against the worked examples of dydxprotocol/v4-documentation
//! `docs/pages/concepts/trading/liquidations.mdx` and the margin rules of `margin.mdx`.
mod venue_support;

use intermargin_margin::venues::dydx::{Collateralisation, DydxV4};
use intermargin_margin::MarginModel;
use intermargin_model::Venue;
use serde_json::json;
use venue_support::*;

fn fractions(imf: f64, mmf: f64) -> serde_json::Value {
    json!({"source": "GET /v4/perpetualMarkets", "initial_margin_fraction": imf, "maintenance_margin_fraction": mmf})
}

/// Isolated example: e = 1,000, short 3 ETH at p = 3,000, MMF 5 %:
/// p' = (e − s·p) / (|s|·MMF − s) = (1,000 + 9,000) / (0.15 + 3) = 3,174.60.
#[test]
fn isolated_liquidation_price_example() {
    let eth = linear_perp(Venue::Dydx, "ETH-USD", "ETH", "USDC");
    let mut m = market();
    m.mark_prices.insert(eth.id(), 3_000.0);
    m.venue_params
        .insert("dydx:ETH-USD".into(), fractions(0.10, 0.05));
    // Settled balance = Q + S·entry = 10,000 − 9,000 = 1,000 USDC (PARAMS.md convention).
    let acc = account(
        vec![coll(Venue::Dydx, "USDC", 1_000.0, 6)],
        vec![pos(eth, -3.0, Some(3_000.0))],
    );
    let out = DydxV4::new().unwrap().margin(&acc, &assets(), &m).unwrap();
    let v = &out[0];
    let lp = v.positions[0].liquidation_price.unwrap();
    assert_eq!((lp * 100.0).round() / 100.0, 3_174.60);
    close(lp, 10_000.0 / 3.15, 1e-9, "LP exact");
    // At p' the equity equals 3 × 3,174.6 × 5 % ≈ 476.2 (the page's check).
    close(
        1_000.0 - 3.0 * (lp - 3_000.0),
        3.0 * lp * 0.05,
        1e-9,
        "equity = MMR at p'",
    );
    // Collateralisation: TNC 1,000 ≥ IMR 900, not < MMR 450.
    let c = Collateralisation {
        net_collateral: v.equity,
        initial: v.initial_margin,
        maintenance: v.maintenance_margin,
    };
    close(c.initial, 900.0, 1e-9, "IMR");
    close(c.maintenance, 450.0, 1e-9, "MMR");
    assert!(c.is_initial_collateralised() && !c.is_liquidatable());
}

/// Cross example: e = 1,000; short 1.5 ETH @ 3,000 (MMF 5 %); long 1,000 STRK @ 1.75 (MMF 10 %)
/// → MMR_o = 175; p' = (1,000 + 4,500 − 175) / (0.075 + 1.5) = 5,325 / 1.575 = 3,380.95.
#[test]
fn cross_liquidation_price_example() {
    let eth = linear_perp(Venue::Dydx, "ETH-USD", "ETH", "USDC");
    let strk = linear_perp(Venue::Dydx, "STRK-USD", "STRK", "USDC");
    let mut m = market();
    m.mark_prices.insert(eth.id(), 3_000.0);
    m.mark_prices.insert(strk.id(), 1.75);
    m.venue_params
        .insert("dydx:ETH-USD".into(), fractions(0.10, 0.05));
    m.venue_params
        .insert("dydx:STRK-USD".into(), fractions(0.20, 0.10));
    let acc = account(
        vec![coll(Venue::Dydx, "USDC", 1_000.0, 6)],
        vec![
            pos(eth, -1.5, Some(3_000.0)),
            pos(strk, 1_000.0, Some(1.75)),
        ],
    );
    let out = DydxV4::new().unwrap().margin(&acc, &assets(), &m).unwrap();
    let lp = out[0].positions[0].liquidation_price.unwrap();
    assert_eq!((lp * 100.0).round() / 100.0, 3_380.95);
    close(out[0].maintenance_margin, 225.0 + 175.0, 1e-9, "MMR");
}

/// Open-interest IMF scaling (margin.mdx), hand calculation: IMF 10 %, caps 20M / 50M USDC,
/// open interest 700 BTC at oracle 50,000 = 35M → scaling 0.5 → IMF = 0.10 + 0.5 × 0.90 = 0.55.
/// A 1 BTC position: IMR = 50,000 × 0.55 = 27,500; MMR (never scaled) = 50,000 × 5 % = 2,500.
/// With 20,000 USDC: TNC 20,000 < IMR (no new risk) but ≥ MMR (not liquidatable).
#[test]
fn open_interest_scales_initial_margin_only() {
    let btc = linear_perp(Venue::Dydx, "BTC-USD", "BTC", "USDC");
    let mut m = market();
    m.mark_prices.insert(btc.id(), 50_000.0);
    m.venue_params.insert(
        "dydx:BTC-USD".into(),
        json!({"source": "GET /v4/perpetualMarkets", "initial_margin_fraction": 0.10, "maintenance_margin_fraction": 0.05,
               "open_interest": 700.0, "open_interest_lower_cap": 20000000.0, "open_interest_upper_cap": 50000000.0}),
    );
    let acc = account(
        vec![coll(Venue::Dydx, "USDC", 20_000.0, 6)],
        vec![pos(btc, 1.0, Some(50_000.0))],
    );
    let v = &DydxV4::new().unwrap().margin(&acc, &assets(), &m).unwrap()[0];
    close(v.initial_margin, 27_500.0, 1e-6, "IMR");
    close(v.maintenance_margin, 2_500.0, 1e-9, "MMR");
    let c = Collateralisation {
        net_collateral: v.equity,
        initial: v.initial_margin,
        maintenance: v.maintenance_margin,
    };
    assert!(!c.is_initial_collateralised() && !c.is_liquidatable());
}

/// Without published fractions the file's large-cap tier applies (IMF 5 %, MMF 5 % × 0.6 = 3 %).
#[test]
fn file_tier_fallback() {
    let btc = linear_perp(Venue::Dydx, "BTC-USD", "BTC", "USDC");
    let mut m = market();
    m.mark_prices.insert(btc.id(), 40_000.0);
    let acc = account(
        vec![coll(Venue::Dydx, "USDC", 10_000.0, 6)],
        vec![pos(btc, 2.0, Some(40_000.0))],
    );
    let v = &DydxV4::new().unwrap().margin(&acc, &assets(), &m).unwrap()[0];
    close(v.initial_margin, 4_000.0, 1e-6, "IMR");
    close(v.maintenance_margin, 2_400.0, 1e-9, "MMR");
}

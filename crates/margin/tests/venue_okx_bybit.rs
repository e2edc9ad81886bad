//! OKX and Bybit tiered maintenance. Neither venue's documentation carries a complete numeric
//! example for the current tables, so the numbers are worked out in the comments from the
//! documented schedules.
mod venue_support;

use intermargin_margin::venues::bybit::BybitRiskLimit;
use intermargin_margin::venues::okx::OkxTiered;
use intermargin_margin::MarginModel;
use intermargin_model::{Settlement, SizeUnit, Venue};
use serde_json::json;
use venue_support::*;

/// OKX BTC-USD-SWAP (100 USD per contract), May 2019 schedule
/// (https://www.okx.com/id/help/adjustment-of-perpetual-swap-tiered-maintenance-margin-ratio-schedule):
/// short 2,000 contracts → tier 2 (1,000–9,999: MMR 1 %). Mark 50,000 → value 200,000 / 50,000
/// = 4 BTC; MM = 0.04 BTC; leverage 20 → IM = 0.2 BTC. Entry 50,000 → P&L 0; 1 BTC balance.
/// Liquidation (inverse, all else fixed): x = (1 + (−200,000)/50,000) / (−200,000 + 200,000 × 1 %)
/// = −3 / −198,000 → P = 66,000.
#[test]
fn okx_inverse_swap_hand_calculation() {
    let ins = perp(
        Venue::Okx,
        "BTC-USD-SWAP",
        "BTC",
        "BTC",
        Settlement::Inverse,
        100.0,
        SizeUnit::Quote,
    );
    let mut m = market();
    m.fx.insert("BTC".into(), 50_000.0);
    m.mark_prices.insert(ins.id(), 50_000.0);
    let mut p = pos(ins, -2_000.0, Some(50_000.0));
    p.leverage = Some(20.0);
    let acc = account(vec![coll(Venue::Okx, "BTC", 1.0, 8)], vec![p]);
    let v = &OkxTiered::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap()[0];
    assert_eq!(v.settlement, "BTC");
    close(v.maintenance_margin, 0.04, 1e-12, "MM");
    close(v.initial_margin, 0.2, 1e-12, "IM");
    close(
        v.positions[0].liquidation_price.unwrap(),
        66_000.0,
        1e-6,
        "LP",
    );
}

/// Published OKX position tiers (rows of GET /api/v5/public/position-tiers, inclusive bounds)
/// override the file: 0–500 contracts at 0.4 %, 501–1,000 at 0.6 %. 600 contracts of
/// BTC-USDT-SWAP (0.01 BTC each) at 60,000 → 6 BTC = 360,000 USDT × 0.6 % = 2,160 USDT;
/// without leverage, tier max 50x → IM 7,200.
#[test]
fn okx_published_tiers_override_the_file() {
    let ins = perp(
        Venue::Okx,
        "BTC-USDT-SWAP",
        "BTC",
        "USDT",
        Settlement::Linear,
        0.01,
        SizeUnit::Base,
    );
    let mut m = market();
    m.mark_prices.insert(ins.id(), 60_000.0);
    m.venue_params.insert(
        "okx:BTC-USDT".into(),
        json!([{"tier": "1", "minSz": "0", "maxSz": "500", "mmr": "0.004", "imr": "0.01", "maxLever": "100"},
               {"tier": "2", "minSz": "501", "maxSz": "1000", "mmr": "0.006", "imr": "0.02", "maxLever": "50"}]),
    );
    let acc = account(
        vec![coll(Venue::Okx, "USDT", 50_000.0, 6)],
        vec![pos(ins, 600.0, None)],
    );
    let v = &OkxTiered::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap()[0];
    close(v.maintenance_margin, 2_160.0, 1e-9, "MM");
    close(v.initial_margin, 7_200.0, 1e-9, "IM");
}

/// Bybit's USDT-contract illustration (XYZUSDT, https://www.fourbit.net/en/help-center/article/Maintenance-Margin-USDT-Contract,
/// mirror of Bybit's help centre): tiers of 1,000 USDT from 2 % rising 0.5 % per tier; position
/// 100 contracts × 35 USDT = 3,500 USDT at 10x. Incremental MM = 1,000 × 2 % + 1,000 × 2.5 % +
/// 1,000 × 3 % + 500 × 3.5 % = 20 + 25 + 30 + 17.5 = 92.5 USDT; IM = 350 USDT.
/// Supplied in the adapter's shape (crates/venues/PARAMS.md) without mm_deduction, so the
/// deduction is derived (3,500 × 3.5 % − 30 = 92.5).
#[test]
fn bybit_usdt_illustration_incremental_maintenance() {
    let ins = linear_perp(Venue::Bybit, "XYZUSDT", "XYZ", "USDT");
    let mut m = market();
    m.mark_prices.insert(ins.id(), 35.0);
    let tiers: Vec<_> = (1..=5)
        .map(|k| json!({"id": k, "risk_limit_value": 1000.0 * k as f64, "maintenance_margin_rate": 0.015 + 0.005 * k as f64,
                         "initial_margin_rate": 0.1, "max_leverage": 10.0}))
        .collect();
    m.venue_params.insert(
        "bybit:XYZUSDT".into(),
        json!({"source": "GET /v5/market/risk-limit", "category": "linear", "risk_limits": tiers}),
    );
    let mut p = pos(ins, 100.0, Some(35.0));
    p.leverage = Some(10.0);
    let acc = account(vec![coll(Venue::Bybit, "USDT", 1_000.0, 6)], vec![p]);
    let v = &BybitRiskLimit::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap()[0];
    close(v.maintenance_margin, 92.5, 1e-9, "MM");
    close(v.initial_margin, 350.0, 1e-9, "IM");
}

/// Inverse BTCUSD, tier 1 of the risk-limit API example (150 BTC, MM 0.5 %, IM 1 %, 100x;
/// https://bybit-exchange.github.io/docs/v5/market/risk-limit), raw percent payload: long
/// 100,000 USD at mark 50,000 = 2 BTC; MM 0.01 BTC; IM at 100x 0.02 BTC; balance 0.5 BTC.
/// LP: x = (0.5 + 100,000/50,000) / (100,000 + 100,000 × 0.5 %) = 2.5 / 100,500 → P = 40,200.
#[test]
fn bybit_inverse_raw_percent_payload() {
    let ins = perp(
        Venue::Bybit,
        "BTCUSD",
        "BTC",
        "BTC",
        Settlement::Inverse,
        1.0,
        SizeUnit::Quote,
    );
    let mut m = market();
    m.fx.insert("BTC".into(), 50_000.0);
    m.mark_prices.insert(ins.id(), 50_000.0);
    m.venue_params.insert(
        "bybit:BTCUSD".into(),
        json!({"result": {"category": "inverse", "list": [{"id": 1, "symbol": "BTCUSD", "riskLimitValue": "150",
               "maintenanceMargin": "0.5", "initialMargin": "1", "isLowestRisk": 1, "maxLeverage": "100.00", "mmDeduction": ""}]}}),
    );
    let acc = account(
        vec![coll(Venue::Bybit, "BTC", 0.5, 8)],
        vec![pos(ins.clone(), 100_000.0, Some(50_000.0))],
    );
    let v = &BybitRiskLimit::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap()[0];
    close(v.maintenance_margin, 0.01, 1e-12, "MM");
    close(v.initial_margin, 0.02, 1e-12, "IM");
    close(
        v.positions[0].liquidation_price.unwrap(),
        40_200.0,
        1e-6,
        "LP",
    );
    // The embedded file carries the same tier.
    m.venue_params.clear();
    let v = &BybitRiskLimit::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap()[0];
    close(v.maintenance_margin, 0.01, 1e-12, "MM file");
}

#[test]
fn bybit_position_past_the_known_tiers_is_refused_with_a_hint() {
    let ins = linear_perp(Venue::Bybit, "BTCUSDT", "BTC", "USDT");
    let mut m = market();
    m.mark_prices.insert(ins.id(), 100_000.0);
    let mut p = pos(ins, 30.0, None);
    p.leverage = Some(10.0);
    let acc = account(vec![], vec![p]);
    let e = BybitRiskLimit::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("beyond the last tier") && e.contains("venue_params"),
        "{e}"
    );
}

/// OKX BTCUSDC expiry futures, tiers of 20 March 2024
/// (https://www.okx.com/help/okx-to-adjust-position-tiers-of-several-futures-2024-03-19):
/// 3,000 contracts fall in tier 2 (2,501–5,000: MMR 3 %, max 15x)
/// (contract size 0.01 BTC in this test): 30 BTC × 60,000 = 1,800,000 USDC;
/// MM = 54,000; no leverage given → tier max 15x → IM = 120,000.
#[test]
fn okx_usdc_futures_file_tiers() {
    let mut ins = perp(
        Venue::Okx,
        "BTC-USDC-250328",
        "BTC",
        "USDC",
        Settlement::Linear,
        0.01,
        SizeUnit::Base,
    );
    ins.kind = intermargin_model::InstrumentKind::Future {
        expiry_ms: 1_743_148_800_000,
    };
    let mut m = market();
    m.mark_prices.insert(ins.id(), 60_000.0);
    let acc = account(
        vec![coll(Venue::Okx, "USDC", 500_000.0, 6)],
        vec![pos(ins, 3_000.0, None)],
    );
    let v = &OkxTiered::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap()[0];
    close(v.maintenance_margin, 54_000.0, 1e-6, "MM");
    close(v.initial_margin, 120_000.0, 1e-6, "IM");
}

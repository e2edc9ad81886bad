//! Aave v3 health factor, borrowing power, E-Mode, close factor and the VenueMargin mapping.
mod venue_support;

use intermargin_margin::venues::aave::{
    close_factor, collateral_seized, health_factor, AaveParams, AaveV3, AaveVersion,
};
use intermargin_margin::MarginModel;
use intermargin_model::Venue;
use proptest::prelude::*;
use serde_json::json;
use venue_support::*;

fn weth_usdc_market(weth: f64) -> intermargin_model::Market {
    let mut m = market();
    m.index_prices.insert("aave:WETH".into(), weth);
    m.index_prices.insert("aave:USDC".into(), 1.0);
    m
}

/// Hand calculation with the file's WETH reserve (LTV 80.5 %, LT 83 %): 10 WETH at 2,000 and a
/// 12,000 USDC debt. HF = 20,000 × 0.83 / 12,000 = 1.38333; borrowing power = 16,100.
/// Mapping: equity 8,000; maintenance 20,000 × 17 % = 3,400; initial 20,000 × 19.5 % = 3,900;
/// ratio 0.425. WETH price at HF = 1: 12,000 / (10 × 0.83) = 1,445.78.
#[test]
fn health_factor_hand_calculation_and_mapping() {
    let m = weth_usdc_market(2_000.0);
    let acc = account(
        vec![
            coll(Venue::Aave, "WETH", 10.0, 18),
            coll(Venue::Aave, "USDC", -12_000.0, 6),
        ],
        vec![],
    );
    close(
        health_factor(&acc, &assets(), &m).unwrap(),
        16_600.0 / 12_000.0,
        1e-12,
        "HF",
    );
    let model = AaveV3::new().unwrap();
    let st = model.account_state(&acc, &assets(), &m).unwrap();
    close(st.borrowing_power(), 16_100.0, 1e-9, "borrowing power");
    let v = &model.margin(&acc, &assets(), &m).unwrap()[0];
    assert_eq!(v.settlement, "USD");
    close(v.equity, 8_000.0, 1e-9, "equity");
    close(v.maintenance_margin, 3_400.0, 1e-9, "MM");
    close(v.initial_margin, 3_900.0, 1e-9, "IM");
    close(v.margin_ratio, 0.425, 1e-12, "ratio");
    let weth = v
        .positions
        .iter()
        .find(|p| p.instrument == "aave:WETH")
        .unwrap();
    close(
        weth.liquidation_price.unwrap(),
        12_000.0 / 8.3,
        1e-9,
        "WETH LP",
    );
}

/// Liquidation worked example (3rd-party explanation of Aave's rules, reference §7): collateral
/// 1,000 USD of ETH, debt 900 USDC, HF fallen to 0.95, bonus 5 %: the liquidator repays 450 (50 %)
/// and receives 472.5 of ETH, a 22.5 profit. aave-v3-core's `LiquidationLogic` takes 50 % only
/// when `healthFactor > CLOSE_FACTOR_HF_THRESHOLD` (0.95): the example's 50 % holds just above
/// 0.95 and at exactly 0.95 the protocol allows 100 %. Under v3.3 the same account may be closed
/// fully: HF ≤ 0.95 (inclusive) and the debt is under 2,000 USD.
#[test]
fn close_factor_example() {
    let p = AaveParams::embedded().unwrap().liquidation;
    assert_eq!(
        close_factor(0.95, 900.0, 1_000.0, AaveVersion::V3_0, &p),
        1.0
    );
    let cf = close_factor(0.951, 900.0, 1_000.0, AaveVersion::V3_0, &p);
    close(cf, 0.5, 0.0, "v3.0 close factor");
    close(cf * 900.0, 450.0, 1e-12, "repaid");
    close(collateral_seized(450.0, 0.05), 472.5, 1e-9, "seized");
    close(collateral_seized(450.0, 0.05) - 450.0, 22.5, 1e-9, "profit");
    assert_eq!(
        close_factor(0.95, 900.0, 1_000.0, AaveVersion::V3_3, &p),
        1.0
    );
    assert_eq!(
        close_factor(0.97, 50_000.0, 60_000.0, AaveVersion::V3_3, &p),
        0.5
    );
    assert_eq!(
        close_factor(0.94, 50_000.0, 60_000.0, AaveVersion::V3_0, &p),
        1.0
    );
    assert_eq!(
        close_factor(1.2, 50_000.0, 60_000.0, AaveVersion::V3_3, &p),
        0.0
    );
}

/// E-Mode from venue-published params (adapter shape, crates/venues/PARAMS.md): user in
/// category 1 (LT 95 %, LTV 93 %), WETH in category 1. 10 WETH at 2,000, 15,000 USDC debt:
/// HF = 20,000 × 0.95 / 15,000 = 1.26667 (without E-Mode 20,000 × 0.83 / 15,000 = 1.10667).
#[test]
fn emode_overrides_reserve_parameters() {
    let mut m = weth_usdc_market(2_000.0);
    m.venue_params.insert(
        "aave:WETH".into(),
        json!({"source": "t", "ltv": 0.805, "liquidation_threshold": 0.83, "liquidation_bonus": 0.05, "emode_category": 1}),
    );
    m.venue_params.insert(
        "aave".into(),
        json!({"source": "t", "emode_categories": {"1": {"label": "ETH correlated", "ltv": 0.93, "liquidation_threshold": 0.95, "liquidation_bonus": 0.01}}}),
    );
    let acc = account(
        vec![
            coll(Venue::Aave, "WETH", 10.0, 18),
            coll(Venue::Aave, "USDC", -15_000.0, 6),
        ],
        vec![],
    );
    close(
        health_factor(&acc, &assets(), &m).unwrap(),
        20_000.0 * 0.83 / 15_000.0,
        1e-12,
        "HF without e-mode",
    );
    m.venue_params.insert(
        "aave:user:acct".into(),
        json!({"source": "Pool.getUserEMode", "emode_category": 1}),
    );
    close(
        health_factor(&acc, &assets(), &m).unwrap(),
        20_000.0 * 0.95 / 15_000.0,
        1e-12,
        "HF e-mode",
    );
    let st = AaveV3::new()
        .unwrap()
        .account_state(&acc, &assets(), &m)
        .unwrap();
    close(
        st.borrowing_power(),
        18_600.0,
        1e-9,
        "borrowing power e-mode",
    );
}

/// Totals-only import (PARAMS.md: asset `USD`, 8 decimals, from getUserAccountData) margined at
/// the user's weighted figures: collateral 10,000, debt 6,000, LT 80 %, LTV 75 %:
/// HF = 10,000 × 0.8 / 6,000 = 1.3333; equity 4,000; MM = 10,000 × 20 % = 2,000; IM = 2,500.
/// A supply the user disabled as collateral counts for nothing.
#[test]
fn totals_only_import_and_disabled_collateral() {
    let mut a = assets();
    a.push(intermargin_model::Asset::new("USD", 8));
    let mut m = market();
    m.venue_params.insert(
        "aave:user:acct".into(),
        json!({"source": "Pool.getUserAccountData", "ltv": 0.75, "current_liquidation_threshold": 0.8, "health_factor": 1.3333}),
    );
    let acc = account(
        vec![
            coll(Venue::Aave, "USD", 10_000.0, 8),
            coll(Venue::Aave, "USD", -6_000.0, 8),
        ],
        vec![],
    );
    close(
        health_factor(&acc, &a, &m).unwrap(),
        8_000.0 / 6_000.0,
        1e-12,
        "HF",
    );
    let v = &AaveV3::new().unwrap().margin(&acc, &a, &m).unwrap()[0];
    close(v.equity, 4_000.0, 1e-9, "equity");
    close(v.maintenance_margin, 2_000.0, 1e-9, "MM");
    close(v.initial_margin, 2_500.0, 1e-9, "IM");

    let mut m = weth_usdc_market(2_000.0);
    m.venue_params.insert(
        "aave:user-reserve:WETH".into(),
        json!({"source": "t", "collateral_disabled": true}),
    );
    let acc = account(
        vec![
            coll(Venue::Aave, "WETH", 10.0, 18),
            coll(Venue::Aave, "USDC", -100.0, 6),
        ],
        vec![],
    );
    assert_eq!(health_factor(&acc, &a, &m).unwrap(), 0.0);
}

#[test]
fn no_debt_means_infinite_health_factor() {
    let m = weth_usdc_market(2_000.0);
    let acc = account(vec![coll(Venue::Aave, "WETH", 1.0, 18)], vec![]);
    assert_eq!(health_factor(&acc, &assets(), &m).unwrap(), f64::INFINITY);
}

proptest! {
    /// The mapping's promise: margin_ratio ≥ 1 exactly when HF ≤ 1, and equity ≥ initial exactly
    /// when the debt is within borrowing power.
    #[test]
    fn margin_ratio_crosses_one_exactly_when_health_factor_does(
        weth in 0.01f64..100.0, price in 100.0f64..10_000.0, debt in 1.0f64..500_000.0
    ) {
        let m = weth_usdc_market(price);
        let acc = account(vec![coll(Venue::Aave, "WETH", weth, 18), coll(Venue::Aave, "USDC", -debt, 6)], vec![]);
        let model = AaveV3::new().unwrap();
        let hf = model.account_state(&acc, &assets(), &m).unwrap().health_factor();
        let v = &model.margin(&acc, &assets(), &m).unwrap()[0];
        prop_assume!((hf - 1.0).abs() > 1e-9);
        prop_assert_eq!(v.margin_ratio >= 1.0, hf <= 1.0);
        let st = model.account_state(&acc, &assets(), &m).unwrap();
        let bp = st.borrowing_power();
        prop_assume!((bp - st.debt_value()).abs() > 1e-6);
        prop_assert_eq!(v.equity >= v.initial_margin, st.debt_value() <= bp);
    }
}

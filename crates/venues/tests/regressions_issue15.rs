//! Regression tests for the adapter side of issue 15: leverage from what the payload reports,
//! Deribit's USDC index, Hyperliquid's isolated margin, the venue's own figures kept, and bad
//! input refused with its JSON path and the reason.

use std::path::{Path, PathBuf};

use intermargin_model::{Snapshot, Venue};
use intermargin_venues::{import, ImportOptions, Payload, VenueError};
use serde_json::{json, Value};

fn data(rel: &str) -> Payload {
    let p: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel);
    Payload::named(rel, std::fs::read_to_string(&p).unwrap())
}

fn one(venue: Venue, v: Value) -> Result<Snapshot, VenueError> {
    import(
        venue,
        &[Payload::named("test.json", v.to_string())],
        &ImportOptions::default(),
    )
}

fn refused(venue: Venue, v: Value, path: &str, reason: &str) {
    let e = one(venue, v).expect_err("must be refused").to_string();
    assert!(e.contains(path), "path {path:?} not in {e}");
    assert!(e.contains(reason), "reason {reason:?} not in {e}");
}

/// The docs' v3 positionRisk (ADAUSDT) has no `leverage`: it is notional / positionInitialMargin
/// = 12.314277 / 0.61571385 = 20, not the bracket's maximum.
#[test]
fn binance_v3_leverage_comes_from_the_reported_initial_margin() {
    let s = import(
        Venue::Binance,
        &[data("binance/fapi_v3_positionRisk.json")],
        &ImportOptions::default(),
    )
    .unwrap();
    let p = &s.portfolio.accounts[0].positions[0];
    assert_eq!(p.leverage, Some(20.0));
    let r = &s.portfolio.accounts[0].reported;
    let im = r.iter().find(|r| r.field == "initial_margin").unwrap();
    assert_eq!(im.value, 0.615_713_85);
    assert_eq!(im.instrument.as_deref(), Some("binance:ADAUSDT"));
    let mm = r.iter().find(|r| r.field == "maintenance_margin").unwrap();
    assert_eq!(mm.value, 0.080_042_8);
    // liquidationPrice "0" means none and is not kept.
    assert!(r.iter().all(|r| r.field != "liquidation_price"));
}

/// Deribit's linear perpetual: the ticker's USDC index is kept under `deribit:SOL_USDC`.
#[test]
fn deribit_usdc_index_is_kept_for_linear_contracts() {
    let s = one(
        Venue::Deribit,
        json!({"jsonrpc": "2.0", "result": [
            {"instrument_name": "SOL_USDC-PERPETUAL", "mark_price": 200.0, "index_price": 199.5,
             "timestamp": 1700000000000i64},
            {"instrument_name": "SOL_USDC-PERPETUAL", "size": 25.0, "direction": "buy",
             "average_price": 200.0, "kind": "future", "mark_price": 200.0,
             "index_price": 199.5, "initial_margin": 200.625, "maintenance_margin": 100.625,
             "floating_profit_loss": 0.0}
        ]}),
    )
    .unwrap();
    assert_eq!(s.market.index_prices.get("deribit:SOL_USDC"), Some(&199.5));
    assert!(!s.market.index_prices.contains_key("deribit:SOL"));
    let r = &s.portfolio.accounts[0].reported;
    assert!(r
        .iter()
        .any(|r| r.field == "initial_margin" && r.value == 200.625));
}

/// A Deribit position row that lost its `size` is refused, not read as a ticker.
#[test]
fn deribit_position_row_without_size_is_refused() {
    refused(
        Venue::Deribit,
        json!({"result": [{"instrument_name": "BTC-PERPETUAL", "direction": "buy",
                           "average_price": 50000.0, "mark_price": 50000.0, "kind": "future"}]}),
        "result[0].size",
        "required field is missing",
    );
}

/// Hyperliquid's isolated `marginUsed` already includes the position's P&L: the posted margin
/// is marginUsed − unrealizedPnl (4.967826 + 0.0134 = 4.981226), so that margin + P&L gives
/// back 4.967826; the cross pool's value stays 13,104.514502.
#[test]
fn hyperliquid_isolated_margin_is_not_counted_with_its_pnl_twice() {
    let s = import(
        Venue::Hyperliquid,
        &[data("hyperliquid/info_clearinghouseState.json")],
        &ImportOptions::default(),
    )
    .unwrap();
    let acc = &s.portfolio.accounts[0];
    let p = acc.positions.iter().find(|p| p.isolated).unwrap();
    let m = p.isolated_margin.unwrap();
    assert!((m - 4.981_226).abs() < 1e-9, "{m}");
    let lp = acc
        .reported
        .iter()
        .find(|r| r.field == "liquidation_price")
        .unwrap();
    assert_eq!(lp.value, 2_866.269_365_29);
    assert_eq!(lp.pool.as_deref(), Some("isolated:hyperliquid:ETH:long"));
}

/// Zero or negative leverage is refused on every venue that reports it.
#[test]
fn zero_or_negative_leverage_is_refused() {
    refused(
        Venue::Binance,
        json!([{"symbol": "BTCUSDT", "positionAmt": "1", "entryPrice": "50000",
                "markPrice": "50000", "leverage": "0", "positionSide": "BOTH"}]),
        "[0].leverage",
        "must be > 0",
    );
    refused(
        Venue::Okx,
        json!({"code": "0", "data": [{"instId": "BTC-USDT-SWAP", "instType": "SWAP",
               "pos": "1", "lever": "-3", "mgnMode": "cross", "posSide": "net",
               "avgPx": "50000", "markPx": "50000"}]}),
        "data[0].lever",
        "must be > 0",
    );
    refused(
        Venue::Bybit,
        json!({"retCode": 0, "result": {"category": "linear", "list": [
               {"symbol": "BTCUSDT", "side": "Buy", "size": "1", "avgPrice": "50000",
                "markPrice": "50000", "leverage": "0", "tradeMode": 0, "positionIdx": 0}]}}),
        "leverage",
        "must be > 0",
    );
    refused(
        Venue::Hyperliquid,
        json!({"assetPositions": [{"position": {"coin": "ETH", "szi": "1", "entryPx": "2000",
               "unrealizedPnl": "0", "marginUsed": "100",
               "leverage": {"type": "cross", "value": 0}}, "type": "oneWay"}],
               "marginSummary": {"accountValue": "1000"}}),
        "leverage.value",
        "must be > 0",
    );
}

/// Unknown enum values are refused with the values the venue documents.
#[test]
fn unknown_enum_values_are_refused() {
    refused(
        Venue::Binance,
        json!([{"symbol": "BTCUSDT", "positionAmt": "1", "entryPrice": "50000",
                "markPrice": "50000", "leverage": "10", "positionSide": "SIDEWAYS"}]),
        "[0].positionSide",
        "SIDEWAYS",
    );
    refused(
        Venue::Okx,
        json!({"code": "0", "data": [{"instId": "BTC-USDT-SWAP", "instType": "SWAP",
               "pos": "1", "lever": "3", "mgnMode": "cross", "posSide": "up",
               "avgPx": "50000", "markPx": "50000"}]}),
        "data[0].posSide",
        "\"up\"",
    );
    refused(
        Venue::Hyperliquid,
        json!({"assetPositions": [{"position": {"coin": "ETH", "szi": "1", "entryPx": "2000",
               "unrealizedPnl": "0", "marginUsed": "100",
               "leverage": {"type": "portfolio", "value": 5}}, "type": "oneWay"}],
               "marginSummary": {"accountValue": "1000"}}),
        "leverage.type",
        "\"portfolio\"",
    );
}

/// The venue's own figures are kept beside the book: OKX `imr`/`mmr`/`liqPx`, dYdX
/// `freeCollateral`, Aave `healthFactor`.
#[test]
fn venue_reported_figures_are_kept() {
    let s = one(
        Venue::Okx,
        json!({"code": "0", "data": [{"instId": "BTC-USD-SWAP", "instType": "SWAP",
               "pos": "-4000", "lever": "4", "mgnMode": "cross", "posSide": "net",
               "avgPx": "63010.2", "markPx": "62905.3", "ccy": "BTC", "imr": "1.590",
               "mmr": "0.0254", "liqPx": "98010.4", "upl": "0.0106"}]}),
    )
    .unwrap();
    let r = &s.portfolio.accounts[0].reported;
    let get = |f: &str| r.iter().find(|x| x.field == f).map(|x| x.value);
    assert_eq!(get("initial_margin"), Some(1.59));
    assert_eq!(get("maintenance_margin"), Some(0.0254));
    assert_eq!(get("liquidation_price"), Some(98_010.4));
    assert!(r.iter().all(|x| x.pool.as_deref() == Some("cross")));
    let s = import(
        Venue::Dydx,
        &[data("dydx/v4_addresses_subaccountNumber_0.json")],
        &ImportOptions::default(),
    )
    .unwrap();
    assert!(s.portfolio.accounts[0]
        .reported
        .iter()
        .any(|r| r.field == "free_collateral"));
    let s = import(
        Venue::Aave,
        &[data("aave/pool_getUserAccountData.json")],
        &ImportOptions::default(),
    )
    .unwrap();
    assert!(s.portfolio.accounts[0]
        .reported
        .iter()
        .any(|r| r.field == "health_factor"));
}

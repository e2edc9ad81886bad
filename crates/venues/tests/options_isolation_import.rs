//! Adapter side of issue 15's products (h15b): OKX option rows, Bybit option tickers, Aave
//! isolation-mode reserve fields and the e-mode price source, read from the venues' payload
//! shapes; bad input refused with its JSON path and the reason.

use intermargin_model::{Snapshot, Venue};
use intermargin_venues::{import, ImportOptions, Payload, VenueError};
use serde_json::{json, Value};

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

/// An OKX OPTION row (GET /api/v5/account/positions) becomes an inverse option of 0.01 BTC per
/// contract with its mark, the index, and the venue's imr / mmr kept for reconcile.
#[test]
fn okx_option_row_is_an_option_with_its_reported_margins() {
    let s = one(
        Venue::Okx,
        json!({"code": "0", "msg": "", "data": [{
            "instType": "OPTION", "instId": "BTC-USD-261225-100000-C", "mgnMode": "cross",
            "posSide": "net", "pos": "-10", "ccy": "BTC", "avgPx": "0.0123", "markPx": "0.0123",
            "idxPx": "95000", "imr": "0.01123", "mmr": "0.00423", "upl": "0",
            "uTime": "1764748800000"}]}),
    )
    .unwrap();
    let p = &s.portfolio.accounts[0].positions[0];
    assert!(p.instrument.is_option());
    assert_eq!(p.instrument.settle, "BTC");
    assert_eq!(p.instrument.contract_size, 0.01);
    assert_eq!(p.size, -10.0);
    assert_eq!(s.market.mark_prices["okx:BTC-USD-261225-100000-C"], 0.0123);
    assert_eq!(s.market.index_prices["okx:BTC"], 95_000.0);
    let rep = &s.portfolio.accounts[0].reported;
    assert!(rep.iter().any(|r| r.field == "initial_margin"
        && r.value == 0.01123
        && r.pool.as_deref() == Some("cross")));
    assert!(rep
        .iter()
        .any(|r| r.field == "maintenance_margin" && r.value == 0.00423));
}

/// Bybit option tickers (GET /v5/market/tickers?category=option) give the index and mark IV
/// the option position rows lack.
#[test]
fn bybit_option_ticker_gives_index_mark_and_iv() {
    let s = one(
        Venue::Bybit,
        json!({"retCode": 0, "retMsg": "SUCCESS", "result": {"category": "option", "list": [
            {"symbol": "BTC-25DEC26-31000-C", "markPrice": "300", "indexPrice": "30000",
             "markIv": "0.55", "underlyingPrice": "30010"}]}, "time": 1764748800000i64}),
    )
    .unwrap();
    assert_eq!(s.market.index_prices["bybit:BTC"], 30_000.0);
    assert_eq!(s.market.mark_prices["bybit:BTC-25DEC26-31000-C"], 300.0);
    assert_eq!(s.market.mark_ivs["bybit:BTC-25DEC26-31000-C"], 0.55);
    refused(
        Venue::Bybit,
        json!({"retCode": 0, "result": {"category": "option", "list": [
            {"symbol": "BTC-25DEC26-31000-C", "markPrice": "-3", "indexPrice": "30000"}]}}),
        "markPrice",
        "negative",
    );
    refused(
        Venue::Bybit,
        json!({"retCode": 0, "result": {"category": "option", "list": [
            {"symbol": "BTC-NOPE", "markPrice": "3", "indexPrice": "30000"}]}}),
        "symbol",
        "cannot parse Bybit option symbol",
    );
}

fn reserves(extra: Value, cats: Value) -> Value {
    let mut r = json!({
        "symbol": "AAVE",
        "getReserveConfigurationData": {"decimals": "18", "ltv": "6600",
            "liquidationThreshold": "7300", "liquidationBonus": "10750", "reserveFactor": "0",
            "usageAsCollateralEnabled": true, "borrowingEnabled": true,
            "stableBorrowRateEnabled": false, "isActive": true, "isFrozen": false}
    });
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    json!({"chainId": 1, "reserves": [r], "eModeCategories": cats})
}

/// `getDebtCeiling` and `isolationModeTotalDebt` carry DEBT_CEILING_DECIMALS = 2: 250000 is
/// 2,500.00 USD, 220000 is 2,200.00.
#[test]
fn aave_isolation_fields_are_read_with_two_decimals() {
    let s = one(
        Venue::Aave,
        reserves(
            json!({"getDebtCeiling": "250000", "isolationModeTotalDebt": "220000",
                   "borrowableInIsolation": false}),
            json!([]),
        ),
    )
    .unwrap();
    let p = &s.market.venue_params["aave:AAVE"];
    assert_eq!(p["debt_ceiling"], 2_500.0);
    assert_eq!(p["isolation_mode_total_debt"], 2_200.0);
    assert_eq!(p["borrowable_in_isolation"], false);
    refused(
        Venue::Aave,
        reserves(json!({"getDebtCeiling": "-1"}), json!([])),
        "getDebtCeiling",
        "unsigned integer",
    );
    refused(
        Venue::Aave,
        reserves(json!({"borrowableInIsolation": "yes"}), json!([])),
        "borrowableInIsolation",
        "",
    );
}

/// An e-mode category with a price source carries that source's oracle price (8 decimals);
/// the zero address means none; a source without its price, or priced at 0, is refused.
#[test]
fn aave_emode_price_source() {
    let cat = |src: &str, price: Option<&str>| {
        let mut c = json!({"id": 1, "ltv": "9700", "liquidationThreshold": "9750",
            "liquidationBonus": "10100", "label": "Stablecoins", "priceSource": src});
        if let Some(p) = price {
            c["priceSourcePrice"] = json!(p);
        }
        json!([c])
    };
    let s = one(
        Venue::Aave,
        reserves(
            json!({}),
            cat(
                "0x1111111111111111111111111111111111111111",
                Some("100000000"),
            ),
        ),
    )
    .unwrap();
    let c = &s.market.venue_params["aave"]["emode_categories"]["1"];
    assert_eq!(c["price_usd"], 1.0);
    let s = one(
        Venue::Aave,
        reserves(
            json!({}),
            cat("0x0000000000000000000000000000000000000000", None),
        ),
    )
    .unwrap();
    assert!(s.market.venue_params["aave"]["emode_categories"]["1"]
        .get("price_usd")
        .is_none());
    refused(
        Venue::Aave,
        reserves(
            json!({}),
            cat("0x1111111111111111111111111111111111111111", None),
        ),
        "priceSource",
        "priceSourcePrice",
    );
    refused(
        Venue::Aave,
        reserves(
            json!({}),
            cat("0x1111111111111111111111111111111111111111", Some("0")),
        ),
        "priceSourcePrice",
        "never prices an asset at 0",
    );
}

//! `GET /api/v1/accounts/{id}/liquidation/plan` carries `venue_rules` beside intermargin's own
//! plan: what dYdX, Hyperliquid and Aave would themselves do (issue 15), the same JSON as
//! `intermargin liquidate --json`.

use axum::http::StatusCode;
use intermargin_server::{app, prepare};
use serde_json::{json, Value};

mod common;

const ADMIN: &str = "im_adm1n0000002_0123456789abcdef0123456789abcdef0123456789abcdef";

fn near(v: &Value, want: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - want).abs() < 1e-6)
}

/// dYdX, by hand from v4-chain `x/clob/keeper/liquidations.go` with the genesis liquidation
/// config (bankruptcy adjustment 1e6 ppm, spread-to-maintenance ratio 1e5 ppm, max fee 5,000
/// ppm): 1,500 USDC, long 10 ETH-USD from 2,000, oracle 1,900; MMF 3 % → TNC = 1,500 − 1,000 =
/// 500 < TMMR = 570, liquidatable. ABR = 1 − 500/570; fillable = (19,000 − ABR × 0.1 × 570)/10
/// = (19,000 − 7)/10 = 1,899.3; bankruptcy = (19,000 − 500)/10 = 1,850; fee = min(10 × (1,899.3 −
/// 1,850), 0.5 % × 18,993) = 94.965 to the insurance fund; TNC after = 500 − 7 − 94.965 = 398.035.
#[tokio::test]
async fn plan_carries_each_venues_own_liquidation() {
    let dir = common::tempdir::Dir::new("venue-rules");
    let cfg = common::config(&dir.0, None, ADMIN);
    let (st, _) = prepare(&cfg).await.unwrap();
    let router = app(st.clone());
    let call = |m: &'static str, uri: String, body: Option<Value>| {
        let router = router.clone();
        async move { common::call_once(&router, m, &uri, ADMIN, body).await }
    };
    {
        let mut m = st.market.write().await;
        m.mark_prices.insert("dydx:ETH-USD".into(), 1_900.0);
        m.index_prices.insert("dydx:ETH".into(), 1_900.0);
    }
    let (s, v) = call("POST", "/api/v1/accounts".into(), Some(json!({"id": "dy"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = call(
        "POST",
        "/api/v1/accounts/dy/deposits".into(),
        Some(json!({"location": "dydx", "asset": "USDC", "amount": "1500000000"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let eth = json!({"venue": "dydx", "symbol": "ETH-USD", "type": "perpetual", "underlying": "ETH",
        "quote": "USD", "settle": "USDC", "settlement": "linear", "contract_size": 1.0,
        "size_unit": "base"});
    let (s, v) = call(
        "POST",
        "/api/v1/accounts/dy/positions".into(),
        Some(json!({"venue": "dydx", "positions": [
            {"instrument": eth, "size": 10.0, "entry_price": 2000.0}]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");

    let (s, plan) = call(
        "GET",
        "/api/v1/accounts/dy/liquidation/plan?dydx_insurance_fund=0".into(),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{plan}");
    assert_eq!(plan["state"], "liquidation", "{plan}");
    let rules = plan["venue_rules"].as_array().expect("venue_rules");
    assert_eq!(rules.len(), 1, "{plan}");
    let r = &rules[0];
    assert_eq!(
        (
            r["venue"].as_str(),
            r["rule"].as_str(),
            r["liquidatable"].as_bool()
        ),
        (Some("dydx"), Some("dydx"), Some(true)),
        "{r}"
    );
    let c = &r["closes"][0];
    assert_eq!(
        (c["side"].as_str(), c["size"].as_f64()),
        (Some("sell"), Some(10.0)),
        "{c}"
    );
    assert!(near(&c["fillable_price"], 1_899.3), "{c}");
    assert!(near(&c["bankruptcy_price"], 1_850.0), "{c}");
    assert!(near(&c["insurance_fund_delta"], 94.965), "{c}");
    assert!(near(&r["net_collateral_after"], 398.035), "{r}");
    // A fund of 0 that receives the fee holds the fee after.
    assert!(near(&r["insurance_fund_after"], 94.965), "{r}");

    // Without the fund it is assumed to cover (null), as in the CLI.
    let (s, plan) = call("GET", "/api/v1/accounts/dy/liquidation/plan".into(), None).await;
    assert_eq!(s, StatusCode::OK, "{plan}");
    assert!(
        plan["venue_rules"][0]["insurance_fund_after"].is_null(),
        "{plan}"
    );

    // A bad fund names its parameter.
    for bad in ["-1", "abc", "1e400"] {
        let (s, v) = call(
            "GET",
            format!("/api/v1/accounts/dy/liquidation/plan?dydx_insurance_fund={bad}"),
            None,
        )
        .await;
        assert_eq!(
            (s, v["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("dydx_insurance_fund")),
            "{bad}: {v}"
        );
    }

    // The demo book's Aave pool is listed with Aave's own verdict (healthy: no call).
    let (s, plan) = call(
        "GET",
        "/api/v1/accounts/hedged/liquidation/plan".into(),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{plan}");
    let aave: Vec<&Value> = plan["venue_rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["venue"] == "aave")
        .collect();
    assert_eq!(aave.len(), 1, "{plan}");
    assert_eq!(aave[0]["liquidatable"], false, "{plan}");
    // The demo holds Aave collateral without debt: the health factor is infinite (JSON null).
    assert!(aave[0]["health_factor"].is_null(), "{}", aave[0]);
    assert!(aave[0]["call"].is_null(), "{plan}");
}

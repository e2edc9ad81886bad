//! Issue 15 products end to end through the binary: Binance COIN-M, Binance Portfolio Margin and
//! OKX position tiers are imported from the venues' payloads, margined by `intermargin margin`
//! and set beside the venue's own figures by `intermargin reconcile`.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../venues/tests/data")
        .join(rel)
}

fn run(args: &[&str]) -> Vec<u8> {
    let out = Command::cargo_bin("intermargin")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `import --venue V --json --file …` written to a snapshot file in `dir`.
fn import(dir: &tempfile::TempDir, venue: &str, files: &[PathBuf]) -> PathBuf {
    let mut args = vec![
        "import".to_string(),
        "--venue".into(),
        venue.into(),
        "--json".into(),
    ];
    for f in files {
        args.push("--file".into());
        args.push(f.to_str().unwrap().into());
    }
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let snap = dir.path().join(format!("{venue}.json"));
    std::fs::write(&snap, run(&a)).unwrap();
    snap
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn json(args: &[&str]) -> Value {
    serde_json::from_slice(&run(args)).unwrap()
}

fn close(v: &Value, want: f64, tol: f64, what: &str) {
    let got = v.as_f64().unwrap_or_else(|| panic!("{what}: {v}"));
    assert!((got - want).abs() <= tol, "{what}: got {got}, want {want}");
}

/// The docs' `GET /dapi/v1/positionRisk` (long 1 BTCUSD contract of 100 USD from
/// 11,707.70000003, mark 11,788.66626667, 125×) with the docs' bracket (0.4 %, cum 0) and a
/// 0.01 BTC `GET /dapi/v1/balance` row. Notional 100 / 11,788.66626667 BTC; MM × 0.4 %; IM / 125.
/// Liquidation (COIN-M formula, cross, one position):
/// 100 × (1 + 0.004) / (0.01 + 0 + 100 / 11,707.70000003).
#[test]
fn coinm_position_is_margined_in_the_coin_and_reconciled() {
    let dir = tempfile::tempdir().unwrap();
    let bal = write(
        &dir,
        "dapi_balance.json",
        r#"[{"accountAlias": "SgsR", "asset": "BTC", "balance": "0.01000000", "withdrawAvailable": "0.01",
             "crossWalletBalance": "0.01000000", "crossUnPnl": "0.00000000", "availableBalance": "0.01",
             "updateTime": 1627026881327}]"#,
    );
    let snap = import(
        &dir,
        "binance",
        &[
            data("binance/dapi_v1_positionRisk.json"),
            data("binance/dapi_v1_leverageBracket.json"),
            bal,
        ],
    );
    let s = snap.to_str().unwrap();
    let m = json(&["margin", "--snapshot", s, "--json"]);
    let pool = m["venues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["settlement"] == "BTC")
        .unwrap_or_else(|| panic!("{m:#}"));
    let notional = 100.0 / 11_788.666_266_67;
    close(&pool["maintenance_margin"], notional * 0.004, 1e-15, "MM");
    close(&pool["initial_margin"], notional / 125.0, 1e-15, "IM");
    let upnl = 100.0 * (1.0 / 11_707.700_000_03 - 1.0 / 11_788.666_266_67);
    close(&pool["equity"], 0.01 + upnl, 1e-15, "equity");
    let lp = 100.0 * 1.004 / (0.01 + 100.0 / 11_707.700_000_03);
    close(
        &pool["positions"][0]["liquidation_price"],
        lp,
        1e-6,
        "liquidation price",
    );
    // reconcile: the venue's liquidationPrice beside ours.
    let r = json(&["reconcile", "--snapshot", s, "--json"]);
    let row = r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["field"] == "liquidation_price")
        .unwrap_or_else(|| panic!("{r:#}"));
    assert_eq!(row["instrument"], "binance:BTCUSD_PERP");
    close(&row["reported"], 11_667.635_095_87, 1e-9, "reported");
    close(&row["computed"], lp, 1e-6, "computed");
}

/// OKX BTC-USD-SWAP, 150,000 contracts at mark 50,000 with the position-tiers payload (eight
/// tiers to 109,999 contracts: the venue's schedule, whose last rate goes on): 4.0 % of
/// 15,000,000 / 50,000 = 300 BTC → MM 12 BTC; lever 10 → IM 30 BTC.
#[test]
fn okx_position_tiers_payload_sets_the_tier() {
    let dir = tempfile::tempdir().unwrap();
    let pos = write(
        &dir,
        "okx_positions.json",
        r#"{"code": "0", "msg": "", "data": [{"instId": "BTC-USD-SWAP", "instType": "SWAP", "mgnMode": "cross",
            "pos": "150000", "posSide": "net", "avgPx": "50000", "markPx": "50000", "lever": "10",
            "ccy": "BTC", "uTime": "1700000000000"}]}"#,
    );
    let bal = write(
        &dir,
        "okx_balance.json",
        r#"{"code": "0", "msg": "", "data": [{"uTime": "1700000000000", "details": [
            {"ccy": "BTC", "cashBal": "500", "eq": "500", "uTime": "1700000000000"}]}]}"#,
    );
    let snap = import(
        &dir,
        "okx",
        &[pos, bal, data("okx/public_position_tiers_swap.json")],
    );
    let m = json(&["margin", "--snapshot", snap.to_str().unwrap(), "--json"]);
    let pool = &m["venues"][0];
    assert_eq!(pool["settlement"], "BTC", "{m:#}");
    close(&pool["maintenance_margin"], 12.0, 1e-9, "MM");
    close(&pool["initial_margin"], 30.0, 1e-9, "IM");
}

/// A portfolio-margin account: `GET /papi/v1/account` (the SDK's example), a `/papi/v1/balance`
/// row of 1,000 USDT and no loan, the collateral rate of USDT from
/// `GET /sapi/v1/portfolio/collateralRate`, no position: ∑Equity = 1,000 USD, ∑MM = 0, one
/// `portfolio_margin` pool; reconcile sets the payload's accountEquity (73.47428058) and
/// accountMaintMargin (23.72469206) beside ours.
#[test]
fn portfolio_margin_account_is_one_unified_pool() {
    let dir = tempfile::tempdir().unwrap();
    let bal = write(
        &dir,
        "papi_balance.json",
        r#"[{"asset": "USDT", "totalWalletBalance": "1000", "crossMarginAsset": "0", "crossMarginBorrowed": "0",
             "crossMarginFree": "0", "crossMarginInterest": "0", "crossMarginLocked": "0",
             "umWalletBalance": "1000", "umUnrealizedPNL": "0", "cmWalletBalance": "0", "cmUnrealizedPNL": "0",
             "updateTime": 1657707212154, "negativeBalance": "0"}]"#,
    );
    let rates = write(
        &dir,
        "rates.json",
        r#"[{"asset": "USDT", "collateralRate": "1.0000"}, {"asset": "BTC", "collateralRate": "0.9500"}]"#,
    );
    let snap = import(
        &dir,
        "binance",
        &[data("binance/papi_v1_account.json"), bal, rates],
    );
    let s = snap.to_str().unwrap();
    let m = json(&["margin", "--snapshot", s, "--json"]);
    let venues = m["venues"].as_array().unwrap();
    assert_eq!(venues.len(), 1, "{m:#}");
    assert_eq!(venues[0]["pool"], "portfolio_margin");
    close(&venues[0]["equity"], 1_000.0, 1e-9, "∑Equity");
    close(&venues[0]["maintenance_margin"], 0.0, 1e-12, "1.05 × ∑MM");
    let r = json(&["reconcile", "--snapshot", s, "--json"]);
    let rows = r["rows"].as_array().unwrap();
    let field = |f: &str| {
        rows.iter()
            .find(|x| x["field"] == f)
            .unwrap_or_else(|| panic!("{f}: {r:#}"))
    };
    close(
        &field("equity")["reported"],
        73.474_280_58,
        1e-9,
        "accountEquity",
    );
    close(&field("equity")["computed"], 1_000.0, 1e-9, "our ∑Equity");
    close(
        &field("unified_maintenance_margin")["computed"],
        0.0,
        1e-12,
        "our ∑MM",
    );
    // With no maintenance our uniMMR is infinite: no figure, and the row says why.
    assert!(field("uni_mmr")["computed"].is_null());
}

/// `liquidate` on a portfolio-margin account: short 1 BTCUSDT at 40,000 (bracket 10 %: MM 4,000),
/// 4,100 USDT: uniMMR 1.025 ≤ 1.05 → liquidation of the one unified pool (maintenance shown as
/// 1.05 × 4,000 = 4,200), and the plan reduces the position of that pool until it is healthy
/// (each Binance position belongs to the unified pool: `pool_of_in`).
#[test]
fn liquidate_plans_on_the_unified_pool() {
    let dir = tempfile::tempdir().unwrap();
    let bal = write(
        &dir,
        "bal.json",
        r#"[{"asset": "USDT", "totalWalletBalance": "4100", "crossMarginBorrowed": "0", "crossMarginInterest": "0", "updateTime": 1657707212154}]"#,
    );
    let rates = write(
        &dir,
        "rates.json",
        r#"[{"asset": "USDT", "collateralRate": "1.0000"}]"#,
    );
    let um = write(
        &dir,
        "um.json",
        r#"[{"symbol": "BTCUSDT", "positionAmt": "-1", "entryPrice": "40000", "markPrice": "40000", "leverage": "10",
             "unRealizedProfit": "0", "positionSide": "BOTH", "updateTime": 1657707212154}]"#,
    );
    let br = write(
        &dir,
        "br.json",
        r#"[{"symbol": "BTCUSDT", "brackets": [{"bracket": 1, "initialLeverage": 125, "notionalCap": 50000,
             "notionalFloor": 0, "maintMarginRatio": 0.1, "cum": 0}]}]"#,
    );
    let snap = import(
        &dir,
        "binance",
        &[data("binance/papi_v1_account.json"), bal, rates, um, br],
    );
    let v = json(&["liquidate", "--snapshot", snap.to_str().unwrap(), "--json"]);
    assert_eq!(v["state"], "liquidation", "{v:#}");
    let pools = v["pools"].as_array().unwrap();
    assert_eq!(pools.len(), 1, "{v:#}");
    assert_eq!(pools[0]["pool"], "portfolio_margin");
    close(
        &pools[0]["margin_before"]["equity"],
        4_100.0,
        1e-9,
        "equity",
    );
    close(
        &pools[0]["margin_before"]["maintenance"],
        4_200.0,
        1e-9,
        "1.05 × MM",
    );
    assert!(!v["plan"].as_array().unwrap().is_empty(), "{v:#}");
    assert_ne!(pools[0]["state_after"], "liquidation", "{v:#}");
}

//! OKX and Bybit options end to end (issue 15): the venues' own API payloads imported by
//! `intermargin import`, margined by `intermargin margin` and set against the payloads' own
//! figures by `intermargin reconcile`. Payloads are written in the documented response shapes
//! (OKX `GET /api/v5/account/positions` + `/account/balance`; Bybit `GET /v5/position/list`
//! category option + `/v5/market/tickers` + `/v5/account/wallet-balance`); expected figures are
//! hand calculations from the help pages' formulas, written out below.

use std::path::PathBuf;

use assert_cmd::Command;
use serde_json::Value;

fn bin() -> Command {
    Command::cargo_bin("intermargin").unwrap()
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn import(dir: &tempfile::TempDir, venue: &str, files: &[(&str, &str)]) -> PathBuf {
    let mut c = bin();
    c.args(["import", "--venue", venue, "--json"]);
    for (name, text) in files {
        c.arg("--file").arg(write(dir, name, text));
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = dir.path().join(format!("{venue}-snap.json"));
    std::fs::write(&p, &out.stdout).unwrap();
    p
}

fn run_json(args: &[&str], snap: &PathBuf) -> Value {
    let out = bin()
        .args(args)
        .arg("--snapshot")
        .arg(snap)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn close(got: &Value, want: f64, what: &str) {
    let g = got.as_f64().unwrap_or_else(|| panic!("{what}: {got}"));
    assert!((g - want).abs() < 1e-9, "{what}: got {g}, want {want}");
}

fn find_pool<'a>(margin: &'a Value, venue: &str, settlement: &str) -> &'a Value {
    let pools = margin["venues"]
        .as_array()
        .or_else(|| margin["pools"].as_array())
        .unwrap_or_else(|| panic!("no pools in {margin:#}"));
    pools
        .iter()
        .find(|p| p["venue"] == venue && p["settlement"] == settlement && p["pool"] == "cross")
        .unwrap_or_else(|| panic!("no {venue} {settlement} cross pool in {margin:#}"))
}

fn okx_row(inst: &str, pos: &str, mark: &str, imr: &str, mmr: &str) -> String {
    format!(
        r#"{{"instType": "OPTION", "instId": "{inst}", "mgnMode": "cross", "posSide": "net",
            "pos": "{pos}", "ccy": "BTC", "posCcy": "", "avgPx": "{mark}", "markPx": "{mark}",
            "idxPx": "95000", "upl": "0", "imr": "{imr}", "mmr": "{mmr}", "liqPx": "",
            "lever": "", "margin": "", "optVal": "", "uTime": "1764748800000",
            "cTime": "1764748800000", "deltaBS": "", "gammaBS": "", "thetaBS": "", "vegaBS": ""}}"#
    )
}

/// BTC index 95,000 (no same-expiry future in the payloads, so OTM is measured from it), OKX
/// BTC-USD options of 0.01 BTC, margin factor 1:
/// * short 10 × 100,000 call, mark 0.0123: OTM 5,000, max(0.1, 0.15 − 5,000/95,000) = 0.1;
///   IMR (0.1 + 0.0123) × 0.1 = 0.01123 BTC; MMR (0.03 + 0.0123) × 0.1 = 0.00423 BTC;
/// * short 5 × 90,000 put, mark 0.0201: OTM 5,000 → 0.1; IMR 0.1201 × 0.05 = 0.006005;
///   MMR (max(0.03, 0.03 × 0.0201) + 0.0201) × 0.05 = 0.002505;
/// * long 20 × 110,000 call, mark 0.0045: none; value 0.2 × 0.0045 = 0.0009.
///
/// Equity 1.5 − 0.1 × 0.0123 − 0.05 × 0.0201 + 0.0009 = 1.498665 BTC. The call row reports
/// the same IMR / MMR; the put row reports a higher tier's (factor 1.02: IMR (0.1 × 1.02 +
/// 0.0201) × 0.05 = 0.006105), which reconcile shows as a disagreement.
#[test]
fn okx_options_margin_and_reconcile() {
    let positions = format!(
        r#"{{"code": "0", "msg": "", "data": [{}, {}, {}]}}"#,
        okx_row(
            "BTC-USD-261225-100000-C",
            "-10",
            "0.0123",
            "0.01123",
            "0.00423"
        ),
        okx_row(
            "BTC-USD-261225-90000-P",
            "-5",
            "0.0201",
            "0.006105",
            "0.002535"
        ),
        okx_row("BTC-USD-261225-110000-C", "20", "0.0045", "0", "0"),
    );
    let balance = r#"{"code": "0", "msg": "", "data": [{"uTime": "1764748800000", "totalEq": "",
        "details": [{"ccy": "BTC", "cashBal": "1.5", "eq": "1.498665"}]}]}"#;
    let dir = tempfile::tempdir().unwrap();
    let snap = import(
        &dir,
        "okx",
        &[("positions.json", &positions), ("balance.json", balance)],
    );
    let m = run_json(&["margin"], &snap);
    let pool = find_pool(&m, "okx", "BTC");
    close(&pool["initial_margin"], 0.01123 + 0.006005, "okx IMR");
    close(&pool["maintenance_margin"], 0.00423 + 0.002505, "okx MMR");
    close(&pool["equity"], 1.498665, "okx equity");

    let r = run_json(&["reconcile"], &snap);
    let rows = r["rows"].as_array().unwrap();
    let row = |inst: &str, field: &str| {
        rows.iter()
            .find(|x| x["instrument"] == format!("okx:{inst}") && x["field"] == field)
            .unwrap_or_else(|| panic!("no {inst} {field} row in {r:#}"))
    };
    let call_im = row("BTC-USD-261225-100000-C", "initial_margin");
    close(&call_im["computed"], 0.01123, "call IMR computed");
    assert_eq!(call_im["agrees"], true, "{call_im:#}");
    assert_eq!(
        row("BTC-USD-261225-100000-C", "maintenance_margin")["agrees"],
        true
    );
    let put_im = row("BTC-USD-261225-90000-P", "initial_margin");
    close(&put_im["computed"], 0.006005, "put IMR computed");
    close(
        &put_im["difference"],
        0.006005 - 0.006105,
        "put IMR difference",
    );
    assert_eq!(put_im["agrees"], false, "{put_im:#}");
}

/// Bybit's own example 1 ("Initial and Maintenance Margin Calculation (Options)"): short 1
/// BTC call struck 31,000, index 30,000, mark 300, margin balance 10,000 USDC:
/// MM = [max(3 % × 30,000, 3 % × 300) + 300 + 0.2 % × 30,000] × 1 = 1,260 USDC and the
/// account MM rate 1,260 / 10,000 = 12.6 %. IM by hand: OTM 1,000,
/// [max(15 % × 30,000 − 1,000, 10 % × 30,000) + max(300, 300)] × 1 = 3,800 USDC.
#[test]
fn bybit_options_documented_example_end_to_end() {
    let positions = r#"{"retCode": 0, "retMsg": "OK", "result": {"category": "option",
        "nextPageCursor": "", "list": [{"symbol": "BTC-25DEC26-31000-C", "side": "Sell",
        "size": "1", "avgPrice": "300", "markPrice": "300", "positionValue": "300",
        "positionIdx": 0, "tradeMode": 0, "leverage": "", "unrealisedPnl": "0",
        "positionIM": "3800", "positionMM": "1260", "liqPrice": "", "positionStatus": "Normal",
        "delta": "-0.2", "gamma": "0", "vega": "0", "theta": "0",
        "createdTime": "1764748800000", "updatedTime": "1764748800000"}]}, "time": 1764748800000}"#;
    let tickers = r#"{"retCode": 0, "retMsg": "SUCCESS", "result": {"category": "option",
        "list": [{"symbol": "BTC-25DEC26-31000-C", "bid1Price": "295", "ask1Price": "305",
        "lastPrice": "300", "markPrice": "300", "indexPrice": "30000", "markIv": "0.55",
        "underlyingPrice": "30010", "delta": "-0.2"}]}, "time": 1764748800000}"#;
    let wallet = r#"{"retCode": 0, "retMsg": "OK", "result": {"list": [{"accountType": "UNIFIED",
        "coin": [{"coin": "USDC", "walletBalance": "10000", "equity": "10000"}]}]},
        "time": 1764748800000}"#;
    let dir = tempfile::tempdir().unwrap();
    let snap = import(
        &dir,
        "bybit",
        &[
            ("positions.json", positions),
            ("tickers.json", tickers),
            ("wallet.json", wallet),
        ],
    );
    let m = run_json(&["margin"], &snap);
    let pool = find_pool(&m, "bybit", "USDC");
    close(&pool["maintenance_margin"], 1260.0, "bybit MM");
    close(&pool["initial_margin"], 3800.0, "bybit IM");
    close(&pool["equity"], 10_000.0, "bybit margin balance");
    close(&pool["margin_ratio"], 0.126, "bybit account MM rate");

    let r = run_json(&["reconcile"], &snap);
    let rows = r["rows"].as_array().unwrap();
    for field in ["initial_margin", "maintenance_margin"] {
        let row = rows
            .iter()
            .find(|x| x["instrument"] == "bybit:BTC-25DEC26-31000-C" && x["field"] == field)
            .unwrap_or_else(|| panic!("no {field} row in {r:#}"));
        assert_eq!(row["agrees"], true, "{row:#}");
    }
}

/// A ticker with a negative index is refused with its JSON path.
#[test]
fn bybit_option_ticker_with_a_negative_index_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tickers = r#"{"retCode": 0, "result": {"category": "option",
        "list": [{"symbol": "BTC-25DEC26-31000-C", "markPrice": "300", "indexPrice": "-1"}]}}"#;
    let out = bin()
        .args(["import", "--venue", "bybit", "--json", "--file"])
        .arg(write(&dir, "t.json", tickers))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("indexPrice") && err.contains("negative"),
        "{err}"
    );
}

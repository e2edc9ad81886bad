//! `intermargin import` and `intermargin merge`, end to end through the binary.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use intermargin_model::Snapshot;

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../venues/tests/data")
        .join(rel)
}

fn bin() -> Command {
    Command::cargo_bin("intermargin").unwrap()
}

fn tmp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("intermargin-venues-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn import_json(venue: &str, files: &[&str]) -> String {
    let mut c = bin();
    c.args(["import", "--venue", venue, "--json"]);
    for f in files {
        c.arg("--file").arg(data(f));
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{venue} {files:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn import_prints_a_canonical_snapshot_that_validates() {
    let text = import_json(
        "deribit",
        &[
            "deribit/private_get_positions_options.json",
            "deribit/public_ticker_option.json",
            "deribit/private_get_account_summary.json",
        ],
    );
    let snap = Snapshot::from_json(&text).unwrap();
    assert_eq!(snap.version, 1);
    let acc = &snap.portfolio.accounts[0];
    assert_eq!(acc.id, "default");
    assert_eq!(acc.positions.len(), 3);
    // 302.60065765 BTC in satoshi, printed as a string
    assert!(text.contains("\"amount\": \"30260065765\""), "{text}");
    assert_eq!(snap.market.mark_ivs["deribit:BTC-27JUN25-100000-C"], 0.5823);
}

#[test]
fn import_takes_the_account_id_and_prints_a_table_without_json() {
    let out = bin()
        .args([
            "import",
            "--venue",
            "binance",
            "--account",
            "alice",
            "--file",
        ])
        .arg(data("binance/fapi_v3_positionRisk.json"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(
        s.contains("alice") && s.contains("ADAUSDT") && s.contains("perpetual"),
        "{s}"
    );
    assert!(s.contains("0.4104759"), "mark price column: {s}");
}

#[test]
fn every_test_payload_imports_through_the_cli() {
    let mut n = 0;
    for dir in std::fs::read_dir(data("")).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let venue = dir.file_name().unwrap().to_str().unwrap().to_string();
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let out = bin()
                .args(["import", "--venue", &venue, "--json", "--file"])
                .arg(&f)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: {}",
                f.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            Snapshot::from_json(&String::from_utf8(out.stdout).unwrap()).unwrap();
            n += 1;
        }
    }
    assert_eq!(n, 44);
}

#[test]
fn bad_payloads_exit_1_with_the_json_path() {
    let bad = tmp(
        "bad_positions.json",
        r#"{"jsonrpc":"2.0","result":[{"instrument_name":"BTC-PERPETUAL","size":"ten","direction":"buy"}]}"#,
    );
    let out = bin()
        .args(["import", "--venue", "deribit", "--json", "--file"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("result[0].size: expected a decimal string, got the string \"ten\""),
        "{err}"
    );
    assert!(!err.contains("panicked"));

    let missing = tmp("missing.json", r#"[{"positionAmt":"1"}]"#);
    let out = bin()
        .args(["import", "--venue", "binance", "--file"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("[0].symbol: required field is missing"));

    let out = bin()
        .args(["import", "--venue", "okx", "--file", "/nonexistent/x.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

fn seven() -> Vec<PathBuf> {
    let sets: [(&str, &[&str]); 7] = [
        (
            "deribit",
            &[
                "deribit/private_get_positions_options.json",
                "deribit/public_ticker_option.json",
                "deribit/private_get_account_summaries.json",
            ],
        ),
        (
            "binance",
            &[
                "binance/fapi_v3_positionRisk.json",
                "binance/fapi_v3_account.json",
                "binance/fapi_v1_leverageBracket.json",
            ],
        ),
        (
            "okx",
            &["okx/account_positions.json", "okx/account_balance.json"],
        ),
        (
            "bybit",
            &[
                "bybit/v5_position_list_inverse.json",
                "bybit/v5_account_wallet_balance.json",
                "bybit/v5_market_risk_limit_inverse.json",
            ],
        ),
        (
            "dydx",
            &[
                "dydx/v4_addresses_subaccountNumber_0.json",
                "dydx/ws_v4_markets_subscribed.json",
            ],
        ),
        (
            "hyperliquid",
            &[
                "hyperliquid/info_clearinghouseState.json",
                "hyperliquid/info_meta.json",
            ],
        ),
        (
            "aave",
            &[
                "aave/pool_getUserAccountData.json",
                "aave/dataProvider_getUserReserveData.json",
                "aave/dataProvider_getReserveConfigurationData.json",
            ],
        ),
    ];
    sets.iter()
        .map(|(v, files)| tmp(&format!("{v}.snapshot.json"), &import_json(v, files)))
        .collect()
}

#[test]
fn merge_of_all_seven_venues_validates() {
    let files = seven();
    let out = bin()
        .arg("merge")
        .args(&files)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let snap = Snapshot::from_json(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert_eq!(snap.portfolio.accounts.len(), 1);
    assert_eq!(snap.portfolio.accounts[0].venues().len(), 7);
    // table form too
    let out = bin().arg("merge").args(&files).output().unwrap();
    assert!(out.status.success());
    let t = String::from_utf8(out.stdout).unwrap();
    for v in [
        "deribit",
        "binance",
        "okx",
        "bybit",
        "dydx",
        "hyperliquid",
        "aave",
    ] {
        assert!(t.contains(v), "{v} missing from\n{t}");
    }
}

#[test]
fn merge_with_conflicting_market_data_names_the_key() {
    let a = tmp(
        "a.json",
        &import_json("deribit", &["deribit/private_get_positions.json"]),
    );
    let b = tmp(
        "b.json",
        &import_json("deribit", &["deribit/public_ticker_perpetual.json"]),
    );
    let out = bin()
        .arg("merge")
        .arg(&a)
        .arg(&b)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    // both carry the Deribit BTC index at different values: the first conflicting key is named
    assert!(
        err.contains("market.index_prices[\"deribit:BTC\"]"),
        "{err}"
    );

    let bad = tmp("notsnap.json", "{\"portfolio\": 3}");
    let out = bin().arg("merge").arg(&a).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("notsnap.json"));
}

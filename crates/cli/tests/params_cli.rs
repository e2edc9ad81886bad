//! `intermargin params`: audit of the shipped venue parameter files (source and as_of of every
//! table) and the diff of two versions, with how a change moves each account's margin.

use serde_json::Value;

const BINANCE: &str = include_str!("../../margin/params/binance.toml");

fn run(args: &[&str]) -> std::process::Output {
    assert_cmd::Command::cargo_bin("intermargin")
        .unwrap()
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn audit_lists_every_shipped_table_with_its_source_and_date_and_warns_on_old_ones() {
    let out = run(&[
        "params",
        "audit",
        "--today",
        "2026-12-02",
        "--max-age-days",
        "365",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = v["files"].as_array().unwrap();
    assert_eq!(
        files.len(),
        intermargin_margin::venues::param_files::SHIPPED.len(),
        "{v}"
    );
    let binance = files.iter().find(|f| f["venue"] == "binance").unwrap();
    let btc = binance["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "symbols.BTCUSDT")
        .unwrap();
    // binance.toml: BTCUSDT as_of 2021-03-26 → 2,077 days before 2026-12-02
    // (2021-03-26 → 2026-03-26 is 5 × 365 + 1 (2024) = 1,826 days, + 251 to 2 December).
    assert_eq!(btc["as_of"], "2021-03-26");
    assert_eq!(btc["age_days"], 2_077);
    assert!(btc["source"].as_str().unwrap().starts_with("https://"));
    let warned = v["warnings"].as_array().unwrap();
    assert!(
        warned.iter().any(|w| w["table"] == "symbols.BTCUSDT"),
        "{v}"
    );
    assert!(
        !warned.iter().any(|w| w["table"] == "default_leverage"),
        "as_of 2026-12-02 is fresh"
    );
}

#[test]
fn a_file_without_as_of_or_source_is_an_error_naming_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("binance.toml");
    std::fs::write(&p, BINANCE.replacen("as_of = \"2021-03-26\"\n", "", 1)).unwrap();
    let out = run(&["params", "audit", p.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("binance.toml") && err.contains("symbols.BTCUSDT") && err.contains("as_of"),
        "{err}"
    );
    let q = dir.path().join("okx.toml");
    let okx = include_str!("../../margin/params/okx.toml");
    let first_source = okx.lines().find(|l| l.starts_with("source = ")).unwrap();
    std::fs::write(&q, okx.replacen(&format!("{first_source}\n"), "", 1)).unwrap();
    let out = run(&["params", "audit", q.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("source"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The diff of the same change names the removed date.
    let out = run(&["params", "diff", "shipped", p.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("symbols.BTCUSDT.as_of"));
}

/// A Binance cross long 1 BTCUSDT at mark 40,000 (notional 40,000, bracket 1 of the shipped
/// table: 0.4 %, maintenance amount 0): MM 160 USDT. Raising bracket 1 to 0.6 % makes it 240.
const ONE_BTC: &str = r#"{
  "version": 1,
  "portfolio": {
    "assets": [{"symbol": "USDT", "decimals": 6}],
    "accounts": [{
      "id": "bob",
      "collateral": [{"venue": "binance", "asset": "USDT", "amount": "10000000000"}],
      "positions": [{
        "instrument": {"venue": "binance", "symbol": "BTCUSDT", "type": "perpetual", "underlying": "BTC",
                       "quote": "USDT", "settle": "USDT", "settlement": "linear", "contract_size": 1.0, "size_unit": "base"},
        "size": 1.0, "entry_price": 40000.0, "leverage": 10.0
      }]
    }]
  },
  "market": {
    "timestamp_ms": 1700000000000,
    "quote": "USD",
    "index_prices": {"binance:BTC": 40000.0},
    "mark_prices": {"binance:BTCUSDT": 40000.0},
    "fx": {"USD": 1.0, "USDT": 1.0}
  }
}"#;

#[test]
fn diff_names_the_changed_value_and_how_it_moves_each_account() {
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("binance.toml");
    let changed = BINANCE.replacen(
        "{ floor = 0, cap = 50000, mmr = 0.004, cum = 0 }",
        "{ floor = 0, cap = 50000, mmr = 0.006, cum = 0 }",
        1,
    );
    assert_ne!(changed, BINANCE);
    std::fs::write(&new, changed).unwrap();
    let snap = dir.path().join("snap.json");
    std::fs::write(&snap, ONE_BTC).unwrap();
    let out = run(&[
        "params",
        "diff",
        "shipped",
        new.to_str().unwrap(),
        "--snapshot",
        snap.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let changes = v["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{v}");
    assert_eq!(changes[0]["path"], "symbols.BTCUSDT.brackets[0].mmr");
    assert_eq!(
        (changes[0]["old"].as_str(), changes[0]["new"].as_str()),
        (Some("0.004"), Some("0.006"))
    );
    let acc = &v["accounts"][0];
    assert_eq!(acc["account"], "bob");
    let near = |x: &Value, want: f64| (x.as_f64().unwrap() - want).abs() < 1e-9;
    assert!(near(&acc["maintenance_before"], 160.0), "{acc}");
    assert!(near(&acc["maintenance_after"], 240.0), "{acc}");
    assert!(near(&acc["maintenance_change"], 80.0), "{acc}");
    // Bad input: an unknown venue and a file named after none.
    let out = run(&[
        "params",
        "diff",
        "shipped",
        new.to_str().unwrap(),
        "--venue",
        "nasdaq",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--venue"));
    let odd = dir.path().join("tiers.toml");
    std::fs::write(&odd, BINANCE).unwrap();
    let out = run(&["params", "diff", "shipped", odd.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--venue"));
}

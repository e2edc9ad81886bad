//! `intermargin liquidate` end to end on a dYdX v4 book, expected values computed by hand.
use assert_cmd::Command;

/// Collateral 1,500 USDC; long 10 ETH-USD from 2,000; oracle 1,900.
/// dYdX large-cap tier (reference §5.1): IMF 5%, MMF 3%. Equity = 1,500 + 10 × (1,900 − 2,000) = 500;
/// MMR = 0.03 × 19,000 = 570 → liquidatable (500 < 570); IMR = 950.
const SNAPSHOT: &str = r#"{
  "version": 1,
  "portfolio": {
    "assets": [{"symbol": "USDC", "decimals": 6}],
    "accounts": [{
      "id": "alice",
      "collateral": [{"venue": "dydx", "asset": "USDC", "amount": "1500000000"}],
      "positions": [{
        "instrument": {"venue": "dydx", "symbol": "ETH-USD", "type": "perpetual", "underlying": "ETH",
                       "quote": "USD", "settle": "USDC", "settlement": "linear", "contract_size": 1.0, "size_unit": "base"},
        "size": 10.0, "entry_price": 2000.0
      }]
    }]
  },
  "market": {
    "timestamp_ms": 1700000000000,
    "quote": "USD",
    "index_prices": {"dydx:ETH": 1900.0},
    "mark_prices": {"dydx:ETH-USD": 1900.0},
    "fx": {"USD": 1.0, "USDC": 1.0}
  }
}"#;

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn a_liquidatable_dydx_account_gets_the_closed_form_partial_plan() {
    let dir = tempfile::tempdir().unwrap();
    let snap = write(&dir, "snap.json", SNAPSHOT);
    let depth = write(
        &dir,
        "depth.json",
        r#"{"default": {"k": 0.0, "alpha": 1.0, "depth": 1.0}}"#,
    );
    let out = Command::cargo_bin("intermargin")
        .unwrap()
        .args(["liquidate", "--snapshot"])
        .arg(&snap)
        .arg("--depth")
        .arg(&depth)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["state"], "liquidation");
    // Target equity ≥ 1.05 × MMR with a 0.5% penalty (params/venues.toml [dydx]):
    // 500 − 0.005·1,900·x ≥ 1.05 × 0.03 × 1,900 × (10 − x) ⇒ x = 98.5 / (1,900 × (0.0315 − 0.005)).
    let x = 98.5 / (1_900.0 * (0.0315 - 0.005));
    let leg = &v["plan"][0];
    assert_eq!(leg["venue"], "dydx");
    assert_eq!(leg["instrument"], "dydx:ETH-USD");
    assert!((leg["reduce"].as_f64().unwrap() - x).abs() < 1e-6, "{leg}");
    assert!((leg["expected_price"].as_f64().unwrap() - 1_900.0).abs() < 1e-9);
    assert!((leg["fee"].as_f64().unwrap() - 0.005 * 1_900.0 * x).abs() < 1e-6);
    let after = &v["margin_after"];
    assert!((after["equity"].as_f64().unwrap() - (500.0 - 0.005 * 1_900.0 * x)).abs() < 1e-6);
    // The protocol rounds the base IMR and then the MMR up to the 1e-6 USDC quantum.
    assert!((after["maintenance"].as_f64().unwrap() - 0.03 * 1_900.0 * (10.0 - x)).abs() < 2.1e-6);
}

#[test]
fn the_default_depth_charges_square_root_impact() {
    let dir = tempfile::tempdir().unwrap();
    let snap = write(&dir, "snap.json", SNAPSHOT);
    let out = Command::cargo_bin("intermargin")
        .unwrap()
        .args(["liquidate", "--snapshot"])
        .arg(&snap)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let leg = &v["plan"][0];
    // Default book: 1% for 1M notional, square root: price = 1,900 × (1 − 0.01·√(notional/1e6)).
    let n = leg["reduce"].as_f64().unwrap() * 1_900.0;
    let expected = 1_900.0 * (1.0 - 0.01 * (n / 1e6).sqrt());
    assert!((leg["expected_price"].as_f64().unwrap() - expected).abs() < 1e-9);
    assert!(leg["reduce"].as_f64().unwrap() > 98.5 / (1_900.0 * (0.0315 - 0.005)));
}

#[test]
fn bad_inputs_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let snap = write(&dir, "snap.json", SNAPSHOT);
    let depth = write(
        &dir,
        "depth.json",
        r#"{"default": {"k": 0.01, "alpha": 0.5, "depth": -1}}"#,
    );
    let out = Command::cargo_bin("intermargin")
        .unwrap()
        .args(["liquidate", "--snapshot"])
        .arg(&snap)
        .arg("--depth")
        .arg(&depth)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("depth.default.depth"));
    let out = Command::cargo_bin("intermargin")
        .unwrap()
        .args(["liquidate", "--snapshot"])
        .arg(&snap)
        .args(["--account", "bob"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--account"));
}

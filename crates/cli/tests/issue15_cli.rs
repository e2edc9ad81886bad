//! Issue 15 end to end: a closed pipe ends every command quietly, and `liquidate` judges each
//! margin pool on its own.
use std::io::Read;
use std::process::{Command, Stdio};

/// Collateral 1,500 USDC in dYdX subaccount 0 with long 10 ETH-USD from 2,000 at oracle 1,900
/// (IMF 5 %, MMF 3 %): TNC 500 < MMR 570, liquidatable. Subaccount 1 holds 10,000 USDC and no
/// position. Summed, the account would read healthy (10,500 ≥ 950); the venue liquidates
/// subaccount 0 alone.
const TWO_SUBACCOUNTS: &str = r#"{
  "version": 1,
  "portfolio": {
    "assets": [{"symbol": "USDC", "decimals": 6}],
    "accounts": [{
      "id": "alice",
      "collateral": [
        {"venue": "dydx", "asset": "USDC", "amount": "1500000000", "sub_account": "0"},
        {"venue": "dydx", "asset": "USDC", "amount": "10000000000", "sub_account": "1"}
      ],
      "positions": [{
        "instrument": {"venue": "dydx", "symbol": "ETH-USD", "type": "perpetual", "underlying": "ETH",
                       "quote": "USD", "settle": "USDC", "settlement": "linear", "contract_size": 1.0, "size_unit": "base"},
        "size": 10.0, "entry_price": 2000.0, "sub_account": "0"
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

fn snapshot(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let p = dir.path().join("snap.json");
    std::fs::write(&p, TWO_SUBACCOUNTS).unwrap();
    p
}

#[test]
fn a_liquidatable_subaccount_is_not_rescued_by_another() {
    let dir = tempfile::tempdir().unwrap();
    let snap = snapshot(&dir);
    let out = assert_cmd::Command::cargo_bin("intermargin")
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
    assert_eq!(v["state"], "liquidation", "{v:#}");
    assert!(!v["plan"].as_array().unwrap().is_empty(), "{v:#}");
    let pools = v["pools"].as_array().unwrap();
    let sub0 = pools.iter().find(|p| p["pool"] == "subaccount:0").unwrap();
    let sub1 = pools.iter().find(|p| p["pool"] == "subaccount:1").unwrap();
    assert_eq!(sub0["state"], "liquidation");
    assert_eq!(sub1["state"], "healthy");
    assert_eq!(sub0["margin_before"]["equity"], 500.0);
    assert_eq!(sub0["margin_before"]["maintenance"], 570.0);
}

/// `intermargin … --json | head -1`: the reader is gone before the command writes; it must end
/// quietly (no panic, exit code 101, nor "Broken pipe" on stderr).
#[test]
fn every_command_ends_quietly_on_a_closed_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let snap = snapshot(&dir);
    let bin = assert_cmd::cargo::cargo_bin("intermargin");
    let s = snap.to_str().unwrap();
    for args in [
        vec!["margin", "--snapshot", s, "--json"],
        vec!["margin", "--snapshot", s],
        vec!["liquidate", "--snapshot", s, "--json"],
        vec!["schema"],
    ] {
        let mut child = Command::new(&bin)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert_ne!(status.code(), Some(101), "{args:?}: {err}");
        assert!(
            !err.contains("Broken pipe") && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
}

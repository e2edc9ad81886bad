//! `intermargin whatif`, end to end through the binary: a closing trade's `after` equals
//! `margin` (each venue's rules and `--model unified`) on the snapshot with the position removed
//! by hand, and a bad trade spec exits non-zero naming its part.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn json_of(args: &[&str]) -> Value {
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
    serde_json::from_slice(&out.stdout).unwrap()
}

fn close(a: &Value, b: &Value, what: &str) {
    let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
    assert!(
        (a - b).abs() <= 1e-7 * a.abs().max(b.abs()).max(1.0),
        "{what}: {a} vs {b}"
    );
}

#[test]
fn closing_the_okx_swap_equals_margin_on_the_book_without_it() {
    let book = repo("examples/hedged-book/snapshot.json");
    let book = book.to_str().unwrap();
    // The OKX short of 4,000 contracts (100 USD each) closed at its entry, 63,010.2: no P&L is
    // realised, so the traded book is the same book without that position.
    let w = json_of(&[
        "whatif",
        "--snapshot",
        book,
        "--trade",
        "okx:BTC-USD-SWAP:4000@63010.2",
        "--json",
    ]);
    let mut snap: Value = serde_json::from_str(&std::fs::read_to_string(book).unwrap()).unwrap();
    let positions = snap["portfolio"]["accounts"][0]["positions"]
        .as_array_mut()
        .unwrap();
    positions.retain(|p| p["instrument"]["symbol"] != "BTC-USD-SWAP");
    let dir = std::env::temp_dir().join(format!("intermargin-whatif-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let traded = dir.join("traded.json");
    std::fs::write(&traded, snap.to_string()).unwrap();
    let traded = traded.to_str().unwrap();
    let siloed = json_of(&["margin", "--snapshot", traded, "--json"]);
    let unified = json_of(&[
        "margin",
        "--snapshot",
        traded,
        "--model",
        "unified",
        "--json",
    ]);
    for v in w["venues"].as_array().unwrap() {
        let name = v["venue"].as_str().unwrap();
        let pools: Vec<&Value> = siloed["venues"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["venue"] == name)
            .collect();
        let sum = |f: &str| -> f64 {
            pools
                .iter()
                .map(|p| p["in_quote"][f].as_f64().unwrap())
                .sum()
        };
        close(
            &v["after"]["initial_margin"],
            &sum("initial_margin").into(),
            name,
        );
        close(
            &v["after"]["maintenance_margin"],
            &sum("maintenance_margin").into(),
            name,
        );
        close(
            &v["after"]["available"],
            &(sum("equity") - sum("initial_margin")).into(),
            name,
        );
        let c = unified["venues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["venue"] == name)
            .unwrap();
        match c["liquidation_move"].as_f64() {
            Some(_) => close(
                &v["after"]["liquidation_move"],
                &c["liquidation_move"],
                name,
            ),
            None => assert!(v["after"]["liquidation_move"].is_null()),
        }
        assert_eq!(v["refused"], Value::Bool(false));
    }
    let okx = w["venues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["venue"] == "okx")
        .unwrap();
    assert_eq!(okx["after"]["initial_margin"].as_f64(), Some(0.0));
    close(
        &w["unified"]["after"]["initial_margin"],
        &unified["unified"]["initial_margin"],
        "unified",
    );
    close(
        &w["unified"]["after"]["maintenance_margin"],
        &unified["unified"]["maintenance_margin"],
        "unified mm",
    );
    close(
        &w["unified"]["after"]["saving"],
        &unified["saving"],
        "saving",
    );
    assert_eq!(w["liquidates_first"]["after"], unified["liquidates_first"]);
    // The table form runs too.
    Command::cargo_bin("intermargin")
        .unwrap()
        .args([
            "whatif",
            "--snapshot",
            book,
            "--trade",
            "okx:BTC-USD-SWAP:4000",
            "--trade",
            "binance:BTCUSDT:-2",
        ])
        .assert()
        .success();
}

#[test]
fn bad_trade_specs_name_the_part() {
    let book = repo("examples/hedged-book/snapshot.json");
    let book = book.to_str().unwrap();
    for (spec, part) in [
        ("kraken:BTCUSDT:1", "venue"),
        ("binance", "venue"),
        ("binance:NOPE:1", "instrument"),
        ("binance:BTCUSDT:abc", "size"),
        ("binance:BTCUSDT:0", "size"),
        ("binance:BTCUSDT:1@-3", "price"),
        ("binance:BTCUSDT:1@x", "price"),
    ] {
        let out = Command::cargo_bin("intermargin")
            .unwrap()
            .args(["whatif", "--snapshot", book, "--trade", spec])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{spec}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("--trade {spec:?}: {part}:")),
            "{spec}: {err}"
        );
    }
}

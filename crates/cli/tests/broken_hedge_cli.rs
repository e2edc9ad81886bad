//! `intermargin margin --model unified --adl-forecast`, end to end (issue 19 item 2): the risk lab's
//! forecast (examples/stress/venue-rules.adl-forecast.json, from `simulate` on
//! examples/stress/venue-rules.toml) adds the `broken_hedge_adl` component to the hedged book's
//! explanation, raising its initial margin by exactly that component; a forecast whose materiality
//! threshold the add-on does not reach changes nothing; a bad forecast is refused naming its field.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn run(args: &[&str]) -> std::process::Output {
    Command::cargo_bin("intermargin")
        .unwrap()
        .args(args)
        .output()
        .unwrap()
}

fn json_of(args: &[&str]) -> Value {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn component(doc: &Value, name: &str) -> Option<f64> {
    doc["explain"]
        .as_array()
        .and_then(|e| e.first())
        .unwrap_or(&doc["explain"])["components"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == name)
        .and_then(|c| c["value"].as_f64())
}

#[test]
fn a_material_forecast_adds_the_broken_hedge_component_and_only_then() {
    let book = repo("examples/hedged-book/snapshot.json");
    let forecast = repo("examples/stress/venue-rules.adl-forecast.json");
    let base = json_of(&[
        "margin",
        "--snapshot",
        book.to_str().unwrap(),
        "--model",
        "unified",
        "--json",
    ]);
    let with = json_of(&[
        "margin",
        "--snapshot",
        book.to_str().unwrap(),
        "--model",
        "unified",
        "--json",
        "--adl-forecast",
        forecast.to_str().unwrap(),
    ]);
    assert!(component(&base, "broken_hedge_adl").is_none());
    let add = component(&with, "broken_hedge_adl").expect("material on the hedged book");
    let im = |d: &Value| d["unified"]["initial_margin"].as_f64().unwrap();
    assert!(
        add > 0.0 && add >= 0.01 * im(&base),
        "{add} vs {}",
        im(&base)
    );
    assert!((im(&with) - im(&base) - add).abs() < 1e-6 * im(&with));

    // The same forecast with a 50 % materiality threshold: reported nowhere, charged nothing.
    let dir = tempfile::tempdir().unwrap();
    let mut f: Value = serde_json::from_str(&std::fs::read_to_string(&forecast).unwrap()).unwrap();
    f["materiality"] = Value::from(0.5);
    let high = dir.path().join("high.json");
    std::fs::write(&high, f.to_string()).unwrap();
    let quiet = json_of(&[
        "margin",
        "--snapshot",
        book.to_str().unwrap(),
        "--model",
        "unified",
        "--json",
        "--adl-forecast",
        high.to_str().unwrap(),
    ]);
    assert!(component(&quiet, "broken_hedge_adl").is_none());
    assert_eq!(im(&quiet), im(&base));

    // A fraction outside [0, 1] is refused, naming the venue's field.
    f["expected_unhedged_fraction"]["binance"] = Value::from(1.5);
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, f.to_string()).unwrap();
    let out = run(&[
        "margin",
        "--snapshot",
        book.to_str().unwrap(),
        "--model",
        "unified",
        "--adl-forecast",
        bad.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("expected_unhedged_fraction.binance"), "{err}");
}

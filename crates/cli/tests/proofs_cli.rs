//! End-to-end tests of `rule export`, `zk setup`, `prove`, `verify` and `solvency build|verify`.
//!
//! The tiny rule's slacks are worked by hand: q = (3, −2), losses (scale 0) BTC (10, −5),
//! ETH (4, 20), threshold 10 → scenario `down` needs C ≥ 3·10 + (−2)·4 + 10 = 32, `up` needs
//! C ≥ 3·(−5) + (−2)·20 + 10 = −45. So C = 32 proves and C = 31 is refused in `down`.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::{json, Value};

fn cli() -> Command {
    Command::cargo_bin("intermargin").unwrap()
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = cli().args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(args: &[&str]) -> String {
    let (success, out, err) = run(args);
    assert!(success, "{args:?} failed: {err}");
    out
}

fn fail(args: &[&str]) -> String {
    let (success, out, err) = run(args);
    assert!(!success, "{args:?} should fail, printed {out}");
    err
}

fn tiny_rule() -> Value {
    json!({
        "version": 1,
        "collateral_asset": "USDC",
        "quantity_decimals": 0,
        "loss_scale": 0,
        "quantity_bits": 16,
        "collateral_bits": 32,
        "threshold": 10,
        "instruments": ["x:BTC-PERP", "x:ETH-PERP"],
        "scenarios": ["down", "up"],
        "losses": [[10, -5], [4, 20]]
    })
}

fn book(c: u64) -> Value {
    json!({
        "collateral": c,
        "salt": "0x2a",
        "positions": [
            {"instrument": "x:BTC-PERP", "quantity": 3},
            {"instrument": "x:ETH-PERP", "quantity": -2}
        ]
    })
}

fn write(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string_pretty(v).unwrap()).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn prove_and_verify_round_trip_and_rejections() {
    let d = tempfile::tempdir().unwrap();
    let rule = write(d.path(), "rule.json", &tiny_rule());
    let good = write(d.path(), "sufficient.json", &book(32));
    let bad = write(d.path(), "insufficient.json", &book(31));
    let proof = d.path().join("proof.json");

    // Without keys, prove explains what to run.
    let e = fail(&[
        "prove",
        "--rule",
        s(&rule),
        "--private",
        s(&good),
        "--out",
        s(&proof),
    ]);
    assert!(e.contains("zk setup"), "{e}");

    ok(&["zk", "setup", "--rule", s(&rule)]);
    assert!(d.path().join("rule.keys/verifying_key.bin").exists());
    assert!(d.path().join("rule.keys/MarginVerifier.sol").exists());

    ok(&[
        "prove",
        "--rule",
        s(&rule),
        "--private",
        s(&good),
        "--out",
        s(&proof),
    ]);
    let out = ok(&["verify", "--rule", s(&rule), "--proof", s(&proof)]);
    assert!(out.starts_with("valid"), "{out}");

    // The published commitment is what `zk commit` prints for the book.
    let cm = ok(&["zk", "commit", "--rule", s(&rule), "--private", s(&good)]);
    let p: Value = serde_json::from_str(&std::fs::read_to_string(&proof).unwrap()).unwrap();
    assert_eq!(p["commitment"].as_str().unwrap(), cm.trim());
    ok(&[
        "verify",
        "--rule",
        s(&rule),
        "--proof",
        s(&proof),
        "--commitment",
        cm.trim(),
    ]);

    // Under-collateralised: refused, naming the scenario.
    let e = fail(&[
        "prove",
        "--rule",
        s(&rule),
        "--private",
        s(&bad),
        "--out",
        s(&proof),
    ]);
    assert!(e.contains("scenario `down`"), "{e}");

    // Another commitment: the commitment of the insufficient book.
    let other_cm = ok(&["zk", "commit", "--rule", s(&rule), "--private", s(&bad)]);
    let e = fail(&[
        "verify",
        "--rule",
        s(&rule),
        "--proof",
        s(&proof),
        "--commitment",
        other_cm.trim(),
    ]);
    assert!(e.contains("rejected"), "{e}");
    let mut forged = p.clone();
    forged["commitment"] = json!(other_cm.trim());
    let forged_path = write(d.path(), "forged.json", &forged);
    let e = fail(&["verify", "--rule", s(&rule), "--proof", s(&forged_path)]);
    assert!(e.contains("pairing check failed"), "{e}");

    // Another scenario matrix: the keys and the proof are bound to the original rule.
    let mut other = tiny_rule();
    other["losses"][0][0] = json!(9);
    let other_rule = write(d.path(), "other.json", &other);
    let e = fail(&[
        "verify",
        "--rule",
        s(&other_rule),
        "--proof",
        s(&proof),
        "--keys",
        s(&d.path().join("rule.keys")),
    ]);
    assert!(e.contains("keys were made for rule"), "{e}");

    // A stricter threshold in the verifier's rule.
    let mut stricter = tiny_rule();
    stricter["threshold"] = json!(11);
    let stricter_rule = write(d.path(), "stricter.json", &stricter);
    let e = fail(&[
        "verify",
        "--rule",
        s(&stricter_rule),
        "--proof",
        s(&proof),
        "--keys",
        s(&d.path().join("rule.keys")),
    ]);
    assert!(e.contains("threshold"), "{e}");
}

#[test]
fn bad_inputs_name_the_field() {
    let d = tempfile::tempdir().unwrap();
    let mut r = tiny_rule();
    r["losses"][1] = json!([4]);
    let rule = write(d.path(), "rule.json", &r);
    let e = fail(&["zk", "setup", "--rule", s(&rule)]);
    assert!(e.contains("losses[1]"), "{e}");

    let mut r = tiny_rule();
    r["quantity_bits"] = json!("wide");
    let rule = write(d.path(), "rule.json", &r);
    let e = fail(&["zk", "setup", "--rule", s(&rule)]);
    assert!(e.contains("quantity_bits"), "{e}");

    std::fs::write(d.path().join("broken.json"), "{\"version\": 1,").unwrap();
    let e = fail(&["zk", "setup", "--rule", s(&d.path().join("broken.json"))]);
    assert!(e.contains("malformed JSON"), "{e}");

    let rule = write(d.path(), "rule.json", &tiny_rule());
    let mut b = book(32);
    b["positions"][0]["quantity"] = json!(40000); // quantity_bits 16: |q| < 2^15 = 32768
    let b = write(d.path(), "book.json", &b);
    let e = fail(&["zk", "commit", "--rule", s(&rule), "--private", s(&b)]);
    assert!(e.contains("positions[0].quantity"), "{e}");
}

#[test]
fn solvency_build_and_verify() {
    let d = tempfile::tempdir().unwrap();
    let csv = d.path().join("balances.csv");
    std::fs::write(&csv, "user,BTC,USDC\nalice,5,100\nbob,0,250\ncarol,7,0\n").unwrap();
    let reserves = write(d.path(), "reserves.json", &json!({"BTC": 11, "USDC": 400}));
    let out = d.path().join("out");
    let printed = ok(&[
        "solvency",
        "build",
        "--balances",
        s(&csv),
        "--out",
        s(&out),
        "--reserves",
        s(&reserves),
    ]);
    // BTC liabilities 5 + 0 + 7 = 12 > 11 reserves.
    assert!(
        printed.contains("SHORTFALL") && printed.contains("BTC"),
        "{printed}"
    );
    let root: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("root.json")).unwrap()).unwrap();
    assert_eq!(root["liabilities"], json!([12, 350]));
    assert_eq!(root["reserves"]["solvent"], json!(false));
    let root_path = out.join("root.json");
    for u in ["alice", "bob", "carol"] {
        let p = out.join(format!("proofs/{u}.json"));
        ok(&[
            "solvency",
            "verify",
            "--root",
            s(&root_path),
            "--proof",
            s(&p),
        ]);
    }
    // Tampered leaf.
    let p = out.join("proofs/bob.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    v["balances"][1] = json!(249);
    let t = write(d.path(), "tampered.json", &v);
    let e = fail(&[
        "solvency",
        "verify",
        "--root",
        s(&root_path),
        "--proof",
        s(&t),
    ]);
    assert!(e.contains("rejected"), "{e}");
    // Negative balance in the CSV names row and column.
    std::fs::write(&csv, "user,BTC\nalice,-1\n").unwrap();
    let e = fail(&["solvency", "build", "--balances", s(&csv), "--out", s(&out)]);
    assert!(
        e.contains("row 2 (user alice), column BTC: negative balance"),
        "{e}"
    );
}

#[test]
fn rule_export_from_the_example_snapshot() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/zk");
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("rule.json");
    ok(&[
        "rule",
        "export",
        "--snapshot",
        &format!("{root}/snapshot.json"),
        "--model",
        &format!("{root}/grid64.toml"),
        "--out",
        s(&out),
    ]);
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(r["instruments"].as_array().unwrap().len(), 32);
    assert!(r["scenarios"].as_array().unwrap().len() >= 64);
    assert_eq!(r["losses"].as_array().unwrap().len(), 32);
    // The exported file is byte-identical to the committed example rule.
    let committed: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{root}/rule.json")).unwrap())
            .unwrap();
    assert_eq!(r["losses"], committed["losses"]);
}

#[test]
fn example_books_prove_and_fail_as_documented() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/zk");
    let d = tempfile::tempdir().unwrap();
    let keys = d.path().join("keys");
    let rule = format!("{root}/rule.json");
    ok(&["zk", "setup", "--rule", &rule, "--out", s(&keys)]);
    let proof = d.path().join("proof.json");
    ok(&[
        "prove",
        "--rule",
        &rule,
        "--private",
        &format!("{root}/sufficient.json"),
        "--out",
        s(&proof),
        "--keys",
        s(&keys),
    ]);
    ok(&[
        "verify",
        "--rule",
        &rule,
        "--proof",
        s(&proof),
        "--keys",
        s(&keys),
    ]);
    let e = fail(&[
        "prove",
        "--rule",
        &rule,
        "--private",
        &format!("{root}/insufficient.json"),
        "--out",
        s(&d.path().join("bad.json")),
        "--keys",
        s(&keys),
    ]);
    assert!(e.contains("does not suffice"), "{e}");
}

#[test]
fn unified_rule_exports_proves_verifies_and_verify_checks_every_field() {
    let snap = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/hedged-book/snapshot.json"
    );
    let d = tempfile::tempdir().unwrap();
    let rule = d.path().join("unified.json");
    let private = d.path().join("book.json");
    ok(&[
        "rule",
        "export",
        "--snapshot",
        snap,
        "--model",
        "unified",
        "--out",
        s(&rule),
        "--private-out",
        s(&private),
    ]);
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&rule).unwrap()).unwrap();
    assert_eq!(r["kind"], "unified");
    // 3 positions + 4 balances; Deribit, Binance, OKX and Aave are segregated venues.
    assert_eq!(r["legs"].as_array().unwrap().len(), 7);
    assert!(r["venues"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["kind"] == "segregated"));
    ok(&["zk", "setup", "--rule", s(&rule)]);
    let proof = d.path().join("proof.json");
    let out = ok(&[
        "prove",
        "--rule",
        s(&rule),
        "--private",
        s(&private),
        "--out",
        s(&proof),
    ]);
    assert!(out.contains("unified rule"), "{out}");
    let out = ok(&["verify", "--rule", s(&rule), "--proof", s(&proof)]);
    assert!(out.contains("valid"), "{out}");
    let cm = ok(&["zk", "commit", "--rule", s(&rule), "--private", s(&private)]);
    let p: Value = serde_json::from_str(&std::fs::read_to_string(&proof).unwrap()).unwrap();
    assert_eq!(cm.trim(), p["commitment"].as_str().unwrap());

    // Every field of the proof file is checked: alter each one and verification fails.
    type Tamper = Box<dyn Fn(&mut Value)>;
    let tamper: Vec<(&str, Tamper)> = vec![
        ("scheme", Box::new(|v| v["scheme"] = json!("plonk"))),
        (
            "rule_digest",
            Box::new(|v| v["rule_digest"] = json!("00".repeat(32))),
        ),
        (
            "verifying_key_sha256",
            Box::new(|v| v["verifying_key_sha256"] = json!("11".repeat(32))),
        ),
        ("commitment", Box::new(|v| v["commitment"] = json!("0x01"))),
        (
            "threshold",
            Box::new(|v| v["threshold"] = json!(v["threshold"].as_i64().unwrap() + 1)),
        ),
        (
            "proof",
            Box::new(|v| {
                let h = v["proof"].as_str().unwrap().to_string();
                let mut b: Vec<char> = h.chars().collect();
                let k = b.len() - 1;
                b[k] = if b[k] == '0' { '1' } else { '0' };
                v["proof"] = json!(b.into_iter().collect::<String>());
            }),
        ),
        (
            "solidity_calldata.a",
            Box::new(|v| v["solidity_calldata"]["a"][0] = json!("1")),
        ),
        (
            "solidity_calldata.b",
            Box::new(|v| v["solidity_calldata"]["b"][1][0] = json!("1")),
        ),
        (
            "solidity_calldata.c",
            Box::new(|v| v["solidity_calldata"]["c"][1] = json!("2")),
        ),
        (
            "solidity_calldata.input",
            Box::new(|v| v["solidity_calldata"]["input"][2] = json!("1")),
        ),
    ];
    for (field, f) in tamper {
        let mut v = p.clone();
        f(&mut v);
        let path = write(d.path(), &format!("tampered-{field}.json"), &v);
        fail(&["verify", "--rule", s(&rule), "--proof", s(&path)]);
    }

    // Short at Binance (its USDT cut to 1 USDT) while the pool (5 BTC + 200,000 USDC elsewhere)
    // covers the whole requirement several times: the prover refuses.
    let mut b: Value = serde_json::from_str(&std::fs::read_to_string(&private).unwrap()).unwrap();
    for p in b["positions"].as_array_mut().unwrap() {
        if p["instrument"] == "binance:USDT collateral" {
            p["quantity"] = json!(10_000);
        }
    }
    let short = write(d.path(), "short.json", &b);
    let e = fail(&[
        "prove",
        "--rule",
        s(&rule),
        "--private",
        s(&short),
        "--out",
        s(&d.path().join("no.json")),
    ]);
    assert!(e.contains("local floor at segregated venue binance"), "{e}");
}

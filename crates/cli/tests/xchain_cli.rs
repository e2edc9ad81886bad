//! `intermargin xchain …` end to end: EIP-712 digests of the spec's vectors, the simulation's
//! JSON contract and determinism, config errors naming the key, the capital-efficiency report.

use assert_cmd::Command;
use serde_json::Value;

fn bin() -> Command {
    Command::cargo_bin("intermargin").unwrap()
}

fn path(rel: &str) -> String {
    format!("{}/{rel}", env!("CARGO_MANIFEST_DIR"))
}

fn json_of(args: &[&str]) -> Value {
    let out = bin()
        .args(args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn hash_typed_data_gives_the_eip712_mail_digest() {
    // EIP-712 assets/eip-712/Example.js: signHash() of the Mail example.
    let v = json_of(&[
        "xchain",
        "hash-typed-data",
        "--file",
        &path("../xchain/tests/data/mail.json"),
        "--json",
    ]);
    assert_eq!(
        v,
        serde_json::json!({"digest": "0xbe609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2"})
    );
}

#[test]
fn hash_typed_data_handles_arrays_of_nested_structs() {
    // MetaMask eth-sig-util V4 vector.
    let v = json_of(&[
        "xchain",
        "hash-typed-data",
        "--file",
        &path("../xchain/tests/data/mail_arrays.json"),
        "--json",
    ]);
    assert_eq!(
        v["digest"],
        "0xa85c2e2b118698e88db68a8105b794a8cc7cec074e89ef991cb4f5f533819cc2"
    );
}

#[test]
fn hash_typed_data_refuses_a_malformed_document() {
    let dir = std::env::temp_dir().join(format!("xchain-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("bad.json");
    std::fs::write(
        &f,
        r#"{"types": {}, "primaryType": "Mail", "domain": {}, "message": {}}"#,
    )
    .unwrap();
    let out = bin()
        .args([
            "xchain",
            "hash-typed-data",
            "--file",
            f.to_str().unwrap(),
            "--json",
        ])
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8_lossy(&out).contains("typed data"));
}

#[test]
fn simulate_prints_the_documented_json_and_is_reproducible() {
    let cfg = path("../../examples/xchain/faulty_three_spokes.toml");
    let args = [
        "xchain",
        "simulate",
        "--config",
        cfg.as_str(),
        "--seed",
        "11",
        "--json",
    ];
    let a = json_of(&args);
    let b = json_of(&args);
    assert_eq!(a, b);
    for k in [
        "messages",
        "credits",
        "invariant_checks",
        "collateral_hub",
        "collateral_siloed",
    ] {
        assert!(a[k].as_u64().is_some(), "missing {k}: {a}");
    }
    for k in [
        "replay",
        "expired",
        "bad_signature",
        "wrong_domain",
        "no_quorum",
        "rate_limited",
    ] {
        assert!(a["rejected"][k].as_u64().is_some(), "missing rejected.{k}");
    }
    assert_eq!(a["invariant_violations"], 0);
    assert!(a["invariant_checks"].as_u64().unwrap() > 0);
    assert!(a["collateral_hub"].as_u64().unwrap() < a["collateral_siloed"].as_u64().unwrap());
}

#[test]
fn simulate_config_errors_name_the_key() {
    let dir = std::env::temp_dir().join(format!("xchain-cli-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(path("../../examples/xchain/honest_three_spokes.toml"))
        .unwrap()
        .replace("haircut_bps = 200", "haircut_bps = 10000");
    let f = dir.join("bad.toml");
    std::fs::write(&f, text).unwrap();
    let out = bin()
        .args([
            "xchain",
            "simulate",
            "--config",
            f.to_str().unwrap(),
            "--json",
        ])
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8_lossy(&out).contains("hub.haircut_bps"));
}

#[test]
fn efficiency_compares_one_hub_pool_with_siloed_pools() {
    // Hand calculation in crates/xchain/src/efficiency.rs: hub 10,350 USDC, siloed 97,350 USDC.
    let v = json_of(&[
        "xchain",
        "efficiency",
        "--book",
        &path("../../examples/xchain/hedged_book.json"),
        "--json",
    ]);
    assert_eq!(v["collateral_hub"], 10_350_000_000u64);
    assert_eq!(v["collateral_siloed"], 97_350_000_000u64);
}

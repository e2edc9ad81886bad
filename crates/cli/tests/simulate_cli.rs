//! `intermargin simulate` and `frontier` end to end on small runs.
use assert_cmd::Command;

fn stress(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/stress")
        .join(name)
}

#[test]
fn simulate_writes_summary_and_plots_and_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let run = |out: &std::path::Path| {
        let o = Command::cargo_bin("intermargin")
            .unwrap()
            .args(["simulate", "--config"])
            .arg(stress("crash.toml"))
            .args(["--paths", "20", "--seed", "9", "--out"])
            .arg(out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read_to_string(out.join("summary.json")).unwrap()
    };
    let a = run(&dir.path().join("a"));
    let b = run(&dir.path().join("b"));
    assert_eq!(a, b);
    let v: serde_json::Value = serde_json::from_str(&a).unwrap();
    assert_eq!(v["paths"], 20);
    assert_eq!(v["seed"], 9);
    // The crash halves ETH: the mean low is at most ~0.5 of the start.
    assert!(v["without_breakers"]["mean_min_price"][0].as_f64().unwrap() < 0.6);
    assert!(v["without_breakers"]["mean_liquidated"].as_f64().unwrap() > 0.0);
    assert!(v["with_breakers"].is_object());
    for f in [
        "loss_distribution.svg",
        "loss_distribution.png",
        "cascade_timeline.svg",
        "cascade_timeline.png",
        "timeline.json",
    ] {
        let p = dir.path().join("a").join(f);
        assert!(
            std::fs::metadata(&p).unwrap().len() > 100,
            "{}",
            p.display()
        );
    }
}

#[test]
fn frontier_writes_points_for_siloed_and_unified() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::cargo_bin("intermargin")
        .unwrap()
        .args(["frontier", "--config"])
        .arg(stress("calm.toml"))
        .args(["--paths", "5", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap())
            .unwrap();
    let pts = v["points"].as_array().unwrap();
    assert_eq!(pts.len(), 10);
    // More initial margin → less capital efficiency, for both modes.
    let eff = |m: &str, i: usize| {
        pts.iter().filter(|p| p["margining"] == m).nth(i).unwrap()["capital_efficiency"]
            .as_f64()
            .unwrap()
    };
    assert!(eff("siloed", 0) > eff("siloed", 4));
    assert!(eff("unified", 0) > eff("unified", 4));
    // The unified book needs less collateral than the siloed one at the same multiplier.
    assert!(eff("unified", 1) > eff("siloed", 1));
    assert!(dir.path().join("frontier.png").exists() && dir.path().join("frontier.svg").exists());
}

#[test]
fn a_config_error_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let text = std::fs::read_to_string(stress("calm.toml"))
        .unwrap()
        .replacen("mm_rate = 0.03", "mm_rate = 0.3", 1);
    std::fs::write(&bad, text).unwrap();
    let o = Command::cargo_bin("intermargin")
        .unwrap()
        .args(["simulate", "--config"])
        .arg(&bad)
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("venues[0].mm_rate"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

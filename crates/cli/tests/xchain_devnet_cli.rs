//! `intermargin xchain devnet` as a process: it starts three anvil nodes, deploys, writes
//! deployment.json, keeps running, and on SIGTERM exits 0 having stopped every node it started.
//! anvil comes from `scripts/deps.sh` (`INTERMARGIN_ANVIL`, `INTERMARGIN_REQUIRE_ANVIL=1`);
//! without it locally the test says so and stops.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn anvil() -> Option<PathBuf> {
    let p = std::env::var_os("INTERMARGIN_ANVIL").map(PathBuf::from);
    let found = p.filter(|p| p.is_file()).or_else(|| {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join("anvil"))
                .find(|p| p.is_file())
        })
    });
    if found.is_none() {
        assert!(
            std::env::var("INTERMARGIN_REQUIRE_ANVIL").as_deref() != Ok("1"),
            "anvil not found (run scripts/deps.sh)"
        );
        eprintln!("skipped: anvil not installed (scripts/deps.sh installs @foundry-rs/anvil)");
    }
    found
}

#[test]
fn devnet_writes_deployment_json_and_stops_its_nodes_on_sigterm() {
    let Some(anvil) = anvil() else { return };
    let out = std::env::temp_dir().join(format!("intermargin-devnet-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let mut child = Command::new(env!("CARGO_BIN_EXE_intermargin"))
        .args([
            "xchain",
            "devnet",
            "--chains",
            "3",
            "--guardians",
            "3",
            "--threshold",
            "2",
        ])
        .arg("--out")
        .arg(&out)
        .arg("--anvil")
        .arg(&anvil)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let path = out.join("deployment.json");
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no deployment.json after 120 s"
        );
        assert!(child.try_wait().unwrap().is_none(), "devnet exited early");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(300));
    let d: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let chains = d["chains"].as_array().unwrap();
    assert_eq!(chains.len(), 3);
    assert_eq!(chains[0]["role"], "hub");
    assert_eq!(chains[0]["chain_id"], 31_337);
    assert!(chains[0]["contracts"]["hub"].is_string());
    for c in &chains[1..] {
        assert_eq!(c["role"], "spoke");
        assert!(c["contracts"]["spoke"].is_string());
        assert_eq!(
            c["contracts"]["collateral_token"],
            chains[0]["contracts"]["collateral_token"]
        );
    }
    assert_eq!(d["guardians"].as_array().unwrap().len(), 3);
    assert_eq!(d["threshold"], 2);
    assert!(PathBuf::from(d["abi_dir"].as_str().unwrap())
        .join("MarginSpoke.abi.json")
        .is_file());
    let addrs: Vec<String> = chains
        .iter()
        .map(|c| {
            c["rpc"]
                .as_str()
                .unwrap()
                .trim_start_matches("http://")
                .to_string()
        })
        .collect();
    for a in &addrs {
        assert!(TcpStream::connect(a).is_ok(), "node {a} is not listening");
    }
    // SIGTERM: exit 0, every node stopped.
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "devnet ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "exit status {status}");
    std::thread::sleep(Duration::from_millis(500));
    for a in &addrs {
        assert!(
            TcpStream::connect(a).is_err(),
            "node {a} still listening after SIGTERM"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}

//! `intermargin xchain devnet` as a process: it starts three anvil nodes, deploys, writes
//! deployment.json, starts three guardian processes and a relayer, keeps running, and on SIGTERM
//! exits 0 having stopped every process it started. In between, a credit locked on the hub is
//! signed by the guardians (after the finality depth) and relayed to the spoke, and a release on
//! the spoke is attested back and retires the credit at the hub, with no test code signing.
//! anvil comes from `scripts/deps.sh` (`INTERMARGIN_ANVIL`, `INTERMARGIN_REQUIRE_ANVIL=1`);
//! without it locally the test says so and stops.

use std::net::TcpStream;

use alloy_primitives::{Address, U256};
use alloy_sol_types::{sol, SolCall, SolValue};
use intermargin_xchain::rpc::Rpc;

sol! {
    interface IHub {
        function deposit(address account, address token, uint256 amount);
        function lockCredit(uint256 spokeChainId, uint256 amount, uint64 expiry) returns (uint64);
        function outstandingCredit(address account, uint256 spokeChainId) returns (uint256);
    }
    interface ISpoke {
        function creditOf(address account) returns (uint256 amount, uint64 expiry, uint64 nonce);
        function releaseCredit(address account, uint64 creditNonce);
    }
    interface IToken {
        function mint(address to, uint256 amount);
        function approve(address spender, uint256 amount) returns (bool);
    }
}

/// Polls `f` every 250 ms until it returns Some, for at most `secs` seconds.
fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}
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
    // A credit crosses through the guardian and relayer processes.
    let hub_rpc = Rpc::new(chains[0]["rpc"].as_str().unwrap()).unwrap();
    let spoke_rpc = Rpc::new(chains[1]["rpc"].as_str().unwrap()).unwrap();
    let addr = |v: &serde_json::Value| v.as_str().unwrap().parse::<Address>().unwrap();
    let (hub, token) = (
        addr(&chains[0]["contracts"]["hub"]),
        addr(&chains[0]["contracts"]["collateral_token"]),
    );
    let spoke = addr(&chains[1]["contracts"]["spoke"]);
    let spoke_chain = U256::from(chains[1]["chain_id"].as_u64().unwrap());
    let user = hub_rpc.accounts().unwrap()[1];
    let tx = |rpc: &Rpc, to: Address, data: Vec<u8>| {
        assert!(rpc.send(user, Some(to), &data).unwrap().success)
    };
    tx(
        &hub_rpc,
        token,
        IToken::mintCall {
            to: user,
            amount: U256::from(1_000),
        }
        .abi_encode(),
    );
    tx(
        &hub_rpc,
        token,
        IToken::approveCall {
            spender: hub,
            amount: U256::MAX,
        }
        .abi_encode(),
    );
    tx(
        &hub_rpc,
        hub,
        IHub::depositCall {
            account: user,
            token,
            amount: U256::from(1_000),
        }
        .abi_encode(),
    );
    let now = hub_rpc.latest_timestamp().unwrap();
    let expiry = (now + 3_600) * 1_000;
    tx(
        &hub_rpc,
        hub,
        IHub::lockCreditCall {
            spokeChainId: spoke_chain,
            amount: U256::from(600),
            expiry,
        }
        .abi_encode(),
    );
    let credit = wait_for(60, "the relayed credit on the spoke", || {
        let out = spoke_rpc
            .eth_call(spoke, &ISpoke::creditOfCall { account: user }.abi_encode())
            .ok()?;
        let (a, x, n) = <(U256, u64, u64)>::abi_decode_params(&out).ok()?;
        (n == 1).then_some((a, x))
    });
    assert_eq!(credit, (U256::from(600), expiry));
    let relayed = std::fs::read_dir(out.join("signatures"))
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().starts_with("credit-"))
        .expect("an attestation directory");
    let sigs = std::fs::read_dir(relayed.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".sig")
        })
        .count();
    assert!(sigs >= 2, "{sigs} guardian signatures");
    // Release on the spoke: attested back and retired at the hub.
    tx(
        &spoke_rpc,
        spoke,
        ISpoke::releaseCreditCall {
            account: user,
            creditNonce: 1,
        }
        .abi_encode(),
    );
    let outstanding = |rpc: &Rpc| {
        U256::from_be_slice(
            &rpc.eth_call(
                hub,
                &IHub::outstandingCreditCall {
                    account: user,
                    spokeChainId: spoke_chain,
                }
                .abi_encode(),
            )
            .unwrap()[..32],
        )
    };
    wait_for(60, "the credit retired at the hub", || {
        (outstanding(&hub_rpc) == U256::ZERO).then_some(())
    });

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

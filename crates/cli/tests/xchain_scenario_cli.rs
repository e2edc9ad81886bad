//! `intermargin xchain scenario` end to end on real anvil nodes: `xchain devnet --no-agents`
//! runs as a process (it also serves the scenario's node stop/restart requests), the scenario runs
//! a small seeded plan with every fault kind, and the test checks from its JSON and from the nodes
//! themselves: no violation, each fault refused with the reason the contracts give for it (forged
//! → bad_signature, replay → nonce_used / wrong_chain, compromised guardian → below_threshold /
//! duplicate_signer, …), the reorged credit re-submitted and accepted once, the restarted node
//! resumed its chain, every accepted credit's transaction final on chain; the off-chain plan is a
//! function of the seed; a bad configuration is refused naming the field.
//! anvil comes from `scripts/deps.sh` (`INTERMARGIN_ANVIL`, `INTERMARGIN_REQUIRE_ANVIL=1`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::{sol, SolCall};
use intermargin_xchain::rpc::Rpc;
use serde_json::Value;

sol! {
    interface IHub {
        function collateralOf(address account, address token) returns (uint256);
        function totalOutstanding(address account) returns (uint256);
        function outstandingCredit(address account, uint256 spokeChainId) returns (uint256);
    }
    interface ISpoke {
        function creditOf(address account) returns (uint256 amount, uint64 expiry, uint64 nonce);
        function available(address account) returns (uint256);
    }
}

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

const CONFIG: &str = r#"
[scenario]
steps = 14
accounts = 2
finality = 2
initial_deposit = 50000000000
max_price_move = 0.05
max_trade_notional = 40000.0

[weights]
deposit = 1
credit = 3
trade = 3
price = 2
withdraw = 2
release = 1

[prices]
BTC = 60000.0
ETH = 3000.0

[[faults]]
kind = "reorg"
at_step = 0
chain = 1
depth = 2

[[faults]]
kind = "reorg"
at_step = 1
chain = 0
depth = 1

[[faults]]
kind = "reorg"
at_step = 2
chain = 2
depth = 4

[[faults]]
kind = "reorg"
at_step = 3
chain = 0
depth = 3

[[faults]]
kind = "node_restart"
at_step = 4
chain = 1

[[faults]]
kind = "delay_relay"
at_step = 5
steps = 2

[[faults]]
kind = "duplicate_relay"
at_step = 6

[[faults]]
kind = "reorder_relays"
at_step = 7

[[faults]]
kind = "forged_signature"
at_step = 8

[[faults]]
kind = "replay_credit"
at_step = 9

[[faults]]
kind = "guardian_offline"
guardian = 2
from_step = 9
to_step = 12

[[faults]]
kind = "compromised_guardian"
at_step = 10
guardian = 1
"#;

struct Devnet(Child);

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn scenario(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_intermargin"))
        .args(["xchain", "scenario"])
        .args(args)
        .output()
        .unwrap()
}

fn counts(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn fault<'a>(report: &'a Value, kind: &str, nth: usize) -> &'a Value {
    report["faults"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind)
        .nth(nth)
        .unwrap_or_else(|| panic!("no fault {kind} #{nth} in the report"))
}

fn addr(v: &Value) -> Address {
    v.as_str().unwrap().parse().unwrap()
}

fn word(rpc: &Rpc, to: Address, data: Vec<u8>) -> U256 {
    let out = rpc.eth_call(to, &data).unwrap();
    U256::from_be_slice(&out[..32])
}

#[test]
fn scenario_on_anvil_refuses_every_fault_and_keeps_the_invariant() {
    let Some(anvil) = anvil() else { return };
    let out = std::env::temp_dir().join(format!("intermargin-scenario-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_intermargin"))
        .args(["xchain", "devnet", "--chains", "3", "--guardians", "3"])
        .args(["--threshold", "2", "--no-agents", "--block-time", "0"])
        .arg("--out")
        .arg(out.join("net"))
        .arg("--anvil")
        .arg(&anvil)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut net = Devnet(child);
    let deployment = out.join("net/deployment.json");
    let start = Instant::now();
    while !deployment.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no deployment.json after 120 s"
        );
        assert!(net.0.try_wait().unwrap().is_none(), "devnet exited early");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(300));
    let config = out.join("small.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let dep = deployment.to_str().unwrap();
    let cfg = config.to_str().unwrap();

    // The off-chain plan is a function of the seed.
    let plan = |seed: &str| -> Value {
        let o = scenario(&[
            "--deployment",
            dep,
            "--config",
            cfg,
            "--seed",
            seed,
            "--plan-only",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let (a, b, c) = (plan("11"), plan("11"), plan("12"));
    assert_eq!(a, b);
    assert_ne!(a["plan"], c["plan"]);
    // 14 operations and 12 faults.
    assert_eq!(a["plan"].as_array().unwrap().len(), 26);

    let o = scenario(&[
        "--deployment",
        dep,
        "--config",
        cfg,
        "--seed",
        "11",
        "--json",
    ]);
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["violations"], 0, "{}", r["violation_details"]);
    assert_eq!(r["steps"], 26);
    assert_eq!(r["plan_digest"], a["plan_digest"]);
    let rej = &r["rejected"];

    // Each fault produced the refusal (or recovery) it must.
    let f = fault(&r, "reorg", 0); // spoke, within finality
    assert_eq!(counts(&f["recovered"], "reorged_out_resubmitted"), 1, "{f}");
    let f = fault(&r, "reorg", 1); // hub, within finality
    assert_eq!(counts(&f["rejected"], "reorged_before_finality"), 1, "{f}");
    for nth in [2, 3] {
        let f = fault(&r, "reorg", nth); // beyond finality, transactions included again
        assert_eq!(counts(&f["alarms"], "deep_reorg_detected"), 1, "{f}");
    }
    let f = fault(&r, "node_restart", 0);
    assert!(counts(&f["rejected"], "node_unreachable") >= 1, "{f}");
    assert!(counts(&f["recovered"], "retried_after_restart") >= 1, "{f}");
    assert_eq!(counts(&r["recovered"], "delayed_delivered"), 1);
    for kind in ["duplicate_relay", "reorder_relays"] {
        let f = fault(&r, kind, 0);
        assert_eq!(counts(&f["rejected"], "nonce_used"), 1, "{f}");
    }
    let f = fault(&r, "forged_signature", 0);
    assert_eq!(counts(&f["rejected"], "bad_signature"), 1, "{f}");
    let f = fault(&r, "replay_credit", 0);
    assert_eq!(counts(&f["rejected"], "nonce_used"), 1, "{f}");
    assert_eq!(counts(&f["rejected"], "wrong_chain"), 1, "{f}");
    let f = fault(&r, "compromised_guardian", 0);
    assert_eq!(counts(&f["rejected"], "below_threshold"), 2, "{f}");
    assert_eq!(counts(&f["rejected"], "duplicate_signer"), 1, "{f}");
    for reason in [
        "bad_signature",
        "nonce_used",
        "below_threshold",
        "wrong_chain",
    ] {
        assert!(counts(rej, reason) >= 1, "{reason}: {rej}");
    }
    for op in [
        "deposit",
        "lock_credit",
        "accept_credit",
        "withdraw",
        "retire_credit",
    ] {
        let g = &r["gas"][op];
        if op == "withdraw" || op == "retire_credit" {
            // Depends on the plan: present or not, but sane when present.
            if g.is_null() {
                continue;
            }
        }
        assert!(
            counts(g, "count") >= 1 && counts(g, "mean") > 20_000,
            "{op}: {g}"
        );
    }

    // Accepted credits: once each, final on chain, and the spoke's current credit is one of them.
    let d: Value = serde_json::from_str(&std::fs::read_to_string(&deployment).unwrap()).unwrap();
    let chains = d["chains"].as_array().unwrap();
    let rpc = |i: usize| Rpc::new(chains[i]["rpc"].as_str().unwrap()).unwrap();
    let accepted = r["accepted_credits"].as_array().unwrap();
    assert!(accepted.len() >= 6, "{accepted:?}");
    let mut seen = BTreeSet::new();
    for c in accepted {
        let key = (
            c["chain_id"].as_u64().unwrap(),
            c["account"].as_str().unwrap().to_lowercase(),
            c["nonce"].as_u64().unwrap(),
        );
        assert!(seen.insert(key.clone()), "credit accepted twice: {c}");
        let i = chains
            .iter()
            .position(|x| x["chain_id"] == c["chain_id"])
            .unwrap();
        let tx: B256 = c["tx_hash"].as_str().unwrap().parse().unwrap();
        let receipt = rpc(i)
            .try_receipt(tx)
            .unwrap()
            .expect("accepted credit's tx is on chain");
        assert!(receipt.success);
        let latest = rpc(i).block_number().unwrap();
        assert!(latest - receipt.block_number >= 2, "not final: {c}");
    }
    // Accepted once: exactly one CreditAccepted event per (spoke, account, nonce) on each canonical
    // chain, after two reorgs and a restart.
    let topic = alloy_primitives::keccak256("CreditAccepted(address,uint64,uint256,uint64,uint64)");
    for (i, c) in chains.iter().enumerate().skip(1) {
        let logs = rpc(i)
            .call(
                "eth_getLogs",
                serde_json::json!([{"address": c["contracts"]["spoke"], "topics": [topic], "fromBlock": "0x0", "toBlock": "latest"}]),
            )
            .unwrap();
        let mut keys = BTreeSet::new();
        for l in logs.as_array().unwrap() {
            let account = l["topics"][1].as_str().unwrap()[26..].to_lowercase();
            let data = alloy_primitives::hex::decode(l["data"].as_str().unwrap()).unwrap();
            let nonce = U256::from_be_slice(&data[..32]);
            assert!(
                keys.insert((account, nonce)),
                "accepted twice on chain {}: {l}",
                c["chain_id"]
            );
        }
        let listed = accepted
            .iter()
            .filter(|a| a["chain_id"] == c["chain_id"])
            .count();
        assert!(
            keys.len() >= listed,
            "chain {}: {} events < {listed} accepted credits",
            c["chain_id"],
            keys.len()
        );
    }
    // The invariant, read again from the nodes by the test.
    let hub = addr(&chains[0]["contracts"]["hub"]);
    let token = addr(&chains[0]["contracts"]["collateral_token"]);
    let accounts: BTreeSet<Address> = accepted.iter().map(|c| addr(&c["account"])).collect();
    for a in accounts {
        let coll = word(
            &rpc(0),
            hub,
            IHub::collateralOfCall { account: a, token }.abi_encode(),
        );
        let total = word(
            &rpc(0),
            hub,
            IHub::totalOutstandingCall { account: a }.abi_encode(),
        );
        assert!(coll >= total, "{a}: {coll} < {total}");
        for (i, c) in chains.iter().enumerate().skip(1) {
            let spoke = addr(&c["contracts"]["spoke"]);
            let out = word(
                &rpc(0),
                hub,
                IHub::outstandingCreditCall {
                    account: a,
                    spokeChainId: U256::from(c["chain_id"].as_u64().unwrap()),
                }
                .abi_encode(),
            );
            let avail = word(
                &rpc(i),
                spoke,
                ISpoke::availableCall { account: a }.abi_encode(),
            );
            assert!(
                avail <= out,
                "{a} on {}: drawable {avail} > hub credit {out}",
                c["chain_id"]
            );
        }
    }

    // A bad configuration is refused naming the field.
    let bad = |from: &str, to: &str, field: &str| {
        let p = out.join("bad.toml");
        std::fs::write(&p, CONFIG.replacen(from, to, 1)).unwrap();
        let o = scenario(&[
            "--deployment",
            dep,
            "--config",
            p.to_str().unwrap(),
            "--seed",
            "1",
        ]);
        assert!(!o.status.success());
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains(field), "expected {field} in: {e}");
    };
    bad("depth = 2", "depth = 0", "faults[0].depth");
    bad(
        "chain = 1\ndepth = 2",
        "chain = 9\ndepth = 2",
        "faults[0].chain",
    );
    bad("finality = 2", "finality = \"two\"", "scenario.finality");
    bad(
        "kind = \"forged_signature\"",
        "kind = \"forged_signatures\"",
        "faults[8]",
    );
    bad(
        "at_step = 10\nguardian = 1",
        "at_step = 10\nguardian = 7",
        "faults[11].guardian",
    );
    drop(net);
    remove(&out);
}

#[test]
fn scenario_refuses_an_interval_mining_devnet_naming_the_chain() {
    let Some(anvil) = anvil() else { return };
    let out = std::env::temp_dir().join(format!(
        "intermargin-scenario-interval-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_intermargin"))
        .args(["xchain", "devnet", "--chains", "2", "--guardians", "3"])
        .args(["--threshold", "2", "--no-agents", "--block-time", "1"])
        .arg("--out")
        .arg(out.join("net"))
        .arg("--anvil")
        .arg(&anvil)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut net = Devnet(child);
    let deployment = out.join("net/deployment.json");
    let start = Instant::now();
    while !deployment.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no deployment.json"
        );
        assert!(net.0.try_wait().unwrap().is_none(), "devnet exited early");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(300));
    let config = out.join("small.toml");
    std::fs::write(&config, CONFIG.replace("chain = 2", "chain = 1")).unwrap();
    let o = scenario(&[
        "--deployment",
        deployment.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--seed",
        "1",
    ]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("deployment.chains[0]") && e.contains("--block-time 0"),
        "{e}"
    );
    drop(net);
    remove(&out);
}

fn remove(p: &Path) {
    let _ = std::fs::remove_dir_all(p);
}

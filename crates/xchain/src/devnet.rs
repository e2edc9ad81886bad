//! A local multi-chain devnet on real EVM nodes: one hub chain and `chains − 1` spoke chains, each
//! an `anvil` process, with the committed contracts (contracts/build) deployed — a TestToken as
//! collateral and a MarginHub on the hub, a MarginSpoke on each spoke registered at the hub — a
//! fresh guardian key set (written to `DIR/guardians/`) and `DIR/deployment.json`.
//! Every process started is stopped when the [`Devnet`] is dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, U256};
use alloy_sol_types::{sol, SolCall, SolValue};
use serde::{Deserialize, Serialize};

use crate::error::XchainError;
use crate::guardian::GuardianKey;
use crate::rpc::Rpc;

/// The committed artifacts: (name, ABI JSON, creation bytecode hex).
pub const ARTIFACTS: [(&str, &str, &str); 4] = [
    (
        "MarginHub",
        include_str!("../../../contracts/build/MarginHub.abi.json"),
        include_str!("../../../contracts/build/MarginHub.bin"),
    ),
    (
        "MarginSpoke",
        include_str!("../../../contracts/build/MarginSpoke.abi.json"),
        include_str!("../../../contracts/build/MarginSpoke.bin"),
    ),
    (
        "TestToken",
        include_str!("../../../contracts/build/TestToken.abi.json"),
        include_str!("../../../contracts/build/TestToken.bin"),
    ),
    (
        "SmartAccount",
        include_str!("../../../contracts/build/SmartAccount.abi.json"),
        include_str!("../../../contracts/build/SmartAccount.bin"),
    ),
];

sol! {
    interface IHubAdmin {
        function setSpoke(uint256 spokeChainId, address spoke, uint128 capacity, uint128 ratePerSecond);
    }
}

/// Sub-directory of the devnet's output directory through which node stops and restarts are requested.
pub const CONTROL_DIR: &str = "control";

/// Credit outflow limit the devnet sets per spoke chain at the hub (base units, and per second).
pub const DEVNET_CREDIT_CAPACITY: u128 = 1_000_000_000_000_000;
/// Refill rate of [`DEVNET_CREDIT_CAPACITY`] per second.
pub const DEVNET_CREDIT_RATE: u128 = 1_000_000_000_000;

/// Role of a chain in the deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Holds the collateral pool.
    Hub,
    /// Accepts credits.
    Spoke,
}

/// Contracts deployed on one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contracts {
    /// MarginHub (hub chain only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub: Option<Address>,
    /// MarginSpoke (spoke chains only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spoke: Option<Address>,
    /// The collateral ERC-20 (on the hub chain; spokes' credits are denominated in it).
    pub collateral_token: Address,
}

/// One chain of the deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainDeployment {
    /// EVM chain id.
    pub chain_id: u64,
    /// JSON-RPC URL.
    pub rpc: String,
    /// `hub` or `spoke`.
    pub role: Role,
    /// Deployed contracts.
    pub contracts: Contracts,
}

/// `deployment.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// Hub first, then spokes.
    pub chains: Vec<ChainDeployment>,
    /// Guardian addresses.
    pub guardians: Vec<Address>,
    /// Distinct guardian signatures required.
    pub threshold: usize,
    /// Directory holding `<Contract>.abi.json` and `<Contract>.bin`.
    pub abi_dir: PathBuf,
}

impl Deployment {
    /// Reads and validates a `deployment.json`.
    pub fn load(path: &Path) -> Result<Deployment, XchainError> {
        let text = fs::read_to_string(path)
            .map_err(|e| XchainError::config(path.display().to_string(), e.to_string()))?;
        let d: Deployment = serde_json::from_str(&text)
            .map_err(|e| XchainError::config(path.display().to_string(), e.to_string()))?;
        if d.chains.iter().filter(|c| c.role == Role::Hub).count() != 1 {
            return Err(XchainError::config(
                "chains",
                "exactly one chain must have role hub",
            ));
        }
        for (i, c) in d.chains.iter().enumerate() {
            let ok = match c.role {
                Role::Hub => c.contracts.hub.is_some(),
                Role::Spoke => c.contracts.spoke.is_some(),
            };
            if !ok {
                return Err(XchainError::config(
                    format!("chains[{i}].contracts"),
                    "a hub chain needs `hub`, a spoke chain `spoke`",
                ));
            }
        }
        if d.threshold == 0 || d.threshold > d.guardians.len() {
            return Err(XchainError::config(
                "threshold",
                format!("must be between 1 and {}", d.guardians.len()),
            ));
        }
        Ok(d)
    }

    /// The hub chain.
    pub fn hub(&self) -> &ChainDeployment {
        // `load` and `Devnet::start` guarantee exactly one hub.
        &self.chains[self
            .chains
            .iter()
            .position(|c| c.role == Role::Hub)
            .unwrap_or(0)]
    }
}

/// What to start.
#[derive(Debug, Clone)]
pub struct DevnetOptions {
    /// Number of chains (hub + spokes), at least 2.
    pub chains: usize,
    /// Number of guardians.
    pub guardians: usize,
    /// Quorum.
    pub threshold: usize,
    /// Output directory.
    pub out: PathBuf,
    /// The anvil binary.
    pub anvil: PathBuf,
    /// Chain id of the hub; spokes take the next ids.
    pub first_chain_id: u64,
    /// Seconds between blocks (`anvil --block-time`); `None` mines one block per transaction.
    pub block_time: Option<u64>,
}

/// A running devnet; dropping it stops its nodes.
pub struct Devnet {
    children: Vec<(u64, Child)>,
    /// Port of each chain's node (kept across a restart).
    ports: BTreeMap<u64, u16>,
    /// Chains stopped on request through the control directory.
    stopped: BTreeSet<u64>,
    anvil: PathBuf,
    block_time: Option<u64>,
    out: PathBuf,
    /// What was deployed (also written to `DIR/deployment.json`).
    pub deployment: Deployment,
    /// The guardians' keys (also written to `DIR/guardians/guardian-<i>.key`).
    pub guardian_keys: Vec<GuardianKey>,
    /// The funded, unlocked account that deployed and administers the contracts.
    pub admin: Address,
    /// The relayer's secret key (also written to `DIR/relayer.key`); its address holds
    /// [`RELAYER_FUNDING_WEI`] on every chain.
    pub relayer_key: [u8; 32],
    /// The service's secret key (also written to `DIR/service.key`); its address holds
    /// [`RELAYER_FUNDING_WEI`] on every chain, for `serve --xchain`.
    pub service_key: [u8; 32],
}

/// File of the devnet's output directory holding the service's key (`serve --xchain` reads it).
pub const SERVICE_KEY_FILE: &str = "service.key";

/// Wei the devnet sends to the relayer's address on every chain.
pub const RELAYER_FUNDING_WEI: u128 = 1_000_000_000_000_000_000_000;

/// npm's `@foundry-rs/anvil` installs `bin.mjs`, a node wrapper; the binary itself sits in the
/// platform package next to it. Running the binary directly leaves no wrapper process behind.
fn native_anvil(p: PathBuf) -> PathBuf {
    let real = fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
    if real.extension().is_some_and(|e| e == "mjs" || e == "js") {
        let arch = if cfg!(target_arch = "aarch64") {
            "arm64"
        } else {
            "amd64"
        };
        let os = if cfg!(target_os = "macos") {
            "darwin"
        } else {
            "linux"
        };
        if let Some(scope) = real.parent().and_then(Path::parent) {
            let bin = scope.join(format!("anvil-{os}-{arch}/bin/anvil"));
            if bin.is_file() {
                return bin;
            }
        }
    }
    p
}

/// Finds anvil: `explicit`, then `$INTERMARGIN_ANVIL`, then `PATH` (npm's wrapper resolved to its binary).
pub fn find_anvil(explicit: Option<&Path>) -> Result<PathBuf, XchainError> {
    find_anvil_path(explicit).map(native_anvil)
}

fn find_anvil_path(explicit: Option<&Path>) -> Result<PathBuf, XchainError> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(XchainError::Devnet(format!(
                "--anvil {}: no such file",
                p.display()
            )))
        };
    }
    if let Some(p) = std::env::var_os("INTERMARGIN_ANVIL").map(PathBuf::from) {
        if p.is_file() {
            return Ok(p);
        }
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("anvil"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            XchainError::Devnet(
                "anvil not found on PATH (npm install @foundry-rs/anvil, or pass --anvil PATH)"
                    .into(),
            )
        })
}

fn free_port() -> Result<u16, XchainError> {
    let l = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| XchainError::Devnet(format!("no free port: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| XchainError::Devnet(e.to_string()))
}

fn io(what: &str, e: std::io::Error) -> XchainError {
    XchainError::Devnet(format!("{what}: {e}"))
}

impl Devnet {
    /// Starts the nodes, deploys, writes `deployment.json`; on any error stops what it started.
    pub fn start(o: &DevnetOptions) -> Result<Devnet, XchainError> {
        if o.chains < 2 {
            return Err(XchainError::config(
                "chains",
                "at least 2 (one hub, one spoke)",
            ));
        }
        if o.threshold == 0 || o.threshold > o.guardians {
            return Err(XchainError::config(
                "threshold",
                format!("must be between 1 and --guardians {}", o.guardians),
            ));
        }
        fs::create_dir_all(o.out.join("guardians"))
            .map_err(|e| io("create output directory", e))?;
        let out = fs::canonicalize(&o.out).map_err(|e| io("output directory", e))?;
        let _ = fs::remove_dir_all(out.join("state"));
        let _ = fs::remove_dir_all(out.join(CONTROL_DIR));
        fs::create_dir_all(out.join("state")).map_err(|e| io("state directory", e))?;
        fs::create_dir_all(out.join(CONTROL_DIR)).map_err(|e| io("control directory", e))?;
        let mut net = Devnet {
            children: Vec::new(),
            ports: BTreeMap::new(),
            stopped: BTreeSet::new(),
            anvil: o.anvil.clone(),
            block_time: o.block_time,
            out: out.clone(),
            deployment: Deployment {
                chains: Vec::new(),
                guardians: Vec::new(),
                threshold: o.threshold,
                abi_dir: out.join("abi"),
            },
            guardian_keys: Vec::new(),
            relayer_key: [0; 32],
            service_key: [0; 32],
            admin: Address::ZERO,
        };
        // Nodes.
        let mut rpcs = Vec::new();
        for i in 0..o.chains {
            let chain_id = o.first_chain_id + i as u64;
            rpcs.push((chain_id, net.spawn_node(o, chain_id, &out)?));
        }
        // Guardians: fresh random keys, written for the guardian processes.
        for i in 0..o.guardians {
            let key = loop {
                let secret: [u8; 32] = rand::random();
                if let Ok(k) = GuardianKey::from_bytes(&secret) {
                    write_secret(&out.join(format!("guardians/guardian-{i}.key")), &secret)?;
                    break k;
                }
            };
            net.deployment.guardians.push(key.address());
            net.guardian_keys.push(key);
        }
        // Contracts.
        let (hub_id, hub_rpc) = &rpcs[0];
        let admin = *hub_rpc
            .accounts()?
            .first()
            .ok_or_else(|| XchainError::Devnet("the hub node has no unlocked account".into()))?;
        net.admin = admin;
        let gs = net.deployment.guardians.clone();
        let k = U256::from(o.threshold);
        let token = deploy(
            hub_rpc,
            admin,
            "TestToken",
            ("Test USD".to_string(), "TUSD".to_string(), U256::from(6)).abi_encode_params(),
        )?;
        let hub = deploy(
            hub_rpc,
            admin,
            "MarginHub",
            (token, gs.clone(), k, admin).abi_encode_params(),
        )?;
        net.deployment.chains.push(ChainDeployment {
            chain_id: *hub_id,
            rpc: hub_rpc.url().into(),
            role: Role::Hub,
            contracts: Contracts {
                hub: Some(hub),
                spoke: None,
                collateral_token: token,
            },
        });
        for (chain_id, rpc) in &rpcs[1..] {
            let from = *rpc.accounts()?.first().ok_or_else(|| {
                XchainError::Devnet(format!("chain {chain_id} has no unlocked account"))
            })?;
            let spoke = deploy(
                rpc,
                from,
                "MarginSpoke",
                (U256::from(*hub_id), gs.clone(), k, from).abi_encode_params(),
            )?;
            let call = IHubAdmin::setSpokeCall {
                spokeChainId: U256::from(*chain_id),
                spoke,
                capacity: DEVNET_CREDIT_CAPACITY,
                ratePerSecond: DEVNET_CREDIT_RATE,
            };
            let r = hub_rpc.send(admin, Some(hub), &call.abi_encode())?;
            if !r.success {
                return Err(XchainError::Devnet(format!(
                    "setSpoke({chain_id}) reverted ({})",
                    r.tx_hash
                )));
            }
            net.deployment.chains.push(ChainDeployment {
                chain_id: *chain_id,
                rpc: rpc.url().into(),
                role: Role::Spoke,
                contracts: Contracts {
                    hub: None,
                    spoke: Some(spoke),
                    collateral_token: token,
                },
            });
        }
        // The relayer: its own key, funded on every chain (it signs its transactions itself).
        let relayer = loop {
            let secret: [u8; 32] = rand::random();
            if let Ok(s) = crate::txsign::TxSender::new(&secret) {
                write_secret(&out.join("relayer.key"), &secret)?;
                net.relayer_key = secret;
                break s.address();
            }
        };
        // The service's key (`serve --xchain`): it funds the gas of the accounts it acts for.
        let service = loop {
            let secret: [u8; 32] = rand::random();
            if let Ok(s) = crate::txsign::TxSender::new(&secret) {
                write_secret(&out.join(SERVICE_KEY_FILE), &secret)?;
                net.service_key = secret;
                break s.address();
            }
        };
        for (chain_id, rpc) in &rpcs {
            let from = *rpc.accounts()?.first().ok_or_else(|| {
                XchainError::Devnet(format!("chain {chain_id} has no unlocked account"))
            })?;
            for (who, to) in [("relayer", relayer), ("service", service)] {
                let h = rpc.call(
                    "eth_sendTransaction",
                    serde_json::json!([{"from": from, "to": to, "value": format!("{RELAYER_FUNDING_WEI:#x}")}]),
                )?;
                let hash = serde_json::from_value(h.clone())
                    .map_err(|e| XchainError::Devnet(format!("funding the {who}: {e}: {h}")))?;
                if !rpc.receipt(hash)?.success {
                    return Err(XchainError::Devnet(format!(
                        "funding the {who} on chain {chain_id} failed"
                    )));
                }
            }
        }
        // ABIs and deployment.json.
        let abi_dir = &net.deployment.abi_dir;
        fs::create_dir_all(abi_dir).map_err(|e| io("abi directory", e))?;
        for (name, abi, bin) in ARTIFACTS {
            fs::write(abi_dir.join(format!("{name}.abi.json")), abi)
                .map_err(|e| io("write ABI", e))?;
            fs::write(abi_dir.join(format!("{name}.bin")), bin)
                .map_err(|e| io("write bytecode", e))?;
        }
        let json = serde_json::to_string_pretty(&net.deployment)
            .map_err(|e| XchainError::Devnet(e.to_string()))?;
        fs::write(out.join("deployment.json"), json + "\n")
            .map_err(|e| io("write deployment.json", e))?;
        Ok(net)
    }

    /// Starts one node on a free port and waits until it answers; a node that exits at start
    /// (another process took the port between our probe and its bind) is retried on a new port.
    fn spawn_node(
        &mut self,
        _o: &DevnetOptions,
        chain_id: u64,
        out: &Path,
    ) -> Result<Rpc, XchainError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port()?;
            let rpc = self.launch(chain_id, port)?;
            match self.wait_ready(chain_id, &rpc, out) {
                Ok(()) => {
                    self.ports.insert(chain_id, port);
                    return Ok(rpc);
                }
                Err(_) if attempt < 3 && self.dead_child().is_some() => {
                    if let Some((_, mut c)) = self.children.pop() {
                        let _ = c.wait();
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Spawns the node of `chain_id` on `port`, with its state kept in `DIR/state/<chain id>.json`
    /// (loaded at start when present, written when the node stops), so a restart resumes the chain.
    fn launch(&mut self, chain_id: u64, port: u16) -> Result<Rpc, XchainError> {
        let out = self.out.clone();
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(out.join(format!("anvil-{chain_id}.log")))
            .map_err(|e| io("log file", e))?;
        let err_log = log.try_clone().map_err(|e| io("log file", e))?;
        let mut cmd = Command::new(&self.anvil);
        // Own process group, so stopping also reaches a wrapper's child (npm's bin.mjs).
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        if let Some(t) = self.block_time {
            cmd.args(["--block-time", &t.to_string()]);
        }
        let state = out.join("state").join(format!("{chain_id}.json"));
        let child = cmd
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--chain-id",
                &chain_id.to_string(),
            ])
            .arg("--state")
            .arg(&state)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log)
            .spawn()
            .map_err(|e| io(&format!("start {}", self.anvil.display()), e))?;
        self.children.push((chain_id, child));
        Rpc::new(&format!("http://127.0.0.1:{port}"))
    }

    /// Serves stop/start requests written to `DIR/control/` (by `xchain scenario`'s node-restart
    /// fault): `<chain id>.stop` stops that node gracefully (its state is written) and answers
    /// `<chain id>.stopped`; `<chain id>.start` restarts it on the same port from that state and
    /// answers `<chain id>.started`. Returns what it did, for logging.
    pub fn serve_control(&mut self) -> Vec<String> {
        let dir = self.out.join(CONTROL_DIR);
        let mut done = Vec::new();
        let ids: Vec<u64> = self.ports.keys().copied().collect();
        for id in ids {
            let stop = dir.join(format!("{id}.stop"));
            if stop.exists() && !self.stopped.contains(&id) {
                self.stop_node(id);
                self.stopped.insert(id);
                let _ = fs::remove_file(&stop);
                let _ = fs::write(dir.join(format!("{id}.stopped")), "");
                done.push(format!("chain {id} stopped on request"));
            }
            let start = dir.join(format!("{id}.start"));
            if start.exists() && self.stopped.contains(&id) {
                let port = self.ports[&id];
                let mut result = Err(XchainError::Devnet("not started".into()));
                for _ in 0..3 {
                    result = self
                        .launch(id, port)
                        .and_then(|rpc| self.wait_ready(id, &rpc, &self.out.clone()));
                    if result.is_ok() {
                        break;
                    }
                    self.stop_node(id);
                    std::thread::sleep(Duration::from_millis(300));
                }
                let _ = fs::remove_file(&start);
                let _ = fs::remove_file(dir.join(format!("{id}.stopped")));
                match result {
                    Ok(()) => {
                        self.stopped.remove(&id);
                        let _ = fs::write(dir.join(format!("{id}.started")), "");
                        done.push(format!("chain {id} restarted from its state"));
                    }
                    Err(e) => {
                        let _ = fs::write(dir.join(format!("{id}.failed")), e.to_string());
                        done.push(format!("chain {id} failed to restart: {e}"));
                    }
                }
            }
        }
        done
    }

    /// Stops one node gracefully (SIGTERM, so anvil writes its state), killing it after 10 s.
    fn stop_node(&mut self, chain_id: u64) {
        let Some(i) = self.children.iter().position(|(id, _)| *id == chain_id) else {
            return;
        };
        let (_, mut c) = self.children.remove(i);
        #[cfg(unix)]
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", c.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if matches!(c.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
    }

    fn wait_ready(&mut self, chain_id: u64, rpc: &Rpc, out: &Path) -> Result<(), XchainError> {
        let start = Instant::now();
        loop {
            if let Ok(id) = rpc.chain_id() {
                if id != chain_id {
                    return Err(XchainError::Devnet(format!(
                        "node at {} reports chain id {id}, expected {chain_id}",
                        rpc.url()
                    )));
                }
                return Ok(());
            }
            if let Some(msg) = self.dead_child() {
                let log = fs::read_to_string(out.join(format!("anvil-{chain_id}.log")))
                    .unwrap_or_default();
                let tail: String = log.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
                return Err(XchainError::Devnet(format!("{msg}; log: {tail}")));
            }
            if start.elapsed() > Duration::from_secs(60) {
                return Err(XchainError::Devnet(format!(
                    "chain {chain_id} not ready at {} after 60 s",
                    rpc.url()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A message naming the first node that has exited, if any.
    pub fn dead_child(&mut self) -> Option<String> {
        for (id, c) in &mut self.children {
            if let Ok(Some(status)) = c.try_wait() {
                return Some(format!("anvil of chain {id} exited ({status})"));
            }
        }
        None
    }

    /// Stops every node (also done on drop): SIGTERM to each node's process group, then kill.
    pub fn stop(&mut self) {
        for (_, c) in &mut self.children {
            #[cfg(unix)]
            let _ = Command::new("kill")
                .args(["-TERM", "--", &format!("-{}", c.id())])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = c.kill();
            let _ = c.wait();
        }
        self.children.clear();
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        self.stop();
    }
}

fn deploy(rpc: &Rpc, from: Address, name: &str, args: Vec<u8>) -> Result<Address, XchainError> {
    let (_, _, bin) = ARTIFACTS
        .iter()
        .find(|(n, _, _)| *n == name)
        .ok_or_else(|| XchainError::Devnet(format!("no artifact {name}")))?;
    let mut code = alloy_primitives::hex::decode(bin.trim())
        .map_err(|e| XchainError::Devnet(format!("{name}.bin: {e}")))?;
    code.extend(args);
    let r = rpc.send(from, None, &code)?;
    match (r.success, r.contract_address) {
        (true, Some(a)) => Ok(a),
        _ => Err(XchainError::Devnet(format!(
            "deploying {name} on {} failed ({})",
            rpc.url(),
            r.tx_hash
        ))),
    }
}

fn write_secret(path: &Path, secret: &[u8; 32]) -> Result<(), XchainError> {
    let text = format!("0x{}\n", alloy_primitives::hex::encode(secret));
    fs::write(path, text).map_err(|e| io("write guardian key", e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .map_err(|e| io("guardian key permissions", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_json_round_trips_and_is_validated() {
        let a = Address::repeat_byte(1);
        let d = Deployment {
            chains: vec![
                ChainDeployment {
                    chain_id: 31337,
                    rpc: "http://127.0.0.1:1".into(),
                    role: Role::Hub,
                    contracts: Contracts {
                        hub: Some(a),
                        spoke: None,
                        collateral_token: a,
                    },
                },
                ChainDeployment {
                    chain_id: 31338,
                    rpc: "http://127.0.0.1:2".into(),
                    role: Role::Spoke,
                    contracts: Contracts {
                        hub: None,
                        spoke: Some(a),
                        collateral_token: a,
                    },
                },
            ],
            guardians: vec![a, Address::repeat_byte(2)],
            threshold: 2,
            abi_dir: "/tmp/abi".into(),
        };
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["chains"][0]["role"], "hub");
        assert!(v["chains"][0]["contracts"].get("spoke").is_none());
        assert_eq!(v["chains"][1]["contracts"]["spoke"], serde_json::json!(a));
        let dir = std::env::temp_dir().join(format!("im-deploy-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("deployment.json");
        fs::write(&p, serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(Deployment::load(&p).unwrap(), d);
        let mut bad = d.clone();
        bad.threshold = 3;
        fs::write(&p, serde_json::to_string(&bad).unwrap()).unwrap();
        assert!(Deployment::load(&p)
            .unwrap_err()
            .to_string()
            .contains("threshold"));
        let mut bad = d;
        bad.chains[1].contracts.spoke = None;
        fs::write(&p, serde_json::to_string(&bad).unwrap()).unwrap();
        assert!(Deployment::load(&p)
            .unwrap_err()
            .to_string()
            .contains("chains[1].contracts"));
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn missing_anvil_is_a_clear_error() {
        let e = find_anvil(Some(Path::new("/nonexistent/anvil"))).unwrap_err();
        assert!(e.to_string().contains("--anvil /nonexistent/anvil"));
    }
}

//! `xchain`: cross-chain margin: hash EIP-712 typed data, run the hub/spoke simulation,
//! compare one hub pool with one pool per spoke, run a local devnet of EVM nodes.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use intermargin_xchain::agents::{load_key, GuardianAgent, Relayed, RelayerAgent};
use intermargin_xchain::devnet::{find_anvil, Deployment, Devnet, DevnetOptions};
use intermargin_xchain::efficiency::{compare, BookFile};
use intermargin_xchain::hash_typed_data_json;
use intermargin_xchain::sim::{run, SimConfig};

use crate::output::{print_json, print_table};

/// Arguments of `intermargin xchain`.
#[derive(Args)]
pub struct XchainArgs {
    #[command(subcommand)]
    command: XchainCommand,
}

#[derive(Subcommand)]
enum XchainCommand {
    /// EIP-712 digest of an eth_signTypedData_v4 JSON document (what a wallet signs).
    HashTypedData(HashArgs),
    /// Deterministic multi-chain simulation of the hub and its spokes under faults.
    Simulate(SimulateArgs),
    /// Collateral for a book with one hub pool versus one pool per spoke.
    Efficiency(EfficiencyArgs),
    /// Local devnet: one hub and spoke chains as anvil nodes with the contracts deployed; writes
    /// DIR/deployment.json and runs until SIGTERM (or Ctrl-C), then stops every node it started.
    Devnet(DevnetArgs),
    /// A guardian process: signs credits and releases once final, while the hub's invariant holds.
    Guardian(GuardianArgs),
    /// The relayer process: submits attestations that reached the guardian quorum.
    Relayer(RelayerArgs),
    /// Seeded deposits, credits, trades, price moves and withdrawals against a running devnet
    /// (started with --no-agents: the scenario runs the guardians and relayer to inject faults),
    /// with reorgs, a node restart, relay faults, a forged signature, a replay, a guardian offline
    /// and a compromised guardian; checks the invariant from on-chain state after every step.
    Scenario(ScenarioArgs),
}

/// Arguments of `xchain scenario`.
#[derive(Args)]
struct ScenarioArgs {
    /// deployment.json written by `xchain devnet`.
    #[arg(long)]
    deployment: PathBuf,
    /// Scenario TOML (examples/xchain/devnet.toml).
    #[arg(long)]
    config: PathBuf,
    /// Seed of the off-chain plan.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print only the off-chain plan (no node is contacted).
    #[arg(long)]
    plan_only: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn run_scenario_cmd(a: ScenarioArgs) -> Result<()> {
    use intermargin_xchain::scenario::{plan, plan_digest, run_scenario, ScenarioConfig};
    let text = std::fs::read_to_string(&a.config)
        .with_context(|| format!("reading --config {}", a.config.display()))?;
    let cfg = ScenarioConfig::parse_toml(&text)
        .with_context(|| format!("--config {}", a.config.display()))?;
    if a.plan_only {
        let d = Deployment::load(&a.deployment)?;
        cfg.validate(d.chains.len(), d.guardians.len(), d.threshold)
            .with_context(|| format!("--config {}", a.config.display()))?;
        let p = plan(&cfg, a.seed, d.chains.len());
        print_json(
            &serde_json::json!({"seed": a.seed, "plan_digest": plan_digest(&p), "plan": p}),
        )?;
        return Ok(());
    }
    let report = run_scenario(&a.deployment, &cfg, a.seed)
        .with_context(|| format!("--config {}", a.config.display()))?;
    if a.json {
        print_json(&report)?;
    } else {
        println!(
            "steps {}  violations {}  accepted credits {}",
            report.steps,
            report.violations,
            report.accepted_credits.len()
        );
        let rows: Vec<Vec<String>> = report
            .rejected
            .iter()
            .map(|(k, v)| vec!["rejected".into(), k.clone(), v.to_string()])
            .chain(
                report
                    .recovered
                    .iter()
                    .map(|(k, v)| vec!["recovered".into(), k.clone(), v.to_string()]),
            )
            .chain(
                report
                    .alarms
                    .iter()
                    .map(|(k, v)| vec!["alarm".into(), k.clone(), v.to_string()]),
            )
            .collect();
        print_table(&["what", "reason", "count"], &rows);
        let gas: Vec<Vec<String>> = report
            .gas
            .iter()
            .map(|(k, g)| {
                vec![
                    k.clone(),
                    g.count.to_string(),
                    g.mean.to_string(),
                    g.max.to_string(),
                ]
            })
            .collect();
        print_table(&["operation", "count", "mean gas", "max gas"], &gas);
        for v in &report.violation_details {
            println!("VIOLATION: {v}");
        }
    }
    if report.violations > 0 {
        bail!("{} invariant violation(s)", report.violations);
    }
    Ok(())
}

/// Arguments of `xchain guardian`.
#[derive(Args)]
struct GuardianArgs {
    /// deployment.json written by `xchain devnet`.
    #[arg(long)]
    deployment: PathBuf,
    /// File holding the guardian's secret key (0x-hex, 32 bytes).
    #[arg(long)]
    key: PathBuf,
    /// Signatures directory shared with the other guardians and the relayer.
    #[arg(long)]
    signatures: PathBuf,
    /// Blocks an event must be buried under before it is signed.
    #[arg(long, default_value_t = 2)]
    finality: u64,
    /// JSON object of prices (quote per whole underlying, e.g. {"BTC": 60000}) the unified
    /// model values reported positions at; re-read every scan. Without it an account with open
    /// positions gets no credit.
    #[arg(long)]
    prices: Option<PathBuf>,
    /// Milliseconds between scans.
    #[arg(long, default_value_t = 500)]
    poll_ms: u64,
}

/// Arguments of `xchain relayer`.
#[derive(Args)]
struct RelayerArgs {
    /// deployment.json written by `xchain devnet`.
    #[arg(long)]
    deployment: PathBuf,
    /// Signatures directory the guardians write.
    #[arg(long)]
    signatures: PathBuf,
    /// File holding the relayer's secret key (0x-hex, 32 bytes); it signs its own transactions
    /// (default: send from the node's last unlocked account).
    #[arg(long)]
    key: Option<PathBuf>,
    /// Blocks a delivery must be buried under before it counts as final (a delivery reorged
    /// out before that is sent again).
    #[arg(long, default_value_t = 2)]
    finality: u64,
    /// Milliseconds between scans.
    #[arg(long, default_value_t = 500)]
    poll_ms: u64,
}

/// Arguments of `xchain devnet`.
#[derive(Args)]
struct DevnetArgs {
    /// Number of chains: one hub and the rest spokes (at least 2).
    #[arg(long, default_value_t = 3)]
    chains: usize,
    /// Number of guardians (fresh keys written to DIR/guardians/).
    #[arg(long, default_value_t = 3)]
    guardians: usize,
    /// Distinct guardian signatures a credit or permit needs.
    #[arg(long, default_value_t = 2)]
    threshold: usize,
    /// Output directory (deployment.json, abi/, guardians/, node logs).
    #[arg(long)]
    out: PathBuf,
    /// The anvil binary (default: $INTERMARGIN_ANVIL, then PATH).
    #[arg(long)]
    anvil: Option<PathBuf>,
    /// Chain id of the hub; spokes take the following ids.
    #[arg(long, default_value_t = 31_337)]
    first_chain_id: u64,
    /// Seconds between blocks on every node (guardians wait for `--finality` blocks).
    #[arg(long, default_value_t = 1)]
    block_time: u64,
    /// Finality depth the guardians wait for.
    #[arg(long, default_value_t = 2)]
    finality: u64,
    /// Start only the nodes and contracts, no guardian or relayer processes.
    #[arg(long)]
    no_agents: bool,
}

fn install_stop_handler() {
    // SAFETY: the handler only stores to an atomic (async-signal-safe).
    unsafe {
        libc::signal(
            libc::SIGTERM,
            on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGINT,
            on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
}

fn run_guardian(a: GuardianArgs) -> Result<()> {
    install_stop_handler();
    let d = Deployment::load(&a.deployment)?;
    let key = load_key(&a.key)?;
    let me = key.address();
    let mut g = GuardianAgent::new(key, d, a.signatures, a.finality)?;
    eprintln!("guardian {me}: running");
    while !STOP.load(Ordering::SeqCst) {
        if let Some(p) = &a.prices {
            let read = std::fs::read_to_string(p)
                .map_err(|e| e.to_string())
                .and_then(|t| {
                    serde_json::from_str::<std::collections::BTreeMap<String, f64>>(&t)
                        .map_err(|e| e.to_string())
                });
            match read {
                Ok(prices) => g.set_prices(prices),
                Err(e) => eprintln!("guardian {me}: --prices {}: {e}", p.display()),
            }
        }
        let alarmed = g.alarm().is_some();
        let r = g.step();
        if let (false, Some(a)) = (alarmed, g.alarm()) {
            eprintln!("guardian {me}: ALARM {a}; signing nothing until alarm-{me}.txt is removed from the signatures directory and the guardian restarted");
        }
        match r {
            Ok(n) if n > 0 => eprintln!("guardian {me}: signed {n}"),
            Ok(_) => {}
            Err(e) => eprintln!("guardian {me}: {e} (retrying)"),
        }
        std::thread::sleep(Duration::from_millis(a.poll_ms));
    }
    Ok(())
}

fn run_relayer(a: RelayerArgs) -> Result<()> {
    install_stop_handler();
    let d = Deployment::load(&a.deployment)?;
    let mut r = RelayerAgent::new(d, a.signatures).with_finality(a.finality);
    if let Some(k) = &a.key {
        let secret = intermargin_xchain::agents::load_secret(k)?;
        r = r.with_key(secret)?;
    }
    eprintln!("relayer: running");
    while !STOP.load(Ordering::SeqCst) {
        match r.step() {
            Ok(done) => {
                for x in done {
                    match x {
                        Relayed::Delivered { name, tx_hash } => {
                            eprintln!("relayer: {name} delivered in {tx_hash}")
                        }
                        Relayed::AlreadyDelivered(name) => {
                            eprintln!("relayer: {name} already delivered")
                        }
                        Relayed::Final { name, tx_hash } => {
                            eprintln!("relayer: {name} final in {tx_hash}")
                        }
                        Relayed::Resubmitted { name, dropped } => {
                            eprintln!("relayer: {name}: {dropped} was reorged out; sent again")
                        }
                        Relayed::Failed { name, reason } => {
                            eprintln!("relayer: {name} failed: {reason} (retrying)")
                        }
                    }
                }
            }
            Err(e) => eprintln!("relayer: {e} (retrying)"),
        }
        std::thread::sleep(Duration::from_millis(a.poll_ms));
    }
    Ok(())
}

/// Starts a child `intermargin xchain …` process logging to `log`.
fn spawn_agent(args: &[String], log: &std::path::Path) -> Result<std::process::Child> {
    let exe = std::env::current_exe().context("locating the intermargin binary")?;
    let out = std::fs::File::create(log).with_context(|| log.display().to_string())?;
    let err = out.try_clone()?;
    std::process::Command::new(exe)
        .arg("xchain")
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .context("starting an agent process")
}

fn stop_agents(agents: &mut Vec<(String, std::process::Child)>) {
    for (_, c) in agents.iter_mut() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
    }
    for (_, c) in agents.iter_mut() {
        for _ in 0..50 {
            if matches!(c.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = c.kill();
        let _ = c.wait();
    }
    agents.clear();
}

/// Set by SIGTERM / SIGINT while a devnet runs.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn run_devnet(a: DevnetArgs) -> Result<()> {
    let anvil = find_anvil(a.anvil.as_deref())?;
    let opts = DevnetOptions {
        chains: a.chains,
        guardians: a.guardians,
        threshold: a.threshold,
        out: a.out.clone(),
        anvil,
        first_chain_id: a.first_chain_id,
        block_time: (a.block_time > 0).then_some(a.block_time),
    };
    // Installed before the nodes start, so a SIGTERM during deployment still stops them
    // through `Devnet`'s drop.
    install_stop_handler();
    let mut net = Devnet::start(&opts)?;
    let mut agents: Vec<(String, std::process::Child)> = Vec::new();
    if !a.no_agents {
        let deployment = a.out.join("deployment.json").display().to_string();
        let sigs = a.out.join("signatures").display().to_string();
        for i in 0..a.guardians {
            let key = a
                .out
                .join(format!("guardians/guardian-{i}.key"))
                .display()
                .to_string();
            let args: Vec<String> = [
                "guardian",
                "--deployment",
                &deployment,
                "--key",
                &key,
                "--signatures",
                &sigs,
                "--finality",
                &a.finality.to_string(),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            match spawn_agent(&args, &a.out.join(format!("guardian-{i}.log"))) {
                Ok(c) => agents.push((format!("guardian {i}"), c)),
                Err(e) => {
                    stop_agents(&mut agents);
                    return Err(e);
                }
            }
        }
        let relayer_key = a.out.join("relayer.key").display().to_string();
        let args: Vec<String> = [
            "relayer",
            "--deployment",
            &deployment,
            "--signatures",
            &sigs,
            "--key",
            &relayer_key,
            "--finality",
            &a.finality.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        match spawn_agent(&args, &a.out.join("relayer.log")) {
            Ok(c) => agents.push(("relayer".into(), c)),
            Err(e) => {
                stop_agents(&mut agents);
                return Err(e);
            }
        }
    }
    let rows: Vec<Vec<String>> = net
        .deployment
        .chains
        .iter()
        .map(|c| {
            let contract = c.contracts.hub.or(c.contracts.spoke).unwrap_or_default();
            vec![
                c.chain_id.to_string(),
                format!("{:?}", c.role).to_lowercase(),
                c.rpc.clone(),
                format!("{contract}"),
            ]
        })
        .collect();
    print_table(&["chain_id", "role", "rpc", "contract"], &rows);
    println!(
        "deployment: {} (guardians {} of {}, {}); running until SIGTERM",
        a.out.join("deployment.json").display(),
        net.deployment.threshold,
        net.deployment.guardians.len(),
        if a.no_agents {
            "no agents"
        } else {
            "guardian and relayer processes started"
        }
    );
    while !STOP.load(Ordering::SeqCst) {
        for msg in net.serve_control() {
            eprintln!("devnet: {msg}");
        }
        let dead_agent = agents
            .iter_mut()
            .find_map(|(n, c)| matches!(c.try_wait(), Ok(Some(_))).then(|| n.clone()));
        if let Some(msg) = net
            .dead_child()
            .or(dead_agent.map(|n| format!("{n} exited")))
        {
            stop_agents(&mut agents);
            net.stop();
            bail!("{msg}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    stop_agents(&mut agents);
    net.stop();
    Ok(())
}

/// Arguments of `xchain hash-typed-data`.
#[derive(Args)]
struct HashArgs {
    /// Typed-data JSON file (types, primaryType, domain, message).
    #[arg(long)]
    file: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `xchain simulate`.
#[derive(Args)]
struct SimulateArgs {
    /// Simulation config (.toml or .json), e.g. examples/xchain/faulty_three_spokes.toml.
    #[arg(long)]
    config: PathBuf,
    /// Seed of the run (same config and seed, same result).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `xchain efficiency`.
#[derive(Args)]
struct EfficiencyArgs {
    /// Book file (JSON): model, prices, positions per spoke chain id.
    #[arg(long)]
    book: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `intermargin xchain …`.
pub fn run_xchain(a: XchainArgs) -> Result<()> {
    match a.command {
        XchainCommand::HashTypedData(h) => {
            let text = crate::output::read_file(&h.file)?;
            let digest =
                hash_typed_data_json(&text).with_context(|| h.file.display().to_string())?;
            if h.json {
                print_json(&serde_json::json!({ "digest": format!("{digest:#x}") }))
            } else {
                println!("{digest:#x}");
                Ok(())
            }
        }
        XchainCommand::Simulate(s) => {
            let text = crate::output::read_file(&s.config)?;
            let format = match s.config.extension().and_then(|e| e.to_str()) {
                Some("json") => "json",
                _ => "toml",
            };
            let cfg =
                SimConfig::parse(&text, format).with_context(|| s.config.display().to_string())?;
            let r = run(&cfg, s.seed)?;
            if s.json {
                print_json(&r)?;
            } else {
                let rows = vec![
                    vec!["messages".into(), r.messages.to_string()],
                    vec!["credits accepted".into(), r.credits.to_string()],
                    vec!["rejected replay".into(), r.rejected.replay.to_string()],
                    vec!["rejected expired".into(), r.rejected.expired.to_string()],
                    vec![
                        "rejected bad_signature".into(),
                        r.rejected.bad_signature.to_string(),
                    ],
                    vec![
                        "rejected wrong_domain".into(),
                        r.rejected.wrong_domain.to_string(),
                    ],
                    vec![
                        "rejected no_quorum".into(),
                        r.rejected.no_quorum.to_string(),
                    ],
                    vec![
                        "rejected rate_limited".into(),
                        r.rejected.rate_limited.to_string(),
                    ],
                    vec!["invariant checks".into(), r.invariant_checks.to_string()],
                    vec![
                        "invariant violations".into(),
                        r.invariant_violations.to_string(),
                    ],
                    vec!["liveness".into(), r.liveness_ok.to_string()],
                    vec![
                        "collateral hub (base units)".into(),
                        r.collateral_hub.to_string(),
                    ],
                    vec![
                        "collateral siloed (base units)".into(),
                        r.collateral_siloed.to_string(),
                    ],
                ];
                print_table(&["quantity", "value"], &rows);
            }
            if r.invariant_violations > 0 || r.replays_accepted > 0 || !r.liveness_ok {
                bail!(
                    "safety or liveness failed: {} invariant violations, {} replays accepted, liveness {}",
                    r.invariant_violations,
                    r.replays_accepted,
                    r.liveness_ok
                );
            }
            Ok(())
        }
        XchainCommand::Devnet(d) => run_devnet(d),
        XchainCommand::Guardian(g) => run_guardian(g),
        XchainCommand::Relayer(r) => run_relayer(r),
        XchainCommand::Scenario(s) => run_scenario_cmd(s),
        XchainCommand::Efficiency(e) => {
            let text = crate::output::read_file(&e.book)?;
            let file: BookFile = serde_json::from_str(&text)
                .with_context(|| format!("{}: book file", e.book.display()))?;
            file.model.validate()?;
            let book = file.book()?;
            let r = compare(&file.model, &book, &file.prices)?;
            if e.json {
                print_json(&r)
            } else {
                let mut rows: Vec<Vec<String>> = r
                    .per_spoke
                    .iter()
                    .map(|(id, v)| vec![format!("spoke {id} (siloed)"), v.to_string()])
                    .collect();
                rows.push(vec![
                    "one pool per spoke".into(),
                    r.collateral_siloed.to_string(),
                ]);
                rows.push(vec!["one hub pool".into(), r.collateral_hub.to_string()]);
                rows.push(vec!["saving".into(), format!("{:.1}%", r.saving * 100.0)]);
                print_table(&["pool", "collateral (base units)"], &rows);
                Ok(())
            }
        }
    }
}

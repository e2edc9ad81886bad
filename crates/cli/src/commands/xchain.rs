//! `xchain`: cross-chain margin: hash EIP-712 typed data, run the hub/spoke simulation,
//! compare one hub pool with one pool per spoke.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
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

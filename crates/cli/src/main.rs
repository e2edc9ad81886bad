//! `intermargin`: every capability of the workspace as a sub-command, with JSON or table output.
//!
//! This is the binary edge: errors become one line on stderr and a non-zero exit, never a panic.

mod commands;
mod output;

use clap::{Parser, Subcommand};

/// Interoperable margin across venues: price, import, margin, allocate, liquidate, simulate, prove.
#[derive(Parser)]
#[command(name = "intermargin", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Account state and partial-liquidation plan for every account of a snapshot.
    Liquidate(commands::liquidate::LiquidateArgs),
    /// Monte Carlo cascade / contagion simulation: writes summary.json and plots.
    Simulate(commands::simulate::SimulateArgs),
    /// Solvency–efficiency frontier (siloed vs unified margin): writes summary.json and plots.
    Frontier(commands::simulate::FrontierArgs),
    /// Black-76 premium and Greeks of one option (linear or coin-settled).
    Price(commands::pricing::PriceArgs),
    /// Implied volatility from an option premium.
    Iv(commands::pricing::IvArgs),
    /// Print the JSON Schema of the canonical snapshot format.
    Schema,
    /// Load the bundled sample book and print its valuation (the README's demo).
    Demo(commands::demo::DemoArgs),
    /// Where collateral should sit across venues, and the ordered transfers to put it there.
    Allocate(commands::allocate::AllocateArgs),
    /// Read venue API responses (saved JSON) into one canonical snapshot.
    Import(commands::venues::ImportArgs),
    /// Merge canonical snapshots (several venues or accounts) into one.
    Merge(commands::venues::MergeArgs),
    /// Export a public margin rule (fixed-point scenario matrix) from a snapshot.
    Rule(commands::proofs::RuleArgs),
    /// Zero-knowledge keys (TEST-ONLY setup) and commitments for margin proofs.
    Zk(commands::proofs::ZkArgs),
    /// Prove, without revealing positions, that a private book meets a margin rule.
    Prove(commands::proofs::ProveArgs),
    /// Verify a margin proof against a rule (exit 0 only when valid).
    Verify(commands::proofs::VerifyArgs),
    /// Merkle-sum proof of solvency: build the tree and per-user proofs, verify one.
    Solvency(commands::proofs::SolvencyArgs),
    /// Cross-chain margin: EIP-712 hashing, hub/spoke simulation, capital efficiency.
    Xchain(commands::xchain::XchainArgs),
    /// Run the service: durable ledger, HTTP/WebSocket API, live monitor and dashboard.
    Serve(commands::serve::ServeArgs),
    /// A margin worker on NATS JetStream: owns account partitions, re-margins on price ticks.
    Worker(commands::worker::WorkerArgs),
    /// Publish price ticks (a seeded random walk of a snapshot's prices) to NATS JetStream.
    Ticks(commands::worker::TicksArgs),
    /// Each venue's own margin of a snapshot (equity, initial, maintenance, liquidation prices).
    Margin(commands::margin::MarginArgs),
    /// The venues' own reported figures beside intermargin's, with differences explained.
    Reconcile(commands::reconcile::ReconcileArgs),
    /// Venue parameter files: diff two versions (and the margin they give), audit sources and dates.
    Params(commands::params::ParamsArgs),
    /// Each venue's margin, the unified requirement and who liquidates first, before and after trades.
    Whatif(commands::whatif::WhatIfArgs),
}

/// A reader that stops reading (`| head -1`) closes the pipe: the conventional Unix answer is to
/// end quietly, as `cat` does. Rust ignores SIGPIPE, so every `println!` would instead panic
/// with "failed printing to stdout: Broken pipe" (exit 101); restoring the default disposition
/// ends the process silently at the first write into the closed pipe.
#[cfg(unix)]
fn exit_quietly_on_closed_pipe() {
    // SAFETY: called first thing in `main`, before any thread exists; `signal` with `SIG_DFL`
    // only resets the disposition of SIGPIPE and touches no Rust-managed state.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn exit_quietly_on_closed_pipe() {}

fn main() {
    // `serve` keeps SIGPIPE ignored: a client hanging up must not end the service.
    if std::env::args().nth(1).as_deref() != Some("serve") {
        exit_quietly_on_closed_pipe();
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            // clap prints help/version to stdout with exit 0; usage errors (exit 2) are folded
            // to one line that names the argument, like every other error of this binary.
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                e.exit();
            }
            let text = e.render().to_string();
            let head = text.split("\n\n").next().unwrap_or_default();
            eprintln!(
                "{}",
                head.lines().map(str::trim).collect::<Vec<_>>().join(" ")
            );
            std::process::exit(e.exit_code());
        }
    };
    let result = match cli.command {
        Command::Liquidate(a) => commands::liquidate::run(a),
        Command::Simulate(a) => commands::simulate::simulate(a),
        Command::Frontier(a) => commands::simulate::frontier(a),
        Command::Price(a) => commands::pricing::price(a),
        Command::Iv(a) => commands::pricing::iv(a),
        Command::Schema => {
            println!("{}", intermargin_model::schema_json());
            Ok(())
        }
        Command::Demo(a) => commands::demo::run(a),
        Command::Allocate(a) => commands::allocate::run(a),
        Command::Import(a) => commands::venues::run_import(a),
        Command::Merge(a) => commands::venues::run_merge(a),
        Command::Rule(a) => commands::proofs::rule(a),
        Command::Zk(a) => commands::proofs::zk(a),
        Command::Prove(a) => commands::proofs::prove(a),
        Command::Verify(a) => commands::proofs::verify(a),
        Command::Solvency(a) => commands::proofs::solvency(a),
        Command::Xchain(a) => commands::xchain::run_xchain(a),
        Command::Serve(a) => commands::serve::run(a),
        Command::Worker(a) => commands::worker::run_worker(a),
        Command::Ticks(a) => commands::worker::run_ticks(a),
        Command::Margin(a) => commands::margin::run(a),
        Command::Reconcile(a) => commands::reconcile::run(a),
        Command::Params(a) => commands::params::run(a),
        Command::Whatif(a) => commands::whatif::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

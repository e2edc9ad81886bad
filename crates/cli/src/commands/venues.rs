//! `import` (venue payloads → canonical snapshot) and `merge` (several snapshots → one).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use intermargin_model::{InstrumentKind, Snapshot, Venue};
use intermargin_venues::{import, ImportOptions, Payload};

use crate::output::{print_json, print_table, read_file};

/// Arguments of `intermargin import`.
#[derive(Args)]
pub struct ImportArgs {
    /// Venue whose API responses the files hold: deribit, binance, okx, bybit, dydx, hyperliquid, aave.
    #[arg(long)]
    pub venue: Venue,
    /// A saved API response (repeat for positions, balances, instruments, tickers … of one venue).
    #[arg(long = "file", required = true)]
    pub files: Vec<PathBuf>,
    /// Canonical account id to file positions and balances under.
    #[arg(long, default_value = "default")]
    pub account: String,
    /// Print the canonical snapshot as JSON instead of a summary table.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `intermargin merge`.
#[derive(Args)]
pub struct MergeArgs {
    /// Canonical snapshots to merge (at least one).
    #[arg(required = true)]
    pub snapshots: Vec<PathBuf>,
    /// Print the merged snapshot as JSON instead of a summary table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `intermargin import`.
pub fn run_import(a: ImportArgs) -> Result<()> {
    if !intermargin_venues::SUPPORTED.contains(&a.venue) {
        bail!("--venue: no adapter for {}", a.venue);
    }
    let payloads = a
        .files
        .iter()
        .map(|p| Ok(Payload::named(p.display().to_string(), read_file(p)?)))
        .collect::<Result<Vec<_>>>()?;
    let snap = import(
        a.venue,
        &payloads,
        &ImportOptions {
            account: a.account.clone(),
        },
    )?;
    emit(&snap, a.json)
}

/// Runs `intermargin merge`.
pub fn run_merge(a: MergeArgs) -> Result<()> {
    let mut merged: Option<Snapshot> = None;
    for p in &a.snapshots {
        let snap =
            Snapshot::from_json(&read_file(p)?).with_context(|| format!("{}", p.display()))?;
        if let Some(m) = merged.as_mut() {
            m.merge(&snap)
                .with_context(|| format!("merging {}", p.display()))?;
        } else {
            merged = Some(snap);
        }
    }
    let merged = merged.context("no snapshot given")?;
    merged.validate().context("merged snapshot")?;
    emit(&merged, a.json)
}

fn emit(snap: &Snapshot, json: bool) -> Result<()> {
    if json {
        return print_json(snap);
    }
    let decimals = |sym: &str| {
        snap.portfolio
            .asset(sym)
            .map(|a| a.decimals)
            .unwrap_or_default()
    };
    let mut rows = Vec::new();
    for acc in &snap.portfolio.accounts {
        for c in &acc.collateral {
            rows.push(vec![
                acc.id.clone(),
                c.venue.to_string(),
                "balance".to_string(),
                c.asset.clone(),
                crate::output::base_units(c.amount, decimals(&c.asset), &c.asset),
                String::new(),
                c.sub_account.clone().unwrap_or_default(),
            ]);
        }
        for p in &acc.positions {
            let id = p.instrument.id();
            let mark = snap
                .market
                .mark_prices
                .get(&id)
                .map(|m| m.to_string())
                .unwrap_or_else(|| "-".to_string());
            rows.push(vec![
                acc.id.clone(),
                p.instrument.venue.to_string(),
                kind_name(&p.instrument.kind).to_string(),
                p.instrument.symbol.clone(),
                p.size.to_string(),
                mark,
                p.sub_account.clone().unwrap_or_default(),
            ]);
        }
    }
    print_table(
        &[
            "account",
            "venue",
            "kind",
            "asset/instrument",
            "amount/size",
            "mark",
            "sub-account",
        ],
        &rows,
    );
    println!(
        "market: {} mark prices, {} index prices, {} mark IVs, {} Greeks, {} venue parameter sets; time {} ms",
        snap.market.mark_prices.len(),
        snap.market.index_prices.len(),
        snap.market.mark_ivs.len(),
        snap.market.greeks.len(),
        snap.market.venue_params.len(),
        snap.market.timestamp_ms
    );
    Ok(())
}

fn kind_name(k: &InstrumentKind) -> &'static str {
    match k {
        InstrumentKind::Spot => "spot",
        InstrumentKind::Future { .. } => "future",
        InstrumentKind::Perpetual => "perpetual",
        InstrumentKind::Option { .. } => "option",
    }
}

//! `allocate`: where an account's collateral should sit, and the transfers to put it there.
//!
//! Requirements come from the margin crate: each venue's own requirement
//! (`intermargin_margin::venue_margins`) and the unified requirement
//! (`intermargin_margin::portfolio::UnifiedModel`), both in the snapshot's quote currency.
//! `--requirements REQ.json` replaces them with given figures.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use intermargin_allocate::RoutesFile;
use intermargin_documents::{self as documents, AllocationAnswer, Requirements};
use intermargin_margin::portfolio::RequirementKind;
use intermargin_model::{Account, Amount, Asset, Snapshot};
use serde::Deserialize;

use crate::output::{base_units, money, percent, print_json, print_table, read_file};

/// Which requirement to cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Initial margin (room to keep trading).
    Initial,
    /// Maintenance margin (the liquidation line).
    Maintenance,
}

impl From<Kind> for RequirementKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Initial => RequirementKind::Initial,
            Kind::Maintenance => RequirementKind::Maintenance,
        }
    }
}

/// What each venue must hold locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VenueBasis {
    /// `local` when the routes file names a `unified_location` (the hub holds the unified
    /// requirement), else `siloed`.
    Auto,
    /// Each venue's own requirement, as if it stood alone.
    Siloed,
    /// Only the local floor the unified model requires at each venue (the hub holds the pooled requirement).
    Local,
}

/// Arguments of `intermargin allocate`.
#[derive(Args)]
pub struct AllocateArgs {
    /// Canonical snapshot (positions, collateral, market).
    #[arg(long)]
    pub snapshot: PathBuf,
    /// Routes, haircuts and options (format: crates/allocate/README.md).
    #[arg(long)]
    pub routes: PathBuf,
    /// Account id (required when the snapshot has several accounts).
    #[arg(long)]
    pub account: Option<String>,
    /// Requirement figures to use instead of the margin models:
    /// `{"venues": {"deribit": 12000.0}, "unified": 20000.0}` (quote currency).
    #[arg(long)]
    pub requirements: Option<PathBuf>,
    /// Initial or maintenance requirement.
    #[arg(long, value_enum, default_value_t = Kind::Initial)]
    pub requirement: Kind,
    /// What each venue must hold locally.
    #[arg(long, value_enum, default_value_t = VenueBasis::Auto)]
    pub venue_basis: VenueBasis,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `--requirements` file: per-venue figures and the unified figure, quote currency.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequirementsFile {
    #[serde(default)]
    venues: BTreeMap<String, f64>,
    #[serde(default)]
    unified: Option<f64>,
}

fn pick_account<'a>(snap: &'a Snapshot, id: Option<&str>) -> Result<&'a Account> {
    let accounts = &snap.portfolio.accounts;
    match id {
        Some(id) => accounts
            .iter()
            .find(|a| a.id == id)
            .with_context(|| format!("--account: no account {id:?} in the snapshot")),
        None => match accounts.as_slice() {
            [one] => Ok(one),
            [] => bail!("snapshot: portfolio.accounts is empty"),
            many => bail!(
                "--account: the snapshot has {} accounts ({}), name one",
                many.len(),
                many.iter()
                    .map(|a| a.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    }
}

/// Runs `intermargin allocate`.
pub fn run(a: AllocateArgs) -> Result<()> {
    let snap = Snapshot::from_json(&read_file(&a.snapshot)?)
        .with_context(|| format!("{}", a.snapshot.display()))?;
    let routes = RoutesFile::from_json(&read_file(&a.routes)?)
        .with_context(|| format!("{}", a.routes.display()))?;
    let account = pick_account(&snap, a.account.as_deref())?;

    let requirements = match &a.requirements {
        Some(path) => {
            let text = read_file(path)?;
            let f: RequirementsFile = serde_json::from_str(&text)
                .with_context(|| format!("{}: requirements file", path.display()))?;
            Requirements::Given {
                venues: f.venues.into_iter().collect(),
                unified: f.unified,
                from: format!("file {}", path.display()),
            }
        }
        None => Requirements::Modelled {
            kind: a.requirement.into(),
            basis: match a.venue_basis {
                VenueBasis::Auto => documents::VenueBasis::Auto,
                VenueBasis::Siloed => documents::VenueBasis::Siloed,
                VenueBasis::Local => documents::VenueBasis::Local,
            },
        },
    };
    // The answer and its JSON are the library's (`intermargin_documents::allocation`), which the
    // Python package returns as well.
    let out =
        documents::allocation(&snap, &routes, account, requirements).map_err(|e| match e {
            documents::DocumentError::Input { field, reason } if field == "routes" => {
                anyhow::anyhow!("{}: {reason}", a.routes.display())
            }
            documents::DocumentError::Input { field, reason } => match &a.requirements {
                Some(p) => anyhow::anyhow!("{}: {field}: {reason}", p.display()),
                None => anyhow::anyhow!("{field}: {reason}"),
            },
            e => e.into(),
        })?;
    let assets = &snap.portfolio.assets;
    if a.json {
        return print_json(&out.document(assets)?);
    }
    print_text(&out, assets);
    Ok(())
}

/// Decimals of `symbol` in the snapshot's asset table (none: the amount stays in base units).
fn decimals_of(assets: &[Asset], symbol: &str) -> Option<u32> {
    assets
        .iter()
        .find(|x| x.symbol == symbol)
        .map(|x| x.decimals)
}

fn print_text(out: &AllocationAnswer, assets: &[Asset]) {
    let al = &out.allocation;
    let q = out.quote.as_str();
    println!(
        "account {} — requirements from {} — figures in {q}",
        out.account, out.requirements_from
    );
    println!();
    let ratio = |r: Option<f64>| r.map_or("-".to_string(), percent);
    let rows: Vec<Vec<String>> = al
        .headroom
        .iter()
        .map(|h| {
            vec![
                h.location.clone(),
                money(h.requirement, q),
                money(h.value_before, q),
                ratio(h.ratio_before),
                money(h.value_after, q),
                ratio(h.ratio_after),
            ]
        })
        .collect();
    print_table(
        &[
            "location",
            "requirement",
            "collateral now",
            "coverage now",
            "collateral after",
            "coverage after",
        ],
        &rows,
    );
    println!(
        "collateral after haircuts; coverage = collateral / requirement (100 % = just covered)"
    );
    println!();
    if al.transfers.is_empty() {
        println!("no transfer needed");
    } else {
        let amount = |a: Amount, asset: &str| match decimals_of(assets, asset) {
            Some(d) => base_units(a, d, asset),
            None => format!("{} {asset} base units", a.0),
        };
        let rows: Vec<Vec<String>> = al
            .transfers
            .iter()
            .map(|t| {
                vec![
                    t.step.to_string(),
                    t.from.clone(),
                    t.to.clone(),
                    amount(t.amount, &t.asset),
                    amount(t.fee, &t.asset),
                    amount(t.received, &t.asset),
                    format!("{} s", t.latency_s),
                    format!("{:.1} min", t.arrives_after_ms as f64 / 60_000.0),
                ]
            })
            .collect();
        print_table(
            &[
                "step",
                "from",
                "to",
                "amount",
                "fee",
                "received",
                "latency",
                "usable after",
            ],
            &rows,
        );
        println!("fees: {}", money(al.fees_quote, q));
    }
    if let Some(t) = al.time_to_cure_s {
        println!("time to cure: {t} s");
    }
    for s in &al.shortfall {
        println!("shortfall at {}: {}", s.location, money(s.amount, q));
    }
}

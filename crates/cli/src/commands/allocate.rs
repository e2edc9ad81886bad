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
use intermargin_allocate::{allocate, RoutesFile};
use intermargin_margin::portfolio::{RequirementKind, UnifiedModel, UnifiedParams};
use intermargin_model::{Account, Amount, Asset, Snapshot};
use serde::{Deserialize, Serialize};

use crate::output::{
    base_units, base_units_decimal, money, percent, print_json, print_table, read_file,
};

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

#[derive(Serialize)]
struct Output<'a> {
    account: &'a str,
    quote: &'a str,
    requirements_from: String,
    #[serde(flatten)]
    allocation: intermargin_allocate::Allocation,
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

/// Per-venue requirements and the pooled one, from the margin models; the close-out horizon is the
/// slowest venue's fastest route from the routes file plus the model's close-out time.
fn modelled_requirements(
    snap: &Snapshot,
    account: &Account,
    routes: &RoutesFile,
    kind: Kind,
    local: bool,
) -> Result<(Vec<(String, f64)>, f64)> {
    let assets = &snap.portfolio.assets;
    let market = &snap.market;
    let params = UnifiedParams::bundled().context("unified model parameters")?;
    let close_out = params.horizon.close_out_s;
    let mut model = UnifiedModel::new(params);
    if let Some(cure) = routes.cure_horizon_s() {
        model = model.with_horizon_s(cure + close_out);
    }
    let unified = model
        .margin(account, assets, market)
        .context("unified margin")?;
    Ok(unified.location_requirements(kind.into(), local))
}

/// Runs `intermargin allocate`.
pub fn run(a: AllocateArgs) -> Result<()> {
    let snap = Snapshot::from_json(&read_file(&a.snapshot)?)
        .with_context(|| format!("{}", a.snapshot.display()))?;
    let routes = RoutesFile::from_json(&read_file(&a.routes)?)
        .with_context(|| format!("{}", a.routes.display()))?;
    let account = pick_account(&snap, a.account.as_deref())?;

    let local = match a.venue_basis {
        VenueBasis::Auto => routes.unified_location.is_some(),
        VenueBasis::Siloed => false,
        VenueBasis::Local => true,
    };
    let (venues, unified, from) = match &a.requirements {
        Some(path) => {
            let text = read_file(path)?;
            let f: RequirementsFile = serde_json::from_str(&text)
                .with_context(|| format!("{}: requirements file", path.display()))?;
            for (v, r) in &f.venues {
                if !r.is_finite() || *r < 0.0 {
                    bail!(
                        "{}: venues[{v:?}]: must be a finite number >= 0, got {r}",
                        path.display()
                    );
                }
            }
            let from = format!("file {}", path.display());
            (f.venues.into_iter().collect(), f.unified, from)
        }
        None => {
            let (v, u) = modelled_requirements(&snap, account, &routes, a.requirement, local)?;
            let basis = if local {
                "local floors; pooled requirement at the hub"
            } else {
                "siloed venue margin"
            };
            let kind = match a.requirement {
                Kind::Initial => "initial",
                Kind::Maintenance => "maintenance",
            };
            (
                v,
                Some(u),
                format!("margin models ({kind}; venues: {basis})"),
            )
        }
    };

    let problem = routes
        .problem(&snap.portfolio, account, &snap.market, &venues, unified)
        .with_context(|| format!("{}", a.routes.display()))?;
    let allocation = allocate(&problem)?;
    let out = Output {
        account: &account.id,
        quote: &snap.market.quote,
        requirements_from: from,
        allocation,
    };
    let assets = &snap.portfolio.assets;
    if a.json {
        let mut doc = serde_json::to_value(&out)?;
        add_decimal_amounts(&mut doc, assets);
        return print_json(&doc);
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

/// Beside each transfer's base-unit `amount`, `fee` and `received` (kept as they are), adds the
/// same integers as `*_base` and the exact amounts in the asset's units as `*_decimal`.
fn add_decimal_amounts(doc: &mut serde_json::Value, assets: &[Asset]) {
    let Some(transfers) = doc.get_mut("transfers").and_then(|t| t.as_array_mut()) else {
        return;
    };
    for t in transfers {
        let Some(obj) = t.as_object_mut() else {
            continue;
        };
        let decimals = obj
            .get("asset")
            .and_then(|a| a.as_str())
            .and_then(|a| decimals_of(assets, a));
        for field in ["amount", "fee", "received"] {
            let Some(base) = obj.get(field).and_then(|v| v.as_str()).map(str::to_string) else {
                continue;
            };
            if let (Some(d), Ok(n)) = (decimals, base.parse::<i128>()) {
                obj.insert(
                    format!("{field}_decimal"),
                    base_units_decimal(Amount(n), d).into(),
                );
            }
            obj.insert(format!("{field}_base"), base.into());
        }
    }
}

fn print_text(out: &Output, assets: &[Asset]) {
    let al = &out.allocation;
    let q = out.quote;
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

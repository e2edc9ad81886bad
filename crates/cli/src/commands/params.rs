//! `intermargin params`: the venue parameter files.
//!
//! * `params diff OLD.toml NEW.toml [--venue V] [--snapshot S] [--json]` — every value that
//!   differs; `OLD` may be `shipped` (the file the binary embeds for the venue). With
//!   `--snapshot`, each account's venue pools margined under both versions, and the change.
//! * `params audit [FILE…] [--max-age-days N] [--today D] [--json]` — each venue file's tables
//!   (the shipped ones by default) with the page they cite and their `as_of` date; a warning
//!   for tables older than N days (default 180); a table without `source` or `as_of` is an
//!   error naming file and table.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use intermargin_margin::venues::param_files::{
    audit, diff, model_with_params, parse_date, shipped, ParamChange, SHIPPED,
};
use intermargin_model::Venue;
use serde::Serialize;

use crate::output::{print_json, print_table, read_file};

/// Arguments of `intermargin params`.
#[derive(Args)]
pub struct ParamsArgs {
    #[command(subcommand)]
    pub command: ParamsCommand,
}

/// `params` sub-commands.
#[derive(Subcommand)]
pub enum ParamsCommand {
    /// Values that differ between two versions of a venue parameter file (and, with
    /// --snapshot, how each account's margin moves).
    Diff(DiffArgs),
    /// Source page and as_of date of every shipped venue parameter table; warns on old ones.
    Audit(AuditArgs),
}

/// Arguments of `params diff`.
#[derive(Args)]
pub struct DiffArgs {
    /// The old file, or `shipped` for the file the binary embeds (needs --venue or NEW's name).
    pub old: String,
    /// The new file.
    pub new: PathBuf,
    /// Venue whose format the files follow (default: NEW's file name, e.g. `binance.toml`).
    #[arg(long)]
    pub venue: Option<String>,
    /// Margin every account of this snapshot under both versions.
    #[arg(long)]
    pub snapshot: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `params audit`.
#[derive(Args)]
pub struct AuditArgs {
    /// Parameter files to audit (default: every venue file the binary ships).
    pub files: Vec<PathBuf>,
    /// Warn on tables whose as_of is older than this many days.
    #[arg(long, default_value_t = 180)]
    pub max_age_days: i64,
    /// Audit date (`YYYY-MM-DD`; default: today, UTC).
    #[arg(long)]
    pub today: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `intermargin params`.
pub fn run(a: ParamsArgs) -> Result<()> {
    match a.command {
        ParamsCommand::Diff(d) => run_diff(d),
        ParamsCommand::Audit(d) => run_audit(d),
    }
}

/// One venue pool margined under both versions.
#[derive(Serialize)]
struct PoolMove {
    account: String,
    pool: String,
    settlement: String,
    initial_before: f64,
    initial_after: f64,
    maintenance_before: f64,
    maintenance_after: f64,
    maintenance_change: f64,
}

fn run_diff(a: DiffArgs) -> Result<()> {
    let venue = match &a.venue {
        Some(v) => {
            Venue::from_str(v).map_err(|_| anyhow::anyhow!("--venue: unknown venue {v:?}"))?
        }
        None => {
            let stem = a
                .new
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            Venue::from_str(stem).map_err(|_| {
                anyhow::anyhow!(
                    "--venue: not given and {} is not named after a venue (binance.toml, okx.toml …)",
                    a.new.display()
                )
            })?
        }
    };
    let (old_name, old_text) = if a.old == "shipped" {
        let (f, t) = shipped(venue)
            .ok_or_else(|| anyhow::anyhow!("--venue: {venue} has no shipped parameter file"))?;
        (format!("shipped {f}"), t.to_string())
    } else {
        let p = PathBuf::from(&a.old);
        (p.display().to_string(), read_file(&p)?)
    };
    let new_name = a.new.display().to_string();
    let new_text = read_file(&a.new)?;
    let changes = diff(&old_name, &old_text, &new_name, &new_text)?;
    let moves = match &a.snapshot {
        Some(s) => Some(margin_moves(
            venue,
            s,
            (&old_name, &old_text),
            (&new_name, &new_text),
        )?),
        None => None,
    };
    if a.json {
        return print_json(&serde_json::json!({
            "venue": venue,
            "old": old_name,
            "new": new_name,
            "changes": changes,
            "accounts": moves,
        }));
    }
    print_changes(&changes);
    if let Some(m) = moves {
        let rows: Vec<Vec<String>> = m
            .iter()
            .map(|p| {
                vec![
                    p.account.clone(),
                    p.pool.clone(),
                    format!("{:.8} {}", p.maintenance_before, p.settlement),
                    format!("{:.8} {}", p.maintenance_after, p.settlement),
                    format!("{:+.8}", p.maintenance_change),
                    format!("{:.8}", p.initial_before),
                    format!("{:.8}", p.initial_after),
                ]
            })
            .collect();
        print_table(
            &[
                "account",
                "pool",
                "maintenance (old)",
                "maintenance (new)",
                "change",
                "initial (old)",
                "initial (new)",
            ],
            &rows,
        );
    }
    Ok(())
}

fn print_changes(changes: &[ParamChange]) {
    if changes.is_empty() {
        println!("no value differs");
        return;
    }
    let rows: Vec<Vec<String>> = changes
        .iter()
        .map(|c| {
            vec![
                c.path.clone(),
                c.change.clone(),
                c.old.clone().unwrap_or_else(|| "-".into()),
                c.new.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    print_table(&["value", "change", "old", "new"], &rows);
}

fn margin_moves(
    venue: Venue,
    snapshot: &std::path::Path,
    old: (&str, &str),
    new: (&str, &str),
) -> Result<Vec<PoolMove>> {
    let snap = super::margin::load_snapshot(snapshot)?;
    let before = model_with_params(venue, old.0, old.1)?;
    let after = model_with_params(venue, new.0, new.1)?;
    let mut out = Vec::new();
    for acc in &snap.portfolio.accounts {
        let b = before
            .margin(acc, &snap.portfolio.assets, &snap.market)
            .with_context(|| format!("account {:?} under {}", acc.id, old.0))?;
        let n = after
            .margin(acc, &snap.portfolio.assets, &snap.market)
            .with_context(|| format!("account {:?} under {}", acc.id, new.0))?;
        for pb in &b {
            let Some(pn) = n
                .iter()
                .find(|x| x.pool == pb.pool && x.settlement == pb.settlement)
            else {
                bail!(
                    "account {:?}: pool {} disappears under {}",
                    acc.id,
                    pb.pool,
                    new.0
                );
            };
            out.push(PoolMove {
                account: acc.id.clone(),
                pool: pb.pool.clone(),
                settlement: pb.settlement.clone(),
                initial_before: pb.initial_margin,
                initial_after: pn.initial_margin,
                maintenance_before: pb.maintenance_margin,
                maintenance_after: pn.maintenance_margin,
                maintenance_change: pn.maintenance_margin - pb.maintenance_margin,
            });
        }
    }
    Ok(out)
}

fn today_utc() -> Result<i64> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("system clock before 1970")?
        .as_secs();
    Ok((secs / 86_400) as i64)
}

fn run_audit(a: AuditArgs) -> Result<()> {
    if a.max_age_days < 0 {
        bail!("--max-age-days: must be ≥ 0, got {}", a.max_age_days);
    }
    let today = match &a.today {
        Some(t) => parse_date(t)
            .ok_or_else(|| anyhow::anyhow!("--today: {t:?} is not a YYYY-MM-DD date"))?,
        None => today_utc()?,
    };
    let mut files = Vec::new();
    if a.files.is_empty() {
        for (venue, file, text) in SHIPPED {
            files.push((venue.to_string(), audit(file, text, today)?));
        }
    } else {
        for p in &a.files {
            let name = p.display().to_string();
            let venue = p
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| Venue::from_str(s).ok())
                .map(|v| v.to_string())
                .unwrap_or_default();
            files.push((venue, audit(&name, &read_file(p)?, today)?));
        }
    }
    let stale: Vec<(String, String, String, i64)> = files
        .iter()
        .flat_map(|(_, f)| {
            f.tables
                .iter()
                .filter(|t| t.age_days > a.max_age_days)
                .map(|t| (f.file.clone(), t.table.clone(), t.as_of.clone(), t.age_days))
        })
        .collect();
    if a.json {
        let out: Vec<serde_json::Value> = files
            .iter()
            .map(|(v, f)| serde_json::json!({"venue": v, "file": f.file, "tables": f.tables}))
            .collect();
        let warnings: Vec<serde_json::Value> = stale
            .iter()
            .map(|(f, t, d, age)| serde_json::json!({"file": f, "table": t, "as_of": d, "age_days": age}))
            .collect();
        return print_json(&serde_json::json!({
            "max_age_days": a.max_age_days,
            "files": out,
            "warnings": warnings,
        }));
    }
    let rows: Vec<Vec<String>> = files
        .iter()
        .flat_map(|(v, f)| {
            f.tables.iter().map(move |t| {
                vec![
                    v.clone(),
                    t.table.clone(),
                    t.as_of.clone(),
                    t.age_days.to_string(),
                    t.source.clone(),
                ]
            })
        })
        .collect();
    print_table(&["venue", "table", "as_of", "age (days)", "source"], &rows);
    for (f, t, d, age) in &stale {
        eprintln!(
            "warning: {f} [{t}] as_of {d} is {age} days old (more than {})",
            a.max_age_days
        );
    }
    Ok(())
}

//! `intermargin reconcile`: every figure the venues reported for a snapshot's accounts beside
//! intermargin's own, with the difference and what explains it.
//!
//! `--json` prints `{"rows": [{venue, account, instrument, pool, currency, field, computed,
//! reported, difference, agrees, explained_by, source}], "agree": n, "disagree": m}`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use intermargin_margin::venues::reconcile::reconcile_report;

use crate::output::{print_json, print_table};

/// Arguments of `intermargin reconcile`.
#[derive(Args)]
pub struct ReconcileArgs {
    /// Canonical snapshot from `intermargin import` (its accounts carry the venues' figures).
    #[arg(long)]
    pub snapshot: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `intermargin reconcile`.
pub fn run(a: ReconcileArgs) -> Result<()> {
    let snap = super::margin::load_snapshot(&a.snapshot)?;
    let report = reconcile_report(
        &snap.portfolio.accounts,
        &snap.portfolio.assets,
        &snap.market,
    );
    if a.json {
        return print_json(&report);
    }
    let (rows, agree) = (&report.rows, report.agree);
    let num = |x: Option<f64>| x.map(|v| format!("{v:.8}")).unwrap_or_else(|| "-".into());
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.account.clone(),
                r.venue.to_string(),
                r.instrument
                    .clone()
                    .or_else(|| r.pool.clone())
                    .unwrap_or_default(),
                r.field.clone(),
                num(r.computed),
                format!("{:.8}", r.reported),
                num(r.difference),
                if r.agrees { "yes" } else { "no" }.into(),
            ]
        })
        .collect();
    print_table(
        &[
            "account",
            "venue",
            "instrument/pool",
            "field",
            "computed",
            "reported",
            "difference",
            "agrees",
        ],
        &table,
    );
    println!("{agree} of {} figures agree", rows.len());
    for r in rows.iter().filter(|r| !r.agrees) {
        if let Some(e) = &r.explained_by {
            println!(
                "- {} {} {}: {e}",
                r.venue,
                r.instrument.as_deref().or(r.pool.as_deref()).unwrap_or(""),
                r.field
            );
        }
    }
    Ok(())
}

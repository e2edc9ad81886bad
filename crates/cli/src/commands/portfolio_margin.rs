//! `intermargin margin --model …`: portfolio and unified margin of a snapshot, with the siloed total
//! (Σ of each venue's own initial margin) and the explanation of every number.

use std::path::Path;

use anyhow::{Context, Result};
use clap::ValueEnum;
use intermargin_margin::portfolio::{
    Explanation, GridModel, GridParams, SensitivityModel, SimmParams, UnifiedModel, UnifiedParams,
};
use intermargin_model::{Account, Snapshot};
use serde::Serialize;
use serde_json::{json, Value};

use crate::output::{money, percent, pool_amount, print_json, print_table};

/// Which portfolio model to apply to the whole book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PmModel {
    /// Deribit Portfolio Margin (scenario grid per settlement currency).
    DeribitPm,
    /// CME SPAN (16 scenarios).
    Span,
    /// Greek netting in the ISDA SIMM form.
    Sensitivity,
    /// The unified cross-venue model (basis, haircuts, local minimums).
    Unified,
}

impl PmModel {
    /// The model's name as a person reads it (tables, text).
    pub fn label(self) -> &'static str {
        match self {
            PmModel::DeribitPm => "Deribit portfolio margin",
            PmModel::Span => "SPAN (CME, 16 scenarios)",
            PmModel::Sensitivity => "Sensitivity margin (SIMM form)",
            PmModel::Unified => "Unified cross-venue margin",
        }
    }
}

/// One account's verdict under the chosen model.
#[derive(Debug, Clone, Serialize)]
struct AccountReport {
    account: String,
    siloed_total: f64,
    initial_margin: f64,
    maintenance_margin: f64,
    saving: f64,
    venues: Vec<Value>,
    explain: Vec<Explanation>,
}

fn margin_account(model: PmModel, account: &Account, snap: &Snapshot) -> Result<AccountReport> {
    let market = &snap.market;
    let assets = &snap.portfolio.assets;
    let siloed = intermargin_margin::venue_margins(account, assets, market)
        .with_context(|| format!("account {:?}: venue margins", account.id))?;
    let siloed_total: f64 = siloed.iter().map(|v| v.in_quote.initial_margin).sum();
    let venue_rows = || -> Vec<Value> {
        siloed
            .iter()
            .map(|v| {
                json!({
                    "venue": v.venue, "settlement": v.settlement,
                    "initial_margin": v.in_quote.initial_margin,
                    "maintenance_margin": v.in_quote.maintenance_margin,
                    "equity": v.in_quote.equity,
                })
            })
            .collect()
    };
    let (im, mm, venues, explain) = match model {
        PmModel::DeribitPm | PmModel::Span => {
            let params = if model == PmModel::Span {
                GridParams::span()?
            } else {
                GridParams::deribit_pm()?
            };
            let r = GridModel::new(params)
                .margin(account, market)
                .with_context(|| format!("account {:?}", account.id))?;
            let ex = r.pools.iter().map(|p| p.explain.clone()).collect();
            (r.initial_margin, r.maintenance_margin, venue_rows(), ex)
        }
        PmModel::Sensitivity => {
            let r = SensitivityModel::new(SimmParams::bundled()?)
                .margin(account, market)
                .with_context(|| format!("account {:?}", account.id))?;
            (
                r.initial_margin,
                r.maintenance_margin,
                venue_rows(),
                vec![r.explain],
            )
        }
        PmModel::Unified => {
            let r = UnifiedModel::new(UnifiedParams::bundled()?)
                .margin(account, assets, market, &siloed)
                .with_context(|| format!("account {:?}", account.id))?;
            let venues = r
                .venues
                .iter()
                .map(|v| serde_json::to_value(v).unwrap_or(Value::Null))
                .collect();
            (
                r.initial_margin,
                r.maintenance_margin,
                venues,
                vec![r.explain],
            )
        }
    };
    Ok(AccountReport {
        account: account.id.clone(),
        siloed_total,
        initial_margin: im,
        maintenance_margin: mm,
        saving: siloed_total - im,
        venues,
        explain,
    })
}

/// The JSON document `margin --model … --json` prints.
pub fn report(snap: &Snapshot, model: PmModel) -> Result<Value> {
    let accounts: Vec<AccountReport> = snap
        .portfolio
        .accounts
        .iter()
        .map(|a| margin_account(model, a, snap))
        .collect::<Result<_>>()?;
    let siloed: f64 = accounts.iter().map(|a| a.siloed_total).sum();
    let im: f64 = accounts.iter().map(|a| a.initial_margin).sum();
    let mm: f64 = accounts.iter().map(|a| a.maintenance_margin).sum();
    let venues: Vec<Value> = accounts.iter().flat_map(|a| a.venues.clone()).collect();
    let explain = match accounts.as_slice() {
        [one] if one.explain.len() == 1 => serde_json::to_value(&one.explain[0])?,
        [one] => json!({ "pools": one.explain }),
        many => {
            json!({ "accounts": many.iter().map(|a| json!({"account": a.account, "pools": a.explain})).collect::<Vec<_>>() })
        }
    };
    let mut doc = json!({
        "model": model,
        "currency": snap.market.quote,
        "siloed_total": siloed,
        "unified": { "initial_margin": im, "maintenance_margin": mm },
        "saving": siloed - im,
        "venues": venues,
        "explain": explain,
    });
    if accounts.len() > 1 {
        doc["accounts"] = serde_json::to_value(
            accounts
                .iter()
                .map(|a| {
                    json!({"account": a.account, "siloed_total": a.siloed_total,
                       "initial_margin": a.initial_margin, "maintenance_margin": a.maintenance_margin,
                       "saving": a.saving})
                })
                .collect::<Vec<_>>(),
        )?;
    }
    Ok(doc)
}

/// Runs the command: reads the snapshot, prints JSON or tables (`explain` adds the explanation tables).
pub fn run(snapshot: &Path, model: PmModel, explain: bool, json_out: bool) -> Result<()> {
    let snap = super::margin::load_snapshot(snapshot)?;
    let doc = report(&snap, model)?;
    if json_out {
        return print_json(&doc);
    }
    let cur = snap.market.quote.as_str();
    let num = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let siloed = num(&doc["siloed_total"]);
    let saving = num(&doc["saving"]);
    let label = model.label();
    println!("{label} — figures in {cur}");
    print_table(
        &["figure", "amount"],
        &[
            vec![
                "siloed total (sum of each venue's own initial margin)".into(),
                money(siloed, cur),
            ],
            vec![
                format!("{label}: initial margin"),
                money(num(&doc["unified"]["initial_margin"]), cur),
            ],
            vec![
                format!("{label}: maintenance margin"),
                money(num(&doc["unified"]["maintenance_margin"]), cur),
            ],
            vec![
                "saving (siloed total − initial margin)".into(),
                if siloed > 0.0 {
                    format!(
                        "{} ({} of siloed)",
                        money(saving, cur),
                        percent(saving / siloed)
                    )
                } else {
                    money(saving, cur)
                },
            ],
        ],
    );
    if !explain {
        return Ok(());
    }
    for acc in &snap.portfolio.accounts {
        let r = margin_account(model, acc, &snap)?;
        for ex in &r.explain {
            let pool = ex.currency.as_str();
            println!();
            println!(
                "account {} — pool {pool} (figures in {pool}) — worst scenario: {} (#{})",
                r.account, ex.worst_scenario, ex.worst_index
            );
            let rows: Vec<Vec<String>> = ex
                .components
                .iter()
                .map(|c| {
                    vec![
                        c.name.replace('_', " "),
                        pool_amount(c.value, pool),
                        c.detail.clone(),
                    ]
                })
                .collect();
            print_table(&["component", "amount", "how"], &rows);
            println!();
            let rows: Vec<Vec<String>> = ex
                .contributions
                .iter()
                .map(|c| {
                    vec![
                        c.instrument.clone(),
                        format!("{}", c.size),
                        pool_amount(c.loss, pool),
                    ]
                })
                .collect();
            print_table(
                &[
                    "position",
                    "size (contracts or units)",
                    "loss in the worst scenario",
                ],
                &rows,
            );
        }
        if model == PmModel::Unified {
            println!();
            println!("where the requirement sits (figures in {cur})");
            let rows: Vec<Vec<String>> = r
                .venues
                .iter()
                .map(|v| {
                    vec![
                        v["venue"].as_str().unwrap_or("?").to_string(),
                        money(v["siloed_initial_margin"].as_f64().unwrap_or(0.0), cur),
                        money(v["local_minimum"].as_f64().unwrap_or(0.0), cur),
                        money(v["attributed"].as_f64().unwrap_or(0.0), cur),
                        if v["binds"].as_bool().unwrap_or(false) {
                            "yes".to_string()
                        } else {
                            "no".to_string()
                        },
                    ]
                })
                .collect();
            print_table(
                &[
                    "venue",
                    "venue's own IM",
                    "local minimum",
                    "attributed",
                    "local minimum binds",
                ],
                &rows,
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Snapshot {
        Snapshot::from_json(include_str!(
            "../../../../examples/hedged-book/snapshot.json"
        ))
        .unwrap()
    }

    #[test]
    fn every_model_reports_siloed_unified_and_saving_in_the_quote_currency() {
        let snap = example();
        for model in [
            PmModel::DeribitPm,
            PmModel::Span,
            PmModel::Sensitivity,
            PmModel::Unified,
        ] {
            let doc = report(&snap, model).unwrap();
            let siloed = doc["siloed_total"].as_f64().unwrap();
            let im = doc["unified"]["initial_margin"].as_f64().unwrap();
            let mm = doc["unified"]["maintenance_margin"].as_f64().unwrap();
            assert!((doc["saving"].as_f64().unwrap() - (siloed - im)).abs() < 1e-6);
            assert!(im > 0.0 && mm <= im + 1e-9, "{model:?}: im {im} mm {mm}");
            assert_eq!(doc["currency"], "USD");
            assert!(doc["venues"].as_array().is_some_and(|v| !v.is_empty()));
            assert!(doc["explain"].is_object());
        }
    }

    #[test]
    fn unified_explanation_lists_components_and_positions() {
        let doc = report(&example(), PmModel::Unified).unwrap();
        let names: Vec<&str> = doc["explain"]["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        for n in [
            "scenario_loss",
            "short_option_minimum",
            "basis_venue_index",
            "counterparty_haircut",
            "collateral_haircut",
        ] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
        assert_eq!(
            doc["explain"]["contributions"].as_array().unwrap().len(),
            7,
            "3 positions and 4 collateral balances"
        );
        assert!(doc["venues"][0].get("binds").is_some());
    }
}

//! `intermargin margin --model …`: portfolio and unified margin of a snapshot, with the siloed total
//! (Σ of each venue's own initial margin) and the explanation of every number.

use std::path::Path;

use anyhow::Result;
use clap::ValueEnum;
use intermargin_documents::PortfolioModel;
use serde::Serialize;
use serde_json::Value;

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
    /// The unified cross-venue model (local floors at segregated venues + pooled stress at the hub).
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

impl From<PmModel> for PortfolioModel {
    fn from(m: PmModel) -> Self {
        match m {
            PmModel::DeribitPm => PortfolioModel::DeribitPm,
            PmModel::Span => PortfolioModel::Span,
            PmModel::Sensitivity => PortfolioModel::Sensitivity,
            PmModel::Unified => PortfolioModel::Unified,
        }
    }
}

/// Runs the command: reads the snapshot, prints JSON or tables (`explain` adds the explanation tables).
pub fn run(
    snapshot: &Path,
    model: PmModel,
    explain: bool,
    json_out: bool,
    forecast: Option<&intermargin_margin::portfolio::BrokenHedgeForecast>,
) -> Result<()> {
    let snap = super::margin::load_snapshot(snapshot)?;
    let verdict = intermargin_documents::model_report_with(&snap, model.into(), forecast)?;
    let doc = verdict.document()?;
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
                if model == PmModel::Unified {
                    "siloed total (each venue alone, same scenarios, no transfers)".into()
                } else {
                    "siloed total (sum of each venue's own initial margin)".into()
                },
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
    for r in &verdict.accounts {
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
            let num = |v: &Value, k: &str| money(v[k].as_f64().unwrap_or(0.0), cur);
            let rows: Vec<Vec<String>> = r
                .venues
                .iter()
                .map(|v| {
                    vec![
                        v["venue"].as_str().unwrap_or("?").to_string(),
                        v["kind"].as_str().unwrap_or("?").to_string(),
                        num(v, "siloed_maintenance_margin"),
                        num(v, "local_minimum"),
                        num(v, "attributed"),
                        num(v, "siloed_initial_margin"),
                        v["liquidation_move"]
                            .as_f64()
                            .map_or("-".into(), |m| format!("{:+.1}%", m * 100.0)),
                        v["binding_scenario"].as_str().unwrap_or("-").to_string(),
                    ]
                })
                .collect();
            print_table(
                &[
                    "venue",
                    "kind",
                    "own MM",
                    "local floor",
                    "pooled share",
                    "siloed",
                    "liquidates at",
                    "binding scenario",
                ],
                &rows,
            );
            if let Some(e) = &r.unified {
                println!();
                println!(
                    "horizon {:.0} s; pooled requirement {}; saving split: pooled buffer {}, credit netting {}; liquidates first: {}",
                    e.horizon_s,
                    money(e.pooled_requirement, cur),
                    money(e.saving_split.pooled_buffer, cur),
                    money(e.saving_split.credit_netting, cur),
                    e.liquidates_first.map_or("-".to_string(), |v| v.to_string())
                );
            }
            if let Some(ex) = r.explain.first() {
                println!();
                let rows: Vec<Vec<String>> = ex
                    .factors
                    .iter()
                    .map(|f| vec![f.factor.clone(), money(f.loss, cur), f.scenario.clone()])
                    .collect();
                print_table(&["risk factor", "loss", "scenario"], &rows);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use intermargin_model::Snapshot;

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
            let doc = intermargin_documents::model_document(&snap, model.into()).unwrap();
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
        let doc =
            intermargin_documents::model_document(&example(), PmModel::Unified.into()).unwrap();
        let names: Vec<&str> = doc["explain"]["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        for n in [
            "local_minimum_topup",
            "scenario_loss",
            "depeg",
            "basis_venue_index",
            "funding",
            "concentration",
        ] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
        // The components add up to the unified initial margin.
        let sum: f64 = doc["explain"]["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["value"].as_f64().unwrap())
            .sum();
        let im = doc["unified"]["initial_margin"].as_f64().unwrap();
        assert!((sum - im).abs() < 1e-6 * im, "{sum} vs {im}");
        assert_eq!(
            doc["explain"]["contributions"].as_array().unwrap().len(),
            5,
            "3 positions and 2 BTC balances (stablecoin balances carry depeg risk, not price legs)"
        );
        for k in ["saving_split", "horizon_s", "liquidates_first"] {
            assert!(doc.get(k).is_some(), "{k} missing");
        }
        for v in doc["venues"].as_array().unwrap() {
            assert!(v["kind"] == "segregated" || v["kind"] == "credit");
            assert!(v.get("liquidation_move").is_some());
            assert!(
                v["local_minimum"].as_f64().unwrap()
                    >= v["siloed_maintenance_margin"].as_f64().unwrap() - 1e-9
            );
        }
        assert!(doc["venues"][0].get("binds").is_some());
    }
}

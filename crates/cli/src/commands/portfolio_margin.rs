//! `intermargin margin --model …`: portfolio and unified margin of a snapshot, with the siloed total
//! (Σ of each venue's own initial margin) and the explanation of every number.

use std::path::Path;

use anyhow::{Context, Result};
use clap::ValueEnum;
use intermargin_margin::portfolio::{
    Explanation, GridModel, GridParams, SavingSplit, SensitivityModel, SimmParams, UnifiedModel,
    UnifiedParams,
};
use intermargin_model::{Account, Snapshot, Venue};
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
    /// Unified model only: saving split, horizon, first venue to liquidate.
    unified: Option<UnifiedExtras>,
}

/// The unified model's account-level figures beyond IM/MM.
#[derive(Debug, Clone, Serialize)]
struct UnifiedExtras {
    saving_split: SavingSplit,
    horizon_s: f64,
    liquidates_first: Option<Venue>,
    pooled_requirement: f64,
    local_minimum_total: f64,
}

fn margin_account(model: PmModel, account: &Account, snap: &Snapshot) -> Result<AccountReport> {
    let market = &snap.market;
    let assets = &snap.portfolio.assets;
    let siloed = intermargin_margin::venue_margins(account, assets, market)
        .with_context(|| format!("account {:?}: venue margins", account.id))?;
    let quoted = siloed
        .iter()
        .map(|v| v.quote().cloned())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("account {:?}: venue margins", account.id))?;
    let mut siloed_total: f64 = quoted.iter().map(|q| q.initial_margin).sum();
    let mut extras = None;
    let venue_rows = || -> Vec<Value> {
        siloed
            .iter()
            .zip(&quoted)
            .map(|(v, q)| {
                json!({
                    "venue": v.venue, "settlement": v.settlement,
                    "initial_margin": q.initial_margin,
                    "maintenance_margin": q.maintenance_margin,
                    "equity": q.equity,
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
                .margin(account, assets, market)
                .with_context(|| format!("account {:?}", account.id))?;
            let venues = r
                .venues
                .iter()
                .map(|v| serde_json::to_value(v).unwrap_or(Value::Null))
                .collect();
            // The honest siloed baseline: the same scenarios venue by venue at the most favourable leverage.
            siloed_total = r.siloed_total;
            extras = Some(UnifiedExtras {
                saving_split: r.saving_split,
                horizon_s: r.horizon_s,
                liquidates_first: r.liquidates_first,
                pooled_requirement: r.pooled_requirement,
                local_minimum_total: r.local_minimum_total,
            });
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
        unified: extras,
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
    if model == PmModel::Unified {
        let mut split = SavingSplit::default();
        let (mut pooled, mut local) = (0.0, 0.0);
        for e in accounts.iter().filter_map(|a| a.unified.as_ref()) {
            split.pooled_buffer += e.saving_split.pooled_buffer;
            split.credit_netting += e.saving_split.credit_netting;
            pooled += e.pooled_requirement;
            local += e.local_minimum_total;
        }
        doc["saving_split"] = serde_json::to_value(split)?;
        doc["unified"]["pooled_requirement"] = json!(pooled);
        doc["unified"]["local_minimum_total"] = json!(local);
        let first = accounts.iter().find_map(|a| a.unified.as_ref());
        doc["horizon_s"] = json!(first.map(|e| e.horizon_s));
        doc["liquidates_first"] = match accounts.as_slice() {
            [one] => json!(one.unified.as_ref().and_then(|e| e.liquidates_first)),
            _ => Value::Null,
        };
    }
    if accounts.len() > 1 {
        doc["accounts"] = serde_json::to_value(
            accounts
                .iter()
                .map(|a| {
                    json!({"account": a.account, "siloed_total": a.siloed_total,
                       "initial_margin": a.initial_margin, "maintenance_margin": a.maintenance_margin,
                       "saving": a.saving,
                       "saving_split": a.unified.as_ref().map(|e| e.saving_split),
                       "liquidates_first": a.unified.as_ref().and_then(|e| e.liquidates_first)})
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

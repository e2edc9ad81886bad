//! `margin --json` (each venue's own pools) and `margin --model M --json` (a portfolio model over
//! the whole book, with the siloed total, the saving and the explanation of every number).

use intermargin_margin::portfolio::{
    BrokenHedgeForecast, Explanation, GridModel, GridParams, PositionLiquidation, SavingSplit,
    SensitivityModel, SimmParams, UnifiedModel, UnifiedParams,
};
use intermargin_margin::VenueMargin;
use intermargin_model::{Account, Snapshot, Venue};
use serde::Serialize;
use serde_json::{json, Value};

use crate::DocumentError;

/// Which portfolio model to apply to the whole book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PortfolioModel {
    /// Deribit Portfolio Margin (scenario grid per settlement currency).
    DeribitPm,
    /// CME SPAN (16 scenarios).
    Span,
    /// Greek netting in the ISDA SIMM form.
    Sensitivity,
    /// The unified cross-venue model (local floors at segregated venues + pooled stress at the hub).
    Unified,
}

impl PortfolioModel {
    /// Every model, in the order the CLI lists them.
    pub const ALL: [PortfolioModel; 4] = [
        PortfolioModel::DeribitPm,
        PortfolioModel::Span,
        PortfolioModel::Sensitivity,
        PortfolioModel::Unified,
    ];

    /// The model named `s` (`deribit-pm`, `span`, `sensitivity`, `unified`; case and `_`/`-`
    /// insensitive), or an input error naming `model`.
    pub fn parse(s: &str) -> Result<PortfolioModel, DocumentError> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        Self::ALL
            .into_iter()
            .find(|m| m.name() == norm)
            .ok_or_else(|| {
                DocumentError::input(
                    "model",
                    format!("unknown model {s:?} (deribit-pm, span, sensitivity, unified)"),
                )
            })
    }

    /// The model's name in JSON and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            PortfolioModel::DeribitPm => "deribit-pm",
            PortfolioModel::Span => "span",
            PortfolioModel::Sensitivity => "sensitivity",
            PortfolioModel::Unified => "unified",
        }
    }
}

#[derive(Serialize)]
struct Row<'a> {
    account: &'a str,
    #[serde(flatten)]
    margin: &'a VenueMargin,
}

fn engine(e: impl std::fmt::Display) -> DocumentError {
    DocumentError::Engine(e.to_string())
}

/// Our liquidation price of each position of `account` beside the venue's
/// (`UnifiedModel::position_liquidations` over the bundled unified model), or why there is none.
pub fn position_liquidations(
    account: &Account,
    snap: &Snapshot,
) -> Result<Vec<PositionLiquidation>, String> {
    let (assets, market) = (&snap.portfolio.assets, &snap.market);
    let model = crate::whatif::unified_model()?;
    let venues =
        intermargin_margin::venue_margins(account, assets, market).map_err(|e| e.to_string())?;
    let unified = model
        .margin(account, assets, market)
        .map_err(|e| e.to_string())?;
    model
        .position_liquidations(account, assets, market, &venues, &unified)
        .map_err(|e| e.to_string())
}

/// Each venue's own pools of every account, and each position's liquidation prices:
/// `{"quote", "venues": [{account, …VenueMargin}], "positions": [{account, …PositionLiquidation}
/// or {account, error} when the unified model cannot search that account's book]}`.
pub fn venue_margin_document(snap: &Snapshot) -> Result<Value, DocumentError> {
    let mut venues = Vec::new();
    for acc in &snap.portfolio.accounts {
        let pools = intermargin_margin::venue_margins(acc, &snap.portfolio.assets, &snap.market)
            .map_err(|e| engine(format!("account {:?}: {e}", acc.id)))?;
        for m in &pools {
            venues.push(
                serde_json::to_value(Row {
                    account: &acc.id,
                    margin: m,
                })
                .map_err(engine)?,
            );
        }
    }
    let mut positions = Vec::new();
    for acc in &snap.portfolio.accounts {
        match position_liquidations(acc, snap) {
            Ok(list) => {
                for p in list {
                    let mut row = json!({ "account": acc.id });
                    if let (Value::Object(r), Value::Object(f)) =
                        (&mut row, serde_json::to_value(&p).map_err(engine)?)
                    {
                        r.extend(f);
                    }
                    positions.push(row);
                }
            }
            Err(e) => positions.push(json!({ "account": acc.id, "error": e })),
        }
    }
    Ok(json!({ "quote": snap.market.quote, "venues": venues, "positions": positions }))
}

/// One account's verdict under the chosen model.
pub struct AccountReport {
    /// Account id.
    pub account: String,
    /// Σ of the venues' siloed requirements (the unified model's honest baseline for it).
    pub siloed_total: f64,
    /// The model's initial margin.
    pub initial_margin: f64,
    /// The model's maintenance margin.
    pub maintenance_margin: f64,
    /// Siloed total − initial margin.
    pub saving: f64,
    /// Rows per venue: each pool's own figures, or under the unified model each venue's
    /// constraint (`VenueConstraint`).
    pub venues: Vec<Value>,
    /// The explanation of each pool the model margins (one for the unified and SIMM models).
    pub explain: Vec<Explanation>,
    /// Unified model only: saving split, horizon, first venue to liquidate.
    pub unified: Option<UnifiedExtras>,
}

/// A portfolio model's verdict on every account of a snapshot.
pub struct ModelReport {
    /// The model.
    pub model: PortfolioModel,
    /// Quote currency of every figure.
    pub currency: String,
    /// Each account's verdict, in the snapshot's order.
    pub accounts: Vec<AccountReport>,
}

/// The unified model's account-level figures beyond IM/MM.
pub struct UnifiedExtras {
    /// Where the saving comes from.
    pub saving_split: SavingSplit,
    /// Close-out horizon, seconds.
    pub horizon_s: f64,
    /// The segregated venue whose liquidation move is smallest.
    pub liquidates_first: Option<Venue>,
    /// Pooled requirement held at the hub.
    pub pooled_requirement: f64,
    /// Σ local floors at segregated venues.
    pub local_minimum_total: f64,
}

fn margin_account(
    model: PortfolioModel,
    account: &Account,
    snap: &Snapshot,
    forecast: Option<&BrokenHedgeForecast>,
) -> Result<AccountReport, DocumentError> {
    let market = &snap.market;
    let assets = &snap.portfolio.assets;
    let ctx = |e: &dyn std::fmt::Display| engine(format!("account {:?}: {e}", account.id));
    let siloed = intermargin_margin::venue_margins(account, assets, market).map_err(|e| ctx(&e))?;
    let quoted = siloed
        .iter()
        .map(|v| v.quote().cloned())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ctx(&e))?;
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
        PortfolioModel::DeribitPm | PortfolioModel::Span => {
            let params = if model == PortfolioModel::Span {
                GridParams::span()
            } else {
                GridParams::deribit_pm()
            }
            .map_err(|e| ctx(&e))?;
            let r = GridModel::new(params)
                .margin(account, market)
                .map_err(|e| ctx(&e))?;
            let ex = r.pools.iter().map(|p| p.explain.clone()).collect();
            (r.initial_margin, r.maintenance_margin, venue_rows(), ex)
        }
        PortfolioModel::Sensitivity => {
            let r = SensitivityModel::new(SimmParams::bundled().map_err(|e| ctx(&e))?)
                .margin(account, market)
                .map_err(|e| ctx(&e))?;
            (
                r.initial_margin,
                r.maintenance_margin,
                venue_rows(),
                vec![r.explain],
            )
        }
        PortfolioModel::Unified => {
            let mut m = UnifiedModel::new(UnifiedParams::bundled().map_err(|e| ctx(&e))?);
            if let Some(f) = forecast {
                m = m.with_broken_hedge(f.clone()).map_err(|e| ctx(&e))?;
            }
            let r = m.margin(account, assets, market).map_err(|e| ctx(&e))?;
            let venues = r
                .venues
                .iter()
                .map(serde_json::to_value)
                .collect::<Result<Vec<_>, _>>()
                .map_err(engine)?;
            // The honest siloed baseline: the same scenarios venue by venue at the most
            // favourable leverage.
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

/// The portfolio model's verdict on every account of the snapshot.
pub fn model_report(snap: &Snapshot, model: PortfolioModel) -> Result<ModelReport, DocumentError> {
    model_report_with(snap, model, None)
}

/// As [`model_report`], the unified model charging the broken-hedge add-on from `forecast` where it
/// is material (the risk lab's auto-deleveraging forecast; other models ignore it).
pub fn model_report_with(
    snap: &Snapshot,
    model: PortfolioModel,
    forecast: Option<&BrokenHedgeForecast>,
) -> Result<ModelReport, DocumentError> {
    Ok(ModelReport {
        model,
        currency: snap.market.quote.clone(),
        accounts: snap
            .portfolio
            .accounts
            .iter()
            .map(|a| margin_account(model, a, snap, forecast))
            .collect::<Result<_, _>>()?,
    })
}

/// The portfolio model's document over every account of the snapshot (see
/// [`ModelReport::document`]).
pub fn model_document(snap: &Snapshot, model: PortfolioModel) -> Result<Value, DocumentError> {
    model_report(snap, model)?.document()
}

impl ModelReport {
    /// The document: `model`, `currency`, `siloed_total`, `unified` {initial, maintenance[,
    /// pooled_requirement, local_minimum_total]}, `saving`, `venues`, `explain` (and for the
    /// unified model `saving_split`, `horizon_s`, `liquidates_first`; with several accounts,
    /// `accounts`).
    pub fn document(&self) -> Result<Value, DocumentError> {
        let (accounts, model) = (&self.accounts, self.model);
        let siloed: f64 = accounts.iter().map(|a| a.siloed_total).sum();
        let im: f64 = accounts.iter().map(|a| a.initial_margin).sum();
        let mm: f64 = accounts.iter().map(|a| a.maintenance_margin).sum();
        let venues: Vec<Value> = accounts.iter().flat_map(|a| a.venues.clone()).collect();
        let explain = match accounts.as_slice() {
            [one] if one.explain.len() == 1 => {
                serde_json::to_value(&one.explain[0]).map_err(engine)?
            }
            [one] => json!({ "pools": one.explain }),
            many => {
                json!({ "accounts": many.iter().map(|a| json!({"account": a.account, "pools": a.explain})).collect::<Vec<_>>() })
            }
        };
        let mut doc = json!({
            "model": model,
            "currency": self.currency,
            "siloed_total": siloed,
            "unified": { "initial_margin": im, "maintenance_margin": mm },
            "saving": siloed - im,
            "venues": venues,
            "explain": explain,
        });
        if model == PortfolioModel::Unified {
            let mut split = SavingSplit::default();
            let (mut pooled, mut local) = (0.0, 0.0);
            for e in accounts.iter().filter_map(|a| a.unified.as_ref()) {
                split.pooled_buffer += e.saving_split.pooled_buffer;
                split.credit_netting += e.saving_split.credit_netting;
                pooled += e.pooled_requirement;
                local += e.local_minimum_total;
            }
            doc["saving_split"] = serde_json::to_value(split).map_err(engine)?;
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
            doc["accounts"] = Value::Array(
            accounts
                .iter()
                .map(|a| {
                    json!({"account": a.account, "siloed_total": a.siloed_total,
                       "initial_margin": a.initial_margin, "maintenance_margin": a.maintenance_margin,
                       "saving": a.saving,
                       "saving_split": a.unified.as_ref().map(|e| e.saving_split),
                       "liquidates_first": a.unified.as_ref().and_then(|e| e.liquidates_first)})
                })
                .collect(),
        );
        }
        Ok(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(text: &str) -> Snapshot {
        Snapshot::from_json(text).unwrap()
    }

    #[test]
    fn models_parse_by_name_and_an_unknown_one_is_named() {
        for m in PortfolioModel::ALL {
            assert_eq!(PortfolioModel::parse(m.name()).unwrap(), m);
        }
        assert_eq!(
            PortfolioModel::parse("Deribit_PM").unwrap(),
            PortfolioModel::DeribitPm
        );
        match PortfolioModel::parse("var").unwrap_err() {
            DocumentError::Input { field, .. } => assert_eq!(field, "model"),
            e => panic!("{e}"),
        }
    }

    #[test]
    fn the_saving_is_the_siloed_total_less_the_initial_margin_under_every_model() {
        let s = snap(include_str!("../../../examples/hedged-book/snapshot.json"));
        for m in PortfolioModel::ALL {
            let d = model_document(&s, m).unwrap();
            let f = |v: &Value| v.as_f64().unwrap();
            let saving = f(&d["siloed_total"]) - f(&d["unified"]["initial_margin"]);
            assert!(
                (f(&d["saving"]) - saving).abs() <= 1e-9 * saving.abs().max(1.0),
                "{m:?}"
            );
            assert_eq!(d["model"], m.name());
        }
    }

    #[test]
    fn venue_rows_are_each_pool_of_the_venue_models_with_its_account() {
        let s = snap(include_str!("../../../examples/hedged-book/snapshot.json"));
        let d = venue_margin_document(&s).unwrap();
        let rows = d["venues"].as_array().unwrap();
        let acc = &s.portfolio.accounts[0];
        let pools = intermargin_margin::venue_margins(acc, &s.portfolio.assets, &s.market).unwrap();
        assert_eq!(rows.len(), pools.len());
        for (r, p) in rows.iter().zip(&pools) {
            assert_eq!(r["account"], acc.id.as_str());
            assert_eq!(r["venue"], p.venue.to_string());
            assert_eq!(r["initial_margin"].as_f64().unwrap(), p.initial_margin);
        }
    }
}

//! `intermargin._native`: the Rust side of the Python package.
//!
//! Pricing works on whole numpy arrays: the inputs are borrowed (no copy when they are already
//! contiguous float64), the batch runs in `intermargin-pricing` with the GIL released, and the
//! outputs move into new numpy arrays without a copy. Snapshot-level calls (import, margin,
//! allocate) take and return JSON text; the Python wrapper turns it into plain dicts.
//!
//! The margin and allocation documents are built from the same library calls as the CLI's
//! `margin --json`, `margin --model … --json` and `allocate --json`; the pytest suite checks that
//! they are equal to the CLI's output on the bundled examples.

use std::collections::BTreeMap;

use intermargin_allocate::{allocate as solve_allocation, RoutesFile};
use intermargin_margin::portfolio::{
    Explanation, GridModel, GridParams, RequirementKind, SensitivityModel, SimmParams,
    UnifiedMargin, UnifiedModel, UnifiedParams,
};
use intermargin_model::{Account, Amount, Snapshot, Venue};
use intermargin_pricing::{
    coin_greeks_from_linear, implied_vol_batch, implied_vol_batch_checked,
    price_delta_gamma_vega_batch, price_greeks_batch, BatchGreeks, BatchInputs, OptionKind,
    PricingError,
};
use intermargin_venues::{import, ImportOptions, Payload};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::{json, Value};

create_exception!(
    _native,
    InputError,
    PyValueError,
    "Bad input: the message starts with the field (`vol[3]: …`); `.field` names it."
);

/// An [`InputError`] whose `field` attribute names the offending input.
fn input_error(py: Python<'_>, field: &str, message: String) -> PyErr {
    let err = InputError::new_err(message);
    // Setting an attribute on a fresh exception instance cannot fail in practice; if it did,
    // the message still names the field.
    let _ = err.value(py).setattr("field", field);
    err
}

fn pricing_error(py: Python<'_>, e: PricingError) -> PyErr {
    let field = match &e {
        PricingError::BadInput { field, .. }
        | PricingError::BadElement { field, .. }
        | PricingError::LengthMismatch { field, .. }
        | PricingError::BadQuote { field, .. } => *field,
        PricingError::NoQuotes => "quotes",
    };
    input_error(py, field, e.to_string())
}

/// Maps `is_call` flags to option kinds (one pass in Rust, no Python call per element).
fn kinds(is_call: &[bool]) -> Vec<OptionKind> {
    is_call
        .iter()
        .map(|&c| if c { OptionKind::Call } else { OptionKind::Put })
        .collect()
}

type Arr<'py> = PyReadonlyArray1<'py, f64>;

/// Black-76 premiums and Greeks of a batch (arrays of one length; checked in Rust).
///
/// Returns a dict of float64 arrays: `price` only when `full` is false, else every Greek; for
/// `inverse`, also the venue convention (`delta_coin`, `price_quote`, `vega_per_vol_point`,
/// `theta_per_day`, `gamma_quote`).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
#[pyo3(signature = (is_call, forward, strike, years, vol, rate, inverse, full))]
fn greeks_batch<'py>(
    py: Python<'py>,
    is_call: PyReadonlyArray1<'py, bool>,
    forward: Arr<'py>,
    strike: Arr<'py>,
    years: Arr<'py>,
    vol: Arr<'py>,
    rate: Arr<'py>,
    inverse: bool,
    full: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let (c, f, k, t, v, r) = (
        is_call.as_slice()?,
        forward.as_slice()?,
        strike.as_slice()?,
        years.as_slice()?,
        vol.as_slice()?,
        rate.as_slice()?,
    );
    let kind = kinds(c);
    let result = py.allow_threads(
        || -> Result<(BatchGreeks, Option<BatchGreeks>), PricingError> {
            let inp = BatchInputs {
                kind: &kind,
                forward: f,
                strike: k,
                years: t,
                vol_or_price: v,
                rate: r,
            };
            let mut out = BatchGreeks::default();
            if full {
                price_greeks_batch(&inp, inverse, &mut out)?;
            } else {
                out = BatchGreeks::with_len(f.len());
                price_delta_gamma_vega_batch(&inp, inverse, &mut out)?;
            }
            let linear = if full && inverse {
                let mut lin = BatchGreeks::default();
                price_greeks_batch(&inp, false, &mut lin)?;
                Some(lin)
            } else {
                None
            };
            Ok((out, linear))
        },
    );
    let (out, linear) = result.map_err(|e| pricing_error(py, e))?;
    let d = PyDict::new(py);
    if !full {
        d.set_item("price", out.price.into_pyarray(py))?;
        return Ok(d);
    }
    if let Some(lin) = linear {
        let n = lin.len();
        let mut cols: [Vec<f64>; 5] = std::array::from_fn(|_| Vec::with_capacity(n));
        for (i, &fwd) in f.iter().enumerate().take(n) {
            if let Some(g) = lin.get(i) {
                let c = coin_greeks_from_linear(&g, fwd);
                cols[0].push(c.delta_coin);
                cols[1].push(c.price_quote);
                cols[2].push(c.gamma);
                cols[3].push(c.vega_per_vol_point);
                cols[4].push(c.theta_per_day);
            }
        }
        let [delta_coin, price_quote, gamma_quote, vega_pt, theta_day] = cols;
        d.set_item("delta_coin", delta_coin.into_pyarray(py))?;
        d.set_item("price_quote", price_quote.into_pyarray(py))?;
        d.set_item("gamma_quote", gamma_quote.into_pyarray(py))?;
        d.set_item("vega_per_vol_point", vega_pt.into_pyarray(py))?;
        d.set_item("theta_per_day", theta_day.into_pyarray(py))?;
    } else {
        let vega_pt: Vec<f64> = out.vega.iter().map(|v| v / 100.0).collect();
        let theta_day: Vec<f64> = out
            .theta
            .iter()
            .map(|t| t / intermargin_pricing::DAYS_PER_YEAR)
            .collect();
        d.set_item("vega_per_vol_point", vega_pt.into_pyarray(py))?;
        d.set_item("theta_per_day", theta_day.into_pyarray(py))?;
    }
    d.set_item("price", out.price.into_pyarray(py))?;
    d.set_item("delta", out.delta.into_pyarray(py))?;
    d.set_item("gamma", out.gamma.into_pyarray(py))?;
    d.set_item("vega", out.vega.into_pyarray(py))?;
    d.set_item("theta", out.theta.into_pyarray(py))?;
    d.set_item("vanna", out.vanna.into_pyarray(py))?;
    d.set_item("volga", out.volga.into_pyarray(py))?;
    Ok(d)
}

/// Implied vols of a batch of premiums; NaN where a premium is outside its no-arbitrage bounds,
/// or an [`InputError`] naming it when `strict`.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
#[pyo3(signature = (is_call, forward, strike, years, price, rate, inverse, strict))]
fn implied_vol_batch_py<'py>(
    py: Python<'py>,
    is_call: PyReadonlyArray1<'py, bool>,
    forward: Arr<'py>,
    strike: Arr<'py>,
    years: Arr<'py>,
    price: Arr<'py>,
    rate: Arr<'py>,
    inverse: bool,
    strict: bool,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let (c, f, k, t, p, r) = (
        is_call.as_slice()?,
        forward.as_slice()?,
        strike.as_slice()?,
        years.as_slice()?,
        price.as_slice()?,
        rate.as_slice()?,
    );
    let kind = kinds(c);
    let out = py.allow_threads(|| -> Result<Vec<f64>, PricingError> {
        let inp = BatchInputs {
            kind: &kind,
            forward: f,
            strike: k,
            years: t,
            vol_or_price: p,
            rate: r,
        };
        let mut out = vec![0.0; f.len()];
        if strict {
            implied_vol_batch_checked(&inp, inverse, &mut out)?;
        } else {
            implied_vol_batch(&inp, inverse, &mut out)?;
        }
        Ok(out)
    });
    Ok(out.map_err(|e| pricing_error(py, e))?.into_pyarray(py))
}

/// Parses a snapshot's JSON text; a structural error names the JSON path.
fn parse_snapshot(py: Python<'_>, text: &str) -> PyResult<Snapshot> {
    let snap = Snapshot::from_json(text)
        .map_err(|e| input_error(py, "snapshot", format!("snapshot: {e}")))?;
    Ok(snap)
}

fn value_error(py: Python<'_>, field: &str, e: impl std::fmt::Display) -> PyErr {
    input_error(py, field, format!("{field}: {e:#}"))
}

/// Venue API responses (name, JSON text) of one venue → canonical snapshot JSON.
#[pyfunction]
#[pyo3(signature = (venue, payloads, account))]
fn import_payloads(
    py: Python<'_>,
    venue: &str,
    payloads: Vec<(String, String)>,
    account: String,
) -> PyResult<String> {
    let venue: Venue = venue.parse().map_err(|e| value_error(py, "venue", e))?;
    if !intermargin_venues::SUPPORTED.contains(&venue) {
        return Err(input_error(
            py,
            "venue",
            format!("venue: no adapter for {venue}"),
        ));
    }
    let payloads: Vec<Payload> = payloads
        .into_iter()
        .map(|(name, text)| Payload::named(name, text))
        .collect();
    let snap = py
        .allow_threads(|| import(venue, &payloads, &ImportOptions { account }))
        .map_err(|e| value_error(py, "payloads", e))?;
    serde_json::to_string(&snap).map_err(|e| value_error(py, "snapshot", e))
}

/// Each venue's own margin (`model` None) or a portfolio model's document, as JSON text: the
/// document `intermargin margin [--model M] --json` prints.
#[pyfunction]
#[pyo3(signature = (snapshot, model))]
fn margin(py: Python<'_>, snapshot: &str, model: Option<&str>) -> PyResult<String> {
    let snap = parse_snapshot(py, snapshot)?;
    snap.validate()
        .map_err(|e| value_error(py, "snapshot", e))?;
    let doc = match model {
        None => py.allow_threads(|| venue_document(&snap)),
        Some(m) => {
            let model = Model::parse(m).ok_or_else(|| {
                input_error(
                    py,
                    "model",
                    format!("model: unknown model {m:?} (deribit-pm, span, sensitivity, unified)"),
                )
            })?;
            py.allow_threads(|| model_document(&snap, model))
        }
    }
    .map_err(|e| value_error(py, "snapshot", e))?;
    serde_json::to_string(&doc).map_err(|e| value_error(py, "snapshot", e))
}

fn venue_document(snap: &Snapshot) -> Result<Value, String> {
    let mut venues = Vec::new();
    for acc in &snap.portfolio.accounts {
        let v = intermargin_margin::venue_margins(acc, &snap.portfolio.assets, &snap.market)
            .map_err(|e| format!("account {:?}: {e}", acc.id))?;
        for m in v {
            let mut row = serde_json::to_value(&m).map_err(|e| e.to_string())?;
            if let Value::Object(o) = &mut row {
                let mut with_account = serde_json::Map::new();
                with_account.insert("account".into(), json!(acc.id));
                with_account.extend(std::mem::take(o));
                *o = with_account;
            }
            venues.push(row);
        }
    }
    Ok(json!({ "quote": snap.market.quote, "venues": venues }))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Model {
    DeribitPm,
    Span,
    Sensitivity,
    Unified,
}

impl Model {
    fn parse(s: &str) -> Option<Model> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "deribit-pm" => Some(Model::DeribitPm),
            "span" => Some(Model::Span),
            "sensitivity" => Some(Model::Sensitivity),
            "unified" => Some(Model::Unified),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Model::DeribitPm => "deribit-pm",
            Model::Span => "span",
            Model::Sensitivity => "sensitivity",
            Model::Unified => "unified",
        }
    }
}

struct AccountReport {
    account: String,
    siloed_total: f64,
    initial_margin: f64,
    maintenance_margin: f64,
    venues: Vec<Value>,
    explain: Vec<Explanation>,
    /// Unified model only: its account-level figures beyond IM/MM.
    unified: Option<UnifiedMargin>,
}

fn margin_account(
    model: Model,
    account: &Account,
    snap: &Snapshot,
) -> Result<AccountReport, String> {
    let market = &snap.market;
    let assets = &snap.portfolio.assets;
    let ctx = |e: &dyn std::fmt::Display| format!("account {:?}: {e}", account.id);
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
        Model::DeribitPm | Model::Span => {
            let params = if model == Model::Span {
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
        Model::Sensitivity => {
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
        Model::Unified => {
            let r = UnifiedModel::new(UnifiedParams::bundled().map_err(|e| ctx(&e))?)
                .margin(account, assets, market)
                .map_err(|e| ctx(&e))?;
            let venues = r
                .venues
                .iter()
                .map(|v| serde_json::to_value(v).unwrap_or(Value::Null))
                .collect();
            // The honest siloed baseline: the same scenarios venue by venue (as the CLI reports).
            siloed_total = r.siloed_total;
            let out = (
                r.initial_margin,
                r.maintenance_margin,
                venues,
                vec![r.explain.clone()],
            );
            extras = Some(r);
            out
        }
    };
    Ok(AccountReport {
        account: account.id.clone(),
        siloed_total,
        initial_margin: im,
        maintenance_margin: mm,
        venues,
        explain,
        unified: extras,
    })
}

fn model_document(snap: &Snapshot, model: Model) -> Result<Value, String> {
    let accounts: Vec<AccountReport> = snap
        .portfolio
        .accounts
        .iter()
        .map(|a| margin_account(model, a, snap))
        .collect::<Result<_, _>>()?;
    let siloed: f64 = accounts.iter().map(|a| a.siloed_total).sum();
    let im: f64 = accounts.iter().map(|a| a.initial_margin).sum();
    let mm: f64 = accounts.iter().map(|a| a.maintenance_margin).sum();
    let venues: Vec<Value> = accounts.iter().flat_map(|a| a.venues.clone()).collect();
    let to = |x: &Vec<Explanation>| serde_json::to_value(x).map_err(|e| e.to_string());
    let explain = match accounts.as_slice() {
        [one] if one.explain.len() == 1 => {
            serde_json::to_value(&one.explain[0]).map_err(|e| e.to_string())?
        }
        [one] => json!({ "pools": to(&one.explain)? }),
        many => {
            let mut list = Vec::new();
            for a in many {
                list.push(json!({"account": a.account, "pools": to(&a.explain)?}));
            }
            json!({ "accounts": list })
        }
    };
    let mut doc = json!({
        "model": model.name(),
        "currency": snap.market.quote,
        "siloed_total": siloed,
        "unified": { "initial_margin": im, "maintenance_margin": mm },
        "saving": siloed - im,
        "venues": venues,
        "explain": explain,
    });
    if model == Model::Unified {
        let (mut buffer, mut netting, mut pooled, mut local) = (0.0, 0.0, 0.0, 0.0);
        for e in accounts.iter().filter_map(|a| a.unified.as_ref()) {
            buffer += e.saving_split.pooled_buffer;
            netting += e.saving_split.credit_netting;
            pooled += e.pooled_requirement;
            local += e.local_minimum_total;
        }
        doc["saving_split"] = json!({"pooled_buffer": buffer, "credit_netting": netting});
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
                       "saving": a.siloed_total - a.initial_margin,
                       "saving_split": a.unified.as_ref().map(|e| e.saving_split),
                       "liquidates_first": a.unified.as_ref().and_then(|e| e.liquidates_first)})
                })
                .collect(),
        );
    }
    Ok(doc)
}

/// Target holdings and the transfer plan, as JSON text: the document `intermargin allocate
/// --json` prints.
#[pyfunction]
#[pyo3(signature = (snapshot, routes, requirement, venue_basis, account))]
fn allocate(
    py: Python<'_>,
    snapshot: &str,
    routes: &str,
    requirement: &str,
    venue_basis: &str,
    account: Option<String>,
) -> PyResult<String> {
    let snap = parse_snapshot(py, snapshot)?;
    let routes = RoutesFile::from_json(routes).map_err(|e| value_error(py, "routes", e))?;
    let kind = match requirement {
        "initial" => RequirementKind::Initial,
        "maintenance" => RequirementKind::Maintenance,
        other => {
            return Err(input_error(
                py,
                "requirement",
                format!("requirement: {other:?} is not initial or maintenance"),
            ))
        }
    };
    let local = match venue_basis {
        "auto" => routes.unified_location.is_some(),
        "siloed" => false,
        "local" => true,
        other => {
            return Err(input_error(
                py,
                "venue_basis",
                format!("venue_basis: {other:?} is not auto, siloed or local"),
            ))
        }
    };
    let accounts = &snap.portfolio.accounts;
    let acc = match &account {
        Some(id) => accounts.iter().find(|a| &a.id == id).ok_or_else(|| {
            input_error(
                py,
                "account",
                format!("account: no account {id:?} in the snapshot"),
            )
        })?,
        None => match accounts.as_slice() {
            [one] => one,
            _ => {
                return Err(input_error(
                    py,
                    "account",
                    format!(
                        "account: the snapshot has {} accounts, name one",
                        accounts.len()
                    ),
                ))
            }
        },
    };
    let doc = py
        .allow_threads(|| -> Result<Value, String> {
            let assets = &snap.portfolio.assets;
            let params =
                UnifiedParams::bundled().map_err(|e| format!("unified model parameters: {e}"))?;
            let close_out = params.horizon.close_out_s;
            let mut model = UnifiedModel::new(params);
            if let Some(cure) = routes.cure_horizon_s() {
                model = model.with_horizon_s(cure + close_out);
            }
            let unified = model
                .margin(acc, assets, &snap.market)
                .map_err(|e| format!("unified margin: {e}"))?;
            let (venues, total) = unified.location_requirements(kind, local);
            let problem = routes
                .problem(&snap.portfolio, acc, &snap.market, &venues, Some(total))
                .map_err(|e| format!("routes: {e}"))?;
            let allocation = solve_allocation(&problem).map_err(|e| e.to_string())?;
            let basis = if local {
                "local floors; pooled requirement at the hub"
            } else {
                "siloed venue margin"
            };
            let kind_name = if kind == RequirementKind::Initial {
                "initial"
            } else {
                "maintenance"
            };
            let mut doc = json!({
                "account": acc.id,
                "quote": snap.market.quote,
                "requirements_from": format!("margin models ({kind_name}; venues: {basis})"),
            });
            let body = serde_json::to_value(&allocation).map_err(|e| e.to_string())?;
            if let (Value::Object(d), Value::Object(b)) = (&mut doc, body) {
                d.extend(b);
            }
            add_decimal_amounts(&mut doc, assets);
            Ok(doc)
        })
        .map_err(|e| value_error(py, "snapshot", e))?;
    serde_json::to_string(&doc).map_err(|e| value_error(py, "snapshot", e))
}

/// Beside each transfer's base-unit `amount`, `fee` and `received`, the same integers as
/// `*_base` and the exact amounts in the asset's units as `*_decimal` (as the CLI prints them).
fn add_decimal_amounts(doc: &mut Value, assets: &[intermargin_model::Asset]) {
    let decimals: BTreeMap<&str, u32> = assets
        .iter()
        .map(|a| (a.symbol.as_str(), a.decimals))
        .collect();
    let Some(transfers) = doc.get_mut("transfers").and_then(|t| t.as_array_mut()) else {
        return;
    };
    for t in transfers {
        let Some(obj) = t.as_object_mut() else {
            continue;
        };
        let d = obj
            .get("asset")
            .and_then(|a| a.as_str())
            .and_then(|a| decimals.get(a).copied());
        for field in ["amount", "fee", "received"] {
            let Some(base) = obj.get(field).and_then(|v| v.as_str()).map(str::to_string) else {
                continue;
            };
            if let (Some(d), Ok(n)) = (d, base.parse::<i128>()) {
                obj.insert(
                    format!("{field}_decimal"),
                    Amount(n).to_decimal(d).normalize().to_string().into(),
                );
            }
            obj.insert(format!("{field}_base"), base.into());
        }
    }
}

/// The native module: pricing batches, import, margin, allocation.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("InputError", m.py().get_type::<InputError>())?;
    m.add("MAX_VOL", intermargin_pricing::MAX_VOL)?;
    m.add_function(wrap_pyfunction!(greeks_batch, m)?)?;
    m.add_function(wrap_pyfunction!(implied_vol_batch_py, m)?)?;
    m.add_function(wrap_pyfunction!(import_payloads, m)?)?;
    m.add_function(wrap_pyfunction!(margin, m)?)?;
    m.add_function(wrap_pyfunction!(allocate, m)?)?;
    Ok(())
}

//! `intermargin._native`: the Rust side of the Python package.
//!
//! Pricing works on whole numpy arrays: the inputs are borrowed (no copy when they are already
//! contiguous float64), the batch runs in `intermargin-pricing` with the GIL released, and the
//! outputs move into new numpy arrays without a copy. Snapshot-level calls (import, margin,
//! allocate) take and return JSON text; the Python wrapper turns it into plain dicts.
//!
//! The margin, allocation and what-if documents come from `intermargin-documents`, the library
//! the CLI prints `margin [--model M] --json`, `allocate --json` and `whatif --json` from; the
//! pytest suite checks that they are equal to the CLI's output on the bundled examples.

use intermargin_allocate::RoutesFile;
use intermargin_documents::{self as documents, DocumentError, PortfolioModel};
use intermargin_model::{Snapshot, Venue};
use intermargin_pricing::{
    coin_greeks_from_linear, implied_vol_batch, implied_vol_batch_checked,
    price_delta_gamma_vega_batch, price_greeks_batch, BatchGreeks, BatchInputs, OptionKind,
    PricingError,
};
use intermargin_venues::trade::{TradeSpec, MAX_TRADES};
use intermargin_venues::{import, ImportOptions, Payload};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::Value;

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

/// A document error as a Python exception: an input error names its field (`account`,
/// `model`, `trades[1].size`); an engine error is reported against `snapshot`.
fn document_error(py: Python<'_>, e: DocumentError) -> PyErr {
    match e {
        DocumentError::Input { field, reason } => {
            input_error(py, &field, format!("{field}: {reason}"))
        }
        DocumentError::Engine(m) => value_error(py, "snapshot", m),
    }
}

/// Each venue's own margin (`model` None) or a portfolio model's document, as JSON text: the
/// document `intermargin margin [--model M] --json` prints (`intermargin_documents`, which the
/// CLI prints).
#[pyfunction]
#[pyo3(signature = (snapshot, model))]
fn margin(py: Python<'_>, snapshot: &str, model: Option<&str>) -> PyResult<String> {
    let snap = parse_snapshot(py, snapshot)?;
    snap.validate()
        .map_err(|e| value_error(py, "snapshot", e))?;
    let model = model
        .map(PortfolioModel::parse)
        .transpose()
        .map_err(|e| document_error(py, e))?;
    let doc = py
        .allow_threads(|| match model {
            None => documents::venue_margin_document(&snap),
            Some(m) => documents::model_document(&snap, m),
        })
        .map_err(|e| document_error(py, e))?;
    serde_json::to_string(&doc).map_err(|e| value_error(py, "snapshot", e))
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
    let kind =
        documents::allocation::parse_requirement(requirement).map_err(|e| document_error(py, e))?;
    let basis = documents::VenueBasis::parse(venue_basis).map_err(|e| document_error(py, e))?;
    let acc =
        documents::pick_account(&snap, account.as_deref()).map_err(|e| document_error(py, e))?;
    let doc = py
        .allow_threads(|| {
            documents::allocation(
                &snap,
                &routes,
                acc,
                documents::Requirements::Modelled { kind, basis },
            )
            .and_then(|a| a.document(&snap.portfolio.assets))
        })
        .map_err(|e| document_error(py, e))?;
    serde_json::to_string(&doc).map_err(|e| value_error(py, "snapshot", e))
}

/// Each venue's margin, the unified requirement and the first venue to liquidate before and
/// after hypothetical trades, as JSON text: the document `intermargin whatif --json` prints.
/// `trades` is JSON text of a list whose items are the CLI's `VENUE:INSTRUMENT:SIZE[@PRICE]`
/// strings or `{"venue", "instrument", "size", "price"?}` objects (the API's form).
#[pyfunction]
#[pyo3(signature = (snapshot, trades, account))]
fn whatif(
    py: Python<'_>,
    snapshot: &str,
    trades: &str,
    account: Option<String>,
) -> PyResult<String> {
    let snap = parse_snapshot(py, snapshot)?;
    snap.validate()
        .map_err(|e| value_error(py, "snapshot", e))?;
    let list: Vec<Value> = serde_json::from_str(trades)
        .map_err(|e| input_error(py, "trades", format!("trades: expected a list ({e})")))?;
    if list.len() > MAX_TRADES {
        return Err(input_error(
            py,
            "trades",
            format!(
                "trades: {} trades exceed the limit of {MAX_TRADES}",
                list.len()
            ),
        ));
    }
    let specs = list
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(text) => TradeSpec::parse(&text, i).map_err(|e| {
                let field = format!("trades[{i}].{}", e.part);
                input_error(py, &field, format!("{field}: {}", e.message))
            }),
            other => {
                let de = serde_path_to_error::deserialize::<_, TradeSpec>(other);
                de.map_err(|e| {
                    let at = e.path().to_string();
                    let field = if at == "." || at.is_empty() {
                        format!("trades[{i}]")
                    } else {
                        format!("trades[{i}].{at}")
                    };
                    input_error(py, &field, format!("{field}: {}", e.inner()))
                })
            }
        })
        .collect::<PyResult<Vec<TradeSpec>>>()?;
    let doc = py
        .allow_threads(|| documents::whatif_document(&snap, account.as_deref(), &specs))
        .map_err(|e| document_error(py, e))?;
    serde_json::to_string(&doc).map_err(|e| value_error(py, "snapshot", e))
}

/// The native module: pricing batches, import, margin, allocation, what-if.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("InputError", m.py().get_type::<InputError>())?;
    m.add("MAX_VOL", intermargin_pricing::MAX_VOL)?;
    m.add_function(wrap_pyfunction!(greeks_batch, m)?)?;
    m.add_function(wrap_pyfunction!(implied_vol_batch_py, m)?)?;
    m.add_function(wrap_pyfunction!(import_payloads, m)?)?;
    m.add_function(wrap_pyfunction!(margin, m)?)?;
    m.add_function(wrap_pyfunction!(allocate, m)?)?;
    m.add_function(wrap_pyfunction!(whatif, m)?)?;
    Ok(())
}

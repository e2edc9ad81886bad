//! Parameter plumbing: the dated TOML files embedded in the binary, and the venue-published
//! overrides in `Market::venue_params` (shapes documented in `crates/venues/PARAMS.md`).

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use intermargin_model::Market;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::error::MarginError;

/// Parses an embedded parameter file into its typed form, naming the file on failure.
pub(crate) fn load<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, MarginError> {
    toml::from_str(text).map_err(|e| MarginError::Params {
        file: file.to_string(),
        field: e
            .span()
            .map(|s| format!("bytes {}..{}", s.start, s.end))
            .unwrap_or_default(),
        reason: e.message().to_string(),
    })
}

/// Provenance every parameter table carries: the page it follows and the date it was read.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Provenance {
    /// Documentation page the values follow.
    pub source: String,
    /// Date the values were taken (parameters change; the file is a dated fallback).
    pub as_of: String,
}

/// Venue-published parameters for `key` (instrument id, `venue:MARKET` or `venue`), if present.
pub(crate) fn published<'a>(market: &'a Market, key: &str) -> Option<&'a Value> {
    market.venue_params.get(key)
}

/// Error for a malformed venue-published parameter.
pub(crate) fn bad_param(path: &str, reason: impl Into<String>) -> MarginError {
    MarginError::Params {
        file: "market.venue_params".into(),
        field: path.to_string(),
        reason: reason.into(),
    }
}

/// Reads a number that venues publish either as a JSON number or as a decimal string.
pub(crate) fn num(v: &Value, path: &str) -> Result<f64, MarginError> {
    finite_number(v).ok_or_else(|| {
        bad_param(
            path,
            format!("expected a number or decimal string, got {v}"),
        )
    })
}

/// The finite number a JSON number or decimal string holds ([`num`] without the error).
fn finite_number(v: &Value) -> Option<f64> {
    let x = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if s.trim().is_empty() => Some(0.0),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    x.filter(|x| x.is_finite())
}

/// Field `name` of an object as a number; `Ok(None)` when absent or null.
pub(crate) fn opt_num(obj: &Value, name: &str, path: &str) -> Result<Option<f64>, MarginError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        // The field's path is spelled out only for an error.
        Some(v) => match finite_number(v) {
            Some(x) => Ok(Some(x)),
            None => num(v, &format!("{path}.{name}")).map(Some),
        },
    }
}

/// The first of several accepted field names that is present, as a number.
pub(crate) fn num_any(obj: &Value, names: &[&str], path: &str) -> Result<Option<f64>, MarginError> {
    for n in names {
        if let Some(x) = opt_num(obj, n, path)? {
            return Ok(Some(x));
        }
    }
    Ok(None)
}

/// The array inside a published value: the value itself, or its field named one of `names`.
pub(crate) fn array_of<'a>(
    v: &'a Value,
    names: &[&str],
    path: &str,
) -> Result<(&'a Vec<Value>, String), MarginError> {
    if let Value::Array(a) = v {
        return Ok((a, path.to_string()));
    }
    for n in names {
        if let Some(Value::Array(a)) = v.get(n) {
            return Ok((a, format!("{path}.{n}")));
        }
    }
    Err(bad_param(
        path,
        format!("expected an array or an object with one of the fields {names:?}"),
    ))
}

/// A compiled table and the published value it was compiled from.
type Compiled = (Value, Arc<dyn Any + Send + Sync>);

thread_local! {
    /// Tables compiled from venue-published values, by kind then key ([`compiled`]).
    static COMPILED: RefCell<HashMap<&'static str, HashMap<String, Compiled>>> =
        RefCell::new(HashMap::new());
}

/// Most compiled tables of one kind kept per thread before that cache starts afresh.
const COMPILED_MAX: usize = 4_096;

/// The table `build` compiles from the venue-published value `v` (found under `key`, parsed as
/// `kind`), compiled once and kept per thread while the published value stays equal (compared in
/// full, so a market carrying other parameters under the same key compiles them anew): the JSON
/// is read once per parameters version instead of on every call. Errors are not kept.
pub(crate) fn compiled<T: Send + Sync + 'static>(
    kind: &'static str,
    key: &str,
    v: &Value,
    build: impl FnOnce() -> Result<T, MarginError>,
) -> Result<Arc<T>, MarginError> {
    let hit = COMPILED.with(|c| {
        c.borrow()
            .get(kind)
            .and_then(|m| m.get(key))
            .and_then(|(value, t)| (value == v).then(|| t.clone()))
    });
    if let Some(t) = hit.and_then(|t| t.downcast::<T>().ok()) {
        return Ok(t);
    }
    let t = Arc::new(build()?);
    COMPILED.with(|c| {
        let mut c = c.borrow_mut();
        let m = c.entry(kind).or_default();
        if m.len() >= COMPILED_MAX {
            m.clear();
        }
        m.insert(
            key.to_string(),
            (v.clone(), t.clone() as Arc<dyn Any + Send + Sync>),
        );
    });
    Ok(t)
}

//! The venue parameter files as files: which the binary ships, where each table's numbers come
//! from and how old they are ([`audit`]), what changed between two versions ([`diff`]), and
//! a venue model built from another version of its file ([`model_with_params`]), so that
//! `intermargin params diff --snapshot` can show how a change moves each account's margin.

use intermargin_model::Venue;
use serde::Serialize;
use toml::Value;

use super::{aave, binance, bybit, deribit, dydx, hyperliquid, okx};
use crate::error::MarginError;
use crate::report::MarginModel;

/// The venue parameter files embedded in the binary: venue, path in the crate, text.
pub const SHIPPED: [(Venue, &str, &str); 9] = [
    (
        Venue::Aave,
        "params/aave.toml",
        include_str!("../../params/aave.toml"),
    ),
    (
        Venue::Binance,
        "params/binance.toml",
        include_str!("../../params/binance.toml"),
    ),
    (
        Venue::Bybit,
        "params/bybit.toml",
        include_str!("../../params/bybit.toml"),
    ),
    (
        Venue::Deribit,
        "params/deribit.toml",
        include_str!("../../params/deribit.toml"),
    ),
    (
        Venue::Dydx,
        "params/dydx.toml",
        include_str!("../../params/dydx.toml"),
    ),
    (
        Venue::Hyperliquid,
        "params/hyperliquid.toml",
        include_str!("../../params/hyperliquid.toml"),
    ),
    (
        Venue::Okx,
        "params/okx.toml",
        include_str!("../../params/okx.toml"),
    ),
    // Option rules of venues whose main file holds their futures tiers; `shipped(venue)` finds
    // the main file first.
    (
        Venue::Okx,
        "params/okx_options.toml",
        include_str!("../../params/okx_options.toml"),
    ),
    (
        Venue::Bybit,
        "params/bybit_options.toml",
        include_str!("../../params/bybit_options.toml"),
    ),
];

/// The shipped parameter file of `venue`, if it has one.
pub fn shipped(venue: Venue) -> Option<(&'static str, &'static str)> {
    SHIPPED
        .iter()
        .find(|(v, _, _)| *v == venue)
        .map(|(_, f, t)| (*f, *t))
}

/// A venue's standard rules built from the text of a parameter file of that venue's format.
pub fn model_with_params(
    venue: Venue,
    file: &str,
    text: &str,
) -> Result<Box<dyn MarginModel>, MarginError> {
    let p = |e: MarginError| match e {
        MarginError::Params { field, reason, .. } => MarginError::Params {
            file: file.to_string(),
            field,
            reason,
        },
        other => other,
    };
    Ok(match venue {
        Venue::Aave => Box::new(aave::AaveV3::with_params(
            aave::AaveParams::from_toml(text).map_err(p)?,
        )),
        Venue::Binance => Box::new(binance::BinanceUsdm::with_params(
            binance::BinanceParams::from_toml(text).map_err(p)?,
        )),
        Venue::Bybit => Box::new(bybit::BybitRiskLimit::with_params(
            bybit::BybitParams::from_toml(text).map_err(p)?,
        )),
        Venue::Deribit => Box::new(deribit::DeribitStandard::with_params(
            deribit::DeribitParams::from_toml(text).map_err(p)?,
        )),
        Venue::Dydx => Box::new(dydx::DydxV4::with_params(
            dydx::DydxParams::from_toml(text).map_err(p)?,
        )),
        Venue::Hyperliquid => Box::new(hyperliquid::HyperliquidPerps::with_params(
            hyperliquid::HyperliquidParams::from_toml(text).map_err(p)?,
        )),
        Venue::Okx => Box::new(okx::OkxTiered::with_params(
            okx::OkxParams::from_toml(text).map_err(p)?,
        )),
        other => {
            return Err(MarginError::Unsupported {
                field: "venue".into(),
                reason: format!("{other} has no parameter file"),
            })
        }
    })
}

/// Where one table's numbers come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableProvenance {
    /// Dotted table path (`symbols.BTCUSDT`).
    pub table: String,
    /// Page the numbers follow.
    pub source: String,
    /// Date they were read (`YYYY-MM-DD`).
    pub as_of: String,
    /// Days from `as_of` to the audit date.
    pub age_days: i64,
}

/// One file's provenance, table by table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileAudit {
    /// File name.
    pub file: String,
    /// Every table that holds values, with the source and date it carries or inherits.
    pub tables: Vec<TableProvenance>,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DD` into days since the epoch, refusing anything else (a real calendar date).
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = s[0..4].parse().ok()?;
    let m: u32 = s[5..7].parse().ok()?;
    let d: u32 = s[8..10].parse().ok()?;
    if !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let dim = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if d > dim[(m - 1) as usize] {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

fn bad(file: &str, field: String, reason: impl Into<String>) -> MarginError {
    MarginError::Params {
        file: file.to_string(),
        field,
        reason: reason.into(),
    }
}

/// Every table of `text` that holds values must carry `source` and `as_of` (its own or an
/// enclosing table's); `as_of` must be a `YYYY-MM-DD` date not after `today` (days since
/// the epoch). The error names the file, the table and what is missing.
pub fn audit(file: &str, text: &str, today: i64) -> Result<FileAudit, MarginError> {
    let root: toml::Table = toml::from_str(text).map_err(|e| {
        bad(
            file,
            String::new(),
            format!("cannot parse: {}", e.message()),
        )
    })?;
    let mut tables = Vec::new();
    walk_audit(file, &root, "", None, None, today, &mut tables)?;
    if tables.is_empty() {
        return Err(bad(file, "(file)".into(), "holds no parameter values"));
    }
    Ok(FileAudit {
        file: file.to_string(),
        tables,
    })
}

fn walk_audit(
    file: &str,
    t: &toml::Table,
    path: &str,
    source: Option<&str>,
    as_of: Option<&str>,
    today: i64,
    out: &mut Vec<TableProvenance>,
) -> Result<(), MarginError> {
    let here = |k: &str| -> Result<Option<&str>, MarginError> {
        match t.get(k) {
            None => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.as_str())),
            Some(_) => Err(bad(file, join(path, k), "must be a non-empty string")),
        }
    };
    let source = here("source")?.or(source);
    let as_of = here("as_of")?.or(as_of);
    // A table holds values when any key other than its provenance is not a sub-table; rows of
    // an array of tables (tiers, brackets) are its values and inherit its provenance.
    let holds_values = t
        .iter()
        .any(|(k, v)| k != "source" && k != "as_of" && !v.is_table());
    if holds_values && !path.is_empty() {
        let table = path.to_string();
        let source = source.ok_or_else(|| {
            bad(
                file,
                table.clone(),
                "no `source`: every parameter table must cite the page its numbers follow",
            )
        })?;
        let date = as_of.ok_or_else(|| {
            bad(
                file,
                table.clone(),
                "no `as_of`: every parameter table must say when its numbers were read",
            )
        })?;
        let day = parse_date(date).ok_or_else(|| {
            bad(
                file,
                join(&table, "as_of"),
                format!("{date:?} is not a YYYY-MM-DD date"),
            )
        })?;
        if day > today {
            return Err(bad(
                file,
                join(&table, "as_of"),
                format!("{date} is in the future"),
            ));
        }
        out.push(TableProvenance {
            table,
            source: source.to_string(),
            as_of: date.to_string(),
            age_days: today - day,
        });
    }
    for (k, v) in t {
        match v {
            Value::Table(sub) => walk_audit(file, sub, &join(path, k), source, as_of, today, out)?,
            Value::Array(a) if is_table_array(v) => {
                for (i, x) in a.iter().enumerate() {
                    // A row is audited on its own only when it cites its own provenance.
                    if let Some(sub) = x
                        .as_table()
                        .filter(|r| r.contains_key("source") || r.contains_key("as_of"))
                    {
                        let p = format!("{}[{i}]", join(path, k));
                        walk_audit(file, sub, &p, source, as_of, today, out)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn is_table_array(v: &Value) -> bool {
    matches!(v, Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_table))
}

fn join(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_string()
    } else {
        format!("{path}.{k}")
    }
}

/// One changed value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamChange {
    /// Dotted path of the value (`symbols.BTCUSDT.brackets[2].maint_margin_ratio`).
    pub path: String,
    /// `changed`, `added` or `removed`.
    pub change: String,
    /// The old value (TOML), when it existed.
    pub old: Option<String>,
    /// The new value (TOML), when it exists.
    pub new: Option<String>,
}

/// Every value that differs between two versions of a parameter file, in path order.
pub fn diff(
    old_file: &str,
    old: &str,
    new_file: &str,
    new: &str,
) -> Result<Vec<ParamChange>, MarginError> {
    let parse = |file: &str, text: &str| -> Result<Value, MarginError> {
        toml::from_str::<toml::Table>(text)
            .map(Value::Table)
            .map_err(|e| {
                bad(
                    file,
                    String::new(),
                    format!("cannot parse: {}", e.message()),
                )
            })
    };
    let (a, b) = (parse(old_file, old)?, parse(new_file, new)?);
    let mut out = Vec::new();
    walk_diff("", Some(&a), Some(&b), &mut out);
    Ok(out)
}

fn render(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn walk_diff(path: &str, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<ParamChange>) {
    match (a, b) {
        (Some(Value::Table(x)), Some(Value::Table(y))) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                walk_diff(&join(path, k), x.get(k), y.get(k), out);
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y)))
            if x.iter().chain(y.iter()).all(Value::is_table) =>
        {
            for i in 0..x.len().max(y.len()) {
                walk_diff(&format!("{path}[{i}]"), x.get(i), y.get(i), out);
            }
        }
        (Some(x), Some(y)) if x == y => {}
        (Some(x), Some(y)) => out.push(ParamChange {
            path: path.to_string(),
            change: "changed".into(),
            old: Some(render(x)),
            new: Some(render(y)),
        }),
        (Some(x), None) => out.push(ParamChange {
            path: path.to_string(),
            change: "removed".into(),
            old: Some(render(x)),
            new: None,
        }),
        (None, Some(y)) => out.push(ParamChange {
            path: path.to_string(),
            change: "added".into(),
            old: None,
            new: Some(render(y)),
        }),
        (None, None) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_match_known_dates() {
        // 1970-01-01 is day 0; 2000-03-01 is day 11,017; 2026-12-02 is day 20,789
        // (56 years of 365 days + 14 leap days 1972…2024 = 20,454, + 335 days to 2 December).
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2000-03-01"), Some(11_017));
        assert_eq!(parse_date("2026-12-02"), Some(20_789));
        assert_eq!(parse_date("2025-02-29"), None);
        assert_eq!(
            parse_date("2024-02-29"),
            Some(parse_date("2024-02-28").unwrap() + 1)
        );
        assert_eq!(parse_date("26-12-02"), None);
    }

    #[test]
    fn every_shipped_file_cites_a_source_and_a_date_for_every_table() {
        let today = parse_date("2026-12-02").unwrap();
        for (_, file, text) in SHIPPED {
            let a = audit(file, text, today).unwrap();
            assert!(!a.tables.is_empty(), "{file}");
        }
    }

    #[test]
    fn a_table_without_as_of_is_named() {
        let text = "[symbols.X]\nsource = \"https://example.org\"\nmmr = 0.01\n";
        let e = audit("x.toml", text, 20_000).unwrap_err().to_string();
        assert!(
            e.contains("x.toml") && e.contains("symbols.X") && e.contains("as_of"),
            "{e}"
        );
        let text = "[symbols.X]\nas_of = \"2026-01-01\"\nmmr = 0.01\n";
        let e = audit("x.toml", text, 30_000).unwrap_err().to_string();
        assert!(e.contains("symbols.X") && e.contains("source"), "{e}");
    }

    #[test]
    fn diff_names_each_changed_added_and_removed_value() {
        let a = "[s.X]\nsource = \"a\"\nmmr = 0.01\ntiers = [{cap = 1}, {cap = 2}]\n";
        let b = "[s.X]\nsource = \"a\"\nmmr = 0.02\nimr = 0.1\ntiers = [{cap = 1}]\n";
        // A removed tier is one change (the whole row), not one per field.
        let d = diff("a", a, "b", b).unwrap();
        let paths: Vec<(&str, &str)> = d
            .iter()
            .map(|c| (c.path.as_str(), c.change.as_str()))
            .collect();
        assert_eq!(
            paths,
            vec![
                ("s.X.imr", "added"),
                ("s.X.mmr", "changed"),
                ("s.X.tiers[1]", "removed")
            ]
        );
        assert_eq!(d[1].old.as_deref(), Some("0.01"));
        assert_eq!(d[1].new.as_deref(), Some("0.02"));
    }
}

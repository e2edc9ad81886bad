//! A cursor over `serde_json::Value` that remembers its JSON path, so every error names the field.

use std::str::FromStr;

use intermargin_model::Venue;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde_json::Value;

use crate::error::VenueError;

/// Which venue and file a payload came from, for error messages.
#[derive(Debug, Clone)]
pub struct Source {
    /// Venue whose payload it is.
    pub venue: Venue,
    /// File name, when read from a file.
    pub file: Option<String>,
}

impl Source {
    pub(crate) fn file_label(&self) -> String {
        match &self.file {
            Some(f) => format!(" ({f})"),
            None => String::new(),
        }
    }

    pub(crate) fn unrecognised(&self, reason: impl Into<String>) -> VenueError {
        VenueError::Unrecognised {
            venue: self.venue,
            file: self.file_label(),
            reason: reason.into(),
        }
    }
}

/// A JSON value together with its path from the payload root.
#[derive(Clone, Debug)]
pub(crate) struct Node<'a> {
    pub src: &'a Source,
    pub v: &'a Value,
    pub path: String,
}

/// Describes a JSON value's type and (short) content for an error message.
pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => {
            let short: String = s.chars().take(40).collect();
            format!("the string {short:?}")
        }
        Value::Array(_) => "an array".to_string(),
        Value::Object(_) => "an object".to_string(),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl<'a> Node<'a> {
    pub fn root(src: &'a Source, v: &'a Value) -> Self {
        Node {
            src,
            v,
            path: String::new(),
        }
    }

    /// An error about this node.
    pub fn err(&self, reason: impl Into<String>) -> VenueError {
        VenueError::Field {
            venue: self.src.venue,
            file: self.src.file_label(),
            path: if self.path.is_empty() {
                "(root)".to_string()
            } else {
                self.path.clone()
            },
            reason: reason.into(),
        }
    }

    fn expected(&self, what: &str) -> VenueError {
        self.err(format!("expected {what}, got {}", describe(self.v)))
    }

    pub fn is_object(&self) -> bool {
        self.v.is_object()
    }

    pub fn is_array(&self) -> bool {
        self.v.is_array()
    }

    /// True when the object has the key (with any value, even null).
    pub fn has(&self, key: &str) -> bool {
        self.v.get(key).is_some()
    }

    /// A required field of an object.
    pub fn get(&self, key: &str) -> Result<Node<'a>, VenueError> {
        let obj = self
            .v
            .as_object()
            .ok_or_else(|| self.expected("an object"))?;
        match obj.get(key) {
            Some(v) => Ok(Node {
                src: self.src,
                v,
                path: join(&self.path, key),
            }),
            None => Err(VenueError::Field {
                venue: self.src.venue,
                file: self.src.file_label(),
                path: join(&self.path, key),
                reason: "required field is missing".to_string(),
            }),
        }
    }

    /// An optional field: `None` when absent or null.
    pub fn opt(&self, key: &str) -> Result<Option<Node<'a>>, VenueError> {
        let obj = self
            .v
            .as_object()
            .ok_or_else(|| self.expected("an object"))?;
        Ok(obj.get(key).filter(|v| !v.is_null()).map(|v| Node {
            src: self.src,
            v,
            path: join(&self.path, key),
        }))
    }

    /// The elements of an array.
    pub fn array(&self) -> Result<Vec<Node<'a>>, VenueError> {
        let arr = self.v.as_array().ok_or_else(|| self.expected("an array"))?;
        Ok(arr
            .iter()
            .enumerate()
            .map(|(i, v)| Node {
                src: self.src,
                v,
                path: format!("{}[{i}]", self.path),
            })
            .collect())
    }

    /// The entries of an object, in key order.
    pub fn entries(&self) -> Result<Vec<(String, Node<'a>)>, VenueError> {
        let obj = self
            .v
            .as_object()
            .ok_or_else(|| self.expected("an object"))?;
        Ok(obj
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    Node {
                        src: self.src,
                        v,
                        path: format!("{}[{k:?}]", self.path),
                    },
                )
            })
            .collect())
    }

    /// A string value.
    pub fn str(&self) -> Result<&'a str, VenueError> {
        self.v.as_str().ok_or_else(|| self.expected("a string"))
    }

    /// A non-empty string value.
    pub fn nonempty_str(&self) -> Result<&'a str, VenueError> {
        let s = self.str()?;
        if s.trim().is_empty() {
            Err(self.err("expected a non-empty string, got \"\""))
        } else {
            Ok(s)
        }
    }

    /// A boolean, also accepting the strings `"true"`/`"false"` (Binance `isAutoAddMargin`).
    pub fn bool(&self) -> Result<bool, VenueError> {
        match self.v {
            Value::Bool(b) => Ok(*b),
            Value::String(s) if s == "true" => Ok(true),
            Value::String(s) if s == "false" => Ok(false),
            _ => Err(self.expected("a boolean")),
        }
    }

    /// An exact decimal from a decimal string (`"0.0065"`) or a JSON number (`-1e-8`).
    pub fn decimal(&self) -> Result<Decimal, VenueError> {
        let text = match self.v {
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) => n.to_string(),
            _ => return Err(self.expected("a decimal string")),
        };
        parse_decimal(&text).ok_or_else(|| self.expected("a decimal string"))
    }

    /// A decimal, or `None` for absent, null and `""` (venues send `""` for "not applicable").
    pub fn opt_decimal(&self, key: &str) -> Result<Option<Decimal>, VenueError> {
        match self.opt(key)? {
            None => Ok(None),
            Some(n) if n.v.as_str().is_some_and(|s| s.trim().is_empty()) => Ok(None),
            Some(n) => n.decimal().map(Some),
        }
    }

    /// A required decimal field.
    pub fn dec(&self, key: &str) -> Result<Decimal, VenueError> {
        self.get(key)?.decimal()
    }

    /// A finite `f64` (risk figure) read through an exact decimal.
    pub fn f64(&self) -> Result<f64, VenueError> {
        let d = self.decimal()?;
        d.to_f64()
            .filter(|x| x.is_finite())
            .ok_or_else(|| self.err(format!("{d} is not representable as a number")))
    }

    /// A required `f64` field.
    pub fn num(&self, key: &str) -> Result<f64, VenueError> {
        self.get(key)?.f64()
    }

    /// An optional `f64` field (absent, null and `""` give `None`).
    pub fn opt_num(&self, key: &str) -> Result<Option<f64>, VenueError> {
        match self.opt(key)? {
            None => Ok(None),
            Some(n) if n.v.as_str().is_some_and(|s| s.trim().is_empty()) => Ok(None),
            Some(n) => n.f64().map(Some),
        }
    }

    /// An optional decimal field divided exactly by `divisor` (percent → fraction), as `f64`.
    pub fn opt_num_div(&self, key: &str, divisor: i64) -> Result<Option<f64>, VenueError> {
        let Some(d) = self.opt_decimal(key)? else {
            return Ok(None);
        };
        let q = d
            .checked_div(Decimal::from(divisor))
            .ok_or_else(|| self.err(format!("{key}: {d} / {divisor} overflows")))?;
        q.to_f64()
            .filter(|x| x.is_finite())
            .map(Some)
            .ok_or_else(|| self.err(format!("{key}: {q} is not representable as a number")))
    }

    /// An optional leverage-like field that must be > 0 when present (absent, null and `""` give
    /// `None`); `0` or a negative value is refused, never replaced by a default.
    pub fn opt_positive(&self, key: &str) -> Result<Option<f64>, VenueError> {
        match self.opt_num(key)? {
            Some(x) if x <= 0.0 => Err(self.get(key)?.err(format!("must be > 0, got {x}"))),
            other => Ok(other),
        }
    }

    /// An optional string field that must be one of `allowed` when present.
    pub fn opt_enum(&self, key: &str, allowed: &[&'a str]) -> Result<Option<&'a str>, VenueError> {
        match self.opt(key)? {
            None => Ok(None),
            Some(n) => {
                let s = n.str()?;
                match allowed.iter().find(|a| **a == s) {
                    Some(a) => Ok(Some(*a)),
                    None => Err(n.err(format!("expected one of {allowed:?}, got {s:?}"))),
                }
            }
        }
    }

    /// An integer from a JSON integer or an integer string (`"1705449605015"`).
    pub fn i64(&self) -> Result<i64, VenueError> {
        match self.v {
            Value::Number(n) => n.as_i64().ok_or_else(|| self.expected("an integer")),
            Value::String(s) => s.trim().parse().map_err(|_| self.expected("an integer")),
            _ => Err(self.expected("an integer")),
        }
    }

    /// An optional identifier sent as a string or an integer (order ids), as text.
    pub fn opt_id(&self, key: &str) -> Result<Option<String>, VenueError> {
        match self.opt(key)? {
            None => Ok(None),
            Some(n) => match n.v {
                Value::String(s) if s.trim().is_empty() => Ok(None),
                Value::String(s) => Ok(Some(s.clone())),
                Value::Number(x) => Ok(Some(x.to_string())),
                _ => Err(n.expected("an id string or integer")),
            },
        }
    }

    /// An optional integer field (absent, null and `""` give `None`).
    pub fn opt_i64(&self, key: &str) -> Result<Option<i64>, VenueError> {
        match self.opt(key)? {
            None => Ok(None),
            Some(n) if n.v.as_str().is_some_and(|s| s.trim().is_empty()) => Ok(None),
            Some(n) => n.i64().map(Some),
        }
    }
}

/// Parses a decimal in plain (`"0.0065"`) or scientific (`"-1e-8"`) notation exactly.
pub(crate) fn parse_decimal(text: &str) -> Option<Decimal> {
    if text.is_empty() {
        return None;
    }
    if text.contains(['e', 'E']) {
        Decimal::from_scientific(text).ok()
    } else {
        Decimal::from_str(text)
            .ok()
            .or_else(|| Decimal::from_str_exact(text).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn src() -> Source {
        Source {
            venue: Venue::Deribit,
            file: None,
        }
    }

    #[test]
    fn decimals_parse_exactly_from_strings_and_numbers() {
        assert_eq!(parse_decimal("-1e-8").unwrap().to_string(), "-0.00000001");
        assert_eq!(parse_decimal("-9e-9").unwrap().to_string(), "-0.000000009");
        assert_eq!(parse_decimal("0.0065").unwrap().to_string(), "0.0065");
        assert_eq!(parse_decimal("1.50").unwrap().to_string(), "1.50");
        assert!(parse_decimal("").is_none());
        assert!(parse_decimal("abc").is_none());
        let s = src();
        let v = json!({"a": -1e-8, "b": "126.72469206"});
        let n = Node::root(&s, &v);
        assert_eq!(n.dec("a").unwrap().to_string(), "-0.00000001");
        assert_eq!(n.dec("b").unwrap().to_string(), "126.72469206");
    }

    #[test]
    fn errors_name_the_json_path_and_the_reason() {
        let s = src();
        let v = json!({"result": [{"size": 1}, {"size": 2}, {"size": null}]});
        let n = Node::root(&s, &v);
        let rows = n.get("result").unwrap().array().unwrap();
        let e = rows[2].dec("size").unwrap_err().to_string();
        assert_eq!(
            e,
            "deribit payload: result[2].size: expected a decimal string, got null"
        );
        let e = rows[0].get("kind").unwrap_err().to_string();
        assert_eq!(
            e,
            "deribit payload: result[0].kind: required field is missing"
        );
    }
}

//! Generic EIP-712 hashing of `eth_signTypedData_v4` JSON documents, so a user can check
//! the digest of anything they are asked to sign.
//!
//! Built on `alloy-dyn-abi`'s [`TypedData`] (the maintained implementation): it resolves
//! the type graph (nested structs, arrays of structs, dynamic `bytes`/`string`, `bytesN`,
//! `intN`/`uintN`, `address`, `bool`) and produces `keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message))`.
//!
//! Big numbers: wallets and eth-account accept a `uint256`/`int256` written as a bare JSON integer
//! beyond 64 bits (`1000000000000000000000000000000`). `serde_json` without its workspace-wide
//! `arbitrary_precision` feature would read such a literal as an `f64` (`1e+30`) and lose digits,
//! so [`parse_typed_data`] first rewrites every integer literal outside `i64`/`u64` into the
//! decimal string it spells (exact; strings are accepted for integer types); fractions and
//! exponents stay numbers and are refused for integer types, as eth-account refuses floats.
//!
//! Lenient values: eth-account also hashes a `bool` given as a number (`0` false, else true) or a
//! string (`""`, `"false"`, `"False"`, `"0"` false, else true), `bytes`/`bytesN` given as non-hex
//! text (its UTF-8 bytes) or as a number (its minimal big-endian bytes), and a `bytesN` shorter than
//! N bytes (right-padded with zeros, as the ABI pads). [`parse_typed_data`] rewrites these into
//! canonical values with the same meaning before hashing; a `bytesN` longer than N is refused
//! naming its JSON path. Still refused, unlike eth-account: a `string` given as a number, a
//! missing (`null`) field, and a `bytes` given as an integer literal beyond 64 bits.

use alloy_dyn_abi::TypedData;
use alloy_primitives::B256;

use crate::error::XchainError;

/// The hashes that make up an EIP-712 digest, so each step can be compared with a reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypedDataHashes {
    /// `keccak256(encodeType(primaryType))`.
    pub type_hash: B256,
    /// `hashStruct(primaryType, message)`.
    pub struct_hash: B256,
    /// `hashStruct(EIP712Domain, domain)`.
    pub domain_separator: B256,
    /// The digest that is signed.
    pub digest: B256,
}

/// Parses an `eth_signTypedData_v4` document (big integer literals kept exact, see module docs).
pub fn parse_typed_data(text: &str) -> Result<TypedData, XchainError> {
    let text = quote_big_integers(text);
    let mut doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| XchainError::TypedData(format!("parse: {e}")))?;
    normalize_lenient_values(&mut doc)?;
    serde_json::from_value(doc).map_err(|e| XchainError::TypedData(format!("parse: {e}")))
}

/// Field lists by struct name, from the document's `types`.
type Fields = std::collections::HashMap<String, Vec<(String, String)>>;

/// Rewrites the lenient `bool` and `bytes` forms eth-account accepts into canonical values (see
/// module docs), in `message` (under `primaryType`) and in `domain` (under `EIP712Domain`).
fn normalize_lenient_values(doc: &mut serde_json::Value) -> Result<(), XchainError> {
    use serde_json::Value;
    let mut types = Fields::new();
    if let Some(Value::Object(ts)) = doc.get("types") {
        for (name, fields) in ts {
            let list = fields
                .as_array()
                .map(|fs| {
                    fs.iter()
                        .filter_map(|f| {
                            Some((
                                f.get("name")?.as_str()?.to_string(),
                                f.get("type")?.as_str()?.to_string(),
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default();
            types.insert(name.clone(), list);
        }
    }
    let primary = doc
        .get("primaryType")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let (Some(p), Some(m)) = (primary, doc.get_mut("message")) {
        normalize_value(&types, &p, m, "message")?;
    }
    if types.contains_key("EIP712Domain") {
        if let Some(d) = doc.get_mut("domain") {
            normalize_value(&types, "EIP712Domain", d, "domain")?;
        }
    }
    Ok(())
}

fn normalize_value(
    types: &Fields,
    ty: &str,
    v: &mut serde_json::Value,
    path: &str,
) -> Result<(), XchainError> {
    use serde_json::Value;
    if let (Some(open), true) = (ty.rfind('['), ty.ends_with(']')) {
        if let Value::Array(items) = v {
            for (i, item) in items.iter_mut().enumerate() {
                normalize_value(types, &ty[..open], item, &format!("{path}[{i}]"))?;
            }
        }
        return Ok(());
    }
    if let Some(fields) = types.get(ty) {
        if let Value::Object(obj) = v {
            for (name, fty) in fields {
                if let Some(fv) = obj.get_mut(name) {
                    normalize_value(types, fty, fv, &format!("{path}.{name}"))?;
                }
            }
        }
        return Ok(());
    }
    match ty {
        "bool" => {
            let b = match &*v {
                Value::Number(n) => Some(n.as_f64().is_some_and(|x| x != 0.0)),
                Value::String(s) => {
                    Some(!(s.is_empty() || matches!(s.as_str(), "false" | "False" | "0")))
                }
                _ => None,
            };
            if let Some(b) = b {
                *v = Value::Bool(b);
            }
        }
        "bytes" => {
            if let Some(bytes) = lenient_bytes(v) {
                *v = Value::String(format!("0x{}", alloy_primitives::hex::encode(bytes)));
            }
        }
        t if t.starts_with("bytes") => {
            let Ok(n) = t[5..].parse::<usize>() else {
                return Ok(());
            };
            if let Some(mut bytes) = lenient_bytes(v) {
                if bytes.len() > n {
                    return Err(XchainError::TypedData(format!(
                        "{path}: {} bytes do not fit {t}",
                        bytes.len()
                    )));
                }
                bytes.resize(n, 0);
                *v = Value::String(format!("0x{}", alloy_primitives::hex::encode(bytes)));
            }
        }
        _ => {}
    }
    Ok(())
}

/// The bytes eth-account derives from a `bytes`/`bytesN` value: `0x` hex (odd length padded on the
/// left), other text as UTF-8, a non-negative integer as minimal big-endian bytes (0 and negatives
/// as one zero byte), a bool as one byte.
fn lenient_bytes(v: &serde_json::Value) -> Option<Vec<u8>> {
    use serde_json::Value;
    match v {
        Value::String(s) => {
            let hex = s
                .strip_prefix("0x")
                .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()));
            Some(match hex {
                Some(h) if h.len() % 2 == 1 => {
                    alloy_primitives::hex::decode(format!("0{h}")).ok()?
                }
                Some(h) => alloy_primitives::hex::decode(h).ok()?,
                None => s.as_bytes().to_vec(),
            })
        }
        Value::Number(n) => {
            let x = n.as_u64().or_else(|| n.as_i64().map(|_| 0))?;
            let b = x.to_be_bytes();
            let first = b.iter().position(|&c| c != 0).unwrap_or(7);
            Some(b[first..].to_vec())
        }
        Value::Bool(b) => Some(vec![u8::from(*b)]),
        _ => None,
    }
}

/// Rewrites every JSON integer literal that fits neither `i64` nor `u64` as a string holding the
/// same digits; everything else (strings, fractions, exponents, malformed text) is left as is.
pub fn quote_big_integers(text: &str) -> std::borrow::Cow<'_, str> {
    let b = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0; // bytes of `text` already copied into `out`
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                // Skip the string, honouring backslash escapes.
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                if b[i] == b'-' {
                    i += 1;
                }
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                let integer = !(i < b.len() && matches!(b[i], b'.' | b'e' | b'E'));
                // Consume the rest of a non-integer literal so its digits are not re-scanned.
                while i < b.len() && matches!(b[i], b'.' | b'e' | b'E' | b'+' | b'-' | b'0'..=b'9')
                {
                    i += 1;
                }
                let lit = &text[start..i];
                let digits = lit.trim_start_matches('-');
                if integer
                    && !digits.is_empty()
                    && lit.parse::<i64>().is_err()
                    && lit.parse::<u64>().is_err()
                {
                    let o = out.get_or_insert_with(|| String::with_capacity(text.len() + 16));
                    o.push_str(&text[copied..start]);
                    o.push('"');
                    o.push_str(lit);
                    o.push('"');
                    copied = i;
                }
            }
            _ => i += 1,
        }
    }
    match out {
        None => std::borrow::Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(&text[copied.min(text.len())..]);
            std::borrow::Cow::Owned(o)
        }
    }
}

/// All hashes of a typed-data document.
pub fn typed_data_hashes(td: &TypedData) -> Result<TypedDataHashes, XchainError> {
    let err = |what: &str, e: alloy_dyn_abi::Error| XchainError::TypedData(format!("{what}: {e}"));
    Ok(TypedDataHashes {
        type_hash: td.type_hash().map_err(|e| err("type hash", e))?,
        struct_hash: td
            .hash_struct()
            .map_err(|e| err("hashStruct(message)", e))?,
        domain_separator: td.domain.separator(),
        digest: td.eip712_signing_hash().map_err(|e| err("digest", e))?,
    })
}

/// The EIP-712 digest of a JSON typed-data document.
pub fn hash_typed_data_json(text: &str) -> Result<B256, XchainError> {
    Ok(typed_data_hashes(&parse_typed_data(text)?)?.digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_integer_literals_become_exact_strings_and_nothing_else_changes() {
        let t = r#"{"a": 1000000000000000000000000000000, "b": -57896044618658097711785492504343953926634992332820282019728792003956564819968,
            "c": 18446744073709551615, "d": -9223372036854775808, "e": 1e30, "f": 1.5, "g": "123456789012345678901234567890",
            "h": "esc \" 99999999999999999999999 ", "i": [18446744073709551616]}"#;
        let q = quote_big_integers(t);
        let v: serde_json::Value = serde_json::from_str(&q).unwrap();
        assert_eq!(v["a"], "1000000000000000000000000000000");
        assert_eq!(
            v["b"],
            "-57896044618658097711785492504343953926634992332820282019728792003956564819968"
        );
        // u64::MAX and i64::MIN still fit: unchanged numbers.
        assert_eq!(v["c"], serde_json::json!(u64::MAX));
        assert_eq!(v["d"], serde_json::json!(i64::MIN));
        assert!(v["e"].is_f64() && v["f"].is_f64());
        assert_eq!(v["g"], "123456789012345678901234567890");
        assert_eq!(v["h"], "esc \" 99999999999999999999999 ");
        assert_eq!(v["i"][0], "18446744073709551616");
        // Small documents are borrowed, not copied.
        assert!(matches!(
            quote_big_integers(r#"{"x": 1}"#),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}

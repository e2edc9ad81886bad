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
//! naming its JSON path. `hashStruct(message)` is computed by [`encode_field`] with eth-account's
//! `encodeField` rules: a missing or `null` struct, `string` or `bytes` field is a zero word (any
//! other missing value is refused naming its path), a `string` given as a non-negative integer
//! hashes that integer's big-endian bytes, and an integer literal beyond 64 bits given for
//! `bytes`/`bytesN`/`string` is read as that integer (not as its decimal text). Not covered: `null`
//! fields of the domain (eth-account keeps them as zero words in the domain type; here they are
//! absent, as alloy's `Eip712Domain` reads them).

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
    let text = quote_marked(text, BIG_MARK_JSON);
    let mut doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| XchainError::TypedData(format!("parse: {e}")))?;
    normalize_lenient_values(&mut doc)?;
    if let Some(d) = doc.get_mut("domain") {
        strip_marks(d);
    }
    serde_json::from_value(doc).map_err(|e| XchainError::TypedData(format!("parse: {e}")))
}

/// Prefix (after JSON unescaping) of a string that [`parse_typed_data`] made from a bare integer
/// literal beyond 64 bits, so that a field typed `bytes`, `bytesN`, `string` or `bool` can still
/// treat it as the number it was (eth-account's `to_bytes(int)`), not as text.
const BIG_MARK: &str = "\u{0}bigint:";
/// [`BIG_MARK`] as written inside a JSON string literal.
const BIG_MARK_JSON: &str = "\\u0000bigint:";

/// The integer a marked string spells, if it is one.
fn marked_int(s: &str) -> Option<&str> {
    s.strip_prefix(BIG_MARK)
}

/// Replaces marked strings by their plain decimal digits, everywhere under `v`.
fn strip_marks(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::String(s) => {
            if let Some(d) = marked_int(s) {
                *s = d.to_string();
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strip_marks),
        Value::Object(o) => o.values_mut().for_each(strip_marks),
        _ => {}
    }
}

/// eth-account's `to_bytes(int)` of a decimal integer: minimal big-endian bytes (`0` and
/// negatives: one zero byte, as eth-account clamps negatives to 0 for bytes).
fn int_bytes(digits: &str, path: &str) -> Result<Vec<u8>, XchainError> {
    if digits.starts_with('-') {
        return Ok(vec![0]);
    }
    let v = alloy_primitives::U256::from_str_radix(digits, 10)
        .map_err(|e| XchainError::TypedData(format!("{path}: integer {digits}: {e}")))?;
    let b = v.to_be_bytes::<32>();
    let first = b.iter().position(|&c| c != 0).unwrap_or(31);
    Ok(b[first..].to_vec())
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
    if ty.starts_with("int") || ty.starts_with("uint") {
        strip_marks(v);
        return Ok(());
    }
    match ty {
        "bool" => {
            let b = match &*v {
                Value::String(s) if marked_int(s).is_some() => Some(true),
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
            if let Some(bytes) = lenient_bytes(v, path)? {
                *v = Value::String(format!("0x{}", alloy_primitives::hex::encode(bytes)));
            }
        }
        t if t.starts_with("bytes") => {
            let Ok(n) = t[5..].parse::<usize>() else {
                return Ok(());
            };
            if let Some(mut bytes) = lenient_bytes(v, path)? {
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
fn lenient_bytes(v: &serde_json::Value, path: &str) -> Result<Option<Vec<u8>>, XchainError> {
    use serde_json::Value;
    if let Value::String(s) = v {
        if let Some(d) = marked_int(s) {
            return int_bytes(d, path).map(Some);
        }
    }
    Ok(match v {
        Value::String(s) => {
            let hex = s
                .strip_prefix("0x")
                .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()));
            Some(match hex {
                Some(h) if h.len() % 2 == 1 => {
                    match alloy_primitives::hex::decode(format!("0{h}")) {
                        Ok(b) => b,
                        Err(_) => return Ok(None),
                    }
                }
                Some(h) => match alloy_primitives::hex::decode(h) {
                    Ok(b) => b,
                    Err(_) => return Ok(None),
                },
                None => s.as_bytes().to_vec(),
            })
        }
        Value::Number(n) => {
            let Some(x) = n.as_u64().or_else(|| n.as_i64().map(|_| 0)) else {
                return Ok(None);
            };
            let b = x.to_be_bytes();
            let first = b.iter().position(|&c| c != 0).unwrap_or(7);
            Some(b[first..].to_vec())
        }
        Value::Bool(b) => Some(vec![u8::from(*b)]),
        _ => None,
    })
}

/// Rewrites every JSON integer literal that fits neither `i64` nor `u64` as a string holding the
/// same digits; everything else (strings, fractions, exponents, malformed text) is left as is.
pub fn quote_big_integers(text: &str) -> std::borrow::Cow<'_, str> {
    quote_marked(text, "")
}

/// [`quote_big_integers`] with `mark` (JSON string text) put in front of each quoted literal.
fn quote_marked<'a>(text: &'a str, mark: &str) -> std::borrow::Cow<'a, str> {
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
                    o.push_str(mark);
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

/// All hashes of a typed-data document. `hashStruct(message)` follows eth-account's `encodeField`
/// (see [`encode_field`]); for documents without its lenient forms it equals alloy's.
pub fn typed_data_hashes(td: &TypedData) -> Result<TypedDataHashes, XchainError> {
    let err = |what: &str, e: alloy_dyn_abi::Error| XchainError::TypedData(format!("{what}: {e}"));
    let ty = td
        .resolver
        .resolve(&td.primary_type)
        .map_err(|e| err("primaryType", e))?;
    if !matches!(ty, alloy_dyn_abi::DynSolType::CustomStruct { .. }) {
        return Err(XchainError::TypedData(
            "primaryType: EIP-712 primary type must be a struct".into(),
        ));
    }
    let struct_hash = encode_field(td, &ty, &td.message, "message")?;
    let domain_separator = td.domain.separator();
    let mut buf = [0u8; 66];
    buf[0] = 0x19;
    buf[1] = 0x01;
    buf[2..34].copy_from_slice(domain_separator.as_slice());
    buf[34..].copy_from_slice(struct_hash.as_slice());
    Ok(TypedDataHashes {
        type_hash: td.type_hash().map_err(|e| err("type hash", e))?,
        struct_hash,
        domain_separator,
        digest: alloy_primitives::keccak256(buf),
    })
}

/// The 32-byte `encodeData` word of `v` as a field of type `ty`, with eth-account's rules: a
/// missing or `null` struct, `string` or `bytes` field is a zero word (any other `null` is
/// refused naming its path); a `string` given as an integer hashes that integer's minimal
/// big-endian bytes; arrays hash the concatenation of their items' words; atomic values are
/// coerced by alloy. A struct value (the message itself) is `hashStruct`.
pub fn encode_field(
    td: &TypedData,
    ty: &alloy_dyn_abi::DynSolType,
    v: &serde_json::Value,
    path: &str,
) -> Result<B256, XchainError> {
    use alloy_dyn_abi::DynSolType as T;
    use serde_json::Value;
    let err = |e: alloy_dyn_abi::Error| XchainError::TypedData(format!("{path}: {e}"));
    match (ty, v) {
        (T::CustomStruct { .. } | T::String | T::Bytes, Value::Null) => Ok(B256::ZERO),
        (_, Value::Null) => Err(XchainError::TypedData(format!(
            "{path}: missing value of type {ty}"
        ))),
        (
            T::CustomStruct {
                name,
                prop_names,
                tuple,
            },
            Value::Object(o),
        ) => {
            let mut buf = td.resolver.type_hash(name).map_err(err)?.to_vec();
            for (field, fty) in prop_names.iter().zip(tuple) {
                let fv = o.get(field).unwrap_or(&Value::Null);
                buf.extend(encode_field(td, fty, fv, &format!("{path}.{field}"))?.as_slice());
            }
            Ok(alloy_primitives::keccak256(buf))
        }
        (T::Array(inner) | T::FixedArray(inner, _), Value::Array(items)) => {
            let mut buf = Vec::with_capacity(items.len() * 32);
            for (i, item) in items.iter().enumerate() {
                buf.extend(encode_field(td, inner, item, &format!("{path}[{i}]"))?.as_slice());
            }
            Ok(alloy_primitives::keccak256(buf))
        }
        (T::String, Value::String(s)) => Ok(alloy_primitives::keccak256(match marked_int(s) {
            Some(d) if !d.starts_with('-') => int_bytes(d, path)?,
            Some(d) => {
                return Err(XchainError::TypedData(format!(
                    "{path}: a negative integer ({d}) is not a string"
                )))
            }
            None => s.as_bytes().to_vec(),
        })),
        (T::String, Value::Number(n)) => match n.as_u64() {
            Some(x) => Ok(alloy_primitives::keccak256(int_bytes(
                &x.to_string(),
                path,
            )?)),
            None => Err(XchainError::TypedData(format!(
                "{path}: {n} is not a string (only non-negative integers are read as bytes)"
            ))),
        },
        _ => {
            let value = ty.coerce_json(v).map_err(err)?;
            td.resolver.eip712_data_word(&value).map_err(err)
        }
    }
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

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
    serde_json::from_str(&text).map_err(|e| XchainError::TypedData(format!("parse: {e}")))
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

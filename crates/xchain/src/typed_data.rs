//! Generic EIP-712 hashing of `eth_signTypedData_v4` JSON documents, so a user can check
//! the digest of anything they are asked to sign.
//!
//! Built on `alloy-dyn-abi`'s [`TypedData`] (the maintained implementation): it resolves
//! the type graph (nested structs, arrays of structs, dynamic `bytes`/`string`, `bytesN`,
//! `intN`/`uintN`, `address`, `bool`) and produces `keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message))`.

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

/// Parses an `eth_signTypedData_v4` document.
pub fn parse_typed_data(text: &str) -> Result<TypedData, XchainError> {
    serde_json::from_str(text).map_err(|e| XchainError::TypedData(format!("parse: {e}")))
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

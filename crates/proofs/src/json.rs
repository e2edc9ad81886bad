//! JSON reading with errors that name the offending field path (`losses[3][17]`), not just a column.

use serde::de::DeserializeOwned;

use crate::error::{ProofError, Result};

/// Parses `text` as `T`; on failure the error names `what` and the JSON path of the bad field.
pub fn from_str<T: DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    let de = &mut serde_json::Deserializer::from_str(text);
    match serde_path_to_error::deserialize(de) {
        Ok(v) => Ok(v),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() || path == "." {
                Err(ProofError::Json {
                    path: what.to_string(),
                    source: inner,
                })
            } else {
                Err(ProofError::field(
                    format!("{what}: {path}"),
                    inner.to_string(),
                ))
            }
        }
    }
}

/// Reads and parses a JSON file, naming the file in every error.
pub fn read<T: DeserializeOwned>(path: &std::path::Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| ProofError::Io {
        path: path.display().to_string(),
        source,
    })?;
    from_str(&text, &path.display().to_string())
}

use thiserror::Error;

/// Why a canonical document is not acceptable; every variant names the offending field path.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ModelError {
    /// A number that must be finite is NaN or infinite.
    #[error("{field}: must be a finite number, got {value}")]
    NotFinite {
        /// JSON path of the field.
        field: String,
        /// The offending value, as printed.
        value: String,
    },
    /// A number that must be strictly positive is zero or negative.
    #[error("{field}: must be > 0, got {value}")]
    NotPositive {
        /// JSON path of the field.
        field: String,
        /// The offending value.
        value: f64,
    },
    /// A number that must not be negative is.
    #[error("{field}: must be >= 0, got {value}")]
    Negative {
        /// JSON path of the field.
        field: String,
        /// The offending value, as printed.
        value: String,
    },
    /// A position of size zero carries no risk and is almost always an adapter bug.
    #[error("{field}: position size must not be zero")]
    ZeroSize {
        /// JSON path of the field.
        field: String,
    },
    /// An option or future has already expired at the snapshot's timestamp.
    #[error(
        "{field}: instrument expired at {expiry_ms} ms, before the snapshot at {timestamp_ms} ms"
    )]
    Expired {
        /// JSON path of the field.
        field: String,
        /// Expiry of the instrument (UTC ms).
        expiry_ms: i64,
        /// Snapshot time (UTC ms).
        timestamp_ms: i64,
    },
    /// An asset symbol is used that the portfolio's asset table does not declare.
    #[error("{field}: unknown asset {asset:?} (declare it in portfolio.assets)")]
    UnknownAsset {
        /// JSON path of the field.
        field: String,
        /// The undeclared symbol.
        asset: String,
    },
    /// A field is structurally wrong (empty string, inconsistent combination, duplicate id).
    #[error("{field}: {reason}")]
    Invalid {
        /// JSON path of the field.
        field: String,
        /// Why it is rejected.
        reason: String,
    },
    /// The document declares a format version this build does not read.
    #[error("version: unsupported format version {found}, this build reads {supported}")]
    Version {
        /// Version in the document.
        found: u32,
        /// Version this build supports.
        supported: u32,
    },
    /// Arithmetic on base units would overflow.
    #[error("{field}: amount overflows 128-bit base units")]
    Overflow {
        /// What was being computed.
        field: String,
    },
    /// The JSON text does not parse into the canonical shape.
    #[error("{0}")]
    Json(String),
}

impl ModelError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ModelError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Checks that `value` is finite, naming `field` otherwise.
pub(crate) fn finite(field: &str, value: f64) -> Result<(), ModelError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(ModelError::NotFinite {
            field: field.to_string(),
            value: value.to_string(),
        })
    }
}

/// Checks that `value` is finite and strictly positive.
pub(crate) fn positive(field: &str, value: f64) -> Result<(), ModelError> {
    finite(field, value)?;
    if value > 0.0 {
        Ok(())
    } else {
        Err(ModelError::NotPositive {
            field: field.to_string(),
            value,
        })
    }
}

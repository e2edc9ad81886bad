use thiserror::Error;

/// Why an allocation cannot be computed; every variant names the offending field path.
///
/// Running short of collateral is *not* an error: it is reported as a shortfall per location.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum AllocateError {
    /// A number that must be finite is NaN or infinite.
    #[error("{field}: must be a finite number, got {value}")]
    NotFinite {
        /// Field path, e.g. `routes[3].fee_bps`.
        field: String,
        /// The offending value, as printed.
        value: String,
    },
    /// A number that must not be negative is.
    #[error("{field}: must be >= 0, got {value}")]
    Negative {
        /// Field path.
        field: String,
        /// The offending value, as printed.
        value: String,
    },
    /// A number is outside its allowed range (other than the sign).
    #[error("{field}: {reason}, got {value}")]
    OutOfRange {
        /// Field path.
        field: String,
        /// The allowed range, in words.
        reason: String,
        /// The offending value, as printed.
        value: String,
    },
    /// An asset symbol is used that the problem does not declare (with a price and decimals).
    #[error("{field}: unknown asset {asset:?}")]
    UnknownAsset {
        /// Field path.
        field: String,
        /// The undeclared symbol.
        asset: String,
    },
    /// A field is structurally wrong (empty name, duplicate, inconsistent combination).
    #[error("{field}: {reason}")]
    Invalid {
        /// Field path.
        field: String,
        /// Why it is rejected.
        reason: String,
    },
    /// Integer arithmetic on base units would overflow.
    #[error("{field}: amount overflows 128-bit base units")]
    Overflow {
        /// What was being computed.
        field: String,
    },
    /// The LP solver failed for a reason other than a shortfall (a bug or a numerical breakdown).
    #[error("solver: {0}")]
    Solver(String),
}

impl AllocateError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        AllocateError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Checks that `value` is finite, naming `field` otherwise.
pub(crate) fn finite(field: &str, value: f64) -> Result<(), AllocateError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(AllocateError::NotFinite {
            field: field.to_string(),
            value: value.to_string(),
        })
    }
}

/// Checks that `value` is finite and not negative.
pub(crate) fn non_negative(field: &str, value: f64) -> Result<(), AllocateError> {
    finite(field, value)?;
    if value < 0.0 {
        return Err(AllocateError::Negative {
            field: field.to_string(),
            value: value.to_string(),
        });
    }
    Ok(())
}

//! The crate's one error type: every variant names the offending field and the reason.

use thiserror::Error;

/// Why a rule, a book, a proof or a solvency file was rejected.
#[derive(Debug, Error)]
pub enum ProofError {
    /// A field of an input file has a bad value (wrong dimension, out of range, malformed).
    #[error("{field}: {reason}")]
    Field {
        /// Path of the offending field, e.g. `losses[3][17]`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The book does not meet the rule: some scenario leaves less than the threshold.
    #[error(
        "collateral does not suffice in scenario `{scenario}`: slack {slack} (scaled by 10^{scale}) is below 0 \
         (collateral - losses - threshold)"
    )]
    Insufficient {
        /// Name of the first failing scenario.
        scenario: String,
        /// `C*10^scale - sum_i q_i R[i][s] - threshold*10^scale`, negative.
        slack: i128,
        /// The rule's loss scale (decimal digits).
        scale: u32,
    },
    /// The book does not meet a unified rule: a venue below its local floor, or the pool short.
    #[error(
        "collateral does not suffice: {what}: slack {slack} (scaled by 10^{scale}) is below 0"
    )]
    Unmet {
        /// The unmet condition, with its figures.
        what: String,
        /// The negative slack, collateral base units × 10^scale.
        slack: i128,
        /// The rule's loss scale.
        scale: u32,
    },
    /// Proof verification failed (the statement is not proved for these public inputs).
    #[error("proof rejected: {0}")]
    Rejected(String),
    /// The proving system reported an error (key mismatch, synthesis failure).
    #[error("proving system: {0}")]
    Snark(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Malformed JSON in a named file.
    #[error("{path}: malformed JSON: {source}")]
    Json {
        /// The file (or `<input>`).
        path: String,
        /// serde_json's message, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A checked sum overflowed its declared bound.
    #[error("{field}: sum overflows u128")]
    Overflow {
        /// Where the overflow happened.
        field: String,
    },
}

impl ProofError {
    /// Shorthand for [`ProofError::Field`].
    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ProofError::Field {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<ark_relations::r1cs::SynthesisError> for ProofError {
    fn from(e: ark_relations::r1cs::SynthesisError) -> Self {
        ProofError::Snark(e.to_string())
    }
}

impl From<ark_serialize::SerializationError> for ProofError {
    fn from(e: ark_serialize::SerializationError) -> Self {
        ProofError::Snark(format!("serialization: {e}"))
    }
}

/// Result alias of this crate.
pub type Result<T, E = ProofError> = std::result::Result<T, E>;

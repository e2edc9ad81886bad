use thiserror::Error;

/// Why a requirement cannot be computed; variants name the field or parameter at fault.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum MarginError {
    /// Market data needed for a position is missing from the snapshot.
    #[error("{field}: missing market data ({reason})")]
    MissingMarket {
        /// Market field path, e.g. `market.mark_prices["deribit:BTC-PERPETUAL"]`.
        field: String,
        /// What it was needed for.
        reason: String,
    },
    /// A parameter file or table is missing, malformed or out of range.
    #[error("{file}: {field}: {reason}")]
    Params {
        /// Parameter file (e.g. `params/deribit.toml`).
        file: String,
        /// Key path inside the file.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A position this model cannot margin (wrong venue, unsupported instrument type).
    #[error("{field}: {reason}")]
    Unsupported {
        /// Position path.
        field: String,
        /// Why.
        reason: String,
    },
    /// Invalid input data.
    #[error(transparent)]
    Model(#[from] intermargin_model::ModelError),
    /// A pricing input was out of domain.
    #[error(transparent)]
    Pricing(#[from] intermargin_pricing::PricingError),
}

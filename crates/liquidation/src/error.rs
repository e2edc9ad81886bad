use thiserror::Error;

/// Why a liquidation question cannot be answered; variants name the field at fault.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum LiquidationError {
    /// A parameter (venue rule, depth entry, planner option) is missing or out of range.
    #[error("{field}: {reason}")]
    Param {
        /// Key path, e.g. `venues.aave.close_factor`.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// Market data needed to value a position is missing.
    #[error("{field}: missing market data ({reason})")]
    MissingMarket {
        /// Market field path, e.g. `market.mark_prices["dydx:ETH-USD"]`.
        field: String,
        /// What it was needed for.
        reason: String,
    },
    /// The requirement function failed.
    #[cfg(feature = "margin-models")]
    #[error(transparent)]
    Margin(#[from] intermargin_margin::MarginError),
    /// Money arithmetic overflowed or input was invalid.
    #[error(transparent)]
    Model(#[from] intermargin_model::ModelError),
}

/// Shorthand for a parameter error naming its field.
pub(crate) fn param(field: impl Into<String>, reason: impl Into<String>) -> LiquidationError {
    LiquidationError::Param {
        field: field.into(),
        reason: reason.into(),
    }
}

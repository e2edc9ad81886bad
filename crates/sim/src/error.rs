use thiserror::Error;

/// Why a simulation cannot run; variants name the config key or file at fault.
#[derive(Debug, Error)]
pub enum SimError {
    /// A config key is missing, mistyped or out of range.
    #[error("config: {key}: {reason}")]
    Config {
        /// Dotted key path, e.g. `venues[1].mm_rate`.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The price-history CSV is unreadable or inconsistent.
    #[error("{file}: {reason}")]
    History {
        /// File path (or `history` for in-memory text).
        file: String,
        /// What is wrong, with the row or column.
        reason: String,
    },
    /// A plot could not be drawn or written.
    #[error("plot {file}: {reason}")]
    Plot {
        /// Output file.
        file: String,
        /// Backend error.
        reason: String,
    },
    /// Liquidation arithmetic failed.
    #[error(transparent)]
    Liquidation(#[from] intermargin_liquidation::LiquidationError),
}

/// Shorthand for a config error naming its key.
pub(crate) fn cfg(key: impl Into<String>, reason: impl Into<String>) -> SimError {
    SimError::Config {
        key: key.into(),
        reason: reason.into(),
    }
}

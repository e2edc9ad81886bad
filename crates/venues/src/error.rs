use intermargin_model::{ModelError, Venue};
use thiserror::Error;

/// Why a venue payload or a live request could not be turned into the canonical model.
#[derive(Debug, Error)]
pub enum VenueError {
    /// A field of the payload is missing or has the wrong type or value.
    #[error("{venue} payload{file}: {path}: {reason}")]
    Field {
        /// Venue whose payload this is.
        venue: Venue,
        /// File name (with a leading space and in parentheses) or empty.
        file: String,
        /// JSON path of the field (`result[2].size`).
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The payload's shape matches none of the endpoints this adapter reads.
    #[error("{venue} payload{file}: unrecognised payload: {reason}")]
    Unrecognised {
        /// Venue.
        venue: Venue,
        /// File name (with a leading space and in parentheses) or empty.
        file: String,
        /// What was looked for.
        reason: String,
    },
    /// The venue answered with an error envelope (`code` ≠ 0, `retCode` ≠ 0, JSON-RPC `error`).
    #[error("{venue} payload{file}: the venue returned an error: {message}")]
    VenueReported {
        /// Venue.
        venue: Venue,
        /// File name or empty.
        file: String,
        /// The venue's code and message.
        message: String,
    },
    /// Two payloads of one import disagree about the same value.
    #[error("{venue}: conflicting values for {key}: {first} vs {second}")]
    Conflict {
        /// Venue.
        venue: Venue,
        /// What conflicts (`mark_prices["deribit:BTC-PERPETUAL"]`).
        key: String,
        /// First value seen.
        first: String,
        /// Second value seen.
        second: String,
    },
    /// The text is not JSON at all.
    #[error("{venue} payload{file}: not valid JSON: {reason}")]
    Json {
        /// Venue.
        venue: Venue,
        /// File name or empty.
        file: String,
        /// The parser's message.
        reason: String,
    },
    /// The canonical result violates the model's rules.
    #[error("{venue}: canonical snapshot rejected: {source}")]
    Model {
        /// Venue.
        venue: Venue,
        /// The model's error.
        #[source]
        source: ModelError,
    },
    /// A venue or feature this crate does not support.
    #[error("{0}")]
    Unsupported(String),
    /// Credentials for a live fetch are missing from the environment.
    #[error("{venue}: missing credential: environment variable {var} is not set")]
    MissingCredential {
        /// Venue.
        venue: Venue,
        /// The environment variable name.
        var: String,
    },
    /// A live HTTP request failed (network, timeout, or a non-success status after retries).
    #[error("{venue}: request {url} failed: {reason}")]
    Http {
        /// Venue.
        venue: Venue,
        /// Request URL (without secrets).
        url: String,
        /// Status or transport error.
        reason: String,
    },
}

impl VenueError {
    pub(crate) fn model(venue: Venue, source: ModelError) -> Self {
        VenueError::Model { venue, source }
    }
}

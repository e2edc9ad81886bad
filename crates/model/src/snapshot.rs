use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::market::Market;
use crate::portfolio::Portfolio;

/// Version of the canonical JSON format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

fn default_version() -> u32 {
    FORMAT_VERSION
}

/// A portfolio with the market it is valued in: the document every command exchanges.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Snapshot {
    /// Canonical format version (currently 1).
    #[serde(default = "default_version")]
    pub version: u32,
    /// Accounts, positions and collateral.
    pub portfolio: Portfolio,
    /// Prices, vols, rates and FX at the snapshot time.
    pub market: Market,
}

impl Snapshot {
    /// A snapshot in the current format version.
    pub fn new(portfolio: Portfolio, market: Market) -> Self {
        Snapshot {
            version: FORMAT_VERSION,
            portfolio,
            market,
        }
    }

    /// Parses JSON text and validates it.
    pub fn from_json(text: &str) -> Result<Snapshot, ModelError> {
        let snap: Snapshot =
            serde_json::from_str(text).map_err(|e| ModelError::Json(format!("snapshot: {e}")))?;
        snap.validate()?;
        Ok(snap)
    }

    /// Checks version, market and portfolio (instruments must not have expired at the market time).
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.version != FORMAT_VERSION {
            return Err(ModelError::Version {
                found: self.version,
                supported: FORMAT_VERSION,
            });
        }
        self.market.validate()?;
        let now = (self.market.timestamp_ms > 0).then_some(self.market.timestamp_ms);
        self.portfolio.validate(now)
    }

    /// Merges another snapshot into this one (market conflicts are errors naming the key).
    pub fn merge(&mut self, other: &Snapshot) -> Result<(), ModelError> {
        if !self.market.quote.is_empty()
            && !other.market.quote.is_empty()
            && self.market.quote != other.market.quote
        {
            return Err(ModelError::invalid(
                "market.quote",
                format!(
                    "cannot merge snapshots quoted in {} and {}",
                    self.market.quote, other.market.quote
                ),
            ));
        }
        self.portfolio.merge(&other.portfolio)?;
        self.market.merge(&other.market)
    }
}

/// The JSON Schema of [`Snapshot`], pretty-printed.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(Snapshot);
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}

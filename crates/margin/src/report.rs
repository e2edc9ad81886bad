use intermargin_model::{Account, Asset, Market, Venue};
use serde::{Deserialize, Serialize};

use crate::error::MarginError;

/// Which requirement is asked for; ordered so that `Initial` ≥ `Maintenance` for every model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    /// Needed to open or increase risk.
    Initial,
    /// Below this the venue liquidates.
    Maintenance,
}

/// One position's share of a venue's requirement, in the venue's settlement currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionMargin {
    /// Instrument id (`venue:symbol`).
    pub instrument: String,
    /// Initial margin charged to this position.
    pub initial_margin: f64,
    /// Maintenance margin charged to this position.
    pub maintenance_margin: f64,
    /// Price of the underlying at which the venue would liquidate, when the venue defines one.
    pub liquidation_price: Option<f64>,
}

/// The same figures converted into the snapshot's quote currency.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QuoteFigures {
    /// Equity in quote currency.
    pub equity: f64,
    /// Initial margin in quote currency.
    pub initial_margin: f64,
    /// Maintenance margin in quote currency.
    pub maintenance_margin: f64,
    /// The part of `initial_margin` that open orders reserve, in quote currency.
    #[serde(default)]
    pub orders_initial_margin: f64,
}

/// A venue's own verdict on one margin pool (one settlement currency, or the whole cross account).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VenueMargin {
    /// Venue.
    pub venue: Venue,
    /// Currency the pool is margined in (`BTC` for Deribit inverse, `USDT` on Binance, `USD` for Aave base currency).
    pub settlement: String,
    /// Which pool of the venue this is: `cross`, `isolated:<instrument id>` or
    /// `subaccount:<n>`; each pool is liquidated on its own, so states are decided per pool.
    #[serde(default)]
    pub pool: String,
    /// Collateral value plus unrealised P&L, in `settlement`.
    pub equity: f64,
    /// Initial requirement, in `settlement` (positions and open orders).
    pub initial_margin: f64,
    /// The part of `initial_margin` that open orders reserve, by the venue's own rule for them
    /// (0 when the venue reserves nothing or the book has no orders).
    #[serde(default)]
    pub orders_initial_margin: f64,
    /// Maintenance requirement, in `settlement`.
    pub maintenance_margin: f64,
    /// Maintenance margin / equity (the venues' "margin ratio"; ≥ 1 means liquidatable); infinite when equity ≤ 0.
    pub margin_ratio: f64,
    /// Equity and requirements converted to the snapshot's quote currency; `None` (JSON `null`)
    /// when the market has no rate for `settlement`: the own-currency figures stand regardless.
    pub in_quote: Option<QuoteFigures>,
    /// Per-position breakdown.
    pub positions: Vec<PositionMargin>,
}

impl VenueMargin {
    /// The quote-currency figures, or an error naming the missing FX rate: callers that add
    /// pools across currencies need them and must not read an unavailable conversion as zero.
    pub fn quote(&self) -> Result<&QuoteFigures, MarginError> {
        self.in_quote
            .as_ref()
            .ok_or_else(|| MarginError::MissingMarket {
                field: format!("market.fx[{:?}]", self.settlement),
                reason: format!(
                    "{} pool {:?} figures are in {}; no rate converts them",
                    self.venue, self.pool, self.settlement
                ),
            })
    }
}

/// A venue's margin rules: one pure function from an account and a market to its requirement.
pub trait MarginModel: Send + Sync {
    /// Venue whose rules this is.
    fn venue(&self) -> Venue;

    /// The venue's own requirement for the part of `account` that sits on this venue:
    /// one entry per margin pool (settlement currency or cross account).
    ///
    /// `assets` is the portfolio's asset table (`Portfolio::assets`): collateral is held as
    /// integer base units ([`intermargin_model::Amount`]) and only the table knows their
    /// decimals, so every model needs it to value collateral.
    fn margin(
        &self,
        account: &Account,
        assets: &[Asset],
        market: &Market,
    ) -> Result<Vec<VenueMargin>, MarginError>;
}

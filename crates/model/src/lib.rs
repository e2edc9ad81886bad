//! The canonical model of intermargin: what a book *is*, independent of any venue.
//!
//! Every venue adapter produces these types and every engine (margin, allocation,
//! liquidation, simulation, proofs, cross-chain) consumes them. The crate owns the
//! data shapes, their JSON form (with a published JSON Schema and a `version`
//! field) and validation; it refuses to know about any venue's wire format or any
//! margin rule, so that one change of format never ripples through the engines.
//!
//! Number conventions (see `ARCHITECTURE.md`):
//! * money that moves ([`Amount`]) is an integer count of an asset's base units,
//!   serialised as a decimal string so that JavaScript readers never lose digits;
//! * risk quantities (prices, sizes, vols) are `f64`, converted to base units only
//!   at the edge, rounding against the account ([`Amount::from_f64_requirement`],
//!   [`Amount::from_f64_equity`]);
//! * times are UTC milliseconds (`i64`).
#![deny(missing_docs)]

mod amount;
mod error;
mod instrument;
mod market;
mod order;
mod portfolio;
mod snapshot;
mod trade;

pub use amount::{Amount, Asset};
pub use error::ModelError;
pub use instrument::{
    isolated_pool, position_pool, Instrument, InstrumentKind, OptionKind, Settlement, SizeUnit,
    Venue,
};
pub use market::{Greeks, Market, VolQuote};
pub use order::{Order, OrderType, PositionSide, Side};
pub use portfolio::{Account, Collateral, Portfolio, Position, Reported};
pub use snapshot::{schema_json, Snapshot, FORMAT_VERSION};
pub use trade::Fill;

/// Milliseconds in a (365-day) year: the year fraction used for option time to expiry.
pub const MS_PER_YEAR: f64 = 365.0 * 24.0 * 3600.0 * 1000.0;

/// Year fraction between two UTC millisecond instants (negative when `to` is before `from`).
pub fn year_fraction(from_ms: i64, to_ms: i64) -> f64 {
    (to_ms - from_ms) as f64 / MS_PER_YEAR
}

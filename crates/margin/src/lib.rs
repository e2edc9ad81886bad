//! Margin for intermargin: what each venue demands, and what one unified book needs.
//!
//! The crate owns the [`MarginModel`] trait, each venue's own rule set (parameters in
//! `params/<venue>.toml`, each table citing its documentation page), the portfolio
//! margin models, and the unified cross-venue model with its explanation. It refuses
//! to parse venue JSON (that is `intermargin-venues`) and to perform I/O: every
//! function is a pure function of (account, market, parameters).
#![deny(missing_docs)]

mod error;
pub mod portfolio;
mod report;
pub mod venues;
pub mod whatif;

pub use error::MarginError;
pub use portfolio::{scenario_matrix, ScenarioMatrix};
pub use report::{MarginModel, PositionMargin, QuoteFigures, Requirement, VenueMargin};
pub use venues::{model_for, pool_of, pool_of_in, venue_margins};

//! One module per sub-command family.

pub mod allocate;
pub mod demo;
pub mod liquidate;
pub mod margin;
pub mod params;
pub mod portfolio_margin;
pub mod pricing;
pub mod proofs;
pub mod reconcile;
pub mod serve;
pub mod simulate;
pub mod venues;
pub mod whatif;
pub mod worker;
pub mod xchain;

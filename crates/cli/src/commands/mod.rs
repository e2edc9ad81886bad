//! One module per sub-command family.

pub mod allocate;
pub mod demo;
pub mod pricing;

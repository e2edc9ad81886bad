//! One module per sub-command family.

pub mod demo;
pub mod pricing;

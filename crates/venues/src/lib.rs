//! Venue adapters for intermargin (work in progress; see PARAMS.md).
#![deny(missing_docs)]

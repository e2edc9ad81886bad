//! Helpers shared by the margin crate's integration tests.
pub mod books;

//! The JSON documents intermargin answers with: each venue's own margin (`margin --json`), a
//! portfolio model's verdict (`margin --model M --json`), the collateral allocation
//! (`allocate --json`) and the pre-trade what-if (`whatif --json`).
//!
//! The CLI prints these documents and the Python package returns them; both call the functions
//! here, so the two can never disagree (they used to assemble the same JSON twice, kept equal
//! only by tests). The crate computes nothing itself: every figure comes from `margin`,
//! `allocate` and `venues` (trades); it owns the shape of the answer, the choice of account and
//! the errors that name the input at fault. It does no I/O.
#![deny(missing_docs)]

use intermargin_model::{Account, Snapshot};

pub mod allocation;
pub mod margin;
pub mod whatif;

pub use allocation::{allocation, AllocationAnswer, Requirements, VenueBasis};
pub use margin::{
    model_document, model_report, model_report_with, position_liquidations, venue_margin_document,
    ModelReport, PortfolioModel,
};
pub use whatif::{whatif, whatif_document, WhatIfError};

/// Why a document cannot be produced: the caller's input (named by its field), or an engine
/// that could not compute a figure.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// A bad argument or input document: `field` names it (`account`, `model`, `routes`,
    /// `trades[2].size`, …).
    #[error("{field}: {reason}")]
    Input {
        /// The argument or JSON path at fault.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A margin or allocation engine failed on the given book.
    #[error("{0}")]
    Engine(String),
}

impl DocumentError {
    /// An input error naming `field`.
    pub fn input(field: impl Into<String>, reason: impl Into<String>) -> Self {
        DocumentError::Input {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// The account a single-account document is about: the one named, or the snapshot's only one.
pub fn pick_account<'a>(
    snap: &'a Snapshot,
    id: Option<&str>,
) -> Result<&'a Account, DocumentError> {
    let accounts = &snap.portfolio.accounts;
    match id {
        Some(id) => accounts.iter().find(|a| a.id == id).ok_or_else(|| {
            DocumentError::input("account", format!("no account {id:?} in the snapshot"))
        }),
        None => match accounts.as_slice() {
            [one] => Ok(one),
            [] => Err(DocumentError::input(
                "account",
                "the snapshot's portfolio.accounts is empty",
            )),
            many => Err(DocumentError::input(
                "account",
                format!(
                    "the snapshot has {} accounts ({}), name one",
                    many.len(),
                    many.iter()
                        .map(|a| a.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Snapshot {
        Snapshot::from_json(include_str!("../../../examples/demo/snapshot.json")).unwrap()
    }

    #[test]
    fn the_only_account_is_picked_and_a_missing_one_is_named() {
        let snap = demo();
        let only = snap.portfolio.accounts[0].id.clone();
        assert_eq!(pick_account(&snap, None).unwrap().id, only);
        assert_eq!(pick_account(&snap, Some(&only)).unwrap().id, only);
        match pick_account(&snap, Some("nobody")).unwrap_err() {
            DocumentError::Input { field, reason } => {
                assert_eq!(field, "account");
                assert!(reason.contains("nobody"), "{reason}");
            }
            e => panic!("{e}"),
        }
    }
}

//! Capital efficiency of one hub pool versus one pool per spoke.
//!
//! With one pool the account posts the unified requirement of the whole book, so a hedge on
//! one spoke offsets risk on another; with siloed pools every spoke must be funded for its own
//! standalone requirement.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::XchainError;
use crate::requirement::{Book, RequirementModel};

/// Collateral needed under both set-ups.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EfficiencyReport {
    /// Unified requirement of the whole book (one hub pool), base units.
    pub collateral_hub: u128,
    /// Sum of each spoke's standalone requirement (one pool per spoke), base units.
    pub collateral_siloed: u128,
    /// Standalone requirement per spoke chain id.
    pub per_spoke: BTreeMap<u64, u128>,
    /// `1 − hub / siloed`: the share of collateral the hub pool saves.
    pub saving: f64,
}

/// Compares one hub pool with one pool per spoke for `book` at `prices`.
pub fn compare<M: RequirementModel>(
    model: &M,
    book: &Book,
    prices: &BTreeMap<String, f64>,
) -> Result<EfficiencyReport, XchainError> {
    let collateral_hub = model.requirement(book, prices)?;
    let mut per_spoke = BTreeMap::new();
    for (&id, p) in book {
        per_spoke.insert(
            id,
            model.requirement(&Book::from([(id, p.clone())]), prices)?,
        );
    }
    let collateral_siloed: u128 = per_spoke.values().sum();
    let saving = if collateral_siloed == 0 {
        0.0
    } else {
        1.0 - collateral_hub as f64 / collateral_siloed as f64
    };
    Ok(EfficiencyReport {
        collateral_hub,
        collateral_siloed,
        per_spoke,
        saving,
    })
}

/// A book plus the prices to value it at, as read from a JSON or TOML file.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BookFile {
    /// Requirement model.
    pub model: crate::requirement::NetDeltaModel,
    /// Price per underlying.
    pub prices: BTreeMap<String, f64>,
    /// Positions per spoke chain id (keys are chain ids as strings in JSON).
    pub book: BTreeMap<String, BTreeMap<String, i128>>,
}

impl BookFile {
    /// The book keyed by numeric chain id; a non-numeric key is an error naming it.
    pub fn book(&self) -> Result<Book, XchainError> {
        self.book
            .iter()
            .map(|(k, v)| {
                k.parse::<u64>()
                    .map(|id| (id, v.clone()))
                    .map_err(|_| XchainError::config(format!("book.{k}"), "key must be a chain id"))
            })
            .collect()
    }
}

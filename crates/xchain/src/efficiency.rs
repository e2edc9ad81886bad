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
    /// Requirement model (`{"kind": "unified", …}` or `{"kind": "net_delta", …}`).
    pub model: crate::unified::SpokeModel,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requirement::{NetDeltaModel, Positions};

    #[test]
    fn hedged_book_over_three_spokes_needs_far_less_in_one_pool() {
        // Spoke 10: +10 BTC; spoke 42161: −10 BTC and +100 ETH; spoke 8453: −90 ETH.
        // Prices BTC 60,000, ETH 3,000; maintenance 5% of net, floor 0.5% of gross notional.
        // Siloed:  10: 10×60,000×0.055 = 33,000; 42161: 33,000 + 100×3,000×0.055 = 16,500 → 49,500;
        //          8453: 90×3,000×0.055 = 14,850.   Sum = 97,350 USDC.
        // Hub:     BTC net 0, gross 20 → 20×60,000×0.005 = 6,000;
        //          ETH net 10 → 10×3,000×0.05 = 1,500, gross 190 → 190×3,000×0.005 = 2,850.  Sum = 10,350 USDC.
        let m = NetDeltaModel {
            maintenance_rate: 0.05,
            gross_rate: 0.005,
            size_decimals: 8,
            collateral_decimals: 6,
        };
        let e8 = 100_000_000i128;
        let book = Book::from([
            (10, Positions::from([("BTC".to_string(), 10 * e8)])),
            (
                42161,
                Positions::from([("BTC".to_string(), -10 * e8), ("ETH".to_string(), 100 * e8)]),
            ),
            (8453, Positions::from([("ETH".to_string(), -90 * e8)])),
        ]);
        let prices = BTreeMap::from([("BTC".to_string(), 60_000.0), ("ETH".to_string(), 3_000.0)]);
        let r = compare(&m, &book, &prices).unwrap();
        assert_eq!(r.collateral_siloed, 97_350_000_000);
        assert_eq!(r.collateral_hub, 10_350_000_000);
        assert_eq!(r.per_spoke[&42161], 49_500_000_000);
        assert!((r.saving - (1.0 - 10_350.0 / 97_350.0)).abs() < 1e-12);
    }
}

//! The seam between xchain and the margin crate: the hub sizes credits from a
//! [`RequirementModel`] over the union of all spokes' positions.
//!
//! xchain's safety argument needs exactly one property of the model: **subadditivity up to a
//! rounding guard** — `R(A + B) ≤ R(A) + R(B) + ROUNDING_GUARD` for position sets `A`, `B`
//! valued at the same prices — because a spoke charges every order's standalone requirement
//! against its credit and the hub adds those charges to the requirement of the last reported
//! book. [`NetDeltaModel`] satisfies it (triangle inequality on net deltas, additive gross
//! term); the property is checked by proptest. The margin crate's unified model plugs in by
//! implementing this trait (valuing the book at the stress prices given here).

use std::collections::BTreeMap;

use intermargin_model::Amount;

use crate::error::XchainError;

/// Positions of one account on one spoke: underlying ticker → signed size in `10^-size_decimals` units.
pub type Positions = BTreeMap<String, i128>;

/// Positions of one account on every spoke, keyed by spoke chain id.
pub type Book = BTreeMap<u64, Positions>;

/// Base units added to every charged order so that `f64` rounding can never make the sum of
/// charges smaller than the requirement of the summed book: for requirements below 2^50 base
/// units the absolute `f64` error of each evaluation is below 0.25 unit, so
/// `ceil(R(A+B)) − ceil(R(A)) − ceil(R(B)) ≤ 1.75 < 2`.
pub const ROUNDING_GUARD: u128 = 2;

/// Largest requirement (base units) for which the [`ROUNDING_GUARD`] argument holds.
pub const MAX_REQUIREMENT: u128 = 1 << 50;

/// A maintenance-requirement model over a cross-spoke book, in collateral base units.
pub trait RequirementModel {
    /// The maintenance requirement of `book` at `prices` (quote per whole underlying), rounded up.
    fn requirement(
        &self,
        book: &Book,
        prices: &BTreeMap<String, f64>,
    ) -> Result<u128, XchainError> {
        let parts: Vec<(u64, &Positions)> = book.iter().map(|(id, p)| (*id, p)).collect();
        self.requirement_parts(&parts, prices)
    }

    /// The same over borrowed per-spoke positions (hot loops avoid cloning the book).
    fn requirement_parts(
        &self,
        parts: &[(u64, &Positions)],
        prices: &BTreeMap<String, f64>,
    ) -> Result<u128, XchainError>;
}

/// Net delta per underlying across spokes × price × maintenance rate, plus a gross-notional
/// floor (`gross_rate` × Σ|size| × price) so that a perfectly hedged book still posts margin
/// for basis and venue risk.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetDeltaModel {
    /// Maintenance rate on net notional (e.g. 0.05).
    pub maintenance_rate: f64,
    /// Floor rate on gross notional (e.g. 0.005).
    pub gross_rate: f64,
    /// Decimals of position sizes.
    pub size_decimals: u32,
    /// Decimals of the collateral asset.
    pub collateral_decimals: u32,
}

impl NetDeltaModel {
    /// Validates the rates; errors name the key.
    pub fn validate(&self) -> Result<(), XchainError> {
        for (key, v) in [
            ("model.maintenance_rate", self.maintenance_rate),
            ("model.gross_rate", self.gross_rate),
        ] {
            if !v.is_finite() || !(0.0..=1.0).contains(&v) {
                return Err(XchainError::config(
                    key,
                    format!("must be in [0, 1], got {v}"),
                ));
            }
        }
        if self.size_decimals > 18 || self.collateral_decimals > 18 {
            return Err(XchainError::config("model", "decimals must be at most 18"));
        }
        Ok(())
    }
}

impl RequirementModel for NetDeltaModel {
    fn requirement_parts(
        &self,
        parts: &[(u64, &Positions)],
        prices: &BTreeMap<String, f64>,
    ) -> Result<u128, XchainError> {
        // Few underlyings per account: a small vector beats a map here.
        let mut per: Vec<(&str, i128, u128)> = Vec::new();
        for (_, positions) in parts {
            for (u, &size) in positions.iter() {
                let i = match per.iter().position(|(name, _, _)| *name == u.as_str()) {
                    Some(i) => i,
                    None => {
                        per.push((u.as_str(), 0, 0));
                        per.len() - 1
                    }
                };
                let e = &mut per[i];
                e.1 =
                    e.1.checked_add(size)
                        .ok_or_else(|| XchainError::Overflow(format!("net size of {u}")))?;
                e.2 =
                    e.2.checked_add(size.unsigned_abs())
                        .ok_or_else(|| XchainError::Overflow(format!("gross size of {u}")))?;
            }
        }
        let scale = 10f64.powi(self.size_decimals as i32);
        let mut total = 0.0f64;
        for (u, net, gross) in per {
            if gross == 0 {
                continue;
            }
            let price = *prices
                .get(u)
                .ok_or_else(|| XchainError::malformed(format!("prices.{u}"), "no price"))?;
            if !price.is_finite() || price <= 0.0 {
                return Err(XchainError::malformed(
                    format!("prices.{u}"),
                    format!("must be a positive number, got {price}"),
                ));
            }
            let net_units = net.unsigned_abs() as f64 / scale;
            let gross_units = gross as f64 / scale;
            total += (net_units * self.maintenance_rate + gross_units * self.gross_rate) * price;
        }
        let amount = Amount::from_f64_requirement(total, self.collateral_decimals, "requirement")
            .map_err(|e| XchainError::Overflow(e.to_string()))?;
        let v =
            u128::try_from(amount.0).map_err(|_| XchainError::Overflow("requirement".into()))?;
        if v > MAX_REQUIREMENT {
            return Err(XchainError::Overflow(format!(
                "requirement {v} exceeds {MAX_REQUIREMENT} base units"
            )));
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> NetDeltaModel {
        NetDeltaModel {
            maintenance_rate: 0.05,
            gross_rate: 0.005,
            size_decimals: 8,
            collateral_decimals: 6,
        }
    }

    #[test]
    fn hedged_legs_net_across_spokes() {
        // Spoke 1: +2 BTC, spoke 2: -1.5 BTC, price 60,000.
        // net 0.5 BTC × 60,000 × 0.05 = 1,500; gross 3.5 × 60,000 × 0.005 = 1,050 → 2,550 USDC.
        let mut book = Book::new();
        book.insert(1, Positions::from([("BTC".to_string(), 200_000_000)]));
        book.insert(2, Positions::from([("BTC".to_string(), -150_000_000)]));
        let prices = BTreeMap::from([("BTC".to_string(), 60_000.0)]);
        assert_eq!(model().requirement(&book, &prices).unwrap(), 2_550_000_000);
    }

    #[test]
    fn missing_price_names_the_underlying() {
        let book = Book::from([(1, Positions::from([("ETH".to_string(), 1)]))]);
        let err = model().requirement(&book, &BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("prices.ETH"), "{err}");
    }

    #[test]
    fn requirement_rounds_up_to_a_base_unit() {
        // 3e-8 units × price 10 × (0.05 + 0.005) = 1.65e-8 USDC = 0.0165 base units → 1.
        let book = Book::from([(1, Positions::from([("X".to_string(), 3)]))]);
        let prices = BTreeMap::from([("X".to_string(), 10.0)]);
        assert_eq!(model().requirement(&book, &prices).unwrap(), 1);
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    fn book_strategy() -> impl Strategy<Value = Book> {
        prop::collection::btree_map(
            1u64..4,
            prop::collection::btree_map(
                prop::sample::select(vec!["BTC".to_string(), "ETH".to_string()]),
                -10_000_000_000i128..10_000_000_000,
                0..3,
            ),
            0..4,
        )
    }

    fn add(a: &Book, b: &Book) -> Book {
        let mut out = a.clone();
        for (id, p) in b {
            let e = out.entry(*id).or_default();
            for (u, s) in p {
                *e.entry(u.clone()).or_insert(0) += s;
            }
        }
        out
    }

    proptest! {
        /// The property xchain's safety argument rests on: R(A+B) ≤ R(A) + R(B) + guard.
        #[test]
        fn requirement_is_subadditive_up_to_the_guard(
            a in book_strategy(),
            b in book_strategy(),
            mm in 0.0f64..0.5,
            gross in 0.0f64..0.05,
        ) {
            let m = NetDeltaModel { maintenance_rate: mm, gross_rate: gross, size_decimals: 8, collateral_decimals: 6 };
            let prices = BTreeMap::from([("BTC".to_string(), 71_234.5), ("ETH".to_string(), 3_612.25)]);
            let ra = m.requirement(&a, &prices).unwrap();
            let rb = m.requirement(&b, &prices).unwrap();
            let rab = m.requirement(&add(&a, &b), &prices).unwrap();
            prop_assert!(rab <= ra + rb + ROUNDING_GUARD, "{rab} > {ra} + {rb} + guard");
        }

        /// Moving a leg between spokes never changes the unified requirement (it only sees the union).
        #[test]
        fn requirement_depends_only_on_the_union(size in -1_000_000_000i128..1_000_000_000) {
            let m = NetDeltaModel { maintenance_rate: 0.05, gross_rate: 0.005, size_decimals: 8, collateral_decimals: 6 };
            let prices = BTreeMap::from([("BTC".to_string(), 60_000.0)]);
            let one = Book::from([(1, Positions::from([("BTC".to_string(), size)]))]);
            let other = Book::from([(2, Positions::from([("BTC".to_string(), size)]))]);
            prop_assert_eq!(m.requirement(&one, &prices).unwrap(), m.requirement(&other, &prices).unwrap());
        }
    }
}

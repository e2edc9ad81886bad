//! The margin crate's unified model as the hub's [`RequirementModel`]: the hub's spokes are **credit
//! venues** (they count the hub's margin credit as collateral), so no local floor applies and the hub
//! holds the pooled requirement of the union of all spokes' positions:
//!
//! `R = Σ_u |net notional_u| x stress_u + Σ_(spoke, u) gross notional x (basis + concentration rate)`
//!
//! with `stress_u` the unified model's worst delta-one loss per unit of notional over its scenarios
//! at its close-out horizon (each underlying at its own worst, no cross-underlying credit by default),
//! and the concentration charge linearised at `max_gross_notional` per spoke and underlying: linear
//! in size, the model stays subadditive (xchain's safety property), and for every book within the
//! cap it is at least the square-root-law charge the margin crate applies; a larger book is refused.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use intermargin_margin::portfolio::{UnifiedModel, UnifiedParams, VenueKind};
use intermargin_model::{Amount, Venue};
use serde::{Deserialize, Serialize};

use crate::error::XchainError;
use crate::requirement::{Positions, RequirementModel, MAX_REQUIREMENT};

/// The bundled unified model, built once (its parameters are embedded in the margin crate).
fn bundled() -> Result<&'static UnifiedModel, XchainError> {
    static MODEL: OnceLock<Result<UnifiedModel, String>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            UnifiedParams::bundled()
                .map(UnifiedModel::new)
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| XchainError::config("model", e.clone()))
}

/// The unified model over a cross-spoke book, in collateral base units.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnifiedSpokeModel {
    /// Decimals of position sizes.
    pub size_decimals: u32,
    /// Decimals of the collateral asset.
    pub collateral_decimals: u32,
    /// Largest gross notional (quote currency) one account may hold per spoke and underlying; the
    /// concentration charge is linearised at it.
    pub max_gross_notional: f64,
    /// Close-out horizon in seconds (`None`: the unified parameters' default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizon_s: Option<f64>,
}

impl UnifiedSpokeModel {
    /// The model with the default horizon and a 50M position cap per spoke and underlying.
    pub fn standard(size_decimals: u32, collateral_decimals: u32) -> Self {
        UnifiedSpokeModel {
            size_decimals,
            collateral_decimals,
            max_gross_notional: 50_000_000.0,
            horizon_s: None,
        }
    }

    /// Validates the knobs; errors name the key.
    pub fn validate(&self) -> Result<(), XchainError> {
        if !(self.max_gross_notional.is_finite() && self.max_gross_notional > 0.0) {
            return Err(XchainError::config(
                "model.max_gross_notional",
                format!("must be a positive number, got {}", self.max_gross_notional),
            ));
        }
        if let Some(h) = self.horizon_s {
            if !(h.is_finite() && (0.0..=30.0 * 86_400.0).contains(&h)) {
                return Err(XchainError::config(
                    "model.horizon_s",
                    format!("must be in [0, 2592000] seconds, got {h}"),
                ));
            }
        }
        if self.size_decimals > 18 || self.collateral_decimals > 18 {
            return Err(XchainError::config("model", "decimals must be at most 18"));
        }
        let hub = bundled()?
            .params
            .venue(Venue::Hub)
            .map_err(|e| XchainError::config("model", e.to_string()))?;
        if hub.kind != VenueKind::Credit {
            return Err(XchainError::config(
                "model",
                "the unified parameters must declare the hub a credit venue",
            ));
        }
        Ok(())
    }

    /// Per-underlying rates at this model's horizon, cached: (delta-one stress, basis + concentration).
    fn rates(&self, underlying: &str) -> Result<(f64, f64), XchainError> {
        type Key = (String, u64, u64);
        static CACHE: OnceLock<Mutex<BTreeMap<Key, (f64, f64)>>> = OnceLock::new();
        let base = bundled()?;
        let horizon = self.horizon_s.unwrap_or(base.horizon_s);
        let key = (
            underlying.to_string(),
            horizon.to_bits(),
            self.max_gross_notional.to_bits(),
        );
        let cache = CACHE.get_or_init(|| Mutex::new(BTreeMap::new()));
        if let Some(r) = cache.lock().ok().and_then(|c| c.get(&key).copied()) {
            return Ok(r);
        }
        let model = if horizon == base.horizon_s {
            base.clone()
        } else {
            base.clone().with_horizon_s(horizon)
        };
        let err = |e: intermargin_margin::MarginError| XchainError::config("model", e.to_string());
        let per_gross = model.basis_rate(Venue::Hub).map_err(err)?
            + model
                .linear_concentration_rate(Venue::Hub, underlying, self.max_gross_notional)
                .map_err(err)?;
        let r = (model.delta_one_stress(underlying), per_gross);
        if let Ok(mut c) = cache.lock() {
            if c.len() < 4096 {
                c.insert(key, r);
            }
        }
        Ok(r)
    }
}

impl RequirementModel for UnifiedSpokeModel {
    fn requirement_parts(
        &self,
        parts: &[(u64, &Positions)],
        prices: &BTreeMap<String, f64>,
    ) -> Result<u128, XchainError> {
        let scale = 10f64.powi(self.size_decimals as i32);
        let mut net: BTreeMap<&str, i128> = BTreeMap::new();
        let mut total = 0.0f64;
        let price_of = |u: &str| -> Result<f64, XchainError> {
            let p = *prices
                .get(u)
                .ok_or_else(|| XchainError::malformed(format!("prices.{u}"), "no price"))?;
            if !p.is_finite() || p <= 0.0 {
                return Err(XchainError::malformed(
                    format!("prices.{u}"),
                    format!("must be a positive number, got {p}"),
                ));
            }
            Ok(p)
        };
        for (spoke, positions) in parts {
            for (u, &size) in positions.iter() {
                let e = net.entry(u.as_str()).or_insert(0);
                *e = e
                    .checked_add(size)
                    .ok_or_else(|| XchainError::Overflow(format!("net size of {u}")))?;
                if size == 0 {
                    continue;
                }
                let gross = size.unsigned_abs() as f64 / scale * price_of(u)?;
                if gross > self.max_gross_notional {
                    return Err(XchainError::malformed(
                        format!("book[{spoke}].{u}"),
                        format!(
                            "gross notional {gross:.2} exceeds model.max_gross_notional {}",
                            self.max_gross_notional
                        ),
                    ));
                }
                total += gross * self.rates(u)?.1;
            }
        }
        for (u, n) in net {
            if n != 0 {
                total += n.unsigned_abs() as f64 / scale * price_of(u)? * self.rates(u)?.0;
            }
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

/// The requirement model a hub is configured with: the unified model (default) or the legacy
/// net-delta model. TOML/JSON: `[model] kind = "unified" | "net_delta"` plus the model's keys.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SpokeModel {
    /// The margin crate's unified model ([`UnifiedSpokeModel`]).
    Unified(UnifiedSpokeModel),
    /// Net delta x rate + gross floor ([`crate::requirement::NetDeltaModel`]).
    NetDelta(crate::requirement::NetDeltaModel),
}

impl Default for SpokeModel {
    fn default() -> Self {
        SpokeModel::Unified(UnifiedSpokeModel::standard(8, 6))
    }
}

impl SpokeModel {
    /// Decimals of position sizes.
    pub fn size_decimals(&self) -> u32 {
        match self {
            SpokeModel::Unified(m) => m.size_decimals,
            SpokeModel::NetDelta(m) => m.size_decimals,
        }
    }

    /// Decimals of the collateral asset.
    pub fn collateral_decimals(&self) -> u32 {
        match self {
            SpokeModel::Unified(m) => m.collateral_decimals,
            SpokeModel::NetDelta(m) => m.collateral_decimals,
        }
    }

    /// Validates the model's keys, naming the one at fault.
    pub fn validate(&self) -> Result<(), XchainError> {
        match self {
            SpokeModel::Unified(m) => m.validate(),
            SpokeModel::NetDelta(m) => m.validate(),
        }
    }
}

impl RequirementModel for SpokeModel {
    fn requirement_parts(
        &self,
        parts: &[(u64, &Positions)],
        prices: &BTreeMap<String, f64>,
    ) -> Result<u128, XchainError> {
        match self {
            SpokeModel::Unified(m) => m.requirement_parts(parts, prices),
            SpokeModel::NetDelta(m) => m.requirement_parts(parts, prices),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requirement::{Book, ROUNDING_GUARD};
    use proptest::prelude::*;

    fn m() -> UnifiedSpokeModel {
        UnifiedSpokeModel::standard(8, 6)
    }

    #[test]
    fn hedged_legs_net_across_spokes_and_pay_only_basis_and_concentration() {
        // +2 BTC on spoke 1, -2 BTC on spoke 2 at 60,000: the net is 0, so only the per-spoke charges
        // remain: 2 x 120,000 x (hub basis 0 + y x 3 % x sqrt(50M / 1e8)) (unified.toml: y = 1,
        // BTC daily vol 0.03, hub depth 1e8).
        let book = Book::from([
            (1, Positions::from([("BTC".to_string(), 200_000_000)])),
            (2, Positions::from([("BTC".to_string(), -200_000_000)])),
        ]);
        let prices = BTreeMap::from([("BTC".to_string(), 60_000.0)]);
        let want = 2.0 * 120_000.0 * 0.03 * (50_000_000.0f64 / 1e8).sqrt();
        let got = m().requirement(&book, &prices).unwrap() as f64 / 1e6;
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }

    #[test]
    fn an_open_leg_pays_the_btc_range() {
        // 1 BTC at 60,000, 16 % range (extended moves count at most the range): 9,600 + concentration.
        let book = Book::from([(1, Positions::from([("BTC".to_string(), 100_000_000)]))]);
        let prices = BTreeMap::from([("BTC".to_string(), 60_000.0)]);
        let conc = 60_000.0 * 0.03 * (50_000_000.0f64 / 1e8).sqrt();
        let got = m().requirement(&book, &prices).unwrap() as f64 / 1e6;
        assert!((got - (9_600.0 + conc)).abs() < 1e-5, "{got}");
    }

    #[test]
    fn a_book_beyond_the_cap_is_refused_naming_it() {
        let book = Book::from([(
            3,
            Positions::from([("BTC".to_string(), 100_000 * 100_000_000)]),
        )]);
        let prices = BTreeMap::from([("BTC".to_string(), 60_000.0)]);
        let e = m().requirement(&book, &prices).unwrap_err().to_string();
        assert!(
            e.contains("book[3].BTC") && e.contains("max_gross_notional"),
            "{e}"
        );
    }

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

    proptest! {
        /// xchain's safety property holds for the unified model: R(A+B) ≤ R(A) + R(B) + guard.
        #[test]
        fn unified_requirement_is_subadditive_up_to_the_guard(a in book_strategy(), b in book_strategy()) {
            let prices = BTreeMap::from([("BTC".to_string(), 71_234.5), ("ETH".to_string(), 3_612.25)]);
            let mut ab = a.clone();
            for (id, p) in &b {
                let e = ab.entry(*id).or_default();
                for (u, s) in p {
                    *e.entry(u.clone()).or_insert(0) += s;
                }
            }
            let ra = m().requirement(&a, &prices).unwrap();
            let rb = m().requirement(&b, &prices).unwrap();
            let rab = m().requirement(&ab, &prices).unwrap();
            prop_assert!(rab <= ra + rb + ROUNDING_GUARD, "{rab} > {ra} + {rb} + guard");
        }
    }
}

//! `ROUTES.json`: the transfer routes, haircuts and options of an account, and how it combines
//! with a canonical snapshot into a [`Problem`].

use std::collections::{BTreeMap, BTreeSet};

use intermargin_model::{Account, Market, Portfolio};
use serde::{Deserialize, Serialize};

use crate::error::{non_negative, AllocateError};
use crate::problem::{AssetSpec, HaircutOverride, Holding, Options, Problem, Requirement, Route};

/// The routes file the `allocate` command reads (format documented in the crate README).
///
/// ```json
/// {
///   "source": "where the fee figures come from",
///   "haircuts": { "BTC": 0.05, "USDC": 0.0 },
///   "location_haircuts": { "aave": { "BTC": 1.0 } },
///   "unified_location": "hub",
///   "options": { "target_ratio": 1.5, "max_latency_s": 3600 },
///   "routes": [
///     { "from": "binance", "to": "deribit", "asset": "USDC", "fee_fixed": "1000000",
///       "fee_bps": 0, "latency_s": 600, "min_amount": "10000000",
///       "max_amount": "1000000000000", "daily_limit": "5000000000000" }
///   ]
/// }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutesFile {
    /// Where the fees, limits and haircuts come from (documentation URLs), for the reader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Free text for the reader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Haircut per asset, in `[0, 1]`; every asset held or routed needs one.
    pub haircuts: BTreeMap<String, f64>,
    /// Haircut per location and asset where a venue values collateral differently
    /// (1.0 = not accepted there).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub location_haircuts: BTreeMap<String, BTreeMap<String, f64>>,
    /// Location that must hold the unified requirement (the hub); absent, the unified
    /// requirement is checked against all locations together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unified_location: Option<String>,
    /// Optimisation knobs.
    #[serde(default)]
    pub options: Options,
    /// Transfer routes.
    #[serde(default)]
    pub routes: Vec<Route>,
}

impl RoutesFile {
    /// Parses and checks a routes file, naming the field at fault.
    pub fn from_json(text: &str) -> Result<RoutesFile, AllocateError> {
        let file: RoutesFile = serde_json::from_str(text).map_err(|e| AllocateError::Invalid {
            field: "routes file".to_string(),
            reason: e.to_string(),
        })?;
        for (sym, h) in &file.haircuts {
            haircut_ok(&format!("haircuts[{sym:?}]"), *h)?;
        }
        for (i, r) in file.routes.iter().enumerate() {
            if r.latency_s.is_none() {
                return Err(AllocateError::invalid(
                    format!("routes[{i}].latency_s"),
                    "missing: every route needs the seconds until funds are usable at the destination",
                ));
            }
        }
        for (loc, m) in &file.location_haircuts {
            for (sym, h) in m {
                haircut_ok(&format!("location_haircuts[{loc:?}][{sym:?}]"), *h)?;
            }
        }
        Ok(file)
    }

    /// Seconds until collateral can reach the slowest-served location: for every destination other
    /// than the unified location, its fastest inbound route; the largest of those. `None` without routes.
    pub fn cure_horizon_s(&self) -> Option<f64> {
        let mut fastest: BTreeMap<&str, u64> = BTreeMap::new();
        for r in &self.routes {
            if Some(&r.to) == self.unified_location.as_ref() {
                continue;
            }
            if let Some(l) = r.latency_s {
                let e = fastest.entry(r.to.as_str()).or_insert(l);
                *e = (*e).min(l);
            }
        }
        fastest.values().max().map(|&l| l as f64)
    }

    /// Builds the allocation problem for one account of a snapshot.
    ///
    /// `venue_requirements` are each location's own requirement in the market's quote
    /// currency; `unified` is the unified requirement, placed at `unified_location` or, when
    /// that is absent, on all locations together. Collateral is located by venue name
    /// (sub-accounts and chain ids of one venue are pooled).
    pub fn problem(
        &self,
        portfolio: &Portfolio,
        account: &Account,
        market: &Market,
        venue_requirements: &[(String, f64)],
        unified: Option<f64>,
    ) -> Result<Problem, AllocateError> {
        let mut used: BTreeSet<&str> = BTreeSet::new();
        for c in &account.collateral {
            used.insert(c.asset.as_str());
        }
        for (i, r) in self.routes.iter().enumerate() {
            if portfolio.asset(&r.asset).is_none() {
                return Err(AllocateError::UnknownAsset {
                    field: format!("routes[{i}].asset"),
                    asset: r.asset.clone(),
                });
            }
            used.insert(r.asset.as_str());
        }
        let mut assets = Vec::with_capacity(used.len());
        for sym in used {
            let decl = portfolio
                .asset(sym)
                .ok_or_else(|| AllocateError::UnknownAsset {
                    field: format!("portfolio.assets[{sym:?}]"),
                    asset: sym.to_string(),
                })?;
            let price = market.fx_rate(sym).ok_or_else(|| {
                AllocateError::invalid(
                    format!("market.fx[{sym:?}]"),
                    "no price for an asset that is held or routed",
                )
            })?;
            let haircut = *self.haircuts.get(sym).ok_or_else(|| {
                AllocateError::invalid(
                    format!("haircuts[{sym:?}]"),
                    "missing: every asset held or routed needs a haircut",
                )
            })?;
            assets.push(AssetSpec {
                symbol: sym.to_string(),
                decimals: decl.decimals,
                price,
                haircut,
            });
        }
        let holdings = account
            .collateral
            .iter()
            .map(|c| Holding {
                location: c.venue.as_str().to_string(),
                asset: c.asset.clone(),
                amount: c.amount,
            })
            .collect();
        let haircut_overrides = self
            .location_haircuts
            .iter()
            .flat_map(|(loc, m)| {
                m.iter().map(move |(sym, h)| HaircutOverride {
                    location: loc.clone(),
                    asset: sym.clone(),
                    haircut: *h,
                })
            })
            .collect();
        let mut requirements: Vec<Requirement> = Vec::with_capacity(venue_requirements.len() + 1);
        for (loc, req) in venue_requirements {
            requirements.push(Requirement {
                location: Some(loc.clone()),
                requirement: *req,
            });
        }
        if let Some(u) = unified {
            if let Some(hub) = &self.unified_location {
                if venue_requirements.iter().any(|(l, _)| l == hub) {
                    return Err(AllocateError::invalid(
                        "unified_location",
                        format!("{hub:?} already has its own venue requirement"),
                    ));
                }
            }
            requirements.push(Requirement {
                location: self.unified_location.clone(),
                requirement: u,
            });
        }
        Ok(Problem {
            assets,
            holdings,
            haircut_overrides,
            requirements,
            routes: self.routes.clone(),
            options: self.options.clone(),
        })
    }
}

fn haircut_ok(field: &str, h: f64) -> Result<(), AllocateError> {
    non_negative(field, h)?;
    if h > 1.0 {
        return Err(AllocateError::OutOfRange {
            field: field.to_string(),
            reason: "must be <= 1".to_string(),
            value: h.to_string(),
        });
    }
    Ok(())
}

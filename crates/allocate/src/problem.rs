//! The allocation problem as the caller states it, and its validation into indexed form.

use std::collections::BTreeMap;

use intermargin_model::Amount;
use serde::{Deserialize, Serialize};

use crate::error::{finite, non_negative, AllocateError};

/// An asset the plan may hold or move: exact decimals, its price and the share that counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetSpec {
    /// Ticker (`BTC`, `USDC`).
    pub symbol: String,
    /// Decimals of one whole unit (BTC 8, USDC 6); base units are `10^-decimals` of a unit.
    pub decimals: u32,
    /// Value of one whole unit in the quote currency.
    pub price: f64,
    /// Fraction of the value that does *not* count as collateral (0.05 = 5 % haircut).
    pub haircut: f64,
}

/// A balance of one asset at one location (a venue or a chain), in exact base units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holding {
    /// Location name (`deribit`, `binance`, `hub`, `aave`).
    pub location: String,
    /// Asset symbol, declared in [`Problem::assets`].
    pub asset: String,
    /// Signed base units; a negative balance is debt, which the plan never moves.
    pub amount: Amount,
}

/// A location-specific haircut (a venue that values an asset differently, or refuses it: 1.0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HaircutOverride {
    /// Location name.
    pub location: String,
    /// Asset symbol.
    pub asset: String,
    /// Haircut at that location, in `[0, 1]`.
    pub haircut: f64,
}

/// A requirement that haircut collateral must cover, in the quote currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Requirement {
    /// The location whose collateral must cover it; `None` means all locations together
    /// (a unified requirement not tied to a hub location).
    pub location: Option<String>,
    /// Required haircut collateral value, in the quote currency.
    pub requirement: f64,
}

fn is_zero(a: &Amount) -> bool {
    a.0 == 0
}

/// A way to move one asset from one location to another, with its costs and limits.
///
/// Amounts are base units of `asset`. A transfer of `amount` costs
/// `fee = fee_fixed + ceil(amount * fee_bps / 10000)` (rounded against the account) and
/// delivers `amount - fee`. A plan makes at most one transfer per route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Source location.
    pub from: String,
    /// Destination location.
    pub to: String,
    /// Asset moved (no conversion on the way).
    pub asset: String,
    /// Fixed fee per transfer, base units of `asset` (withdrawal or gas fee).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub fee_fixed: Amount,
    /// Proportional fee in basis points of the amount sent, in `[0, 10000)`, resolved to 0.0001 bp.
    #[serde(default)]
    pub fee_bps: f64,
    /// Time from sending to the funds being usable at the destination, seconds (required: a
    /// route without it is rejected, since the close-out horizon and the time to cure depend on it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_s: Option<u64>,
    /// Smallest amount one transfer may send (venue withdrawal minimum).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min_amount: Amount,
    /// Largest amount one transfer may send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_amount: Option<Amount>,
    /// Largest total the route may carry per UTC day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_limit: Option<Amount>,
    /// Part of `daily_limit` already used today.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub used_today: Amount,
}

/// Knobs of the optimisation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// Stop lifting the worst headroom ratio once it reaches this (e.g. 1.5), so that a healthy
    /// book is not churned for ever higher ratios; `None` maximises without a cap.
    #[serde(default)]
    pub target_ratio: Option<f64>,
    /// Routes slower than this (seconds) are not used.
    #[serde(default)]
    pub max_latency_s: Option<u64>,
}

/// Everything the allocator needs, as plain data (no venue or margin knowledge).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// Assets with decimals, price and default haircut.
    pub assets: Vec<AssetSpec>,
    /// Current balances; several entries for the same location and asset are added.
    pub holdings: Vec<Holding>,
    /// Location-specific haircuts.
    #[serde(default)]
    pub haircut_overrides: Vec<HaircutOverride>,
    /// Requirements to cover, at most one per location and one for the total.
    pub requirements: Vec<Requirement>,
    /// Transfer routes.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Optimisation knobs.
    #[serde(default)]
    pub options: Options,
}

/// Longest route latency accepted, seconds (30 days): bounds the plan's arrival times.
pub const MAX_LATENCY_S: u64 = 30 * 86_400;

/// Resolution of proportional fees: fee rates are integers of `1 / FEE_SCALE` of the amount.
pub(crate) const FEE_SCALE: i128 = 100_000_000;

/// A route after validation, with limits resolved to one cap.
#[derive(Debug, Clone)]
pub(crate) struct PRoute {
    pub from: usize,
    pub to: usize,
    pub asset: usize,
    pub fee_fixed: i128,
    /// Proportional fee in units of `1 / FEE_SCALE`.
    pub fee_rate: i128,
    pub latency_ms: i64,
    pub min_amount: i128,
    /// Largest amount a transfer on this route may send now (max_amount, daily room, supply).
    pub cap: i128,
    /// Smallest useful amount: at least `min_amount`, and more than the fee.
    pub lower: i128,
    /// Usable in this run (within latency, cap ≥ lower).
    pub eligible: bool,
}

impl PRoute {
    /// Proportional fee as a fraction.
    pub fn rate(&self) -> f64 {
        self.fee_rate as f64 / FEE_SCALE as f64
    }

    /// Exact fee of sending `amount` base units, rounded up.
    pub fn fee(&self, amount: i128) -> Option<i128> {
        let prop = amount.checked_mul(self.fee_rate)?;
        let prop = (prop + FEE_SCALE - 1).div_euclid(FEE_SCALE);
        self.fee_fixed.checked_add(prop)
    }
}

/// A requirement after validation.
#[derive(Debug, Clone)]
pub(crate) struct PRequirement {
    pub location: Option<usize>,
    pub requirement: f64,
}

/// The validated, indexed problem the solver works on.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub assets: Vec<AssetSpec>,
    /// Base units per whole unit, as f64.
    pub scale: Vec<f64>,
    pub locations: Vec<String>,
    /// `holdings[location][asset]`, base units.
    pub holdings: Vec<Vec<i128>>,
    /// `weight[location][asset]`: quote value of one whole unit after that location's haircut.
    pub weight: Vec<Vec<f64>>,
    pub requirements: Vec<PRequirement>,
    pub routes: Vec<PRoute>,
    pub target_ratio: Option<f64>,
}

fn name_ok(field: &str, s: &str) -> Result<(), AllocateError> {
    if s.trim().is_empty() {
        return Err(AllocateError::invalid(field, "must not be empty"));
    }
    Ok(())
}

fn unit_interval(field: &str, v: f64) -> Result<(), AllocateError> {
    non_negative(field, v)?;
    if v > 1.0 {
        return Err(AllocateError::OutOfRange {
            field: field.to_string(),
            reason: "must be <= 1".to_string(),
            value: v.to_string(),
        });
    }
    Ok(())
}

fn amount_non_negative(field: &str, a: Amount) -> Result<(), AllocateError> {
    if a.0 < 0 {
        return Err(AllocateError::Negative {
            field: field.to_string(),
            value: a.0.to_string(),
        });
    }
    Ok(())
}

impl Problem {
    /// Validates every field and indexes locations and assets.
    pub(crate) fn prepare(&self) -> Result<Prepared, AllocateError> {
        let mut asset_ix: BTreeMap<&str, usize> = BTreeMap::new();
        let mut scale = Vec::with_capacity(self.assets.len());
        for (i, a) in self.assets.iter().enumerate() {
            name_ok(&format!("assets[{i}].symbol"), &a.symbol)?;
            if asset_ix.insert(a.symbol.as_str(), i).is_some() {
                return Err(AllocateError::invalid(
                    format!("assets[{i}].symbol"),
                    format!("{:?} declared twice", a.symbol),
                ));
            }
            if a.decimals > 30 {
                return Err(AllocateError::OutOfRange {
                    field: format!("assets[{i}].decimals"),
                    reason: "must be <= 30".to_string(),
                    value: a.decimals.to_string(),
                });
            }
            finite(&format!("assets[{i}].price"), a.price)?;
            if a.price <= 0.0 {
                return Err(AllocateError::OutOfRange {
                    field: format!("assets[{i}].price"),
                    reason: "must be > 0".to_string(),
                    value: a.price.to_string(),
                });
            }
            unit_interval(&format!("assets[{i}].haircut"), a.haircut)?;
            scale.push(10f64.powi(a.decimals as i32));
        }
        let asset_of = |field: String, sym: &str| -> Result<usize, AllocateError> {
            asset_ix
                .get(sym)
                .copied()
                .ok_or_else(|| AllocateError::UnknownAsset {
                    field,
                    asset: sym.to_string(),
                })
        };

        // Locations: every name mentioned anywhere, in sorted order (deterministic output).
        let mut loc_names: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, h) in self.holdings.iter().enumerate() {
            name_ok(&format!("holdings[{i}].location"), &h.location)?;
            loc_names.insert(h.location.as_str(), 0);
        }
        for (i, r) in self.requirements.iter().enumerate() {
            if let Some(l) = &r.location {
                name_ok(&format!("requirements[{i}].location"), l)?;
                loc_names.insert(l.as_str(), 0);
            }
        }
        for (i, r) in self.routes.iter().enumerate() {
            name_ok(&format!("routes[{i}].from"), &r.from)?;
            name_ok(&format!("routes[{i}].to"), &r.to)?;
            loc_names.insert(r.from.as_str(), 0);
            loc_names.insert(r.to.as_str(), 0);
        }
        for (i, o) in self.haircut_overrides.iter().enumerate() {
            name_ok(&format!("haircut_overrides[{i}].location"), &o.location)?;
            loc_names.insert(o.location.as_str(), 0);
        }
        let locations: Vec<String> = loc_names.keys().map(|s| s.to_string()).collect();
        for (i, v) in loc_names.values_mut().enumerate() {
            *v = i;
        }
        let na = self.assets.len();
        let nl = locations.len();

        let mut holdings = vec![vec![0i128; na]; nl];
        for (i, h) in self.holdings.iter().enumerate() {
            let a = asset_of(format!("holdings[{i}].asset"), &h.asset)?;
            let l = loc_names[h.location.as_str()];
            holdings[l][a] =
                holdings[l][a]
                    .checked_add(h.amount.0)
                    .ok_or_else(|| AllocateError::Overflow {
                        field: format!("holdings[{i}].amount"),
                    })?;
        }

        let mut haircut: Vec<Vec<f64>> = (0..nl)
            .map(|_| self.assets.iter().map(|a| a.haircut).collect())
            .collect();
        let mut seen = BTreeMap::new();
        for (i, o) in self.haircut_overrides.iter().enumerate() {
            let a = asset_of(format!("haircut_overrides[{i}].asset"), &o.asset)?;
            unit_interval(&format!("haircut_overrides[{i}].haircut"), o.haircut)?;
            let l = loc_names[o.location.as_str()];
            if seen.insert((l, a), i).is_some() {
                return Err(AllocateError::invalid(
                    format!("haircut_overrides[{i}]"),
                    format!("second haircut for {} at {}", o.asset, o.location),
                ));
            }
            haircut[l][a] = o.haircut;
        }
        let weight: Vec<Vec<f64>> = haircut
            .iter()
            .map(|row| {
                row.iter()
                    .zip(&self.assets)
                    .map(|(h, a)| a.price * (1.0 - h))
                    .collect()
            })
            .collect();

        let mut requirements = Vec::with_capacity(self.requirements.len());
        let mut req_seen: BTreeMap<Option<usize>, usize> = BTreeMap::new();
        for (i, r) in self.requirements.iter().enumerate() {
            non_negative(&format!("requirements[{i}].requirement"), r.requirement)?;
            let location = r.location.as_deref().map(|l| loc_names[l]);
            if let Some(prev) = req_seen.insert(location, i) {
                return Err(AllocateError::invalid(
                    format!("requirements[{i}].location"),
                    format!("same location as requirements[{prev}]"),
                ));
            }
            requirements.push(PRequirement {
                location,
                requirement: r.requirement,
            });
        }

        if let Some(t) = self.options.target_ratio {
            finite("options.target_ratio", t)?;
            if t <= 0.0 {
                return Err(AllocateError::OutOfRange {
                    field: "options.target_ratio".to_string(),
                    reason: "must be > 0".to_string(),
                    value: t.to_string(),
                });
            }
        }

        // Supply of each asset: no transfer can ever move more than all positive balances.
        let mut supply = vec![0i128; na];
        for row in &holdings {
            for (a, h) in row.iter().enumerate() {
                supply[a] = supply[a].saturating_add((*h).max(0));
            }
        }

        let mut routes = Vec::with_capacity(self.routes.len());
        for (i, r) in self.routes.iter().enumerate() {
            let f = |name: &str| format!("routes[{i}].{name}");
            let asset = asset_of(f("asset"), &r.asset)?;
            if r.from == r.to {
                return Err(AllocateError::invalid(
                    f("to"),
                    format!("same location as from ({:?})", r.from),
                ));
            }
            non_negative(&f("fee_bps"), r.fee_bps)?;
            if r.fee_bps >= 10_000.0 {
                return Err(AllocateError::OutOfRange {
                    field: f("fee_bps"),
                    reason: "must be < 10000 (a fee of the whole amount)".to_string(),
                    value: r.fee_bps.to_string(),
                });
            }
            amount_non_negative(&f("fee_fixed"), r.fee_fixed)?;
            let latency_s = r.latency_s.ok_or_else(|| {
                AllocateError::invalid(
                    f("latency_s"),
                    "missing: every route needs the seconds until funds are usable at the destination",
                )
            })?;
            if latency_s > MAX_LATENCY_S {
                return Err(AllocateError::OutOfRange {
                    field: f("latency_s"),
                    reason: format!("must be at most {MAX_LATENCY_S} (30 days)"),
                    value: latency_s.to_string(),
                });
            }
            let latency_ms = latency_s as i64 * 1000;
            amount_non_negative(&f("min_amount"), r.min_amount)?;
            amount_non_negative(&f("used_today"), r.used_today)?;
            let mut cap = supply[asset];
            if let Some(m) = r.max_amount {
                if m.0 <= 0 {
                    return Err(AllocateError::OutOfRange {
                        field: f("max_amount"),
                        reason: "must be > 0".to_string(),
                        value: m.0.to_string(),
                    });
                }
                if m.0 < r.min_amount.0 {
                    return Err(AllocateError::invalid(
                        f("max_amount"),
                        format!("{} is below min_amount {}", m.0, r.min_amount.0),
                    ));
                }
                cap = cap.min(m.0);
            }
            if let Some(d) = r.daily_limit {
                amount_non_negative(&f("daily_limit"), d)?;
                cap = cap.min((d.0 - r.used_today.0).max(0));
            }
            // fee_bps resolved to 1e-4 bp: rate = bps / 10^4 as a fraction, times FEE_SCALE.
            let fee_rate = (r.fee_bps * (FEE_SCALE as f64) / 10_000.0).round() as i128;
            let mut pr = PRoute {
                from: loc_names[r.from.as_str()],
                to: loc_names[r.to.as_str()],
                asset,
                fee_fixed: r.fee_fixed.0,
                fee_rate,
                latency_ms,
                min_amount: r.min_amount.0,
                cap,
                lower: 0,
                eligible: true,
            };
            // Smallest amount worth sending: delivers at least one base unit after fees.
            let rate = pr.rate();
            let over_fee = ((pr.fee_fixed as f64 + 1.0) / (1.0 - rate)).ceil() as i128;
            let mut lower = over_fee.max(1);
            while pr.fee(lower).is_some_and(|fee| lower - fee < 1) {
                lower += 1;
            }
            pr.lower = lower.max(pr.min_amount);
            pr.eligible = pr.cap >= pr.lower
                && !matches!(self.options.max_latency_s, Some(m) if latency_s > m);
            routes.push(pr);
        }

        Ok(Prepared {
            assets: self.assets.clone(),
            scale,
            locations,
            holdings,
            weight,
            requirements,
            routes,
            target_ratio: self.options.target_ratio,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_route(fee_fixed: i128, fee_bps: f64, min_amount: i128) -> Problem {
        Problem {
            assets: vec![AssetSpec {
                symbol: "USDC".into(),
                decimals: 6,
                price: 1.0,
                haircut: 0.0,
            }],
            holdings: vec![Holding {
                location: "a".into(),
                asset: "USDC".into(),
                amount: Amount(1_000_000_000),
            }],
            haircut_overrides: vec![],
            requirements: vec![],
            routes: vec![Route {
                from: "a".into(),
                to: "b".into(),
                asset: "USDC".into(),
                fee_fixed: Amount(fee_fixed),
                fee_bps,
                latency_s: Some(0),
                min_amount: Amount(min_amount),
                max_amount: None,
                daily_limit: None,
                used_today: Amount(0),
            }],
            options: Options::default(),
        }
    }

    #[test]
    fn proportional_fee_rounds_up_to_the_next_base_unit() {
        // 10 bp of 600 200 067 = 600 200.067 base units -> 600 201.
        let p = one_route(0, 10.0, 0).prepare().unwrap();
        assert_eq!(p.routes[0].fee(600_200_067), Some(600_201));
        // an exact multiple does not round: 10 bp of 1 000 000 = 1 000.
        assert_eq!(p.routes[0].fee(1_000_000), Some(1_000));
        // fixed 2 USDC plus 0.5 bp of 100 USDC (0.005 USDC = 5 000 base units)
        let p = one_route(2_000_000, 0.5, 0).prepare().unwrap();
        assert_eq!(p.routes[0].fee(100_000_000), Some(2_005_000));
    }

    #[test]
    fn smallest_useful_amount_covers_the_fee_and_the_minimum() {
        // fixed 20 USDC, no proportional fee: 20 000 001 delivers one base unit.
        let p = one_route(20_000_000, 0.0, 0).prepare().unwrap();
        assert_eq!(p.routes[0].lower, 20_000_001);
        // 1 bp and no fixed fee: 1 unit pays a 1-unit fee (rounded up), 2 units deliver 1.
        let p = one_route(0, 1.0, 0).prepare().unwrap();
        assert_eq!(p.routes[0].lower, 2);
        // a withdrawal minimum above that wins
        let p = one_route(20_000_000, 0.0, 50_000_000).prepare().unwrap();
        assert_eq!(p.routes[0].lower, 50_000_000);
    }

    #[test]
    fn the_cap_is_the_tightest_of_max_daily_room_and_supply() {
        let mut pr = one_route(0, 0.0, 0);
        assert_eq!(pr.prepare().unwrap().routes[0].cap, 1_000_000_000); // supply
        pr.routes[0].max_amount = Some(Amount(700_000_000));
        pr.routes[0].daily_limit = Some(Amount(900_000_000));
        pr.routes[0].used_today = Amount(400_000_000);
        assert_eq!(pr.prepare().unwrap().routes[0].cap, 500_000_000); // daily room
        pr.routes[0].used_today = Amount(950_000_000);
        let p = pr.prepare().unwrap();
        assert_eq!(p.routes[0].cap, 0);
        assert!(!p.routes[0].eligible);
    }
}

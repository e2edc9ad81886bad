//! Aave v3: health factor, borrowing power, E-Mode and close factor, and their mapping onto
//! [`VenueMargin`].
//!
//! * `HF = Σ collateral_i·price_i·LT_i / Σ debt_j·price_j` in the market's base currency (USD);
//!   liquidatable when `HF < 1`; infinite without debt (<https://aave.com/docs/aave-v3/markets/health-factor>).
//! * Borrowing power `= Σ collateral_i·price_i·LTV_i` (<https://aave.com/docs/aave-v3/concepts/reserve>).
//! * E-Mode: a user in category `c` uses the category's LTV / LT for the category's assets.
//! * Close factor: [`close_factor`].
//!
//! **Mapping onto `VenueMargin`** (settlement `USD`, Aave's base currency):
//! `equity = C − D` (collateral value − debt value), `maintenance = Σ C_i·(1 − LT_i)`,
//! `initial = Σ C_i·(1 − LTV_i)`. Then `equity ≤ maintenance ⇔ D ≥ Σ C_i·LT_i ⇔ HF ≤ 1`, so
//! `margin_ratio ≥ 1 ⇔ HF ≤ 1`, and `equity ≥ initial ⇔ D ≤ borrowing power`. Maintenance is the
//! part of the collateral value the protocol does not count toward solvency.
//!
//! Parameters (`crates/venues/PARAMS.md`): per reserve `market.venue_params["aave:SYMBOL"]`
//! (`ltv`, `liquidation_threshold`, `usage_as_collateral_enabled`, `emode_category`,
//! `price_usd`) before `params/aave.toml`; the user's E-Mode category from
//! `["aave:user:ACCOUNT_ID"].emode_category`; categories from `["aave"].emode_categories` before
//! the file; `["aave:user-reserve:SYMBOL"].collateral_disabled` switches a supply off as
//! collateral; a totals-only import (asset `USD`) is margined at the user's
//! `current_liquidation_threshold` and `ltv` from `["aave:user:ACCOUNT_ID"]`. A reserve belongs to the user's category when its `emode_category` says so (or the
//! file lists it). Prices: `market.index_prices["aave:SYMBOL"]`, else the reserve's `price_usd`,
//! else `market.fx`.

use std::collections::BTreeMap;

use intermargin_model::{Account, Asset, Market, Venue};
use serde::Deserialize;
use serde_json::Value;

use super::common::{index_price, pool};
use super::params::{bad_param, load, num_any, published, Provenance};
use crate::error::MarginError;
use crate::report::{MarginModel, PositionMargin, VenueMargin};

const FILE: &str = "params/aave.toml";

/// One reserve's risk parameters (fractions).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ReserveParams {
    /// Where the numbers come from (absent for venue-published values).
    #[serde(flatten, default)]
    pub provenance: Option<Provenance>,
    /// Loan-to-value: borrowing power per unit of collateral value.
    pub ltv: f64,
    /// Liquidation threshold.
    pub liquidation_threshold: f64,
    /// Liquidation bonus (extra part: 0.05 = 105 %), when known.
    #[serde(default)]
    pub liquidation_bonus: Option<f64>,
}

/// An E-Mode category.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EModeCategory {
    /// Where the numbers come from.
    #[serde(flatten, default)]
    pub provenance: Option<Provenance>,
    /// Category label.
    #[serde(default)]
    pub label: String,
    /// LTV inside the category.
    pub ltv: f64,
    /// Liquidation threshold inside the category.
    pub liquidation_threshold: f64,
    /// Liquidation bonus inside the category.
    #[serde(default)]
    pub liquidation_bonus: Option<f64>,
    /// Asset symbols the category applies to.
    pub assets: Vec<String>,
    /// v3.0–v3.1 `priceSource`: the oracle price (USD) of the category's price source, which
    /// replaces the oracle price of every reserve of the category for a user in it
    /// (`GenericLogic.calculateUserAccountData`, `EModeLogic.getEModeConfiguration`).
    #[serde(default)]
    pub price_usd: Option<f64>,
}

/// Close-factor constants.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LiquidationParams {
    /// Where the numbers come from.
    #[serde(flatten)]
    pub provenance: Provenance,
    /// Share of debt repayable in one liquidation by default (0.5).
    pub default_close_factor: f64,
    /// Share repayable when the health factor is at or below the threshold (1.0).
    pub max_close_factor: f64,
    /// Health factor at or below which the max close factor applies (0.95).
    pub close_factor_hf_threshold: f64,
    /// v3.3: below this reserve value (USD) the whole position may be liquidated (2,000).
    pub min_base_max_close_factor_threshold: f64,
    /// v3.3: dust bound that a partial liquidation must leave (1,000 USD).
    pub min_leftover_base: f64,
}

/// Aave's parameter file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AaveParams {
    /// Close-factor constants.
    pub liquidation: LiquidationParams,
    /// Reserves by symbol.
    pub reserves: BTreeMap<String, ReserveParams>,
    /// E-Mode categories by id.
    #[serde(default)]
    pub emode: BTreeMap<String, EModeCategory>,
}

impl AaveParams {
    /// The dated parameters embedded in the binary.
    pub fn embedded() -> Result<Self, MarginError> {
        load(FILE, include_str!("../../params/aave.toml"))
    }

    /// Parameters from the text of a file in this venue's format (another version of
    /// `params/aave.toml`: `intermargin params diff`).
    pub fn from_toml(text: &str) -> Result<Self, MarginError> {
        load(FILE, text)
    }
}

/// Protocol version, for the close-factor rules that changed in v3.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AaveVersion {
    /// v3.0–v3.2: 100 % close factor at or below the HF threshold; no dust rules.
    V3_0,
    /// v3.3+: at or below the threshold, and for reserves worth less than 2,000 USD.
    V3_3,
}

/// Share of the debt a liquidator may repay in one call.
///
/// `debt_value` / `collateral_value` are the liquidated reserves' values in USD (v3.3 rule).
pub fn close_factor(
    hf: f64,
    debt_value: f64,
    collateral_value: f64,
    version: AaveVersion,
    p: &LiquidationParams,
) -> f64 {
    if hf >= 1.0 {
        return 0.0;
    }
    match version {
        // aave-v3-core LiquidationLogic: `healthFactor > CLOSE_FACTOR_HF_THRESHOLD ?
        // DEFAULT_LIQUIDATION_CLOSE_FACTOR : MAX_LIQUIDATION_CLOSE_FACTOR` (100 % at exactly 0.95).
        AaveVersion::V3_0 => {
            if hf > p.close_factor_hf_threshold {
                p.default_close_factor
            } else {
                p.max_close_factor
            }
        }
        AaveVersion::V3_3 => {
            if hf <= p.close_factor_hf_threshold
                || debt_value < p.min_base_max_close_factor_threshold
                || collateral_value < p.min_base_max_close_factor_threshold
            {
                p.max_close_factor
            } else {
                p.default_close_factor
            }
        }
    }
}

/// Collateral value a liquidator receives for repaying `debt_repaid` (same currency): the
/// repaid value times `1 + bonus` (before the protocol's fee on the bonus part).
pub fn collateral_seized(debt_repaid: f64, bonus: f64) -> f64 {
    debt_repaid * (1.0 + bonus)
}

/// Health factor from `(collateral value, liquidation threshold)` pairs and the debt value;
/// infinite without debt.
pub fn health_factor_of(collateral: &[(f64, f64)], debt_value: f64) -> f64 {
    let weighted: f64 = collateral.iter().map(|(v, lt)| v * lt).sum();
    if debt_value <= 0.0 {
        f64::INFINITY
    } else {
        weighted / debt_value
    }
}

/// One reserve of a user, valued.
#[derive(Debug, Clone, PartialEq)]
pub struct ReserveState {
    /// Asset symbol.
    pub symbol: String,
    /// Price in USD.
    pub price: f64,
    /// Supplied units.
    pub supplied: f64,
    /// Borrowed units.
    pub borrowed: f64,
    /// Effective LTV (E-Mode applied; 0 when not usable as collateral).
    pub ltv: f64,
    /// Effective liquidation threshold.
    pub liquidation_threshold: f64,
}

/// Isolation mode of a user whose only collateral is an isolated asset (debt ceiling ≠ 0):
/// `UserConfiguration.getIsolationModeState`.
#[derive(Debug, Clone, PartialEq)]
pub struct Isolation {
    /// The isolated collateral.
    pub asset: String,
    /// Its debt ceiling (USD, the protocol's 2 decimals).
    pub debt_ceiling: f64,
    /// `isolationModeTotalDebt` of that reserve: every isolated user's debt against it (USD,
    /// 2 decimals).
    pub total_debt: f64,
}

impl Isolation {
    /// What the ceiling still allows to be borrowed (USD), never negative.
    pub fn headroom(&self) -> f64 {
        (self.debt_ceiling - self.total_debt).max(0.0)
    }
}

/// A user's Aave position, valued.
#[derive(Debug, Clone, PartialEq)]
pub struct AaveAccount {
    /// Per reserve.
    pub reserves: Vec<ReserveState>,
    /// Isolation mode, when the user's only collateral is an isolated asset.
    pub isolation: Option<Isolation>,
}

impl AaveAccount {
    /// Value of every supply (USD), collateral or not.
    pub fn supplied_value(&self) -> f64 {
        self.reserves.iter().map(|r| r.supplied * r.price).sum()
    }
    /// Collateral value (USD): supplies with a non-zero liquidation threshold, the reserves
    /// `GenericLogic.calculateUserAccountData` counts in `totalCollateralInBaseCurrency`.
    pub fn collateral_value(&self) -> f64 {
        self.reserves
            .iter()
            .filter(|r| r.liquidation_threshold > 0.0)
            .map(|r| r.supplied * r.price)
            .sum()
    }
    /// Debt value (USD).
    pub fn debt_value(&self) -> f64 {
        self.reserves.iter().map(|r| r.borrowed * r.price).sum()
    }
    /// `Σ C_i·x_i / Σ C_i` in whole basis points, floored as `GenericLogic`'s integer division.
    fn average_bps(&self, x: impl Fn(&ReserveState) -> f64) -> f64 {
        let total = self.collateral_value();
        if total <= 0.0 {
            return 0.0;
        }
        let weighted: f64 = self
            .reserves
            .iter()
            .filter(|r| r.liquidation_threshold > 0.0)
            .map(|r| r.supplied * r.price * bps(x(r)))
            .sum();
        // Snap binary noise before flooring (an exact 8250.0 must not become 8249).
        (((weighted / total) * 1e6).round() / 1e6).floor()
    }
    /// The user's average liquidation threshold, basis points floored (`avgLiquidationThreshold`).
    pub fn average_liquidation_threshold_bps(&self) -> f64 {
        self.average_bps(|r| r.liquidation_threshold)
    }
    /// The user's average LTV, basis points floored (`avgLtv`; zero-LTV collateral counts at 0).
    pub fn average_ltv_bps(&self) -> f64 {
        self.average_bps(|r| r.ltv)
    }
    /// `totalCollateral × avgLiquidationThreshold`: the debt at which HF = 1.
    pub fn threshold_value(&self) -> f64 {
        self.collateral_value() * self.average_liquidation_threshold_bps() / 10_000.0
    }
    /// Borrowing power `totalCollateral × avgLtv`.
    pub fn borrowing_power(&self) -> f64 {
        self.collateral_value() * self.average_ltv_bps() / 10_000.0
    }
    /// What the user may still borrow (USD): borrowing power less debt, and in isolation mode
    /// no more than the debt ceiling's headroom (`ValidationLogic.validateBorrow`); never
    /// negative.
    pub fn available_borrows(&self) -> f64 {
        let free = (self.borrowing_power() - self.debt_value()).max(0.0);
        match &self.isolation {
            Some(i) => free.min(i.headroom()),
            None => free,
        }
    }
    /// Health factor (infinite without debt), with the floored average threshold.
    pub fn health_factor(&self) -> f64 {
        let d = self.debt_value();
        if d <= 0.0 {
            f64::INFINITY
        } else {
            self.threshold_value() / d
        }
    }
}

/// A fraction in whole basis points, as reserve configurations store LTV and threshold.
fn bps(x: f64) -> f64 {
    (x * 10_000.0).round()
}

fn fraction(x: f64) -> f64 {
    // The contract returns basis points (8300); files and APIs may give fractions (0.83).
    if x > 1.0 {
        x / 10_000.0
    } else {
        x
    }
}

fn bonus_fraction(x: f64) -> f64 {
    // 10500 (bps of the repaid amount) or 1.05 → 0.05; 0.05 stays; 9500 → −0.05 (refused).
    if x > 100.0 {
        x / 10_000.0 - 1.0
    } else if x >= 1.0 {
        x - 1.0
    } else {
        x
    }
}

/// Refuses what `ReserveConfiguration` / `PoolConfigurator` refuse: LT above 100 %, LTV above
/// LT, negative values.
fn check_ltv_lt(ltv: f64, lt: f64, path: &str) -> Result<(), MarginError> {
    if !(lt.is_finite() && (0.0..=1.0).contains(&lt)) {
        return Err(bad_param(
            &format!("{path}.liquidation_threshold"),
            format!("{lt} is outside [0, 100 %]"),
        ));
    }
    if !(ltv.is_finite() && ltv >= 0.0) {
        return Err(bad_param(
            &format!("{path}.ltv"),
            format!("{ltv} is negative"),
        ));
    }
    if ltv > lt {
        return Err(bad_param(
            &format!("{path}.ltv"),
            format!("LTV {ltv} exceeds the liquidation threshold {lt}"),
        ));
    }
    Ok(())
}

/// Refuses a liquidation bonus below 100 % of the repaid debt (stored as the extra part).
fn check_bonus(bonus: Option<f64>, path: &str) -> Result<Option<f64>, MarginError> {
    match bonus {
        Some(b) if !(b.is_finite() && b >= 0.0) => Err(bad_param(
            path,
            format!("bonus {b} is below 100 % of the repaid debt"),
        )),
        other => Ok(other),
    }
}

/// Aave v3 rules.
#[derive(Debug, Clone)]
pub struct AaveV3 {
    params: AaveParams,
    emode: Option<String>,
}

impl AaveV3 {
    /// Rules with explicit parameters (what-ifs: `intermargin params diff --snapshot`).
    pub fn with_params(params: AaveParams) -> Self {
        AaveV3 {
            params,
            emode: None,
        }
    }

    /// Rules with the embedded parameters (E-Mode from the snapshot, if any).
    pub fn new() -> Result<Self, MarginError> {
        Ok(AaveV3 {
            params: AaveParams::embedded()?,
            emode: None,
        })
    }

    /// The same rules with the user in E-Mode category `id` (overrides the snapshot's).
    pub fn with_emode(mut self, id: u32) -> Self {
        self.emode = Some(id.to_string());
        self
    }

    /// The embedded parameters.
    pub fn params(&self) -> &AaveParams {
        &self.params
    }

    /// `(ltv, liquidation threshold, reserve's E-Mode category)` of a reserve.
    fn reserve(
        &self,
        account: &Account,
        market: &Market,
        symbol: &str,
    ) -> Result<(f64, f64, Option<u64>), MarginError> {
        let (ltv, lt, cat) = self.reserve_raw(account, market, symbol)?;
        check_ltv_lt(ltv, lt, &format!("market.venue_params[\"aave:{symbol}\"]"))?;
        Ok((ltv, lt, cat))
    }

    fn reserve_raw(
        &self,
        account: &Account,
        market: &Market,
        symbol: &str,
    ) -> Result<(f64, f64, Option<u64>), MarginError> {
        // The user switched this supply off as collateral.
        let off_key = format!("aave:user-reserve:{symbol}");
        if published(market, &off_key)
            .and_then(|v| v.get("collateral_disabled"))
            .and_then(Value::as_bool)
            == Some(true)
        {
            return Ok((0.0, 0.0, None));
        }
        // Totals-only import: the `USD` asset carries getUserAccountData's base-currency totals,
        // margined at the user's own weighted LTV and liquidation threshold.
        if symbol == "USD" && !self.params.reserves.contains_key("USD") {
            let user_key = format!("aave:user:{}", account.id);
            let p = format!("[{user_key:?}]");
            let v = published(market, &user_key).ok_or_else(|| {
                bad_param(
                    &p,
                    "totals-only Aave import (asset USD) needs the user's account data",
                )
            })?;
            let ltv = num_any(v, &["ltv"], &p)?
                .ok_or_else(|| bad_param(&format!("{p}.ltv"), "missing"))?;
            let lt = num_any(v, &["current_liquidation_threshold"], &p)?.ok_or_else(|| {
                bad_param(&format!("{p}.current_liquidation_threshold"), "missing")
            })?;
            return Ok((fraction(ltv), fraction(lt), None));
        }
        let key = format!("aave:{symbol}");
        if let Some(v) = published(market, &key) {
            let p = format!("[{key:?}]");
            let cat = num_any(v, &["emode_category", "eModeCategory"], &p)?.map(|x| x as u64);
            let usable = v
                .get("usage_as_collateral_enabled")
                .or_else(|| v.get("usageAsCollateralEnabled"))
                .and_then(Value::as_bool);
            if usable == Some(false) {
                return Ok((0.0, 0.0, cat));
            }
            let ltv = num_any(v, &["ltv"], &p)?;
            let lt = num_any(v, &["liquidation_threshold", "liquidationThreshold"], &p)?;
            return match (ltv, lt) {
                (Some(a), Some(b)) => Ok((fraction(a), fraction(b), cat)),
                _ => Err(bad_param(&p, "needs ltv and liquidation_threshold")),
            };
        }
        let r = self.params.reserves.get(symbol).ok_or_else(|| MarginError::Params {
            file: FILE.into(),
            field: format!("reserves.{symbol}"),
            reason: format!("no reserve parameters for {symbol}; supply market.venue_params[\"aave:{symbol}\"]"),
        })?;
        Ok((r.ltv, r.liquidation_threshold, None))
    }

    /// The user's E-Mode category id and its parameters, if the user is in one.
    fn emode_category(
        &self,
        account: &Account,
        market: &Market,
    ) -> Result<Option<(u64, EModeCategory)>, MarginError> {
        let user_key = format!("aave:user:{}", account.id);
        let id = match &self.emode {
            Some(id) => id.parse::<u64>().ok(),
            None => match published(market, &user_key) {
                Some(v) => {
                    num_any(v, &["emode_category"], &format!("[{user_key:?}]"))?.map(|x| x as u64)
                }
                None => None,
            },
        };
        let Some(id) = id.filter(|i| *i > 0) else {
            return Ok(None);
        };
        let key = id.to_string();
        if let Some(cat) = published(market, "aave")
            .and_then(|v| v.get("emode_categories"))
            .and_then(|c| c.get(&key))
        {
            let p = format!("[\"aave\"].emode_categories[{key:?}]");
            let ltv = num_any(cat, &["ltv"], &p)?
                .ok_or_else(|| bad_param(&format!("{p}.ltv"), "missing"))?;
            let lt = num_any(cat, &["liquidation_threshold"], &p)?
                .ok_or_else(|| bad_param(&format!("{p}.liquidation_threshold"), "missing"))?;
            // Membership comes from the payload: each reserve's own category, or the assets the
            // published category lists. The file's list belongs to the file's category, which
            // may be a different one under the same id on another market.
            let published_assets: Vec<String> = match cat.get("assets") {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            };
            let (ltv, lt) = (fraction(ltv), fraction(lt));
            check_ltv_lt(ltv, lt, &p)?;
            return Ok(Some((
                id,
                EModeCategory {
                    provenance: None,
                    label: cat
                        .get("label")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    ltv,
                    liquidation_threshold: lt,
                    liquidation_bonus: check_bonus(
                        num_any(cat, &["liquidation_bonus"], &p)?.map(bonus_fraction),
                        &format!("{p}.liquidation_bonus"),
                    )?,
                    assets: published_assets,
                    price_usd: match num_any(cat, &["price_usd"], &p)? {
                        Some(x) if !(x.is_finite() && x > 0.0) => {
                            return Err(bad_param(
                                &format!("{p}.price_usd"),
                                format!("price source price {x} is not > 0"),
                            ))
                        }
                        other => other,
                    },
                },
            )));
        }
        self.params
            .emode
            .get(&key)
            .cloned()
            .map(|c| Some((id, c)))
            .ok_or_else(|| MarginError::Params {
                file: FILE.into(),
                field: format!("emode.{key}"),
                reason: "the user's E-Mode category is not defined".into(),
            })
    }

    fn price(market: &Market, symbol: &str) -> Result<f64, MarginError> {
        let p = Self::price_raw(market, symbol)?;
        if !(p.is_finite() && p > 0.0) {
            return Err(MarginError::MissingMarket {
                field: format!("market.index_prices[\"aave:{symbol}\"]"),
                reason: format!("price {p} is not > 0 (AaveOracle never prices an asset at 0)"),
            });
        }
        Ok(p)
    }

    fn price_raw(market: &Market, symbol: &str) -> Result<f64, MarginError> {
        if let Some(p) = market.index_prices.get(&format!("aave:{symbol}")) {
            return Ok(*p);
        }
        let key = format!("aave:{symbol}");
        if let Some(p) = published(market, &key)
            .map(|v| num_any(v, &["price_usd"], &format!("[{key:?}]")))
            .transpose()?
            .flatten()
        {
            return Ok(p);
        }
        index_price(market, Venue::Aave, symbol)
    }

    /// The liquidation bonus (extra fraction: 0.05 = 105 %) a liquidator receives on `symbol`
    /// seized from this user: the user's E-Mode category's when the reserve belongs to it
    /// (`LiquidationLogic`: `isReserveEnabledOnBitmap(collateralBitmap, id)`), else the
    /// reserve's own (payload `liquidationBonus`, then the parameter file).
    pub fn liquidation_bonus(
        &self,
        account: &Account,
        market: &Market,
        symbol: &str,
    ) -> Result<f64, MarginError> {
        let key = format!("aave:{symbol}");
        let p = format!("[{key:?}]");
        let published_reserve = published(market, &key);
        if let Some((id, cat)) = self.emode_category(account, market)? {
            let reserve_cat = match published_reserve {
                Some(v) => num_any(v, &["emode_category", "eModeCategory"], &p)?.map(|x| x as u64),
                None => None,
            };
            let member = match reserve_cat {
                Some(c) => c == id,
                None => cat.assets.iter().any(|a| a == symbol),
            };
            if let (true, Some(b)) = (member, cat.liquidation_bonus) {
                return Ok(b);
            }
        }
        if let Some(v) = published_reserve {
            if let Some(b) = num_any(v, &["liquidation_bonus", "liquidationBonus"], &p)? {
                if let Some(b) =
                    check_bonus(Some(bonus_fraction(b)), &format!("{p}.liquidation_bonus"))?
                {
                    return Ok(b);
                }
            }
        }
        self.params
            .reserves
            .get(symbol)
            .and_then(|r| r.liquidation_bonus)
            .ok_or_else(|| MarginError::Params {
                file: FILE.into(),
                field: format!("reserves.{symbol}.liquidation_bonus"),
                reason: format!(
                    "no liquidation bonus for {symbol}; supply market.venue_params[\"aave:{symbol}\"].liquidationBonus"
                ),
            })
    }

    /// Values the account's Aave balances (positive = supplied, negative = borrowed).
    pub fn account_state(
        &self,
        account: &Account,
        assets: &[Asset],
        market: &Market,
    ) -> Result<AaveAccount, MarginError> {
        let emode = self.emode_category(account, market)?;
        let mut by: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        for (i, c) in account.collateral.iter().enumerate() {
            if c.venue != Venue::Aave {
                continue;
            }
            let a = assets.iter().find(|a| a.symbol == c.asset).ok_or_else(|| {
                MarginError::Model(intermargin_model::ModelError::UnknownAsset {
                    field: format!("account[{:?}].collateral[{i}].asset", account.id),
                    asset: c.asset.clone(),
                })
            })?;
            let units = c.amount.to_f64(a.decimals);
            let e = by.entry(c.asset.clone()).or_default();
            if units >= 0.0 {
                e.0 += units;
            } else {
                e.1 += -units;
            }
        }
        let mut reserves = Vec::new();
        for (symbol, (supplied, borrowed)) in by {
            let (mut ltv, mut lt, reserve_cat) = if supplied > 0.0 {
                self.reserve(account, market, &symbol)?
            } else {
                (0.0, 0.0, Self::reserve_category(market, &symbol)?)
            };
            // The reserve's own published category decides membership; the category's asset
            // list only when the payload says nothing about this reserve.
            let member = emode.as_ref().is_some_and(|(id, cat)| match reserve_cat {
                Some(c) => c == *id,
                None => cat.assets.contains(&symbol),
            });
            // v3.0–v3.1: the category's price source prices its reserves, supplied or borrowed.
            let price = match emode.as_ref().and_then(|(_, c)| c.price_usd) {
                Some(p) if member => p,
                _ => Self::price(market, &symbol)?,
            };
            if let Some((_, cat)) = &emode {
                if member && supplied > 0.0 && lt > 0.0 {
                    // Zero-LTV collateral stays at zero LTV inside e-mode (GenericLogic adds
                    // no borrowing power for it); its threshold is the category's.
                    if ltv > 0.0 {
                        ltv = cat.ltv;
                    }
                    lt = cat.liquidation_threshold;
                }
            }
            reserves.push(ReserveState {
                symbol,
                price,
                supplied,
                borrowed,
                ltv,
                liquidation_threshold: lt,
            });
        }
        let isolation = self.isolation(market, &reserves)?;
        Ok(AaveAccount {
            reserves,
            isolation,
        })
    }

    /// The E-Mode category a reserve's published configuration places it in, if any.
    fn reserve_category(market: &Market, symbol: &str) -> Result<Option<u64>, MarginError> {
        let key = format!("aave:{symbol}");
        match published(market, &key) {
            Some(v) => Ok(num_any(
                v,
                &["emode_category", "eModeCategory"],
                &format!("[{key:?}]"),
            )?
            .map(|x| x as u64)),
            None => Ok(None),
        }
    }

    /// Isolation mode as `UserConfiguration.getIsolationModeState` decides it: exactly one
    /// collateral, and that reserve has a debt ceiling. With more than one collateral an
    /// isolated asset counts as any other (`GenericLogic` has no isolation branch; the state
    /// arises when a ceiling is set on an asset already used beside others).
    fn isolation(
        &self,
        market: &Market,
        reserves: &[ReserveState],
    ) -> Result<Option<Isolation>, MarginError> {
        let collateral: Vec<&ReserveState> = reserves
            .iter()
            .filter(|r| r.supplied > 0.0 && r.liquidation_threshold > 0.0)
            .collect();
        let [only] = collateral.as_slice() else {
            return Ok(None);
        };
        let key = format!("aave:{}", only.symbol);
        let p = format!("market.venue_params[{key:?}]");
        let Some(v) = published(market, &key) else {
            return Ok(None);
        };
        let ceiling = match num_any(v, &["debt_ceiling", "debtCeiling"], &p)? {
            None => return Ok(None),
            Some(c) if !(c.is_finite() && c >= 0.0) => {
                return Err(bad_param(
                    &format!("{p}.debt_ceiling"),
                    format!("{c} is not a debt ceiling (USD ≥ 0)"),
                ))
            }
            Some(0.0) => return Ok(None),
            Some(c) => c,
        };
        let total = num_any(v, &["isolation_mode_total_debt", "isolationModeTotalDebt"], &p)?
            .ok_or_else(|| {
                bad_param(
                    &format!("{p}.isolation_mode_total_debt"),
                    format!(
                        "missing: the user is in isolation mode ({} is the only collateral and has a debt ceiling), whose borrowing headroom is the ceiling less this reserve's isolationModeTotalDebt",
                        only.symbol
                    ),
                )
            })?;
        if !(total.is_finite() && total >= 0.0) {
            return Err(bad_param(
                &format!("{p}.isolation_mode_total_debt"),
                format!("{total} is negative"),
            ));
        }
        Ok(Some(Isolation {
            asset: only.symbol.clone(),
            debt_ceiling: ceiling,
            total_debt: total,
        }))
    }
}

/// Why `ValidationLogic.validateBorrow` refuses a borrow in isolation mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IsolationRefusal {
    /// `ASSET_NOT_BORROWABLE_IN_ISOLATION`: the reserve's `borrowableInIsolation` is off.
    NotBorrowableInIsolation,
    /// `DEBT_CEILING_EXCEEDED`: the isolated collateral's total debt would pass its ceiling.
    DebtCeilingExceeded {
        /// `isolationModeTotalDebt` after the borrow (2 decimals).
        would_be: u128,
        /// The ceiling (2 decimals).
        ceiling: u128,
    },
}

/// A debt in a reserve of `decimals` as the isolation-mode debt counts it: whole cents, the
/// rest truncated (`amount / 10^(decimals − DEBT_CEILING_DECIMALS)`, DEBT_CEILING_DECIMALS = 2).
pub fn isolated_debt_units(amount: u128, decimals: u32) -> u128 {
    match decimals.checked_sub(2) {
        Some(d) => amount / 10u128.pow(d),
        None => amount * 10u128.pow(2 - decimals),
    }
}

/// The isolation-mode check of `ValidationLogic.validateBorrow` for a borrow of `amount` base
/// units of a reserve with `decimals`, against the isolated collateral's `total_debt` and
/// `ceiling` (both 2 decimals). Returns the total after the borrow (`BorrowLogic`).
pub fn isolated_borrow(
    borrowable_in_isolation: bool,
    amount: u128,
    decimals: u32,
    total_debt: u128,
    ceiling: u128,
) -> Result<u128, IsolationRefusal> {
    if !borrowable_in_isolation {
        return Err(IsolationRefusal::NotBorrowableInIsolation);
    }
    let would_be = total_debt + isolated_debt_units(amount, decimals);
    if would_be > ceiling {
        return Err(IsolationRefusal::DebtCeilingExceeded { would_be, ceiling });
    }
    Ok(would_be)
}

/// `IsolationModeLogic.updateIsolatedDebtIfIsolated`: the isolated collateral's total debt after
/// `repaid` base units of a reserve with `decimals` are repaid or liquidated (floored at zero:
/// accrued interest is not in the total, so a full repayment can exceed it).
pub fn isolated_repay(total_debt: u128, repaid: u128, decimals: u32) -> u128 {
    total_debt.saturating_sub(isolated_debt_units(repaid, decimals))
}

/// The account's Aave health factor (infinite without debt).
pub fn health_factor(
    account: &Account,
    assets: &[Asset],
    market: &Market,
) -> Result<f64, MarginError> {
    Ok(AaveV3::new()?
        .account_state(account, assets, market)?
        .health_factor())
}

impl MarginModel for AaveV3 {
    fn venue(&self) -> Venue {
        Venue::Aave
    }

    fn margin(
        &self,
        account: &Account,
        assets: &[Asset],
        market: &Market,
    ) -> Result<Vec<VenueMargin>, MarginError> {
        let st = self.account_state(account, assets, market)?;
        if st.reserves.is_empty() {
            return Ok(Vec::new());
        }
        let c = st.supplied_value();
        let d = st.debt_value();
        let weighted = st.threshold_value();
        let positions = st
            .reserves
            .iter()
            .map(|r| {
                let value = r.supplied * r.price;
                // Price of this asset at which HF = 1, everything else fixed.
                let lp = if r.supplied > 0.0 && r.liquidation_threshold > 0.0 && d > 0.0 {
                    let others = weighted - value * r.liquidation_threshold;
                    let p = (d - r.borrowed * r.price - others)
                        / (r.supplied * r.liquidation_threshold - r.borrowed);
                    (p.is_finite() && p > 0.0).then_some(p)
                } else if r.borrowed > 0.0 {
                    let p = (weighted - (d - r.borrowed * r.price)) / r.borrowed;
                    (p.is_finite() && p > 0.0).then_some(p)
                } else {
                    None
                };
                PositionMargin {
                    instrument: format!("aave:{}", r.symbol),
                    initial_margin: value * (1.0 - r.ltv),
                    maintenance_margin: value * (1.0 - r.liquidation_threshold),
                    liquidation_price: lp,
                }
            })
            .collect::<Vec<_>>();
        // Pool totals from the floored averages (equity ≤ maintenance ⇔ HF ≤ 1 exactly as the
        // protocol decides); the per-reserve rows above use each reserve's own rates. In
        // isolation mode the debt ceiling also bounds new borrows: equity − initial is then
        // min(borrowing power − debt, ceiling headroom).
        let mut im = c - st.borrowing_power();
        if let Some(iso) = &st.isolation {
            im = im.max(c - d - iso.headroom());
        }
        let mm = c - weighted;
        Ok(vec![pool(
            Venue::Aave,
            "USD",
            "cross",
            (c - d, im, mm),
            positions,
            market,
        )?])
    }
}

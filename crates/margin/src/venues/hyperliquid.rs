//! Hyperliquid perpetuals.
//!
//! * Initial `= notional / leverage` (<https://hyperliquid.gitbook.io/hyperliquid-docs/trading/margining>).
//! * Maintenance = half the initial margin at the asset's max leverage; with margin tiers
//!   `notional × mm_rate − deduction`, `mm_rate = 1/(2·max_leverage)` of the tier
//!   (<https://hyperliquid.gitbook.io/hyperliquid-docs/trading/margin-tiers>,
//!   <https://hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations>).
//! * Liquidation price `= price − side·margin_available / |size| / (1 − l·side)`, `l` the
//!   maintenance rate, `margin_available = account value − maintenance required` (cross) or
//!   `isolated margin − maintenance required` (isolated): [`super::linear_liquidation_price`].
//!
//! Tables come from `market.venue_params` ([`published_table`]) before `params/hyperliquid.toml`.

use std::collections::BTreeMap;

use intermargin_model::{Account, Asset, Market, Position, Venue};
use serde::Deserialize;
use serde_json::Value;

use super::params::{array_of, bad_param, load, num_any, published, Provenance};
use super::tiers::{tiered_pools, Basis, Deduction, Tier, TierTable};
use crate::error::MarginError;
use crate::report::{MarginModel, VenueMargin};

const FILE: &str = "params/hyperliquid.toml";

/// A margin-table row: from `floor` notional up, leverage at most `max_leverage`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MarginTier {
    /// Lower notional bound (USDC).
    pub floor: f64,
    /// Max leverage of the tier.
    pub max_leverage: f64,
}

/// One coin's dated margin table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CoinTable {
    /// Where the numbers come from.
    #[serde(flatten)]
    pub provenance: Provenance,
    /// Tiers by notional.
    pub tiers: Vec<MarginTier>,
}

/// Hyperliquid's parameter file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HyperliquidParams {
    /// Margin tables by coin.
    pub coins: BTreeMap<String, CoinTable>,
}

impl HyperliquidParams {
    /// The dated parameters embedded in the binary.
    pub fn embedded() -> Result<Self, MarginError> {
        load(FILE, include_str!("../../params/hyperliquid.toml"))
    }

    /// Parameters from the text of a file in this venue's format (another version of
    /// `params/hyperliquid.toml`: `intermargin params diff`).
    pub fn from_toml(text: &str) -> Result<Self, MarginError> {
        load(FILE, text)
    }
}

/// Maintenance rate of a tier: half the initial margin rate at its max leverage.
pub fn maintenance_rate(max_leverage: f64) -> f64 {
    1.0 / (2.0 * max_leverage)
}

/// Builds a tier table from `(lower bound, max leverage)` rows.
pub fn table_from_leverage(rows: &[MarginTier], path: &str) -> Result<TierTable, MarginError> {
    let mut tiers = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        if !(r.max_leverage.is_finite() && r.max_leverage > 0.0) {
            return Err(MarginError::Params {
                file: path.into(),
                field: format!("tiers[{i}].max_leverage"),
                reason: format!("{} is not > 0", r.max_leverage),
            });
        }
        tiers.push(Tier {
            floor: r.floor,
            cap: None,
            mmr: maintenance_rate(r.max_leverage),
            max_leverage: Some(r.max_leverage),
            cum: None,
        });
    }
    TierTable::new(tiers, Deduction::Incremental, path)
}

fn tiers_of(v: &Value, path: &str) -> Result<Vec<MarginTier>, MarginError> {
    let (rows, p) = array_of(v, &["marginTiers", "margin_tiers"], path)?;
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            let rp = format!("{p}[{i}]");
            Ok(MarginTier {
                floor: num_any(r, &["lower_bound", "lowerBound", "floor"], &rp)?.unwrap_or(0.0),
                max_leverage: num_any(r, &["max_leverage", "maxLeverage"], &rp)?
                    .ok_or_else(|| bad_param(&format!("{rp}.max_leverage"), "missing"))?,
            })
        })
        .collect()
}

/// The tiers of margin table `id`: ids below 50 are single-tier tables whose max leverage is the
/// id; others are looked up in the venue-wide tables (adapter shape `margin_tables: {"51": […]}`
/// or the raw `marginTables: [[51, {marginTiers: […]}]]`).
fn table_tiers(market: &Market, id: f64, path: &str) -> Result<Vec<MarginTier>, MarginError> {
    if id < 50.0 {
        return Ok(vec![MarginTier {
            floor: 0.0,
            max_leverage: id,
        }]);
    }
    let base = "market.venue_params[\"hyperliquid\"]";
    let venue = published(market, "hyperliquid");
    let key = format!("{}", id as u64);
    if let Some(t) = venue
        .and_then(|v| v.get("margin_tables"))
        .and_then(|t| t.get(&key))
    {
        return tiers_of(t, &format!("{base}.margin_tables[{key:?}]"));
    }
    if let Some(Value::Array(ts)) = venue.and_then(|v| v.get("marginTables")) {
        if let Some((k, t)) = ts
            .iter()
            .enumerate()
            .find(|(_, t)| t.get(0).and_then(Value::as_f64) == Some(id))
        {
            return tiers_of(&t[1], &format!("{base}.marginTables[{k}][1]"));
        }
    }
    Err(bad_param(
        path,
        format!("margin table {key} is not in {base}"),
    ))
}

/// Margin table published by Hyperliquid for a coin, if the snapshot carries one.
///
/// Adapter shape (`crates/venues/PARAMS.md`): `["hyperliquid:COIN"] = {max_leverage,
/// margin_table_id?}` with the venue-wide `["hyperliquid"].margin_tables`; the raw `meta`
/// response under `["hyperliquid"]` (`universe`, `marginTables`) is read too.
pub fn published_table(market: &Market, coin: &str) -> Result<Option<TierTable>, MarginError> {
    let key = format!("hyperliquid:{coin}");
    let (entry, path) = if let Some(v) = published(market, &key) {
        (v, format!("market.venue_params[{key:?}]"))
    } else if let Some(Value::Array(universe)) =
        published(market, "hyperliquid").and_then(|m| m.get("universe"))
    {
        match universe
            .iter()
            .enumerate()
            .find(|(_, a)| a.get("name").and_then(Value::as_str) == Some(coin))
        {
            Some((i, a)) => (
                a,
                format!("market.venue_params[\"hyperliquid\"].universe[{i}]"),
            ),
            None => return Ok(None),
        }
    } else {
        return Ok(None);
    };
    if entry.get("marginTiers").is_some() || entry.get("margin_tiers").is_some() {
        return table_from_leverage(&tiers_of(entry, &path)?, &path).map(Some);
    }
    let rows = match num_any(entry, &["margin_table_id", "marginTableId"], &path)? {
        Some(id) => table_tiers(market, id, &format!("{path}.margin_table_id"))?,
        None => match num_any(entry, &["max_leverage", "maxLeverage"], &path)? {
            Some(l) => vec![MarginTier {
                floor: 0.0,
                max_leverage: l,
            }],
            None => return Err(bad_param(&path, "neither margin_table_id nor max_leverage")),
        },
    };
    table_from_leverage(&rows, &path).map(Some)
}

/// Hyperliquid rules.
#[derive(Debug, Clone)]
pub struct HyperliquidPerps {
    params: HyperliquidParams,
}

impl HyperliquidPerps {
    /// Rules with explicit parameters (what-ifs: `intermargin params diff --snapshot`).
    pub fn with_params(params: HyperliquidParams) -> Self {
        HyperliquidPerps { params }
    }

    /// Rules with the embedded parameters.
    pub fn new() -> Result<Self, MarginError> {
        Ok(HyperliquidPerps {
            params: HyperliquidParams::embedded()?,
        })
    }

    fn table(
        &self,
        market: &Market,
        p: &Position,
    ) -> Result<(std::sync::Arc<TierTable>, Basis), MarginError> {
        let ins = &p.instrument;
        let coin = ins.symbol.split(['-', '/']).next().unwrap_or(&ins.symbol);
        for c in [ins.symbol.as_str(), coin, ins.underlying.as_str()] {
            if let Some(t) = published_table(market, c)? {
                return Ok((std::sync::Arc::new(t), Basis::Notional));
            }
        }
        let c = self
            .params
            .coins
            .get(coin)
            .or_else(|| self.params.coins.get(&ins.underlying))
            .ok_or_else(|| MarginError::Params {
                file: FILE.into(),
                field: format!("coins.{coin}"),
                reason: format!(
                    "no margin table for {}; supply market.venue_params[\"hyperliquid\"] (meta)",
                    ins.id()
                ),
            })?;
        Ok((
            std::sync::Arc::new(table_from_leverage(
                &c.tiers,
                &format!("{FILE}: coins.{coin}"),
            )?),
            Basis::Notional,
        ))
    }
}

impl MarginModel for HyperliquidPerps {
    fn venue(&self) -> Venue {
        Venue::Hyperliquid
    }

    fn margin(
        &self,
        account: &Account,
        assets: &[Asset],
        market: &Market,
    ) -> Result<Vec<VenueMargin>, MarginError> {
        tiered_pools(Venue::Hyperliquid, account, assets, market, &|_, p| {
            self.table(market, p)
        })
    }
}

//! OKX perpetuals and futures under tiered maintenance margin.
//!
//! Maintenance `= notional × mmr(tier)` with the tier chosen by position size in contracts
//! (<https://tr.okx.com/help/tier>); initial `= notional / leverage`; liquidation when the margin
//! ratio reaches 100 %. Tiers come from `market.venue_params["okx:INST_ID"]` or
//! `["okx:INST_FAMILY"]` (rows of `GET /api/v5/public/position-tiers`) before `params/okx.toml`.
//! Open orders on perpetuals and futures add initial margin to the settle currency's cross pool
//! by OKX's published rule ([`super::orders`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use intermargin_model::{Account, Asset, InstrumentKind, Market, Position, Venue};
use serde::Deserialize;
use serde_json::Value;

use super::orders::{charge_cross_pool, futures_legs, okx_orders_initial_margin};
use super::params::{array_of, bad_param, load, num_any, published, Provenance};
use super::tiers::{tiered_pools, Basis, Deduction, Tier, TierTable};
use crate::error::MarginError;
use crate::report::{MarginModel, VenueMargin};

const FILE: &str = "params/okx.toml";

/// One instrument family's dated tiers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FamilyTiers {
    /// Where the numbers come from.
    #[serde(flatten)]
    pub provenance: Provenance,
    /// Tiers by contracts.
    pub tiers: Vec<Tier>,
    /// True when `tiers` is the venue's whole schedule: a count past the last tier is charged at
    /// it (the venue's last tier) instead of refused as lying beyond a partial table.
    #[serde(default)]
    pub complete: bool,
}

/// OKX's parameter file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OkxParams {
    /// Perpetual swap tiers by instrument family (`BTC-USD`).
    #[serde(default)]
    pub swap: BTreeMap<String, FamilyTiers>,
    /// Dated futures tiers by instrument family.
    #[serde(default)]
    pub futures: BTreeMap<String, FamilyTiers>,
}

impl OkxParams {
    /// The dated parameters embedded in the binary.
    pub fn embedded() -> Result<Self, MarginError> {
        load(FILE, include_str!("../../params/okx.toml"))
    }

    /// Parameters from the text of a file in this venue's format (another version of
    /// `params/okx.toml`: `intermargin params diff`).
    pub fn from_toml(text: &str) -> Result<Self, MarginError> {
        load(FILE, text)
    }
}

/// Instrument family of an OKX instrument id (`BTC-USDT-SWAP`, `BTC-USDT-241227` → `BTC-USDT`),
/// the key OKX publishes position tiers under (`instFamily`).
pub fn family(symbol: &str) -> String {
    symbol.split('-').take(2).collect::<Vec<_>>().join("-")
}

/// The family of an OKX perpetual or futures id, or `None` when `symbol` is not of the
/// `BASE-QUOTE-SUFFIX` shape OKX gives swaps and futures.
fn derivative_family(symbol: &str) -> Option<String> {
    let parts: Vec<&str> = symbol.split('-').collect();
    (parts.len() >= 3 && parts.iter().all(|p| !p.is_empty())).then(|| family(symbol))
}

/// Tiers published by OKX for an instrument, if the snapshot carries them.
pub fn published_tiers(market: &Market, symbol: &str) -> Result<Option<TierTable>, MarginError> {
    match locate_tiers(market, symbol) {
        Some((key, v)) => parse_tiers(v, &key).map(Some),
        None => Ok(None),
    }
}

/// The key and value under which `market.venue_params` publishes `symbol`'s tiers.
fn locate_tiers<'m>(market: &'m Market, symbol: &str) -> Option<(String, &'m Value)> {
    let key = format!("okx:{symbol}");
    if let Some(v) = published(market, &key) {
        return Some((key, v));
    }
    let key = format!("okx:{}", family(symbol));
    published(market, &key).map(|v| (key, v))
}

/// [`published_tiers`] compiled once per published value ([`super::params::compiled`]).
fn published_tiers_compiled(
    market: &Market,
    symbol: &str,
) -> Result<Option<Arc<TierTable>>, MarginError> {
    match locate_tiers(market, symbol) {
        Some((key, v)) => {
            super::params::compiled("okx.tiers", &key, v, || parse_tiers(v, &key)).map(Some)
        }
        None => Ok(None),
    }
}

/// The tier table of the value published under `key`.
fn parse_tiers(v: &Value, key: &str) -> Result<TierTable, MarginError> {
    let (rows, path) = array_of(v, &["data", "tiers"], &format!("[{key:?}]"))?;
    let mut tiers = Vec::new();
    let n = rows.len();
    for (i, r) in rows.iter().enumerate() {
        let p = format!("{path}[{i}]");
        tiers.push(Tier {
            floor: num_any(r, &["minSz", "floor"], &p)?.unwrap_or(0.0),
            // OKX bounds are inclusive: every cap but the last is the next tier's floor.
            cap: if i + 1 == n {
                num_any(r, &["maxSz", "cap"], &p)?
            } else {
                None
            },
            mmr: num_any(r, &["mmr"], &p)?
                .ok_or_else(|| bad_param(&format!("{p}.mmr"), "missing"))?,
            max_leverage: num_any(r, &["maxLever", "max_leverage"], &p)?,
            cum: None,
        });
    }
    if tiers.is_empty() {
        return Err(bad_param(&path, "no tiers"));
    }
    // What OKX publishes is its whole schedule: past the last tier its rate goes on.
    TierTable::new(
        tiers,
        Deduction::WholePosition,
        &format!("market.venue_params{path}"),
    )
    .map(TierTable::open_past_last)
}

/// OKX tiered-margin rules.
#[derive(Debug, Clone)]
pub struct OkxTiered {
    params: OkxParams,
    /// `(section, family)`'s tier table of `params`, compiled once with the parameters.
    tables: BTreeMap<(&'static str, String), Result<Arc<TierTable>, MarginError>>,
}

impl OkxTiered {
    /// Rules with explicit parameters (what-ifs: `intermargin params diff --snapshot`).
    pub fn with_params(params: OkxParams) -> Self {
        let mut tables = BTreeMap::new();
        for (section, map) in [("swap", &params.swap), ("futures", &params.futures)] {
            for (fam, f) in map {
                let t = TierTable::new(
                    f.tiers.clone(),
                    Deduction::WholePosition,
                    &format!("{FILE}: {section}.{fam}"),
                )
                .map(|t| Arc::new(if f.complete { t.open_past_last() } else { t }));
                tables.insert((section, fam.clone()), t);
            }
        }
        OkxTiered { params, tables }
    }

    /// Rules with the embedded parameters.
    pub fn new() -> Result<Self, MarginError> {
        Ok(Self::with_params(OkxParams::embedded()?))
    }

    fn table(&self, market: &Market, p: &Position) -> Result<(Arc<TierTable>, Basis), MarginError> {
        let ins = &p.instrument;
        if let Some(t) = published_tiers_compiled(market, &ins.symbol)? {
            return Ok((t, Basis::Contracts));
        }
        let fam = derivative_family(&ins.symbol).ok_or_else(|| MarginError::Unsupported {
            field: ins.id(),
            reason: format!(
                "{:?} is not an OKX swap/futures id (BASE-QUOTE-SWAP or BASE-QUOTE-YYMMDD), so it has no instrument family",
                ins.symbol
            ),
        })?;
        let (section, map) = match ins.kind {
            InstrumentKind::Perpetual => ("swap", &self.params.swap),
            InstrumentKind::Future { .. } => ("futures", &self.params.futures),
            _ => {
                return Err(MarginError::Unsupported {
                    field: ins.id(),
                    reason: "OKX tiered margin covers perpetuals and futures only".into(),
                })
            }
        };
        let t = self
            .tables
            .get(&(section, fam.clone()))
            .ok_or_else(|| MarginError::Params {
            file: FILE.into(),
            field: format!("{section}.{fam:?}"),
            reason: format!(
                "no {section} tiers for instrument {} (family {fam}; the file has {}); supply market.venue_params[\"okx:{fam}\"]",
                ins.id(),
                if map.is_empty() {
                    "none".to_string()
                } else {
                    map.keys().cloned().collect::<Vec<_>>().join(", ")
                }
            ),
        })?
            .clone()?;
        Ok((t, Basis::Contracts))
    }
}

impl MarginModel for OkxTiered {
    fn venue(&self) -> Venue {
        Venue::Okx
    }

    fn margin(
        &self,
        account: &Account,
        assets: &[Asset],
        market: &Market,
    ) -> Result<Vec<VenueMargin>, MarginError> {
        let pools = tiered_pools(Venue::Okx, account, assets, market, &|_, p| {
            self.table(market, p)
        })?;
        let options = super::okx_options::legs(account, market, None)?;
        let mut pools = super::std_options::merge_option_legs(Venue::Okx, pools, options, market)?;
        for (settle, im) in self.orders_margin(account, market)? {
            charge_cross_pool(&mut pools, Venue::Okx, &settle, im, market)?;
        }
        Ok(pools)
    }
}

impl OkxTiered {
    /// Initial margin open orders reserve, per settle currency, by OKX's rule
    /// ([`super::orders::okx_orders_initial_margin`]); a leg's leverage is its position's, else
    /// its orders' `lever` (refused naming the order when neither states one).
    fn orders_margin(
        &self,
        account: &Account,
        market: &Market,
    ) -> Result<BTreeMap<String, f64>, MarginError> {
        let mut out: BTreeMap<String, f64> = BTreeMap::new();
        for leg in futures_legs(account, market, Venue::Okx)? {
            // OKX's order rows carry `lever` for swaps and futures; never the tier's most
            // lenient maximum in its place.
            let leverage = leg
                .leverage
                .filter(|l| l.is_finite() && *l > 0.0)
                .ok_or_else(|| MarginError::Unsupported {
                    field: format!(
                        "account[{:?}].orders[{}].leverage",
                        account.id, leg.first_order
                    ),
                    reason: format!(
                        "{}: OKX order margin needs the leverage (the order's `lever` or the position's)",
                        leg.instrument.id()
                    ),
                })?;
            *out.entry(leg.instrument.settle.clone()).or_default() +=
                okx_orders_initial_margin(leg.value, &leg.orders, leverage);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps_and_futures_map_to_their_instrument_family() {
        assert_eq!(family("BTC-USDT-SWAP"), "BTC-USDT");
        assert_eq!(family("BTC-USDT-241227"), "BTC-USDT");
        assert_eq!(family("BTC-USD-SWAP"), "BTC-USD");
        assert_eq!(
            derivative_family("BTC-USDT-241227").as_deref(),
            Some("BTC-USDT")
        );
        assert_eq!(derivative_family("BTCUSDT"), None);
        assert_eq!(derivative_family("BTC-USDT"), None);
    }

    #[test]
    fn embedded_file_carries_btc_usdt_swap_and_futures() {
        let p = OkxParams::embedded().unwrap();
        for (section, map) in [("swap", &p.swap), ("futures", &p.futures)] {
            let f = map
                .get("BTC-USDT")
                .unwrap_or_else(|| panic!("{section}.BTC-USDT missing"));
            assert!(f.provenance.source.starts_with("https://"), "{section}");
            // OKX 2020-01-17 schedule, BTC tier 1: 50,000 contracts of 0.0001 BTC = 5 BTC
            // = 500 contracts of today's 0.01 BTC, at 0.5 %.
            assert_eq!(f.tiers[0].cap, Some(500.0));
            assert_eq!(f.tiers[0].mmr, 0.005);
        }
    }
}

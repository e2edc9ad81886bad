//! Bybit perpetuals and futures under risk limits (tiered maintenance).
//!
//! Maintenance `= value × mmr(tier) − mmDeduction(tier)`, i.e. each slice of the position value
//! charged at its own tier's rate
//! (<https://www.fourbit.net/en/help-center/article/Maintenance-Margin-USDT-Contract>, mirror of
//! Bybit's help centre); initial `= value / leverage`. Tiers come from
//! `market.venue_params["bybit:SYMBOL"]` (rows of `GET /v5/market/risk-limit`) before
//! `params/bybit.toml`. Open orders on perpetuals and futures add their order cost to the
//! settle currency's cross pool ([`super::orders`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use intermargin_model::{Account, Asset, Market, Position, Settlement, Venue};
use serde::Deserialize;
use serde_json::Value;

use super::orders::{bybit_orders_initial_margin, charge_cross_pool, futures_legs};
use super::params::{array_of, bad_param, load, num_any, published, Provenance};
use super::tiers::{tiered_pools, Basis, Deduction, Tier, TierTable};
use crate::error::MarginError;
use crate::report::{MarginModel, VenueMargin};

const FILE: &str = "params/bybit.toml";

/// One symbol's dated risk-limit tiers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SymbolTiers {
    /// Where the numbers come from.
    #[serde(flatten)]
    pub provenance: Provenance,
    /// Tiers by position value.
    pub tiers: Vec<Tier>,
}

/// What Bybit charges open orders beyond their initial margin: the taker fee to open and to
/// close that the order cost reserves.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BybitOrderParams {
    /// Where the numbers come from.
    #[serde(flatten)]
    pub provenance: Provenance,
    /// Taker fee rate (fraction) of the account's tier; live: `GET /v5/account/fee-rate`
    /// (`takerFeeRate`), given as `market.venue_params["bybit:fee-rate:SYMBOL"]`.
    pub taker_fee_rate: f64,
    /// Leverage an order's leg is charged at when neither a position on the symbol nor the
    /// order states one (Bybit's order rows carry none): Bybit's default for a new order.
    pub default_leverage: f64,
}

/// Bybit's parameter file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BybitParams {
    /// Risk-limit tiers by symbol.
    pub symbols: BTreeMap<String, SymbolTiers>,
    /// Order-cost parameters (absent in older files: then orders are refused naming it).
    #[serde(default)]
    pub orders: Option<BybitOrderParams>,
}

impl BybitParams {
    /// The dated parameters embedded in the binary.
    pub fn embedded() -> Result<Self, MarginError> {
        load(FILE, include_str!("../../params/bybit.toml"))
    }

    /// Parameters from the text of a file in this venue's format (another version of
    /// `params/bybit.toml`: `intermargin params diff`).
    pub fn from_toml(text: &str) -> Result<Self, MarginError> {
        load(FILE, text)
    }
}

/// Risk limits published by Bybit for a symbol, if the snapshot carries them.
///
/// The adapter's shape (`crates/venues/PARAMS.md`): `{risk_limits:[{risk_limit_value,
/// maintenance_margin_rate, initial_margin_rate, max_leverage, mm_deduction}]}`, fractions, each
/// tier's cap in the settle coin. The raw `result.list` rows are read too; there the API example
/// writes rates in percent (`"0.5"` with `maxLeverage` 100 and `initialMargin` `"1"`), so raw
/// rates are read as percent when `initialMargin × maxLeverage ≈ 100`.
pub fn published_tiers(market: &Market, symbol: &str) -> Result<Option<TierTable>, MarginError> {
    let key = format!("bybit:{symbol}");
    let Some(v) = published(market, &key) else {
        return Ok(None);
    };
    parse_tiers(v, &key)
}

/// [`published_tiers`] compiled once per published value ([`super::params::compiled`]).
fn published_tiers_compiled(
    market: &Market,
    symbol: &str,
) -> Result<Option<Arc<TierTable>>, MarginError> {
    let key = format!("bybit:{symbol}");
    let Some(v) = published(market, &key) else {
        return Ok(None);
    };
    let t = super::params::compiled("bybit.tiers", &key, v, || {
        parse_tiers(v, &key).map(|t| t.map(Arc::new))
    })?;
    Ok((*t).clone())
}

/// The risk-limit table of the value published under `key` (`None`: instrument info alone).
fn parse_tiers(v: &Value, key: &str) -> Result<Option<TierTable>, MarginError> {
    let v = v.get("result").unwrap_or(v);
    // Instrument info alone (no risk-limit tiers imported): fall back to the file's tiers.
    if !v.is_array()
        && ["risk_limits", "list", "tiers"]
            .iter()
            .all(|k| v.get(k).is_none())
    {
        return Ok(None);
    }
    let (rows, path) = array_of(v, &["risk_limits", "list", "tiers"], &format!("[{key:?}]"))?;
    let mut tiers = Vec::new();
    let mut floor = 0.0;
    for (i, r) in rows.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let cap = num_any(r, &["risk_limit_value", "riskLimitValue", "cap"], &p)?;
        let mut mmr = num_any(
            r,
            &["maintenance_margin_rate", "maintenanceMargin", "mmr"],
            &p,
        )?
        .ok_or_else(|| bad_param(&format!("{p}.maintenance_margin_rate"), "missing"))?;
        let im = num_any(r, &["initial_margin_rate", "initialMargin"], &p)?;
        let lev = num_any(r, &["max_leverage", "maxLeverage"], &p)?;
        if let (Some(im), Some(lev)) = (im, lev) {
            if (im * lev - 100.0).abs() < 1.0 {
                mmr /= 100.0;
            }
        }
        tiers.push(Tier {
            floor: num_any(r, &["floor"], &p)?.unwrap_or(floor),
            cap,
            mmr,
            max_leverage: lev,
            cum: num_any(r, &["mm_deduction", "mmDeduction", "cum"], &p)?
                .filter(|c| *c != 0.0 || i == 0),
        });
        floor = cap.unwrap_or(floor);
    }
    if tiers.is_empty() {
        return Err(bad_param(&path, "no tiers"));
    }
    TierTable::new(
        tiers,
        Deduction::Incremental,
        &format!("market.venue_params{path}"),
    )
    .map(Some)
}

/// Bybit risk-limit rules.
#[derive(Debug, Clone)]
pub struct BybitRiskLimit {
    params: BybitParams,
    /// Each symbol's risk-limit table of `params`, compiled once with the parameters.
    tables: BTreeMap<String, Result<Arc<TierTable>, MarginError>>,
}

impl BybitRiskLimit {
    /// Rules with explicit parameters (what-ifs: `intermargin params diff --snapshot`).
    pub fn with_params(params: BybitParams) -> Self {
        let tables = params
            .symbols
            .iter()
            .map(|(sym, s)| {
                let t = TierTable::new(
                    s.tiers.clone(),
                    Deduction::Incremental,
                    &format!("{FILE}: symbols.{sym}"),
                );
                (sym.clone(), t.map(Arc::new))
            })
            .collect();
        BybitRiskLimit { params, tables }
    }

    /// Rules with the embedded parameters.
    pub fn new() -> Result<Self, MarginError> {
        Ok(Self::with_params(BybitParams::embedded()?))
    }

    fn table(&self, market: &Market, p: &Position) -> Result<(Arc<TierTable>, Basis), MarginError> {
        let sym = &p.instrument.symbol;
        if let Some(t) = published_tiers_compiled(market, sym)? {
            return Ok((t, Basis::Notional));
        }
        match self.tables.get(sym) {
            Some(t) => Ok((t.clone()?, Basis::Notional)),
            None => Err(MarginError::Params {
                file: FILE.into(),
                field: format!("symbols.{sym}"),
                reason: format!(
                    "no risk limits for {}; supply market.venue_params[\"bybit:{sym}\"]",
                    p.instrument.id()
                ),
            }),
        }
    }
}

impl MarginModel for BybitRiskLimit {
    fn venue(&self) -> Venue {
        Venue::Bybit
    }

    fn margin(
        &self,
        account: &Account,
        assets: &[Asset],
        market: &Market,
    ) -> Result<Vec<VenueMargin>, MarginError> {
        let pools = tiered_pools(Venue::Bybit, account, assets, market, &|_, p| {
            self.table(market, p)
        })?;
        let options = super::bybit_options::legs(account, market, None)?;
        let mut pools =
            super::std_options::merge_option_legs(Venue::Bybit, pools, options, market)?;
        for (settle, im) in self.orders_margin(account, market)? {
            charge_cross_pool(&mut pools, Venue::Bybit, &settle, im, market)?;
        }
        Ok(pools)
    }
}

impl BybitRiskLimit {
    /// The taker fee rate the order cost reserves for `symbol`: Bybit's published rate for the
    /// account (`market.venue_params["bybit:fee-rate:SYMBOL"]`, a `GET /v5/account/fee-rate`
    /// row) before `params/bybit.toml`'s `orders.taker_fee_rate`.
    fn taker_fee(&self, market: &Market, symbol: &str) -> Result<f64, MarginError> {
        let key = format!("bybit:fee-rate:{symbol}");
        if let Some(v) = published(market, &key) {
            let path = format!("market.venue_params[{key:?}]");
            let row = match v {
                serde_json::Value::Array(a) => a.first().unwrap_or(v),
                _ => v,
            };
            return num_any(row, &["takerFeeRate", "taker_fee_rate"], &path)?
                .filter(|x| (0.0..1.0).contains(x))
                .ok_or_else(|| {
                    bad_param(&format!("{path}.takerFeeRate"), "missing or not in [0, 1)")
                });
        }
        self.params
            .orders
            .as_ref()
            .map(|o| o.taker_fee_rate)
            .ok_or_else(|| MarginError::Params {
                file: FILE.into(),
                field: "orders.taker_fee_rate".into(),
                reason: format!("open orders on {symbol} need the taker fee rate the order cost reserves; supply market.venue_params[{key:?}]"),
            })
    }

    /// Initial margin open orders reserve, per settle currency, by Bybit's order cost
    /// ([`super::orders::bybit_orders_initial_margin`]); a leg's leverage is its position's,
    /// else the order's, else Bybit's default (`orders.default_leverage`) — never the
    /// risk-limit tier's most lenient maximum.
    fn orders_margin(
        &self,
        account: &Account,
        market: &Market,
    ) -> Result<BTreeMap<String, f64>, MarginError> {
        let mut out: BTreeMap<String, f64> = BTreeMap::new();
        for leg in futures_legs(account, market, Venue::Bybit)? {
            let ins = &leg.instrument;
            let leverage = match leg.leverage {
                Some(l) => l,
                None => self
                    .params
                    .orders
                    .as_ref()
                    .map(|o| o.default_leverage)
                    .ok_or_else(|| MarginError::Params {
                        file: FILE.into(),
                        field: "orders.default_leverage".into(),
                        reason: format!(
                            "{}: account[{:?}].orders[{}] states no leverage and no position on the symbol does",
                            ins.id(),
                            account.id,
                            leg.first_order
                        ),
                    })?,
            };
            if !(leverage.is_finite() && leverage > 0.0) {
                return Err(MarginError::Unsupported {
                    field: format!(
                        "account[{:?}].orders[{}].leverage",
                        account.id, leg.first_order
                    ),
                    reason: format!("{}: leverage {leverage} is not > 0", ins.id()),
                });
            }
            let taker = self.taker_fee(market, &ins.symbol)?;
            *out.entry(ins.settle.clone()).or_default() += bybit_orders_initial_margin(
                leg.contracts,
                leg.value,
                &leg.orders,
                leverage,
                taker,
                ins.settlement == Settlement::Inverse,
            );
        }
        Ok(out)
    }
}

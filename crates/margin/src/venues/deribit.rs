//! Deribit standard margin (S:SM): each position margined on its own, requirements summed per
//! settlement currency.
//!
//! * Futures and perpetuals: `rate = base + |q|·increase`, requirement `|q|·rate` in coin, where
//!   `q` is the position in the underlying coin (inverse USD contracts are converted at the mark).
//!   Linear (USDC) perpetuals are computed in coin and converted at the index price.
//! * Inverse options: the short-call / short-put formulas of `params/deribit.toml`; long options
//!   carry no requirement.
//!
//! Liquidation price (ours, Deribit publishes an estimate but no formula): for futures in a pool
//! without options, the price at which pool equity meets maintenance, all else fixed
//! ([`inverse_futures_liquidation_price`]); `None` where options share the pool.
//!
//! Open orders add initial margin ([`super::orders`]): futures on the larger size the orders
//! could reach, options on the short they could extend or the premium they would pay.
//!
//! Equity follows Deribit's account summary: balance + futures unrealised P&L (entry vs mark) +
//! options value (size × mark, in coin; shorts negative). Linear options are rejected: their
//! standard-margin formula is UNCONFIRMED.

use std::collections::BTreeMap;

use intermargin_model::{
    Account, Asset, InstrumentKind, Market, OptionKind, Order, Position, Settlement, Side, Venue,
};
use serde::Deserialize;

use super::common::{
    add_orders_margin, balances, index_price, linear_liquidation_price, mark_price, pool,
    position_path, unrealised_pnl,
};
use super::orders::{deribit_futures_reach, reserving};
use super::params::{load, Provenance};
use crate::error::MarginError;
use crate::report::{MarginModel, PositionMargin, VenueMargin};

const FILE: &str = "params/deribit.toml";

/// Futures rate table for one underlying and settlement type.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FuturesRates {
    /// Underlying coin (`BTC`).
    pub underlying: String,
    /// `inverse` (coin-settled) or `linear` (USDC).
    pub settlement: Settlement,
    /// Where the numbers come from.
    #[serde(flatten)]
    pub provenance: Provenance,
    /// Initial margin base rate.
    pub im_base: f64,
    /// Maintenance margin base rate.
    pub mm_base: f64,
    /// Initial rate increase per coin of position.
    pub im_increase: f64,
    /// Maintenance rate increase per coin of position.
    pub mm_increase: f64,
}

/// Inverse option constants.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OptionRates {
    /// Where the numbers come from.
    #[serde(flatten)]
    pub provenance: Provenance,
    /// `0.15` in `max(0.15 − OTM/U, 0.1)`.
    pub im_otm_base: f64,
    /// `0.1` in `max(0.15 − OTM/U, 0.1)`.
    pub im_floor: f64,
    /// `0.075` maintenance rate on short options.
    pub mm_short: f64,
    /// `0.075` factor on the mark in the short-put maintenance term.
    pub mm_put_mark_factor: f64,
}

/// Deribit's parameter file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DeribitParams {
    /// Futures/perpetual rate tables.
    pub futures: Vec<FuturesRates>,
    /// Inverse option constants.
    pub options: OptionRates,
}

impl DeribitParams {
    /// The dated parameters embedded in the binary.
    pub fn embedded() -> Result<Self, MarginError> {
        load(FILE, include_str!("../../params/deribit.toml"))
    }

    /// Parameters from the text of a file in this venue's format (another version of
    /// `params/deribit.toml`: `intermargin params diff`).
    pub fn from_toml(text: &str) -> Result<Self, MarginError> {
        load(FILE, text)
    }

    fn futures(
        &self,
        underlying: &str,
        settlement: Settlement,
        what: &str,
    ) -> Result<&FuturesRates, MarginError> {
        self.futures
            .iter()
            .find(|f| f.underlying == underlying && f.settlement == settlement)
            .ok_or_else(|| MarginError::Params {
                file: FILE.into(),
                field: format!("futures[underlying={underlying:?}, settlement={settlement:?}]"),
                reason: format!("no rates for {what}"),
            })
    }
}

/// `(initial, maintenance)` in coin for a futures position of `q` coins (sign ignored).
pub fn futures_margin_coin(rates: &FuturesRates, q: f64) -> (f64, f64) {
    let q = q.abs();
    (
        q * (rates.im_base + q * rates.im_increase),
        q * (rates.mm_base + q * rates.mm_increase),
    )
}

/// `(initial, maintenance)` per one short inverse option, in coin.
///
/// `underlying` is the underlying price (USD), `mark` the option mark in coin.
pub fn short_option_margin_coin(
    r: &OptionRates,
    kind: OptionKind,
    strike: f64,
    underlying: f64,
    mark: f64,
) -> (f64, f64) {
    let otm = match kind {
        OptionKind::Call => (strike - underlying).max(0.0),
        OptionKind::Put => (underlying - strike).max(0.0),
    };
    let base = (r.im_otm_base - otm / underlying).max(r.im_floor) + mark;
    match kind {
        OptionKind::Call => (base, r.mm_short + mark),
        OptionKind::Put => {
            let mm = r.mm_short.max(r.mm_put_mark_factor * mark) + mark;
            (base.max(mm), mm)
        }
    }
}

/// Deribit standard-margin rules.
#[derive(Debug, Clone)]
pub struct DeribitStandard {
    params: DeribitParams,
}

impl DeribitStandard {
    /// Rules with the embedded parameters.
    pub fn new() -> Result<Self, MarginError> {
        Ok(DeribitStandard {
            params: DeribitParams::embedded()?,
        })
    }

    /// Rules with explicit parameters (tests, what-ifs).
    pub fn with_params(params: DeribitParams) -> Self {
        DeribitStandard { params }
    }

    /// `(initial, maintenance, equity contribution)` of one position, in its settle currency.
    fn position(
        &self,
        account: &Account,
        i: usize,
        p: &Position,
        market: &Market,
    ) -> Result<(f64, f64, f64), MarginError> {
        let ins = &p.instrument;
        let id = ins.id();
        // Built only for an error.
        let path = || position_path(account, i);
        match ins.kind {
            InstrumentKind::Future { .. } | InstrumentKind::Perpetual => {
                let mark = mark_price(market, &id)?;
                let rates = self.params.futures(&ins.underlying, ins.settlement, &id)?;
                let q = ins.base_quantity(p.size, mark);
                let (im, mm) = futures_margin_coin(rates, q);
                let pnl = unrealised_pnl(p, mark);
                match ins.settlement {
                    Settlement::Inverse => Ok((im, mm, pnl)),
                    Settlement::Linear => {
                        let index = linear_index(market, &ins.underlying, &ins.settle)?;
                        Ok((im * index, mm * index, pnl))
                    }
                }
            }
            InstrumentKind::Option {
                strike,
                option_kind,
                ..
            } => {
                if ins.settlement == Settlement::Linear {
                    return Err(MarginError::Unsupported {
                        field: format!("{}.instrument", path()),
                        reason: format!("{id}: Deribit's standard margin for linear (USDC) options is UNCONFIRMED"),
                    });
                }
                let mark = mark_price(market, &id)?;
                let u = index_price(market, Venue::Deribit, &ins.underlying)?;
                let n = ins.base_quantity(p.size, u);
                let value = n * mark;
                if p.size > 0.0 {
                    return Ok((0.0, 0.0, value));
                }
                let (im, mm) =
                    short_option_margin_coin(&self.params.options, option_kind, strike, u, mark);
                Ok((im * n.abs(), mm * n.abs(), value))
            }
            InstrumentKind::Spot => Err(MarginError::Unsupported {
                field: format!("{}.instrument", path()),
                reason: format!("{id}: spot holdings are collateral, not positions, on Deribit"),
            }),
        }
    }
}

impl MarginModel for DeribitStandard {
    fn venue(&self) -> Venue {
        Venue::Deribit
    }

    fn margin(
        &self,
        account: &Account,
        assets: &[Asset],
        market: &Market,
    ) -> Result<Vec<VenueMargin>, MarginError> {
        // One pool per settlement currency (S:SM).
        let mut pools: BTreeMap<String, (f64, f64, f64, Vec<PositionMargin>)> = BTreeMap::new();
        // Futures legs for the liquidation price: (pool, row, position index, maintenance).
        let mut legs: Vec<(String, usize, usize, f64)> = Vec::new();
        let mut has_options: BTreeMap<String, bool> = BTreeMap::new();
        for (asset, units) in balances(account, assets, Venue::Deribit)? {
            pools.entry(asset).or_default().0 += units;
        }
        for (i, p) in account.positions.iter().enumerate() {
            if p.instrument.venue != Venue::Deribit {
                continue;
            }
            let (im, mm, eq) = self.position(account, i, p, market)?;
            let key = p.instrument.settle.clone();
            let e = pools.entry(key.clone()).or_default();
            e.0 += eq;
            e.1 += im;
            e.2 += mm;
            if p.instrument.is_option() {
                has_options.insert(key.clone(), true);
            } else {
                legs.push((key.clone(), e.3.len(), i, mm));
            }
            e.3.push(PositionMargin {
                instrument: p.instrument.id(),
                initial_margin: im,
                maintenance_margin: mm,
                liquidation_price: None,
            });
        }
        // Liquidation price of each futures leg, all else fixed, in pools without options (an
        // option's value moves with the underlying, so no closed form exists there).
        for (key, row, i, own_mm) in legs {
            if has_options.get(&key).copied().unwrap_or(false) {
                continue;
            }
            let (eq, _, mm_total, _) = pools[&key];
            let p = &account.positions[i];
            let ins = &p.instrument;
            let mark = mark_price(market, &ins.id())?;
            let rates = self
                .params
                .futures(&ins.underlying, ins.settlement, &ins.id())?;
            let lp = match ins.settlement {
                Settlement::Inverse => {
                    let q_usd = ins.base_quantity(p.size, mark) * mark;
                    inverse_futures_liquidation_price(mark, q_usd, rates, eq, mm_total - own_mm)
                }
                Settlement::Linear => {
                    let q = ins.base_quantity(p.size, mark);
                    let mmr = rates.mm_base + q.abs() * rates.mm_increase;
                    linear_liquidation_price(mark, q, mmr, eq - mm_total)
                }
            };
            if let Some(pool) = pools.get_mut(&key) {
                pool.3[row].liquidation_price = lp;
            }
        }
        let orders_im = self.orders_margin(account, market)?;
        for ccy in orders_im.keys() {
            pools.entry(ccy.clone()).or_default();
        }
        pools
            .into_iter()
            .map(|(ccy, (eq, im, mm, pos))| {
                let mut p = pool(Venue::Deribit, &ccy, "cross", (eq, im, mm), pos, market)?;
                add_orders_margin(&mut p, orders_im.get(&ccy).copied().unwrap_or(0.0), market);
                Ok(p)
            })
            .collect()
    }
}

impl DeribitStandard {
    /// Initial margin open orders reserve, per settlement currency (see [`super::orders`]).
    ///
    /// Per instrument: futures pay `IM(max(|q + buys|, |q − sells|)) − IM(|q|)` (coin, at the
    /// mark; linear contracts converted at the index); options pay the short-option initial
    /// margin on the sells that extend a short and the premium of the buys beyond closing one.
    fn orders_margin(
        &self,
        account: &Account,
        market: &Market,
    ) -> Result<BTreeMap<String, f64>, MarginError> {
        let mut by_ins: BTreeMap<String, Vec<&Order>> = BTreeMap::new();
        for o in reserving(&account.orders, Venue::Deribit) {
            by_ins.entry(o.instrument.id()).or_default().push(o);
        }
        let mut out: BTreeMap<String, f64> = BTreeMap::new();
        for (id, orders) in by_ins {
            let ins = &orders[0].instrument;
            let q_contracts: f64 = account
                .positions
                .iter()
                .filter(|p| p.instrument.id() == id)
                .map(|p| p.size)
                .sum();
            let contracts = |side: Side| -> f64 {
                orders
                    .iter()
                    .filter(|o| o.side == side)
                    .map(|o| o.remaining)
                    .sum()
            };
            let im = match ins.kind {
                InstrumentKind::Future { .. } | InstrumentKind::Perpetual => {
                    let mark = mark_price(market, &id)?;
                    let rates = self.params.futures(&ins.underlying, ins.settlement, &id)?;
                    let coin = |c: f64| ins.base_quantity(c, mark);
                    let q = coin(q_contracts);
                    let reach = deribit_futures_reach(
                        q,
                        coin(contracts(Side::Buy)),
                        coin(contracts(Side::Sell)),
                    );
                    let extra =
                        futures_margin_coin(rates, reach).0 - futures_margin_coin(rates, q).0;
                    match ins.settlement {
                        Settlement::Inverse => extra,
                        Settlement::Linear => {
                            extra * linear_index(market, &ins.underlying, &ins.settle)?
                        }
                    }
                }
                InstrumentKind::Option {
                    strike,
                    option_kind,
                    ..
                } => {
                    if ins.settlement == Settlement::Linear {
                        return Err(MarginError::Unsupported {
                            field: format!("account[{:?}].orders", account.id),
                            reason: format!("{id}: Deribit's standard margin for linear (USDC) options is UNCONFIRMED"),
                        });
                    }
                    let mark = mark_price(market, &id)?;
                    let u = index_price(market, Venue::Deribit, &ins.underlying)?;
                    let coin = |c: f64| ins.base_quantity(c, u);
                    let n = coin(q_contracts);
                    let short_now = (-n).max(0.0);
                    let short_after = (-(n - coin(contracts(Side::Sell)))).max(0.0);
                    let (per_short, _) = short_option_margin_coin(
                        &self.params.options,
                        option_kind,
                        strike,
                        u,
                        mark,
                    );
                    let buys = coin(contracts(Side::Buy));
                    let premium: f64 = orders
                        .iter()
                        .filter(|o| o.side == Side::Buy)
                        .map(|o| coin(o.remaining) * o.price.unwrap_or(mark))
                        .sum();
                    let beyond_cover = if buys > 0.0 {
                        ((buys - short_now).max(0.0)) / buys
                    } else {
                        0.0
                    };
                    per_short * (short_after - short_now) + premium * beyond_cover
                }
                InstrumentKind::Spot => 0.0,
            };
            *out.entry(ins.settle.clone()).or_default() += im;
        }
        Ok(out)
    }
}

/// Index of a linear (`_USDC`) contract, in its settle currency: the adapter files Deribit's
/// USDC-quoted index as `index_prices["deribit:SOL_USDC"]`; the USD index of the coin stands in
/// when only that is known.
pub fn linear_index(market: &Market, underlying: &str, settle: &str) -> Result<f64, MarginError> {
    match market
        .index_prices
        .get(&format!("deribit:{underlying}_{settle}"))
    {
        Some(p) => Ok(*p),
        None => index_price(market, Venue::Deribit, underlying).map_err(|_| {
            MarginError::MissingMarket {
                field: format!("market.index_prices[\"deribit:{underlying}_{settle}\"]"),
                reason: format!("the {settle} index of {underlying} converts the coin requirement"),
            }
        }),
    }
}

/// Liquidation price of an inverse future with the size-dependent rate, all else fixed.
///
/// With `x = 1/P` and `Q` the signed USD face, equity is `e + Q/p − Q·x` and maintenance
/// `|Q|·x·mm_base + Q²·x²·mm_increase + other`; their equality is the quadratic
/// `inc·Q²·x² + (|Q|·base + Q)·x − (e + Q/p − other) = 0`, whose root on the losing side of the
/// mark (price below it for a long, above for a short) is the answer.
pub fn inverse_futures_liquidation_price(
    mark: f64,
    q_usd: f64,
    rates: &FuturesRates,
    equity: f64,
    other_mm: f64,
) -> Option<f64> {
    if q_usd == 0.0 {
        return None;
    }
    let a = rates.mm_increase * q_usd * q_usd;
    let b = q_usd.abs() * rates.mm_base + q_usd;
    let c = -(equity + q_usd / mark - other_mm);
    let x0 = 1.0 / mark;
    let roots: Vec<f64> = if a.abs() < 1e-300 {
        if b == 0.0 {
            vec![]
        } else {
            vec![-c / b]
        }
    } else {
        let d = b * b - 4.0 * a * c;
        if d < 0.0 {
            vec![]
        } else {
            vec![(-b + d.sqrt()) / (2.0 * a), (-b - d.sqrt()) / (2.0 * a)]
        }
    };
    roots
        .into_iter()
        .filter(|x| x.is_finite() && *x > 0.0)
        .filter(|x| if q_usd > 0.0 { *x >= x0 } else { *x <= x0 })
        .min_by(|u, v| (u - x0).abs().total_cmp(&(v - x0).abs()))
        .map(|x| 1.0 / x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_parameters_parse_and_cite_their_source() {
        let p = DeribitParams::embedded().unwrap();
        assert!(p
            .futures
            .iter()
            .all(|f| f.provenance.source.starts_with("https://")));
        assert!(p.options.provenance.source.starts_with("https://"));
    }

    #[test]
    fn short_put_initial_is_at_least_its_maintenance() {
        let r = DeribitParams::embedded().unwrap().options;
        // Deep OTM put: OTM/U = 0.5 → IM term = max(0.15 − 0.5, 0.1) + 0.001 = 0.101;
        // MM = max(0.075, 0.075×0.001) + 0.001 = 0.076 → IM 0.101.
        let (im, mm) = short_option_margin_coin(&r, OptionKind::Put, 50_000.0, 100_000.0, 0.001);
        assert!((im - 0.101).abs() < 1e-12 && (mm - 0.076).abs() < 1e-12);
    }
}

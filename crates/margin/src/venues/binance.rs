//! Binance USDⓈ-M futures: tiered maintenance with the bracket's maintenance amount, initial
//! margin from the chosen leverage, and the documented liquidation price.
//!
//! * Maintenance `= notional × MMR(bracket) − cum(bracket)`, notional at the mark, independent
//!   of leverage (<https://www.binance.com/en/support/articles/360033162192>).
//! * Initial `= notional / leverage` (the position's leverage; else the bracket's maximum), plus
//!   what open orders reserve ([`super::orders`]: `max(|N + Bid|, |N − Ask|) / leverage` per leg
//!   and the orders' open loss), charged to the cross pool.
//! * Margin ratio `= maintenance / margin balance`, liquidation at 100 %
//!   (<https://binance.com/en/support/faq/25edcd7fe0e544839d0847b8cbb2e400>).
//! * Liquidation price (one-way `BOTH`, hedge `LONG`/`SHORT`, cross or isolated):
//!   [`liquidation_price`] (<https://www.binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93>);
//!   solved on every price interval over which the brackets stay fixed, keeping the root that
//!   lies in its own interval (nearest the mark). A symbol held both long and short in one pool is taken as hedge mode.
//!
//! One pool per settle asset (USDT, USDC): equity = wallet balance + unrealised P&L.

use std::collections::BTreeMap;
use std::sync::Arc;

use intermargin_model::{Account, Asset, Market, Order, Position, PositionSide, Venue};
use serde::Deserialize;
use serde_json::Value;

use super::common::{add_orders_margin, balances, mark_price, pool, position_path, unrealised_pnl};
use super::orders::{binance_orders_initial_margin, reserving, LegOrder};
use super::params::{array_of, bad_param, load, num_any, published, Provenance};
use super::tiers::{Deduction, Tier, TierTable};
use crate::error::MarginError;
use crate::report::{MarginModel, PositionMargin, VenueMargin};

const FILE: &str = "params/binance.toml";

/// One symbol's dated bracket table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SymbolBrackets {
    /// Where the numbers come from.
    #[serde(flatten)]
    pub provenance: Provenance,
    /// Brackets by notional.
    pub brackets: Vec<Tier>,
}

/// The leverage Binance applies to a symbol the user never set one for.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DefaultLeverage {
    /// Where the number comes from.
    #[serde(flatten)]
    pub provenance: Provenance,
    /// Default leverage (20×).
    pub leverage: f64,
}

/// Binance's parameter file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BinanceParams {
    /// Leverage assumed when a payload carries none (v3 `positionRisk` dropped the field).
    pub default_leverage: DefaultLeverage,
    /// Bracket tables by symbol.
    pub symbols: BTreeMap<String, SymbolBrackets>,
    /// COIN-M bracket tables by pair (`BTCUSD`), bounds and `cum` in the coin
    /// ([`super::binance_coinm`]).
    #[serde(default)]
    pub coinm: BTreeMap<String, SymbolBrackets>,
    /// Portfolio Margin (uniMMR) parameters ([`super::binance_pm`]).
    #[serde(default)]
    pub portfolio_margin: Option<super::binance_pm::PortfolioMarginParams>,
}

impl BinanceParams {
    /// The dated parameters embedded in the binary.
    pub fn embedded() -> Result<Self, MarginError> {
        load(FILE, include_str!("../../params/binance.toml"))
    }

    /// Parameters from the text of a file in this venue's format (another version of
    /// `params/binance.toml`: `intermargin params diff`).
    pub fn from_toml(text: &str) -> Result<Self, MarginError> {
        load(FILE, text)
    }
}

/// Brackets published by the venue (`GET /fapi/v1/leverageBracket`), as the adapter stores them
/// in `market.venue_params["binance:SYMBOL"]` (`{brackets:[{notional_floor, notional_cap,
/// maint_margin_ratio, cum, initial_leverage}]}`, `crates/venues/PARAMS.md`); the raw camelCase
/// response (per symbol, or the whole array under `"binance"`) is read too.
pub fn published_brackets(market: &Market, symbol: &str) -> Result<Option<TierTable>, MarginError> {
    match locate_brackets(market, symbol) {
        Some((v, key, i)) => parse_brackets(v, &bracket_path(&key, i)).map(Some),
        None => Ok(None),
    }
}

/// Where `market.venue_params` publishes `symbol`'s brackets: the value, its key, and its index
/// when it is an element of the whole response under `"binance"`.
fn locate_brackets<'m>(
    market: &'m Market,
    symbol: &str,
) -> Option<(&'m Value, String, Option<usize>)> {
    let key = format!("binance:{symbol}");
    if let Some(v) = published(market, &key) {
        return Some((v, key, None));
    }
    if let Some(Value::Array(all)) = published(market, "binance") {
        let i = all
            .iter()
            .position(|e| e.get("symbol").and_then(Value::as_str) == Some(symbol))?;
        return Some((&all[i], "binance".to_string(), Some(i)));
    }
    None
}

/// The path of a located bracket value, for errors.
fn bracket_path(key: &str, index: Option<usize>) -> String {
    match index {
        None => format!("[{key:?}]"),
        Some(i) => format!("[{key:?}][{i}]"),
    }
}

/// [`published_brackets`] compiled once per published value ([`super::params::compiled`]).
fn published_brackets_compiled(
    market: &Market,
    symbol: &str,
) -> Result<Option<Arc<TierTable>>, MarginError> {
    let Some((v, key, i)) = locate_brackets(market, symbol) else {
        return Ok(None);
    };
    let build = || parse_brackets(v, &bracket_path(&key, i));
    match i {
        None => super::params::compiled("binance.brackets", &key, v, build).map(Some),
        Some(_) => {
            super::params::compiled("binance.brackets", &bracket_path(&key, i), v, build).map(Some)
        }
    }
}

/// The bracket table of one published value (`path` names it in errors).
fn parse_brackets(v: &Value, path: &str) -> Result<TierTable, MarginError> {
    let (rows, path) = array_of(v, &["brackets"], path)?;
    let mut tiers = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        let p = format!("{path}[{i}]");
        tiers.push(Tier {
            floor: num_any(r, &["notional_floor", "notionalFloor", "floor"], &p)?.unwrap_or(0.0),
            cap: num_any(r, &["notional_cap", "notionalCap", "cap"], &p)?,
            mmr: num_any(r, &["maint_margin_ratio", "maintMarginRatio", "mmr"], &p)?
                .ok_or_else(|| bad_param(&format!("{p}.maint_margin_ratio"), "missing"))?,
            max_leverage: num_any(
                r,
                &["initial_leverage", "initialLeverage", "max_leverage"],
                &p,
            )?,
            cum: num_any(r, &["cum"], &p)?,
        });
    }
    if tiers.is_empty() {
        return Err(bad_param(&path, "no brackets"));
    }
    TierTable::new(
        tiers,
        Deduction::Incremental,
        &format!("market.venue_params{path}"),
    )
}

/// One side of a symbol in the liquidation formula (sizes absolute, in base units).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Leg {
    /// Absolute position size.
    pub size: f64,
    /// Entry price.
    pub entry: f64,
    /// Maintenance margin rate of the bracket.
    pub mmr: f64,
    /// Maintenance amount of the bracket.
    pub cum: f64,
}

/// Inputs of Binance's liquidation-price formula for one symbol, for USDⓈ-M legs ([`Leg`]) or
/// COIN-M legs ([`super::binance_coinm::CoinmLeg`]; all amounts then in the coin).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiquidationInputs<L = Leg> {
    /// WB: cross wallet balance (cross) or the position's isolated wallet balance (isolated).
    pub wallet_balance: f64,
    /// TMM1: maintenance of every other contract (0 in isolated mode).
    pub other_maintenance: f64,
    /// UPNL1: unrealised P&L of every other contract (0 in isolated mode).
    pub other_upnl: f64,
    /// One-way position with its side (+1 long, −1 short).
    pub both: Option<(f64, L)>,
    /// Hedge-mode long leg.
    pub long: Option<L>,
    /// Hedge-mode short leg.
    pub short: Option<L>,
}

impl<L> Default for LiquidationInputs<L> {
    fn default() -> Self {
        LiquidationInputs {
            wallet_balance: 0.0,
            other_maintenance: 0.0,
            other_upnl: 0.0,
            both: None,
            long: None,
            short: None,
        }
    }
}

/// Binance's liquidation price:
///
/// `LP = (WB − TMM1 + UPNL1 + cumB + cumL + cumS − side·posB·EPB − posL·EPL + posS·EPS)
///      / (posB·MMRB + posL·MMRL + posS·MMRS − side·posB − posL + posS)`.
///
/// `None` when no positive price liquidates.
pub fn liquidation_price(x: &LiquidationInputs) -> Option<f64> {
    let mut num = x.wallet_balance - x.other_maintenance + x.other_upnl;
    let mut den = 0.0;
    if let Some((side, b)) = x.both {
        num += b.cum - side * b.size * b.entry;
        den += b.size * b.mmr - side * b.size;
    }
    if let Some(l) = x.long {
        num += l.cum - l.size * l.entry;
        den += l.size * l.mmr - l.size;
    }
    if let Some(s) = x.short {
        num += s.cum + s.size * s.entry;
        den += s.size * s.mmr + s.size;
    }
    if den == 0.0 {
        return None;
    }
    let lp = num / den;
    (lp.is_finite() && lp > 0.0).then_some(lp)
}

/// Binance USDⓈ-M rules.
#[derive(Debug, Clone)]
pub struct BinanceUsdm {
    params: BinanceParams,
    /// Each symbol's bracket table of `params`, compiled once with the parameters.
    tables: BTreeMap<String, Result<Arc<TierTable>, MarginError>>,
}

struct Priced<'a> {
    index: usize,
    p: &'a Position,
    size: f64,
    entry: f64,
    mark: f64,
    table: Arc<TierTable>,
    im: f64,
    mm: f64,
    upnl: f64,
}

impl BinanceUsdm {
    /// Rules with explicit parameters (what-ifs: `intermargin params diff --snapshot`).
    pub fn with_params(params: BinanceParams) -> Self {
        let tables = params
            .symbols
            .iter()
            .map(|(symbol, s)| {
                let t = TierTable::new(
                    s.brackets.clone(),
                    Deduction::Incremental,
                    &format!("{FILE}: symbols.{symbol}"),
                );
                (symbol.clone(), t.map(Arc::new))
            })
            .collect();
        BinanceUsdm { params, tables }
    }

    /// Rules with the embedded parameters.
    pub fn new() -> Result<Self, MarginError> {
        Ok(Self::with_params(BinanceParams::embedded()?))
    }

    fn table(
        &self,
        market: &Market,
        symbol: &str,
        what: &str,
    ) -> Result<Arc<TierTable>, MarginError> {
        if let Some(t) = published_brackets_compiled(market, symbol)? {
            return Ok(t);
        }
        match self.tables.get(symbol) {
            Some(t) => t.clone(),
            None => Err(MarginError::Params {
                file: FILE.into(),
                field: format!("symbols.{symbol}"),
                reason: format!(
                    "no brackets for {what}; supply market.venue_params[\"binance:{symbol}\"]"
                ),
            }),
        }
    }

    /// Initial margin open orders reserve, per settle asset (see [`super::orders`]): orders are
    /// grouped by symbol and hedge leg, each leg's position notional at the mark, and the leg's
    /// leverage is its position's (else the order's, else Binance's default).
    fn orders_margin(
        &self,
        account: &Account,
        market: &Market,
    ) -> Result<BTreeMap<String, f64>, MarginError> {
        let mut legs: BTreeMap<(String, Option<PositionSide>), Vec<&Order>> = BTreeMap::new();
        for o in reserving(&account.orders, Venue::Binance) {
            legs.entry((o.instrument.symbol.clone(), o.position_side))
                .or_default()
                .push(o);
        }
        let mut out: BTreeMap<String, f64> = BTreeMap::new();
        for ((symbol, leg), orders) in legs {
            let ins = &orders[0].instrument;
            let id = ins.id();
            let mark = mark_price(market, &id)?;
            let held: Vec<&Position> = account
                .positions
                .iter()
                .filter(|p| p.instrument.venue == Venue::Binance && p.instrument.symbol == symbol)
                .filter(|p| match leg {
                    None => true,
                    Some(PositionSide::Long) => p.size > 0.0,
                    Some(PositionSide::Short) => p.size < 0.0,
                })
                .collect();
            let notional: f64 = held
                .iter()
                .map(|p| p.instrument.base_quantity(p.size, mark) * mark)
                .sum();
            let leverage = held
                .iter()
                .find_map(|p| p.leverage)
                .or_else(|| orders.iter().find_map(|o| o.leverage))
                .unwrap_or(self.params.default_leverage.leverage);
            let rows: Vec<LegOrder> = orders
                .iter()
                .map(|o| LegOrder {
                    side: o.side,
                    qty: o.instrument.base_quantity(o.remaining, mark),
                    price: o.price.unwrap_or(mark),
                })
                .collect();
            *out.entry(ins.settle.clone()).or_default() +=
                binance_orders_initial_margin(notional, &rows, mark, leverage);
        }
        Ok(out)
    }

    /// Liquidation price of one symbol's legs with the brackets re-selected at the answer.
    fn symbol_liquidation(
        legs: &[&Priced<'_>],
        wallet_balance: f64,
        other_mm: f64,
        other_upnl: f64,
    ) -> Result<Option<f64>, MarginError> {
        let hedge = legs.iter().any(|l| l.size > 0.0) && legs.iter().any(|l| l.size < 0.0);
        // Aggregate long and short pieces (size-weighted entries).
        let agg = |long: bool| -> Option<(f64, f64, &Priced<'_>)> {
            let sel: Vec<&&Priced<'_>> = legs.iter().filter(|l| (l.size > 0.0) == long).collect();
            let size: f64 = sel.iter().map(|l| l.size.abs()).sum();
            (size > 0.0).then(|| {
                let entry = sel.iter().map(|l| l.size.abs() * l.entry).sum::<f64>() / size;
                (size, entry, *sel[0])
            })
        };
        let long = agg(true);
        let short = agg(false);
        let leg_at =
            |x: Option<(f64, f64, &Priced<'_>)>, price: f64| -> Result<Option<Leg>, MarginError> {
                match x {
                    None => Ok(None),
                    Some((size, entry, pr)) => {
                        // The price that liquidates may push the notional past the last bracket
                        // the table knows; Binance keeps charging that bracket's rate there.
                        let t = pr.table.tier_or_last(size * price);
                        Ok(Some(Leg {
                            size,
                            entry,
                            mmr: t.mmr,
                            cum: t.cum.unwrap_or(0.0),
                        }))
                    }
                }
            };
        // The brackets change only where a leg's notional crosses a bracket floor: between two
        // such prices the formula is exact, so solve it on every interval and keep the roots
        // that fall inside their own interval (the one nearest the mark when hedge legs give
        // several). Starting from the mark's bracket alone misses a root whose bracket is
        // lower (an isolated long whose mark-bracket solution is negative).
        let mark = legs[0].mark;
        let mut edges = vec![0.0];
        for (size, _, pr) in [long, short].into_iter().flatten() {
            edges.extend(
                pr.table
                    .tiers()
                    .iter()
                    .map(|t| t.floor / size)
                    .filter(|e| e.is_finite() && *e > 0.0),
            );
        }
        edges.sort_by(f64::total_cmp);
        edges.dedup();
        let mut answer: Option<f64> = None;
        for (j, &lo) in edges.iter().enumerate() {
            let hi = edges.get(j + 1).copied().unwrap_or(f64::INFINITY);
            let probe = if hi.is_finite() {
                0.5 * (lo + hi)
            } else {
                2.0 * lo + 1.0
            };
            let l = leg_at(long, probe)?;
            let s = leg_at(short, probe)?;
            let inputs = LiquidationInputs {
                wallet_balance,
                other_maintenance: other_mm,
                other_upnl,
                both: if hedge {
                    None
                } else {
                    l.map(|x| (1.0, x)).or(s.map(|x| (-1.0, x)))
                },
                long: if hedge { l } else { None },
                short: if hedge { s } else { None },
            };
            let Some(lp) = liquidation_price(&inputs) else {
                continue;
            };
            let slack = 1e-9 * lp;
            if lp + slack < lo || lp - slack > hi {
                continue;
            }
            if answer.is_none_or(|a| (lp - mark).abs() < (a - mark).abs()) {
                answer = Some(lp);
            }
        }
        Ok(answer)
    }
}

impl BinanceUsdm {
    /// Every wallet's pools: USDⓈ-M per settle asset (cross and isolated), COIN-M per coin.
    fn per_wallet(
        &self,
        account: &Account,
        assets: &[Asset],
        market: &Market,
    ) -> Result<Vec<VenueMargin>, MarginError> {
        let wallets = balances(account, assets, Venue::Binance)?;
        let mut by_pool: BTreeMap<String, Vec<Priced<'_>>> = BTreeMap::new();
        // COIN-M (inverse) positions and the coins they margin in belong to their own rules.
        let coinm_coins: std::collections::BTreeSet<&str> = account
            .positions
            .iter()
            .filter(|p| super::binance_coinm::is_coinm(p))
            .map(|p| p.instrument.settle.as_str())
            .collect();
        for (i, p) in account.positions.iter().enumerate() {
            let ins = &p.instrument;
            if ins.venue != Venue::Binance || super::binance_coinm::is_coinm(p) {
                continue;
            }
            let id = ins.id();
            let mark = mark_price(market, &id)?;
            let size = ins.base_quantity(p.size, mark);
            let notional = (size * mark).abs();
            let table = self.table(market, &ins.symbol, &id)?;
            let tier = table.tier(notional, &id)?.clone();
            let mm = (notional * tier.mmr - tier.cum.unwrap_or(0.0)).max(0.0);
            // The payload's leverage (the adapter derives it from v3's `initialMargin` when the
            // field is absent), else Binance's default: never the bracket's most lenient maximum.
            let leverage = p.leverage.unwrap_or(self.params.default_leverage.leverage);
            if !(leverage.is_finite() && leverage > 0.0) {
                return Err(MarginError::Unsupported {
                    field: format!("{}.leverage", position_path(account, i)),
                    reason: format!("{id}: leverage {leverage} is not > 0"),
                });
            }
            let im = notional / leverage;
            let upnl = unrealised_pnl(p, mark);
            by_pool.entry(ins.settle.clone()).or_default().push(Priced {
                index: i,
                p,
                size,
                entry: p.entry_price.unwrap_or(mark),
                mark,
                table,
                im,
                mm,
                upnl,
            });
        }
        let orders_im = self.orders_margin(account, market)?;
        let mut settles: Vec<String> = by_pool.keys().cloned().collect();
        for w in wallets.keys().chain(orders_im.keys()) {
            if !settles.contains(w) && !coinm_coins.contains(w.as_str()) {
                settles.push(w.clone());
            }
        }
        let mut out = Vec::new();
        for settle in settles {
            let wallet = wallets.get(&settle).copied().unwrap_or(0.0);
            let rows = by_pool.remove(&settle).unwrap_or_default();
            let isolated_posted: f64 = rows
                .iter()
                .filter(|r| r.p.isolated)
                .map(|r| r.p.isolated_margin.unwrap_or(0.0))
                .sum();
            let cross_wallet = wallet - isolated_posted;
            // Cross legs of a symbol share one formula (hedge mode: long and short together);
            // every isolated position has its own wallet and its own price, so an isolated LONG
            // and SHORT of one symbol (hedge mode) are solved apart.
            let mut symbols: BTreeMap<(String, bool, i8), Vec<usize>> = BTreeMap::new();
            for (k, r) in rows.iter().enumerate() {
                let side = if r.p.isolated {
                    if r.size > 0.0 {
                        1
                    } else {
                        -1
                    }
                } else {
                    0
                };
                symbols
                    .entry((r.p.instrument.symbol.clone(), r.p.isolated, side))
                    .or_default()
                    .push(k);
            }
            let mut lps: BTreeMap<usize, Option<f64>> = BTreeMap::new();
            for ((_, isolated, _), ks) in &symbols {
                let legs: Vec<&Priced<'_>> = ks.iter().map(|&k| &rows[k]).collect();
                let lp = if *isolated {
                    let mut wb = 0.0;
                    for l in &legs {
                        wb += l
                            .p
                            .isolated_margin
                            .ok_or_else(|| MarginError::Unsupported {
                                field: format!(
                                    "{}.isolated_margin",
                                    position_path(account, l.index)
                                ),
                                reason: "an isolated position needs its isolated wallet balance"
                                    .into(),
                            })?;
                    }
                    Self::symbol_liquidation(&legs, wb, 0.0, 0.0)?
                } else {
                    let others = rows
                        .iter()
                        .enumerate()
                        .filter(|(k, r)| !ks.contains(k) && !r.p.isolated);
                    let (omm, oupnl) =
                        others.fold((0.0, 0.0), |a, (_, r)| (a.0 + r.mm, a.1 + r.upnl));
                    Self::symbol_liquidation(&legs, cross_wallet, omm, oupnl)?
                };
                for &k in ks {
                    lps.insert(k, lp);
                }
            }
            let margin_of = |k: usize, r: &Priced<'_>| PositionMargin {
                instrument: r.p.instrument.id(),
                initial_margin: r.im,
                maintenance_margin: r.mm,
                liquidation_price: lps.get(&k).copied().flatten(),
            };
            // The cross pool: the wallet less what isolated positions hold, with cross P&L.
            let cross: Vec<(usize, &Priced<'_>)> = rows
                .iter()
                .enumerate()
                .filter(|(_, r)| !r.p.isolated)
                .collect();
            let equity = cross_wallet + cross.iter().map(|(_, r)| r.upnl).sum::<f64>();
            let mut cross_pool = pool(
                Venue::Binance,
                &settle,
                "cross",
                (
                    equity,
                    cross.iter().map(|(_, r)| r.im).sum(),
                    cross.iter().map(|(_, r)| r.mm).sum(),
                ),
                cross.iter().map(|(k, r)| margin_of(*k, r)).collect(),
                market,
            )?;
            // Open orders' initial margin is taken from the cross wallet, isolated ones too
            // ("Available for Order = crossWalletBalance + cross UPnL − cross IM − isolated open
            // order IM").
            add_orders_margin(
                &mut cross_pool,
                orders_im.get(&settle).copied().unwrap_or(0.0),
                market,
            );
            out.push(cross_pool);
            // Each isolated position: its isolated wallet plus its P&L, liquidated alone.
            for (k, r) in rows.iter().enumerate().filter(|(_, r)| r.p.isolated) {
                out.push(pool(
                    Venue::Binance,
                    &settle,
                    &r.p.instrument.isolated_pool(r.size > 0.0),
                    (r.p.isolated_margin.unwrap_or(0.0) + r.upnl, r.im, r.mm),
                    vec![margin_of(k, r)],
                    market,
                )?);
            }
        }
        out.extend(super::binance_coinm::margin(
            &self.params,
            account,
            market,
            &wallets,
            self.params.default_leverage.leverage,
        )?);
        Ok(out)
    }
}

impl MarginModel for BinanceUsdm {
    fn venue(&self) -> Venue {
        Venue::Binance
    }

    /// Per wallet, or — when the snapshot marks the account portfolio-margined
    /// (`venue_params["binance:portfolio_margin"]`) — one unified pool judged by uniMMR.
    fn margin(
        &self,
        account: &Account,
        assets: &[Asset],
        market: &Market,
    ) -> Result<Vec<VenueMargin>, MarginError> {
        let standard = self.per_wallet(account, assets, market)?;
        if !super::binance_pm::is_portfolio_margin(market) {
            return Ok(standard);
        }
        let pm = self
            .params
            .portfolio_margin
            .as_ref()
            .ok_or_else(|| MarginError::Params {
                file: FILE.into(),
                field: "portfolio_margin".into(),
                reason: "a portfolio-margin account needs the [portfolio_margin] table".into(),
            })?;
        super::binance_pm::margin(pm, account, assets, market, standard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn historical_btcusdt_maintenance_amounts_follow_the_bracket_recursion() {
        // The gist's cum column must equal cum_n = cum_{n−1} + floor_n × (MMR_n − MMR_{n−1}):
        // 50,000×0.1 % = 50; 50 + 250,000×0.5 % = 1,300; 1,300 + 1,000,000×1.5 % = 16,300; …
        let p = BinanceParams::embedded().unwrap();
        let given = &p.symbols["BTCUSDT"].brackets;
        let stripped: Vec<Tier> = given
            .iter()
            .cloned()
            .map(|mut t| {
                t.cum = None;
                t
            })
            .collect();
        let derived = TierTable::new(stripped, Deduction::Incremental, "t").unwrap();
        for (g, d) in given.iter().zip(derived.tiers()) {
            assert!(
                (g.cum.unwrap() - d.cum.unwrap()).abs() < 1e-6,
                "{g:?} vs {d:?}"
            );
        }
    }
}

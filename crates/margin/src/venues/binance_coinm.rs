//! Binance COIN-M futures: inverse contracts of a fixed USD value (BTC 100 USD, others 10 USD),
//! margined and settled in the coin, one cross pool per coin plus one pool per isolated position.
//!
//! * Notional (coin) `= contracts × contract USD / mark`; maintenance `= notional × MMR − cum`
//!   at the notional's bracket (brackets and `cum` in the coin: `GET /dapi/v1/leverageBracket`;
//!   <https://www.binance.com/en/support/faq/ceccfcfb4e3a45e3b48b0b1bb1a8ae46>, "100 contracts at
//!   25,000: 100 × 100 / 25,000 = 0.4 BTC, maintenance 0.4 × 0.4 % − 0 = 0.0016 BTC").
//! * Initial `= notional / leverage`, the position's leverage from the payload (COIN-M payloads
//!   carry it), else Binance's default; never the bracket's maximum.
//! * Liquidation price: [`liquidation_price`], Binance's COIN-M formula (same FAQ; cross: WB is
//!   the coin's cross wallet balance, TMM1/UPNL1 the other cross contracts of that coin; isolated:
//!   WB the position's isolated wallet, TMM1 = UPNL1 = 0; "under cross margin, same symbol, long
//!   and short share the same liquidation price"), with the brackets re-selected at the answer
//!   (solved on every price interval over which the brackets stay fixed).

use std::collections::BTreeMap;

use intermargin_model::{Account, Market, Position, Settlement, Venue};

use super::binance::{BinanceParams, LiquidationInputs};
use super::common::{mark_price, pool, position_path, unrealised_pnl};
use super::params::{array_of, bad_param, num_any, published};
use super::tiers::{Deduction, Tier, TierTable};
use crate::error::MarginError;
use crate::report::{PositionMargin, VenueMargin};

const FILE: &str = "params/binance.toml";

/// True for a position the COIN-M rules margin (a Binance inverse contract).
pub fn is_coinm(p: &Position) -> bool {
    p.instrument.venue == Venue::Binance && p.instrument.settlement == Settlement::Inverse
}

/// The pair of a COIN-M symbol (`BTCUSD_PERP` → `BTCUSD`).
fn pair(symbol: &str) -> &str {
    symbol.split_once('_').map(|(p, _)| p).unwrap_or(symbol)
}

/// Brackets published by the venue for a COIN-M symbol: `venue_params["binance:SYMBOL"]`
/// (`/dapi/v2`, `/papi/v1/cm`) or `["binance:PAIR"]` (`/dapi/v1`), as the adapter stores them
/// (`qty_floor`, `qty_cap`, `maint_margin_ratio`, `cum`, `initial_leverage`; the raw camelCase
/// `qtyFloor`/`qtylFloor`/`qtyCap` are read too). Bounds and `cum` in the coin.
pub fn published_brackets(market: &Market, symbol: &str) -> Result<Option<TierTable>, MarginError> {
    let keys = [
        format!("binance:{symbol}"),
        format!("binance:{}", pair(symbol)),
    ];
    let Some((key, v)) = keys
        .iter()
        .find_map(|k| published(market, k).map(|v| (k, v)))
    else {
        return Ok(None);
    };
    let (rows, path) = array_of(v, &["brackets"], &format!("[{key:?}]"))?;
    let mut tiers = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let mmr = num_any(r, &["maint_margin_ratio", "maintMarginRatio"], &p)?
            .ok_or_else(|| bad_param(&format!("{p}.maint_margin_ratio"), "missing"))?;
        tiers.push(Tier {
            floor: num_any(r, &["qty_floor", "qtyFloor", "qtylFloor"], &p)?.unwrap_or(0.0),
            cap: num_any(r, &["qty_cap", "qtyCap"], &p)?,
            mmr,
            max_leverage: num_any(r, &["initial_leverage", "initialLeverage"], &p)?,
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
    .map(Some)
}

/// One side of a symbol in the COIN-M formula: `face` is the USD face value (contracts ×
/// contract USD, absolute), `face_over_entry` the coin value at entry (`Σ face / entry`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoinmLeg {
    /// Contracts × contract value in USD (absolute).
    pub face: f64,
    /// `Σ face_i / entry_i` over the leg's pieces (coin).
    pub face_over_entry: f64,
    /// Maintenance margin rate of the bracket.
    pub mmr: f64,
    /// Maintenance amount of the bracket, in the coin.
    pub cum: f64,
}

/// Inputs of Binance's COIN-M liquidation-price formula for one symbol (all in the coin): the
/// USDⓈ-M inputs with COIN-M legs.
pub type CoinmLiquidationInputs = LiquidationInputs<CoinmLeg>;

/// Binance's COIN-M liquidation price (CM = contract size, B/L/S contracts):
///
/// `LP = (B·MMR_B + L·MMR_L + S·MMR_S + side·B + L − S)·CM
///       / (WB − TMM1 + UPNL1 + cumB + cumL + cumS + (side·B/EP_B + L/EP_L − S/EP_S)·CM)`,
///
/// the price at which the margin balance `WB − TMM1 + UPNL1 + Σ face·(1/EP − 1/LP)·side` equals
/// the maintenance `Σ face/LP·MMR − cum`. `None` when no positive price liquidates.
pub fn liquidation_price(x: &CoinmLiquidationInputs) -> Option<f64> {
    let mut num = 0.0;
    let mut den = x.wallet_balance - x.other_maintenance + x.other_upnl;
    if let Some((side, b)) = x.both {
        num += b.face * b.mmr + side * b.face;
        den += b.cum + side * b.face_over_entry;
    }
    if let Some(l) = x.long {
        num += l.face * l.mmr + l.face;
        den += l.cum + l.face_over_entry;
    }
    if let Some(s) = x.short {
        num += s.face * s.mmr - s.face;
        den += s.cum - s.face_over_entry;
    }
    if den == 0.0 {
        return None;
    }
    let lp = num / den;
    (lp.is_finite() && lp > 0.0).then_some(lp)
}

struct Priced<'a> {
    index: usize,
    p: &'a Position,
    /// Signed face value in USD (contracts × contract USD).
    face: f64,
    entry: f64,
    mark: f64,
    table: TierTable,
    im: f64,
    mm: f64,
    upnl: f64,
}

fn table(
    params: &BinanceParams,
    market: &Market,
    symbol: &str,
    id: &str,
) -> Result<TierTable, MarginError> {
    if let Some(t) = published_brackets(market, symbol)? {
        return Ok(t);
    }
    let pr = pair(symbol);
    let s = params.coinm.get(pr).ok_or_else(|| MarginError::Params {
        file: FILE.into(),
        field: format!("coinm.{pr}"),
        reason: format!(
            "no COIN-M brackets for {id}; import GET /dapi/v1/leverageBracket (market.venue_params[\"binance:{pr}\"])"
        ),
    })?;
    TierTable::new(
        s.brackets.clone(),
        Deduction::Incremental,
        &format!("{FILE}: coinm.{pr}"),
    )
}

/// Liquidation price of one symbol's legs, the brackets re-selected at the answer: the brackets
/// change only where a leg's coin notional `face / P` crosses a bracket floor, so the formula is
/// solved on every interval between such prices and the roots inside their own interval are
/// kept (the one nearest the mark).
fn symbol_liquidation(
    legs: &[&Priced<'_>],
    wallet_balance: f64,
    other_mm: f64,
    other_upnl: f64,
) -> Option<f64> {
    let hedge = legs.iter().any(|l| l.face > 0.0) && legs.iter().any(|l| l.face < 0.0);
    let agg = |long: bool| -> Option<(f64, f64, &Priced<'_>)> {
        let sel: Vec<&&Priced<'_>> = legs.iter().filter(|l| (l.face > 0.0) == long).collect();
        let face: f64 = sel.iter().map(|l| l.face.abs()).sum();
        (face > 0.0).then(|| {
            let foe = sel.iter().map(|l| l.face.abs() / l.entry).sum::<f64>();
            (face, foe, *sel[0])
        })
    };
    let long = agg(true);
    let short = agg(false);
    let leg_at = |x: Option<(f64, f64, &Priced<'_>)>, price: f64| -> Option<CoinmLeg> {
        x.map(|(face, foe, pr)| {
            // Past the last bracket the table knows, its rate goes on (as the venue does).
            let t = pr.table.tier_or_last(face / price);
            CoinmLeg {
                face,
                face_over_entry: foe,
                mmr: t.mmr,
                cum: t.cum.unwrap_or(0.0),
            }
        })
    };
    let mark = legs[0].mark;
    let mut edges = vec![0.0];
    for (face, _, pr) in [long, short].into_iter().flatten() {
        edges.extend(
            pr.table
                .tiers()
                .iter()
                .map(|t| face / t.floor)
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
        let l = leg_at(long, probe);
        let s = leg_at(short, probe);
        let inputs = CoinmLiquidationInputs {
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
    answer
}

/// The COIN-M pools of an account: one cross pool per coin the account trades COIN-M in, plus
/// each isolated position; `wallets` are the account's Binance balances per asset (the coin's
/// COIN-M wallet) and `default_leverage` the leverage of a payload that carries none.
pub(crate) fn margin(
    params: &BinanceParams,
    account: &Account,
    market: &Market,
    wallets: &BTreeMap<String, f64>,
    default_leverage: f64,
) -> Result<Vec<VenueMargin>, MarginError> {
    let mut by_coin: BTreeMap<String, Vec<Priced<'_>>> = BTreeMap::new();
    for (i, p) in account.positions.iter().enumerate() {
        if !is_coinm(p) {
            continue;
        }
        let ins = &p.instrument;
        let id = ins.id();
        let mark = mark_price(market, &id)?;
        let face = ins.base_quantity(p.size, mark) * mark;
        let notional = (face / mark).abs();
        let table = table(params, market, &ins.symbol, &id)?;
        let tier = table.tier(notional, &id)?.clone();
        let mm = (notional * tier.mmr - tier.cum.unwrap_or(0.0)).max(0.0);
        let leverage = p.leverage.unwrap_or(default_leverage);
        if !(leverage.is_finite() && leverage > 0.0) {
            return Err(MarginError::Unsupported {
                field: format!("{}.leverage", position_path(account, i)),
                reason: format!("{id}: leverage {leverage} is not > 0"),
            });
        }
        let entry = p.entry_price.unwrap_or(mark);
        by_coin.entry(ins.settle.clone()).or_default().push(Priced {
            index: i,
            p,
            face,
            entry,
            mark,
            table,
            im: notional / leverage,
            mm,
            upnl: unrealised_pnl(p, mark),
        });
    }
    let mut out = Vec::new();
    for (coin, rows) in &by_coin {
        let wallet = wallets.get(coin).copied().unwrap_or(0.0);
        let isolated_posted: f64 = rows
            .iter()
            .filter(|r| r.p.isolated)
            .map(|r| r.p.isolated_margin.unwrap_or(0.0))
            .sum();
        let cross_wallet = wallet - isolated_posted;
        let mut groups: BTreeMap<(String, bool, i8), Vec<usize>> = BTreeMap::new();
        for (k, r) in rows.iter().enumerate() {
            let side = match (r.p.isolated, r.face > 0.0) {
                (false, _) => 0,
                (true, true) => 1,
                (true, false) => -1,
            };
            groups
                .entry((r.p.instrument.symbol.clone(), r.p.isolated, side))
                .or_default()
                .push(k);
        }
        let mut lps: BTreeMap<usize, Option<f64>> = BTreeMap::new();
        for ((_, isolated, _), ks) in &groups {
            let legs: Vec<&Priced<'_>> = ks.iter().map(|&k| &rows[k]).collect();
            let lp = if *isolated {
                let mut wb = 0.0;
                for l in &legs {
                    wb += l
                        .p
                        .isolated_margin
                        .ok_or_else(|| MarginError::Unsupported {
                            field: format!("{}.isolated_margin", position_path(account, l.index)),
                            reason: "an isolated position needs its isolated wallet balance".into(),
                        })?;
                }
                symbol_liquidation(&legs, wb, 0.0, 0.0)
            } else {
                let (omm, oupnl) = rows
                    .iter()
                    .enumerate()
                    .filter(|(k, r)| !ks.contains(k) && !r.p.isolated)
                    .fold((0.0, 0.0), |a, (_, r)| (a.0 + r.mm, a.1 + r.upnl));
                symbol_liquidation(&legs, cross_wallet, omm, oupnl)
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
        let cross: Vec<(usize, &Priced<'_>)> = rows
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.p.isolated)
            .collect();
        out.push(pool(
            Venue::Binance,
            coin,
            "cross",
            (
                cross_wallet + cross.iter().map(|(_, r)| r.upnl).sum::<f64>(),
                cross.iter().map(|(_, r)| r.im).sum(),
                cross.iter().map(|(_, r)| r.mm).sum(),
            ),
            cross.iter().map(|(k, r)| margin_of(*k, r)).collect(),
            market,
        )?);
        for (k, r) in rows.iter().enumerate().filter(|(_, r)| r.p.isolated) {
            out.push(pool(
                Venue::Binance,
                coin,
                &r.p.instrument.isolated_pool(r.face > 0.0),
                (r.p.isolated_margin.unwrap_or(0.0) + r.upnl, r.im, r.mm),
                vec![margin_of(k, r)],
                market,
            )?);
        }
    }
    Ok(out)
}

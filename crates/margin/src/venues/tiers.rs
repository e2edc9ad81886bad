//! Tiered maintenance schedules (Binance leverage brackets, Bybit risk limits, Hyperliquid
//! margin tables, OKX position tiers): one table type and one bracket formula.
//!
//! Maintenance of a position whose size falls in tier `n` is `size·mmr_n − cum_n`, where the
//! deduction `cum_n = cum_{n−1} + floor_n·(mmr_n − mmr_{n−1})`, `cum_1 = 0`, makes the charge
//! equal to charging each slice of the position at its own tier's rate (Binance's "maintenance
//! amount", Bybit's `mmDeduction`, Hyperliquid's "maintenance deduction"). Venues that charge
//! the whole position at its tier's rate (OKX, as read) simply use `cum = 0`.

use serde::Deserialize;

use crate::error::MarginError;

/// One tier: sizes in `[floor, cap)` pay `mmr` less `cum`; `max_leverage` caps leverage there.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Tier {
    /// Lower bound of the tier (inclusive), in the table's size basis.
    pub floor: f64,
    /// Upper bound (exclusive); `None` for an open-ended last tier.
    #[serde(default)]
    pub cap: Option<f64>,
    /// Maintenance margin rate.
    pub mmr: f64,
    /// Highest leverage allowed in the tier (sets initial margin when the user chose none).
    #[serde(default)]
    pub max_leverage: Option<f64>,
    /// Maintenance deduction; derived by the bracket recursion when the source gives none.
    #[serde(default)]
    pub cum: Option<f64>,
}

/// An ordered schedule of tiers with every deduction filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct TierTable {
    tiers: Vec<Tier>,
    /// Sizes past the last cap are charged at the last tier (a venue's complete schedule),
    /// rather than refused (a schedule known only in part).
    open_past_last: bool,
}

/// How a table turns rates into a maintenance amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deduction {
    /// Slices charged at their own tier's rate (`cum` by the bracket recursion when absent).
    Incremental,
    /// The whole position charged at its tier's rate (`cum = 0`).
    WholePosition,
}

impl TierTable {
    /// Validates ordering and rates and fills missing deductions; `path` names the table in errors.
    pub fn new(mut tiers: Vec<Tier>, mode: Deduction, path: &str) -> Result<Self, MarginError> {
        let err = |field: String, reason: String| MarginError::Params {
            file: path.to_string(),
            field,
            reason,
        };
        if tiers.is_empty() {
            return Err(err("tiers".into(), "no tiers".into()));
        }
        tiers.sort_by(|a, b| a.floor.total_cmp(&b.floor));
        for (i, t) in tiers.iter().enumerate() {
            if !(t.mmr.is_finite() && (0.0..=1.0).contains(&t.mmr)) {
                return Err(err(
                    format!("tiers[{i}].mmr"),
                    format!("rate {} outside [0, 1]", t.mmr),
                ));
            }
            if !(t.floor.is_finite() && t.floor >= 0.0) {
                return Err(err(
                    format!("tiers[{i}].floor"),
                    format!("{} is not a size", t.floor),
                ));
            }
            if let Some(l) = t.max_leverage {
                if !(l.is_finite() && l > 0.0) {
                    return Err(err(
                        format!("tiers[{i}].max_leverage"),
                        format!("{l} is not > 0"),
                    ));
                }
            }
        }
        let mut prev_mmr = 0.0;
        let mut prev_cum = 0.0;
        for t in tiers.iter_mut() {
            let cum = match mode {
                Deduction::WholePosition => 0.0,
                Deduction::Incremental => t.cum.unwrap_or(prev_cum + t.floor * (t.mmr - prev_mmr)),
            };
            t.cum = Some(cum);
            prev_mmr = t.mmr;
            prev_cum = cum;
        }
        // Close each tier's open cap at the next floor.
        for i in 0..tiers.len().saturating_sub(1) {
            if tiers[i].cap.is_none() {
                tiers[i].cap = Some(tiers[i + 1].floor);
            }
        }
        Ok(TierTable {
            tiers,
            open_past_last: false,
        })
    }

    /// The same table marked complete: it is the venue's whole schedule, whose last tier is the
    /// last the venue has, so a size past its cap is charged at it (as the venue does) instead
    /// of being refused as lying beyond what the table knows.
    pub fn open_past_last(mut self) -> Self {
        self.open_past_last = true;
        self
    }

    /// The tiers in ascending order.
    pub fn tiers(&self) -> &[Tier] {
        &self.tiers
    }

    /// The tier a position of `size` (in the table's basis) falls in; beyond the last cap is an error.
    pub fn tier(&self, size: f64, what: &str) -> Result<&Tier, MarginError> {
        let s = size.abs();
        let last = self.tiers.len() - 1;
        for (i, t) in self.tiers.iter().enumerate() {
            let below_cap = match t.cap {
                Some(c) => s < c || (i == last && s <= c),
                None => true,
            };
            if s >= t.floor && below_cap {
                return Ok(t);
            }
        }
        if self.open_past_last && s >= self.tiers[last].floor {
            return Ok(&self.tiers[last]);
        }
        Err(MarginError::Unsupported {
            field: what.to_string(),
            reason: format!(
                "size {s} lies beyond the last tier known (cap {:?}); supply the venue's current tiers in market.venue_params",
                self.tiers[last].cap
            ),
        })
    }

    /// The tier of `size`, or the last tier when `size` lies beyond every cap: a liquidation
    /// price search may cross the last bracket the table carries, where the last rate goes on.
    pub fn tier_or_last(&self, size: f64) -> &Tier {
        let s = size.abs();
        self.tiers
            .iter()
            .rev()
            .find(|t| s >= t.floor)
            .unwrap_or(&self.tiers[0])
    }

    /// Maintenance for a position of `size` valued at `notional` (equal for notional-based tables).
    pub fn maintenance(&self, size: f64, notional: f64, what: &str) -> Result<f64, MarginError> {
        let t = self.tier(size, what)?;
        Ok((notional.abs() * t.mmr - t.cum.unwrap_or(0.0)).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tier(floor: f64, mmr: f64) -> Tier {
        Tier {
            floor,
            cap: None,
            mmr,
            max_leverage: None,
            cum: None,
        }
    }

    #[test]
    fn deductions_follow_the_bracket_recursion() {
        // Bybit's XYZUSDT illustration: 0–1,000 at 2 %, then +0.5 % per 1,000 USDT.
        // cum: 0; 1,000×0.5 % = 5; 5 + 2,000×0.5 % = 15; 15 + 3,000×0.5 % = 30.
        let t = TierTable::new(
            vec![
                tier(0.0, 0.02),
                tier(1000.0, 0.025),
                tier(2000.0, 0.03),
                tier(3000.0, 0.035),
                tier(4000.0, 0.04),
            ],
            Deduction::Incremental,
            "test",
        )
        .unwrap();
        let cums: Vec<f64> = t.tiers().iter().map(|x| x.cum.unwrap()).collect();
        for (c, want) in cums.iter().zip([0.0, 5.0, 15.0, 30.0, 50.0]) {
            assert!((c - want).abs() < 1e-9, "{cums:?}");
        }
        // 3,500 USDT: 3,500×3.5 % − 30 = 92.5 = 1,000×2 % + 1,000×2.5 % + 1,000×3 % + 500×3.5 %.
        assert!((t.maintenance(3500.0, 3500.0, "x").unwrap() - 92.5).abs() < 1e-9);
    }

    #[test]
    fn whole_position_tables_have_no_deduction_and_reject_sizes_past_the_last_cap() {
        let mut last = tier(1000.0, 0.01);
        last.cap = Some(9999.0);
        let t =
            TierTable::new(vec![tier(0.0, 0.005), last], Deduction::WholePosition, "t").unwrap();
        assert!((t.maintenance(2000.0, 50.0, "x").unwrap() - 0.5).abs() < 1e-12);
        assert!(t.tier(10_000.0, "positions[0]").is_err());
    }
}

/// What a table's tier bounds count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// Position value in the settle currency (Binance, Bybit, Hyperliquid).
    Notional,
    /// Number of contracts (OKX position tiers).
    Contracts,
}

/// Finds the tier table of a position (by index and position).
pub(crate) type TableLookup<'a> = dyn Fn(
        usize,
        &intermargin_model::Position,
    ) -> Result<(std::sync::Arc<TierTable>, Basis), MarginError>
    + 'a;

/// The generic tiered-perpetual engine shared by OKX, Bybit and Hyperliquid: one pool per settle
/// asset; per position maintenance `notional·mmr − cum` at its tier, initial `notional/leverage`
/// (position's leverage, else the tier's maximum), liquidation price with all else fixed
/// (cross: pool equity; isolated: the position's posted margin plus its P&L).
pub(crate) fn tiered_pools(
    venue: intermargin_model::Venue,
    account: &intermargin_model::Account,
    assets: &[intermargin_model::Asset],
    market: &intermargin_model::Market,
    lookup: &TableLookup<'_>,
) -> Result<Vec<crate::report::VenueMargin>, MarginError> {
    use super::common::{
        balances, inverse_liquidation_price, linear_liquidation_price, mark_price, pool,
        position_path, unrealised_pnl,
    };
    use intermargin_model::Settlement;
    use std::collections::BTreeMap;

    struct Row {
        id: String,
        /// The pool's label if the position is isolated (empty otherwise).
        isolated_pool: String,
        /// Index of the position in the account (its path in errors).
        index: usize,
        settlement: Settlement,
        isolated: Option<f64>,
        mark: f64,
        base: f64,
        mmr: f64,
        cum: f64,
        im: f64,
        mm: f64,
        upnl: f64,
    }
    let wallets = balances(account, assets, venue)?;
    let mut pools: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for w in wallets.keys() {
        pools.entry(w.clone()).or_default();
    }
    for (i, p) in account.positions.iter().enumerate() {
        let ins = &p.instrument;
        // Options are margined by the venue's option rules and join the pool afterwards.
        if ins.venue != venue || ins.is_option() {
            continue;
        }
        let id = ins.id();
        let mark = mark_price(market, &id)?;
        let base = ins.base_quantity(p.size, mark);
        let notional = match ins.settlement {
            Settlement::Linear => (base * mark).abs(),
            // Inverse: value in coin of the USD face.
            Settlement::Inverse => base.abs(),
        };
        let (table, basis) = lookup(i, p)?;
        let size = match basis {
            Basis::Notional => notional,
            Basis::Contracts => p.size.abs(),
        };
        let tier = table.tier(size, &id)?;
        let cum = tier.cum.unwrap_or(0.0);
        let mm = (notional * tier.mmr - cum).max(0.0);
        let leverage = p.leverage.or(tier.max_leverage).ok_or_else(|| MarginError::Unsupported {
            field: format!("{}.leverage", position_path(account, i)),
            reason: format!("{id}: initial margin needs the position's leverage (the tier publishes no maximum)"),
        })?;
        pools.entry(ins.settle.clone()).or_default().push(Row {
            isolated_pool: if p.isolated {
                ins.isolated_pool(base > 0.0)
            } else {
                String::new()
            },
            id,
            index: i,
            settlement: ins.settlement,
            isolated: if p.isolated {
                Some(p.isolated_margin.unwrap_or(f64::NAN))
            } else {
                None
            },
            mark,
            base,
            mmr: tier.mmr,
            cum,
            im: notional / leverage,
            mm,
            upnl: unrealised_pnl(p, mark),
        });
    }
    let mut out = Vec::new();
    for (settle, rows) in pools {
        let wallet = wallets.get(&settle).copied().unwrap_or(0.0);
        let equity = wallet + rows.iter().map(|r| r.upnl).sum::<f64>();
        let cross_mm: f64 = rows
            .iter()
            .filter(|r| r.isolated.is_none())
            .map(|r| r.mm)
            .sum();
        let posted: f64 = rows
            .iter()
            .filter_map(|r| r.isolated)
            .filter(|m| m.is_finite())
            .sum();
        let iso_upnl: f64 = rows
            .iter()
            .filter(|r| r.isolated.is_some())
            .map(|r| r.upnl)
            .sum();
        // The wallet holds the margin posted to isolated positions; the cross pool is the rest.
        let cross_equity = equity - posted - iso_upnl;
        let liq = |r: &Row, eq: f64, other_mm: f64| -> Option<f64> {
            if !eq.is_finite() {
                return None;
            }
            match r.settlement {
                Settlement::Linear => {
                    linear_liquidation_price(r.mark, r.base, r.mmr, eq - other_mm - r.mm)
                }
                Settlement::Inverse => {
                    inverse_liquidation_price(r.mark, r.base * r.mark, r.mmr, eq, other_mm - r.cum)
                }
            }
        };
        let margin_of = |r: &Row, lp: Option<f64>| crate::report::PositionMargin {
            instrument: r.id.clone(),
            initial_margin: r.im,
            maintenance_margin: r.mm,
            liquidation_price: lp,
        };
        let cross: Vec<&Row> = rows.iter().filter(|r| r.isolated.is_none()).collect();
        let positions = cross
            .iter()
            .map(|r| margin_of(r, liq(r, cross_equity, cross_mm - r.mm)))
            .collect();
        let im = cross.iter().map(|r| r.im).sum();
        let mm = cross.iter().map(|r| r.mm).sum();
        out.push(pool(
            venue,
            &settle,
            "cross",
            (cross_equity, im, mm),
            positions,
            market,
        )?);
        // Each isolated position is a pool of its own: posted margin plus its P&L against its
        // own maintenance (the venue liquidates it alone).
        for r in rows.iter().filter(|r| r.isolated.is_some()) {
            let m = r.isolated.unwrap_or(f64::NAN);
            let eq = m + r.upnl;
            if !eq.is_finite() {
                return Err(MarginError::Unsupported {
                    field: format!("{}.isolated_margin", position_path(account, r.index)),
                    reason: format!(
                        "{}: an isolated position needs the margin posted to it",
                        r.id
                    ),
                });
            }
            out.push(pool(
                venue,
                &settle,
                &r.isolated_pool,
                (eq, r.im, r.mm),
                vec![margin_of(r, liq(r, eq, 0.0))],
                market,
            )?);
        }
    }
    Ok(out)
}

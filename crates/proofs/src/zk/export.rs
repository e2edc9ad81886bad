//! From a canonical book to a proof's inputs: the public rule (a venue scenario matrix in fixed
//! point) and the private book (positions in lots, collateral in base units).
//!
//! Lives here, once, so that the CLI's `rule export` and the service's proof endpoint build the
//! same rule from the same snapshot.

use intermargin_margin::portfolio::GridParams;
use intermargin_model::{Instrument, Market, Position};

use crate::error::{ProofError, Result};
use crate::zk::rule::{
    loss_to_fixed, random_salt, MarginRule, PrivateBook, PrivatePosition, RULE_VERSION,
};

/// Fixed-point layout of an exported rule; the defaults suit a USD-like collateral asset.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportOptions {
    /// Collateral asset (usually the market's quote currency).
    pub collateral_asset: String,
    /// Decimals of the collateral asset's base unit.
    pub collateral_decimals: u32,
    /// Quantities are lots of `10^-quantity_decimals` contracts.
    pub quantity_decimals: u32,
    /// Extra decimal digits carried by each loss.
    pub loss_scale: u32,
    /// Declared quantity range: `|q| < 2^(bits-1)`.
    pub quantity_bits: u32,
    /// Declared collateral range: `C < 2^bits`.
    pub collateral_bits: u32,
    /// Minimum collateral left after the worst scenario, collateral base units.
    pub threshold: i128,
}

impl ExportOptions {
    /// The CLI's defaults for a collateral asset: 6 collateral decimals, 4 quantity decimals,
    /// 6 loss digits, 48-bit quantities, 96-bit collateral, threshold 0.
    pub fn for_asset(collateral_asset: impl Into<String>) -> Self {
        ExportOptions {
            collateral_asset: collateral_asset.into(),
            collateral_decimals: 6,
            quantity_decimals: 4,
            loss_scale: 6,
            quantity_bits: 48,
            collateral_bits: 96,
            threshold: 0,
        }
    }
}

/// Exports the scenario matrix of `instruments` under `params` at `market` as a validated rule.
pub fn export_rule(
    market: &Market,
    instruments: &[Instrument],
    params: &GridParams,
    opts: &ExportOptions,
    description: String,
) -> Result<MarginRule> {
    if instruments.is_empty() {
        return Err(ProofError::field(
            "positions",
            "no instruments to export a rule for",
        ));
    }
    let sm = intermargin_margin::scenario_matrix(market, instruments, params)
        .map_err(|e| ProofError::field("market", e.to_string()))?;
    // Loss per contract in currency → per lot in base units: × 10^(collateral − quantity decimals).
    let unit_shift = opts.collateral_decimals as i32 - opts.quantity_decimals as i32;
    let mut losses = Vec::with_capacity(sm.instruments.len());
    for (i, row) in sm.loss.iter().enumerate() {
        let mut out = Vec::with_capacity(row.len());
        for (s, &l) in row.iter().enumerate() {
            out.push(loss_to_fixed(
                l * 10f64.powi(unit_shift),
                opts.loss_scale,
                &format!(
                    "losses[{i}][{s}] ({} in {})",
                    sm.instruments[i], sm.scenarios[s]
                ),
            )?);
        }
        losses.push(out);
    }
    let rule = MarginRule {
        version: RULE_VERSION,
        description: format!(
            "{description} ({} model) at {} ms; loss per lot rounded up",
            params.name, market.timestamp_ms
        ),
        collateral_asset: opts.collateral_asset.clone(),
        quantity_decimals: opts.quantity_decimals,
        loss_scale: opts.loss_scale,
        quantity_bits: opts.quantity_bits,
        collateral_bits: opts.collateral_bits,
        threshold: opts.threshold,
        instruments: sm.instruments,
        scenarios: sm.scenarios,
        losses,
    };
    rule.validate()?;
    Ok(rule)
}

/// The distinct instruments of `positions`, in first-seen order (the rule's row order).
pub fn instruments_of<'a>(positions: impl IntoIterator<Item = &'a Position>) -> Vec<Instrument> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for p in positions {
        if seen.insert(p.instrument.id()) {
            out.push(p.instrument.clone());
        }
    }
    out
}

/// The private witness for `rule`: positions netted per instrument and rounded to lots toward
/// zero, collateral in base units, and a fresh salt.
///
/// Rounding toward zero proves a slightly smaller book than held; the error per instrument is
/// below one lot (`10^-quantity_decimals` contracts), which the rule's layout makes negligible.
pub fn private_book(
    rule: &MarginRule,
    positions: &[Position],
    collateral: u128,
) -> Result<PrivateBook> {
    let scale = 10f64.powi(rule.quantity_decimals as i32);
    let mut net: Vec<f64> = vec![0.0; rule.n()];
    for (k, p) in positions.iter().enumerate() {
        let id = p.instrument.id();
        let i = rule
            .instruments
            .iter()
            .position(|r| *r == id)
            .ok_or_else(|| {
                ProofError::field(
                    format!("positions[{k}].instrument"),
                    format!("`{id}` is not an instrument of the rule"),
                )
            })?;
        net[i] += p.size;
    }
    let mut out = Vec::new();
    for (i, size) in net.into_iter().enumerate() {
        let lots = (size * scale).trunc();
        if !lots.is_finite() || lots.abs() >= 2f64.powi(rule.quantity_bits as i32 - 1) {
            return Err(ProofError::field(
                format!("positions[{}]", rule.instruments[i]),
                format!(
                    "size {size} does not fit {} bits of lots",
                    rule.quantity_bits
                ),
            ));
        }
        if lots != 0.0 {
            out.push(PrivatePosition {
                instrument: rule.instruments[i].clone(),
                quantity: lots as i128,
            });
        }
    }
    Ok(PrivateBook {
        collateral,
        salt: random_salt(),
        positions: out,
    })
}

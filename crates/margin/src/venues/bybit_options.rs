//! Bybit options in the unified trading account's regular (cross) margin: each short option
//! margined on its own by the formulas of `params/bybit_options.toml`, joined to the cross pool
//! of its settlement coin beside the risk-limit futures.
//!
//! * Position MM = `[max(f·I, f·mark) + mark + fee·I]·|size|` (`f` MM factor, `I` index, `fee`
//!   the liquidation fee rate).
//! * Position IM = `max{[max(k·I − OTM, k₀·I) + max(entry, mark)]·|size|, MM}`.
//! * Long options: none. Options do not count in regular margin's margin balance.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use intermargin_model::{Account, Market, OptionKind, Venue};
use serde::Deserialize;

use super::common::{index_price, mark_price};
use super::params::{load, Provenance};
use super::std_options::{cross_options, otm_amount, OptionLeg};
use crate::error::MarginError;

const FILE: &str = "params/bybit_options.toml";

/// One underlying coin's option constants.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BybitOptionCoin {
    /// Where the numbers come from.
    #[serde(flatten)]
    pub provenance: Provenance,
    /// Maintenance factor on the index (and on the mark).
    pub mm_factor: f64,
    /// Liquidation fee rate on the index, part of maintenance.
    pub liquidation_fee_rate: f64,
    /// Initial factor on the index before the out-of-the-money relief.
    pub im_factor: f64,
    /// Floor of the initial factor.
    pub im_floor_factor: f64,
}

/// The Bybit option parameter file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BybitOptionParams {
    /// Constants per underlying coin (`BTC`).
    pub coins: BTreeMap<String, BybitOptionCoin>,
}

impl BybitOptionParams {
    /// The dated parameters embedded in the binary.
    pub fn embedded() -> Result<Self, MarginError> {
        Self::from_toml(include_str!("../../params/bybit_options.toml"))
    }

    /// Parameters from the text of a file in this format, checked.
    pub fn from_toml(text: &str) -> Result<Self, MarginError> {
        let p: Self = load(FILE, text)?;
        for (k, c) in &p.coins {
            let bad = |field: &str, reason: &str| MarginError::Params {
                file: FILE.into(),
                field: format!("coins.{k}.{field}"),
                reason: reason.into(),
            };
            for (name, v) in [
                ("mm_factor", c.mm_factor),
                ("liquidation_fee_rate", c.liquidation_fee_rate),
                ("im_factor", c.im_factor),
                ("im_floor_factor", c.im_floor_factor),
            ] {
                if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                    return Err(bad(name, "must be a rate in [0, 1]"));
                }
            }
            if c.im_floor_factor > c.im_factor {
                return Err(bad("im_floor_factor", "must not exceed im_factor"));
            }
        }
        Ok(p)
    }
}

fn embedded() -> Result<&'static BybitOptionParams, MarginError> {
    static P: OnceLock<Result<BybitOptionParams, MarginError>> = OnceLock::new();
    P.get_or_init(BybitOptionParams::embedded)
        .as_ref()
        .map_err(Clone::clone)
}

/// `(IM, MM)` of a short option position of `qty` coins (sign ignored), in the settle coin.
///
/// `entry` is the position's average entry price (the mark stands in when unknown).
pub fn short_option_margin(
    c: &BybitOptionCoin,
    kind: OptionKind,
    strike: f64,
    index: f64,
    mark: f64,
    entry: f64,
    qty: f64,
) -> (f64, f64) {
    let q = qty.abs();
    let mm =
        ((c.mm_factor * index).max(c.mm_factor * mark) + mark + c.liquidation_fee_rate * index) * q;
    let rate =
        (c.im_factor * index - otm_amount(kind, strike, index)).max(c.im_floor_factor * index);
    let im = ((rate + entry.max(mark)) * q).max(mm);
    (im, mm)
}

/// Every Bybit option position of the account as a leg of its settlement coin's cross pool.
pub(crate) fn legs(
    account: &Account,
    market: &Market,
    params: Option<&BybitOptionParams>,
) -> Result<Vec<OptionLeg>, MarginError> {
    let mut out = Vec::new();
    for (p, strike, option_kind) in cross_options(account, Venue::Bybit, "Bybit")? {
        let ins = &p.instrument;
        let id = ins.id();
        let (im, mm) = if p.size < 0.0 {
            let params = match params {
                Some(p) => p,
                None => embedded()?,
            };
            let c = params
                .coins
                .get(&ins.underlying)
                .ok_or_else(|| MarginError::Params {
                    file: FILE.into(),
                    field: format!("coins.{}", ins.underlying),
                    reason: format!(
                        "no option constants for {id} (the file has {})",
                        params.coins.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                })?;
            let mark = mark_price(market, &id)?;
            let index = index_price(market, Venue::Bybit, &ins.underlying)?;
            let qty = ins.base_quantity(p.size, index);
            let entry = p.entry_price.unwrap_or(mark);
            short_option_margin(c, option_kind, strike, index, mark, entry, qty)
        } else {
            (0.0, 0.0)
        };
        out.push(OptionLeg {
            settle: ins.settle.clone(),
            instrument: id,
            im,
            mm,
            equity: 0.0,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn btc() -> BybitOptionCoin {
        BybitOptionParams::embedded().unwrap().coins["BTC"].clone()
    }

    #[test]
    fn documented_maintenance_example() {
        // Bybit's example 1: short 1 BTC-31JUN22-31000-C, index 30,000, mark 300:
        // [max(3% × 30,000, 3% × 300) + 300 + 0.2% × 30,000] × 1 = 1,260 USDC.
        let (_, mm) = short_option_margin(
            &btc(),
            OptionKind::Call,
            31_000.0,
            30_000.0,
            300.0,
            300.0,
            -1.0,
        );
        assert!((mm - 1260.0).abs() < 1e-9, "{mm}");
    }

    #[test]
    fn initial_by_hand() {
        // Same position, entry 320: OTM 1,000; max(0.15×30,000 − 1,000, 0.10×30,000) = 3,500;
        // + max(320, 300) = 3,820 per coin; × 0.5 coin = 1,910 (MM 630 is lower).
        let (im, mm) = short_option_margin(
            &btc(),
            OptionKind::Call,
            31_000.0,
            30_000.0,
            300.0,
            320.0,
            -0.5,
        );
        assert!(
            (im - 1910.0).abs() < 1e-9 && (mm - 630.0).abs() < 1e-9,
            "{im} {mm}"
        );
        // Deep OTM put, strike 10,000: relief 20,000 → floor 3,000 + mark 5 = 3,005 per coin.
        let (im, _) =
            short_option_margin(&btc(), OptionKind::Put, 10_000.0, 30_000.0, 5.0, 5.0, -1.0);
        assert!((im - 3005.0).abs() < 1e-9, "{im}");
    }

    #[test]
    fn bad_constants_are_refused_with_their_path() {
        let text = include_str!("../../params/bybit_options.toml").replacen(
            "im_floor_factor = 0.10",
            "im_floor_factor = 0.5",
            1,
        );
        let e = BybitOptionParams::from_toml(&text).unwrap_err().to_string();
        assert!(e.contains("coins.BTC.im_floor_factor"), "{e}");
    }
}

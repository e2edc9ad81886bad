//! OKX options in the unified account's non-portfolio modes: each option position margined on
//! its own by the formulas of `params/okx_options.toml` (OKX help "Option Margin"), joined to
//! the cross pool of its settlement currency beside the tiered futures.
//!
//! * Buyers: no requirement; the position counts in equity at its market value (size × mark).
//! * Sellers: `IMR = max(a, b − OTM/F)·MF + mark`, `MMR = c·MF + mark` (call) or
//!   `max(c, c·mark)·MF + mark` (put), per coin in coin for coin-margined options; the
//!   USDⓈ-margined forms scale the rate terms by the index. `F` is the mark of the same-expiry
//!   future when the market has it (`market.mark_prices["okx:BTC-USD-241227"]`), else the index.
//! * `MF` is the margin factor of the seller's position tier: OKX tiers option sellers by "the
//!   total amount of seller's positions and open orders" of the family (help page, note ⁴). With
//!   the family's option rows of `GET /api/v5/public/position-tiers` imported
//!   (`market.venue_params["okx:option:BTC-USD"]`, `optMgnFactor` per tier) the factor is the
//!   tier's holding the family's short contracts plus its open sell orders' unfilled contracts;
//!   without them, the file's `margin_factor`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use intermargin_model::{Account, InstrumentKind, Market, OptionKind, Settlement, Side, Venue};
use serde::Deserialize;

use super::common::{index_price, mark_price};
use super::params::{array_of, bad_param, load, num_any, published, Provenance};
use super::std_options::{cross_options, otm_amount, OptionLeg};
use crate::error::MarginError;

const FILE: &str = "params/okx_options.toml";

/// One instrument family's option constants.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OkxOptionFamily {
    /// Where the numbers come from.
    #[serde(flatten)]
    pub provenance: Provenance,
    /// Floor of the seller's IMR rate (`a`).
    pub a: f64,
    /// Seller's IMR rate before the out-of-the-money relief (`b`).
    pub b: f64,
    /// Seller's MMR rate (`c`).
    pub c: f64,
    /// Margin factor of the seller's position tier (`MF`).
    pub margin_factor: f64,
}

/// The OKX option parameter file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OkxOptionParams {
    /// Constants per instrument family (`BTC-USD`).
    pub families: BTreeMap<String, OkxOptionFamily>,
}

impl OkxOptionParams {
    /// The dated parameters embedded in the binary.
    pub fn embedded() -> Result<Self, MarginError> {
        Self::from_toml(include_str!("../../params/okx_options.toml"))
    }

    /// Parameters from the text of a file in this format, checked.
    pub fn from_toml(text: &str) -> Result<Self, MarginError> {
        let p: Self = load(FILE, text)?;
        for (k, f) in &p.families {
            let bad = |field: &str, reason: &str| MarginError::Params {
                file: FILE.into(),
                field: format!("families.{k:?}.{field}"),
                reason: reason.into(),
            };
            for (name, v) in [("a", f.a), ("b", f.b), ("c", f.c)] {
                if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                    return Err(bad(name, "must be a rate in [0, 1]"));
                }
            }
            if f.a > f.b {
                return Err(bad("a", "the floor a must not exceed b"));
            }
            if !(f.margin_factor.is_finite() && f.margin_factor >= 1.0) {
                return Err(bad("margin_factor", "must be ≥ 1"));
            }
        }
        Ok(p)
    }
}

fn embedded() -> Result<&'static OkxOptionParams, MarginError> {
    static P: OnceLock<Result<OkxOptionParams, MarginError>> = OnceLock::new();
    P.get_or_init(OkxOptionParams::embedded)
        .as_ref()
        .map_err(Clone::clone)
}

/// `(IMR, MMR)` of one short option per coin of underlying, in the settlement currency.
///
/// `forward` is the same-expiry future's mark (OTM is measured against it), `index` the
/// underlying index (used by USDⓈ-margined options only), `mark` the option's mark in the
/// settlement currency per coin.
pub fn short_option_per_coin(
    f: &OkxOptionFamily,
    settlement: Settlement,
    kind: OptionKind,
    strike: f64,
    forward: f64,
    index: f64,
    mark: f64,
) -> (f64, f64) {
    let rate = f.a.max(f.b - otm_amount(kind, strike, forward) / forward) * f.margin_factor;
    match settlement {
        Settlement::Inverse => {
            let mm = match kind {
                OptionKind::Call => f.c * f.margin_factor + mark,
                OptionKind::Put => f.c.max(f.c * mark) * f.margin_factor + mark,
            };
            (rate + mark, mm)
        }
        Settlement::Linear => {
            let mm = match kind {
                OptionKind::Call => f.c * f.margin_factor * index + mark,
                OptionKind::Put => (f.c * index).max(f.c * mark) * f.margin_factor + mark,
            };
            (rate * index + mark, mm)
        }
    }
}

/// Instrument family of an OKX option id (`BTC-USD-241227-100000-C` → `BTC-USD`).
pub fn family(symbol: &str) -> String {
    symbol.split('-').take(2).collect::<Vec<_>>().join("-")
}

/// Key of a family's imported option position tiers (`okx:option:BTC-USD`).
pub fn option_tiers_key(family: &str) -> String {
    format!("okx:option:{family}")
}

/// Contracts that set an option seller's tier in `family`: the account's short OKX option
/// positions of the family plus the unfilled contracts of its open sell orders on them
/// (reduce-only orders close and never open a short; untriggered conditional orders are not
/// open orders yet).
pub fn seller_contracts(account: &Account, family_name: &str) -> f64 {
    let of_family = |ins: &intermargin_model::Instrument| {
        ins.venue == Venue::Okx
            && matches!(ins.kind, InstrumentKind::Option { .. })
            && family(&ins.symbol) == family_name
    };
    let positions: f64 = account
        .positions
        .iter()
        .filter(|p| of_family(&p.instrument) && p.size < 0.0)
        .map(|p| -p.size)
        .sum();
    let orders: f64 = account
        .orders
        .iter()
        .filter(|o| {
            of_family(&o.instrument)
                && o.side == Side::Sell
                && !o.reduce_only
                && !o.order_type.is_conditional()
        })
        .map(|o| o.remaining.abs())
        .sum();
    positions + orders
}

/// The margin factor of `contracts` in the family's imported option tiers
/// (`market.venue_params["okx:option:FAMILY"]`), or `None` when none were imported. Bounds are
/// inclusive as OKX publishes them (`minSz`–`maxSz`; each tier starts where the previous one
/// ends); past the last tier its factor goes on (the published schedule is the whole one).
pub fn published_margin_factor(
    market: &Market,
    family_name: &str,
    contracts: f64,
) -> Result<Option<f64>, MarginError> {
    let key = option_tiers_key(family_name);
    let Some(v) = published(market, &key) else {
        return Ok(None);
    };
    let (rows, path) = array_of(v, &["data", "tiers"], &format!("[{key:?}]"))?;
    let mut tiers = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let floor = num_any(r, &["minSz", "floor"], &p)?.unwrap_or(0.0);
        let factor = num_any(r, &["optMgnFactor", "margin_factor"], &p)?
            .ok_or_else(|| bad_param(&format!("{p}.optMgnFactor"), "missing"))?;
        if !(factor.is_finite() && factor > 0.0) {
            return Err(bad_param(
                &format!("{p}.optMgnFactor"),
                format!("{factor} is not a positive margin factor"),
            ));
        }
        if let Some(&(prev, _)) = tiers.last() {
            if floor <= prev {
                return Err(bad_param(
                    &format!("{p}.minSz"),
                    format!("tier floors must increase: {floor} follows {prev}"),
                ));
            }
        }
        tiers.push((floor, factor));
    }
    if tiers.is_empty() {
        return Err(bad_param(&path, "no tiers"));
    }
    // The last tier whose floor the contracts reach (the first tier below its floor).
    let at = tiers
        .iter()
        .rposition(|&(floor, _)| contracts >= floor)
        .unwrap_or(0);
    Ok(Some(tiers[at].1))
}

/// Every OKX option position of the account as a leg of its settlement currency's cross pool.
pub(crate) fn legs(
    account: &Account,
    market: &Market,
    params: Option<&OkxOptionParams>,
) -> Result<Vec<OptionLeg>, MarginError> {
    let mut out = Vec::new();
    for (p, strike, option_kind) in cross_options(account, Venue::Okx, "OKX")? {
        let ins = &p.instrument;
        let id = ins.id();
        let params = match params {
            Some(p) => p,
            None => embedded()?,
        };
        let fam = family(&ins.symbol);
        let f = params
            .families
            .get(&fam)
            .ok_or_else(|| MarginError::Params {
                file: FILE.into(),
                field: format!("families.{fam:?}"),
                reason: format!(
                    "no option constants for {id} (the file has {})",
                    params
                        .families
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
        let factor = match published_margin_factor(market, &fam, seller_contracts(account, &fam))? {
            Some(mf) => mf,
            None => f.margin_factor,
        };
        let f = &OkxOptionFamily {
            margin_factor: factor,
            ..f.clone()
        };
        let mark = mark_price(market, &id)?;
        let index = index_price(market, Venue::Okx, &ins.underlying)?;
        let expiry = ins.symbol.split('-').take(3).collect::<Vec<_>>().join("-");
        let forward = market
            .mark_prices
            .get(&format!("okx:{expiry}"))
            .copied()
            .unwrap_or(index);
        let coins = ins.base_quantity(p.size, index);
        let value = coins * mark;
        let (im, mm) = if p.size < 0.0 {
            let (im, mm) =
                short_option_per_coin(f, ins.settlement, option_kind, strike, forward, index, mark);
            (im * coins.abs(), mm * coins.abs())
        } else {
            (0.0, 0.0)
        };
        out.push(OptionLeg {
            settle: ins.settle.clone(),
            instrument: id,
            im,
            mm,
            equity: value,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_constants_follow_the_help_page() {
        let p = OkxOptionParams::embedded().unwrap();
        let btc = &p.families["BTC-USD"];
        assert_eq!((btc.a, btc.b, btc.c), (0.1, 0.15, 0.03));
        assert_eq!(p.families["ETH-USD"].c, 0.05);
        assert!(btc.provenance.source.starts_with("https://www.okx.com/"));
    }

    #[test]
    fn documented_seller_position_margin_example() {
        // OKX's worked example (reproduced at https://365shuku.com/13503.html): 1 BTCUSD call
        // of 0.1 BTC, 100 USD out of the money at a 5,900 underlying, mark 0.0575 BTC, tier 2
        // margin factor 1.02: [max(0.1, 0.15 − 100/5900) × 1.02 + 0.0575] × 0.1 = 0.01932 BTC.
        let f = OkxOptionFamily {
            provenance: Provenance {
                source: "example".into(),
                as_of: "2020-05-01".into(),
            },
            a: 0.1,
            b: 0.15,
            c: 0.03,
            margin_factor: 1.02,
        };
        let (im, _) = short_option_per_coin(
            &f,
            Settlement::Inverse,
            OptionKind::Call,
            6000.0,
            5900.0,
            5900.0,
            0.0575,
        );
        let by_hand = ((0.15 - 100.0 / 5900.0) * 1.02 + 0.0575) * 0.1;
        assert!((im * 0.1 - by_hand).abs() < 1e-15);
        assert_eq!(format!("{:.5}", im * 0.1), "0.01932");
        // Sell-to-open order margin of the same example: max(0.01932 − 0.06×0.1 + 0.00002,
        // 0.1×0.1) × 100 = 1.334 BTC (the position figure feeds it).
        let order = ((im * 0.1) - 0.06 * 0.1 + 0.00002).max(0.1 * 0.1) * 100.0;
        assert_eq!(format!("{order:.3}"), "1.334");
    }

    #[test]
    fn bad_constants_are_refused_with_their_path() {
        let text = include_str!("../../params/okx_options.toml").replacen("c = 0.03", "c = 3", 1);
        let e = OkxOptionParams::from_toml(&text).unwrap_err().to_string();
        assert!(e.contains("families.\"BTC-USD\".c"), "{e}");
        let text = include_str!("../../params/okx_options.toml").replacen(
            "margin_factor = 1.0",
            "margin_factor = 0.5",
            1,
        );
        let e = OkxOptionParams::from_toml(&text).unwrap_err().to_string();
        assert!(e.contains("margin_factor"), "{e}");
    }
}

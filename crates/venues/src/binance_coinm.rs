//! Binance COIN-M futures (inverse, margined in the coin): `GET /dapi/v1/positionRisk`, the
//! positions of `GET /dapi/v1/account` (its `assets[]` balances go through the USDⓈ-M reader,
//! whose shape they share), `GET /dapi/v1/leverageBracket` (per pair) and `/dapi/v2/leverageBracket`
//! or `/papi/v1/cm/leverageBracket` (per symbol), and the portfolio-margin `GET /papi/v1/cm/positionRisk`.
//!
//! Symbols are `BTCUSD_PERP` / `BTCUSD_250328`; `positionAmt` counts contracts of a fixed USD
//! value (BTC 100 USD, others 10 USD) from the contract specification, the dated table
//! `data/binance_coinm_contracts.json`. The payload's `notionalValue` is not used for it: the
//! docs' own example (`GET /papi/v1/cm/positionRisk`: 1 BTCUSD_201225 at entry 11,707.70000003,
//! mark 11,788.66626667) reports `unRealizedProfit` 0.00005866 = 100 USD × (1/entry − 1/mark)
//! but `notionalValue` 0.00084827 = 10 USD / mark. Brackets bound the position's notional **in the coin**
//! (`qtyFloor`/`qtyCap`; the v1 docs spell the floor `qtylFloor`) and `cum` is in the coin.

use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::builder::Builder;
use crate::error::VenueError;
use crate::json::Node;
use crate::symbols;

#[derive(Deserialize)]
struct Contracts {
    default_usd: f64,
    by_underlying: std::collections::BTreeMap<String, f64>,
}

fn contracts() -> Option<&'static Contracts> {
    static T: OnceLock<Option<Contracts>> = OnceLock::new();
    T.get_or_init(|| {
        serde_json::from_str(include_str!("../data/binance_coinm_contracts.json")).ok()
    })
    .as_ref()
}

/// USD value of one contract of `underlying` from the dated table (BTC 100, others 10).
pub fn contract_usd(underlying: &str) -> Option<f64> {
    let t = contracts()?;
    Some(
        t.by_underlying
            .get(underlying)
            .copied()
            .unwrap_or(t.default_usd),
    )
}

/// True for a COIN-M symbol (`BTCUSD_PERP`, `ETHUSD_250328`).
pub(crate) fn is_coinm(symbol: &str) -> bool {
    symbols::binance_coinm(symbol, 1.0).is_some()
}

/// True for a bracket row of a COIN-M table (bounds by quantity in the coin).
pub(crate) fn is_coinm_brackets(n: &Node) -> bool {
    n.has("pair")
        || n.opt("brackets")
            .ok()
            .flatten()
            .and_then(|b| b.v.as_array().and_then(|a| a.first().cloned()))
            .is_some_and(|r| r.get("qtyCap").is_some())
}

/// One COIN-M position row (`positionRisk` or an `account.positions[]` entry): the instrument
/// from the contract table; the rest as a USDⓈ-M row ([`crate::binance::position_row`]).
pub(crate) fn position(n: &Node, b: &mut Builder) -> Result<(), VenueError> {
    let sym_node = n.get("symbol")?;
    let symbol = sym_node.nonempty_str()?;
    let Some(amt) = crate::binance::open_amount(n, b)? else {
        return Ok(());
    };
    let probe = symbols::binance_coinm(symbol, 1.0)
        .ok_or_else(|| sym_node.err(format!("cannot parse Binance COIN-M symbol {symbol:?}")))?;
    let mark = n.opt_num("markPrice")?.filter(|m| *m > 0.0);
    let cs = contract_usd(&probe.underlying).ok_or_else(|| {
        sym_node.err("no contract size: the table data/binance_coinm_contracts.json did not load")
    })?;
    let ins = symbols::binance_coinm(symbol, cs)
        .ok_or_else(|| sym_node.err(format!("cannot parse Binance COIN-M symbol {symbol:?}")))?;
    // COIN-M payloads carry the leverage (positionRisk and account positions alike); 0 or a
    // negative value is refused, never replaced.
    crate::binance::position_row(n, b, symbol, amt, ins, mark, |_| n.opt_positive("leverage"))
}

/// A COIN-M bracket table, stored as `venue_params["binance:PAIR"]` (v1, per pair) or
/// `["binance:SYMBOL"]` (v2 and papi cm, per symbol) with bounds in the coin.
pub(crate) fn brackets(n: &Node, b: &mut Builder) -> Result<(), VenueError> {
    let name = match n.opt("symbol")? {
        Some(s) => s.nonempty_str()?,
        None => n.get("pair")?.nonempty_str()?,
    };
    let mut rows = Vec::new();
    for br in n.get("brackets")?.array()? {
        let floor = match br.opt_num("qtyFloor")? {
            Some(f) => f,
            None => br.opt_num("qtylFloor")?.unwrap_or(0.0),
        };
        let cap = br.num("qtyCap")?;
        let mmr = br.num("maintMarginRatio")?;
        if !(0.0..=1.0).contains(&mmr) {
            return Err(br
                .get("maintMarginRatio")?
                .err(format!("{mmr} is not a rate in [0, 1]")));
        }
        if floor < 0.0 || cap <= floor {
            return Err(br
                .get("qtyCap")?
                .err(format!("cap {cap} is not above the floor {floor}")));
        }
        let mut row = json!({
            "bracket": br.get("bracket")?.i64()?,
            "qty_floor": floor,
            "qty_cap": cap,
            "maint_margin_ratio": mmr,
        });
        if let Some(l) = br.opt_positive("initialLeverage")? {
            row["initial_leverage"] = json!(l);
        }
        if let Some(c) = br.opt_num("cum")? {
            row["cum"] = json!(c);
        }
        rows.push(row);
    }
    rows.sort_by(|a, c| {
        let fa = a["qty_floor"].as_f64().unwrap_or(0.0);
        let fc = c["qty_floor"].as_f64().unwrap_or(0.0);
        fa.total_cmp(&fc)
    });
    let mut m = Map::new();
    let file = n.src.file.as_deref().unwrap_or("");
    let source = if file.contains("papi") {
        "GET /papi/v1/cm/leverageBracket"
    } else if n.has("symbol") {
        "GET /dapi/v2/leverageBracket"
    } else {
        "GET /dapi/v1/leverageBracket"
    };
    m.insert("source".into(), json!(source));
    m.insert("unit".into(), json!("coin"));
    if let Some(c) = n.opt_num("notionalCoef")? {
        m.insert("notional_coef".into(), json!(c));
    }
    m.insert("brackets".into(), Value::Array(rows));
    b.params(format!("binance:{name}"), m)
}

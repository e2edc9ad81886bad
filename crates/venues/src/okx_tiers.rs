//! OKX `GET /api/v5/public/position-tiers` (<https://www.okx.com/docs-v5/en/#public-data-rest-api-get-position-tiers>):
//! the venue's whole tier schedule of a swap or futures family, stored as
//! `market.venue_params["okx:FAMILY"]` (or `["okx:INST_ID"]` when the row names an instrument)
//! for the OKX rules, which prefer it to `params/okx.toml`.
//!
//! Rows (`uly`, `instFamily`, `instId`, `tier`, `minSz`, `maxSz`, `mmr`, `imr`, `maxLever`, …)
//! are grouped by their key, sorted by `minSz`, and checked: rates in [0, 1], `mmr ≤ imr`,
//! `maxLever > 0`, `minSz < maxSz`, and tier floors strictly increasing. Spot-margin rows
//! (`instId` `BTC-USDT` with `baseMaxLoan`: borrowing tiers, not position tiers) are refused.
//! Option rows (`optMgnFactor` non-zero) become `venue_params["okx:option:FAMILY"]`: each tier's
//! `floor`, `cap` and `margin_factor`, read by the OKX option rule.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::builder::Builder;
use crate::error::VenueError;
use crate::json::Node;

/// True for a row of `GET /api/v5/public/position-tiers`.
pub(crate) fn is_tier_row(n: &Node) -> bool {
    n.is_object() && n.has("tier") && n.has("minSz") && n.has("maxSz") && n.has("mmr")
}

/// Groups the tier rows among `rows` into one published table per family or instrument.
pub(crate) fn import(rows: &[Node], b: &mut Builder) -> Result<(), VenueError> {
    let mut tables: BTreeMap<String, Vec<(f64, Value, &Node)>> = BTreeMap::new();
    for n in rows.iter().filter(|n| is_tier_row(n)) {
        let text = |k: &str| -> Result<Option<&str>, VenueError> {
            match n.opt(k)? {
                Some(v) => Ok(Some(v.str()?).filter(|s| !s.trim().is_empty())),
                None => Ok(None),
            }
        };
        let inst_id = text("instId")?;
        let family = text("instFamily")?.or(text("uly")?);
        let key = match (inst_id, family) {
            // Derivative ids have three or more parts (BTC-USDT-SWAP, BTC-USD-240329).
            (Some(id), _) if id.split('-').count() >= 3 => id.to_string(),
            (Some(id), None) => {
                return Err(n.get("instId")?.err(format!(
                    "{id:?} is a spot-margin pair: its rows are borrowing tiers (baseMaxLoan/quoteMaxLoan), not position tiers of a swap or futures family"
                )))
            }
            (_, Some(f)) => f.to_string(),
            (None, None) => {
                return Err(n.err(
                    "a position tier names neither instFamily, uly nor a derivative instId",
                ))
            }
        };
        let tier = n.get("tier")?.i64()?;
        let floor = n.num("minSz")?;
        let cap = n.num("maxSz")?;
        if !(floor >= 0.0 && cap > floor) {
            return Err(n
                .get("maxSz")?
                .err(format!("maxSz {cap} is not above minSz {floor}")));
        }
        // An option tier ("optMgnFactor: Option Margin Coefficient (only applicable to
        // options)"; futures and swaps rows carry "0"): kept apart from the family's futures
        // tiers, since an inverse option family (BTC-USD) shares its name with the swaps'.
        if let Some(factor) = n.opt_num("optMgnFactor")?.filter(|f| *f != 0.0) {
            if factor <= 0.0 || !factor.is_finite() {
                return Err(n
                    .get("optMgnFactor")?
                    .err(format!("{factor} is not a positive option margin factor")));
            }
            let family: String = key.split('-').take(2).collect::<Vec<_>>().join("-");
            let row = json!({"tier": tier, "floor": floor, "cap": cap, "margin_factor": factor});
            tables
                .entry(format!("option:{family}"))
                .or_default()
                .push((floor, row, n));
            continue;
        }
        let mmr = n.num("mmr")?;
        let imr = n.opt_num("imr")?;
        if !(0.0..=1.0).contains(&mmr) {
            return Err(n.get("mmr")?.err(format!("{mmr} is not a rate in [0, 1]")));
        }
        let mut row = json!({"tier": tier, "floor": floor, "cap": cap, "mmr": mmr});
        if let Some(i) = imr {
            if !(0.0..=1.0).contains(&i) || i < mmr {
                return Err(n.get("imr")?.err(format!(
                    "{i} is not a rate in [0, 1] at or above the tier's mmr {mmr}"
                )));
            }
            row["imr"] = json!(i);
        }
        if let Some(l) = n.opt_positive("maxLever")? {
            row["max_leverage"] = json!(l);
        }
        tables.entry(key).or_default().push((floor, row, n));
    }
    for (key, mut rows) in tables {
        rows.sort_by(|a, c| a.0.total_cmp(&c.0));
        for w in rows.windows(2) {
            if w[1].0 <= w[0].0 {
                return Err(w[1].2.get("minSz")?.err(format!(
                    "tier floors of {key} must increase: {} follows {}",
                    w[1].0, w[0].0
                )));
            }
        }
        let mut m = Map::new();
        m.insert("source".into(), json!("GET /api/v5/public/position-tiers"));
        m.insert(
            "tiers".into(),
            Value::Array(rows.into_iter().map(|(_, r, _)| r).collect()),
        );
        b.params(format!("okx:{key}"), m)?;
    }
    Ok(())
}

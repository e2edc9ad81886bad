//! `allocate --json`: where an account's collateral should sit and the transfers that put it
//! there, with requirements from the margin models (or given figures).

use std::collections::BTreeMap;

use intermargin_allocate::{allocate, Allocation, RoutesFile};
use intermargin_margin::portfolio::{RequirementKind, UnifiedModel, UnifiedParams};
use intermargin_model::{Account, Amount, Asset, Snapshot};
use serde::Serialize;
use serde_json::Value;

use crate::DocumentError;

/// What each venue must hold locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VenueBasis {
    /// `Local` when the routes file names a `unified_location` (the hub holds the unified
    /// requirement), else `Siloed`.
    Auto,
    /// Each venue's own requirement, as if it stood alone.
    Siloed,
    /// Only the local floor the unified model requires at each venue.
    Local,
}

impl VenueBasis {
    /// `auto`, `siloed` or `local`, else an input error naming `venue_basis`.
    pub fn parse(s: &str) -> Result<VenueBasis, DocumentError> {
        match s {
            "auto" => Ok(VenueBasis::Auto),
            "siloed" => Ok(VenueBasis::Siloed),
            "local" => Ok(VenueBasis::Local),
            other => Err(DocumentError::input(
                "venue_basis",
                format!("{other:?} is not auto, siloed or local"),
            )),
        }
    }
}

/// `initial` or `maintenance`, else an input error naming `requirement`.
pub fn parse_requirement(s: &str) -> Result<RequirementKind, DocumentError> {
    match s {
        "initial" => Ok(RequirementKind::Initial),
        "maintenance" => Ok(RequirementKind::Maintenance),
        other => Err(DocumentError::input(
            "requirement",
            format!("{other:?} is not initial or maintenance"),
        )),
    }
}

/// Where the requirements come from.
#[derive(Debug, Clone)]
pub enum Requirements {
    /// The margin models: the unified model's location requirements (`kind`), venues on `basis`;
    /// the close-out horizon is the routes' cure time plus the model's close-out time.
    Modelled {
        /// Initial or maintenance.
        kind: RequirementKind,
        /// What each venue holds locally.
        basis: VenueBasis,
    },
    /// Given figures (quote currency), e.g. from a file; `from` says where they come from.
    Given {
        /// Requirement per location name.
        venues: Vec<(String, f64)>,
        /// The unified (hub) requirement, if any.
        unified: Option<f64>,
        /// Where they come from (`file …`).
        from: String,
    },
}

/// The allocation answer: the account, the quote currency, where the requirements came from,
/// and the allocation (targets, transfers, headroom, shortfall).
#[derive(Debug, Clone, Serialize)]
pub struct AllocationAnswer {
    /// Account id.
    pub account: String,
    /// Quote currency of every figure.
    pub quote: String,
    /// Where the requirements came from.
    pub requirements_from: String,
    /// The solved allocation.
    #[serde(flatten)]
    pub allocation: Allocation,
}

impl AllocationAnswer {
    /// The JSON document: the answer, each transfer's base-unit `amount`, `fee` and `received`
    /// also as `*_base` and, for a declared asset, as exact decimals in `*_decimal`.
    pub fn document(&self, assets: &[Asset]) -> Result<Value, DocumentError> {
        let mut doc =
            serde_json::to_value(self).map_err(|e| DocumentError::Engine(e.to_string()))?;
        add_decimal_amounts(&mut doc, assets);
        Ok(doc)
    }
}

/// Solves the allocation of `account` over `routes`.
pub fn allocation(
    snap: &Snapshot,
    routes: &RoutesFile,
    account: &Account,
    requirements: Requirements,
) -> Result<AllocationAnswer, DocumentError> {
    let (venues, unified, from) = match requirements {
        Requirements::Given {
            venues,
            unified,
            from,
        } => {
            for (v, r) in &venues {
                if !r.is_finite() || *r < 0.0 {
                    return Err(DocumentError::input(
                        format!("venues[{v:?}]"),
                        format!("must be a finite number >= 0, got {r}"),
                    ));
                }
            }
            (venues, unified, from)
        }
        Requirements::Modelled { kind, basis } => {
            let local = match basis {
                VenueBasis::Auto => routes.unified_location.is_some(),
                VenueBasis::Siloed => false,
                VenueBasis::Local => true,
            };
            let params = UnifiedParams::bundled()
                .map_err(|e| DocumentError::Engine(format!("unified model parameters: {e}")))?;
            let close_out = params.horizon.close_out_s;
            let mut model = UnifiedModel::new(params);
            if let Some(cure) = routes.cure_horizon_s() {
                model = model.with_horizon_s(cure + close_out);
            }
            let unified = model
                .margin(account, &snap.portfolio.assets, &snap.market)
                .map_err(|e| DocumentError::Engine(format!("unified margin: {e}")))?;
            let (v, u) = unified.location_requirements(kind, local);
            let basis = if local {
                "local floors; pooled requirement at the hub"
            } else {
                "siloed venue margin"
            };
            let kind = match kind {
                RequirementKind::Initial => "initial",
                RequirementKind::Maintenance => "maintenance",
            };
            (
                v,
                Some(u),
                format!("margin models ({kind}; venues: {basis})"),
            )
        }
    };
    let problem = routes
        .problem(&snap.portfolio, account, &snap.market, &venues, unified)
        .map_err(|e| DocumentError::input("routes", e.to_string()))?;
    let allocation = allocate(&problem).map_err(|e| DocumentError::Engine(e.to_string()))?;
    Ok(AllocationAnswer {
        account: account.id.clone(),
        quote: snap.market.quote.clone(),
        requirements_from: from,
        allocation,
    })
}

/// Beside each transfer's base-unit `amount`, `fee` and `received` (kept as they are), adds the
/// same integers as `*_base` and the exact amounts in the asset's units as `*_decimal`.
fn add_decimal_amounts(doc: &mut Value, assets: &[Asset]) {
    let decimals: BTreeMap<&str, u32> = assets
        .iter()
        .map(|a| (a.symbol.as_str(), a.decimals))
        .collect();
    let Some(transfers) = doc.get_mut("transfers").and_then(|t| t.as_array_mut()) else {
        return;
    };
    for t in transfers {
        let Some(obj) = t.as_object_mut() else {
            continue;
        };
        let d = obj
            .get("asset")
            .and_then(|a| a.as_str())
            .and_then(|a| decimals.get(a).copied());
        for field in ["amount", "fee", "received"] {
            let Some(base) = obj.get(field).and_then(|v| v.as_str()).map(str::to_string) else {
                continue;
            };
            if let (Some(d), Ok(n)) = (d, base.parse::<i128>()) {
                obj.insert(
                    format!("{field}_decimal"),
                    Amount(n).to_decimal(d).normalize().to_string().into(),
                );
            }
            obj.insert(format!("{field}_base"), base.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfers_carry_base_and_exact_decimal_amounts() {
        let snap = Snapshot::from_json(include_str!("../../../examples/hedged-book/snapshot.json"))
            .unwrap();
        let routes =
            RoutesFile::from_json(include_str!("../../../examples/routes/hedged-book.json"))
                .unwrap();
        let acc = &snap.portfolio.accounts[0];
        let a = allocation(
            &snap,
            &routes,
            acc,
            Requirements::Modelled {
                kind: RequirementKind::Initial,
                basis: VenueBasis::Auto,
            },
        )
        .unwrap();
        let doc = a.document(&snap.portfolio.assets).unwrap();
        let transfers = doc["transfers"].as_array().unwrap();
        assert!(
            !transfers.is_empty(),
            "the hedged book moves collateral: {doc}"
        );
        for t in transfers {
            let base: i128 = t["amount"].as_str().unwrap().parse().unwrap();
            assert_eq!(t["amount_base"], t["amount"]);
            let d = snap
                .portfolio
                .assets
                .iter()
                .find(|x| x.symbol == t["asset"].as_str().unwrap())
                .unwrap()
                .decimals;
            // amount_decimal × 10^decimals is the base-unit integer, exactly.
            let text = t["amount_decimal"].as_str().unwrap();
            let (int, frac) = text.split_once('.').unwrap_or((text, ""));
            let scaled = format!("{int}{frac:0<width$}", width = d as usize);
            assert_eq!(scaled.parse::<i128>().unwrap(), base, "{text}");
        }
    }

    #[test]
    fn decimal_amounts_are_exact_and_trimmed() {
        let mut doc = serde_json::json!({"transfers": [
            {"asset": "USDC", "amount": "200000000000", "fee": "150000", "received": "199999850000"},
            {"asset": "BTC", "amount": "150000000", "fee": "0", "received": "150000000"},
            {"asset": "XYZ", "amount": "7", "fee": "0", "received": "7"},
        ]});
        add_decimal_amounts(&mut doc, &[Asset::new("USDC", 6), Asset::new("BTC", 8)]);
        let t = &doc["transfers"];
        assert_eq!(t[0]["amount_decimal"], "200000");
        assert_eq!(t[0]["fee_decimal"], "0.15");
        assert_eq!(t[0]["received_decimal"], "199999.85");
        assert_eq!(t[1]["amount_decimal"], "1.5");
        assert_eq!(t[0]["amount_base"], "200000000000");
        // An undeclared asset keeps its base units only.
        assert_eq!(t[2]["amount_base"], "7");
        assert!(t[2].get("amount_decimal").is_none());
    }

    #[test]
    fn bad_given_figures_and_options_are_named() {
        assert!(
            matches!(VenueBasis::parse("pooled"), Err(DocumentError::Input { field, .. }) if field == "venue_basis")
        );
        assert!(
            matches!(parse_requirement("max"), Err(DocumentError::Input { field, .. }) if field == "requirement")
        );
        let snap = Snapshot::from_json(include_str!("../../../examples/hedged-book/snapshot.json"))
            .unwrap();
        let routes =
            RoutesFile::from_json(include_str!("../../../examples/routes/hedged-book.json"))
                .unwrap();
        let e = allocation(
            &snap,
            &routes,
            &snap.portfolio.accounts[0],
            Requirements::Given {
                venues: vec![("deribit".into(), -1.0)],
                unified: None,
                from: "test".into(),
            },
        )
        .unwrap_err();
        assert!(
            matches!(e, DocumentError::Input { ref field, .. } if field == "venues[\"deribit\"]"),
            "{e}"
        );
    }
}

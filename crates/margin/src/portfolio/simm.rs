//! Greek-netting (sensitivity) margin in the ISDA SIMM form.
//!
//! Per underlying (bucket) and tenor vertex: delta `s = Δ·F` and vega risk `VR = vega·σ` in the quote
//! currency, weighted `WS = RW·s`; within a bucket `K = sqrt(Σ WS² + Σ_{k≠l} ρ WS_k WS_l)`; across
//! buckets `M = sqrt(Σ K_b² + Σ_{b≠c} γ S_b S_c)` with `S_b = max(min(Σ WS, K_b), −K_b)`. Curvature uses
//! the scenario form `CVR = −min(V(F(1+RW)) − V − Δ·F·RW, V(F(1−RW)) − V + Δ·F·RW)` with ρ² and γ².
//! IM = delta + vega + curvature margin. Parameters: `params/simm.toml`.

use std::collections::BTreeMap;

use intermargin_model::{Account, InstrumentKind, Market, Position};
use intermargin_pricing::{black76, black76_price};
use serde::{Deserialize, Serialize};

use super::explain::{Component, Contribution, Explanation};
use super::params::SIMM_TOML;
use super::scenario::resolve;
use crate::error::MarginError;

/// Risk weights of one underlying.
#[derive(Debug, Clone, Deserialize)]
pub struct SimmWeights {
    /// Delta risk weight (fractional price move).
    pub delta_rw: f64,
    /// Vega risk weight (fractional vol move).
    pub vega_rw: f64,
}

/// Cross-underlying correlations.
#[derive(Debug, Clone, Deserialize)]
pub struct SimmCorrelation {
    /// γ for pairs not listed.
    pub default_gamma: f64,
    /// `[a, b, γ]` triples.
    pub pairs: Vec<(String, String, f64)>,
}

/// The sensitivity model's parameters.
#[derive(Debug, Clone, Deserialize)]
pub struct SimmParams {
    /// Model name.
    pub name: String,
    /// Documentation of the form.
    pub source: String,
    /// Tenor vertices in days.
    pub tenors_days: Vec<f64>,
    /// ρ between tenors of one underlying.
    pub tenor_correlation: f64,
    /// MM = fraction × IM.
    pub maintenance_fraction: f64,
    /// Weights per underlying (`"*"` fallback).
    pub underlyings: BTreeMap<String, SimmWeights>,
    /// γ between underlyings.
    pub correlation: SimmCorrelation,
}

impl SimmParams {
    /// Parses and validates a TOML parameter set.
    pub fn from_toml(text: &str, file: &str) -> Result<Self, MarginError> {
        let bad = |field: &str, reason: String| MarginError::Params {
            file: file.to_string(),
            field: field.to_string(),
            reason,
        };
        let p: SimmParams = toml::from_str(text).map_err(|e| bad("(document)", e.to_string()))?;
        if p.tenors_days.is_empty() || p.tenors_days.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad(
                "tenors_days",
                "must be non-empty and increasing".into(),
            ));
        }
        for (k, v) in [
            ("tenor_correlation", p.tenor_correlation),
            ("correlation.default_gamma", p.correlation.default_gamma),
        ] {
            if !(-1.0..=1.0).contains(&v) {
                return Err(bad(k, format!("{v} is not a correlation in [-1, 1]")));
            }
        }
        for (i, (_, _, g)) in p.correlation.pairs.iter().enumerate() {
            if !(-1.0..=1.0).contains(g) {
                return Err(bad(
                    &format!("correlation.pairs[{i}]"),
                    format!("{g} is not a correlation"),
                ));
            }
        }
        if !p.underlyings.contains_key("*") {
            return Err(bad("underlyings.\"*\"", "fallback table required".into()));
        }
        for (u, w) in &p.underlyings {
            if !(w.delta_rw >= 0.0 && w.vega_rw >= 0.0 && w.delta_rw < 1.0) {
                return Err(bad(
                    &format!("underlyings.{u}"),
                    "risk weights must be in [0, 1)".into(),
                ));
            }
        }
        if !(0.0..=1.0).contains(&p.maintenance_fraction) {
            return Err(bad("maintenance_fraction", "must be in [0, 1]".into()));
        }
        Ok(p)
    }

    /// The bundled parameter set.
    pub fn bundled() -> Result<Self, MarginError> {
        Self::from_toml(SIMM_TOML, "params/simm.toml")
    }

    fn weights(&self, u: &str) -> Result<&SimmWeights, MarginError> {
        self.underlyings
            .get(u)
            .or_else(|| self.underlyings.get("*"))
            .ok_or_else(|| MarginError::Params {
                file: self.name.clone(),
                field: format!("underlyings.{u}"),
                reason: "no weights and no \"*\" fallback".into(),
            })
    }

    fn gamma(&self, a: &str, b: &str) -> f64 {
        self.correlation
            .pairs
            .iter()
            .find(|(x, y, _)| (x == a && y == b) || (x == b && y == a))
            .map(|t| t.2)
            .unwrap_or(self.correlation.default_gamma)
    }

    /// Splits a maturity (days) linearly between its two neighbouring vertices.
    fn allocate(&self, days: f64) -> [(usize, f64); 2] {
        let t = &self.tenors_days;
        if days <= t[0] {
            return [(0, 1.0), (0, 0.0)];
        }
        for k in 1..t.len() {
            if days <= t[k] {
                let w = (t[k] - days) / (t[k] - t[k - 1]);
                return [(k - 1, w), (k, 1.0 - w)];
            }
        }
        [(t.len() - 1, 1.0), (0, 0.0)]
    }
}

/// Weighted sensitivities of one underlying.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Underlying.
    pub underlying: String,
    /// Weighted delta per tenor vertex (quote currency).
    pub delta_ws: Vec<f64>,
    /// Weighted vega per tenor vertex.
    pub vega_ws: Vec<f64>,
    /// Curvature risk per tenor vertex.
    pub cvr: Vec<f64>,
    /// K of delta, vega and curvature.
    pub k: [f64; 3],
}

/// The sensitivity model's verdict on one account, in the quote currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensitivityMargin {
    /// Initial margin.
    pub initial_margin: f64,
    /// Maintenance margin.
    pub maintenance_margin: f64,
    /// Delta, vega, curvature margins.
    pub delta_margin: f64,
    /// Vega margin.
    pub vega_margin: f64,
    /// Curvature margin.
    pub curvature_margin: f64,
    /// Per underlying.
    pub buckets: Vec<Bucket>,
    /// Why.
    pub explain: Explanation,
}

/// Greek-netting model over an account's positions.
#[derive(Debug, Clone)]
pub struct SensitivityModel {
    /// Parameters.
    pub params: SimmParams,
}

/// `sqrt(Σ x² + Σ_{k≠l} ρ x_k x_l)` with a common ρ, floored at zero under the root.
pub fn k_within(x: &[f64], rho: f64) -> f64 {
    let s: f64 = x.iter().sum();
    let sq: f64 = x.iter().map(|v| v * v).sum();
    // Σ_{k≠l} x_k x_l = (Σx)² − Σx².
    (sq + rho * (s * s - sq)).max(0.0).sqrt()
}

impl SensitivityModel {
    /// A model with `params`.
    pub fn new(params: SimmParams) -> Self {
        SensitivityModel { params }
    }

    /// Requirement of `account`'s positions (collateral not included).
    pub fn margin(
        &self,
        account: &Account,
        market: &Market,
    ) -> Result<SensitivityMargin, MarginError> {
        self.margin_positions(&account.positions, market)
    }

    /// Requirement of a list of positions.
    pub fn margin_positions(
        &self,
        positions: &[Position],
        market: &Market,
    ) -> Result<SensitivityMargin, MarginError> {
        let p = &self.params;
        let nt = p.tenors_days.len();
        let mut buckets: BTreeMap<String, Bucket> = BTreeMap::new();
        let mut contributions = Vec::with_capacity(positions.len());
        for pos in positions {
            let inst = &pos.instrument;
            let pr = resolve(inst, market)?;
            let w = p.weights(&inst.underlying)?;
            let to_quote =
                market
                    .fx_rate(&inst.quote)
                    .ok_or_else(|| MarginError::MissingMarket {
                        field: format!("market.fx[{:?}]", inst.quote),
                        reason: "converting sensitivities".into(),
                    })?;
            let f = pr.f0;
            let q = pos.size * inst.base_quantity(1.0, f);
            let days = pr.years * 365.0;
            // Value in the quote currency is the linear value for inverse contracts too (V_coin × F).
            let (delta, vega, cvr) = match inst.kind {
                InstrumentKind::Option {
                    strike,
                    option_kind,
                    ..
                } => {
                    let t = pr.years.max(1e-9);
                    let g = black76(option_kind, f, strike, t, pr.vol, pr.rate)?;
                    let up = black76_price(
                        option_kind,
                        f * (1.0 + w.delta_rw),
                        strike,
                        t,
                        pr.vol,
                        pr.rate,
                    );
                    let dn = black76_price(
                        option_kind,
                        f * (1.0 - w.delta_rw),
                        strike,
                        t,
                        pr.vol,
                        pr.rate,
                    );
                    let dfr = g.delta * f * w.delta_rw;
                    let cvr = -((up - g.price - dfr).min(dn - g.price + dfr));
                    (q * g.delta * f, q * g.vega * pr.vol, q * cvr)
                }
                _ => (q * f, 0.0, 0.0),
            };
            let b = buckets
                .entry(inst.underlying.clone())
                .or_insert_with(|| Bucket {
                    underlying: inst.underlying.clone(),
                    delta_ws: vec![0.0; nt],
                    vega_ws: vec![0.0; nt],
                    cvr: vec![0.0; nt],
                    k: [0.0; 3],
                });
            for (k, a) in p.allocate(days) {
                b.delta_ws[k] += a * w.delta_rw * delta * to_quote;
                b.vega_ws[k] += a * w.vega_rw * vega * to_quote;
                b.cvr[k] += a * cvr * to_quote;
            }
            contributions.push(Contribution {
                instrument: inst.id(),
                size: pos.size,
                // Standalone weighted exposure of the position (delta + vega + curvature), quote currency.
                loss: (w.delta_rw * delta.abs() + w.vega_rw * vega.abs() + cvr.max(0.0)) * to_quote,
            });
        }
        let rho = p.tenor_correlation;
        let mut class_margin = [0.0; 3];
        let names: Vec<String> = buckets.keys().cloned().collect();
        let list: Vec<&mut Bucket> = buckets.values_mut().collect();
        let mut ks = vec![[0.0; 3]; list.len()];
        let mut ss = vec![[0.0; 3]; list.len()];
        for (i, b) in list.into_iter().enumerate() {
            let series = [&b.delta_ws, &b.vega_ws, &b.cvr];
            for c in 0..3 {
                let r = if c == 2 { rho * rho } else { rho };
                let k = k_within(series[c], r);
                let s: f64 = series[c].iter().sum();
                b.k[c] = k;
                ks[i][c] = k;
                ss[i][c] = s.clamp(-k, k);
            }
        }
        for (c, m) in class_margin.iter_mut().enumerate() {
            let mut v: f64 = ks.iter().map(|k| k[c] * k[c]).sum();
            for a in 0..ks.len() {
                for b in 0..ks.len() {
                    if a != b {
                        let g = p.gamma(&names[a], &names[b]);
                        let g = if c == 2 { g * g } else { g };
                        v += g * ss[a][c] * ss[b][c];
                    }
                }
            }
            *m = v.max(0.0).sqrt();
        }
        let im = class_margin.iter().sum::<f64>();
        let mm = p.maintenance_fraction * im;
        let components = vec![
            Component {
                name: "delta_margin".into(),
                value: class_margin[0],
                detail: "sqrt(sum WS^2 + sum rho WS WS) per underlying, gamma across".into(),
            },
            Component {
                name: "vega_margin".into(),
                value: class_margin[1],
                detail: "vega x vol, weighted, same aggregation".into(),
            },
            Component {
                name: "curvature_margin".into(),
                value: class_margin[2],
                detail: "scenario curvature, rho^2 and gamma^2".into(),
            },
        ];
        Ok(SensitivityMargin {
            initial_margin: im,
            maintenance_margin: mm,
            delta_margin: class_margin[0],
            vega_margin: class_margin[1],
            curvature_margin: class_margin[2],
            explain: Explanation {
                currency: market.quote.clone(),
                worst_scenario: "none (sensitivity model)".into(),
                worst_index: 0,
                contributions,
                components,
                scenarios: Vec::new(),
                initial_margin: im,
                maintenance_margin: mm,
                factors: Vec::new(),
            },
            buckets: buckets.into_values().collect(),
        })
    }
}

//! The scan: the one loop that sums position losses over scenarios and adds the components.
//!
//! Used by single-account margin (with an explanation) and by the batch engine (without), so that
//! both answer from the same arithmetic.

use std::collections::BTreeMap;

use intermargin_model::{Account, Instrument, Market, Position};
use serde::{Deserialize, Serialize};

use super::explain::{Component, Contribution, Explanation, ScenarioLoss};
use super::params::{GridParams, MinimumMode, Numeraire, RollMode};
use super::scenario::{risk_matrix, RiskMatrix};
use crate::error::MarginError;

/// Reusable buffers of one scan (one set per thread in the batch engine: no allocation per account).
#[derive(Debug, Clone, Default)]
pub struct ScanBuffers {
    combined: Vec<f64>,
    group: Vec<f64>,
}

impl ScanBuffers {
    /// Buffers sized for `m`.
    pub fn for_matrix(m: &RiskMatrix) -> Self {
        ScanBuffers {
            combined: vec![0.0; m.stride],
            group: vec![0.0; m.stride],
        }
    }
}

/// Numbers the scan produces for one pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ScanFigures {
    /// Index of the worst scenario.
    pub worst: usize,
    /// Its loss (≥ 0), after cross-underlying offsets.
    pub scenario_loss: f64,
    /// Roll/basis between expiries.
    pub roll: f64,
    /// Delta shock.
    pub delta_shock: f64,
    /// Short-option minimum.
    pub short_option_minimum: f64,
    /// Initial margin.
    pub initial_margin: f64,
    /// Maintenance margin.
    pub maintenance_margin: f64,
}

/// Per-leg detail the explaining scan records.
#[derive(Debug, Default)]
pub(crate) struct LegDetail {
    /// Per-leg losses, leg-major, `n_scenarios` each.
    pub leg_loss: Vec<f64>,
    /// Per-scenario combined loss.
    pub combined: Vec<f64>,
    /// Per (leg) gain-scaling factor at each scenario is derived from group totals: group totals, group-major.
    pub group_total: Vec<f64>,
    /// Group index of each run, in order.
    pub run_groups: Vec<u32>,
}

/// Sums `legs` (instrument row, size; sorted by group) over the matrix and adds the components.
///
/// `delta_threshold` is the delta-shock threshold in the matrix currency.
pub fn scan(
    m: &RiskMatrix,
    legs: &[(u32, f64)],
    p: &GridParams,
    delta_threshold: f64,
    buf: &mut ScanBuffers,
) -> ScanFigures {
    scan_inner(m, legs, p, delta_threshold, buf, None)
}

pub(crate) fn scan_inner(
    m: &RiskMatrix,
    legs: &[(u32, f64)],
    p: &GridParams,
    delta_threshold: f64,
    buf: &mut ScanBuffers,
    mut detail: Option<&mut LegDetail>,
) -> ScanFigures {
    let n = m.scenarios.len();
    let stride = m.stride;
    let combined = &mut buf.combined[..stride];
    combined.fill(0.0);
    let gbuf = &mut buf.group[..stride];
    let mut roll = 0.0;
    let mut delta_shock = 0.0;
    let mut som = 0.0;
    let mut i = 0;
    while i < legs.len() {
        let g = m.group[legs[i].0 as usize];
        gbuf.fill(0.0);
        let (mut net_delta, mut long_d, mut short_d) = (0.0, 0.0, 0.0);
        while i < legs.len() && m.group[legs[i].0 as usize] == g {
            let (row, size) = (legs[i].0 as usize, legs[i].1);
            let r = &m.loss[row * stride..row * stride + stride];
            // Rows are padded to a multiple of 8: fixed-width chunks let the compiler vectorise.
            for (a, l) in gbuf.chunks_exact_mut(8).zip(r.chunks_exact(8)) {
                for (x, y) in a.iter_mut().zip(l) {
                    *x += size * y;
                }
            }
            if let Some(d) = detail.as_deref_mut() {
                d.leg_loss.extend(r[..n].iter().map(|l| size * l));
            }
            let u = &m.unit[row];
            let dn = size * u.delta_notional;
            net_delta += dn;
            if dn > 0.0 {
                long_d += dn;
            } else {
                short_d -= dn;
            }
            if p.roll.mode == RollMode::PerPosition {
                roll += size.abs() * u.roll;
            }
            if size < 0.0 {
                som += -size * u.short_option_minimum;
            }
            i += 1;
        }
        let off = m.group_offset[g as usize];
        for (c, &l) in combined.iter_mut().zip(gbuf.iter()) {
            // Losses count in full, gains at the group's offset fraction (branch-free).
            *c += l.max(0.0) + off * l.min(0.0);
        }
        if let Some(d) = detail.as_deref_mut() {
            d.group_total.extend_from_slice(&gbuf[..n]);
            d.run_groups.push(g);
        }
        if p.roll.mode == RollMode::CalendarSpread {
            roll += p.roll.spread_rate * long_d.min(short_d);
        }
        delta_shock += p.delta_shock.max_delta_shock * (net_delta.abs() - delta_threshold).max(0.0);
    }
    let (mut worst, mut worst_loss) = (0, f64::NEG_INFINITY);
    for (s, &c) in combined[..n].iter().enumerate() {
        if c > worst_loss {
            worst_loss = c;
            worst = s;
        }
    }
    let scenario_loss = worst_loss.max(0.0);
    let raw = match p.short_option_minimum_mode {
        MinimumMode::Floor => (scenario_loss + roll + delta_shock).max(som),
        MinimumMode::Add => scenario_loss + roll + delta_shock + som,
    };
    if let Some(d) = detail {
        d.combined = combined[..n].to_vec();
    }
    let initial_margin = p.initial_multiplier * raw;
    ScanFigures {
        worst,
        scenario_loss,
        roll,
        delta_shock,
        short_option_minimum: som,
        initial_margin,
        maintenance_margin: p.maintenance_fraction * initial_margin,
    }
}

/// One pool's requirement with its explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolMargin {
    /// Pool currency (settlement currency, or the report quote).
    pub currency: String,
    /// Figures in `currency`.
    pub figures: ScanFigures,
    /// Initial margin in the snapshot quote currency.
    pub initial_margin_quote: f64,
    /// Maintenance margin in the snapshot quote currency.
    pub maintenance_margin_quote: f64,
    /// Why.
    pub explain: Explanation,
}

/// A scenario-grid model's verdict on one account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridMargin {
    /// Model name.
    pub model: String,
    /// Initial margin, snapshot quote currency.
    pub initial_margin: f64,
    /// Maintenance margin, snapshot quote currency.
    pub maintenance_margin: f64,
    /// Per pool.
    pub pools: Vec<PoolMargin>,
}

/// A position or collateral line entering a pool: an instrument and a signed size.
#[derive(Debug, Clone)]
pub(crate) struct Leg {
    pub instrument: Instrument,
    pub size: f64,
    pub label: String,
}

/// Margins one pool of legs, filling the explanation from the same scan; `extra` components are added
/// after the scan (unified basis and haircuts) and are part of the requirement.
pub(crate) fn margin_pool(
    legs: &[Leg],
    market: &Market,
    p: &GridParams,
    currency: &str,
) -> Result<PoolMargin, MarginError> {
    // Unique instruments, legs sorted by underlying so that the scan sees one run per group.
    let mut order: Vec<usize> = (0..legs.len()).collect();
    order.sort_by(|&a, &b| {
        legs[a]
            .instrument
            .underlying
            .cmp(&legs[b].instrument.underlying)
    });
    let mut instruments: Vec<Instrument> = Vec::new();
    let mut idx: BTreeMap<String, u32> = BTreeMap::new();
    let mut rows = Vec::with_capacity(legs.len());
    for &l in &order {
        let id = legs[l].instrument.id();
        let r = *idx.entry(id).or_insert_with(|| {
            instruments.push(legs[l].instrument.clone());
            (instruments.len() - 1) as u32
        });
        rows.push((r, legs[l].size));
    }
    let m = risk_matrix(market, &instruments, p, currency)?;
    let cur_fx = market
        .fx_rate(currency)
        .ok_or_else(|| MarginError::MissingMarket {
            field: format!("market.fx[{currency:?}]"),
            reason: "converting the pool to the quote currency".into(),
        })?;
    let threshold = p.delta_shock.threshold_notional / cur_fx;
    let mut buf = ScanBuffers::for_matrix(&m);
    let mut detail = LegDetail::default();
    let fig = scan_inner(&m, &rows, p, threshold, &mut buf, Some(&mut detail));
    let n = m.scenarios.len();
    // Contributions at the worst scenario: each leg's loss, gains scaled by its group's offset when the
    // group as a whole gained in that scenario (exactly how the scan combined them).
    let mut contributions = Vec::with_capacity(legs.len());
    let mut leg = 0;
    for (run, &g) in detail.run_groups.iter().enumerate() {
        let gt = detail.group_total[run * n + fig.worst];
        let factor = if gt > 0.0 {
            1.0
        } else {
            m.group_offset[g as usize]
        };
        while leg < rows.len() && m.group[rows[leg].0 as usize] == g {
            let l = &legs[order[leg]];
            contributions.push(Contribution {
                instrument: l.label.clone(),
                size: l.size,
                loss: factor * detail.leg_loss[leg * n + fig.worst],
            });
            leg += 1;
        }
    }
    let worst_name = m.scenarios[fig.worst].name.clone();
    let mut components = vec![Component {
        name: "scenario_loss".into(),
        value: fig.scenario_loss,
        detail: format!("worst of {} scenarios: {worst_name}", n),
    }];
    components.push(Component {
        name: "roll_shock".into(),
        value: fig.roll,
        detail: match p.roll.mode {
            RollMode::PerPosition => "|delta| x max(annualised move x years, minimum move)".into(),
            RollMode::CalendarSpread => {
                format!("{} x matched long/short delta notional", p.roll.spread_rate)
            }
        },
    });
    components.push(Component {
        name: "delta_shock".into(),
        value: fig.delta_shock,
        detail: format!(
            "{} x net delta notional above {}",
            p.delta_shock.max_delta_shock, p.delta_shock.threshold_notional
        ),
    });
    components.push(Component {
        name: "short_option_minimum".into(),
        value: fig.short_option_minimum,
        detail: match p.short_option_minimum_mode {
            MinimumMode::Floor => "floor: requirement = max(scan + add-ons, this)".into(),
            MinimumMode::Add => "added to the requirement".into(),
        },
    });
    let explain = Explanation {
        currency: currency.to_string(),
        worst_scenario: worst_name,
        worst_index: fig.worst,
        contributions,
        components,
        scenarios: m
            .scenarios
            .iter()
            .zip(&detail.combined)
            .map(|(s, &l)| ScenarioLoss {
                scenario: s.name.clone(),
                loss: l,
            })
            .collect(),
        initial_margin: fig.initial_margin,
        maintenance_margin: fig.maintenance_margin,
        factors: Vec::new(),
    };
    Ok(PoolMargin {
        currency: currency.to_string(),
        initial_margin_quote: fig.initial_margin * cur_fx,
        maintenance_margin_quote: fig.maintenance_margin * cur_fx,
        figures: fig,
        explain,
    })
}

/// A scenario-grid (risk-matrix) portfolio margin model: Deribit PM, SPAN, or any set in the same form.
#[derive(Debug, Clone)]
pub struct GridModel {
    /// The parameter set.
    pub params: GridParams,
}

impl GridModel {
    /// A model over a parameter set.
    pub fn new(params: GridParams) -> Self {
        GridModel { params }
    }

    /// Margins every position of `account` (collateral is not part of these venue-style models).
    pub fn margin(&self, account: &Account, market: &Market) -> Result<GridMargin, MarginError> {
        self.margin_positions(&account.positions, market)
    }

    /// Margins a list of positions, pooled by settlement currency or in the quote currency.
    pub fn margin_positions(
        &self,
        positions: &[Position],
        market: &Market,
    ) -> Result<GridMargin, MarginError> {
        let mut pools: BTreeMap<String, Vec<Leg>> = BTreeMap::new();
        for p in positions {
            let cur = match self.params.numeraire {
                Numeraire::Settle => p.instrument.settle.clone(),
                Numeraire::Quote => market.quote.clone(),
            };
            pools.entry(cur).or_default().push(Leg {
                label: p.instrument.id(),
                instrument: p.instrument.clone(),
                size: p.size,
            });
        }
        let mut out = Vec::with_capacity(pools.len());
        for (cur, legs) in &pools {
            out.push(margin_pool(legs, market, &self.params, cur)?);
        }
        Ok(GridMargin {
            model: self.params.name.clone(),
            initial_margin: out.iter().map(|p| p.initial_margin_quote).sum(),
            maintenance_margin: out.iter().map(|p| p.maintenance_margin_quote).sum(),
            pools: out,
        })
    }
}

//! Scenarios and the risk matrix: the loss of one unit of each instrument in each scenario.
//!
//! The matrix is the single place where instruments are repriced. Every consumer (one account's
//! margin, the batch engine, the proof export) reads it; none reprices on its own.

use intermargin_model::{year_fraction, Instrument, InstrumentKind, Market, Settlement, SizeUnit};
use intermargin_pricing::black76_price;
use serde::{Deserialize, Serialize};

use super::params::{Cover, GridParams, Numeraire, Order, VolMode, VolMove};
use crate::error::MarginError;

/// One market move applied to every underlying at once (each by its own range).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    /// Readable name (`price -4/4 range, vol up`, `extended +200%, vol up`).
    pub name: String,
    /// Multiple of each underlying's price range (standard), or the move itself (extended, absolute).
    pub price: f64,
    /// Whether `price` is a multiple of the range.
    pub in_ranges: bool,
    /// Vol move.
    pub vol: VolMove,
    /// Part of the extended table.
    pub extended: bool,
}

impl Scenario {
    /// Price move (fraction) of an underlying whose standard range is `range`, and whether delta-one legs are capped.
    pub fn price_move(&self, range: f64) -> f64 {
        if self.in_ranges {
            self.price * range
        } else {
            self.price
        }
    }
}

/// The scenarios of a parameter set, in the set's documented order.
pub fn scenarios(p: &GridParams) -> Vec<Scenario> {
    let n = p.steps_per_side as i64;
    let points: Vec<i64> = match p.order {
        Order::PriceMajor => (-n..=n).collect(),
        Order::Span => {
            let mut v = vec![0];
            for k in 1..=n {
                v.push(k);
                v.push(-k);
            }
            v
        }
    };
    let mut out = Vec::with_capacity(points.len() * p.vol_moves.len() + p.extended.moves.len());
    for k in points {
        for &vol in &p.vol_moves {
            out.push(Scenario {
                name: format!("price {k:+}/{n} range, vol {}", vol_name(vol)),
                price: k as f64 / n as f64,
                in_ranges: true,
                vol,
                extended: false,
            });
        }
    }
    for &m in &p.extended.moves {
        let name = if p.extended.moves_in_ranges {
            format!("extreme {m:+}x range, vol {}", vol_name(p.extended.vol))
        } else {
            format!(
                "extended {:+}%, vol {}",
                m * 100.0,
                vol_name(p.extended.vol)
            )
        };
        out.push(Scenario {
            name,
            price: m,
            in_ranges: p.extended.moves_in_ranges,
            vol: p.extended.vol,
            extended: true,
        });
    }
    out
}

fn vol_name(v: VolMove) -> &'static str {
    match v {
        VolMove::Up => "up",
        VolMove::None => "unchanged",
        VolMove::Down => "down",
    }
}

/// Exported scenario matrix: `loss[i][s]` = loss of one contract of `instruments[i]` in `scenarios[s]`
/// (positive = loss), in the numeraire of the parameter set. The zero-knowledge rule export reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioMatrix {
    /// Instrument ids (`venue:symbol`).
    pub instruments: Vec<String>,
    /// Scenario names.
    pub scenarios: Vec<String>,
    /// Loss per unit, instrument-major.
    pub loss: Vec<Vec<f64>>,
}

/// Per-instrument figures the components need besides the scenario losses, per contract, in the numeraire.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct UnitFigures {
    /// Delta exposure in units of the underlying (coin-equivalent position).
    pub delta_base: f64,
    /// Delta notional in the numeraire.
    pub delta_notional: f64,
    /// Roll shock of one contract (per-position form), always ≥ 0.
    pub roll: f64,
    /// Short-option minimum of one short contract, ≥ 0 (zero for non-options).
    pub short_option_minimum: f64,
    /// Expiry (UTC ms) for calendar-spread grouping; `i64::MAX` for perpetuals and spot.
    pub expiry_ms: i64,
    /// Whether the instrument is an option.
    pub is_option: bool,
}

/// Flat risk matrix for fast aggregation: `loss[i * stride + s]`, plus per-instrument figures.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskMatrix {
    /// Instrument ids.
    pub ids: Vec<String>,
    /// Scenarios.
    pub scenarios: Vec<Scenario>,
    /// Row length (scenarios rounded up to a multiple of 8 so rows stay vector-aligned).
    pub stride: usize,
    /// Losses per unit, row-major, padding zero.
    pub loss: Vec<f64>,
    /// Component figures per instrument.
    pub unit: Vec<UnitFigures>,
    /// Underlying group index per instrument.
    pub group: Vec<u32>,
    /// Underlying names by group index.
    pub groups: Vec<String>,
    /// `pnl_offset` per group.
    pub group_offset: Vec<f64>,
}

impl RiskMatrix {
    /// Number of scenarios.
    pub fn n_scenarios(&self) -> usize {
        self.scenarios.len()
    }

    /// One instrument's loss row (without padding).
    pub fn row(&self, i: usize) -> &[f64] {
        &self.loss[i * self.stride..i * self.stride + self.scenarios.len()]
    }

    /// Builds a matrix from published per-contract risk arrays (e.g. an exchange's SPAN file):
    /// every instrument in one group with no offset and no add-ons.
    pub fn from_arrays(
        scenario_names: &[&str],
        rows: &[(&str, Vec<f64>)],
    ) -> Result<Self, MarginError> {
        let n = scenario_names.len();
        let stride = n.div_ceil(8) * 8;
        let mut loss = vec![0.0; rows.len() * stride];
        for (i, (id, r)) in rows.iter().enumerate() {
            if r.len() != n {
                return Err(MarginError::Unsupported {
                    field: format!("risk_arrays[{id:?}]"),
                    reason: format!("{} values for {} scenarios", r.len(), n),
                });
            }
            loss[i * stride..i * stride + n].copy_from_slice(r);
        }
        Ok(RiskMatrix {
            ids: rows.iter().map(|(id, _)| id.to_string()).collect(),
            scenarios: scenario_names
                .iter()
                .map(|s| Scenario {
                    name: s.to_string(),
                    price: 0.0,
                    in_ranges: true,
                    vol: VolMove::None,
                    extended: false,
                })
                .collect(),
            stride,
            loss,
            unit: vec![UnitFigures::default(); rows.len()],
            group: vec![0; rows.len()],
            groups: vec!["*".into()],
            group_offset: vec![0.0],
        })
    }

    /// The exported (nested) form.
    pub fn export(&self) -> ScenarioMatrix {
        ScenarioMatrix {
            instruments: self.ids.clone(),
            scenarios: self.scenarios.iter().map(|s| s.name.clone()).collect(),
            loss: (0..self.ids.len()).map(|i| self.row(i).to_vec()).collect(),
        }
    }
}

/// Valuation inputs of one instrument at the snapshot, resolved once.
#[derive(Debug, Clone)]
pub(crate) struct Priced {
    pub(crate) inst: Instrument,
    /// Underlying forward/price in the instrument's quote currency.
    pub(crate) f0: f64,
    /// Value of one unit of the quote currency in the report currency.
    pub(crate) quote_fx: f64,
    pub(crate) vol: f64,
    pub(crate) years: f64,
    pub(crate) rate: f64,
}

fn missing(field: String, reason: &str) -> MarginError {
    MarginError::MissingMarket {
        field,
        reason: reason.to_string(),
    }
}

/// Resolves the market inputs of `inst`; errors name the market field that is missing.
pub(crate) fn resolve(inst: &Instrument, market: &Market) -> Result<Priced, MarginError> {
    let id = inst.id();
    let venue = inst.venue.as_str();
    let quote_fx = market.fx_rate(&inst.quote).ok_or_else(|| {
        missing(
            format!("market.fx[{:?}]", inst.quote),
            "converting the instrument's quote currency",
        )
    })?;
    let index = || {
        market
            .index_prices
            .get(&format!("{venue}:{}", inst.underlying))
            .copied()
            .or_else(|| market.fx_rate(&inst.underlying).map(|p| p / quote_fx))
    };
    let (f0, vol, years) = match &inst.kind {
        InstrumentKind::Option { expiry_ms, .. } => {
            let f0 = index().ok_or_else(|| {
                missing(
                    format!("market.index_prices[\"{venue}:{}\"]", inst.underlying),
                    "pricing an option",
                )
            })?;
            let vol = *market
                .mark_ivs
                .get(&id)
                .ok_or_else(|| missing(format!("market.mark_ivs[{id:?}]"), "shocking an option"))?;
            let years = year_fraction(market.timestamp_ms, *expiry_ms).max(0.0);
            let r = market.rate(&inst.quote);
            (f0 * (r * years).exp(), vol, years)
        }
        InstrumentKind::Future { expiry_ms } => {
            let f0 = market
                .mark_prices
                .get(&id)
                .copied()
                .or_else(index)
                .ok_or_else(|| {
                    missing(format!("market.mark_prices[{id:?}]"), "valuing a future")
                })?;
            (
                f0,
                0.0,
                year_fraction(market.timestamp_ms, *expiry_ms).max(0.0),
            )
        }
        InstrumentKind::Perpetual | InstrumentKind::Spot => {
            let f0 = market
                .mark_prices
                .get(&id)
                .copied()
                .or_else(index)
                .ok_or_else(|| {
                    missing(
                        format!("market.mark_prices[{id:?}]"),
                        "valuing a delta-one position",
                    )
                })?;
            (f0, 0.0, 0.0)
        }
    };
    if !(f0.is_finite() && f0 > 0.0) {
        return Err(missing(
            format!("market.mark_prices[{id:?}]"),
            "price must be positive",
        ));
    }
    Ok(Priced {
        inst: inst.clone(),
        f0,
        quote_fx,
        vol,
        years,
        rate: market.rate(&inst.quote),
    })
}

/// Shocked implied vol.
pub(crate) fn shocked_vol(
    p: &GridParams,
    up: f64,
    down: f64,
    vol: f64,
    years: f64,
    mv: VolMove,
) -> f64 {
    let v = &p.vol;
    match v.mode {
        VolMode::Absolute => match mv {
            VolMove::Up => vol + up,
            VolMove::None => vol,
            VolMove::Down => (vol - down).max(v.floor),
        },
        VolMode::Relative => {
            let days = (years * 365.0).max(1.0);
            let power = if days < v.reference_days {
                v.short_term_power
            } else {
                v.long_term_power
            };
            let scale = (v.reference_days / days).powf(power);
            match mv {
                VolMove::Up => (vol * (1.0 + up * scale)).max(v.min_vol_for_shock_up),
                VolMove::None => vol,
                VolMove::Down => (vol * (1.0 - down * scale)).max(v.floor),
            }
        }
    }
}

/// Context of a grid evaluation: which currency the figures are in.
#[derive(Debug, Clone)]
pub(crate) struct NumeraireCtx<'a> {
    pub params: &'a GridParams,
    pub market: &'a Market,
    /// Pool currency for `Numeraire::Settle`; the report quote otherwise.
    pub currency: String,
}

impl NumeraireCtx<'_> {
    /// Price move of `asset` in scenario `s` (stable assets do not move).
    fn asset_move(&self, asset: &str, s: &Scenario) -> f64 {
        if self.params.is_stable(asset) {
            return 0.0;
        }
        match self.params.underlying(asset) {
            Some(u) => s.price_move(u.price_range),
            None => 0.0,
        }
    }

    /// Value of one unit of `asset` in the numeraire currency, before (`s = None`) or after a scenario.
    fn asset_value(&self, asset: &str, s: Option<&Scenario>) -> Option<f64> {
        let base = self.market.fx_rate(asset)?;
        let m = s.map(|s| self.asset_move(asset, s)).unwrap_or(0.0);
        let cur = self.market.fx_rate(&self.currency)?;
        let mc = s.map(|s| self.asset_move(&self.currency, s)).unwrap_or(0.0);
        Some(base * (1.0 + m) / (cur * (1.0 + mc)))
    }
}

/// Fraction of a scenario's loss that counts: 1 for standard scenarios, the extended table's cover
/// (fixed, or `factor x range / |move|` capped at 1) for extended ones.
pub fn cover(p: &GridParams, s: &Scenario, range: f64) -> f64 {
    if !s.extended {
        return 1.0;
    }
    match p.extended.cover {
        Cover::Fixed => p.extended.factor,
        Cover::RangeOverMove => {
            let mv = s.price_move(range).abs();
            if mv == 0.0 {
                0.0
            } else {
                (p.extended.factor * range / mv).min(1.0)
            }
        }
    }
}

/// Loss of one contract in each scenario plus the component figures, in the numeraire.
pub(crate) fn price_row(
    pr: &Priced,
    ctx: &NumeraireCtx<'_>,
    scen: &[Scenario],
    out: &mut [f64],
) -> Result<UnitFigures, MarginError> {
    let p = ctx.params;
    let inst = &pr.inst;
    let stable_underlying = p.is_stable(&inst.underlying);
    let up = p
        .underlying(&inst.underlying)
        .ok_or_else(|| MarginError::Params {
            file: p.name.clone(),
            field: format!("underlyings.{}", inst.underlying),
            reason: "no parameters and no \"*\" fallback".into(),
        })?;
    let settle_now = ctx.asset_value(&inst.settle, None).ok_or_else(|| {
        missing(
            format!("market.fx[{:?}]", inst.settle),
            "converting settlement currency",
        )
    })?;
    let qty_base = |f: f64| match inst.size_unit {
        SizeUnit::Base => inst.contract_size,
        SizeUnit::Quote => inst.contract_size / f,
    };
    let q0 = qty_base(pr.f0);
    let h = p.look_ahead_days / 365.0;
    let (v0, delta_lin) = match inst.kind {
        InstrumentKind::Option {
            strike,
            option_kind,
            ..
        } => {
            let g = intermargin_pricing::black76(
                option_kind,
                pr.f0,
                strike,
                pr.years.max(1e-9),
                pr.vol,
                pr.rate,
            )?;
            (g.price, g.delta)
        }
        _ => (0.0, 1.0),
    };
    // Value held now of one contract, in its settlement currency: an option's premium (in the coin
    // for an inverse option, `V/F` per unit); delta-one contracts are marked to market and hold 0.
    let value0_settle = match (&inst.kind, inst.settlement) {
        (InstrumentKind::Option { .. }, Settlement::Linear) => q0 * v0,
        (InstrumentKind::Option { .. }, Settlement::Inverse) => q0 * v0 / pr.f0,
        _ => 0.0,
    };
    for (s, o) in scen.iter().zip(out.iter_mut()) {
        let mut m = if stable_underlying {
            0.0
        } else {
            s.price_move(up.price_range)
        };
        let delta_one = !inst.is_option();
        if delta_one && s.extended && p.extended.cap_delta_one {
            m = m.clamp(-up.price_range, up.price_range);
        }
        let cover = if m == 0.0 && s.extended {
            0.0
        } else {
            cover(p, s, up.price_range)
        };
        let f1 = pr.f0 * (1.0 + m);
        // P&L of one contract in its settlement currency.
        let pnl_settle = match (&inst.kind, inst.settlement) {
            (
                InstrumentKind::Option {
                    strike,
                    option_kind,
                    ..
                },
                settlement,
            ) => {
                let vol1 = shocked_vol(p, up.vol_up, up.vol_down, pr.vol, pr.years, s.vol);
                let t1 = (pr.years - h).max(0.0);
                let v1 = black76_price(*option_kind, f1, *strike, t1, vol1, pr.rate);
                match settlement {
                    Settlement::Linear => q0 * (v1 - v0),
                    Settlement::Inverse => q0 * (v1 / f1 - v0 / pr.f0),
                }
            }
            (_, Settlement::Linear) => q0 * (f1 - pr.f0),
            (_, Settlement::Inverse) => {
                let usd = match inst.size_unit {
                    SizeUnit::Quote => inst.contract_size,
                    SizeUnit::Base => inst.contract_size * pr.f0,
                };
                usd * (1.0 / pr.f0 - 1.0 / f1)
            }
        };
        let settle_val = if inst.settle == ctx.currency {
            1.0
        } else if inst.settle == inst.underlying {
            // Coin-settled: the coin moves with this scenario's (possibly capped) move.
            settle_now * (1.0 + m) / (1.0 + ctx.asset_move(&ctx.currency, s))
        } else {
            ctx.asset_value(&inst.settle, Some(s)).unwrap_or(settle_now)
        };
        // Numeraire P&L = value after − value before = (value0 + pnl)·settle_val − value0·settle_now:
        // the settlement-currency P&L at the new rate plus the revaluation of the value already held
        // (an inverse option's coin premium moves with the coin).
        let pnl_num = pnl_settle * settle_val + value0_settle * (settle_val - settle_now);
        *o = -cover * pnl_num;
    }
    // Component figures: delta in coin-equivalent, notional in the numeraire.
    let delta_base = if stable_underlying {
        0.0
    } else {
        q0 * delta_lin
    };
    let und_value = ctx
        .asset_value(&inst.underlying, None)
        .unwrap_or(pr.f0 * pr.quote_fx / ctx.market.fx_rate(&ctx.currency).unwrap_or(1.0));
    let delta_notional = delta_base * und_value;
    let roll_move = (up.annualised_move_risk * pr.years).max(up.min_annualised_move);
    Ok(UnitFigures {
        delta_base,
        delta_notional,
        roll: if matches!(inst.kind, InstrumentKind::Spot) {
            0.0
        } else {
            delta_notional.abs() * roll_move
        },
        short_option_minimum: if inst.is_option() {
            q0.abs() * und_value * up.short_option_minimum
        } else {
            0.0
        },
        expiry_ms: inst.expiry_ms().unwrap_or(i64::MAX),
        is_option: inst.is_option(),
    })
}

/// Builds the flat risk matrix of `instruments` for `currency` (pool currency or report quote).
pub fn risk_matrix(
    market: &Market,
    instruments: &[Instrument],
    params: &GridParams,
    currency: &str,
) -> Result<RiskMatrix, MarginError> {
    let scen = scenarios(params);
    let n = scen.len();
    let stride = n.div_ceil(8) * 8;
    let ctx = NumeraireCtx {
        params,
        market,
        currency: currency.to_string(),
    };
    if market.fx_rate(currency).is_none() {
        return Err(missing(format!("market.fx[{currency:?}]"), "pool currency"));
    }
    let mut loss = vec![0.0; instruments.len() * stride];
    let mut unit = Vec::with_capacity(instruments.len());
    let mut group = Vec::with_capacity(instruments.len());
    let mut groups: Vec<String> = Vec::new();
    let mut group_offset = Vec::new();
    for (i, inst) in instruments.iter().enumerate() {
        let pr = resolve(inst, market)?;
        unit.push(price_row(
            &pr,
            &ctx,
            &scen,
            &mut loss[i * stride..i * stride + n],
        )?);
        let g = match groups.iter().position(|g| *g == inst.underlying) {
            Some(g) => g,
            None => {
                groups.push(inst.underlying.clone());
                group_offset.push(
                    params
                        .underlying(&inst.underlying)
                        .map(|u| u.pnl_offset)
                        .unwrap_or(0.0),
                );
                groups.len() - 1
            }
        };
        group.push(g as u32);
    }
    Ok(RiskMatrix {
        ids: instruments.iter().map(|i| i.id()).collect(),
        scenarios: scen,
        stride,
        loss,
        unit,
        group,
        groups,
        group_offset,
    })
}

/// Loss per unit per instrument per scenario for a snapshot, in the parameter set's report currency
/// (the snapshot quote): the matrix R\[i\]\[s\] that `intermargin rule export` publishes.
pub fn scenario_matrix(
    market: &Market,
    instruments: &[Instrument],
    params: &GridParams,
) -> Result<ScenarioMatrix, MarginError> {
    let currency = match params.numeraire {
        Numeraire::Quote => market.quote.clone(),
        Numeraire::Settle => match instruments.first() {
            Some(i) if instruments.iter().all(|j| j.settle == i.settle) => i.settle.clone(),
            _ => market.quote.clone(),
        },
    };
    Ok(risk_matrix(market, instruments, params, &currency)?.export())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vol_shock_scales_with_days_to_expiry_as_the_deribit_form() {
        // (30/15)^0.3 = 1.2311444; up: 0.6·(1 + 0.5·1.2311444) = 0.9693433; down: 0.6·(1 − 0.25·1.2311444) = 0.4153283.
        let p = GridParams::deribit_pm().unwrap();
        let y15 = 15.0 / 365.0;
        assert!((shocked_vol(&p, 0.5, 0.25, 0.6, y15, VolMove::Up) - 0.969_343_3).abs() < 1e-6);
        assert!((shocked_vol(&p, 0.5, 0.25, 0.6, y15, VolMove::Down) - 0.415_328_3).abs() < 1e-6);
        // 60 days uses the long-term power: (30/60)^0.13 = 0.9138314; up 0.6·(1 + 0.4569157) = 0.8741494.
        let y60 = 60.0 / 365.0;
        assert!((shocked_vol(&p, 0.5, 0.25, 0.6, y60, VolMove::Up) - 0.874_149_4).abs() < 1e-6);
        // A low IV shocked up never ends below min_volatility_for_shock_up (0.5).
        assert_eq!(shocked_vol(&p, 0.5, 0.25, 0.3, y15, VolMove::Up), 0.5);
    }

    #[test]
    fn span_vol_scan_is_absolute() {
        let p = GridParams::span().unwrap();
        assert!((shocked_vol(&p, 0.15, 0.15, 0.6, 0.5, VolMove::Up) - 0.75).abs() < 1e-12);
        assert!((shocked_vol(&p, 0.15, 0.15, 0.6, 0.5, VolMove::Down) - 0.45).abs() < 1e-12);
    }

    #[test]
    fn deribit_grid_has_27_standard_and_8_extended_scenarios_price_major() {
        let s = scenarios(&GridParams::deribit_pm().unwrap());
        assert_eq!(s.len(), 35);
        assert_eq!(s[0].price, -1.0);
        assert_eq!(s[26].price, 1.0);
        assert_eq!(s[13].price, 0.0);
        assert!(s[27..].iter().all(|x| x.extended && x.vol == VolMove::Up));
    }

    /// Standard normal CDF by the Abramowitz–Stegun 26.2.17 polynomial (|error| < 7.5e-8),
    /// independent of the pricing crate.
    fn norm_cdf(x: f64) -> f64 {
        let t = 1.0 / (1.0 + 0.231_641_9 * x.abs());
        let poly = t
            * (0.319_381_530
                + t * (-0.356_563_782
                    + t * (1.781_477_937 + t * (-1.821_255_978 + t * 1.330_274_429))));
        let tail = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt() * poly;
        if x >= 0.0 {
            1.0 - tail
        } else {
            tail
        }
    }

    /// Black-76 call price, rate 0: F·N(d1) − K·N(d2).
    fn black76_call(f: f64, k: f64, t: f64, vol: f64) -> f64 {
        let sd = vol * t.sqrt();
        let d1 = ((f / k).ln() + 0.5 * sd * sd) / sd;
        f * norm_cdf(d1) - k * norm_cdf(d1 - sd)
    }

    #[test]
    fn inverse_option_loss_revalues_the_coin_premium_held() {
        // Short 1 Deribit inverse ATM BTC call (1 BTC per contract), F = S = 60,000 USD, IV 60 %,
        // 36.5 days (0.1 year), rate 0; scenario: BTC +10 %, vol unchanged, no look-ahead.
        let t0 = 1_700_000_000_000_i64;
        let expiry = t0 + (0.1 * intermargin_model::MS_PER_YEAR) as i64;
        let inst = Instrument {
            venue: intermargin_model::Venue::Deribit,
            symbol: "BTC-TEST-60000-C".into(),
            kind: InstrumentKind::Option {
                expiry_ms: expiry,
                strike: 60_000.0,
                option_kind: intermargin_model::OptionKind::Call,
            },
            underlying: "BTC".into(),
            quote: "USD".into(),
            settle: "BTC".into(),
            settlement: Settlement::Inverse,
            contract_size: 1.0,
            size_unit: SizeUnit::Base,
        };
        let mut market = Market::new(t0, "USD");
        market.fx.insert("BTC".into(), 60_000.0);
        market.index_prices.insert("deribit:BTC".into(), 60_000.0);
        market.mark_ivs.insert(inst.id(), 0.6);
        let params = GridParams::deribit_pm().unwrap();
        assert_eq!(params.look_ahead_days, 0.0);
        let ctx = NumeraireCtx {
            params: &params,
            market: &market,
            currency: "USD".into(),
        };
        let scen = [Scenario {
            name: "BTC +10 %".into(),
            price: 0.10,
            in_ranges: false,
            vol: VolMove::None,
            extended: false,
        }];
        let pr = resolve(&inst, &market).unwrap();
        let years = pr.years;
        assert!((years - 0.1).abs() < 1e-9);
        let mut out = [0.0];
        price_row(&pr, &ctx, &scen, &mut out).unwrap();
        // By hand: value in coin = Black-76 price / F; in USD = coin value × BTC's USD price.
        let (f0, f1) = (60_000.0, 66_000.0);
        let v0 = black76_call(f0, 60_000.0, years, 0.6); // ≈ 4,540 USD
        let v1 = black76_call(f1, 60_000.0, years, 0.6);
        let old_usd = v0 / f0 * 60_000.0;
        let new_usd = v1 / f1 * 66_000.0;
        // The long's loss per unit is old − new; `out` holds the loss of a long contract.
        let expected_loss = old_usd - new_usd;
        // The polynomial CDF is good to 7.5e-8, i.e. ≤ (F + K)·7.5e-8 ≈ 0.01 USD per price.
        assert!(
            (out[0] - expected_loss).abs() < 0.05,
            "loss {} vs hand {expected_loss}",
            out[0]
        );
        // The revaluation of the premium held (v0/F0 coins × 6,000 USD) is part of it, ≈ 454 USD:
        // without it the short's loss would be understated by about 14 %.
        let omitted = v0 / f0 * 6_000.0;
        let short_loss = -expected_loss;
        assert!(omitted / short_loss > 0.10, "{omitted} / {short_loss}");
        assert!(((-out[0]) - (short_loss - omitted)).abs() > 400.0);
    }

    #[test]
    fn out_of_range_parameter_names_file_and_key() {
        let bad = super::super::params::DERIBIT_PM_TOML.replacen(
            "price_range = 0.16",
            "price_range = 1.6",
            1,
        );
        let e = GridParams::from_toml(&bad, "params/deribit_pm.toml").unwrap_err();
        assert!(e.to_string().contains("underlyings.BTC.price_range"), "{e}");
    }
}

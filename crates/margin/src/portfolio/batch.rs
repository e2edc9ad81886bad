//! Batch engine: millions of accounts over one risk matrix.
//!
//! The matrix (loss per unit per instrument per scenario) is computed once per market snapshot and
//! shared read-only by every account; accounts run in parallel (rayon) with one set of scan buffers per
//! worker, so the hot loop allocates nothing. A price tick on one underlying reprices only that
//! underlying's rows and re-margins only the accounts that hold it.

use intermargin_model::{Instrument, Market};
use rayon::prelude::*;

use super::params::{GridParams, Numeraire};
use super::scan::{scan, ScanBuffers};
use super::scenario::{price_row, resolve, risk_matrix, NumeraireCtx, RiskMatrix};
use crate::error::MarginError;

/// Accounts as compressed rows: account `a` holds `legs[offsets[a]..offsets[a + 1]]`, sorted by underlying.
#[derive(Debug, Clone, Default)]
pub struct BatchBook {
    offsets: Vec<usize>,
    legs: Vec<(u32, f64)>,
    /// Accounts holding each underlying group (built by [`BatchBook::index`]).
    by_group: Vec<Vec<u32>>,
}

impl BatchBook {
    /// An empty book with room for `accounts` accounts of about `legs_per_account` legs.
    pub fn with_capacity(accounts: usize, legs_per_account: usize) -> Self {
        let mut offsets = Vec::with_capacity(accounts + 1);
        offsets.push(0);
        BatchBook {
            offsets,
            legs: Vec::with_capacity(accounts * legs_per_account),
            by_group: Vec::new(),
        }
    }

    /// Adds an account's legs (matrix row, signed size); they are sorted by the matrix's underlying group.
    pub fn push(&mut self, m: &RiskMatrix, legs: &[(u32, f64)]) -> Result<(), MarginError> {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        let start = self.legs.len();
        for (i, &(row, size)) in legs.iter().enumerate() {
            if row as usize >= m.ids.len() || !size.is_finite() {
                return Err(MarginError::Unsupported {
                    field: format!("accounts[{}].legs[{i}]", self.len()),
                    reason: format!("row {row} of {} instruments, size {size}", m.ids.len()),
                });
            }
            self.legs.push((row, size));
        }
        self.legs[start..].sort_by_key(|&(r, _)| m.group[r as usize]);
        self.offsets.push(self.legs.len());
        Ok(())
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// True when no account was added.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One account's legs.
    pub fn legs(&self, a: usize) -> &[(u32, f64)] {
        &self.legs[self.offsets[a]..self.offsets[a + 1]]
    }

    /// Builds the underlying → accounts index used by incremental re-margining.
    pub fn index(&mut self, m: &RiskMatrix) {
        let mut by_group = vec![Vec::new(); m.groups.len()];
        for a in 0..self.len() {
            let mut last = u32::MAX;
            for &(r, _) in self.legs(a) {
                let g = m.group[r as usize];
                if g != last {
                    by_group[g as usize].push(a as u32);
                    last = g;
                }
            }
        }
        self.by_group = by_group;
    }

    /// Accounts holding underlying group `g` (empty until [`BatchBook::index`] ran).
    pub fn holders(&self, g: usize) -> &[u32] {
        self.by_group.get(g).map(|v| v.as_slice()).unwrap_or(&[])
    }
}

/// Scenario P&L computed once per snapshot and shared by all accounts.
#[derive(Debug, Clone)]
pub struct BatchEngine {
    /// Parameters.
    pub params: GridParams,
    /// The shared matrix.
    pub matrix: RiskMatrix,
    instruments: Vec<Instrument>,
    currency: String,
    threshold: f64,
}

impl BatchEngine {
    /// Reprices every instrument once for `market`.
    pub fn new(
        params: GridParams,
        market: &Market,
        instruments: Vec<Instrument>,
    ) -> Result<Self, MarginError> {
        let currency = match params.numeraire {
            Numeraire::Quote => market.quote.clone(),
            Numeraire::Settle => {
                return Err(MarginError::Unsupported {
                    field: "params.numeraire".into(),
                    reason: "the batch engine pools every account in the quote currency".into(),
                })
            }
        };
        let matrix = risk_matrix(market, &instruments, &params, &currency)?;
        let threshold = params.delta_shock.threshold_notional;
        Ok(BatchEngine {
            params,
            matrix,
            instruments,
            currency,
            threshold,
        })
    }

    /// Initial margin of every account of `book` into `out` (one slot per account), in parallel.
    pub fn margin_all(&self, book: &BatchBook, out: &mut [f64]) {
        let m = &self.matrix;
        out.par_chunks_mut(2048).enumerate().for_each_init(
            || ScanBuffers::for_matrix(m),
            |buf, (c, chunk)| {
                for (k, o) in chunk.iter_mut().enumerate() {
                    let a = c * 2048 + k;
                    *o = scan(m, book.legs(a), &self.params, self.threshold, buf).initial_margin;
                }
            },
        );
    }

    /// Price tick on `underlying`: reprices its rows from `market`, re-margins only its holders in `out`;
    /// returns how many accounts were re-margined.
    pub fn tick(
        &mut self,
        market: &Market,
        underlying: &str,
        book: &BatchBook,
        out: &mut [f64],
    ) -> Result<usize, MarginError> {
        let Some(g) = self.matrix.groups.iter().position(|x| x == underlying) else {
            return Ok(0);
        };
        let ctx = NumeraireCtx {
            params: &self.params,
            market,
            currency: self.currency.clone(),
        };
        let (n, stride) = (self.matrix.scenarios.len(), self.matrix.stride);
        for (i, inst) in self.instruments.iter().enumerate() {
            if self.matrix.group[i] as usize == g {
                let pr = resolve(inst, market)?;
                let row = &mut self.matrix.loss[i * stride..i * stride + n];
                self.matrix.unit[i] = price_row(&pr, &ctx, &self.matrix.scenarios, row)?;
            }
        }
        let holders = book.holders(g);
        let m = &self.matrix;
        let params = &self.params;
        let threshold = self.threshold;
        let updates: Vec<(u32, f64)> = holders
            .par_iter()
            .map_init(
                || ScanBuffers::for_matrix(m),
                |buf, &a| {
                    (
                        a,
                        scan(m, book.legs(a as usize), params, threshold, buf).initial_margin,
                    )
                },
            )
            .collect();
        for (a, im) in &updates {
            out[*a as usize] = *im;
        }
        Ok(updates.len())
    }
}

/// Per-instrument figures of the unified add-ons, one per matrix row.
#[derive(Debug, Clone, Copy, Default)]
struct UnifiedRow {
    /// Venue index into the per-venue tables.
    venue: u8,
    /// Perpetual (funding applies).
    perpetual: bool,
    /// Gross notional of one contract (quote currency).
    gross: f64,
    /// Stablecoin the contract is settled in (index into `depeg`), `u8::MAX` for none.
    stable: u8,
}

/// The unified model's pooled requirement for millions of accounts: each underlying scanned alone and
/// taken at its own worst (no cross-underlying credit unless published), plus basis, funding,
/// concentration per (venue, underlying) and stablecoin depeg, over one shared risk matrix.
///
/// Local floors need each venue's own rules on the whole account and are not part of this figure.
#[derive(Debug, Clone)]
pub struct UnifiedBatch {
    /// The shared matrix (unified per-underlying grid, ranges at the model's horizon).
    pub engine: BatchEngine,
    rows: Vec<UnifiedRow>,
    /// Per venue index: basis rate x range scale, funding per unit notional over the horizon.
    venue_rates: Vec<(f64, f64)>,
    /// Per (group, venue index): y x daily vol / sqrt(depth).
    impact: Vec<Vec<f64>>,
    /// Depeg rate per stablecoin index.
    depeg: Vec<f64>,
    /// Published inter-commodity credit per (group, group); all zero by default.
    credit: Vec<Vec<f64>>,
    any_credit: bool,
}

/// Scratch space of one worker of [`UnifiedBatch::margin_all`].
struct UnifiedBuffers {
    group: Vec<f64>,
    net: [f64; 9],
    perp: [f64; 9],
    gross: [f64; 9],
    stable: Vec<f64>,
    worsts: Vec<(u32, f64, f64)>,
}

impl UnifiedBatch {
    /// Builds the matrix of `instruments` under `model` at `market`.
    pub fn new(
        model: &super::unified::UnifiedModel,
        market: &Market,
        instruments: Vec<Instrument>,
    ) -> Result<Self, MarginError> {
        let p = &model.params;
        let quote = market.quote.clone();
        let scale = p.range_scale(model.horizon_s);
        let engine = BatchEngine::new(p.grid(scale, &quote), market, instruments)?;
        let venues = intermargin_model::Venue::ALL;
        let mut venue_rates = Vec::with_capacity(venues.len());
        for v in venues {
            let vp = p.venue(v)?;
            venue_rates.push((
                vp.basis * scale,
                vp.funding_per_8h * model.horizon_s / (8.0 * 3600.0),
            ));
        }
        let stables: Vec<String> = p
            .stablecoins
            .keys()
            .filter(|s| **s != quote)
            .cloned()
            .collect();
        let depeg = stables.iter().map(|s| p.stablecoins[s].depeg).collect();
        let m = &engine.matrix;
        let mut rows = Vec::with_capacity(engine.instruments.len());
        for (i, inst) in engine.instruments.iter().enumerate() {
            let pr = super::scenario::resolve(inst, market)?;
            let q0 = match inst.size_unit {
                intermargin_model::SizeUnit::Base => inst.contract_size,
                intermargin_model::SizeUnit::Quote => inst.contract_size / pr.f0,
            };
            let linear = inst.settlement == intermargin_model::Settlement::Linear;
            rows.push(UnifiedRow {
                venue: venues.iter().position(|v| *v == inst.venue).unwrap_or(0) as u8,
                perpetual: matches!(inst.kind, intermargin_model::InstrumentKind::Perpetual),
                gross: q0 * pr.f0 * pr.quote_fx,
                stable: if linear {
                    stables
                        .iter()
                        .position(|s| *s == inst.settle)
                        .map_or(u8::MAX, |x| x as u8)
                } else {
                    u8::MAX
                },
            });
            debug_assert!(m.group[i] as usize <= m.groups.len());
        }
        let impact = m
            .groups
            .iter()
            .map(|g| {
                venues
                    .iter()
                    .map(|v| {
                        let vp = p.venue(*v).expect("validated above");
                        p.liquidity.y * p.underlying(g).daily_vol / vp.depth_of(g).sqrt()
                    })
                    .collect()
            })
            .collect();
        let credit: Vec<Vec<f64>> = m
            .groups
            .iter()
            .map(|a| {
                m.groups
                    .iter()
                    .map(|b| if a == b { 0.0 } else { p.credit_rate(a, b) })
                    .collect()
            })
            .collect();
        let any_credit = credit.iter().flatten().any(|c| *c > 0.0);
        Ok(UnifiedBatch {
            engine,
            rows,
            venue_rates,
            impact,
            depeg,
            credit,
            any_credit,
        })
    }

    fn buffers(&self) -> UnifiedBuffers {
        UnifiedBuffers {
            group: vec![0.0; self.engine.matrix.stride],
            net: [0.0; 9],
            perp: [0.0; 9],
            gross: [0.0; 9],
            stable: vec![0.0; self.depeg.len()],
            worsts: Vec::new(),
        }
    }

    /// Pooled requirement of one account (legs sorted by group, as [`BatchBook`] stores them).
    fn account(&self, legs: &[(u32, f64)], b: &mut UnifiedBuffers) -> f64 {
        let m = &self.engine.matrix;
        let n = m.scenarios.len();
        let stride = m.stride;
        let mut total = 0.0;
        b.stable.iter_mut().for_each(|x| *x = 0.0);
        b.worsts.clear();
        let mut i = 0;
        while i < legs.len() {
            let g = m.group[legs[i].0 as usize];
            let gbuf = &mut b.group[..stride];
            gbuf.fill(0.0);
            b.net = [0.0; 9];
            b.perp = [0.0; 9];
            b.gross = [0.0; 9];
            let mut touched: u16 = 0;
            let mut delta = 0.0;
            while i < legs.len() && m.group[legs[i].0 as usize] == g {
                let (row, size) = (legs[i].0 as usize, legs[i].1);
                let r = &m.loss[row * stride..row * stride + stride];
                for (a, l) in gbuf.chunks_exact_mut(8).zip(r.chunks_exact(8)) {
                    for (x, y) in a.iter_mut().zip(l) {
                        *x += size * y;
                    }
                }
                let u = &self.rows[row];
                let dn = size * m.unit[row].delta_notional;
                let v = u.venue as usize;
                touched |= 1 << v;
                b.net[v] += dn;
                if u.perpetual {
                    b.perp[v] += dn;
                }
                b.gross[v] += size.abs() * u.gross;
                if u.stable != u8::MAX {
                    b.stable[u.stable as usize] -= dn;
                }
                delta += dn;
                i += 1;
            }
            let w = gbuf[..n].iter().fold(0.0f64, |a, &x| a.max(x));
            total += w;
            if self.any_credit {
                b.worsts.push((g, w, delta));
            }
            let imp = &self.impact[g as usize];
            for (v, imp_v) in imp.iter().enumerate().take(9) {
                if touched & (1 << v) != 0 {
                    let (basis, funding) = self.venue_rates[v];
                    let gross = b.gross[v];
                    total += basis * b.net[v].abs()
                        + funding * b.perp[v].abs()
                        + imp_v * gross * gross.sqrt();
                }
            }
        }
        for (s, e) in b.stable.iter().enumerate() {
            total += self.depeg[s] * e.max(0.0);
        }
        if self.any_credit {
            let mut credit = 0.0;
            for (x, a) in b.worsts.iter().enumerate() {
                for c in &b.worsts[x + 1..] {
                    if a.2 * c.2 < 0.0 {
                        credit += self.credit[a.0 as usize][c.0 as usize] * a.1.min(c.1);
                    }
                }
            }
            total -= credit;
        }
        total
    }

    /// Pooled requirement of the listed accounts of `book` (`accounts[k]` into `out[k]`), in
    /// parallel: a tick on one underlying re-margins only its holders ([`BatchBook::holders`]).
    pub fn margin_accounts(&self, book: &BatchBook, accounts: &[u32], out: &mut [f64]) {
        out.par_chunks_mut(2048)
            .zip(accounts.par_chunks(2048))
            .for_each_init(
                || self.buffers(),
                |buf, (o, a)| {
                    for (x, &i) in o.iter_mut().zip(a) {
                        *x = self.account(book.legs(i as usize), buf);
                    }
                },
            );
    }

    /// Pooled requirement of every account of `book` into `out` (one slot per account), in parallel.
    pub fn margin_all(&self, book: &BatchBook, out: &mut [f64]) {
        out.par_chunks_mut(2048).enumerate().for_each_init(
            || self.buffers(),
            |buf, (c, chunk)| {
                for (k, o) in chunk.iter_mut().enumerate() {
                    *o = self.account(book.legs(c * 2048 + k), buf);
                }
            },
        );
    }
}

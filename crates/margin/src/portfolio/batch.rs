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

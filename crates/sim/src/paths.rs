//! Price paths: correlated GBM with Merton jumps and GARCH(1,1) variance, or a bootstrap of
//! historical log returns. Deterministic: path `i` draws from ChaCha8 stream `i` of the seed,
//! so results do not depend on the number of threads.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::config::{Config, Process};
use crate::error::SimError;

/// Seconds in a 365-day year.
pub const SECONDS_PER_YEAR: f64 = 365.0 * 24.0 * 3600.0;

/// Lower-triangular Cholesky factor of a symmetric positive-definite matrix.
pub fn cholesky(a: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, String> {
    let n = a.len();
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..n {
            if (a[i][j] - a[j][i]).abs() > 1e-12 {
                return Err(format!("not symmetric at [{i}][{j}]"));
            }
        }
        if (a[i][i] - 1.0).abs() > 1e-12 {
            return Err(format!("diagonal [{i}][{i}] must be 1, got {}", a[i][i]));
        }
    }
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                let d = a[i][i] - s;
                if d <= 0.0 {
                    return Err(format!("not positive definite (pivot {i})"));
                }
                l[i][j] = d.sqrt();
            } else {
                l[i][j] = (a[i][j] - s) / l[j][j];
            }
        }
    }
    Ok(l)
}

/// Historical log returns, one row per period, one column per config asset.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// `returns[row][asset]`.
    pub returns: Vec<Vec<f64>>,
}

impl History {
    /// Reads a CSV of prices with a header naming (at least) every asset; other columns
    /// (a timestamp) are ignored. `file` names the source in errors.
    pub fn from_csv(text: &str, assets: &[String], file: &str) -> Result<History, SimError> {
        let herr = |reason: String| SimError::History {
            file: file.to_string(),
            reason,
        };
        let mut rdr = csv::Reader::from_reader(text.as_bytes());
        let header = rdr
            .headers()
            .map_err(|e| herr(format!("header: {e}")))?
            .clone();
        let cols: Vec<usize> = assets
            .iter()
            .map(|a| {
                header
                    .iter()
                    .position(|h| h.trim() == a)
                    .ok_or_else(|| herr(format!("no column named {a:?}")))
            })
            .collect::<Result<_, _>>()?;
        let mut prev: Option<Vec<f64>> = None;
        let mut returns = Vec::new();
        for (i, rec) in rdr.records().enumerate() {
            let rec = rec.map_err(|e| herr(format!("row {}: {e}", i + 2)))?;
            let prices: Vec<f64> = cols
                .iter()
                .zip(assets)
                .map(|(c, a)| {
                    let raw = rec.get(*c).unwrap_or("").trim();
                    raw.parse::<f64>()
                        .ok()
                        .filter(|p| p.is_finite() && *p > 0.0)
                        .ok_or_else(|| {
                            herr(format!(
                                "row {}, column {a:?}: not a positive price: {raw:?}",
                                i + 2
                            ))
                        })
                })
                .collect::<Result<_, _>>()?;
            if let Some(p) = &prev {
                returns.push(prices.iter().zip(p).map(|(x, y)| (x / y).ln()).collect());
            }
            prev = Some(prices);
        }
        if returns.is_empty() {
            return Err(herr("need at least two rows of prices".into()));
        }
        Ok(History { returns })
    }
}

/// Per-step constants of the generator, shared by all paths.
#[derive(Debug, Clone)]
pub struct PathModel {
    n: usize,
    chol: Vec<Vec<f64>>,
    dt: f64,
    drift_dt: Vec<f64>,
    long_var: Vec<f64>,
    garch_a: Vec<f64>,
    garch_b: Vec<f64>,
    jump_p: Vec<f64>,
    jump_mean: Vec<f64>,
    jump_std: Vec<f64>,
    /// Deterministic log move per asset per step (shocks), flattened `[step * n + asset]`.
    shock: Vec<f64>,
    history: Option<(History, usize)>,
    /// Mean intrastep wick per step and asset (log, exponential), flattened `[step * n + asset]`:
    /// the asset's own plus its shocks'; all zero: no wicks drawn.
    wick: Vec<f64>,
    seed: u64,
    /// Starting prices.
    pub start: Vec<f64>,
}

/// One path's evolving state.
#[derive(Debug, Clone)]
pub struct PathState {
    rng: ChaCha8Rng,
    var: Vec<f64>,
    last_eps: Vec<f64>,
    z: Vec<f64>,
    block_row: usize,
    block_left: usize,
    /// Its own stream for the wicks (paths without wicks draw nothing from it).
    wick_rng: ChaCha8Rng,
    /// This step's wicks per asset: log distance of the low below and the high above the close.
    pub wick_down: Vec<f64>,
    /// See `wick_down`.
    pub wick_up: Vec<f64>,
    /// Whether this step reached its high before its low.
    pub up_first: bool,
    /// Current log prices (before impact).
    pub log_price: Vec<f64>,
}

impl PathModel {
    /// Builds the generator; `history` is required for the bootstrap process.
    pub fn new(c: &Config, history: Option<History>) -> Result<PathModel, SimError> {
        let n = c.assets.len();
        let ident: Vec<Vec<f64>> = (0..n)
            .map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
            .collect();
        let chol = cholesky(c.correlation.as_ref().unwrap_or(&ident))
            .map_err(|r| crate::error::cfg("correlation", r))?;
        let dt = c.dt_seconds / SECONDS_PER_YEAR;
        let mut shock = vec![0.0; c.steps * n];
        for s in &c.shocks {
            let a = c.asset_index(&s.asset).unwrap_or(0);
            let per = (1.0 + s.total_return).ln() / s.steps as f64;
            for t in s.start_step..(s.start_step + s.steps).min(c.steps) {
                shock[t * n + a] += per;
            }
        }
        let history = match &c.process {
            Process::Gbm => None,
            Process::Bootstrap { block, .. } => Some((
                history.ok_or_else(|| {
                    crate::error::cfg("process.csv", "bootstrap needs the price history")
                })?,
                (*block).max(1),
            )),
        };
        Ok(PathModel {
            n,
            chol,
            dt,
            drift_dt: c
                .assets
                .iter()
                .map(|a| {
                    // Compensated so the jump part has zero mean: −λ·(e^{μ+σ²/2} − 1)·dt.
                    let kappa = (a.jump_mean + 0.5 * a.jump_std * a.jump_std).exp() - 1.0;
                    (a.drift - 0.5 * a.vol * a.vol - a.jump_intensity * kappa) * dt
                })
                .collect(),
            long_var: c.assets.iter().map(|a| a.vol * a.vol * dt).collect(),
            garch_a: c.assets.iter().map(|a| a.garch_alpha).collect(),
            garch_b: c.assets.iter().map(|a| a.garch_beta).collect(),
            jump_p: c
                .assets
                .iter()
                .map(|a| 1.0 - (-a.jump_intensity * dt).exp())
                .collect(),
            jump_mean: c.assets.iter().map(|a| a.jump_mean).collect(),
            jump_std: c.assets.iter().map(|a| a.jump_std).collect(),
            shock,
            history,
            wick: {
                let mut w: Vec<f64> = (0..c.steps)
                    .flat_map(|_| c.assets.iter().map(|a| a.wick))
                    .collect();
                for s in &c.shocks {
                    let a = c.asset_index(&s.asset).unwrap_or(0);
                    for t in s.start_step..(s.start_step + s.steps).min(c.steps) {
                        w[t * n + a] += s.wick;
                    }
                }
                w
            },
            seed: c.seed,
            start: c.assets.iter().map(|a| a.price).collect(),
        })
    }

    /// Number of assets.
    pub fn assets(&self) -> usize {
        self.n
    }

    /// Fresh state for path `index`.
    pub fn start_path(&self, index: u64) -> PathState {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(index);
        // The wicks' own stream: a path with wicks keeps the price path it has without them.
        let mut wick_rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0x5749_434b_5749_434b);
        wick_rng.set_stream(index);
        PathState {
            rng,
            wick_rng,
            wick_down: vec![0.0; self.n],
            wick_up: vec![0.0; self.n],
            up_first: false,
            var: self.long_var.clone(),
            last_eps: vec![0.0; self.n],
            z: vec![0.0; self.n],
            block_row: 0,
            block_left: 0,
            log_price: self.start.iter().map(|p| p.ln()).collect(),
        }
    }

    /// Whether any asset has intrastep wicks.
    pub fn has_wicks(&self) -> bool {
        self.wick.iter().any(|w| *w > 0.0)
    }

    /// Advances the path by one step (`step` indexes the deterministic shocks), drawing the
    /// step's wicks when the config has any.
    pub fn step(&self, s: &mut PathState, step: usize) {
        if self.has_wicks() {
            s.up_first = s.wick_rng.gen::<bool>();
            for a in 0..self.n {
                let m = self.wick.get(step * self.n + a).copied().unwrap_or(0.0);
                // Exponential with mean m: −m·ln(U), U in (0, 1].
                let draw = |r: &mut ChaCha8Rng| -m * (1.0 - r.gen::<f64>()).ln();
                s.wick_down[a] = draw(&mut s.wick_rng);
                s.wick_up[a] = draw(&mut s.wick_rng);
            }
        }
        self.advance(s, step);
    }

    fn advance(&self, s: &mut PathState, step: usize) {
        let n = self.n;
        if let Some((h, block)) = &self.history {
            if s.block_left == 0 {
                s.block_row = s.rng.gen_range(0..h.returns.len());
                s.block_left = *block;
            }
            let row = &h.returns[s.block_row % h.returns.len()];
            for (a, r) in row.iter().enumerate() {
                s.log_price[a] += r + self.shock.get(step * n + a).copied().unwrap_or(0.0);
            }
            s.block_row += 1;
            s.block_left -= 1;
            return;
        }
        for a in 0..n {
            s.z[a] = s.rng.sample(StandardNormal);
        }
        for a in 0..n {
            // Correlate: eps = L z.
            let mut e = 0.0;
            for (k, zk) in s.z.iter().enumerate().take(a + 1) {
                e += self.chol[a][k] * zk;
            }
            // GARCH(1,1): var_t = ω + α·(σ_{t-1} ε_{t-1})² + β·var_{t-1}, ω = (1 − α − β)·long_var.
            let (ga, gb) = (self.garch_a[a], self.garch_b[a]);
            if ga > 0.0 || gb > 0.0 {
                let shock2 = s.var[a] * s.last_eps[a] * s.last_eps[a];
                s.var[a] = (1.0 - ga - gb) * self.long_var[a] + ga * shock2 + gb * s.var[a];
            }
            s.last_eps[a] = e;
            let mut r = self.drift_dt[a] + s.var[a].sqrt() * e;
            if self.jump_p[a] > 0.0 && s.rng.gen::<f64>() < self.jump_p[a] {
                let j: f64 = s.rng.sample(StandardNormal);
                r += self.jump_mean[a] + self.jump_std[a] * j;
            }
            r += self.shock.get(step * n + a).copied().unwrap_or(0.0);
            s.log_price[a] += r;
        }
        let _ = self.dt;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_of_a_2x2_correlation_matches_the_closed_form() {
        // [[1, ρ], [ρ, 1]] = L Lᵀ with L = [[1, 0], [ρ, √(1 − ρ²)]].
        let l = cholesky(&[vec![1.0, 0.6], vec![0.6, 1.0]]).unwrap();
        assert!((l[1][0] - 0.6).abs() < 1e-12);
        assert!((l[1][1] - 0.8).abs() < 1e-12);
        assert!(cholesky(&[vec![1.0, 1.2], vec![1.2, 1.0]]).is_err());
        assert!(cholesky(&[vec![1.0, 0.2], vec![0.3, 1.0]]).is_err());
    }

    #[test]
    fn history_reads_named_columns_and_reports_bad_rows() {
        let h =
            History::from_csv("ts,ETH\n1,100\n2,110\n3,99\n", &["ETH".into()], "h.csv").unwrap();
        assert_eq!(h.returns.len(), 2);
        assert!((h.returns[0][0] - (1.1f64).ln()).abs() < 1e-12);
        let e = History::from_csv("ts,ETH\n1,100\n2,x\n", &["ETH".into()], "h.csv")
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 3") && e.contains("ETH"), "{e}");
        let e = History::from_csv("ts,BTC\n1,1\n", &["ETH".into()], "h.csv")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no column named \"ETH\""), "{e}");
    }
}

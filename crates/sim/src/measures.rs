//! Tail measures with confidence intervals: VaR from order statistics (binomial interval on
//! the order-statistic index), expected shortfall with a deterministic percentile bootstrap.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// An estimate with a 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Point estimate.
    pub value: f64,
    /// Lower 95% bound.
    pub ci_low: f64,
    /// Upper 95% bound.
    pub ci_high: f64,
}

/// VaR and ES at 99% and 99.9%.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Tail {
    /// Value at risk, 99%.
    pub var_99: Estimate,
    /// Value at risk, 99.9%.
    pub var_999: Estimate,
    /// Expected shortfall, 99%.
    pub es_99: Estimate,
    /// Expected shortfall, 99.9%.
    pub es_999: Estimate,
}

/// 1-based rank of the q-quantile in a sample of n: ⌈n·q⌉ (at least 1).
fn rank(n: usize, q: f64) -> usize {
    ((n as f64 * q).ceil() as usize).clamp(1, n)
}

/// VaR at level `q` of an ascending-sorted sample: the ⌈nq⌉-th order statistic.
pub fn var_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[rank(sorted.len(), q) - 1]
}

/// ES at level `q`: the mean of the order statistics from the VaR rank up.
pub fn es_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let k = rank(sorted.len(), q) - 1;
    let tail = &sorted[k..];
    tail.iter().sum::<f64>() / tail.len() as f64
}

/// VaR with the distribution-free interval: ranks `nq ∓ 1.96·√(nq(1−q))`.
pub fn var_estimate(sorted: &[f64], q: f64) -> Estimate {
    let n = sorted.len();
    if n == 0 {
        return Estimate {
            value: 0.0,
            ci_low: 0.0,
            ci_high: 0.0,
        };
    }
    let nq = n as f64 * q;
    let half = 1.96 * (nq * (1.0 - q)).sqrt();
    let lo = ((nq - half).floor() as isize).clamp(1, n as isize) as usize;
    let hi = ((nq + half).ceil() as isize).clamp(1, n as isize) as usize;
    Estimate {
        value: var_sorted(sorted, q),
        ci_low: sorted[lo - 1],
        ci_high: sorted[hi - 1],
    }
}

/// ES with a 2.5%–97.5% percentile bootstrap (`resamples` draws, seeded).
pub fn es_estimate(sorted: &[f64], q: f64, resamples: usize, seed: u64) -> Estimate {
    let n = sorted.len();
    let value = es_sorted(sorted, q);
    if n == 0 || resamples == 0 {
        return Estimate {
            value,
            ci_low: value,
            ci_high: value,
        };
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut stats = Vec::with_capacity(resamples);
    let mut buf = vec![0.0; n];
    for _ in 0..resamples {
        for b in buf.iter_mut() {
            *b = sorted[rng.gen_range(0..n)];
        }
        buf.sort_by(f64::total_cmp);
        stats.push(es_sorted(&buf, q));
    }
    stats.sort_by(f64::total_cmp);
    Estimate {
        value,
        ci_low: stats[((resamples as f64 * 0.025) as usize).min(resamples - 1)],
        ci_high: stats[((resamples as f64 * 0.975) as usize).min(resamples - 1)],
    }
}

/// All four measures of a sample (any order).
pub fn tail(sample: &[f64], seed: u64) -> Tail {
    let mut s = sample.to_vec();
    s.sort_by(f64::total_cmp);
    Tail {
        var_99: var_estimate(&s, 0.99),
        var_999: var_estimate(&s, 0.999),
        es_99: es_estimate(&s, 0.99, 200, seed),
        es_999: es_estimate(&s, 0.999, 200, seed ^ 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn var_and_es_of_1_to_1000_by_hand() {
        // Sorted 1..=1000: VaR99 = 990th value = 990; ES99 = mean(990..=1000) = 995.
        // VaR99.9 = 999th = 999; ES99.9 = mean(999, 1000) = 999.5.
        let s: Vec<f64> = (1..=1000).map(|x| x as f64).collect();
        assert_eq!(var_sorted(&s, 0.99), 990.0);
        assert_eq!(es_sorted(&s, 0.99), 995.0);
        assert_eq!(var_sorted(&s, 0.999), 999.0);
        assert_eq!(es_sorted(&s, 0.999), 999.5);
    }

    #[test]
    fn var_interval_uses_binomial_ranks() {
        // n = 1000, q = 0.99: nq = 990, half-width 1.96·√9.9 = 6.17 → ranks 983 and 997.
        let s: Vec<f64> = (1..=1000).map(|x| x as f64).collect();
        let e = var_estimate(&s, 0.99);
        assert_eq!((e.ci_low, e.ci_high), (983.0, 997.0));
    }

    #[test]
    fn es_interval_brackets_the_estimate() {
        let s: Vec<f64> = (1..=1000).map(|x| (x as f64).powi(2)).collect();
        let e = es_estimate(&s, 0.99, 200, 7);
        assert!(e.ci_low <= e.value && e.value <= e.ci_high, "{e:?}");
    }
}

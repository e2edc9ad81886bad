//! Implied-volatility surface from venue quotes.
//!
//! * **Within an expiry** the smile is linear in vol against log-moneyness `m = ln(K/F)` between
//!   quoted strikes and flat (constant vol) outside them. Without per-expiry forwards the
//!   coordinate is `ln K` (sticky strike), which is log-moneyness up to a constant shift.
//! * **Across expiries** total variance `w = σ²T` is interpolated linearly in `T` at fixed
//!   log-moneyness, the scheme that keeps the surface free of calendar arbitrage whenever the
//!   quotes are. Before the first and after the last expiry the vol is held constant.
//! * **Calendar check**: total variance must not fall with `T` at fixed moneyness; where the
//!   quotes make it fall, [`VolSurface::calendar_warnings`] says where and by how much. A warning,
//!   not an error: venues do publish such quotes and margin must still be computed.

use intermargin_model::{year_fraction, VolQuote};

use crate::black76::PricingError;

/// One expiry's smile: sorted log-moneyness nodes and their vols.
#[derive(Debug, Clone, PartialEq)]
struct Smile {
    expiry_ms: i64,
    years: f64,
    /// ln(F) of this expiry (0 when built without forwards: nodes are then ln K).
    ln_forward: f64,
    x: Vec<f64>,
    vol: Vec<f64>,
}

impl Smile {
    /// Vol at log-moneyness `m`: linear between nodes, flat beyond them.
    fn vol_at(&self, m: f64) -> f64 {
        let (x, v) = (&self.x, &self.vol);
        let last = x.len() - 1;
        if m <= x[0] {
            return v[0];
        }
        if m >= x[last] {
            return v[last];
        }
        let j = x.partition_point(|&xi| xi <= m); // x[j-1] <= m < x[j]
        let w = (m - x[j - 1]) / (x[j] - x[j - 1]);
        v[j - 1] + w * (v[j] - v[j - 1])
    }

    fn total_var_at(&self, m: f64) -> f64 {
        let s = self.vol_at(m);
        s * s * self.years
    }
}

/// An implied-vol surface for one underlying, built once from quotes and queried many times.
#[derive(Debug, Clone, PartialEq)]
pub struct VolSurface {
    now_ms: i64,
    with_forwards: bool,
    smiles: Vec<Smile>,
    warnings: Vec<String>,
}

impl VolSurface {
    /// Surface from quotes with strikes as the smile coordinate (sticky strike).
    ///
    /// Errors name the offending quote (`quotes[3].iv: must be > 0`): expiry at or before
    /// `now_ms`, non-positive or non-finite strike or vol, or a strike quoted twice for one expiry.
    pub fn from_quotes(now_ms: i64, quotes: &[VolQuote]) -> Result<VolSurface, PricingError> {
        Self::build(now_ms, quotes, None)
    }

    /// Surface whose smiles are in log-moneyness against each expiry's forward.
    ///
    /// `forward_of(expiry_ms)` gives the forward of that expiry (e.g. the dated future's mark);
    /// a non-positive or non-finite forward is an error naming the expiry's first quote.
    pub fn from_quotes_with_forwards(
        now_ms: i64,
        quotes: &[VolQuote],
        forward_of: impl Fn(i64) -> f64,
    ) -> Result<VolSurface, PricingError> {
        Self::build(now_ms, quotes, Some(&forward_of))
    }

    fn build(
        now_ms: i64,
        quotes: &[VolQuote],
        forward_of: Option<&dyn Fn(i64) -> f64>,
    ) -> Result<VolSurface, PricingError> {
        if quotes.is_empty() {
            return Err(PricingError::NoQuotes);
        }
        let bad = |index, field, reason, value| PricingError::BadQuote {
            index,
            field,
            reason,
            value,
        };
        for (i, q) in quotes.iter().enumerate() {
            if q.expiry_ms <= now_ms {
                return Err(bad(
                    i,
                    "expiry_ms",
                    "must be after the surface time (option expired)",
                    q.expiry_ms as f64,
                ));
            }
            if !(q.strike.is_finite() && q.strike > 0.0) {
                return Err(bad(i, "strike", "must be a finite number > 0", q.strike));
            }
            if !(q.iv.is_finite() && q.iv > 0.0) {
                return Err(bad(i, "iv", "must be a finite number > 0", q.iv));
            }
            if q.iv > crate::black76::MAX_VOL {
                return Err(bad(i, "iv", crate::black76::VOL_TOO_HIGH, q.iv));
            }
        }
        let mut order: Vec<usize> = (0..quotes.len()).collect();
        order.sort_by(|&a, &b| {
            (quotes[a].expiry_ms, quotes[a].strike)
                .partial_cmp(&(quotes[b].expiry_ms, quotes[b].strike))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let mut smiles: Vec<Smile> = Vec::new();
        for (pos, &i) in order.iter().enumerate() {
            let q = &quotes[i];
            if pos > 0 {
                let p = &quotes[order[pos - 1]];
                if p.expiry_ms == q.expiry_ms && p.strike == q.strike {
                    return Err(bad(
                        i,
                        "strike",
                        "is quoted twice for the same expiry",
                        q.strike,
                    ));
                }
            }
            if smiles.last().map(|s| s.expiry_ms) != Some(q.expiry_ms) {
                let ln_forward = match forward_of {
                    None => 0.0,
                    Some(fwd) => {
                        let f = fwd(q.expiry_ms);
                        if !(f.is_finite() && f > 0.0) {
                            return Err(bad(i, "expiry_ms", "has no finite positive forward", f));
                        }
                        f.ln()
                    }
                };
                smiles.push(Smile {
                    expiry_ms: q.expiry_ms,
                    years: year_fraction(now_ms, q.expiry_ms),
                    ln_forward,
                    x: Vec::new(),
                    vol: Vec::new(),
                });
            }
            if let Some(s) = smiles.last_mut() {
                s.x.push(q.strike.ln() - s.ln_forward);
                s.vol.push(q.iv);
            }
        }
        let warnings = calendar_check(&smiles);
        Ok(VolSurface {
            now_ms,
            with_forwards: forward_of.is_some(),
            smiles,
            warnings,
        })
    }

    /// Implied vol for `strike` at `expiry_ms`, with `forward` the forward of that expiry.
    ///
    /// The forward sets the log-moneyness at which each bracketing smile is read (ignored by a
    /// sticky-strike surface built with [`VolSurface::from_quotes`]). Total variance is
    /// interpolated linearly in time; before the first and after the last expiry the vol of that
    /// expiry is held. An expiry at or before the surface time returns the first expiry's vol.
    pub fn vol(&self, expiry_ms: i64, strike: f64, forward: f64) -> f64 {
        let m = if self.with_forwards {
            (strike / forward).ln()
        } else {
            strike.ln()
        };
        let first = &self.smiles[0];
        let last = &self.smiles[self.smiles.len() - 1];
        if expiry_ms <= first.expiry_ms {
            return first.vol_at(m);
        }
        if expiry_ms >= last.expiry_ms {
            return last.vol_at(m);
        }
        let j = self.smiles.partition_point(|s| s.expiry_ms <= expiry_ms);
        let (a, b) = (&self.smiles[j - 1], &self.smiles[j]);
        let t = year_fraction(self.now_ms, expiry_ms);
        let u = (t - a.years) / (b.years - a.years);
        let w = a.total_var_at(m) + u * (b.total_var_at(m) - a.total_var_at(m));
        (w.max(0.0) / t).sqrt()
    }

    /// Expiries (UTC ms) that carry quotes, ascending.
    pub fn expiries(&self) -> Vec<i64> {
        self.smiles.iter().map(|s| s.expiry_ms).collect()
    }

    /// Where total variance falls with expiry at fixed moneyness (calendar arbitrage), one
    /// message per offending pair of consecutive expiries; empty for a clean surface.
    pub fn calendar_warnings(&self) -> &[String] {
        &self.warnings
    }
}

/// Compares consecutive smiles at every node of either: `w(T2, m) < w(T1, m)` is an arbitrage.
fn calendar_check(smiles: &[Smile]) -> Vec<String> {
    let mut out = Vec::new();
    for pair in smiles.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let mut worst: Option<(f64, f64, f64)> = None;
        for &m in a.x.iter().chain(b.x.iter()) {
            let (wa, wb) = (a.total_var_at(m), b.total_var_at(m));
            // Relative tolerance: quotes are rounded (Deribit publishes 2 decimals of %).
            if wb < wa * (1.0 - 1e-9) && worst.is_none_or(|(_, x, y)| wa - wb > x - y) {
                worst = Some((m, wa, wb));
            }
        }
        if let Some((m, wa, wb)) = worst {
            out.push(format!(
                "calendar arbitrage: total variance falls from {wa:.6} (expiry {}) to {wb:.6} \
                 (expiry {}) at log-moneyness {m:.4}",
                a.expiry_ms, b.expiry_ms
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn q(expiry_ms: i64, strike: f64, iv: f64) -> VolQuote {
        VolQuote {
            expiry_ms,
            strike,
            iv,
        }
    }

    #[test]
    fn within_an_expiry_vol_is_linear_in_log_strike_and_flat_outside() {
        let e = 30 * DAY;
        let s = VolSurface::from_quotes(0, &[q(e, 100.0, 0.5), q(e, 400.0, 0.7)]).unwrap();
        // 200 is halfway between 100 and 400 in ln K: ln 2 / ln 4 = 1/2 → 0.6.
        assert!((s.vol(e, 200.0, 150.0) - 0.6).abs() < 1e-15);
        assert_eq!(s.vol(e, 50.0, 150.0), 0.5);
        assert_eq!(s.vol(e, 1000.0, 150.0), 0.7);
        assert!(s.calendar_warnings().is_empty());
    }

    #[test]
    fn across_expiries_total_variance_is_linear_in_time() {
        // 0.5 vol at 0.25y: w = 0.0625; 0.4 vol at 1y: w = 0.16.
        let t1 = (0.25 * intermargin_model::MS_PER_YEAR) as i64;
        let t2 = intermargin_model::MS_PER_YEAR as i64;
        let s = VolSurface::from_quotes(0, &[q(t1, 100.0, 0.5), q(t2, 100.0, 0.4)]).unwrap();
        // At 0.625y (halfway): w = (0.0625 + 0.16)/2 = 0.11125 → σ = sqrt(0.11125/0.625) = 0.42190046...
        let mid = (0.625 * intermargin_model::MS_PER_YEAR) as i64;
        let v = s.vol(mid, 100.0, 100.0);
        assert!((v - (0.111_25_f64 / 0.625).sqrt()).abs() < 1e-12, "{v}");
        assert!((v - 0.421_900_462_2).abs() < 1e-9);
        // Flat extrapolation in time: constant vol before the first and after the last expiry.
        assert_eq!(s.vol(t1 / 2, 100.0, 100.0), 0.5);
        assert_eq!(s.vol(3 * t2, 100.0, 100.0), 0.4);
        assert!(s.calendar_warnings().is_empty());
    }

    #[test]
    fn falling_total_variance_is_reported_as_calendar_arbitrage() {
        // 0.8 at 30d (w = 0.0526) then 0.3 at 60d (w = 0.0148): total variance falls.
        let s = VolSurface::from_quotes(
            0,
            &[
                q(30 * DAY, 100.0, 0.8),
                q(60 * DAY, 100.0, 0.3),
                q(90 * DAY, 100.0, 0.5),
            ],
        )
        .unwrap();
        let w = s.calendar_warnings();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("calendar arbitrage") && w[0].contains(&(30 * DAY).to_string()));
    }

    #[test]
    fn forwards_make_the_smile_sticky_moneyness() {
        let (e1, e2) = (30 * DAY, 60 * DAY);
        let quotes = [
            q(e1, 100.0, 0.5),
            q(e1, 120.0, 0.6),
            q(e2, 110.0, 0.5),
            q(e2, 132.0, 0.6),
        ];
        let fwd = |e: i64| if e == e1 { 100.0 } else { 110.0 };
        let s = VolSurface::from_quotes_with_forwards(0, &quotes, fwd).unwrap();
        // Each smile is 0.5 at the money and 0.6 at K/F = 1.2: same in moneyness for both expiries.
        let mid = 45 * DAY;
        assert!((s.vol(mid, 105.0, 105.0) - 0.5).abs() < 1e-12);
        assert!((s.vol(mid, 126.0, 105.0) - 0.6).abs() < 1e-12);
    }

    #[test]
    fn bad_quotes_are_named() {
        let e = VolSurface::from_quotes(0, &[]).unwrap_err();
        assert!(e.to_string().starts_with("quotes:"));
        let e = VolSurface::from_quotes(DAY, &[q(2 * DAY, 100.0, 0.5), q(DAY, 100.0, 0.5)])
            .unwrap_err();
        assert!(e.to_string().starts_with("quotes[1].expiry_ms:"), "{e}");
        let e =
            VolSurface::from_quotes(0, &[q(DAY, 100.0, 0.5), q(DAY, 90.0, f64::NAN)]).unwrap_err();
        assert!(e.to_string().starts_with("quotes[1].iv:"), "{e}");
        let e = VolSurface::from_quotes(0, &[q(DAY, -1.0, 0.5)]).unwrap_err();
        assert!(e.to_string().starts_with("quotes[0].strike:"), "{e}");
        let e = VolSurface::from_quotes(0, &[q(DAY, 100.0, 0.5), q(DAY, 100.0, 0.6)]).unwrap_err();
        assert!(e.to_string().contains("quoted twice"), "{e}");
    }
}

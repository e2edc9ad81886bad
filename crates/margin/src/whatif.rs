//! The pre-trade what-if: each venue's own margin, the unified requirement and the first venue to
//! liquidate, before and after a set of trades, from two runs of the same margin computation
//! (on the book as it is and on the book with the trades applied).

use std::collections::BTreeMap;

use intermargin_model::Venue;
use serde::Serialize;

use crate::error::MarginError;
use crate::portfolio::UnifiedMargin;
use crate::report::VenueMargin;

/// One venue's figures on one side of the trade, in the quote currency.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VenueSide {
    /// Σ of the venue's pools' initial margin.
    pub initial_margin: f64,
    /// Σ of the venue's pools' maintenance margin.
    pub maintenance_margin: f64,
    /// The part of `initial_margin` the venue reserves for open orders (orders stay open across
    /// the what-if; a trade that changes the position changes what they reserve).
    pub orders_initial_margin: f64,
    /// Σ equity − Σ initial margin: room left to open risk (negative: short of initial margin).
    pub available: f64,
    /// Signed move of the venue's main underlying at which it starts liquidating (the unified
    /// model's `liquidation_move`); `null` when no move up to −99 % / +500 % reaches it.
    pub liquidation_move: Option<f64>,
}

/// One venue before and after, and whether it would refuse the order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VenueWhatIf {
    /// Venue.
    pub venue: Venue,
    /// On the book as it is.
    pub before: VenueSide,
    /// With the trades applied.
    pub after: VenueSide,
    /// True when the venue would reject the order for lack of margin.
    pub refused: bool,
    /// Why it would refuse (`null` when it would not).
    pub reason: Option<String>,
}

/// The unified figures on one side.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct UnifiedSide {
    /// Unified initial requirement.
    pub initial_margin: f64,
    /// Unified maintenance requirement.
    pub maintenance_margin: f64,
    /// Siloed baseline − unified initial margin.
    pub saving: f64,
}

/// A pair of figures before and after the trades.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BeforeAfter<T> {
    /// On the book as it is.
    pub before: T,
    /// With the trades applied.
    pub after: T,
}

/// The what-if verdict (JSON names as issue #17 specifies them).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatIf {
    /// Every venue the book touches before or after, in [`Venue`] order.
    pub venues: Vec<VenueWhatIf>,
    /// The unified requirement and saving.
    pub unified: BeforeAfter<UnifiedSide>,
    /// The segregated venue whose liquidation move is smallest.
    pub liquidates_first: BeforeAfter<Option<Venue>>,
}

/// One side's margin: each venue's own pools and the unified verdict.
pub struct Side<'a> {
    /// Each venue's own pools (`venue_margins`).
    pub venues: &'a [VenueMargin],
    /// The unified model's verdict.
    pub unified: &'a UnifiedMargin,
}

fn per_venue(side: &Side<'_>) -> Result<BTreeMap<Venue, VenueSide>, MarginError> {
    let mut out: BTreeMap<Venue, VenueSide> = BTreeMap::new();
    for m in side.venues {
        let q = m.quote()?;
        let v = out.entry(m.venue).or_default();
        v.initial_margin += q.initial_margin;
        v.maintenance_margin += q.maintenance_margin;
        v.orders_initial_margin += q.orders_initial_margin;
        v.available += q.equity - q.initial_margin;
    }
    for c in &side.unified.venues {
        if let Some(v) = out.get_mut(&c.venue) {
            v.liquidation_move = c.liquidation_move;
        }
    }
    Ok(out)
}

/// Why a traded venue would refuse: a pool whose initial margin the trades raise above its
/// equity. Venues accept orders that lower a pool's initial margin even when it is short (they
/// reduce risk), so only a rise counts.
fn refusal(venue: Venue, before: &[VenueMargin], after: &[VenueMargin]) -> Option<String> {
    let reasons: Vec<String> = after
        .iter()
        .filter(|a| a.venue == venue)
        .filter_map(|a| {
            let was = before
                .iter()
                .find(|b| b.venue == venue && b.pool == a.pool && b.settlement == a.settlement)
                .map(|b| b.initial_margin)
                .unwrap_or(0.0);
            let rises = a.initial_margin > was + 1e-9 * was.abs().max(1.0);
            (rises && a.initial_margin > a.equity).then(|| {
                format!(
                    "{venue} {} pool ({}): initial margin {:.8} after the trade exceeds equity {:.8}",
                    a.pool, a.settlement, a.initial_margin, a.equity
                )
            })
        })
        .collect();
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

/// The what-if from the margin of the book before and after; `traded` are the venues the trades
/// go to (only they can refuse).
pub fn compare(
    before: &Side<'_>,
    after: &Side<'_>,
    traded: &[Venue],
) -> Result<WhatIf, MarginError> {
    let b = per_venue(before)?;
    let a = per_venue(after)?;
    let mut names: Vec<Venue> = b.keys().chain(a.keys()).copied().collect();
    names.sort();
    names.dedup();
    let venues = names
        .into_iter()
        .map(|v| {
            let reason = if traded.contains(&v) {
                refusal(v, before.venues, after.venues)
            } else {
                None
            };
            VenueWhatIf {
                venue: v,
                before: b.get(&v).cloned().unwrap_or_default(),
                after: a.get(&v).cloned().unwrap_or_default(),
                refused: reason.is_some(),
                reason,
            }
        })
        .collect();
    let unified = |u: &UnifiedMargin| UnifiedSide {
        initial_margin: u.initial_margin,
        maintenance_margin: u.maintenance_margin,
        saving: u.saving,
    };
    Ok(WhatIf {
        venues,
        unified: BeforeAfter {
            before: unified(before.unified),
            after: unified(after.unified),
        },
        liquidates_first: BeforeAfter {
            before: before.unified.liquidates_first,
            after: after.unified.liquidates_first,
        },
    })
}

//! Margin history: each account's equity, siloed and unified requirements and saving over time,
//! kept in the ledger's `margin_history` table so that the dashboard's history chart survives a
//! reload or a restart.
//!
//! The live monitor offers every margin update to a [`Recorder`]; it keeps one point per account
//! per step of wall-clock time (and every change of state, so that no margin call falls between
//! two points), and the ledger keeps the newest [`KEEP`] points per account. Figures are the
//! report's own (the engines computed them); nothing is recomputed here.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use intermargin_liquidation::AccountState;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use crate::api::{ensure_exists, principal};
use crate::error::ApiError;
use crate::state::{MarginFigures, Shared};

/// Points kept per account: the oldest beyond it are dropped (about 28 hours at the default
/// 5-second step).
pub const KEEP: i64 = 20_000;
/// Most points one `GET …/history` returns.
pub const MAX_LIMIT: i64 = 5_000;
/// Points returned when `limit` is absent.
pub const DEFAULT_LIMIT: i64 = 1_000;

/// One stored point of an account's margin history, quote currency.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct HistoryPoint {
    /// UTC ms (wall clock) when the monitor computed it.
    pub t_ms: i64,
    /// Market time of the prices it was computed on (UTC ms).
    pub market_ms: i64,
    /// Equity over every venue and the hub.
    pub equity: f64,
    /// Σ of each venue's siloed requirement (each venue alone, same scenarios).
    pub siloed_total: f64,
    /// Unified initial margin.
    pub initial_margin: f64,
    /// Unified maintenance margin.
    pub maintenance_margin: f64,
    /// Siloed total − unified initial margin.
    pub saving: f64,
    /// Account state (`healthy`, `margin_call`, `liquidation`, `bankrupt`).
    pub state: String,
}

impl HistoryPoint {
    /// The point of a report computed at wall time `t_ms`; `None` for a report without figures
    /// (the engines could not margin the account) or with a figure that is not finite.
    pub fn of(m: &MarginFigures, t_ms: i64, market_ms: i64) -> Option<HistoryPoint> {
        let f = &m.figures;
        let h = &m.headline;
        let state = serde_json::to_value(m.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))?;
        let p = HistoryPoint {
            t_ms,
            market_ms,
            equity: f.equity,
            siloed_total: h.siloed_total,
            initial_margin: f.initial,
            maintenance_margin: f.maintenance,
            saving: h.saving,
            state,
        };
        [
            p.equity,
            p.siloed_total,
            p.initial_margin,
            p.maintenance_margin,
            p.saving,
        ]
        .iter()
        .all(|x| x.is_finite())
        .then_some(p)
    }
}

/// Decides which margin updates become history points: the first of an account, then one per
/// `step_ms` of wall time, and any whose state differs from the last point's.
pub struct Recorder {
    step_ms: i64,
    last: std::sync::Mutex<HashMap<String, (i64, Option<AccountState>)>>,
}

impl Recorder {
    /// A recorder keeping one point per `step` (zero keeps every update).
    pub fn new(step: std::time::Duration) -> Recorder {
        Recorder {
            step_ms: i64::try_from(step.as_millis()).unwrap_or(i64::MAX),
            last: Default::default(),
        }
    }

    /// The time to store an update of `account` computed at wall time `now_ms` in `state`
    /// under, or `None` when it is not due. Times of one account strictly increase (an update
    /// in the same millisecond as the last point is stamped a millisecond later), so no point
    /// overwrites another.
    pub fn stamp(&self, account: &str, now_ms: i64, state: Option<AccountState>) -> Option<i64> {
        let mut last = match self.last.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let t = match last.get(account) {
            None => now_ms,
            Some((t, s))
                if *s != state
                    || self.step_ms == 0
                    || now_ms.saturating_sub(*t) >= self.step_ms =>
            {
                now_ms.max(t.saturating_add(1))
            }
            Some(_) => return None,
        };
        last.insert(account.to_string(), (t, state));
        Some(t)
    }
}

/// Range and size of a history query; times are UTC ms (wall clock).
#[derive(Deserialize, IntoParams)]
pub struct HistoryQuery {
    /// Points at or after this time (UTC ms; default: the oldest kept).
    pub from: Option<String>,
    /// Points at or before this time (UTC ms; default: now).
    pub to: Option<String>,
    /// At most this many of the newest points in the range (1-5000, default 1000).
    pub limit: Option<String>,
}

/// Checked range of a history query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// First time included (UTC ms).
    pub from: i64,
    /// Last time included (UTC ms).
    pub to: i64,
    /// Most points returned.
    pub limit: i64,
}

impl HistoryQuery {
    /// The range, or a 400 naming the parameter at fault.
    pub fn range(&self) -> Result<Range, ApiError> {
        fn ms(field: &str, v: &Option<String>, default: i64) -> Result<i64, ApiError> {
            match v {
                None => Ok(default),
                Some(s) => match s.trim().parse::<i64>() {
                    Ok(x) if x >= 0 => Ok(x),
                    _ => Err(ApiError::bad(
                        field,
                        format!("{s:?}: expected a time in UTC milliseconds (an integer ≥ 0)"),
                    )),
                },
            }
        }
        let from = ms("from", &self.from, 0)?;
        let to = ms("to", &self.to, i64::MAX)?;
        if from > to {
            return Err(ApiError::bad("from", format!("{from} is after to ({to})")));
        }
        let limit = match &self.limit {
            None => DEFAULT_LIMIT,
            Some(s) => match s.trim().parse::<i64>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(ApiError::bad(
                        "limit",
                        format!("{s:?}: must be an integer between 1 and {MAX_LIMIT}"),
                    ))
                }
            },
        };
        Ok(Range { from, to, limit })
    }
}

/// An account's margin history from the ledger: equity, siloed and unified requirements and
/// saving, oldest first.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/history", security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id"), HistoryQuery),
    responses((status = 200, description = "Points oldest first (the newest `limit` in the range), quote currency", body = [HistoryPoint]),
        (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_history(
    State(st): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<HistoryQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let p = principal(&st, &headers).await?;
    p.check_account(&id)?;
    ensure_exists(&st, &id).await?;
    let r = q.range()?;
    let points = st.ledger.history(&id, r.from, r.to, r.limit + 1).await?;
    // One more than asked tells whether older points in the range were left out.
    let truncated = points.len() as i64 > r.limit;
    let skip = points.len().saturating_sub(r.limit as usize);
    let points = &points[skip..];
    Ok(Json(json!({
        "account": id,
        "quote": st.market.read().await.quote,
        "keep": KEEP,
        "truncated": truncated,
        "points": points,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(from: Option<&str>, to: Option<&str>, limit: Option<&str>) -> HistoryQuery {
        HistoryQuery {
            from: from.map(str::to_string),
            to: to.map(str::to_string),
            limit: limit.map(str::to_string),
        }
    }

    fn field(e: ApiError) -> String {
        match e {
            ApiError::BadRequest { field, .. } => field,
            other => panic!("not a 400: {other:?}"),
        }
    }

    #[test]
    fn a_query_without_parameters_reads_everything_up_to_the_default_limit() {
        assert_eq!(
            q(None, None, None).range().unwrap(),
            Range {
                from: 0,
                to: i64::MAX,
                limit: DEFAULT_LIMIT
            }
        );
    }

    #[test]
    fn bad_parameters_name_themselves() {
        assert_eq!(field(q(Some("x"), None, None).range().unwrap_err()), "from");
        assert_eq!(field(q(None, Some("-1"), None).range().unwrap_err()), "to");
        assert_eq!(
            field(q(Some("5"), Some("4"), None).range().unwrap_err()),
            "from"
        );
        assert_eq!(
            field(q(None, None, Some("0")).range().unwrap_err()),
            "limit"
        );
        assert_eq!(
            field(q(None, None, Some("5001")).range().unwrap_err()),
            "limit"
        );
        assert_eq!(
            field(q(None, None, Some("1.5")).range().unwrap_err()),
            "limit"
        );
    }

    #[test]
    fn the_recorder_keeps_one_point_per_step_and_every_state_change() {
        let r = Recorder::new(std::time::Duration::from_secs(5));
        let ok = Some(AccountState::Healthy);
        assert_eq!(r.stamp("a", 1_000, ok), Some(1_000), "first point");
        assert_eq!(r.stamp("a", 5_999, ok), None, "within the step");
        assert_eq!(
            r.stamp("b", 2_000, ok),
            Some(2_000),
            "accounts are independent"
        );
        let call = Some(AccountState::MarginCall);
        assert_eq!(r.stamp("a", 3_000, call), Some(3_000), "a state change");
        assert_eq!(r.stamp("a", 7_999, call), None);
        assert_eq!(r.stamp("a", 8_000, call), Some(8_000), "a step later");
        let every = Recorder::new(std::time::Duration::ZERO);
        assert_eq!(every.stamp("a", 1, ok), Some(1));
        assert_eq!(
            every.stamp("a", 1, ok),
            Some(2),
            "same millisecond: one later"
        );
        assert_eq!(every.stamp("a", 1, ok), Some(3));
    }
}

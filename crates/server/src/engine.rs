//! Routes that run the heavier engines: the allocation plan, the liquidation plan, simulations
//! and frontiers, zero-knowledge margin proofs and proof-of-solvency checks.
//!
//! Every figure comes from an engine crate; this module reads the account's book from memory,
//! validates the request and shapes the answer. Work that takes seconds runs as a job
//! ([`crate::jobs`]).

use std::path::{Path as FsPath, PathBuf};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use intermargin_allocate::{allocate, RoutesFile};
use intermargin_liquidation::venue_style::{venue_liquidations, VenueStyleOptions};
use intermargin_liquidation::{
    plan_liquidation, DepthBook, LiquidationPlan, PlannerOptions, RuleBook,
};
use intermargin_margin::portfolio::{GridParams, RequirementKind};
use intermargin_model::{Account, Asset, Market, Portfolio, Position, Venue};
use intermargin_proofs::zk::export::{export_rule, instruments_of, private_book, ExportOptions};
use intermargin_proofs::zk::groth;
use intermargin_proofs::zk::unified::{self, UnifiedExportOptions, UnifiedRule};
use intermargin_proofs::{InclusionProof, MarginProof, MarginRule, SolvencyRoot};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use crate::api::{parse_body, parse_optional_body, principal};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::jobs::{Job, JobView};
use crate::ledger::Mutation;
use crate::state::Shared;

/// Bundled simulation configs a request may name instead of sending TOML.
const PRESETS: [(&str, &str); 3] = [
    ("calm", include_str!("../../../examples/stress/calm.toml")),
    ("crash", include_str!("../../../examples/stress/crash.toml")),
    (
        "oracle-failure",
        include_str!("../../../examples/stress/oracle-failure.toml"),
    ),
];
/// Most paths one simulation request may ask for (bounds the work a key can start).
pub const MAX_SIM_PATHS: usize = 100_000;
/// Most paths per frontier point.
pub const MAX_FRONTIER_PATHS: usize = 20_000;

fn one_of<T: Copy>(
    field: &str,
    value: Option<&str>,
    choices: &[(&str, T)],
    default: T,
) -> Result<T, ApiError> {
    match value {
        None => Ok(default),
        Some(v) => choices
            .iter()
            .find(|(n, _)| *n == v)
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
                ApiError::bad(
                    field,
                    format!("expected one of {}, got {v:?}", names.join(", ")),
                )
            }),
    }
}

fn engine<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> ApiError {
    move |e| ApiError::Engine(format!("{what}: {e}"))
}

/// The account's book (404 unless it exists) with the assets and market to run an engine on.
async fn book_and_market(
    st: &Shared,
    p: &Principal,
    id: &str,
) -> Result<(Account, Vec<Asset>, Market), ApiError> {
    p.check_account(id)?;
    crate::api::ensure_exists(st, id).await?;
    let account = st.book(id).await?;
    let assets = st.assets.read().await.clone();
    let market = st.market.read().await.clone();
    Ok((account, assets, market))
}

/// Options of the allocation plan.
#[derive(Deserialize, IntoParams)]
pub struct AllocationQuery {
    /// `initial` (default) or `maintenance`.
    #[param(pattern = "^(initial|maintenance)$")]
    pub requirement: Option<String>,
    /// What each venue must hold: `auto` (default: local minimums when the routes name a hub),
    /// `siloed` (each venue's own requirement) or `local` (only the local minimum).
    #[param(pattern = "^(auto|siloed|local)$")]
    pub venue_basis: Option<String>,
}

/// Where the account's collateral should sit and the transfers that put it there.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/allocation", security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id"), AllocationQuery),
    responses((status = 200, description = "Targets, transfers, headroom and shortfall"), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_allocation(
    State(st): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<AllocationQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let p = principal(&st, &headers).await?;
    let kind = one_of(
        "requirement",
        q.requirement.as_deref(),
        &[
            ("initial", RequirementKind::Initial),
            ("maintenance", RequirementKind::Maintenance),
        ],
        RequirementKind::Initial,
    )?;
    let basis = one_of(
        "venue_basis",
        q.venue_basis.as_deref(),
        &[
            ("auto", None),
            ("siloed", Some(false)),
            ("local", Some(true)),
        ],
        None,
    )?;
    let (account, assets, market) = book_and_market(&st, &p, &id).await?;
    let routes = st.routes.clone();
    let out = tokio::task::spawn_blocking(move || {
        allocation(&account, assets, &market, &routes, kind, basis)
    })
    .await
    .map_err(engine("allocation"))??;
    Ok(Json(out))
}

/// The allocation plan of one account under `routes` (one source for the API and the dashboard).
pub fn allocation(
    account: &Account,
    assets: Vec<Asset>,
    market: &Market,
    routes: &RoutesFile,
    kind: RequirementKind,
    local_only: Option<bool>,
) -> Result<Value, ApiError> {
    let local = local_only.unwrap_or(routes.unified_location.is_some());
    let unified = crate::risk::unified_model()
        .map_err(ApiError::Engine)?
        .margin(account, &assets, market)
        .map_err(engine("unified margin"))?;
    let (mut venues, total) = unified.location_requirements(kind, local);
    // The unified pool sits at the unified location (the hub): collateral held there is the
    // pool, whose requirement is `total`, not a venue requirement of its own beside it.
    if let Some(hub) = &routes.unified_location {
        venues.retain(|(loc, _)| loc != hub);
    }
    let portfolio = Portfolio {
        assets,
        accounts: Vec::new(),
    };
    let problem = routes
        .problem(&portfolio, account, market, &venues, Some(total))
        .map_err(engine("allocation problem"))?;
    let plan = allocate(&problem).map_err(engine("allocation"))?;
    let kind_name = match kind {
        RequirementKind::Initial => "initial",
        RequirementKind::Maintenance => "maintenance",
    };
    let basis = if local {
        "local floors; pooled requirement at the hub"
    } else {
        "siloed venue margin"
    };
    let mut out = json!({
        "account": account.id,
        "quote": market.quote,
        "requirements_from": format!("margin models ({kind_name}; venues: {basis})"),
    });
    if let (Value::Object(o), Ok(Value::Object(p))) = (&mut out, serde_json::to_value(&plan)) {
        o.extend(p);
    }
    Ok(out)
}

/// Options of the liquidation plan.
#[derive(Deserialize, IntoParams)]
pub struct PlanQuery {
    /// Target buffer over maintenance after the plan (0.05 = equity ≥ 1.05 × maintenance).
    #[param(pattern = "^[0-9]{1,2}(\\.[0-9]{1,6})?$")]
    pub buffer: Option<String>,
    /// dYdX insurance fund balance in USDC for `venue_rules` (absent: assumed to cover every
    /// payout, as `intermargin liquidate --dydx-insurance-fund`).
    #[param(pattern = "^[0-9]{1,15}(\\.[0-9]{1,6})?$")]
    pub dydx_insurance_fund: Option<String>,
}

/// The partial-liquidation plan that restores the account with the least closed, and beside it
/// `venue_rules`: what dYdX, Hyperliquid and Aave themselves would do to each of their pools
/// (the same JSON as `intermargin liquidate --json`).
#[utoipa::path(get, path = "/api/v1/accounts/{id}/liquidation/plan", security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id"), PlanQuery),
    responses((status = 200, description = "State, legs to close, figures after, bad debt; venue_rules: each venue's own liquidation of its pools"), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_liquidation_plan(
    State(st): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<PlanQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let p = principal(&st, &headers).await?;
    let buffer = match q.buffer.as_deref() {
        None => None,
        Some(t) => Some(
            t.parse::<f64>()
                .map_err(|_| ApiError::bad("buffer", format!("expected a number, got {t:?}")))?,
        ),
    };
    let buffer = valid_buffer("buffer", buffer)?;
    let fund = match q.dydx_insurance_fund.as_deref() {
        None => None,
        Some(t) => match t.parse::<f64>() {
            Ok(f) if f.is_finite() && f >= 0.0 => Some(f),
            _ => {
                return Err(ApiError::bad(
                    "dydx_insurance_fund",
                    format!("expected a finite amount ≥ 0, got {t:?}"),
                ))
            }
        },
    };
    p.check_account(&id)?;
    crate::api::ensure_exists(&st, &id).await?;
    let (version, account) = versioned_book(&st, &id).await?;
    let assets = st.assets.read().await.clone();
    let market = st.market.read().await.clone();
    let out = tokio::task::spawn_blocking(move || -> Result<Value, ApiError> {
        let rules = RuleBook::bundled().map_err(engine("liquidation rules"))?;
        let venue_rules = venue_liquidations(
            &account,
            &assets,
            &market,
            &DepthBook::default(),
            &rules,
            VenueStyleOptions {
                dydx_insurance_fund: fund,
            },
        )
        .map_err(engine("venue liquidation rules"))?;
        let plan = liquidation_plan(&account, assets, &market, buffer)?;
        let mut out = json!({"account": account.id, "quote": market.quote, "version": version});
        if let (Value::Object(o), Ok(Value::Object(p))) = (&mut out, serde_json::to_value(&plan)) {
            o.extend(p);
        }
        if let Value::Object(o) = &mut out {
            o.insert(
                "venue_rules".into(),
                serde_json::to_value(&venue_rules).map_err(engine("venue liquidation rules"))?,
            );
        }
        Ok(out)
    })
    .await
    .map_err(engine("liquidation plan"))??;
    Ok(Json(out))
}

/// The partial-liquidation plan of one account (one source for the plan and its execution).
fn liquidation_plan(
    account: &Account,
    assets: Vec<Asset>,
    market: &Market,
    buffer: f64,
) -> Result<LiquidationPlan, ApiError> {
    let rules = RuleBook::bundled().map_err(engine("liquidation rules"))?;
    let req = crate::risk::AssessedRequirement { assets };
    let opts = PlannerOptions {
        buffer,
        ..Default::default()
    };
    plan_liquidation(account, market, &req, &DepthBook::default(), &rules, opts)
        .map_err(engine("liquidation plan"))
}

/// The account's book as stored, with the version (last event sequence number) it is at: read
/// twice around the book so a write in between is noticed and the read repeated.
pub async fn versioned_book(st: &Shared, id: &str) -> Result<(i64, Account), ApiError> {
    for _ in 0..5 {
        let before = st.ledger.account_version(id).await?;
        let account = st.reload_book(id).await?;
        if st.ledger.account_version(id).await? == before {
            return Ok((before, account));
        }
    }
    Err(ApiError::Conflict {
        field: "version".into(),
        reason: "the account kept changing while it was read; retry".into(),
    })
}

/// The planner's buffer over maintenance: 0.05 by default, else a finite number in [0, 10].
fn valid_buffer(field: &str, value: Option<f64>) -> Result<f64, ApiError> {
    match value {
        None => Ok(0.05),
        Some(b) if b.is_finite() && (0.0..=10.0).contains(&b) => Ok(b),
        Some(b) => Err(ApiError::bad(
            field,
            format!("expected a number between 0 and 10, got {b}"),
        )),
    }
}

/// Positions after closing the plan's legs: each leg reduces its instrument's positions toward
/// zero in book order; a position closed entirely is removed. Returns every touched venue.
pub fn positions_after(
    account: &Account,
    plan: &LiquidationPlan,
) -> Result<Vec<(Venue, Vec<Position>)>, ApiError> {
    let mut positions = account.positions.clone();
    let mut touched = std::collections::BTreeSet::new();
    for (k, leg) in plan.plan.iter().enumerate() {
        let mut left = leg.reduce;
        for p in positions
            .iter_mut()
            .filter(|p| p.instrument.id() == leg.instrument)
        {
            if left <= 0.0 {
                break;
            }
            let cut = left.min(p.size.abs());
            let kept = (p.size.abs() - cut) / p.size.abs();
            p.size -= cut * p.size.signum();
            // Venue-reported figures belong to the whole position: the part left keeps its share.
            p.unrealized_pnl = p.unrealized_pnl.map(|u| u * kept);
            p.isolated_margin = p.isolated_margin.map(|m| m * kept);
            left -= cut;
            touched.insert(p.instrument.venue);
        }
        // Rounding of the planner's sizes aside, a leg larger than the book is an engine fault.
        if left > 1e-9 * leg.reduce.max(1.0) {
            return Err(ApiError::Engine(format!(
                "plan.plan[{k}]: closes {} of {} but the book holds less",
                leg.reduce, leg.instrument
            )));
        }
    }
    let mut out = Vec::new();
    for v in touched {
        let kept = positions
            .iter()
            .filter(|p| p.instrument.venue == v && p.size.abs() > 1e-12)
            .cloned()
            .collect();
        out.push((v, kept));
    }
    Ok(out)
}

/// Options of a liquidation.
#[derive(Deserialize, Serialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct LiquidateReq {
    /// Target buffer over maintenance after the plan (default 0.05).
    #[serde(default)]
    #[schema(minimum = 0.0, maximum = 10.0)]
    pub buffer: Option<f64>,
    /// The `version` of the plan the caller reviewed (from `GET …/liquidation/plan`); when the
    /// account has changed since, the execution is refused instead of re-planned.
    #[serde(default)]
    pub version: Option<i64>,
}

/// Executes the account's liquidation plan (operator or admin), exactly once per account state:
/// executions on one account run one at a time, each plans on the stored book at a version and
/// applies only if the account is still at that version (else it plans again, or is refused
/// when the caller named the version). The positions left, the realised P&L, the penalty to the
/// insurance fund, execution costs and any bad debt are booked in one ledger transaction.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/liquidations", request_body = LiquidateReq, security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id"), ("Idempotency-Key" = String, Header, description = "Makes retries safe")),
    responses((status = 200, description = "The stored liquidation event"), (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn execute_liquidation(
    State(st): State<Shared>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = principal(&st, &headers).await?;
    p.check_operator(&id)?;
    let req: LiquidateReq = parse_optional_body(&body)?;
    let buffer = valid_buffer("body.buffer", req.buffer)?;
    let halted = st
        .monitor
        .halt_until_ms
        .load(std::sync::atomic::Ordering::Relaxed);
    let now = st.market.read().await.timestamp_ms;
    if now < halted {
        return Err(ApiError::Conflict {
            field: "circuit_breaker".into(),
            reason: format!(
                "a circuit breaker halts liquidations until market time {halted} ms (now {now} ms)"
            ),
        });
    }
    crate::api::ensure_exists(&st, &id).await?;
    let lock = st.account_lock(&id);
    let _serial = lock.lock().await;
    // A retry of an applied liquidation must return the stored answer, not plan again.
    if let Some(done) = crate::api::replay(&st, &p, &headers, &method, uri.path(), &body).await? {
        return Ok(done);
    }
    for _attempt in 0..3 {
        let (version, account) = versioned_book(&st, &id).await?;
        if let Some(want) = req.version {
            if want != version {
                return Err(ApiError::Conflict {
                    field: "body.version".into(),
                    reason: format!(
                        "the plan was reviewed at version {want} but the account is at version {version}; review the new plan"
                    ),
                });
            }
        }
        let credits = st.ledger.credits(&id).await?;
        let assets = st.assets.read().await.clone();
        let market = st.market.read().await.clone();
        let acc = account.clone();
        let (plan, after, booking) = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
            let plan = liquidation_plan(&acc, assets.clone(), &market, buffer)?;
            let after = positions_after(&acc, &plan)?;
            let booking = book_liquidation(&acc, &credits, &after, &plan, &assets, &market)?;
            Ok((plan, after, booking))
        })
        .await
        .map_err(engine("liquidation"))??;
        if plan.plan.is_empty() {
            return Err(ApiError::Conflict {
                field: "state".into(),
                reason: format!(
                    "account is {} and its plan closes nothing",
                    serde_json::to_value(plan.state).unwrap_or(Value::Null)
                ),
            });
        }
        refuse_streamed_venues(&account, &after)?;
        let m = Mutation::Liquidation {
            account: account.id.clone(),
            plan: serde_json::to_value(&plan).map_err(engine("liquidation plan"))?,
            positions: after,
            booking,
            expected_seq: version,
        };
        match crate::api::mutate(&st, &p, &headers, &method, uri.path(), &body, m).await {
            // Another writer (a deposit, a position report) got in between: plan again.
            Err(ApiError::Conflict { field, .. }) if field == "version" => continue,
            other => return other,
        }
    }
    Err(ApiError::Conflict {
        field: "version".into(),
        reason: "the account kept changing while the liquidation was planned; retry".into(),
    })
}

/// The rule for venues whose account stream speaks for the account (`serve --live`
/// `[[accounts]]`: the venue's positions, orders and balances are its own statement, filed by
/// the stream, and the margin reads the streamed balances there): the service does not book a
/// liquidation that closes positions on such a venue. The venue liquidates there and its stream
/// files the result; a booking here would move ledger positions and money that the venue's next
/// report replaces (positions) or that the margin does not read (balances) — so the execution is
/// refused (409, field `streamed_venue`) naming the venues and their stream sources, before
/// anything is written. A venue counts as streamed while the ledger holds its stream's balance
/// statement for the account (the `reported` rows [`crate::ledger::STREAMED_COLLATERAL`] /
/// [`crate::ledger::STREAMED_COLLATERAL_IGNORED`] of the book). Plans that touch only other
/// venues are executed as before.
fn refuse_streamed_venues(
    account: &Account,
    after: &[(Venue, Vec<Position>)],
) -> Result<(), ApiError> {
    let mut hit: Vec<String> = Vec::new();
    for (venue, _) in after {
        let source = account.reported.iter().find(|r| {
            r.venue == *venue
                && (r.field == crate::ledger::STREAMED_COLLATERAL
                    || r.field == crate::ledger::STREAMED_COLLATERAL_IGNORED)
        });
        if let Some(r) = source {
            let from = r.source.split("; not counted").next().unwrap_or(&r.source);
            let line = format!("{venue} ({from})");
            if !hit.contains(&line) {
                hit.push(line);
            }
        }
    }
    if hit.is_empty() {
        return Ok(());
    }
    Err(ApiError::Conflict {
        field: "streamed_venue".into(),
        reason: format!(
            "the plan closes positions on {}, whose positions and balances the venue's account stream files: the venue liquidates there and its stream reports the result, so no liquidation is booked here (a booking would be replaced by the stream's next report)",
            hit.join(", ")
        ),
    })
}

/// The money a liquidation moves, in integer base units, from the plan and the book.
///
/// Closing at the mark realises the closed positions' value: the drop in [`crate::risk::assess`]
/// equity when they are removed. The account then owes the penalty (liquidator and insurance
/// shares) and the execution cost (impact) and receives the realised P&L, all booked in one
/// settlement asset: the largest balance at a touched venue, else at the hub, else anywhere.
/// What it owes is paid from that asset first (touched venues, the hub, other venues), then from
/// its other balances at market FX (sold to the counterparty); what is left is bad debt. Credit
/// lines the hub can no longer back shrink with it. Per asset the entries keep the invariant
/// Σ balances + insurance fund + bad debt = deposits − withdrawals − fees + settlements exactly.
pub fn book_liquidation(
    account: &Account,
    credits: &[(Venue, String, intermargin_model::Amount)],
    after: &[(Venue, Vec<Position>)],
    plan: &LiquidationPlan,
    assets: &[Asset],
    market: &Market,
) -> Result<crate::ledger::Booking, ApiError> {
    use crate::ledger::{Booking, BAD_DEBT, FEES, INSURANCE_FUND, SETTLEMENTS};
    use intermargin_model::Amount;
    use std::collections::BTreeMap;
    let touched: std::collections::BTreeSet<Venue> = after.iter().map(|(v, _)| *v).collect();
    let mut closed = account.clone();
    closed
        .positions
        .retain(|p| !touched.contains(&p.instrument.venue));
    for (_, ps) in after {
        closed.positions.extend(ps.iter().cloned());
    }
    let equity = |a: &Account| {
        crate::risk::assess(a, assets, market)
            .map(|x| x.figures.equity)
            .map_err(ApiError::Engine)
    };
    let realised = equity(account)? - equity(&closed)?;
    let to_insurance: f64 = plan.plan.iter().map(|l| l.fee_to_insurance).sum();
    let costs: f64 = plan
        .plan
        .iter()
        .map(|l| l.fee_to_liquidator + l.impact_cost)
        .sum();
    let decimals = |a: &str| {
        assets
            .iter()
            .find(|x| x.symbol == a)
            .map(|x| x.decimals)
            .ok_or_else(|| ApiError::Engine(format!("asset {a:?} is not declared")))
    };
    let price = |a: &str| {
        market
            .fx_rate(a)
            .filter(|p| p.is_finite() && *p > 0.0)
            .ok_or_else(|| ApiError::Engine(format!("market.fx[{a:?}]: missing")))
    };
    // Quote value → base units of `a`, rounded to nearest (bounded so i128 cannot overflow).
    let units = |value: f64, a: &str, round: fn(f64) -> f64| -> Result<i128, ApiError> {
        let u = round(value / price(a)? * 10f64.powi(decimals(a)? as i32));
        if !u.is_finite() || u.abs() > 1e36 {
            return Err(ApiError::Engine(format!(
                "liquidation amount {value} in {a} is out of range"
            )));
        }
        Ok(u as i128)
    };
    let value_of = |n: i128, a: &str| -> Result<f64, ApiError> {
        Ok(n as f64 / 10f64.powi(decimals(a)? as i32) * price(a)?)
    };
    // Balances in paying order: touched venues, the hub, the rest; larger values first.
    let rank = |v: Venue| {
        if touched.contains(&v) {
            0
        } else if v == Venue::Hub {
            1
        } else {
            2
        }
    };
    let mut held: Vec<(usize, f64, Venue, String, i128)> = Vec::new();
    for c in &account.collateral {
        if c.amount.0 > 0 {
            if let Ok(v) = value_of(c.amount.0, &c.asset) {
                held.push((rank(c.venue), -v, c.venue, c.asset.clone(), c.amount.0));
            }
        }
    }
    held.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then(a.1.total_cmp(&b.1))
            .then(a.2.cmp(&b.2))
            .then(a.3.cmp(&b.3))
    });
    let settle = match held.first() {
        Some(h) => h.3.clone(),
        None => assets
            .iter()
            .filter(|a| market.fx_rate(&a.symbol).is_some())
            .min_by(|a, b| {
                let d = |x: &Asset| (market.fx_rate(&x.symbol).unwrap_or(0.0) - 1.0).abs();
                d(a).total_cmp(&d(b)).then(a.symbol.cmp(&b.symbol))
            })
            .map(|a| a.symbol.clone())
            .ok_or_else(|| ApiError::Engine("no priced asset to book the liquidation in".into()))?,
    };
    let r_u = units(realised, &settle, f64::round)?;
    let cost_u = units(costs, &settle, f64::round)?;
    let ins_u = units(to_insurance, &settle, f64::round)?;
    let mut bal: BTreeMap<(Venue, String), i128> = BTreeMap::new();
    let mut sys: BTreeMap<(&'static str, String), i128> = BTreeMap::new();
    *sys.entry((SETTLEMENTS, settle.clone())).or_default() += r_u;
    *sys.entry((FEES, settle.clone())).or_default() += cost_u;
    *sys.entry((INSURANCE_FUND, settle.clone())).or_default() += ins_u;
    let owed = ins_u + cost_u - r_u;
    if owed <= 0 {
        let at = held
            .iter()
            .find(|h| h.3 == settle)
            .map(|h| h.2)
            .or_else(|| touched.iter().next().copied())
            .unwrap_or(Venue::Hub);
        *bal.entry((at, settle.clone())).or_default() -= owed;
    } else {
        let mut left = owed;
        for h in held.iter().filter(|h| h.3 == settle) {
            let take = h.4.min(left);
            *bal.entry((h.2, settle.clone())).or_default() -= take;
            left -= take;
            if left == 0 {
                break;
            }
        }
        for h in held.iter().filter(|h| h.3 != settle) {
            if left == 0 {
                break;
            }
            let need = units(value_of(left, &settle)?, &h.3, f64::ceil)?.max(1);
            let take = h.4.min(need);
            let paid = if take == need {
                left
            } else {
                units(value_of(take, &h.3)?, &settle, f64::floor)?.clamp(0, left)
            };
            *bal.entry((h.2, h.3.clone())).or_default() -= take;
            *sys.entry((SETTLEMENTS, h.3.clone())).or_default() -= take;
            *sys.entry((SETTLEMENTS, settle.clone())).or_default() += paid;
            left -= paid;
        }
        if left > 0 {
            *sys.entry((BAD_DEBT, settle.clone())).or_default() -= left;
        }
    }
    // Credit lines the hub no longer backs shrink, touched venues' first.
    let mut credit_changes = Vec::new();
    let mut by_asset: BTreeMap<&str, Vec<(Venue, i128)>> = BTreeMap::new();
    for (v, a, n) in credits {
        by_asset.entry(a.as_str()).or_default().push((*v, n.0));
    }
    for (asset, mut lines) in by_asset {
        let hub: i128 = account
            .collateral
            .iter()
            .filter(|c| c.venue == Venue::Hub && c.asset == asset)
            .map(|c| c.amount.0)
            .sum::<i128>()
            + bal
                .get(&(Venue::Hub, asset.to_string()))
                .copied()
                .unwrap_or(0);
        let mut excess = lines.iter().map(|l| l.1).sum::<i128>() - hub;
        lines.sort_by_key(|l| (!touched.contains(&l.0), l.0));
        for (v, n) in lines {
            if excess <= 0 {
                break;
            }
            let cut = n.min(excess);
            credit_changes.push((v, asset.to_string(), Amount(-cut)));
            excess -= cut;
        }
    }
    Ok(Booking {
        balances: bal
            .into_iter()
            .filter(|(_, n)| *n != 0)
            .map(|((v, a), n)| (v, a, Amount(n)))
            .collect(),
        credits: credit_changes,
        system: sys
            .into_iter()
            .filter(|(_, n)| *n != 0)
            .map(|((k, a), n)| (k, a, Amount(n)))
            .collect(),
    })
}

/// A simulation to run: a bundled preset or a TOML config, optionally resized.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulationReq {
    /// `simulate` (default: Monte Carlo with and without circuit breakers) or `frontier`
    /// (solvency–efficiency sweep, siloed vs unified).
    #[serde(default)]
    #[schema(pattern = "^(simulate|frontier)$")]
    pub kind: Option<String>,
    /// Bundled config: `calm`, `crash` or `oracle-failure` (exactly one of `preset` and `config`).
    #[serde(default)]
    #[schema(pattern = "^(calm|crash|oracle-failure)$")]
    pub preset: Option<String>,
    /// A config in TOML, the format of examples/stress/*.toml (bootstrap processes need files and are refused).
    #[serde(default)]
    pub config: Option<String>,
    /// Paths (per frontier point for `frontier`); default: the config's.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100000)]
    pub paths: Option<usize>,
    /// Seed; default: the config's.
    #[serde(default)]
    pub seed: Option<u64>,
}

fn plots_dir(st: &Shared) -> PathBuf {
    st.data_dir.join("plots")
}

fn plot_urls(files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .filter_map(|f| {
            f.file_name()
                .map(|n| format!("/plots/{}", n.to_string_lossy()))
        })
        .collect()
}

/// Starts a simulation or frontier job; poll `GET /api/v1/simulations/{job}` for progress.
#[utoipa::path(post, path = "/api/v1/simulations", request_body = SimulationReq, security(("bearer" = [])),
    responses((status = 202, description = "Job queued", body = JobView), (status = 400, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
pub async fn start_simulation(
    State(st): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = principal(&st, &headers).await?;
    p.require_writer()?;
    let req: SimulationReq = parse_body(&body)?;
    let view = start_simulation_job(&st, &p, req, None)?;
    Ok((StatusCode::ACCEPTED, Json(view)).into_response())
}

/// Validates a simulation request and queues it; `name` fixes the plot file prefix (else the job id).
pub fn start_simulation_job(
    st: &Shared,
    p: &Principal,
    req: SimulationReq,
    name: Option<&str>,
) -> Result<JobView, ApiError> {
    let frontier = one_of(
        "body.kind",
        req.kind.as_deref(),
        &[("simulate", false), ("frontier", true)],
        false,
    )?;
    let text = match (&req.preset, &req.config) {
        (Some(name), None) => PRESETS
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.to_string())
            .ok_or_else(|| {
                ApiError::bad(
                    "body.preset",
                    format!("expected calm, crash or oracle-failure, got {name:?}"),
                )
            })?,
        (None, Some(t)) => t.clone(),
        _ => {
            return Err(ApiError::bad(
                "body",
                "give exactly one of preset and config",
            ))
        }
    };
    let mut c = intermargin_sim::Config::from_toml(&text).map_err(sim_config_error)?;
    if matches!(
        c.process,
        intermargin_sim::config::Process::Bootstrap { .. }
    ) {
        return Err(ApiError::bad(
            "body.config.process",
            "bootstrap reads a CSV file; use the CLI for it",
        ));
    }
    if let Some(s) = req.seed {
        c.seed = s;
    }
    let limit = if frontier {
        MAX_FRONTIER_PATHS
    } else {
        MAX_SIM_PATHS
    };
    if let Some(n) = req.paths {
        if n == 0 || n > limit {
            return Err(ApiError::bad(
                "body.paths",
                format!("must be between 1 and {limit}"),
            ));
        }
    }
    let total = if frontier {
        let mut fc = c
            .frontier
            .clone()
            .ok_or_else(|| ApiError::bad("body.config.frontier", "missing [frontier] table"))?;
        // The refusal names where the count came from: the request, the [frontier] table, the config.
        let field = if req.paths.is_some() {
            "body.paths"
        } else if fc.paths.is_some() {
            "body.config.frontier.paths"
        } else {
            "body.config.paths"
        };
        if let Some(n) = req.paths {
            fc.paths = Some(n);
        }
        let per = fc.paths.unwrap_or(c.paths);
        if per > limit {
            return Err(ApiError::bad(
                field,
                format!("{per} paths per point; at most {limit}"),
            ));
        }
        let total = per * fc.im_multipliers.len() * 2;
        c.frontier = Some(fc);
        total
    } else {
        let field = if req.paths.is_some() {
            "body.paths"
        } else {
            "body.config.paths"
        };
        if let Some(n) = req.paths {
            c.paths = n;
        }
        if c.paths > limit {
            return Err(ApiError::bad(
                field,
                format!("{} paths; at most {limit}", c.paths),
            ));
        }
        c.paths * c.simulate_runs()
    };
    // The work a request may start is bounded by the engine's own budget check, before any
    // allocation: the attack of issue 16 (a billion accounts) is a 400 naming the key.
    c.check_budget(&intermargin_sim::config::Budget::service(), frontier)
        .map_err(sim_config_error)?;
    let dir = plots_dir(st);
    let prefix = name.map(str::to_string);
    let kind = if frontier { "frontier" } else { "simulation" };
    let account = match &p.scope {
        crate::auth::Scope::Account(a) => Some(a.clone()),
        _ => None,
    };
    st.jobs
        .start(p, kind, account, total as u64, move |job: &Job| {
            let stem = prefix.unwrap_or_else(|| job.id());
            run_simulation(&c, frontier, &dir, &stem, job)
        })
}

/// A config error as a 400 naming the key inside the request's config.
fn sim_config_error(e: intermargin_sim::SimError) -> ApiError {
    match e {
        intermargin_sim::SimError::Config { key, reason } => {
            ApiError::bad(format!("body.config.{key}"), reason)
        }
        other => ApiError::bad("body.config", other.to_string()),
    }
}

fn run_simulation(
    c: &intermargin_sim::Config,
    frontier: bool,
    dir: &FsPath,
    stem: &str,
    job: &Job,
) -> Result<Value, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let progress = |n: u64| job.advance(n);
    if frontier {
        let f = intermargin_sim::frontier(c, None, &progress).map_err(|e| e.to_string())?;
        let files = intermargin_sim::plot::frontier(&dir.join(format!("{stem}-frontier")), &f)
            .map_err(|e| e.to_string())?;
        Ok(json!({"summary": f, "plots": plot_urls(&files)}))
    } else {
        let out = intermargin_sim::simulate(c, None, &progress).map_err(|e| e.to_string())?;
        let files = intermargin_sim::plot::run_plots(dir, &format!("{stem}-"), &out)
            .map_err(|e| e.to_string())?;
        Ok(json!({"summary": out.summary, "plots": plot_urls(&files)}))
    }
}

/// A simulation job: progress while running, the summary and plot URLs once done.
#[utoipa::path(get, path = "/api/v1/simulations/{job}", security(("bearer" = [])),
    params(("job" = String, Path, description = "Job id")),
    responses((status = 200, description = "Job state", body = JobView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_simulation(
    State(st): State<Shared>,
    Path(job): Path<String>,
    headers: HeaderMap,
) -> Result<Json<JobView>, ApiError> {
    let p = principal(&st, &headers).await?;
    let v = st.jobs.get(&p, &job)?;
    if v.kind == "proof" {
        return Err(ApiError::NotFound(format!("job {job:?} does not exist")));
    }
    Ok(Json(v))
}

/// What to prove about an account.
#[derive(Deserialize, Serialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ProofReq {
    /// Scenario grid: `deribit-pm` (default) or `span`; or `unified`: sufficiency under the
    /// unified cross-venue model (each segregated venue holds its local floor, the pooled
    /// collateral covers the per-underlying stress and the add-ons).
    #[serde(default)]
    #[schema(pattern = "^(deribit-pm|span|unified)$")]
    pub model: Option<String>,
    /// Collateral that must remain after the worst scenario, in base units of the quote
    /// currency at 6 decimals (default "0").
    #[serde(default)]
    #[schema(pattern = "^[0-9]{1,38}$", example = "0")]
    pub threshold: Option<String>,
}

/// Starts a zero-knowledge proof that the account's collateral covers its worst scenario loss.
///
/// The rule is the scenario matrix of the account's instruments at the current market; the
/// proof reveals the rule and a commitment, not the positions or the collateral.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/proofs", request_body = ProofReq, security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id")),
    responses((status = 202, description = "Job queued", body = JobView), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
pub async fn start_proof(
    State(st): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = principal(&st, &headers).await?;
    p.check_account(&id)?;
    p.require_writer()?;
    let req: ProofReq = parse_optional_body(&body)?;
    let params = match req.model.as_deref().unwrap_or("deribit-pm") {
        "deribit-pm" => Some(GridParams::deribit_pm()),
        "span" => Some(GridParams::span()),
        "unified" => None,
        other => {
            return Err(ApiError::bad(
                "body.model",
                format!("expected deribit-pm, span or unified, got {other:?}"),
            ))
        }
    }
    .transpose()
    .map_err(engine("scenario grid"))?;
    let threshold = match req.threshold.as_deref() {
        None => 0,
        Some(s) => s.parse::<i128>().ok().filter(|t| *t >= 0).ok_or_else(|| {
            ApiError::bad(
                "body.threshold",
                format!("expected an integer of base units >= 0, got {s:?}"),
            )
        })?,
    };
    let (account, assets, market) = book_and_market(&st, &p, &id).await?;
    if account.positions.is_empty() {
        return Err(ApiError::bad(
            "account.positions",
            "the account holds no positions to prove margin for",
        ));
    }
    let n = instruments_of(&account.positions).len();
    if n > intermargin_proofs::zk::rule::MAX_INSTRUMENTS {
        return Err(ApiError::bad(
            "account.positions",
            format!(
                "{n} instruments exceed the proof limit of {}",
                intermargin_proofs::zk::rule::MAX_INSTRUMENTS
            ),
        ));
    }
    let keys_root = st.data_dir.join("zk");
    let Some(params) = params else {
        let model = crate::risk::unified_model().map_err(ApiError::Engine)?;
        let mut opts = UnifiedExportOptions::for_asset(market.quote.clone());
        opts.threshold = threshold;
        // The rule and the private book are derived before the job starts, so a book the model
        // cannot express (or that fails a bound) is refused with its field now.
        let (rule, book) = unified::export_unified(
            model,
            &account,
            &assets,
            &market,
            &opts,
            format!("unified model, account {}", account.id),
        )
        .map_err(|e| ApiError::bad("account", e.to_string()))?;
        let view = st
            .jobs
            .start(&p, "proof", Some(id.clone()), 3, move |job: &Job| {
                job.advance(1);
                let (pk, setup_ms) = proving_key(&rule, &keys_root)?;
                job.advance(1);
                let started = std::time::Instant::now();
                let proof = unified::prove(&rule, &pk, &book, &mut rand::rngs::OsRng)
                    .map_err(|e| e.to_string())?;
                Ok(proof_result(
                    serde_json::to_value(&rule).map_err(|e| e.to_string())?,
                    proof,
                    hex::encode(rule.digest()),
                    setup_ms,
                    started.elapsed().as_millis() as u64,
                ))
            })?;
        return Ok((StatusCode::ACCEPTED, Json(view)).into_response());
    };
    let mut opts = ExportOptions::for_asset(market.quote.clone());
    opts.threshold = threshold;
    let collateral = collateral_base_units(&account, &assets, &market, opts.collateral_decimals)?;
    let view = st
        .jobs
        .start(&p, "proof", Some(id.clone()), 3, move |job: &Job| {
            prove_account(
                &account, &market, &params, &opts, collateral, &keys_root, job,
            )
        })?;
    Ok((StatusCode::ACCEPTED, Json(view)).into_response())
}

/// The proving key of `rule` under `keys_root/<digest>`, made by a TEST-ONLY single-party setup
/// the first time; also the milliseconds it took.
fn proving_key<S: groth::Statement>(
    rule: &S,
    keys_root: &FsPath,
) -> Result<(groth::ProvingKeyBn254, u64), String> {
    let dir = keys_root.join(hex::encode(rule.rule_digest()));
    let started = std::time::Instant::now();
    let pk = match groth::read_proving_key(rule, &dir) {
        Ok(pk) => pk,
        Err(_) => {
            // TEST-ONLY trusted setup (single party): the service holds the toxic waste.
            let keys = groth::setup(rule, &mut rand::rngs::OsRng).map_err(|e| e.to_string())?;
            keys.write_dir(rule, &dir).map_err(|e| e.to_string())?;
            keys.pk
        }
    };
    Ok((pk, started.elapsed().as_millis() as u64))
}

/// A proof job's result: the public rule and the proof, never the private book.
fn proof_result(
    rule: Value,
    proof: MarginProof,
    digest: String,
    setup_ms: u64,
    prove_ms: u64,
) -> Value {
    json!({
        "rule": rule,
        "proof": proof,
        "rule_digest": digest,
        "setup": "TEST-ONLY single-party Groth16 setup held by this service; use a ceremony in production",
        "timings_ms": {"setup_or_load": setup_ms, "prove": prove_ms},
    })
}

/// Collateral value at marks in the quote currency, floored to base units of `decimals`.
fn collateral_base_units(
    account: &Account,
    assets: &[Asset],
    market: &Market,
    decimals: u32,
) -> Result<u128, ApiError> {
    let mut value = 0.0;
    for c in &account.collateral {
        value += crate::risk::collateral_value(c, assets, market).map_err(ApiError::Engine)?;
    }
    let units = (value * 10f64.powi(decimals as i32)).floor();
    if !(units.is_finite() && units >= 0.0) {
        return Err(ApiError::bad(
            "account.collateral",
            format!("net collateral value {value} is negative or not finite"),
        ));
    }
    Ok(units as u128)
}

fn prove_account(
    account: &Account,
    market: &Market,
    params: &GridParams,
    opts: &ExportOptions,
    collateral: u128,
    keys_root: &FsPath,
    job: &Job,
) -> Result<Value, String> {
    let instruments = instruments_of(&account.positions);
    let rule = export_rule(
        market,
        &instruments,
        params,
        opts,
        format!("scenario matrix of account {}", account.id),
    )
    .map_err(|e| e.to_string())?;
    job.advance(1);
    let (pk, setup_ms) = proving_key(&rule, keys_root)?;
    job.advance(1);
    let book = private_book(&rule, &account.positions, collateral).map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    let proof =
        groth::prove(&rule, &pk, &book, &mut rand::rngs::OsRng).map_err(|e| e.to_string())?;
    let digest = hex::encode(rule.digest());
    Ok(proof_result(
        serde_json::to_value(&rule).map_err(|e| e.to_string())?,
        proof,
        digest,
        setup_ms,
        started.elapsed().as_millis() as u64,
    ))
}

/// A proof job: progress while running; the public rule and the proof once done.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/proofs/{job}", security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id"), ("job" = String, Path, description = "Job id")),
    responses((status = 200, description = "Job state", body = JobView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_proof(
    State(st): State<Shared>,
    Path((id, job)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<JobView>, ApiError> {
    let p = principal(&st, &headers).await?;
    p.check_account(&id)?;
    let v = st.jobs.get(&p, &job)?;
    if v.kind != "proof" || v.account.as_deref() != Some(id.as_str()) {
        return Err(ApiError::NotFound(format!("job {job:?} does not exist")));
    }
    Ok(Json(v))
}

/// A margin proof to check against its rule.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyReq {
    /// The public rule (as returned with the proof): a scenario-matrix rule, or a unified one
    /// (`"kind": "unified"`).
    #[schema(value_type = Object)]
    pub rule: Value,
    /// The proof.
    #[schema(value_type = Object)]
    pub proof: MarginProof,
    /// Require this commitment (hex), e.g. one registered earlier.
    #[serde(default)]
    pub commitment: Option<String>,
}

/// Checks a margin proof with the verifying key this service made for the rule.
#[utoipa::path(post, path = "/api/v1/proofs/verify", request_body = VerifyReq, security(("bearer" = [])),
    responses((status = 200, description = "`valid` and, when false, the reason"), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn verify_proof(
    State(st): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    principal(&st, &headers).await?;
    let req: VerifyReq = parse_body(&body)?;
    let bad_rule = |e: String| ApiError::bad("body.rule", e);
    let out = if req.rule.get("kind").and_then(Value::as_str) == Some(unified::UNIFIED_KIND) {
        let rule: UnifiedRule =
            serde_json::from_value(req.rule).map_err(|e| bad_rule(e.to_string()))?;
        verify_statement(&st, rule, req.proof, req.commitment).await?
    } else {
        let rule: MarginRule =
            serde_json::from_value(req.rule).map_err(|e| bad_rule(e.to_string()))?;
        verify_statement(&st, rule, req.proof, req.commitment).await?
    };
    Ok(Json(out))
}

/// Checks `proof` against `rule` with the verifying key this service made for it.
async fn verify_statement<S: groth::Statement + Send + 'static>(
    st: &Shared,
    rule: S,
    proof: MarginProof,
    commitment: Option<String>,
) -> Result<Value, ApiError> {
    rule.check()
        .map_err(|e| ApiError::bad("body.rule", e.to_string()))?;
    let digest = hex::encode(rule.rule_digest());
    let dir = st.data_dir.join("zk").join(&digest);
    if !dir.join(groth::VERIFYING_KEY_FILE).exists() {
        return Err(ApiError::NotFound(format!(
            "no verifying key for rule digest {digest} on this service"
        )));
    }
    tokio::task::spawn_blocking(move || -> Result<Value, ApiError> {
        let vk = groth::read_verifying_key(&rule, &dir).map_err(engine("verifying key"))?;
        if let Some(c) = &commitment {
            let want = intermargin_proofs::zk::rule::parse_field_hex(c, "body.commitment").map_err(|e| ApiError::bad("body.commitment", e.to_string()))?;
            let got = intermargin_proofs::zk::rule::parse_field_hex(&proof.commitment, "body.proof.commitment")
                .map_err(|e| ApiError::bad("body.proof.commitment", e.to_string()))?;
            if want != got {
                return Ok(json!({"valid": false, "rule_digest": digest, "reason": format!("commitment {} is not the required {c}", proof.commitment)}));
            }
        }
        Ok(match groth::verify(&rule, &vk, &proof) {
            Ok(()) => json!({"valid": true, "rule_digest": digest, "commitment": proof.commitment, "threshold": rule.rule_threshold()}),
            Err(e) => json!({"valid": false, "rule_digest": digest, "reason": e.to_string()}),
        })
    })
    .await
    .map_err(engine("verify"))?
}

/// A user's inclusion proof and the venue's published root.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SolvencyVerifyReq {
    /// The published root (`root.json` of `intermargin solvency build`).
    #[schema(value_type = Object)]
    pub root: SolvencyRoot,
    /// The user's proof.
    #[schema(value_type = Object)]
    pub proof: InclusionProof,
}

/// Checks a proof-of-solvency inclusion proof against a published Merkle-sum root.
#[utoipa::path(post, path = "/api/v1/solvency/verify", request_body = SolvencyVerifyReq, security(("bearer" = [])),
    responses((status = 200, description = "`valid` and, when false, the reason"), (status = 400, body = crate::error::ErrorBody)))]
pub async fn verify_solvency(
    State(st): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    principal(&st, &headers).await?;
    let req: SolvencyVerifyReq = parse_body(&body)?;
    Ok(Json(
        match intermargin_proofs::verify_inclusion(&req.root, &req.proof) {
            Ok(()) => {
                json!({"valid": true, "user": req.proof.user, "root_hash": req.root.root_hash})
            }
            Err(e) => json!({"valid": false, "reason": e.to_string()}),
        },
    ))
}

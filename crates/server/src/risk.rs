//! Bridge to the engine crates: every number the API serves is computed there, not here.

use std::str::FromStr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use intermargin_liquidation::{
    classify, AccountState, Figures, LiquidationError, Requirement, RequirementFn,
};
use intermargin_margin::portfolio::{SharedRows, UnifiedFigures as ModelFigures, UnifiedModel};
use intermargin_margin::venue_margins;
use intermargin_model::{Account, Asset, Collateral, Market, Venue};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::api::{parse_body, positions_mutation, principal};
use crate::error::ApiError;
use crate::ledger::Mutation;
use crate::state::{MarginFigures, Report, Shared};

/// The unified model over the bundled parameters, built once (shared with the what-if).
pub fn unified_model() -> Result<&'static UnifiedModel, String> {
    intermargin_documents::whatif::unified_model()
}

/// The one computation of an account's margin that every route, panel and the liquidation
/// planner read: each venue's own figures, the unified model's, and the figures (equity over
/// every venue and the hub; unified initial and maintenance) that decide its state.
pub struct Assessment {
    /// Each venue's own verdict.
    pub venues: Vec<intermargin_margin::VenueMargin>,
    /// The unified requirement and its explanation.
    pub unified: intermargin_margin::portfolio::UnifiedMargin,
    /// Equity and the unified requirements, in the quote currency.
    pub figures: Figures,
}

/// Assesses an account; a figure that cannot be computed (or is not finite) is an error naming why.
pub fn assess(account: &Account, assets: &[Asset], market: &Market) -> Result<Assessment, String> {
    let venues = venue_margins(account, assets, market).map_err(|e| e.to_string())?;
    let unified = unified_model()?
        .margin(account, assets, market)
        .map_err(|e| e.to_string())?;
    let figures = figures_of(
        account,
        assets,
        market,
        &venues,
        &ModelFigures::of(&unified),
    )?;
    Ok(Assessment {
        venues,
        unified,
        figures,
    })
}

/// What [`assess`] decides an account's state on, computed without the explanation (the live
/// monitor's fast path): each venue's own figures and the unified model's figures
/// ([`intermargin_margin::portfolio::UnifiedModel::account_figures`]: the same venue rules, each
/// venue evaluated once where netting changes nothing there; instrument rows from `shared` when
/// it covers the account) and the state.
pub fn assess_figures(
    account: &Account,
    assets: &[Asset],
    market: &Market,
    shared: Option<&SharedRows>,
) -> Result<(Vec<intermargin_margin::VenueMargin>, MarginFigures), String> {
    let f = unified_model()?
        .account_figures(account, assets, market, shared)
        .map_err(|e| e.to_string())?;
    let figures = figures_of(account, assets, market, &f.venues, &f.unified)?;
    Ok((f.venues, margin_figures(&figures, &f.unified)))
}

/// The state, figures and headline of an account from its figures and the unified figures.
fn margin_figures(figures: &Figures, unified: &ModelFigures) -> MarginFigures {
    MarginFigures {
        state: state_of(figures),
        figures: *figures,
        headline: crate::state::Headline {
            siloed_total: unified.siloed_total,
            saving: unified.saving,
        },
    }
}

/// Equity over every venue and the hub, beside the unified requirements; an error names a
/// figure that is not finite.
fn figures_of(
    account: &Account,
    assets: &[Asset],
    market: &Market,
    venues: &[intermargin_margin::VenueMargin],
    unified: &ModelFigures,
) -> Result<Figures, String> {
    let mut equity = 0.0;
    for v in venues {
        equity += v.quote().map_err(|e| e.to_string())?.equity;
    }
    for c in account.collateral.iter().filter(|c| c.venue == Venue::Hub) {
        equity += collateral_value(c, assets, market)?;
    }
    let figures = Figures {
        equity,
        initial: unified.initial_margin,
        maintenance: unified.maintenance_margin,
    };
    for (name, v) in [
        ("equity", figures.equity),
        ("initial_margin", figures.initial),
        ("maintenance_margin", figures.maintenance),
    ] {
        if !v.is_finite() {
            return Err(format!(
                "{name} of account {:?} is not finite ({v}): a position or balance is out of range",
                account.id
            ));
        }
    }
    Ok(figures)
}

/// The account's state from its figures: the one rule every route and the planner apply.
pub fn state_of(figures: &Figures) -> AccountState {
    classify(figures)
}

/// The requirement the liquidation planner works on: the same [`assess`] every route reads,
/// so a plan never contradicts `/margin`.
pub struct AssessedRequirement {
    /// Declared assets (decimals of collateral).
    pub assets: Vec<Asset>,
}

impl RequirementFn for AssessedRequirement {
    fn requirement(
        &self,
        account: &Account,
        market: &Market,
    ) -> Result<Requirement, LiquidationError> {
        let a =
            assess(account, &self.assets, market).map_err(|reason| LiquidationError::Param {
                field: format!("accounts[{:?}]", account.id),
                reason,
            })?;
        let mut driver: Option<(String, f64)> = None;
        for v in &a.venues {
            let fx = market.fx_rate(&v.settlement).unwrap_or(1.0);
            for p in &v.positions {
                let mm = p.maintenance_margin * fx;
                if driver.as_ref().is_none_or(|(_, d)| mm > *d) {
                    driver = Some((p.instrument.clone(), mm));
                }
            }
        }
        // The unified requirement is one pool: the whole account.
        Ok(Requirement {
            figures: a.figures,
            driver: driver.map(|d| d.0),
            pools: Vec::new(),
        })
    }
}

/// Each venue's own margin, the unified requirement and the account state, in the market's quote.
///
/// The state is [`state_of`] the figures of [`assess`]; the report is serialised here, once,
/// straight from the engines' types.
pub fn margin_report(
    account: &Account,
    assets: &[Asset],
    market: &Market,
    _previous: Option<AccountState>,
) -> Result<Report, String> {
    let Assessment {
        venues,
        unified,
        figures,
    } = assess(account, assets, market)?;
    let fig = margin_figures(&figures, &ModelFigures::of(&unified));
    let state = fig.state;
    // Our liquidation price per position beside the venue's; a book the search cannot move
    // still gets its report, without them.
    let liquidations = unified_model()?
        .position_liquidations(account, assets, market, &venues, &unified)
        .unwrap_or_default();
    let positions: Vec<PositionRow> = account
        .positions
        .iter()
        .enumerate()
        .map(|(i, p)| PositionRow {
            instrument: p.instrument.id(),
            size: p.size,
            entry_price: p.entry_price,
            risk: intermargin_margin::venues::position_risk(p, market),
            liquidation: liquidations.get(i).cloned(),
        })
        .collect();
    let body = MarginReport {
        account: &account.id,
        positions: &positions,
        quote: &market.quote,
        timestamp_ms: market.timestamp_ms,
        state,
        equity: figures.equity,
        siloed_total: unified.siloed_total,
        unified: UnifiedFigures {
            initial_margin: unified.initial_margin,
            maintenance_margin: unified.maintenance_margin,
        },
        saving: unified.saving,
        saving_split: unified.saving_split,
        horizon_s: unified.horizon_s,
        liquidates_first: unified.liquidates_first,
        venues: &venues,
        constraints: &unified.venues,
        explain: &unified.explain,
        collateral_sources: collateral_sources(account),
        collateral_ignored: collateral_ignored(account),
    };
    let json = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
    Ok(Report {
        state: Some(state),
        figures: Some(fig.figures),
        headline: Some(fig.headline),
        json: json.into(),
    })
}

/// One collateral balance valued at the market's FX rate, in the quote currency.
///
/// The asset must be declared (its decimals give the units) and priced; the error names which.
pub fn collateral_value(c: &Collateral, assets: &[Asset], market: &Market) -> Result<f64, String> {
    let decimals = assets
        .iter()
        .find(|a| a.symbol == c.asset)
        .map(|a| a.decimals)
        .ok_or_else(|| format!("collateral asset {:?} is not declared", c.asset))?;
    let px = market
        .fx_rate(&c.asset)
        .ok_or_else(|| format!("market.fx[{:?}]: missing", c.asset))?;
    Ok(c.amount.to_f64(decimals) * px)
}

/// The margin report as served by `GET …/margin` and streamed on `/ws`.
#[derive(Serialize)]
struct MarginReport<'a> {
    account: &'a str,
    quote: &'a str,
    timestamp_ms: i64,
    state: AccountState,
    equity: f64,
    siloed_total: f64,
    unified: UnifiedFigures,
    saving: f64,
    saving_split: intermargin_margin::portfolio::SavingSplit,
    horizon_s: f64,
    liquidates_first: Option<Venue>,
    venues: &'a [intermargin_margin::VenueMargin],
    constraints: &'a [intermargin_margin::portfolio::VenueConstraint],
    explain: &'a intermargin_margin::portfolio::Explanation,
    /// Per position: size, entry, mark, unrealised P&L and Greeks (the dashboard's risk tables).
    positions: &'a [PositionRow],
    /// The balances a venue's account stream declared, used for that venue's pool in place of
    /// the ledger's deposits there, each with its source (`streamed from <venue> at <time>`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    collateral_sources: Vec<CollateralSource<'a>>,
    /// Balances a venue's account stream reported that the margin does not count (an asset
    /// the ledger has not declared), each with its amount and the reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    collateral_ignored: Vec<IgnoredCollateral<'a>>,
}

/// One streamed balance the margin left out, and why.
#[derive(Serialize)]
struct IgnoredCollateral<'a> {
    venue: Venue,
    asset: &'a str,
    /// Whole units as the venue reported them.
    amount: f64,
    /// `streamed from <venue> at <time>; not counted: <why>`.
    reason: &'a str,
}

/// The streamed balances of `account` the margin does not count (its `reported` rows of
/// [`crate::ledger::STREAMED_COLLATERAL_IGNORED`]).
fn collateral_ignored(account: &Account) -> Vec<IgnoredCollateral<'_>> {
    account
        .reported
        .iter()
        .filter(|r| r.field == crate::ledger::STREAMED_COLLATERAL_IGNORED)
        .filter_map(|r| {
            Some(IgnoredCollateral {
                venue: r.venue,
                asset: r.currency.as_deref()?,
                amount: r.value,
                reason: &r.source,
            })
        })
        .collect()
}

/// One streamed balance the margin used, and where it came from.
#[derive(Serialize)]
struct CollateralSource<'a> {
    venue: Venue,
    asset: &'a str,
    /// Base units, exact.
    amount: intermargin_model::Amount,
    source: &'a str,
}

/// The streamed balances of `account` (its `reported` rows of
/// [`crate::ledger::STREAMED_COLLATERAL`]) with their exact amounts from its collateral.
fn collateral_sources(account: &Account) -> Vec<CollateralSource<'_>> {
    account
        .reported
        .iter()
        .filter(|r| r.field == crate::ledger::STREAMED_COLLATERAL)
        .filter_map(|r| {
            let asset = r.currency.as_deref()?;
            let c = account
                .collateral
                .iter()
                .find(|c| c.venue == r.venue && c.asset == asset)?;
            Some(CollateralSource {
                venue: r.venue,
                asset,
                amount: c.amount,
                source: &r.source,
            })
        })
        .collect()
}

/// One position as the risk page shows it; `mark_price`, `unrealised_pnl`, `currency` and
/// `greeks` are absent when the market has no mark for it.
#[derive(Serialize)]
struct PositionRow {
    instrument: String,
    size: f64,
    entry_price: Option<f64>,
    #[serde(flatten)]
    risk: Option<intermargin_margin::venues::PositionRisk>,
    /// The venue's liquidation price and ours (the unified model's search of the move at which
    /// the position's venue pool meets maintenance), with each distance as a signed fraction.
    liquidation: Option<intermargin_margin::portfolio::PositionLiquidation>,
}

#[derive(Serialize)]
struct UnifiedFigures {
    initial_margin: f64,
    maintenance_margin: f64,
}

/// A report for an account the engines could not margin: the error, in place of the figures.
pub fn failed_report(account: &str, error: &str) -> Report {
    Report {
        state: None,
        figures: None,
        headline: None,
        json: json!({"account": account, "error": error})
            .to_string()
            .into(),
    }
}

/// Venue payloads to import as an account's positions on one venue.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportReq {
    /// Venue the payloads come from (`deribit`, `binance`, `okx`, `bybit`, `dydx`, `hyperliquid`, `aave`).
    #[schema(schema_with = crate::api::venue_schema)]
    pub venue: String,
    /// The venue's API responses, as returned (positions, balances, instruments …).
    #[schema(value_type = Vec<Object>)]
    pub payloads: Vec<Value>,
}

/// Imports venue API responses as the account's positions on that venue (balances stay ledger-driven).
#[utoipa::path(post, path = "/api/v1/accounts/{id}/import", request_body = ImportReq, security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id"), ("Idempotency-Key" = String, Header, description = "Makes retries safe")),
    responses((status = 200, description = "The stored positions event"), (status = 400, body = crate::error::ErrorBody)))]
pub async fn import_positions(
    State(st): State<Shared>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = principal(&st, &headers).await?;
    p.check_operator(&id)?;
    let req: ImportReq = parse_body(&body)?;
    if req.payloads.len() > MAX_PAYLOADS {
        return Err(ApiError::bad(
            "body.payloads",
            format!(
                "{} payloads exceed the limit of {MAX_PAYLOADS}",
                req.payloads.len()
            ),
        ));
    }
    let venue = Venue::from_str(&req.venue)
        .map_err(|_| ApiError::bad("body.venue", format!("unknown venue {:?}", req.venue)))?;
    if req.payloads.is_empty() {
        return Err(ApiError::bad(
            "body.payloads",
            "at least one venue payload is required",
        ));
    }
    let payloads: Vec<intermargin_venues::Payload> = req
        .payloads
        .iter()
        .enumerate()
        .map(|(i, v)| intermargin_venues::Payload::named(format!("payloads[{i}]"), v.to_string()))
        .collect();
    let opts = intermargin_venues::ImportOptions {
        account: id.clone(),
    };
    let snap = intermargin_venues::import(venue, &payloads, &opts)
        .map_err(|e| ApiError::bad("body.payloads", e.to_string()))?;
    let mut positions = Vec::new();
    let mut reported = Vec::new();
    for a in snap.portfolio.accounts {
        positions.extend(a.positions);
        reported.extend(a.reported);
    }
    {
        // Market data the payload carries (marks, index, vols) refreshes the live market.
        let mut m = st.market.write().await;
        for (k, v) in snap.market.mark_prices {
            m.mark_prices.insert(k, v);
        }
        for (k, v) in snap.market.mark_ivs {
            m.mark_ivs.insert(k, v);
        }
        for (k, v) in snap.market.venue_params {
            m.venue_params.insert(k, v);
        }
    }
    let m = positions_mutation(&st, &id, venue, positions).await?;
    let Mutation::Positions {
        account,
        venue,
        positions,
    } = m
    else {
        return Err(ApiError::Engine(
            "import: expected a positions snapshot".into(),
        ));
    };
    // Stored as what it is: the venue's report, relayed by this key, not a fact the service checked.
    let m = Mutation::VenueReport {
        account,
        venue,
        positions,
        reported,
        relayed_by: p.key_id.clone(),
    };
    crate::api::mutate(&st, &p, &headers, &method, uri.path(), &body, m).await
}

/// Most venue payloads one import may carry.
pub const MAX_PAYLOADS: usize = 64;

/// The account's liquidation state from its latest margin report.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/liquidation", security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id")),
    responses((status = 200, description = "State and figures"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_liquidation(
    State(st): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let p = principal(&st, &headers).await?;
    p.check_account(&id)?;
    let report = crate::api::current_report(&st, &id).await?;
    let (Some(state), Some(f)) = (report.state, report.figures) else {
        return Err(ApiError::Engine(format!(
            "margin for {id:?} could not be computed: {}",
            String::from_utf8_lossy(&report.json)
        )));
    };
    Ok(Json(json!({
        "account": id,
        "state": state,
        "equity": f.equity,
        "initial_margin": f.initial,
        "maintenance_margin": f.maintenance,
    })))
}

/// The venues' own figures for an account (from its latest imports) beside intermargin's for
/// its current book: the JSON of `intermargin reconcile --json`.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/reconcile", security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id")),
    responses((status = 200, description = "`rows[]` (venue, account, instrument or pool, field, computed, reported, difference, agrees, explained_by, source), `agree`, `disagree`"),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_reconcile(
    State(st): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<intermargin_margin::venues::reconcile::ReconcileReport>, ApiError> {
    let p = principal(&st, &headers).await?;
    p.check_account(&id)?;
    crate::api::ensure_exists(&st, &id).await?;
    let mut account = st.book(&id).await?;
    account.reported = st.ledger.reported(&id).await?;
    let assets = st.assets.read().await.clone();
    let market = st.market.read().await.clone();
    Ok(Json(
        intermargin_margin::venues::reconcile::reconcile_report([&account], &assets, &market),
    ))
}

/// The pre-trade what-if and its error: one computation (`intermargin_documents::whatif`) that
/// `POST …/whatif`, the CLI's `whatif` and the Python package's `whatif` all call.
pub use intermargin_documents::whatif::{whatif, Before, Traded, WhatIfError};

/// The margin of each account's book as it is (the "before" side of a what-if), kept per account
/// with the book, assets and market it was computed on and used again only while all three are
/// unchanged: a ledger write (a new book) or a price tick (a new market) makes the next what-if on
/// the account compute it afresh. Compared by content, so no writer has to remember to invalidate.
#[derive(Default)]
pub struct BeforeCache {
    entries: std::sync::Mutex<std::collections::HashMap<String, Arc<CachedBefore>>>,
    /// The market of the latest entry, shared by the entries computed on it.
    market: std::sync::Mutex<Option<Arc<Market>>>,
}

struct CachedBefore {
    before: Arc<Before>,
    assets: Vec<Asset>,
    market: Arc<Market>,
}

/// Entries kept at most (the cache is emptied when full; each holds one account's margin).
const BEFORE_CACHE_MAX: usize = 100_000;

impl BeforeCache {
    /// The margin of `account` as it is on `assets` and `market`: the kept one when it was
    /// computed on exactly these, else computed now (and kept).
    pub fn get_or_compute(
        &self,
        account: &Account,
        assets: &[Asset],
        market: &Market,
    ) -> Result<Arc<Before>, WhatIfError> {
        let current = {
            let mut m = lock(&self.market);
            match m.as_ref() {
                Some(c) if **c == *market => c.clone(),
                _ => {
                    let c = Arc::new(market.clone());
                    *m = Some(c.clone());
                    c
                }
            }
        };
        let hit = lock(&self.entries).get(&account.id).and_then(|e| {
            (Arc::ptr_eq(&e.market, &current)
                && e.assets == assets
                && e.before.account() == account)
                .then(|| e.before.clone())
        });
        if let Some(b) = hit {
            return Ok(b);
        }
        let before = Arc::new(Before::compute(account, assets, market)?);
        let mut entries = lock(&self.entries);
        if entries.len() >= BEFORE_CACHE_MAX {
            entries.clear();
        }
        entries.insert(
            account.id.clone(),
            Arc::new(CachedBefore {
                before: before.clone(),
                assets: assets.to_vec(),
                market: current,
            }),
        );
        Ok(before)
    }

    /// Accounts whose margin is kept.
    pub fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    /// True when no margin is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Trades to try on an account: `{"trades":[{"venue","instrument","size","price"?}]}`.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatIfReq {
    /// At most 64 trades, applied in order.
    #[schema(value_type = Vec<WhatIfTrade>)]
    pub trades: Vec<intermargin_venues::trade::TradeSpec>,
}

/// One trade of a what-if (schema of `intermargin_venues::trade::TradeSpec`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct WhatIfTrade {
    /// Venue (`deribit`, `binance`, `okx`, `bybit`, `dydx`, `hyperliquid`).
    venue: String,
    /// The venue's own symbol (`BTC-27DEC24-60000-C`, `BTCUSDT`, `BTC-USD-SWAP`).
    instrument: String,
    /// Signed contracts in the venue's size unit (buy > 0, sell < 0).
    size: f64,
    /// Fill price in the instrument's quote currency; the mark when absent.
    price: Option<f64>,
}

/// The what-if answer: `{"account", "liquidates_first", "quote", "unified", "venues"}`.
#[derive(Serialize)]
struct WhatIfBody<'a> {
    account: &'a str,
    liquidates_first: &'a intermargin_margin::whatif::BeforeAfter<Option<Venue>>,
    quote: &'a str,
    unified: &'a intermargin_margin::whatif::BeforeAfter<intermargin_margin::whatif::UnifiedSide>,
    venues: &'a [intermargin_margin::whatif::VenueWhatIf],
}

/// Each venue's margin, the unified requirement and the first venue to liquidate, before and
/// after hypothetical trades. Computes and stores nothing, so no `Idempotency-Key` is needed; any
/// key that may read the account may ask.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/whatif", request_body = WhatIfReq, security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id")),
    responses((status = 200, description = "`venues[]` (before/after, refused, reason), `unified` and `liquidates_first` before/after"),
        (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn post_whatif(
    State(st): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = principal(&st, &headers).await?;
    p.check_account(&id)?;
    let req: WhatIfReq = parse_body(&body)?;
    let max = intermargin_venues::trade::MAX_TRADES;
    if req.trades.len() > max {
        return Err(ApiError::bad(
            "body.trades",
            format!("{} trades exceed the limit of {max}", req.trades.len()),
        ));
    }
    crate::api::ensure_exists(&st, &id).await?;
    let account = st.book(&id).await?;
    let assets = st.assets.read().await.clone();
    let market = st.market.read().await.clone();
    let quote = market.quote.clone();
    let state = st.clone();
    let out = tokio::task::spawn_blocking(move || {
        // Bad trades are refused before any margin is computed.
        let traded = Traded::apply(&account, &assets, market, &req.trades)?;
        let before = state
            .whatif_before
            .get_or_compute(&account, &assets, traded.market())?;
        traded.whatif(&before)
    })
    .await
    .map_err(|e| ApiError::Engine(format!("whatif: {e}")))?;
    match out {
        // Serialised straight from the figures (no intermediate `Value` tree); keys in the
        // order the `Value` map wrote them.
        Ok(w) => Ok(Json(WhatIfBody {
            account: &id,
            liquidates_first: &w.liquidates_first,
            quote: &quote,
            unified: &w.unified,
            venues: &w.venues,
        })
        .into_response()),
        Err(WhatIfError::Trade(e)) => Err(ApiError::bad(
            if e.part == "trades" {
                "body.trades".to_string()
            } else {
                format!("body.trades[{}].{}", e.index, e.part)
            },
            e.message,
        )),
        Err(WhatIfError::Engine(e)) => Err(ApiError::Engine(e)),
    }
}

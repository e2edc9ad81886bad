//! HTTP routes: thin handlers that authenticate, validate, and call the ledger or an engine.

use std::str::FromStr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use intermargin_model::{Amount, Asset, Position, Venue};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{random_key, Principal, Scope};
use crate::error::{ApiError, ErrorBody};
use crate::ledger::{Event, Mutation};
use crate::state::Shared;

/// Extracts the bearer key and authenticates it.
pub async fn principal(state: &Shared, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let value = headers
        .get("authorization")
        .ok_or_else(|| ApiError::Unauthorized("missing Authorization: Bearer <key> header".into()))?
        .to_str()
        .map_err(|_| ApiError::Unauthorized("Authorization header is not text".into()))?;
    let key = value
        .strip_prefix("Bearer ")
        .ok_or_else(|| ApiError::Unauthorized("expected Authorization: Bearer <key>".into()))?;
    state.auth.authenticate(&state.ledger, key.trim()).await
}

/// Parses a JSON body, reporting the failing field path.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "body".to_string()
        } else {
            format!("body.{path}")
        };
        ApiError::bad(field, e.inner().to_string())
    })
}

/// Parses a JSON body whose fields are all optional: an empty body means the defaults.
pub fn parse_optional_body<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        Ok(T::default())
    } else {
        parse_body(body)
    }
}

/// The idempotency key of a mutating request and the hash binding it to this exact request.
pub(crate) fn idempotency(
    headers: &HeaderMap,
    method: &Method,
    path: &str,
    body: &[u8],
) -> Result<(String, String), ApiError> {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 128)
        .ok_or_else(|| {
            ApiError::bad(
                "Idempotency-Key",
                "header required on every mutating request (1-128 chars)",
            )
        })?;
    let mut h = Sha256::new();
    h.update(method.as_str());
    h.update(b" ");
    h.update(path);
    h.update(b"\n");
    // The same JSON with other whitespace or key order is the same request: hash its canonical
    // form (keys sorted, no whitespace); a body that is not JSON is hashed as sent.
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => h.update(v.to_string()),
        Err(_) => h.update(body),
    }
    Ok((key.to_string(), hex::encode(h.finalize())))
}

pub(crate) fn applied_response(a: crate::ledger::Applied) -> Response {
    let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::OK);
    let mut resp = (status, Json(a.body)).into_response();
    if a.replayed {
        resp.headers_mut().insert(
            "idempotent-replayed",
            axum::http::HeaderValue::from_static("true"),
        );
    }
    resp
}

fn parse_amount(field: &str, s: &str) -> Result<Amount, ApiError> {
    let a = Amount::from_str(s).map_err(|_| {
        ApiError::bad(
            field,
            format!("expected an integer of base units, got {s:?}"),
        )
    })?;
    if a.0 <= 0 {
        return Err(ApiError::bad(field, "must be > 0"));
    }
    Ok(a)
}

fn parse_venue(field: &str, s: &str) -> Result<Venue, ApiError> {
    Venue::from_str(s).map_err(|_| ApiError::bad(field, format!("unknown venue {s:?}")))
}

/// The venue names the API accepts, from the canonical model's own list (for the OpenAPI
/// document; fields hold them as text and are parsed by [`Venue::from_str`]).
pub fn venue_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(Venue::ALL.iter().map(|v| v.as_str())))
        .description(Some("Venue name"))
        .build()
}

/// A credit's venue: a venue name, or `chain:<chain id>` of a spoke chain (`serve --xchain`).
pub fn credit_venue_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let names: Vec<&str> = Venue::ALL.iter().map(|v| v.as_str()).collect();
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^({}|chain:[0-9]{{1,20}})$", names.join("|"))))
        .description(Some(
            "Venue name, or chain:<chain id> of a spoke chain of the --xchain deployment",
        ))
        .build()
}

/// Request to open an account.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    /// Account id (1-64 chars of letters, digits, `-`, `_`).
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$", example = "alice")]
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
}

/// Request to issue an API key.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// `admin`, `operator` (records deposits, credits and positions observed on venues and
    /// chains, executes liquidations), `read-only`, or an account id (reads that account,
    /// requests its withdrawals and transfers).
    pub scope: String,
}

/// A deposit to or withdrawal from one venue.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Movement {
    /// Venue holding the balance (`deribit`, `binance`, `aave`, `hub` …).
    #[schema(schema_with = venue_schema)]
    pub location: String,
    /// Asset symbol.
    #[schema(pattern = "^[A-Za-z0-9]{1,16}$", example = "BTC")]
    pub asset: String,
    /// Integer base units, as a string.
    #[schema(pattern = "^[0-9]{1,38}$", example = "100000000")]
    pub amount: String,
}

/// A transfer between venues or chains.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferReq {
    /// Source venue.
    #[schema(schema_with = venue_schema)]
    pub from: String,
    /// Destination venue.
    #[schema(schema_with = venue_schema)]
    pub to: String,
    /// Asset symbol.
    #[schema(pattern = "^[A-Za-z0-9]{1,16}$", example = "BTC")]
    pub asset: String,
    /// Base units debited at the source.
    #[schema(pattern = "^[0-9]{1,38}$", example = "100000000")]
    pub amount: String,
    /// Base units lost in transit.
    #[serde(default)]
    #[schema(pattern = "^[0-9]{1,38}$", example = "100000000")]
    pub fee: Option<String>,
}

/// Canonical positions for one venue, replacing the previous snapshot there.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PositionsReq {
    /// Venue.
    #[schema(schema_with = venue_schema)]
    pub venue: String,
    /// Positions in the canonical format (see `intermargin schema`).
    #[schema(value_type = Vec<Object>)]
    pub positions: Vec<Position>,
}

/// An asset declaration.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssetReq {
    /// Ticker.
    #[schema(pattern = "^[A-Za-z0-9]{1,16}$", example = "BTC")]
    pub symbol: String,
    /// Decimals of the base unit.
    pub decimals: u32,
}

/// Paging of the event log.
#[derive(Deserialize, IntoParams)]
pub struct EventQuery {
    /// Return events with a sequence number above this.
    pub after: Option<i64>,
    /// At most this many (1-1000, default 100).
    pub limit: Option<i64>,
}

fn valid_id(id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok && !["admin", "operator", "read-only"].contains(&id) {
        Ok(())
    } else {
        Err(ApiError::bad(
            "body.id",
            "1-64 characters of letters, digits, '-' or '_' (and not a role name: admin, operator, read-only)",
        ))
    }
}

/// Health probe, with what the live monitor has done (batches, accounts and time of the last re-margin).
#[utoipa::path(get, path = "/health", responses((status = 200, description = "Service is up")))]
pub async fn health(State(st): State<Shared>) -> Json<Value> {
    use std::sync::atomic::Ordering::{Acquire, Relaxed};
    let m = &st.monitor;
    // The halt before the clock: the monitor stores them in the opposite order, so a halt read
    // here is never from a tick later than the market time read after it.
    let halted_until = m.halt_until_ms.load(Acquire).max(0);
    let market_time = m.market_time_ms.load(Acquire);
    let feed = m.feed.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Json(json!({
        "status": "ok",
        "monitor": {
            "batches": m.batches.load(Relaxed),
            "last_accounts": m.last_accounts.load(Relaxed),
            "last_remargin_ms": m.last_remargin_us.load(Relaxed) as f64 / 1000.0,
            "last_shared_instruments": m.last_shared_instruments.load(Relaxed),
            "reports_serialised": m.reports_serialised.load(Relaxed),
            "reports_skipped": m.reports_skipped.load(Relaxed),
            "reports_cached": st.reports.read().await.len(),
            "market_time_ms": market_time,
            "liquidations_halted_until_ms": halted_until,
            "liquidations_halted": halted_until > market_time,
            "breakers": feed.breakers,
        },
        // `serve --live`: each source's status, prices withheld, latest alarms (null on a replay).
        "live": feed.sources.map(|sources| json!({
            "sources": sources,
            "withheld": feed.withheld,
            "recent_alarms": feed.recent_alarms,
            "accounts": feed.accounts,
        })),
    }))
}

/// Lists the accounts the key may see.
#[utoipa::path(get, path = "/api/v1/accounts", security(("bearer" = [])),
    responses((status = 200, description = "Account ids and names"), (status = 401, body = ErrorBody)))]
pub async fn list_accounts(
    State(st): State<Shared>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let p = principal(&st, &headers).await?;
    let all = st.ledger.accounts().await?;
    let visible: Vec<Value> = all
        .into_iter()
        .filter(|(id, _)| p.check_account(id).is_ok())
        .map(|(id, name)| json!({"id": id, "name": name}))
        .collect();
    Ok(Json(json!({ "accounts": visible })))
}

/// Opens an account (admin).
#[utoipa::path(post, path = "/api/v1/accounts", request_body = NewAccount, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "Makes retries safe")),
    responses((status = 201, description = "Created"), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_account(
    State(st): State<Shared>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = principal(&st, &headers).await?;
    p.require_admin()?;
    let (key, hash) = idempotency(&headers, &method, "/api/v1/accounts", &body)?;
    let req: NewAccount = parse_body(&body)?;
    valid_id(&req.id)?;
    let name = req.name.clone().unwrap_or_else(|| req.id.clone());
    let applied = st
        .ledger
        .apply(
            &p.key_id,
            &key,
            &hash,
            Mutation::CreateAccount {
                id: req.id.clone(),
                name,
            },
        )
        .await?;
    Ok(applied_response(applied))
}

/// Issues an API key (admin); the key is shown once.
#[utoipa::path(post, path = "/api/v1/keys", request_body = NewKey, security(("bearer" = [])),
    responses((status = 201, description = "The new key, shown once"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_key(
    State(st): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = principal(&st, &headers).await?;
    p.require_admin()?;
    let req: NewKey = parse_body(&body)?;
    let scope = match req.scope.as_str() {
        "admin" => Scope::Admin,
        "operator" => Scope::Operator,
        "read-only" => Scope::ReadOnly,
        other => {
            if !st
                .ledger
                .accounts()
                .await?
                .iter()
                .any(|(id, _)| id == other)
            {
                return Err(ApiError::bad(
                    "body.scope",
                    format!("expected admin, operator, read-only or an account id; no account {other:?}"),
                ));
            }
            Scope::Account(other.to_string())
        }
    };
    issue_key(&st, scope).await
}

/// Makes a key for `scope`, stores its keyed hash, and answers it (shown once).
async fn issue_key(st: &Shared, scope: Scope) -> Result<Response, ApiError> {
    let (full, id, secret) = random_key();
    st.ledger
        .insert_key(&id, &st.auth.hash_secret(&secret), scope.as_str())
        .await?;
    let out = json!({"key": full, "key_id": id, "scope": scope.label(), "role": scope.role()});
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// Every key (admin): id, scope, role, when created and revoked; never a secret or hash.
#[utoipa::path(get, path = "/api/v1/keys", security(("bearer" = [])),
    responses((status = 200, description = "Keys"), (status = 403, body = ErrorBody)))]
pub async fn list_keys(
    State(st): State<Shared>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let p = principal(&st, &headers).await?;
    p.require_admin()?;
    Ok(Json(json!({"keys": st.ledger.keys().await?})))
}

/// The keys a principal may manage: every key for an admin, its own for anyone else.
fn may_manage(p: &Principal, key_id: &str) -> Result<(), ApiError> {
    if p.scope == Scope::Admin || p.key_id == key_id {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("key {key_id:?} does not exist")))
    }
}

/// Revokes a key (admin, or the key itself): from now on it answers 401 on every route and its
/// WebSockets are closed. The last active admin key cannot be revoked (rotate it instead).
#[utoipa::path(delete, path = "/api/v1/keys/{key_id}", security(("bearer" = [])),
    params(("key_id" = String, Path, description = "Key id (the part after im_)")),
    responses((status = 200, description = "Revoked"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn revoke_key(
    State(st): State<Shared>,
    Path(key_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let p = principal(&st, &headers).await?;
    may_manage(&p, &key_id)?;
    let changed = st.ledger.revoke_key(&key_id, None).await?;
    st.auth.forget(&key_id);
    Ok(Json(
        json!({"key_id": key_id, "revoked": true, "changed": changed}),
    ))
}

/// Rotates a key (admin, or the key itself, admin keys included): issues a new key with the same
/// scope and revokes the old one in the same step; the new key is shown once.
#[utoipa::path(post, path = "/api/v1/keys/{key_id}/rotate", security(("bearer" = [])),
    params(("key_id" = String, Path, description = "Key id (the part after im_)")),
    responses((status = 201, description = "The new key, shown once"), (status = 404, body = ErrorBody)))]
pub async fn rotate_key(
    State(st): State<Shared>,
    Path(key_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let p = principal(&st, &headers).await?;
    may_manage(&p, &key_id)?;
    let Some((_, scope, revoked)) = st.ledger.key(&key_id).await? else {
        return Err(ApiError::NotFound(format!("key {key_id:?} does not exist")));
    };
    if revoked {
        return Err(ApiError::Conflict {
            field: "key_id".into(),
            reason: "the key is already revoked".into(),
        });
    }
    let scope = Scope::parse(&scope);
    let (full, id, secret) = random_key();
    let hash = st.auth.hash_secret(&secret);
    st.ledger.revoke_key(&key_id, Some((&id, &hash))).await?;
    st.auth.forget(&key_id);
    Ok((
        StatusCode::CREATED,
        Json(json!({"key": full, "key_id": id, "scope": scope.label(), "role": scope.role(), "replaces": key_id})),
    )
        .into_response())
}

/// The ledger's system accounts and its invariant, checked now against the whole event log
/// (admin, operator, read-only).
#[utoipa::path(get, path = "/api/v1/ledger", security(("bearer" = [])),
    responses((status = 200, description = "Insurance fund, bad debt, fees, settlements per asset; invariant holds"), (status = 503, body = ErrorBody)))]
pub async fn get_ledger(
    State(st): State<Shared>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let p = principal(&st, &headers).await?;
    if !p.scope.sees_all() {
        return Err(ApiError::Forbidden(
            "the ledger totals need an admin, operator or read-only key".into(),
        ));
    }
    let checked = st.ledger.verify_projections().await?;
    let system: Vec<Value> = st
        .ledger
        .system_balances()
        .await?
        .into_iter()
        .map(|(n, a, v)| json!({"name": n, "asset": a, "amount": v}))
        .collect();
    Ok(Json(json!({
        "invariant": "sum(balances) + insurance_fund + bad_debt = deposits - withdrawals - fees + settlements, per asset",
        "holds": true,
        "balances_checked": checked,
        "system": system,
    })))
}

/// Declares an asset and its decimals (admin).
#[utoipa::path(post, path = "/api/v1/assets", request_body = AssetReq, security(("bearer" = [])),
    responses((status = 200, description = "Declared"), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn declare_asset(
    State(st): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let p = principal(&st, &headers).await?;
    p.require_admin()?;
    let req: AssetReq = parse_body(&body)?;
    if req.symbol.is_empty()
        || req.symbol.len() > 16
        || !req.symbol.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(ApiError::bad("body.symbol", "1-16 ASCII letters or digits"));
    }
    if req.decimals > 30 {
        return Err(ApiError::bad("body.decimals", "at most 30"));
    }
    let asset = Asset::new(req.symbol, req.decimals);
    st.ledger.declare_asset(&asset).await?;
    *st.assets.write().await = st.ledger.assets().await?;
    Ok(Json(
        json!({"symbol": asset.symbol, "decimals": asset.decimals}),
    ))
}

/// An account's collateral and positions.
#[utoipa::path(get, path = "/api/v1/accounts/{id}", security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id")),
    responses((status = 200, description = "The account's book"), (status = 404, body = ErrorBody)))]
pub async fn get_account(
    State(st): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let p = principal(&st, &headers).await?;
    p.check_account(&id)?;
    ensure_exists(&st, &id).await?;
    let book = st.book(&id).await?;
    let mut body = serde_json::to_value(&book).map_err(|e| ApiError::Engine(e.to_string()))?;
    // Decimals of each asset, so that readers can show base-unit amounts in the asset's units.
    body["assets"] = serde_json::to_value(&*st.assets.read().await)
        .map_err(|e| ApiError::Engine(e.to_string()))?;
    Ok(Json(body))
}

/// Answers 404 unless the account exists.
pub async fn ensure_exists(st: &Shared, id: &str) -> Result<(), ApiError> {
    if st.books.read().await.contains_key(id) || st.ledger.account_exists(id).await? {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("account {id:?} does not exist")))
    }
}

/// An account's ledger events.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/events", security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id"), EventQuery),
    responses((status = 200, description = "Events, oldest first", body = [Event]), (status = 404, body = ErrorBody)))]
pub async fn get_events(
    State(st): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<EventQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let p = principal(&st, &headers).await?;
    p.check_account(&id)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad("limit", "must be between 1 and 1000"));
    }
    let events = st.ledger.events(&id, q.after.unwrap_or(0), limit).await?;
    Ok(Json(json!({ "events": events })))
}

/// The stored answer when this exact request was already applied (a retry), else `None`.
///
/// For writes whose content is computed at request time (a liquidation plan), so that a retry
/// returns what was applied instead of planning again.
pub async fn replay(
    st: &Shared,
    p: &Principal,
    headers: &HeaderMap,
    method: &Method,
    path: &str,
    body: &[u8],
) -> Result<Option<Response>, ApiError> {
    let (key, hash) = idempotency(headers, method, path, body)?;
    Ok(st
        .ledger
        .stored_response(&p.key_id, &key, &hash)
        .await?
        .map(applied_response))
}

/// Applies a mutation idempotently, then reloads and re-margins the account.
pub async fn mutate(
    st: &Shared,
    p: &Principal,
    headers: &HeaderMap,
    method: &Method,
    path: &str,
    body: &[u8],
    m: Mutation,
) -> Result<Response, ApiError> {
    let (key, hash) = idempotency(headers, method, path, body)?;
    let account = m.account().to_string();
    let applied = st.ledger.apply(&p.key_id, &key, &hash, m).await?;
    if !applied.replayed {
        st.reload_book(&account).await?;
        crate::monitor::remargin_accounts(st, std::slice::from_ref(&account)).await;
    }
    Ok(applied_response(applied))
}

/// Parses and checks the body shared by deposits and withdrawals.
fn parse_movement(body: &[u8]) -> Result<(Venue, String, Amount), ApiError> {
    let req: Movement = parse_body(body)?;
    Ok((
        parse_venue("body.location", &req.location)?,
        req.asset,
        parse_amount("body.amount", &req.amount)?,
    ))
}

/// Records a deposit.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/deposits", request_body = Movement, security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id"), ("Idempotency-Key" = String, Header, description = "Makes retries safe")),
    responses((status = 200, description = "The stored event"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn deposit(
    State(st): State<Shared>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = principal(&st, &headers).await?;
    p.check_operator(&id)?;
    let (location, asset, amount) = parse_movement(&body)?;
    check_value(&st, &id, "body.amount", location, &asset, amount).await?;
    let m = Mutation::Deposit {
        account: id.clone(),
        location,
        asset,
        amount,
    };
    mutate(&st, &p, &headers, &method, uri.path(), &body, m).await
}

/// Records a withdrawal; refused when the balance is insufficient.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/withdrawals", request_body = Movement, security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id"), ("Idempotency-Key" = String, Header, description = "Makes retries safe")),
    responses((status = 200, description = "The stored event"), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn withdraw(
    State(st): State<Shared>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = principal(&st, &headers).await?;
    p.check_request(&id)?;
    let (location, asset, amount) = parse_movement(&body)?;
    let m = Mutation::Withdraw {
        account: id.clone(),
        location,
        asset,
        amount,
    };
    mutate(&st, &p, &headers, &method, uri.path(), &body, m).await
}

/// A change to a credit line: hub collateral pledged to (or released from) a venue.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditReq {
    /// Venue receiving the credit (not `hub`), or `chain:<chain id>` for a spoke chain of the
    /// deployment `serve --xchain` connects to: then the credit is issued on chain through the
    /// guardians (asset: the hub's collateral token; a negative amount releases the whole credit).
    #[schema(schema_with = credit_venue_schema)]
    pub venue: String,
    /// Asset symbol, held at the hub.
    #[schema(pattern = "^[A-Za-z0-9]{1,16}$", example = "BTC")]
    pub asset: String,
    /// Signed integer of base units, as a string: positive pledges, negative releases.
    #[schema(pattern = "^-?[0-9]{1,38}$", example = "600000000")]
    pub amount: String,
}

/// Pledges hub collateral to a venue as a credit line, or releases it; the asset's credit lines
/// can never exceed the hub balance, and pledged collateral cannot be withdrawn or moved away.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/credits", request_body = CreditReq, security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id"), ("Idempotency-Key" = String, Header, description = "Makes retries safe")),
    responses((status = 200, description = "The stored event"), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn credit(
    State(st): State<Shared>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = principal(&st, &headers).await?;
    p.check_operator(&id)?;
    let req: CreditReq = parse_body(&body)?;
    if req.venue.starts_with(crate::xchain::CHAIN_VENUE_PREFIX) {
        return crate::xchain::credit(&st, &p, &id, &req, &headers, &method, uri.path(), &body)
            .await;
    }
    let venue = parse_venue("body.venue", &req.venue)?;
    if venue == Venue::Hub {
        return Err(ApiError::bad(
            "body.venue",
            "credit goes from the hub to a venue",
        ));
    }
    let amount = Amount::from_str(&req.amount)
        .ok()
        .filter(|a| a.0 != 0)
        .ok_or_else(|| {
            ApiError::bad(
                "body.amount",
                format!(
                    "expected a non-zero integer of base units, got {:?}",
                    req.amount
                ),
            )
        })?;
    let m = Mutation::Credit {
        account: id.clone(),
        venue,
        asset: req.asset,
        amount,
    };
    mutate(&st, &p, &headers, &method, uri.path(), &body, m).await
}

/// The account's credit lines by venue and asset.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/credits", security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id")),
    responses((status = 200, description = "Credit lines"), (status = 404, body = ErrorBody)))]
pub async fn get_credits(
    State(st): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let p = principal(&st, &headers).await?;
    p.check_account(&id)?;
    ensure_exists(&st, &id).await?;
    let lines: Vec<Value> = st
        .ledger
        .credits(&id)
        .await?
        .into_iter()
        .map(|(v, a, n)| json!({"venue": v, "asset": a, "amount": n}))
        .chain(crate::xchain::credit_lines(&st, &id).await?)
        .collect();
    Ok(Json(json!({"account": id, "credits": lines})))
}

/// Records a transfer between venues or chains.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/transfers", request_body = TransferReq, security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id"), ("Idempotency-Key" = String, Header, description = "Makes retries safe")),
    responses((status = 200, description = "The stored event"), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn transfer(
    State(st): State<Shared>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = principal(&st, &headers).await?;
    p.check_request(&id)?;
    let req: TransferReq = parse_body(&body)?;
    let amount = parse_amount("body.amount", &req.amount)?;
    let fee = match &req.fee {
        Some(f) => Amount::from_str(f).map_err(|_| {
            ApiError::bad(
                "body.fee",
                format!("expected an integer of base units, got {f:?}"),
            )
        })?,
        None => Amount::ZERO,
    };
    if fee.0 < 0 || fee >= amount {
        return Err(ApiError::bad(
            "body.fee",
            "must be at least 0 and below amount (a transfer must deliver something)",
        ));
    }
    let (from, to) = (
        parse_venue("body.from", &req.from)?,
        parse_venue("body.to", &req.to)?,
    );
    if from == to {
        return Err(ApiError::bad("body.to", "must differ from body.from"));
    }
    let m = Mutation::Transfer {
        account: id.clone(),
        from,
        to,
        asset: req.asset,
        amount,
        fee,
    };
    mutate(&st, &p, &headers, &method, uri.path(), &body, m).await
}

/// Replaces the account's positions on one venue with canonical positions.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/positions", request_body = PositionsReq, security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id"), ("Idempotency-Key" = String, Header, description = "Makes retries safe")),
    responses((status = 200, description = "The stored event"), (status = 400, body = ErrorBody)))]
pub async fn put_positions(
    State(st): State<Shared>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = principal(&st, &headers).await?;
    p.check_operator(&id)?;
    let req: PositionsReq = parse_body(&body)?;
    let venue = parse_venue("body.venue", &req.venue)?;
    let m = positions_mutation(&st, &id, venue, req.positions).await?;
    mutate(&st, &p, &headers, &method, uri.path(), &body, m).await
}

/// Most positions one venue's snapshot may hold (each is margined on every price tick).
pub const MAX_POSITIONS_PER_VENUE: usize = 1_000;
/// Largest value in the quote currency a balance, an amount or a position's notional may have:
/// far above any real book, far below where f64 margin figures lose their meaning.
pub const MAX_VALUE: f64 = 1e15;
/// Highest leverage a position may declare (venues offer at most 125×; 1000× leaves room).
pub const MAX_LEVERAGE: f64 = 1_000.0;

/// Refuses an amount, or the balance it would make, whose value would overflow a margin figure:
/// above [`MAX_VALUE`] units of the asset, or above [`MAX_VALUE`] in the quote currency when priced.
pub async fn check_value(
    st: &Shared,
    account: &str,
    field: &str,
    location: Venue,
    asset: &str,
    amount: Amount,
) -> Result<(), ApiError> {
    let decimals = st
        .assets
        .read()
        .await
        .iter()
        .find(|a| a.symbol == asset)
        .map(|a| a.decimals);
    let Some(decimals) = decimals else {
        return Ok(()); // the ledger refuses the undeclared asset, naming it
    };
    let held = st
        .book(account)
        .await
        .map(|b| {
            b.collateral
                .iter()
                .filter(|c| c.venue == location && c.asset == asset)
                .map(|c| c.amount.to_f64(decimals))
                .sum::<f64>()
        })
        .unwrap_or(0.0);
    let units = amount.to_f64(decimals);
    let px = st
        .market
        .read()
        .await
        .fx_rate(asset)
        .unwrap_or(1.0)
        .max(1.0);
    for (what, n) in [("amount", units), ("resulting balance", units + held)] {
        if !(n.is_finite() && n * px <= MAX_VALUE) {
            return Err(ApiError::bad(
                field,
                format!(
                    "the {what} ({n:e} {asset}) would be worth more than {MAX_VALUE:e} in the quote currency, \
                     beyond what margin figures can represent"
                ),
            ));
        }
    }
    Ok(())
}

/// Validates positions for one venue against the current market and wraps them as a mutation.
pub async fn positions_mutation(
    st: &Shared,
    id: &str,
    venue: Venue,
    positions: Vec<Position>,
) -> Result<Mutation, ApiError> {
    if positions.len() > MAX_POSITIONS_PER_VENUE {
        return Err(ApiError::bad(
            "body.positions",
            format!(
                "{} positions exceed the limit of {MAX_POSITIONS_PER_VENUE} per venue",
                positions.len()
            ),
        ));
    }
    let market = st.market.read().await.clone();
    let now = market.timestamp_ms;
    let mut check = intermargin_model::Portfolio::default();
    let mut acc = intermargin_model::Account::new(id);
    for (i, pos) in positions.iter().enumerate() {
        if pos.instrument.venue != venue {
            return Err(ApiError::bad(
                format!("body.positions[{i}].instrument.venue"),
                format!("must be {venue}"),
            ));
        }
        if let Some(l) = pos.leverage {
            if !(l.is_finite() && l > 0.0 && l <= MAX_LEVERAGE) {
                return Err(ApiError::bad(
                    format!("body.positions[{i}].leverage"),
                    format!("must be within (0, {MAX_LEVERAGE}], got {l}"),
                ));
            }
        }
        let price = market
            .mark_prices
            .get(&pos.instrument.id())
            .copied()
            .or_else(|| market.index_price(venue.as_str(), &pos.instrument.underlying))
            .unwrap_or(1.0)
            .abs()
            .max(1.0);
        let size = pos.size.abs() * pos.instrument.contract_size.abs().max(1.0);
        if !(size.is_finite() && size * price <= MAX_VALUE && size <= MAX_VALUE) {
            return Err(ApiError::bad(
                format!("body.positions[{i}].size"),
                format!(
                    "{} contracts are worth more than {MAX_VALUE:e} in the quote currency, beyond what margin figures can represent",
                    pos.size
                ),
            ));
        }
        for (name, v) in [
            ("entry_price", pos.entry_price),
            ("unrealized_pnl", pos.unrealized_pnl),
            ("isolated_margin", pos.isolated_margin),
        ] {
            if let Some(v) = v {
                if !(v.is_finite() && v.abs() <= MAX_VALUE) {
                    return Err(ApiError::bad(
                        format!("body.positions[{i}].{name}"),
                        format!("must be finite and at most {MAX_VALUE:e} in magnitude"),
                    ));
                }
            }
        }
    }
    acc.positions = positions;
    check.accounts.push(acc);
    check
        .validate(Some(now))
        .map_err(|e| ApiError::bad("body", e.to_string().replace("portfolio.accounts[0].", "")))?;
    let positions = check
        .accounts
        .pop()
        .map(|a| a.positions)
        .unwrap_or_default();
    Ok(Mutation::Positions {
        account: id.to_string(),
        venue,
        positions,
    })
}

/// The current market snapshot.
#[utoipa::path(get, path = "/api/v1/market", security(("bearer" = [])),
    responses((status = 200, description = "Prices, vols, FX"), (status = 401, body = ErrorBody)))]
pub async fn get_market(
    State(st): State<Shared>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    principal(&st, &headers).await?;
    let m = st.market.read().await;
    Ok(Json(
        serde_json::to_value(&*m).map_err(|e| ApiError::Engine(e.to_string()))?,
    ))
}

/// The latest margin report of an account, computing it on first use.
///
/// A report is served while it is as new as the account's figures (the monitor re-margins on
/// ticks without serialising, which leaves the cached report stale); otherwise it is built now
/// by the per-account path on the current book and prices, and cached.
pub async fn current_report(st: &Shared, id: &str) -> Result<Arc<crate::state::Report>, ApiError> {
    let seq = st.margins.read().await.get(id).map(|m| m.seq);
    if let Some(seq) = seq {
        if let Some(r) = st.reports.read().await.get(id, seq) {
            return Ok(r);
        }
    }
    ensure_exists(st, id).await?;
    crate::monitor::remargin_accounts(st, &[id.to_string()])
        .await
        .into_iter()
        .next()
        .map(|(_, r)| r)
        .ok_or_else(|| ApiError::Engine(format!("margin for {id:?} could not be computed")))
}

/// Query of the margin route.
#[derive(Debug, Deserialize, IntoParams)]
pub struct MarginQuery {
    /// `local` (default): this node's report; `workers`: the latest report of the remote margin
    /// workers (`serve --nats`), the unified pooled requirement on the batch engine.
    pub source: Option<String>,
}

/// The account's margin: each venue's own, the unified requirement, the saving and the explanation.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/margin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id"), MarginQuery),
    responses((status = 200, description = "Margin report"), (status = 404, body = ErrorBody)))]
pub async fn get_margin(
    State(st): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<MarginQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let p = principal(&st, &headers).await?;
    p.check_account(&id)?;
    match q.source.as_deref() {
        None | Some("local") => {}
        Some("workers") => {
            let r = st.worker_reports.get(&id).ok_or_else(|| {
                ApiError::NotFound(format!(
                    "no margin worker report for {id:?} (serve --nats relays them)"
                ))
            })?;
            return Ok((
                [(
                    axum::http::header::CONTENT_TYPE,
                    axum::http::HeaderValue::from_static("application/json"),
                )],
                r.json.clone(),
            )
                .into_response());
        }
        Some(other) => {
            return Err(ApiError::bad(
                "source",
                format!("expected local or workers, got {other:?}"),
            ))
        }
    }
    let report = current_report(&st, &id).await?;
    if report.state.is_none() {
        return Err(ApiError::Engine(format!(
            "margin for {id:?} could not be computed: {}",
            serde_json::from_slice::<Value>(&report.json)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or_default()
        )));
    }
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        report.json.clone(),
    )
        .into_response())
}

//! `serve --xchain DIR/deployment.json`: credit lines on spoke chains are on-chain credits.
//!
//! A credit request for venue `chain:<chain id>` (a spoke chain of the deployment) is carried
//! out on chain, through the guardians, before the ledger records it:
//! 1. the service checks the hub's invariant on chain (collateral − every outstanding credit,
//!    on the smaller collateral and larger credit of the latest and the final block, must cover
//!    the amount) and writes a `locking` row;
//! 2. the account's own key (derived from the service's secret, [`intermargin_xchain::client`])
//!    calls `lockCredit` on the hub, which re-checks the invariant (row `pending`, lock tx);
//! 3. the guardian processes see the lock once final, re-value the account with the unified
//!    model and sign (or refuse, in the shared signatures directory); the relayer submits
//!    `acceptCredit` on the spoke;
//! 4. once the spoke's `CreditAccepted` is `finality` blocks deep on its canonical chain, the row
//!    becomes `accepted` (its tx hash stored) and a `xchain_credit` event is appended, in one
//!    database transaction with the request's idempotency record.
//!
//! A refusal (the hub's revert, a quorum of guardian refusals, no acceptance before the
//! deadline or the credit's expiry) voids the credit on the spoke (`releaseCredit`, which makes
//! the nonce unacceptable forever), leaves the ledger's credit lines unchanged and answers 409
//! naming the reason. Releasing (a negative amount) calls `releaseCredit`; the guardians attest
//! it to the hub, and the row is removed with a `xchain_credit_released` event once the hub's
//! retirement is final. A background task reconciles every row with the chains at start and
//! every few seconds (a lock sent but not recorded, an acceptance or retirement seen after a
//! restart), so nothing stays half-written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, B256, U256};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use intermargin_xchain::client::{human, Acceptance, Head, LockOutcome, XchainClient};
use intermargin_xchain::devnet::{Deployment, Role};
use intermargin_xchain::XchainError;
use serde_json::{json, Value};
use sqlx::Row;
use tokio::sync::RwLock;

use crate::api::{applied_response, ensure_exists, idempotency, principal, CreditReq};
use crate::auth::{Principal, Scope};
use crate::error::ApiError;
use crate::state::Shared;

/// Prefix of a spoke chain's venue name in credit requests: `chain:<chain id>`.
pub const CHAIN_VENUE_PREFIX: &str = "chain:";

/// How `serve --xchain` connects.
#[derive(Debug, Clone)]
pub struct XchainConfig {
    /// `deployment.json` (as `xchain devnet` writes it, or listing real RPC endpoints).
    pub deployment: PathBuf,
    /// The service's secret key file; default `service.key` beside the deployment file.
    pub key: Option<PathBuf>,
    /// The guardians' signatures directory (for their refusals); default `signatures` beside
    /// the deployment file when it exists.
    pub signatures: Option<PathBuf>,
    /// Blocks an on-chain event must be buried under before the ledger counts it.
    pub finality: u64,
    /// Longest a credit request waits for the spoke's final acceptance (or a release for the
    /// hub's final retirement).
    pub timeout: Duration,
    /// Validity of a credit (its on-chain expiry is now + this).
    pub credit_ttl: Duration,
}

/// A row of `xchain_credits`.
#[derive(Debug, Clone, PartialEq)]
pub struct CreditRow {
    /// Ledger account.
    pub account: String,
    /// Spoke chain id.
    pub chain_id: u64,
    /// The account's on-chain address.
    pub address: Address,
    /// Asset symbol (the collateral token's).
    pub asset: String,
    /// Base units.
    pub amount: u128,
    /// `locking`, `pending`, `accepted`, `releasing` or `voiding`.
    pub state: String,
    /// Credit nonce at the hub, once locked.
    pub nonce: Option<u64>,
    /// The hub's `creditNonce` before the lock.
    pub prior_nonce: u64,
    /// Expiry, UTC ms.
    pub expiry_ms: i64,
    /// Hub block to search the lock from.
    pub hub_from: u64,
    /// Spoke block to search the acceptance from.
    pub spoke_from: u64,
    /// `lockCredit` transaction.
    pub lock_tx: Option<String>,
    /// `acceptCredit` transaction (the relayer's).
    pub accept_tx: Option<String>,
    /// `releaseCredit` transaction.
    pub release_tx: Option<String>,
    /// Why a credit is being voided.
    pub reason: Option<String>,
    /// Created, UTC ms.
    pub created_ms: i64,
}

impl CreditRow {
    /// The row as JSON (amounts in base units and with the token symbol).
    pub fn to_json(&self, decimals: u32) -> Value {
        json!({
            "venue": format!("{CHAIN_VENUE_PREFIX}{}", self.chain_id),
            "chain_id": self.chain_id,
            "address": self.address,
            "asset": self.asset,
            "amount": self.amount.to_string(),
            "amount_base": self.amount.to_string(),
            "amount_human": format!("{} {}", human(U256::from(self.amount), decimals), self.asset),
            "state": self.state,
            "nonce": self.nonce,
            "expiry_ms": self.expiry_ms,
            "lock_tx": self.lock_tx,
            "accept_tx": self.accept_tx,
            "release_tx": self.release_tx,
            "reason": self.reason,
        })
    }
}

/// The service's connection to a deployment.
pub struct Xchain {
    /// The chain client.
    pub client: Arc<XchainClient>,
    cfg: XchainConfig,
    locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Heads seen by the last reconciliation.
    pub heads: RwLock<Vec<Head>>,
    /// Whether the first reconciliation has run.
    pub ready: AtomicBool,
    /// Disagreements between ledger and chains found by the last reconciliation.
    pub issues: RwLock<Vec<String>>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn upstream(e: XchainError) -> ApiError {
    ApiError::Upstream(e.to_string())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, XchainError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Engine(format!("xchain task: {e}")))?
        .map_err(upstream)
}

/// Reads a `0x`-hex 32-byte secret key file, naming the flag on error.
fn read_secret(path: &Path) -> Result<[u8; 32], ApiError> {
    intermargin_xchain::agents::load_secret(path)
        .map_err(|e| ApiError::bad("--xchain-key", e.to_string()))
}

impl Xchain {
    /// Loads the deployment and the service key and connects to the hub (reads the token).
    pub async fn connect(cfg: XchainConfig) -> Result<Xchain, ApiError> {
        let d = Deployment::load(&cfg.deployment)
            .map_err(|e| ApiError::bad("--xchain", e.to_string()))?;
        let dir = cfg
            .deployment
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let key_path = cfg
            .key
            .clone()
            .unwrap_or_else(|| dir.join(intermargin_xchain::devnet::SERVICE_KEY_FILE));
        let secret = read_secret(&key_path)?;
        let sigs = cfg
            .signatures
            .clone()
            .or_else(|| Some(dir.join("signatures")).filter(|p| p.is_dir()));
        let finality = cfg.finality;
        let client =
            tokio::task::spawn_blocking(move || XchainClient::connect(d, secret, finality, sigs))
                .await
                .map_err(|e| ApiError::Engine(format!("xchain task: {e}")))?
                .map_err(|e| ApiError::bad("--xchain", e.to_string()))?;
        Ok(Xchain {
            client: Arc::new(client),
            cfg,
            locks: Default::default(),
            heads: RwLock::new(Vec::new()),
            ready: AtomicBool::new(false),
            issues: RwLock::new(Vec::new()),
        })
    }

    fn account_lock(&self, account: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(account.to_string()).or_default().clone()
    }

    fn human(&self, base: U256) -> String {
        format!(
            "{} {}",
            human(base, self.client.decimals),
            self.client.symbol
        )
    }
}

/// Connects to the deployment and starts the reconciliation task; call inside the runtime.
pub async fn attach(st: &Shared, cfg: XchainConfig) -> Result<(), ApiError> {
    let x = Arc::new(Xchain::connect(cfg).await?);
    if st.xchain.set(x).is_err() {
        return Err(ApiError::Engine("xchain already attached".into()));
    }
    let st2 = st.clone();
    tokio::spawn(async move {
        loop {
            if let Err(e) = reconcile(&st2).await {
                tracing::warn!("xchain reconcile: {e}");
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
    Ok(())
}

fn xchain(st: &Shared) -> Result<Arc<Xchain>, ApiError> {
    st.xchain.get().cloned().ok_or_else(|| {
        ApiError::NotFound("cross-chain credits need the service started with --xchain".into())
    })
}

// ----- storage -----

fn row_of(r: &sqlx::any::AnyRow) -> Result<CreditRow, ApiError> {
    let opt =
        |k: &str| -> Result<Option<String>, ApiError> { Ok(r.try_get::<Option<String>, _>(k)?) };
    let address: String = r.try_get("address")?;
    let amount: String = r.try_get("amount")?;
    let nonce: Option<i64> = r.try_get("credit_nonce")?;
    Ok(CreditRow {
        account: r.try_get("account_id")?,
        chain_id: r.try_get::<i64, _>("chain_id")? as u64,
        address: address
            .parse()
            .map_err(|e| ApiError::Storage(format!("xchain_credits.address: {e}")))?,
        asset: r.try_get("asset")?,
        amount: amount
            .parse()
            .map_err(|e| ApiError::Storage(format!("xchain_credits.amount: {e}")))?,
        state: r.try_get("state")?,
        nonce: nonce.map(|n| n as u64),
        prior_nonce: r.try_get::<i64, _>("prior_nonce")? as u64,
        expiry_ms: r.try_get("expiry_ms")?,
        hub_from: r.try_get::<i64, _>("hub_from")? as u64,
        spoke_from: r.try_get::<i64, _>("spoke_from")? as u64,
        lock_tx: opt("lock_tx")?,
        accept_tx: opt("accept_tx")?,
        release_tx: opt("release_tx")?,
        reason: opt("reason")?,
        created_ms: r.try_get("created_ms")?,
    })
}

/// Every row of `xchain_credits`, or one account's.
pub async fn rows(st: &Shared, account: Option<&str>) -> Result<Vec<CreditRow>, ApiError> {
    let q = match account {
        Some(a) => sqlx::query(
            "SELECT * FROM xchain_credits WHERE account_id = $1 ORDER BY account_id, chain_id",
        )
        .bind(a.to_string()),
        None => sqlx::query("SELECT * FROM xchain_credits ORDER BY account_id, chain_id"),
    };
    q.fetch_all(st.ledger.pool())
        .await?
        .iter()
        .map(row_of)
        .collect()
}

async fn row(st: &Shared, account: &str, chain_id: u64) -> Result<Option<CreditRow>, ApiError> {
    Ok(rows(st, Some(account))
        .await?
        .into_iter()
        .find(|r| r.chain_id == chain_id))
}

async fn insert_row(st: &Shared, r: &CreditRow) -> Result<(), ApiError> {
    let _g = st.ledger.write_guard().await;
    let now = now_ms();
    sqlx::query(
        "INSERT INTO xchain_credits (account_id, chain_id, address, asset, amount, state, prior_nonce, expiry_ms, hub_from, spoke_from, created_ms, updated_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(r.account.clone())
    .bind(r.chain_id as i64)
    .bind(r.address.to_string())
    .bind(r.asset.clone())
    .bind(r.amount.to_string())
    .bind(r.state.clone())
    .bind(r.prior_nonce as i64)
    .bind(r.expiry_ms)
    .bind(r.hub_from as i64)
    .bind(r.spoke_from as i64)
    .bind(now)
    .bind(now)
    .execute(st.ledger.pool())
    .await?;
    Ok(())
}

/// Moves a row to `state`, setting the given optional columns.
async fn set_state(
    st: &Shared,
    account: &str,
    chain_id: u64,
    state: &str,
    nonce: Option<u64>,
    column: Option<(&str, String)>,
) -> Result<(), ApiError> {
    let _g = st.ledger.write_guard().await;
    let now = now_ms();
    sqlx::query("UPDATE xchain_credits SET state = $1, updated_ms = $2 WHERE account_id = $3 AND chain_id = $4")
        .bind(state.to_string())
        .bind(now)
        .bind(account.to_string())
        .bind(chain_id as i64)
        .execute(st.ledger.pool())
        .await?;
    if let Some(n) = nonce {
        sqlx::query(
            "UPDATE xchain_credits SET credit_nonce = $1 WHERE account_id = $2 AND chain_id = $3",
        )
        .bind(n as i64)
        .bind(account.to_string())
        .bind(chain_id as i64)
        .execute(st.ledger.pool())
        .await?;
    }
    if let Some((col, v)) = column {
        // Column names come from this module only.
        let sql = match col {
            "lock_tx" => {
                "UPDATE xchain_credits SET lock_tx = $1 WHERE account_id = $2 AND chain_id = $3"
            }
            "release_tx" => {
                "UPDATE xchain_credits SET release_tx = $1 WHERE account_id = $2 AND chain_id = $3"
            }
            "reason" => {
                "UPDATE xchain_credits SET reason = $1 WHERE account_id = $2 AND chain_id = $3"
            }
            _ => return Err(ApiError::Engine(format!("xchain_credits: no column {col}"))),
        };
        sqlx::query(sql)
            .bind(v)
            .bind(account.to_string())
            .bind(chain_id as i64)
            .execute(st.ledger.pool())
            .await?;
    }
    Ok(())
}

async fn delete_row(st: &Shared, account: &str, chain_id: u64) -> Result<(), ApiError> {
    let _g = st.ledger.write_guard().await;
    sqlx::query("DELETE FROM xchain_credits WHERE account_id = $1 AND chain_id = $2")
        .bind(account.to_string())
        .bind(chain_id as i64)
        .execute(st.ledger.pool())
        .await?;
    Ok(())
}

/// The request's idempotency record, stored with the ledger change it answers.
struct Idem {
    principal: String,
    key: String,
    hash: String,
}

/// In one transaction: the row's final step (`accepted` with its tx, or removed), the event,
/// and the idempotency record of the request that asked for it. Returns the stored answer.
async fn commit_event(
    st: &Shared,
    r: &CreditRow,
    kind: &str,
    accept_tx: Option<&str>,
    idem: Option<&Idem>,
    decimals: u32,
) -> Result<Value, ApiError> {
    let _g = st.ledger.write_guard().await;
    let now = now_ms();
    let mut tx = st.ledger.pool().begin().await?;
    let out = async {
        match accept_tx {
            Some(h) => {
                sqlx::query("UPDATE xchain_credits SET state = 'accepted', accept_tx = $1, updated_ms = $2 WHERE account_id = $3 AND chain_id = $4")
                    .bind(h.to_string())
                    .bind(now)
                    .bind(r.account.clone())
                    .bind(r.chain_id as i64)
                    .execute(&mut *tx)
                    .await?;
            }
            None => {
                sqlx::query("DELETE FROM xchain_credits WHERE account_id = $1 AND chain_id = $2")
                    .bind(r.account.clone())
                    .bind(r.chain_id as i64)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let mut done = r.clone();
        if let Some(h) = accept_tx {
            done.state = "accepted".into();
            done.accept_tx = Some(h.to_string());
        } else {
            done.state = "released".into();
        }
        let payload = done.to_json(decimals);
        let row = sqlx::query(
            "INSERT INTO events (account_id, kind, payload, created_ms) VALUES ($1, $2, $3, $4) RETURNING seq",
        )
        .bind(r.account.clone())
        .bind(kind.to_string())
        .bind(payload.to_string())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let seq: i64 = row.try_get(0)?;
        let body = json!({"seq": seq, "account_id": r.account, "kind": kind, "payload": payload, "created_ms": now});
        if let Some(i) = idem {
            sqlx::query(
                "INSERT INTO idempotency (principal, idem_key, request_hash, status, response) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(i.principal.clone())
            .bind(i.key.clone())
            .bind(i.hash.clone())
            .bind(200i32)
            .bind(body.to_string())
            .execute(&mut *tx)
            .await?;
        }
        Ok::<Value, ApiError>(body)
    }
    .await;
    match out {
        Ok(body) => {
            tx.commit().await?;
            Ok(body)
        }
        Err(e) => {
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

// ----- requests -----

/// Parses `chain:<id>` into a spoke chain id of the deployment, or says why not.
pub fn parse_chain_venue(client: &XchainClient, venue: &str) -> Result<u64, ApiError> {
    let spokes = client.spoke_ids();
    let list = spokes
        .iter()
        .map(|c| format!("{CHAIN_VENUE_PREFIX}{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let id: u64 = venue
        .strip_prefix(CHAIN_VENUE_PREFIX)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            ApiError::bad(
                "body.venue",
                format!("expected chain:<decimal chain id>, got {venue:?} (spoke chains: {list})"),
            )
        })?;
    match client.chain(id).map(|c| c.role) {
        Some(Role::Spoke) => Ok(id),
        Some(Role::Hub) => Err(ApiError::bad(
            "body.venue",
            format!("chain {id} is the hub chain, which holds the collateral; credits go to a spoke chain ({list})"),
        )),
        None => Err(ApiError::bad(
            "body.venue",
            format!("chain {id} is not a spoke chain of the deployment (spoke chains: {list})"),
        )),
    }
}

/// `POST /api/v1/accounts/{id}/credits` with venue `chain:<id>` (called by `api::credit` after
/// the operator check): issues (positive amount) or releases (negative, the whole credit) an
/// on-chain credit.
#[allow(clippy::too_many_arguments)]
pub async fn credit(
    st: &Shared,
    p: &Principal,
    account: &str,
    req: &CreditReq,
    headers: &HeaderMap,
    method: &Method,
    path: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    let x = xchain(st).map_err(|_| {
        ApiError::bad(
            "body.venue",
            format!(
                "{:?} names a chain, but the service was started without --xchain",
                req.venue
            ),
        )
    })?;
    let chain_id = parse_chain_venue(&x.client, &req.venue)?;
    if req.asset != x.client.symbol {
        return Err(ApiError::bad(
            "body.asset",
            format!(
                "credits on chain:{chain_id} are in the hub's collateral token {}, not {:?}",
                x.client.symbol, req.asset
            ),
        ));
    }
    let amount: i128 = req
        .amount
        .parse()
        .ok()
        .filter(|a: &i128| *a != 0)
        .ok_or_else(|| {
            ApiError::bad(
                "body.amount",
                format!(
                    "expected a non-zero integer of base units, got {:?}",
                    req.amount
                ),
            )
        })?;
    ensure_exists(st, account).await?;
    let (key, hash) = idempotency(headers, method, path, body)?;
    if let Some(stored) = st.ledger.stored_response(&p.key_id, &key, &hash).await? {
        return Ok(applied_response(stored));
    }
    let lock = x.account_lock(account);
    let _g = lock.lock().await;
    // A retry that waited for the first attempt gets its answer.
    if let Some(stored) = st.ledger.stored_response(&p.key_id, &key, &hash).await? {
        return Ok(applied_response(stored));
    }
    if !x.ready.load(Ordering::SeqCst) {
        return Err(ApiError::Conflict {
            field: "body.venue".into(),
            reason: "the service is still reconciling the ledger with the chains; retry shortly"
                .into(),
        });
    }
    let idem = Idem {
        principal: p.key_id.clone(),
        key,
        hash,
    };
    if amount > 0 {
        issue(st, &x, account, chain_id, amount as u128, &idem).await
    } else {
        release(st, &x, account, chain_id, amount.unsigned_abs(), &idem).await
    }
}

async fn issue(
    st: &Shared,
    x: &Arc<Xchain>,
    account: &str,
    chain_id: u64,
    amount: u128,
    idem: &Idem,
) -> Result<Response, ApiError> {
    if let Some(r) = row(st, account, chain_id).await? {
        return Err(ApiError::Conflict {
            field: "body.venue".into(),
            reason: format!(
                "{account} already has a credit of {} on chain:{chain_id} ({}); release it before issuing another",
                x.human(U256::from(r.amount)),
                r.state
            ),
        });
    }
    let c = x.client.clone();
    let id = account.to_string();
    // The hub's invariant on the smaller collateral and larger credit of latest and final.
    let (addr, latest, fin, hub_block, spoke_block) = blocking(move || {
        let addr = c.address_of(&id)?;
        let hub_block = c.block_number(c.deployment.hub().chain_id)?;
        let latest = c.hub_account(addr, None)?;
        let fin = c.hub_account(addr, Some(hub_block.saturating_sub(c.finality)))?;
        let spoke_block = c.block_number(chain_id)?;
        Ok((addr, latest, fin, hub_block, spoke_block))
    })
    .await?;
    let coll = latest.collateral.min(fin.collateral);
    let out = latest.total_outstanding.max(fin.total_outstanding);
    let headroom = coll.saturating_sub(out);
    let want = U256::from(amount);
    if want > headroom {
        return Err(ApiError::Conflict {
            field: "body.amount".into(),
            reason: format!(
                "{amount} base units ({}) exceed the headroom at the hub: collateral {} − outstanding credits {} = {} base units ({})",
                x.human(want),
                coll,
                out,
                headroom,
                x.human(headroom)
            ),
        });
    }
    let expiry = now_ms() + x.cfg.credit_ttl.as_millis() as i64;
    let prior = latest.credit_nonce.get(&chain_id).copied().unwrap_or(0);
    let mut r = CreditRow {
        account: account.to_string(),
        chain_id,
        address: addr,
        asset: x.client.symbol.clone(),
        amount,
        state: "locking".into(),
        nonce: None,
        prior_nonce: prior,
        expiry_ms: expiry,
        hub_from: hub_block,
        spoke_from: spoke_block,
        lock_tx: None,
        accept_tx: None,
        release_tx: None,
        reason: None,
        created_ms: now_ms(),
    };
    insert_row(st, &r).await?;
    let c = x.client.clone();
    let id = account.to_string();
    let outcome = blocking(move || c.lock(&id, chain_id, U256::from(amount), expiry as u64)).await;
    let (nonce, lock_tx) = match outcome {
        Ok(LockOutcome::Locked { nonce, tx_hash, .. }) => (nonce, tx_hash),
        Ok(LockOutcome::Refused { reason, detail }) => {
            delete_row(st, account, chain_id).await?;
            return Err(ApiError::Conflict {
                field: "body.amount".into(),
                reason: format!(
                    "the hub refused to lock the credit: {reason} ({}); the ledger is unchanged",
                    short(&detail)
                ),
            });
        }
        // Unknown whether the lock was sent: the row stays `locking` and the reconciliation
        // finds the lock on chain, or removes the row.
        Err(e) => return Err(e),
    };
    set_state(
        st,
        account,
        chain_id,
        "pending",
        Some(nonce),
        Some(("lock_tx", lock_tx.to_string())),
    )
    .await?;
    r.state = "pending".into();
    r.nonce = Some(nonce);
    r.lock_tx = Some(lock_tx.to_string());
    let deadline = tokio::time::Instant::now() + x.cfg.timeout;
    let guardians = x.client.deployment.guardians.len();
    let threshold = x.client.deployment.threshold;
    loop {
        let c = x.client.clone();
        let from = r.spoke_from;
        match blocking(move || c.acceptance(chain_id, addr, nonce, from)).await {
            Ok(Acceptance::Final { tx_hash, .. }) => {
                let body = commit_event(
                    st,
                    &r,
                    "xchain_credit",
                    Some(&tx_hash.to_string()),
                    Some(idem),
                    x.client.decimals,
                )
                .await?;
                return Ok((StatusCode::OK, Json(body)).into_response());
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("xchain acceptance of {account} on {chain_id}: {e}"),
        }
        let refusals = x.client.refusals(chain_id, addr, nonce);
        let why = if refusals.len() > guardians - threshold {
            Some(format!(
                "guardians refused to sign ({} of {guardians}, {threshold} needed): {}",
                refusals.len(),
                refusals
                    .iter()
                    .map(|(g, why)| format!("{g}: {why}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        } else if now_ms() >= expiry {
            Some(format!(
                "the credit expired at {expiry} ms before the spoke accepted it"
            ))
        } else if tokio::time::Instant::now() >= deadline {
            Some(format!(
                "not accepted on chain:{chain_id} at finality depth {} within {} s ({} of {threshold} guardian signatures seen)",
                x.client.finality,
                x.cfg.timeout.as_secs(),
                x.client.signature_count(chain_id, addr, nonce)
            ))
        } else {
            None
        };
        if let Some(why) = why {
            let tx = void(st, x, &r, &why).await?;
            return Err(ApiError::Conflict {
                field: "body.amount".into(),
                reason: format!(
                    "credit refused: {why}; voided on chain:{chain_id} ({}); the ledger's credit lines are unchanged",
                    tx.map(|t| format!("releaseCredit tx {t}"))
                        .unwrap_or_else(|| "release pending".into())
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn short(s: &str) -> String {
    s.chars().take(300).collect()
}

/// Voids a locked credit that will not be booked: `releaseCredit` on the spoke (the nonce can
/// never be accepted after it); the row stays `voiding` until the hub's retirement is final.
async fn void(
    st: &Shared,
    x: &Arc<Xchain>,
    r: &CreditRow,
    why: &str,
) -> Result<Option<B256>, ApiError> {
    let Some(nonce) = r.nonce else {
        delete_row(st, &r.account, r.chain_id).await?;
        return Ok(None);
    };
    set_state(
        st,
        &r.account,
        r.chain_id,
        "voiding",
        None,
        Some(("reason", why.to_string())),
    )
    .await?;
    let c = x.client.clone();
    let id = r.account.clone();
    let chain = r.chain_id;
    match blocking(move || c.release(&id, chain, nonce)).await {
        Ok(Ok(tx)) => {
            set_state(
                st,
                &r.account,
                r.chain_id,
                "voiding",
                None,
                Some(("release_tx", tx.to_string())),
            )
            .await?;
            Ok(Some(tx))
        }
        Ok(Err((reason, detail))) => {
            tracing::warn!("voiding {}@{}: {reason} {detail}", r.account, r.chain_id);
            Ok(None)
        }
        Err(e) => {
            tracing::warn!("voiding {}@{}: {e}", r.account, r.chain_id);
            Ok(None)
        }
    }
}

async fn release(
    st: &Shared,
    x: &Arc<Xchain>,
    account: &str,
    chain_id: u64,
    amount: u128,
    idem: &Idem,
) -> Result<Response, ApiError> {
    let r = match row(st, account, chain_id).await? {
        Some(r) if r.state == "accepted" => r,
        Some(r) => {
            return Err(ApiError::Conflict {
                field: "body.venue".into(),
                reason: format!(
                    "the credit on chain:{chain_id} is {}, not accepted; nothing to release yet",
                    r.state
                ),
            })
        }
        None => {
            return Err(ApiError::Conflict {
                field: "body.venue".into(),
                reason: format!("{account} has no credit on chain:{chain_id} to release"),
            })
        }
    };
    if amount != r.amount {
        return Err(ApiError::bad(
            "body.amount",
            format!(
                "an on-chain credit is released whole: expected -{} ({}), got -{amount}",
                r.amount,
                x.human(U256::from(r.amount))
            ),
        ));
    }
    let nonce = r
        .nonce
        .ok_or_else(|| ApiError::Storage("accepted credit without a nonce".into()))?;
    let c = x.client.clone();
    let id = account.to_string();
    match blocking(move || c.release(&id, chain_id, nonce)).await? {
        Err((reason, detail)) => Err(ApiError::Conflict {
            field: "body.amount".into(),
            reason: format!(
                "the spoke refused the release: {reason} ({}); the ledger is unchanged",
                short(&detail)
            ),
        }),
        Ok(tx) => {
            set_state(
                st,
                account,
                chain_id,
                "releasing",
                None,
                Some(("release_tx", tx.to_string())),
            )
            .await?;
            let deadline = tokio::time::Instant::now() + x.cfg.timeout;
            let addr = r.address;
            while tokio::time::Instant::now() < deadline {
                let c = x.client.clone();
                if blocking(move || c.retired(addr, chain_id, nonce))
                    .await
                    .unwrap_or(false)
                {
                    let mut done = r.clone();
                    done.release_tx = Some(tx.to_string());
                    let body = commit_event(
                        st,
                        &done,
                        "xchain_credit_released",
                        None,
                        Some(idem),
                        x.client.decimals,
                    )
                    .await?;
                    return Ok((StatusCode::OK, Json(body)).into_response());
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            let mut now = r.clone();
            now.state = "releasing".into();
            now.release_tx = Some(tx.to_string());
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({"state": "releasing", "credit": now.to_json(x.client.decimals),
                    "message": format!("released on chain:{chain_id} in {tx}; the hub's retirement is not final yet, the ledger completes it when it is")})),
            )
                .into_response())
        }
    }
}

// ----- reconciliation -----

/// One pass: every row against the chains (see the module doc); records disagreements.
pub async fn reconcile(st: &Shared) -> Result<(), ApiError> {
    let x = xchain(st)?;
    let c = x.client.clone();
    *x.heads.write().await = tokio::task::spawn_blocking(move || c.heads())
        .await
        .map_err(|e| ApiError::Engine(e.to_string()))?;
    let mut issues = Vec::new();
    for r in rows(st, None).await? {
        let lock = x.account_lock(&r.account);
        // A request in flight owns its rows.
        let Ok(_g) = lock.try_lock() else { continue };
        if let Err(e) = reconcile_row(st, &x, &r, &mut issues).await {
            issues.push(format!("{}@chain:{}: {e}", r.account, r.chain_id));
        }
    }
    *x.issues.write().await = issues;
    x.ready.store(true, Ordering::SeqCst);
    Ok(())
}

async fn reconcile_row(
    st: &Shared,
    x: &Arc<Xchain>,
    r: &CreditRow,
    issues: &mut Vec<String>,
) -> Result<(), ApiError> {
    let chain = r.chain_id;
    let addr = r.address;
    let age = Duration::from_millis((now_ms() - r.created_ms).max(0) as u64);
    match r.state.as_str() {
        "locking" => {
            let c = x.client.clone();
            let (prior, from) = (r.prior_nonce, r.hub_from);
            let found = blocking(move || c.find_lock(addr, chain, prior + 1, from)).await?;
            match found {
                Some((tx, _)) => {
                    set_state(
                        st,
                        &r.account,
                        chain,
                        "pending",
                        Some(prior + 1),
                        Some(("lock_tx", tx.to_string())),
                    )
                    .await?
                }
                None if age > Duration::from_secs(60) => delete_row(st, &r.account, chain).await?,
                None => {}
            }
        }
        "pending" => {
            let nonce = r.nonce.unwrap_or(r.prior_nonce + 1);
            let c = x.client.clone();
            let from = r.spoke_from;
            match blocking(move || c.acceptance(chain, addr, nonce, from)).await? {
                Acceptance::Final { tx_hash, .. } => {
                    commit_event(
                        st,
                        r,
                        "xchain_credit",
                        Some(&tx_hash.to_string()),
                        None,
                        x.client.decimals,
                    )
                    .await?;
                }
                _ if now_ms() >= r.expiry_ms || age > x.cfg.timeout => {
                    void(
                        st,
                        x,
                        r,
                        "not accepted before the deadline (found on reconciliation)",
                    )
                    .await?;
                }
                _ => {}
            }
        }
        "accepted" => {
            let nonce = r.nonce.unwrap_or(0);
            let c = x.client.clone();
            let (line, retired, hub) = blocking(move || {
                Ok((
                    c.spoke_line(chain, addr, None)?,
                    c.retired(addr, chain, nonce)?,
                    c.hub_account(addr, None)?,
                ))
            })
            .await?;
            if retired {
                // Released outside the service (the account's key or a trading contract): the
                // chain is the truth.
                commit_event(
                    st,
                    r,
                    "xchain_credit_released",
                    None,
                    None,
                    x.client.decimals,
                )
                .await?;
            } else if line.nonce != nonce || line.amount != U256::from(r.amount) {
                issues.push(format!(
                    "{}@chain:{chain}: the ledger holds credit nonce {nonce} of {} base units but the spoke's creditOf is nonce {} of {}",
                    r.account, r.amount, line.nonce, line.amount
                ));
            } else if hub.outstanding.get(&chain).copied().unwrap_or_default()
                < U256::from(r.amount)
            {
                issues.push(format!(
                    "{}@chain:{chain}: the hub's outstandingCredit is below the ledger's {} base units",
                    r.account, r.amount
                ));
            }
        }
        "releasing" | "voiding" => {
            let nonce = r.nonce.unwrap_or(r.prior_nonce + 1);
            if r.release_tx.is_none() {
                let c = x.client.clone();
                let id = r.account.clone();
                if let Ok(tx) = blocking(move || c.release(&id, chain, nonce)).await? {
                    set_state(
                        st,
                        &r.account,
                        chain,
                        &r.state,
                        None,
                        Some(("release_tx", tx.to_string())),
                    )
                    .await?;
                }
                return Ok(());
            }
            let c = x.client.clone();
            if blocking(move || c.retired(addr, chain, nonce)).await? {
                if r.state == "releasing" {
                    commit_event(
                        st,
                        r,
                        "xchain_credit_released",
                        None,
                        None,
                        x.client.decimals,
                    )
                    .await?;
                } else {
                    delete_row(st, &r.account, chain).await?;
                }
            }
        }
        other => issues.push(format!(
            "{}@chain:{chain}: unknown state {other}",
            r.account
        )),
    }
    Ok(())
}

// ----- the panel -----

/// Largest number of accounts `GET /api/v1/xchain` reads from the chains.
pub const MAX_PANEL_ACCOUNTS: usize = 100;

/// Per chain: role, collateral (hub), outstanding credits, headroom, and the last block seen
/// with its finality; per account visible to the key: its address, collateral, credits on
/// every spoke as the hub, the spoke and the ledger see them. Amounts in base units
/// (`*_base`) and with the token symbol.
#[utoipa::path(get, path = "/api/v1/xchain", security(("bearer" = [])),
    responses((status = 200, description = "Chains, collateral, outstanding credits and headroom"),
        (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_xchain(
    State(st): State<Shared>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let p = principal(&st, &headers).await?;
    let x = xchain(&st)?;
    let mut ids: Vec<String> = match &p.scope {
        Scope::Account(a) => vec![a.clone()],
        _ => st
            .ledger
            .accounts()
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect(),
    };
    ids.sort();
    let truncated = ids.len() > MAX_PANEL_ACCOUNTS;
    ids.truncate(MAX_PANEL_ACCOUNTS);
    let ledger_rows = rows(&st, None).await?;
    let c = x.client.clone();
    let ids2 = ids.clone();
    let per_account = blocking(move || {
        let mut out = Vec::new();
        for id in ids2 {
            let addr = c.address_of(&id)?;
            let hub = c.hub_account(addr, None)?;
            let mut lines = Vec::new();
            for s in c.spoke_ids() {
                lines.push((s, c.spoke_line(s, addr, None)?, c.spoke_available(s, addr)?));
            }
            out.push((id, addr, hub, lines));
        }
        Ok(out)
    })
    .await?;
    let heads = {
        let c = x.client.clone();
        blocking(move || Ok(c.heads())).await?
    };
    *x.heads.write().await = heads.clone();
    let h = |v: U256| x.human(v);
    let mut total_coll = U256::ZERO;
    let mut total_out = U256::ZERO;
    let mut total_head = U256::ZERO;
    let mut spoke_out: HashMap<u64, U256> = HashMap::new();
    let mut spoke_avail: HashMap<u64, U256> = HashMap::new();
    let mut accounts = Vec::new();
    for (id, addr, hub, lines) in &per_account {
        total_coll += hub.collateral;
        total_out += hub.total_outstanding;
        let headroom = hub.collateral.saturating_sub(hub.total_outstanding);
        total_head += headroom;
        let mut credits = Vec::new();
        for (s, line, avail) in lines {
            let o = hub.outstanding.get(s).copied().unwrap_or_default();
            *spoke_out.entry(*s).or_default() += o;
            *spoke_avail.entry(*s).or_default() += *avail;
            let ledger = ledger_rows
                .iter()
                .find(|r| &r.account == id && r.chain_id == *s)
                .map(|r| r.to_json(x.client.decimals));
            if o.is_zero() && line.amount.is_zero() && ledger.is_none() {
                continue;
            }
            credits.push(json!({
                "chain_id": s,
                "hub_outstanding_base": o.to_string(),
                "hub_outstanding": h(o),
                "spoke_credit_base": line.amount.to_string(),
                "spoke_credit": h(line.amount),
                "spoke_nonce": line.nonce,
                "spoke_available_base": avail.to_string(),
                "spoke_available": h(*avail),
                "spoke_expiry_ms": line.expiry,
                "ledger": ledger,
            }));
        }
        accounts.push(json!({
            "account": id,
            "address": addr,
            "collateral_base": hub.collateral.to_string(),
            "collateral": h(hub.collateral),
            "outstanding_base": hub.total_outstanding.to_string(),
            "outstanding": h(hub.total_outstanding),
            "headroom_base": headroom.to_string(),
            "headroom": h(headroom),
            "credits": credits,
        }));
    }
    let chains: Vec<Value> = x
        .client
        .deployment
        .chains
        .iter()
        .map(|c| {
            let head = heads.iter().find(|h| h.chain_id == c.chain_id);
            let mut v = json!({
                "chain_id": c.chain_id,
                "role": c.role,
                "contract": c.contracts.hub.or(c.contracts.spoke),
                "latest_block": head.and_then(|h| h.latest_block),
                "final_block": head.and_then(|h| h.final_block),
                "final_hash": head.and_then(|h| h.final_hash),
                "finality_depth": x.client.finality,
                "status": if head.is_some_and(|h| h.error.is_none()) { "ok" } else { "unreachable" },
                "error": head.and_then(|h| h.error.clone()),
            });
            match c.role {
                Role::Hub => {
                    v["collateral_base"] = json!(total_coll.to_string());
                    v["collateral"] = json!(h(total_coll));
                    v["outstanding_base"] = json!(total_out.to_string());
                    v["outstanding"] = json!(h(total_out));
                    v["headroom_base"] = json!(total_head.to_string());
                    v["headroom"] = json!(h(total_head));
                }
                Role::Spoke => {
                    let o = spoke_out.get(&c.chain_id).copied().unwrap_or_default();
                    let l = spoke_avail.get(&c.chain_id).copied().unwrap_or_default();
                    v["outstanding_base"] = json!(o.to_string());
                    v["outstanding"] = json!(h(o));
                    v["available_base"] = json!(l.to_string());
                    v["available"] = json!(h(l));
                    // The pool is shared: any spoke may take the hub's whole headroom.
                    v["headroom_base"] = json!(total_head.to_string());
                    v["headroom"] = json!(h(total_head));
                }
            }
            v
        })
        .collect();
    Ok(Json(json!({
        "symbol": x.client.symbol,
        "decimals": x.client.decimals,
        "collateral_token": x.client.deployment.hub().contracts.collateral_token,
        "threshold": x.client.deployment.threshold,
        "guardians": x.client.deployment.guardians,
        "venue_names": x.client.spoke_ids().iter().map(|c| format!("{CHAIN_VENUE_PREFIX}{c}")).collect::<Vec<_>>(),
        "chains": chains,
        "accounts": accounts,
        "accounts_truncated": truncated,
        "reconciled": x.ready.load(Ordering::SeqCst),
        "issues": *x.issues.read().await,
    })))
}

/// The ledger's cross-chain credit lines of `account`, for `GET …/credits` (empty without --xchain).
pub async fn credit_lines(st: &Shared, account: &str) -> Result<Vec<Value>, ApiError> {
    let Some(x) = st.xchain.get() else {
        return Ok(Vec::new());
    };
    Ok(rows(st, Some(account))
        .await?
        .iter()
        .map(|r| r.to_json(x.client.decimals))
        .collect())
}

//! The durable, event-sourced ledger.
//!
//! Every mutation is one database transaction that appends an event, updates the
//! projections (balances, positions) and records the idempotency key with its response.
//! Either all of it is committed or none: after `kill -9` a restart sees every
//! acknowledged write (SQLite runs in WAL mode with `synchronous=FULL`) and nothing else.
//! [`Ledger::verify_projections`] replays the event log and checks the projections agree.

use std::collections::BTreeMap;
use std::str::FromStr;

use intermargin_model::{Amount, Asset, Collateral, Order, Position, Reported, Venue};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use tokio::sync::Mutex;

use crate::error::ApiError;

/// Which SQL engine backs the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file (the default).
    Sqlite,
    /// PostgreSQL server (production).
    Postgres,
}

/// A state change the ledger applies atomically.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Open an account.
    CreateAccount {
        /// Account id.
        id: String,
        /// Display name.
        name: String,
    },
    /// Collateral arrives at a venue.
    Deposit {
        /// Account id.
        account: String,
        /// Venue holding it.
        location: Venue,
        /// Asset symbol.
        asset: String,
        /// Base units (> 0).
        amount: Amount,
    },
    /// Collateral leaves a venue.
    Withdraw {
        /// Account id.
        account: String,
        /// Venue holding it.
        location: Venue,
        /// Asset symbol.
        asset: String,
        /// Base units (> 0).
        amount: Amount,
    },
    /// Collateral moves between venues/chains, paying a fee.
    Transfer {
        /// Account id.
        account: String,
        /// Source venue.
        from: Venue,
        /// Destination venue.
        to: Venue,
        /// Asset symbol.
        asset: String,
        /// Base units debited at the source (> 0).
        amount: Amount,
        /// Base units lost in transit (≤ amount).
        fee: Amount,
    },
    /// Replace an account's positions on one venue with a new snapshot.
    Positions {
        /// Account id.
        account: String,
        /// Venue.
        venue: Venue,
        /// The venue's positions.
        positions: Vec<Position>,
    },
    /// Positions imported from a venue's own API payloads: the venue's report, as relayed.
    VenueReport {
        /// Account id.
        account: String,
        /// The reporting venue.
        venue: Venue,
        /// The positions it reports.
        positions: Vec<Position>,
        /// The figures it reports beside them (its own margin, liquidation prices …).
        reported: Vec<Reported>,
        /// Key id that relayed the payloads.
        relayed_by: String,
    },
    /// Replace an account's open orders on one venue with the set its account stream reports.
    Orders {
        /// Account id.
        account: String,
        /// Venue.
        venue: Venue,
        /// The venue's open orders.
        orders: Vec<Order>,
    },
    /// The balances a venue's account stream (configured by the operator) reports for the
    /// account on that venue: a statement of fact, not a deposit. It replaces the previous
    /// statement for that venue and never moves the ledger's money ([`Ledger::balances`]); the
    /// margin uses it for the venue's pool in place of the ledger's balances there.
    StreamedBalances {
        /// Account id.
        account: String,
        /// The reporting venue.
        venue: Venue,
        /// Per asset, base units (as the venue reports them).
        balances: Vec<Collateral>,
        /// Balances the stream reported that the margin does not count, each with the reason
        /// (kept so the margin report names them instead of dropping them silently).
        ignored: Vec<IgnoredBalance>,
        /// Who declared them: `streamed from <venue> at <RFC 3339 time>`.
        source: String,
        /// UTC ms of the statement.
        at_ms: i64,
    },
    /// A liquidation executed: the plan, every touched venue's positions after it, and the
    /// booking of its money (realised P&L, penalty to the insurance fund, execution costs, bad
    /// debt) in one transaction, applied only if the account is still at the version it was
    /// planned on.
    Liquidation {
        /// Account id.
        account: String,
        /// The executed plan (legs, figures before and after, bad debt).
        plan: Value,
        /// Positions after the plan, per touched venue.
        positions: Vec<(Venue, Vec<Position>)>,
        /// The money it moves.
        booking: Booking,
        /// The account's last event sequence number when the plan was made.
        expected_seq: i64,
    },
    /// Pledge (positive) or release (negative) hub collateral to a venue as a credit line; the
    /// asset's credits never exceed the account's hub balance of it.
    Credit {
        /// Account id.
        account: String,
        /// Venue receiving the credit.
        venue: Venue,
        /// Asset symbol (held at the hub).
        asset: String,
        /// Signed change of the credit line, base units.
        amount: Amount,
    },
    /// Record an engine event (credit issued, liquidation executed) without changing balances.
    Record {
        /// Account id.
        account: String,
        /// Event kind (`credit`, `liquidation`).
        kind: String,
        /// Event details.
        payload: Value,
    },
}

impl Mutation {
    /// The account the mutation changes.
    pub fn account(&self) -> &str {
        match self {
            Mutation::CreateAccount { id, .. } => id,
            Mutation::Deposit { account, .. }
            | Mutation::Withdraw { account, .. }
            | Mutation::Transfer { account, .. }
            | Mutation::Positions { account, .. }
            | Mutation::VenueReport { account, .. }
            | Mutation::Orders { account, .. }
            | Mutation::StreamedBalances { account, .. }
            | Mutation::Liquidation { account, .. }
            | Mutation::Credit { account, .. }
            | Mutation::Record { account, .. } => account,
        }
    }

    fn kind(&self) -> &str {
        match self {
            Mutation::CreateAccount { .. } => "account_created",
            Mutation::Deposit { .. } => "deposit",
            Mutation::Withdraw { .. } => "withdrawal",
            Mutation::Transfer { .. } => "transfer",
            Mutation::Positions { .. } => "positions",
            Mutation::VenueReport { .. } => "venue_report",
            Mutation::Orders { .. } => "orders",
            Mutation::StreamedBalances { .. } => "streamed_balances",
            Mutation::Liquidation { .. } => "liquidation",
            Mutation::Credit { .. } => "credit",
            Mutation::Record { kind, .. } => kind,
        }
    }

    fn payload(&self) -> Value {
        match self {
            Mutation::CreateAccount { id, name } => json!({"id": id, "name": name}),
            Mutation::Deposit {
                location,
                asset,
                amount,
                ..
            }
            | Mutation::Withdraw {
                location,
                asset,
                amount,
                ..
            } => json!({"location": location, "asset": asset, "amount": amount}),
            Mutation::Transfer {
                from,
                to,
                asset,
                amount,
                fee,
                ..
            } => json!({"from": from, "to": to, "asset": asset, "amount": amount, "fee": fee}),
            Mutation::Positions {
                venue, positions, ..
            } => json!({"venue": venue, "positions": positions}),
            Mutation::VenueReport {
                venue,
                positions,
                reported,
                relayed_by,
                ..
            } => {
                json!({"venue": venue, "positions": positions, "reported": reported, "source": "venue_report", "reported_by": venue, "relayed_by": relayed_by})
            }
            Mutation::Orders { venue, orders, .. } => json!({"venue": venue, "orders": orders}),
            Mutation::StreamedBalances {
                venue,
                balances,
                ignored,
                source,
                at_ms,
                ..
            } => {
                if ignored.is_empty() {
                    json!({"venue": venue, "balances": balances, "source": source, "at_ms": at_ms})
                } else {
                    json!({"venue": venue, "balances": balances, "ignored": ignored, "source": source, "at_ms": at_ms})
                }
            }
            Mutation::Liquidation {
                plan,
                positions,
                booking,
                expected_seq,
                ..
            } => {
                let after: Vec<Value> = positions
                    .iter()
                    .map(|(v, p)| json!({"venue": v, "positions": p}))
                    .collect();
                json!({"plan": plan, "positions_after": after, "booking": booking.to_json(), "planned_at_seq": expected_seq})
            }
            Mutation::Credit {
                venue,
                asset,
                amount,
                ..
            } => json!({"venue": venue, "asset": asset, "amount": amount}),
            Mutation::Record { payload, .. } => payload.clone(),
        }
    }
}

/// Name of the system ledger account holding liquidation penalties.
pub const INSURANCE_FUND: &str = "insurance_fund";
/// Name of the system ledger account holding unpaid losses (never positive).
pub const BAD_DEBT: &str = "bad_debt";
/// Name of the system ledger account counting money paid out of the system.
pub const FEES: &str = "fees";
/// Name of the system ledger account counting realised P&L received from counterparties.
pub const SETTLEMENTS: &str = "settlements";

/// The money a liquidation moves, in integer base units: changes to the account's balances, to
/// its credit lines, and to the system accounts; per asset they keep the ledger invariant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Booking {
    /// (location, asset, signed change) of the account's balances.
    pub balances: Vec<(Venue, String, Amount)>,
    /// (venue, asset, signed change) of the account's credit lines.
    pub credits: Vec<(Venue, String, Amount)>,
    /// (system account, asset, signed change).
    pub system: Vec<(&'static str, String, Amount)>,
}

impl Booking {
    fn to_json(&self) -> Value {
        let rows = |v: &[(String, String, Amount)], k: &str| -> Vec<Value> {
            v.iter()
                .map(|(a, b, c)| json!({k: a, "asset": b, "amount": c}))
                .collect()
        };
        let bal: Vec<_> = self
            .balances
            .iter()
            .map(|(v, a, n)| (v.to_string(), a.clone(), *n))
            .collect();
        let cr: Vec<_> = self
            .credits
            .iter()
            .map(|(v, a, n)| (v.to_string(), a.clone(), *n))
            .collect();
        let sys: Vec<_> = self
            .system
            .iter()
            .map(|(v, a, n)| (v.to_string(), a.clone(), *n))
            .collect();
        json!({
            "balances": rows(&bal, "location"),
            "credits": rows(&cr, "venue"),
            "system": rows(&sys, "name"),
        })
    }
}

/// Outcome of [`Ledger::apply`]: the stored response, and whether it was a replay.
#[derive(Debug, Clone)]
pub struct Applied {
    /// HTTP status of the original response.
    pub status: u16,
    /// Response body (the event as stored).
    pub body: Value,
    /// True when an earlier request with the same idempotency key already applied it.
    pub replayed: bool,
}

/// One ledger event as returned by the API.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Event {
    /// Monotonic sequence number.
    pub seq: i64,
    /// Account.
    pub account_id: String,
    /// Event kind.
    pub kind: String,
    /// Event details.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// UTC ms when recorded.
    pub created_ms: i64,
}

/// The ledger: a connection pool plus a process-wide write lock that serialises mutations.
pub struct Ledger {
    pool: AnyPool,
    backend: Backend,
    write_lock: Mutex<()>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Ledger {
    /// Opens (creating if needed) the database at `url` and runs its migrations.
    pub async fn open(url: &str) -> Result<Ledger, ApiError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(ApiError::bad(
                "database",
                "expected a sqlite: or postgres:// URL",
            ));
        };
        let mut opts = AnyPoolOptions::new();
        if backend == Backend::Sqlite {
            opts = opts.max_connections(4).after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("PRAGMA journal_mode=WAL")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA synchronous=FULL")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA busy_timeout=5000")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            });
        } else {
            opts = opts.max_connections(8);
        }
        let pool = opts.connect(url).await?;
        let migrated = match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await,
        };
        migrated.map_err(|e| ApiError::Storage(format!("migrations: {e}")))?;
        Ok(Ledger {
            pool,
            backend,
            write_lock: Mutex::new(()),
        })
    }

    /// Which engine backs this ledger.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool, for modules keeping their own tables in the ledger database
    /// (`xchain_credits`); their writes hold [`Ledger::write_guard`].
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The process-wide write lock every ledger mutation holds.
    pub async fn write_guard(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.write_lock.lock().await
    }

    /// Applies `m` exactly once per (principal, idempotency key): a retry returns the stored response.
    pub async fn apply(
        &self,
        principal: &str,
        idem_key: &str,
        request_hash: &str,
        m: Mutation,
    ) -> Result<Applied, ApiError> {
        let _guard = self.write_lock.lock().await;
        if let Some(stored) = self
            .stored_response(principal, idem_key, request_hash)
            .await?
        {
            return Ok(stored);
        }
        let mut tx = self.pool.begin().await?;
        // Every failure rolls back before the write lock is released, so the next writer never
        // meets this transaction's locks (SQLite answers SQLITE_BUSY to that, not a wait).
        let outcome = async {
            let created = now_ms();
            if !matches!(m, Mutation::CreateAccount { .. }) {
                let exists = sqlx::query("SELECT id FROM accounts WHERE id = $1")
                    .bind(m.account())
                    .fetch_optional(&mut *tx)
                    .await?;
                if exists.is_none() {
                    return Err(ApiError::NotFound(format!(
                        "account {:?} does not exist",
                        m.account()
                    )));
                }
            }
            match &m {
                Mutation::CreateAccount { id, name } => {
                    let exists = sqlx::query("SELECT id FROM accounts WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if exists.is_some() {
                        return Err(ApiError::Conflict {
                            field: "id".into(),
                            reason: format!("account {id:?} already exists"),
                        });
                    }
                    sqlx::query("INSERT INTO accounts (id, name, created_ms) VALUES ($1, $2, $3)")
                        .bind(id)
                        .bind(name)
                        .bind(created)
                        .execute(&mut *tx)
                        .await?;
                }
                Mutation::Deposit {
                    account,
                    location,
                    asset,
                    amount,
                } => {
                    self.require_asset(&mut tx, asset).await?;
                    add_balance(&mut tx, account, *location, asset, *amount, "amount").await?;
                }
                Mutation::Withdraw {
                    account,
                    location,
                    asset,
                    amount,
                } => {
                    let left = add_balance(
                        &mut tx,
                        account,
                        *location,
                        asset,
                        Amount(-amount.0),
                        "amount",
                    )
                    .await?;
                    if *location == Venue::Hub {
                        covers_credits(&mut tx, account, asset, left, "amount").await?;
                    }
                }
                Mutation::Transfer {
                    account,
                    from,
                    to,
                    asset,
                    amount,
                    fee,
                } => {
                    let left = add_balance(&mut tx, account, *from, asset, Amount(-amount.0), "amount")
                        .await?;
                    if *from == Venue::Hub {
                        covers_credits(&mut tx, account, asset, left, "amount").await?;
                    }
                    let credited = amount
                        .checked_sub(*fee, "fee")
                        .map_err(|e| ApiError::bad("fee", e.to_string()))?;
                    add_balance(&mut tx, account, *to, asset, credited, "amount").await?;
                }
                Mutation::Positions {
                    account,
                    venue,
                    positions,
                } => {
                    put_positions(&mut tx, account, *venue, positions, &[], created).await?;
                }
                Mutation::VenueReport {
                    account,
                    venue,
                    positions,
                    reported,
                    ..
                } => {
                    put_positions(&mut tx, account, *venue, positions, reported, created).await?;
                }
                Mutation::Orders {
                    account,
                    venue,
                    orders,
                } => {
                    let text = to_json(orders)?;
                    sqlx::query(
                        "INSERT INTO orders (account_id, venue, orders, seq) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (account_id, venue) DO UPDATE SET orders = excluded.orders, seq = excluded.seq",
                    )
                    .bind(account)
                    .bind(venue.as_str())
                    .bind(text)
                    .bind(created)
                    .execute(&mut *tx)
                    .await?;
                }
                Mutation::StreamedBalances {
                    account,
                    venue,
                    balances,
                    ignored,
                    source,
                    at_ms,
                } => {
                    for (i, b) in balances.iter().enumerate() {
                        if b.venue != *venue {
                            return Err(ApiError::bad(
                                format!("balances[{i}].venue"),
                                format!("must be {venue}"),
                            ));
                        }
                        self.require_asset(&mut tx, &b.asset).await?;
                    }
                    sqlx::query(
                        "INSERT INTO streamed_balances (account_id, venue, balances, source, at_ms) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (account_id, venue) DO UPDATE SET balances = excluded.balances, source = excluded.source, at_ms = excluded.at_ms",
                    )
                    .bind(account)
                    .bind(venue.as_str())
                    .bind(streamed_json(balances, ignored)?)
                    .bind(source)
                    .bind(*at_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                Mutation::Credit {
                    account,
                    venue,
                    asset,
                    amount,
                } => {
                    self.require_asset(&mut tx, asset).await?;
                    put_credit(&mut tx, account, *venue, asset, *amount).await?;
                    let hub = balance_of(&mut tx, account, Venue::Hub, asset).await?;
                    covers_credits(&mut tx, account, asset, hub, "amount").await?;
                }
                Mutation::Liquidation {
                    account,
                    positions,
                    booking,
                    expected_seq,
                    ..
                } => {
                    let now = last_seq(&mut tx, account).await?;
                    if now != *expected_seq {
                        return Err(ApiError::Conflict {
                            field: "version".into(),
                            reason: format!(
                                "the plan was made at event {expected_seq} but the account is now at event {now}; plan again"
                            ),
                        });
                    }
                    for (venue, p) in positions {
                        put_positions(&mut tx, account, *venue, p, &[], created).await?;
                    }
                    for (loc, asset, delta) in &booking.balances {
                        add_balance(&mut tx, account, *loc, asset, *delta, "booking").await?;
                    }
                    for (venue, asset, delta) in &booking.credits {
                        put_credit(&mut tx, account, *venue, asset, *delta).await?;
                    }
                    for (name, asset, delta) in &booking.system {
                        add_system(&mut tx, name, asset, *delta).await?;
                    }
                }
                Mutation::Record { .. } => {}
            }
            if matches!(
                m,
                Mutation::CreateAccount { .. }
                    | Mutation::Positions { .. }
                    | Mutation::VenueReport { .. }
                    | Mutation::Liquidation { .. }
            ) {
                write_outbox(&mut tx, m.account(), created).await?;
            }
            let payload = m.payload();
            let row = sqlx::query(
                "INSERT INTO events (account_id, kind, payload, created_ms) VALUES ($1, $2, $3, $4) RETURNING seq",
            )
            .bind(m.account())
            .bind(m.kind())
            .bind(payload.to_string())
            .bind(created)
            .fetch_one(&mut *tx)
            .await?;
            let seq: i64 = row.try_get(0)?;
            let body = json!({"seq": seq, "account_id": m.account(), "kind": m.kind(), "payload": payload, "created_ms": created});
            let status: i32 = if matches!(m, Mutation::CreateAccount { .. }) {
                201
            } else {
                200
            };
            sqlx::query(
                "INSERT INTO idempotency (principal, idem_key, request_hash, status, response) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(principal)
            .bind(idem_key)
            .bind(request_hash)
            .bind(status)
            .bind(body.to_string())
            .execute(&mut *tx)
            .await?;
            Ok(Applied {
                status: status as u16,
                body,
                replayed: false,
            })
        }
        .await;
        match outcome {
            Ok(applied) => {
                tx.commit().await?;
                Ok(applied)
            }
            Err(e) => {
                if let Err(r) = tx.rollback().await {
                    tracing::warn!("rollback after {e}: {r}");
                }
                Err(e)
            }
        }
    }

    /// The stored response of an applied request, or a conflict when the key was used for another.
    pub async fn stored_response(
        &self,
        principal: &str,
        key: &str,
        hash: &str,
    ) -> Result<Option<Applied>, ApiError> {
        let row = sqlx::query("SELECT request_hash, status, response FROM idempotency WHERE principal = $1 AND idem_key = $2")
            .bind(principal)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let stored_hash: String = row.try_get(0)?;
        if stored_hash != hash {
            return Err(ApiError::Conflict {
                field: "Idempotency-Key".into(),
                reason: "this key was already used for a different request".into(),
            });
        }
        let status: i32 = row.try_get(1)?;
        let text: String = row.try_get(2)?;
        Ok(Some(Applied {
            status: status as u16,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            replayed: true,
        }))
    }

    async fn require_asset(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        asset: &str,
    ) -> Result<(), ApiError> {
        let row = sqlx::query("SELECT symbol FROM assets WHERE symbol = $1")
            .bind(asset)
            .fetch_optional(&mut **tx)
            .await?;
        row.map(|_| ()).ok_or_else(|| {
            ApiError::bad(
                "asset",
                format!("unknown asset {asset:?}; declare it first"),
            )
        })
    }

    /// Declares an asset and its decimals (idempotent for the same decimals).
    pub async fn declare_asset(&self, asset: &Asset) -> Result<(), ApiError> {
        let _guard = self.write_lock.lock().await;
        let row = sqlx::query("SELECT decimals FROM assets WHERE symbol = $1")
            .bind(&asset.symbol)
            .fetch_optional(&self.pool)
            .await?;
        if let Some(row) = row {
            let d: i32 = row.try_get(0)?;
            if d as u32 != asset.decimals {
                return Err(ApiError::Conflict {
                    field: "decimals".into(),
                    reason: format!("{} is declared with {d} decimals", asset.symbol),
                });
            }
            return Ok(());
        }
        sqlx::query("INSERT INTO assets (symbol, decimals) VALUES ($1, $2)")
            .bind(&asset.symbol)
            .bind(asset.decimals as i32)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every declared asset.
    pub async fn assets(&self) -> Result<Vec<Asset>, ApiError> {
        let rows = sqlx::query("SELECT symbol, decimals FROM assets ORDER BY symbol")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Asset::new(
                    r.try_get::<String, _>(0)?,
                    r.try_get::<i32, _>(1)? as u32,
                ))
            })
            .collect()
    }

    /// Stores an API key's hash and scope (`admin` or an account id).
    pub async fn insert_key(
        &self,
        key_id: &str,
        secret_hash: &str,
        scope: &str,
    ) -> Result<(), ApiError> {
        sqlx::query(
            "INSERT INTO api_keys (key_id, secret_hash, scope, created_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(key_id)
        .bind(secret_hash)
        .bind(scope)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Hash and scope of a key id that has not been revoked.
    pub async fn active_key(&self, key_id: &str) -> Result<Option<(String, String)>, ApiError> {
        let row = sqlx::query(
            "SELECT secret_hash, scope FROM api_keys WHERE key_id = $1 AND revoked_ms IS NULL",
        )
        .bind(key_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
            None => None,
        })
    }

    /// Hash, scope and whether it is revoked, of any key id.
    pub async fn key(&self, key_id: &str) -> Result<Option<(String, String, bool)>, ApiError> {
        let row =
            sqlx::query("SELECT secret_hash, scope, revoked_ms FROM api_keys WHERE key_id = $1")
                .bind(key_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(match row {
            Some(r) => Some((
                r.try_get(0)?,
                r.try_get(1)?,
                r.try_get::<Option<i64>, _>(2)?.is_some(),
            )),
            None => None,
        })
    }

    /// Replaces a key's stored hash (an argon2 hash upgraded to the keyed hash).
    pub async fn rehash_key(&self, key_id: &str, hash: &str) -> Result<(), ApiError> {
        sqlx::query("UPDATE api_keys SET secret_hash = $1 WHERE key_id = $2")
            .bind(hash)
            .bind(key_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every key: (key id, scope, created ms, revoked ms, replaced by).
    pub async fn keys(&self) -> Result<Vec<Value>, ApiError> {
        let rows = sqlx::query(
            "SELECT key_id, scope, created_ms, revoked_ms, replaced_by FROM api_keys ORDER BY created_ms, key_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let scope: String = r.try_get(1)?;
                let scope = crate::auth::Scope::parse(&scope);
                Ok(json!({
                    "key_id": r.try_get::<String, _>(0)?,
                    "scope": scope.label(),
                    "role": scope.role(),
                    "created_ms": r.try_get::<i64, _>(2)?,
                    "revoked_ms": r.try_get::<Option<i64>, _>(3)?,
                    "replaced_by": r.try_get::<Option<String>, _>(4)?,
                }))
            })
            .collect()
    }

    /// Revokes a key; refuses to revoke the last active admin key. Returns false when the key
    /// was already revoked.
    ///
    /// With a `replacement` (new key id, secret hash) this is a rotation: the new key is inserted
    /// with the old key's scope and the old one revoked in the same transaction, so a crash
    /// leaves either both changes or neither; rotating a revoked key is a conflict.
    pub async fn revoke_key(
        &self,
        key_id: &str,
        replacement: Option<(&str, &str)>,
    ) -> Result<bool, ApiError> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.pool.begin().await?;
        let outcome = async {
            let row = sqlx::query("SELECT scope, revoked_ms FROM api_keys WHERE key_id = $1")
                .bind(key_id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else {
                return Err(ApiError::NotFound(format!("key {key_id:?} does not exist")));
            };
            let scope: String = row.try_get(0)?;
            if row.try_get::<Option<i64>, _>(1)?.is_some() {
                if replacement.is_some() {
                    return Err(ApiError::Conflict {
                        field: "key_id".into(),
                        reason: "the key is already revoked".into(),
                    });
                }
                return Ok(false);
            }
            if let Some((new_id, hash)) = replacement {
                sqlx::query(
                    "INSERT INTO api_keys (key_id, secret_hash, scope, created_ms) VALUES ($1, $2, $3, $4)",
                )
                .bind(new_id)
                .bind(hash)
                .bind(&scope)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
            }
            if scope == "admin" {
                let others = sqlx::query(
                    "SELECT COUNT(*) FROM api_keys WHERE scope = 'admin' AND revoked_ms IS NULL AND key_id <> $1",
                )
                .bind(key_id)
                .fetch_one(&mut *tx)
                .await?;
                if others.try_get::<i64, _>(0)? == 0 {
                    return Err(ApiError::Conflict {
                        field: "key_id".into(),
                        reason: "this is the last active admin key; rotate it instead".into(),
                    });
                }
            }
            sqlx::query("UPDATE api_keys SET revoked_ms = $1, replaced_by = $2 WHERE key_id = $3")
                .bind(now_ms())
                .bind(replacement.map(|(id, _)| id))
                .bind(key_id)
                .execute(&mut *tx)
                .await?;
            Ok(true)
        }
        .await;
        match outcome {
            Ok(v) => {
                tx.commit().await?;
                Ok(v)
            }
            Err(e) => {
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }

    /// True once any active admin key exists.
    pub async fn has_admin_key(&self) -> Result<bool, ApiError> {
        let row =
            sqlx::query("SELECT key_id FROM api_keys WHERE scope = 'admin' AND revoked_ms IS NULL")
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.is_some())
    }

    /// The account's last event sequence number (0 before any): the version a plan is made at.
    pub async fn account_version(&self, account: &str) -> Result<i64, ApiError> {
        let row = sqlx::query("SELECT MAX(seq) FROM events WHERE account_id = $1")
            .bind(account)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<Option<i64>, _>(0)?.unwrap_or(0))
    }

    /// The system accounts (insurance fund, bad debt, fees, settlements) per asset.
    pub async fn system_balances(&self) -> Result<Vec<(String, String, Amount)>, ApiError> {
        let rows =
            sqlx::query("SELECT name, asset, amount FROM system_balances ORDER BY name, asset")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                let a: String = r.try_get(2)?;
                Ok((
                    r.try_get(0)?,
                    r.try_get(1)?,
                    Amount::from_str(&a).map_err(|e| ApiError::Storage(e.to_string()))?,
                ))
            })
            .collect()
    }

    /// Every account id with its name.
    pub async fn accounts(&self) -> Result<Vec<(String, String)>, ApiError> {
        let rows = sqlx::query("SELECT id, name FROM accounts ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// An account's balances, as canonical collateral.
    pub async fn balances(&self, account: &str) -> Result<Vec<Collateral>, ApiError> {
        let rows = sqlx::query("SELECT location, asset, amount FROM balances WHERE account_id = $1 ORDER BY location, asset")
            .bind(account)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row_to_collateral).collect()
    }

    /// An account's credit lines: (venue, asset, amount), non-zero ones only.
    pub async fn credits(&self, account: &str) -> Result<Vec<(Venue, String, Amount)>, ApiError> {
        let rows = sqlx::query(
            "SELECT venue, asset, amount FROM credits WHERE account_id = $1 ORDER BY venue, asset",
        )
        .bind(account)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in &rows {
            let c = row_to_collateral(r)?;
            if c.amount.0 != 0 {
                out.push((c.venue, c.asset, c.amount));
            }
        }
        Ok(out)
    }

    /// An account's latest positions on every venue.
    pub async fn positions(&self, account: &str) -> Result<Vec<Position>, ApiError> {
        self.per_venue_lists(account, "positions").await
    }

    /// The figures each venue reported beside its latest positions of an account (none for a
    /// venue whose latest positions were written by hand or by a liquidation).
    pub async fn reported(&self, account: &str) -> Result<Vec<Reported>, ApiError> {
        self.per_venue_lists(account, "reported").await
    }

    /// An account's open orders on every venue (as their account streams last reported them).
    pub async fn orders(&self, account: &str) -> Result<Vec<Order>, ApiError> {
        let rows = sqlx::query("SELECT orders FROM orders WHERE account_id = $1 ORDER BY venue")
            .bind(account)
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::new();
        for r in rows {
            let text: String = r.try_get(0)?;
            let mut items: Vec<Order> = serde_json::from_str(&text)
                .map_err(|e| ApiError::Storage(format!("orders.orders: {e}")))?;
            out.append(&mut items);
        }
        Ok(out)
    }

    /// The balances each venue's account stream last declared for an account, by venue.
    pub async fn streamed_balances(
        &self,
        account: &str,
    ) -> Result<Vec<StreamedBalances>, ApiError> {
        let rows = sqlx::query(
            "SELECT venue, balances, source, at_ms FROM streamed_balances WHERE account_id = $1 ORDER BY venue",
        )
        .bind(account)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_streamed).collect()
    }

    /// An account's book as the margin reads it: its positions and open orders on every venue,
    /// and its collateral — the ledger's balances, except on a venue whose account stream
    /// declared balances, where the streamed ones stand in their place (each such venue noted in
    /// `reported` as a `collateral` row whose `source` says where and when it was streamed).
    pub async fn book(&self, account: &str) -> Result<intermargin_model::Account, ApiError> {
        let mut acc = intermargin_model::Account::new(account);
        acc.collateral = self.balances(account).await?;
        acc.positions = self.positions(account).await?;
        acc.orders = self.orders(account).await?;
        with_streamed(&mut acc, self.streamed_balances(account).await?);
        Ok(acc)
    }

    /// One JSON-list column of an account's `positions` rows, venue by venue, concatenated.
    async fn per_venue_lists<T: serde::de::DeserializeOwned>(
        &self,
        account: &str,
        column: &'static str,
    ) -> Result<Vec<T>, ApiError> {
        let sql = format!("SELECT {column} FROM positions WHERE account_id = $1 ORDER BY venue");
        let rows = sqlx::query(&sql)
            .bind(account)
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::new();
        for r in rows {
            let text: String = r.try_get(0)?;
            let mut items: Vec<T> = serde_json::from_str(&text)
                .map_err(|e| ApiError::Storage(format!("positions.{column}: {e}")))?;
            out.append(&mut items);
        }
        Ok(out)
    }

    /// Stores margin-history points (`(account, point)`, one transaction) and keeps the newest
    /// `keep` points of each account written to. A point at the same account and time as a
    /// stored one replaces it.
    pub async fn record_history(
        &self,
        points: &[(String, crate::history::HistoryPoint)],
        keep: i64,
    ) -> Result<(), ApiError> {
        if points.is_empty() {
            return Ok(());
        }
        let _guard = self.write_lock.lock().await;
        let mut tx = self.pool.begin().await?;
        for (account, p) in points {
            sqlx::query(
                "INSERT INTO margin_history (account_id, t_ms, market_ms, equity, siloed_total, \
                 initial_margin, maintenance_margin, saving, state) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (account_id, t_ms) DO UPDATE SET market_ms = excluded.market_ms, \
                 equity = excluded.equity, siloed_total = excluded.siloed_total, \
                 initial_margin = excluded.initial_margin, \
                 maintenance_margin = excluded.maintenance_margin, saving = excluded.saving, \
                 state = excluded.state",
            )
            .bind(account)
            .bind(p.t_ms)
            .bind(p.market_ms)
            .bind(p.equity)
            .bind(p.siloed_total)
            .bind(p.initial_margin)
            .bind(p.maintenance_margin)
            .bind(p.saving)
            .bind(&p.state)
            .execute(&mut *tx)
            .await?;
        }
        let mut accounts: Vec<&String> = points.iter().map(|(a, _)| a).collect();
        accounts.sort();
        accounts.dedup();
        for account in accounts {
            // Everything older than the keep-th newest point (none when fewer are stored).
            sqlx::query(
                "DELETE FROM margin_history WHERE account_id = $1 AND t_ms < \
                 (SELECT t_ms FROM margin_history WHERE account_id = $2 \
                  ORDER BY t_ms DESC LIMIT 1 OFFSET $3)",
            )
            .bind(account)
            .bind(account)
            .bind(keep - 1)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// An account's margin-history points with `from ≤ t_ms ≤ to`: the newest `limit`, oldest first.
    pub async fn history(
        &self,
        account: &str,
        from: i64,
        to: i64,
        limit: i64,
    ) -> Result<Vec<crate::history::HistoryPoint>, ApiError> {
        let rows = sqlx::query(
            "SELECT t_ms, market_ms, equity, siloed_total, initial_margin, maintenance_margin, \
             saving, state FROM margin_history WHERE account_id = $1 AND t_ms >= $2 AND t_ms <= $3 \
             ORDER BY t_ms DESC LIMIT $4",
        )
        .bind(account)
        .bind(from)
        .bind(to)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok(crate::history::HistoryPoint {
                    t_ms: r.try_get(0)?,
                    market_ms: r.try_get(1)?,
                    equity: r.try_get(2)?,
                    siloed_total: r.try_get(3)?,
                    initial_margin: r.try_get(4)?,
                    maintenance_margin: r.try_get(5)?,
                    saving: r.try_get(6)?,
                    state: r.try_get(7)?,
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        out.reverse();
        Ok(out)
    }

    /// An account's events after `after_seq`, oldest first, at most `limit`.
    pub async fn events(
        &self,
        account: &str,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<Event>, ApiError> {
        let rows = sqlx::query(
            "SELECT seq, account_id, kind, payload, created_ms FROM events WHERE account_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(account)
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_event).collect()
    }

    /// Verifies the projections (balances, credit lines, system accounts) against the event log
    /// and checks the ledger invariant per asset:
    /// Σ balances + insurance fund + bad debt = Σ deposits − Σ withdrawals − fees + settlements.
    /// Returns the number of projection rows checked ([`Ledger::verify`] says how).
    pub async fn verify_projections(&self) -> Result<usize, ApiError> {
        Ok(self.verify().await?.rows)
    }

    /// Verifies the projections from the latest checkpoint and the events after it (the whole
    /// log when there is no checkpoint), then records a checkpoint at the last event so that the
    /// next verification replays only what follows. Holds the write lock: no write interleaves.
    pub async fn verify(&self) -> Result<Verified, ApiError> {
        use futures::TryStreamExt;
        let _guard = self.write_lock.lock().await;
        let checkpoint = self.latest_checkpoint().await?;
        let after = checkpoint.as_ref().map_or(0, |c| c.upto_seq);
        let mut replay = Replay::default();
        {
            // Only the kinds that move money or credit are parsed (positions events are most of
            // a large log and change no verified projection).
            let mut rows = sqlx::query(
                "SELECT seq, account_id, kind, payload, created_ms FROM events WHERE seq > $1 \
                 AND kind IN ('deposit', 'withdrawal', 'transfer', 'credit', 'liquidation') ORDER BY seq",
            )
            .bind(after)
            .fetch(&self.pool);
            while let Some(r) = rows.try_next().await? {
                replay.apply(&row_to_event(&r)?);
            }
        }
        let max_seq: Option<i64> = sqlx::query("SELECT MAX(seq) FROM events")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        replay.last_seq = replay.last_seq.max(max_seq.unwrap_or(0));
        let proj = self.read_projections().await?;
        let last_seq = replay.last_seq.max(after);
        let flows = match &checkpoint {
            None => {
                // The whole log: the replayed figures must keep the invariant and equal the tables.
                check_invariant(&replay.balances, &replay.system, &replay.flows)?;
                for (table, replayed, stored) in [
                    ("system_balances", &replay.system, &proj.system),
                    ("credits", &replay.credits, &proj.credits),
                    ("balances", &replay.balances, &proj.balances),
                ] {
                    if nonzero(replayed) != nonzero(stored) {
                        return Err(ApiError::Storage(format!(
                            "{table} projection disagrees with the event log; refusing to serve"
                        )));
                    }
                }
                replay.flows.clone()
            }
            Some(cp) => {
                // The tables minus what the events after the checkpoint changed must be the state
                // the checkpoint recorded.
                let before = Projections {
                    balances: minus(&proj.balances, &replay.balances),
                    credits: minus(&proj.credits, &replay.credits),
                    system: minus(&proj.system, &replay.system),
                };
                if before.digest() != cp.digest {
                    return Err(ApiError::Storage(format!(
                        "projections disagree with checkpoint {} (event {}) and the {} events after it; refusing to serve",
                        cp.id, cp.upto_seq, replay.events
                    )));
                }
                let mut flows = cp.flows.clone();
                for (asset, v) in &replay.flows {
                    *flows.entry(asset.clone()).or_default() += v;
                }
                check_invariant(&proj.balances, &proj.system, &flows)?;
                flows
            }
        };
        let rows = proj.balances.len();
        let wrote = if last_seq > after || (checkpoint.is_none() && last_seq > 0) {
            let flows_json: serde_json::Map<String, Value> = flows
                .iter()
                .map(|(a, v)| (a.clone(), Value::String(v.to_string())))
                .collect();
            sqlx::query(
                "INSERT INTO checkpoints (upto_seq, digest, flows, created_ms) VALUES ($1, $2, $3, $4)",
            )
            .bind(last_seq)
            .bind(proj.digest())
            .bind(Value::Object(flows_json).to_string())
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
            true
        } else {
            false
        };
        Ok(Verified {
            rows,
            events_replayed: replay.events,
            from_checkpoint: checkpoint.map(|c| c.upto_seq),
            last_seq,
            checkpoint_written: wrote,
        })
    }

    /// Creates new accounts with their first deposits and positions in one transaction: each
    /// item is one account's mutations, its creation first, then deposits, positions and venue
    /// reports. The events and projections are those [`Ledger::apply`] writes for the same
    /// mutations; no idempotency rows are stored (a bulk load is not a client request). Fails,
    /// writing nothing, when an account exists or a mutation is of another kind.
    pub async fn bulk_create(&self, batch: &[Vec<Mutation>]) -> Result<usize, ApiError> {
        let _guard = self.write_lock.lock().await;
        let declared: std::collections::BTreeSet<String> =
            self.assets().await?.into_iter().map(|a| a.symbol).collect();
        let created = now_ms();
        let mut accounts: Vec<Vec<Val>> = Vec::with_capacity(batch.len());
        let mut balances: BTreeMap<(String, Venue, String), Amount> = BTreeMap::new();
        let mut positions: BTreeMap<(String, Venue), (String, String)> = BTreeMap::new();
        let mut events: Vec<Vec<Val>> = Vec::new();
        let mut books: BTreeMap<(String, Venue), &[Position]> = BTreeMap::new();
        for (i, muts) in batch.iter().enumerate() {
            let Some(Mutation::CreateAccount { id, name }) = muts.first() else {
                return Err(ApiError::bad(
                    format!("accounts[{i}][0]"),
                    "a bulk-loaded account starts with its creation",
                ));
            };
            accounts.push(vec![
                Val::S(id.clone()),
                Val::S(name.clone()),
                Val::I(created),
            ]);
            for (j, m) in muts.iter().enumerate() {
                let field = format!("accounts[{i}][{j}]");
                if m.account() != id {
                    return Err(ApiError::bad(
                        field,
                        format!("belongs to {:?}, not {id:?}", m.account()),
                    ));
                }
                match m {
                    Mutation::CreateAccount { .. } if j == 0 => {}
                    Mutation::Deposit { location, asset, amount, .. } => {
                        if !declared.contains(asset) {
                            return Err(ApiError::bad(format!("{field}.asset"), format!("asset {asset:?} is not declared")));
                        }
                        if amount.0 <= 0 {
                            return Err(ApiError::bad(format!("{field}.amount"), "must be positive"));
                        }
                        let b = balances.entry((id.clone(), *location, asset.clone())).or_default();
                        *b = b
                            .checked_add(*amount, "amount")
                            .map_err(|e| ApiError::bad(format!("{field}.amount"), e.to_string()))?;
                    }
                    Mutation::Positions { venue, positions: p, .. } => {
                        positions.insert((id.clone(), *venue), (to_json(p)?, "[]".into()));
                        books.insert((id.clone(), *venue), p.as_slice());
                    }
                    Mutation::VenueReport { venue, positions: p, reported, .. } => {
                        positions.insert((id.clone(), *venue), (to_json(p)?, to_json(reported)?));
                        books.insert((id.clone(), *venue), p.as_slice());
                    }
                    _ => {
                        return Err(ApiError::bad(
                            field,
                            "only account creation, deposits, positions and venue reports are bulk-loaded",
                        ))
                    }
                }
                events.push(vec![
                    Val::S(id.clone()),
                    Val::S(m.kind().to_string()),
                    Val::S(m.payload().to_string()),
                    Val::I(created),
                ]);
            }
        }
        let balance_rows: Vec<Vec<Val>> = balances
            .into_iter()
            .map(|((a, l, s), v)| {
                vec![
                    Val::S(a),
                    Val::S(l.as_str().into()),
                    Val::S(s),
                    Val::S(v.0.to_string()),
                ]
            })
            .collect();
        let position_rows: Vec<Vec<Val>> = positions
            .into_iter()
            .map(|((a, v), (p, r))| {
                vec![
                    Val::S(a),
                    Val::S(v.as_str().into()),
                    Val::S(p),
                    Val::I(created),
                    Val::S(r),
                ]
            })
            .collect();
        // One outbox row per account: its whole book (empty without positions), venues in name
        // order (as `positions` reads them back).
        let mut by_account: BTreeMap<&str, Vec<(&str, &[Position])>> = BTreeMap::new();
        for muts in batch {
            if let Some(Mutation::CreateAccount { id, .. }) = muts.first() {
                by_account.entry(id.as_str()).or_default();
            }
        }
        for ((a, v), p) in &books {
            by_account
                .entry(a.as_str())
                .or_default()
                .push((v.as_str(), p));
        }
        let mut outbox_rows: Vec<Vec<Val>> = Vec::with_capacity(by_account.len());
        for (a, mut venues) in by_account {
            venues.sort_by_key(|(v, _)| *v);
            let all: Vec<&Position> = venues.iter().flat_map(|(_, p)| p.iter()).collect();
            outbox_rows.push(vec![
                Val::S(a.to_string()),
                Val::S(outbox_payload(a, &all)?),
                Val::I(created),
            ]);
        }
        let mut tx = self.pool.begin().await?;
        let outcome = async {
            insert_rows(&mut tx, "accounts (id, name, created_ms)", &accounts).await?;
            insert_rows(
                &mut tx,
                "outbox (account_id, payload, created_ms)",
                &outbox_rows,
            )
            .await?;
            insert_rows(
                &mut tx,
                "balances (account_id, location, asset, amount)",
                &balance_rows,
            )
            .await?;
            insert_rows(
                &mut tx,
                "positions (account_id, venue, positions, seq, reported)",
                &position_rows,
            )
            .await?;
            insert_rows(
                &mut tx,
                "events (account_id, kind, payload, created_ms)",
                &events,
            )
            .await?;
            Ok::<(), ApiError>(())
        }
        .await;
        match outcome {
            Ok(()) => {
                tx.commit().await?;
                Ok(accounts.len())
            }
            Err(e) => {
                if let Err(r) = tx.rollback().await {
                    tracing::warn!("rollback after {e}: {r}");
                }
                Err(match e {
                    ApiError::Storage(m)
                        if m.contains("UNIQUE")
                            || m.contains("unique")
                            || m.contains("duplicate") =>
                    {
                        ApiError::Conflict {
                            field: "accounts".into(),
                            reason: format!("an account of the batch already exists: {m}"),
                        }
                    }
                    other => other,
                })
            }
        }
    }

    /// The oldest `limit` outbox rows not yet relayed: `(id, account, payload JSON text)`, by id.
    pub async fn outbox_pending(&self, limit: i64) -> Result<Vec<(i64, String, String)>, ApiError> {
        let rows = sqlx::query("SELECT id, account_id, payload FROM outbox ORDER BY id LIMIT $1")
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    /// Deletes relayed outbox rows (their publication was acknowledged by JetStream); returns how
    /// many were deleted. Rows are named one by one: with several writers (PostgreSQL) ids may
    /// commit out of order, so "every id up to" could drop a row not yet relayed.
    pub async fn outbox_done(&self, ids: &[i64]) -> Result<u64, ApiError> {
        // A writer like any other: SQLite refuses (busy) a transaction that read before another
        // writer committed, so deletions take the ledger's write lock too.
        let _guard = self.write_lock.lock().await;
        let mut n = 0;
        for chunk in ids.chunks(ROWS_PER_INSERT) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("DELETE FROM outbox WHERE id IN ({})", marks.join(","));
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            n += q.execute(&self.pool).await?.rows_affected();
        }
        Ok(n)
    }

    /// Every account's book (balances and positions) in two streamed queries, for the start.
    pub async fn all_books(
        &self,
    ) -> Result<std::collections::HashMap<String, intermargin_model::Account>, ApiError> {
        use futures::TryStreamExt;
        use intermargin_model::Account;
        let mut books: std::collections::HashMap<String, Account> =
            std::collections::HashMap::new();
        {
            let mut rows = sqlx::query("SELECT id FROM accounts").fetch(&self.pool);
            while let Some(r) = rows.try_next().await? {
                let id: String = r.try_get(0)?;
                books.insert(id.clone(), Account::new(&id));
            }
        }
        {
            let mut rows = sqlx::query(
                "SELECT account_id, location, asset, amount FROM balances ORDER BY account_id, location, asset",
            )
            .fetch(&self.pool);
            while let Some(r) = rows.try_next().await? {
                let id: String = r.try_get(0)?;
                let loc: String = r.try_get(1)?;
                let amount: String = r.try_get(3)?;
                let c = Collateral {
                    venue: Venue::from_str(&loc).map_err(|e| ApiError::Storage(e.to_string()))?,
                    asset: r.try_get(2)?,
                    amount: Amount::from_str(&amount)
                        .map_err(|e| ApiError::Storage(e.to_string()))?,
                    sub_account: None,
                    chain_id: None,
                };
                books
                    .entry(id.clone())
                    .or_insert_with(|| Account::new(&id))
                    .collateral
                    .push(c);
            }
        }
        {
            let mut rows = sqlx::query(
                "SELECT account_id, positions FROM positions ORDER BY account_id, venue",
            )
            .fetch(&self.pool);
            while let Some(r) = rows.try_next().await? {
                let id: String = r.try_get(0)?;
                let text: String = r.try_get(1)?;
                let mut items: Vec<Position> = serde_json::from_str(&text)
                    .map_err(|e| ApiError::Storage(format!("positions.positions: {e}")))?;
                books
                    .entry(id.clone())
                    .or_insert_with(|| Account::new(&id))
                    .positions
                    .append(&mut items);
            }
        }
        {
            let mut rows =
                sqlx::query("SELECT account_id, orders FROM orders ORDER BY account_id, venue")
                    .fetch(&self.pool);
            while let Some(r) = rows.try_next().await? {
                let id: String = r.try_get(0)?;
                let text: String = r.try_get(1)?;
                let mut items: Vec<Order> = serde_json::from_str(&text)
                    .map_err(|e| ApiError::Storage(format!("orders.orders: {e}")))?;
                books
                    .entry(id.clone())
                    .or_insert_with(|| Account::new(&id))
                    .orders
                    .append(&mut items);
            }
        }
        {
            let mut streamed: BTreeMap<String, Vec<StreamedBalances>> = BTreeMap::new();
            let mut rows = sqlx::query(
                "SELECT venue, balances, source, at_ms, account_id FROM streamed_balances ORDER BY account_id, venue",
            )
            .fetch(&self.pool);
            while let Some(r) = rows.try_next().await? {
                let id: String = r.try_get(4)?;
                streamed.entry(id).or_default().push(row_to_streamed(&r)?);
            }
            for (id, s) in streamed {
                let acc = books.entry(id.clone()).or_insert_with(|| Account::new(&id));
                with_streamed(acc, s);
            }
        }
        Ok(books)
    }

    /// True when the account exists.
    pub async fn account_exists(&self, id: &str) -> Result<bool, ApiError> {
        Ok(sqlx::query("SELECT id FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    /// The latest checkpoint, if any.
    async fn latest_checkpoint(&self) -> Result<Option<Checkpoint>, ApiError> {
        let row = sqlx::query(
            "SELECT id, upto_seq, digest, flows FROM checkpoints ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let text: String = r.try_get(3)?;
        let bad = |why: &str| ApiError::Storage(format!("checkpoints.flows: {why}"));
        let v: Value = serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
        let mut flows = BTreeMap::new();
        for (asset, amount) in v.as_object().ok_or_else(|| bad("not an object"))? {
            let n: i128 = amount
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad(&format!("{asset}: not an integer string")))?;
            flows.insert(asset.clone(), n);
        }
        Ok(Some(Checkpoint {
            id: r.try_get(0)?,
            upto_seq: r.try_get(1)?,
            digest: r.try_get(2)?,
            flows,
        }))
    }

    /// The three verified projection tables, read row by row (streamed: a million accounts' rows
    /// are never held as database rows at once).
    async fn read_projections(&self) -> Result<Projections, ApiError> {
        Ok(Projections {
            system: self
                .read_projection(
                    "system_balances",
                    "SELECT CAST('system' AS TEXT), name, asset, amount FROM system_balances",
                )
                .await?,
            credits: self
                .read_projection(
                    "credits",
                    "SELECT account_id, venue, asset, amount FROM credits",
                )
                .await?,
            balances: self
                .read_projection(
                    "balances",
                    "SELECT account_id, location, asset, amount FROM balances",
                )
                .await?,
        })
    }

    /// One projection table (`account, place, asset, amount` rows) as a map.
    async fn read_projection(&self, table: &str, sql: &str) -> Result<Totals, ApiError> {
        use futures::TryStreamExt;
        let mut rows = sqlx::query(sql).fetch(&self.pool);
        let mut stored = BTreeMap::new();
        while let Some(r) = rows.try_next().await? {
            let amount: String = r.try_get(3)?;
            let v: i128 = amount
                .parse()
                .map_err(|_| ApiError::Storage(format!("{table}.amount: not an integer")))?;
            stored.insert((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?), v);
        }
        Ok(stored)
    }
}

/// A value bound into a multi-row insert.
enum Val {
    S(String),
    I(i64),
}

/// Rows per multi-row INSERT: 1,000 rows of at most 5 values stay far under both engines' limits
/// on bound parameters (SQLite 32,766, PostgreSQL 65,535).
const ROWS_PER_INSERT: usize = 1_000;

/// Inserts `rows` into `table (columns)` with multi-row INSERT statements.
async fn insert_rows(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    table: &str,
    rows: &[Vec<Val>],
) -> Result<(), ApiError> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut sql = format!("INSERT INTO {table} VALUES ");
        let mut n = 0;
        for (i, row) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(',');
            }
            sql.push('(');
            for k in 0..row.len() {
                if k > 0 {
                    sql.push(',');
                }
                n += 1;
                sql.push_str(&format!("${n}"));
            }
            sql.push(')');
        }
        let mut q = sqlx::query(&sql);
        for row in chunk {
            for v in row {
                q = match v {
                    Val::S(s) => q.bind(s.as_str()),
                    Val::I(i) => q.bind(*i),
                };
            }
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// JSON text of a stored list.
fn to_json<T: Serialize>(v: &T) -> Result<String, ApiError> {
    serde_json::to_string(v).map_err(|e| ApiError::Engine(e.to_string()))
}

/// How [`Ledger::verify`] verified the projections.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// Balance rows checked.
    pub rows: usize,
    /// Events replayed (all of them without a checkpoint, those after it otherwise).
    pub events_replayed: u64,
    /// The event the checkpoint verified from was taken at; `None` for a whole-log replay.
    pub from_checkpoint: Option<i64>,
    /// The last event verified.
    pub last_seq: i64,
    /// True when a new checkpoint was recorded at `last_seq`.
    pub checkpoint_written: bool,
}

/// (account or `system`, location / venue / name, asset) → base units.
type Totals = BTreeMap<(String, String, String), i128>;

/// A recorded checkpoint.
struct Checkpoint {
    id: i64,
    upto_seq: i64,
    digest: String,
    flows: BTreeMap<String, i128>,
}

/// The verified projection tables.
struct Projections {
    balances: Totals,
    credits: Totals,
    system: Totals,
}

impl Projections {
    /// SHA-256 of the non-zero entries of the three tables, in key order, hex.
    fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for (tag, t) in [
            ("balances", &self.balances),
            ("credits", &self.credits),
            ("system", &self.system),
        ] {
            for ((a, b, c), v) in t.iter().filter(|(_, v)| **v != 0) {
                h.update(format!("{tag}\u{1f}{a}\u{1f}{b}\u{1f}{c}\u{1f}{v}\n").as_bytes());
            }
        }
        hex::encode(h.finalize())
    }
}

/// The non-zero entries of a map.
fn nonzero(t: &Totals) -> BTreeMap<&(String, String, String), i128> {
    t.iter()
        .filter(|(_, v)| **v != 0)
        .map(|(k, v)| (k, *v))
        .collect()
}

/// `a − b`, entry by entry.
fn minus(a: &Totals, b: &Totals) -> Totals {
    let mut out = a.clone();
    for (k, v) in b {
        *out.entry(k.clone()).or_default() -= v;
    }
    out
}

/// The ledger invariant per asset: balances + insurance fund + bad debt = flows.
fn check_invariant(
    balances: &Totals,
    system: &Totals,
    flows: &BTreeMap<String, i128>,
) -> Result<(), ApiError> {
    let mut held: BTreeMap<String, i128> = BTreeMap::new();
    for ((_, _, asset), v) in balances {
        *held.entry(asset.clone()).or_default() += v;
    }
    for ((_, name, asset), v) in system {
        if name == INSURANCE_FUND || name == BAD_DEBT {
            *held.entry(asset.clone()).or_default() += v;
        }
    }
    for asset in held.keys().chain(flows.keys()) {
        let (h, f) = (
            held.get(asset).copied().unwrap_or(0),
            flows.get(asset).copied().unwrap_or(0),
        );
        if h != f {
            return Err(ApiError::Storage(format!(
                "ledger invariant broken for {asset}: balances + insurance fund + bad debt = {h} \
                 but deposits - withdrawals - fees + settlements = {f}; refusing to serve"
            )));
        }
    }
    Ok(())
}

/// What a run of events did to the projections, and the money that entered or left the system.
#[derive(Default)]
struct Replay {
    balances: Totals,
    credits: Totals,
    system: Totals,
    /// Per asset: deposits − withdrawals − fees + settlements.
    flows: BTreeMap<String, i128>,
    events: u64,
    last_seq: i64,
}

impl Replay {
    /// Adds one event's effect.
    fn apply(&mut self, e: &Event) {
        self.events += 1;
        self.last_seq = self.last_seq.max(e.seq);
        let p = &e.payload;
        let amt = |k: &str| {
            p[k].as_str()
                .and_then(|s| s.parse::<i128>().ok())
                .unwrap_or(0)
        };
        let s = |k: &str| p[k].as_str().unwrap_or_default().to_string();
        let balances = &mut self.balances;
        let mut add = |loc: String, asset: String, d: i128| {
            *balances
                .entry((e.account_id.clone(), loc, asset))
                .or_default() += d;
        };
        match e.kind.as_str() {
            "deposit" => add(s("location"), s("asset"), amt("amount")),
            "withdrawal" => add(s("location"), s("asset"), -amt("amount")),
            "transfer" => {
                add(s("from"), s("asset"), -amt("amount"));
                add(s("to"), s("asset"), amt("amount") - amt("fee"));
            }
            "credit" => {
                *self
                    .credits
                    .entry((e.account_id.clone(), s("venue"), s("asset")))
                    .or_default() += amt("amount");
            }
            "liquidation" => {
                let rows = |k: &str| p["booking"][k].as_array().cloned().unwrap_or_default();
                let n = |r: &Value| {
                    r["amount"]
                        .as_str()
                        .and_then(|s| s.parse::<i128>().ok())
                        .unwrap_or(0)
                };
                let t = |r: &Value, k: &str| r[k].as_str().unwrap_or_default().to_string();
                for r in rows("balances") {
                    add(t(&r, "location"), t(&r, "asset"), n(&r));
                }
                for r in rows("credits") {
                    *self
                        .credits
                        .entry((e.account_id.clone(), t(&r, "venue"), t(&r, "asset")))
                        .or_default() += n(&r);
                }
                for r in rows("system") {
                    let (name, asset) = (t(&r, "name"), t(&r, "asset"));
                    // Fees leave the system and settlements enter it: they count in the flows.
                    match name.as_str() {
                        FEES => *self.flows.entry(asset.clone()).or_default() -= n(&r),
                        SETTLEMENTS => *self.flows.entry(asset.clone()).or_default() += n(&r),
                        _ => {}
                    }
                    *self
                        .system
                        .entry(("system".into(), name, asset))
                        .or_default() += n(&r);
                }
            }
            _ => {}
        }
        // Money entering or leaving the system, per asset, for the invariant.
        match e.kind.as_str() {
            "deposit" => *self.flows.entry(s("asset")).or_default() += amt("amount"),
            "withdrawal" => *self.flows.entry(s("asset")).or_default() -= amt("amount"),
            "transfer" => *self.flows.entry(s("asset")).or_default() -= amt("fee"),
            _ => {}
        }
    }
}

/// One balance, read inside the transaction (zero when there is none).
async fn balance_of(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    account: &str,
    location: Venue,
    asset: &str,
) -> Result<Amount, ApiError> {
    read_amount(
        tx,
        "SELECT amount FROM balances WHERE account_id = $1 AND location = $2 AND asset = $3",
        account,
        location,
        asset,
    )
    .await
}

/// The amount of one (account, venue or location, asset) row of a projection, zero when absent.
async fn read_amount(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    sql: &str,
    account: &str,
    place: Venue,
    asset: &str,
) -> Result<Amount, ApiError> {
    let row = sqlx::query(sql)
        .bind(account)
        .bind(place.as_str())
        .bind(asset)
        .fetch_optional(&mut **tx)
        .await?;
    match row {
        Some(r) => Amount::from_str(&r.try_get::<String, _>(0)?)
            .map_err(|e| ApiError::Storage(e.to_string())),
        None => Ok(Amount::ZERO),
    }
}

/// Changes one credit line by `delta`, refusing to take it below zero.
async fn put_credit(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    account: &str,
    venue: Venue,
    asset: &str,
    delta: Amount,
) -> Result<Amount, ApiError> {
    let current = read_amount(
        tx,
        "SELECT amount FROM credits WHERE account_id = $1 AND venue = $2 AND asset = $3",
        account,
        venue,
        asset,
    )
    .await?;
    let next = current
        .checked_add(delta, "amount")
        .map_err(|e| ApiError::bad("amount", e.to_string()))?;
    if next.0 < 0 {
        return Err(ApiError::Conflict {
            field: "amount".into(),
            reason: format!(
                "release of {} exceeds the {asset} credit outstanding at {venue} ({} base units)",
                -delta.0, current.0
            ),
        });
    }
    sqlx::query(
        "INSERT INTO credits (account_id, venue, asset, amount) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (account_id, venue, asset) DO UPDATE SET amount = excluded.amount",
    )
    .bind(account)
    .bind(venue.as_str())
    .bind(asset)
    .bind(next.0.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(next)
}

/// Refuses a state where the account's credit lines in `asset` exceed its hub balance `hub`.
async fn covers_credits(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    account: &str,
    asset: &str,
    hub: Amount,
    field: &str,
) -> Result<(), ApiError> {
    let rows = sqlx::query("SELECT amount FROM credits WHERE account_id = $1 AND asset = $2")
        .bind(account)
        .bind(asset)
        .fetch_all(&mut **tx)
        .await?;
    let mut total = Amount::ZERO;
    for r in &rows {
        let a = Amount::from_str(&r.try_get::<String, _>(0)?)
            .map_err(|e| ApiError::Storage(e.to_string()))?;
        total = total
            .checked_add(a, "credits")
            .map_err(|e| ApiError::Storage(e.to_string()))?;
    }
    if total > hub {
        return Err(ApiError::Conflict {
            field: field.into(),
            reason: format!(
                "{asset} credit lines total {} base units but the hub would hold {}: collateral pledged as credit cannot leave the hub",
                total.0, hub.0
            ),
        });
    }
    Ok(())
}

/// The account's last event sequence number (0 before any).
async fn last_seq(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    account: &str,
) -> Result<i64, ApiError> {
    let row = sqlx::query("SELECT MAX(seq) FROM events WHERE account_id = $1")
        .bind(account)
        .fetch_one(&mut **tx)
        .await?;
    Ok(row.try_get::<Option<i64>, _>(0)?.unwrap_or(0))
}

/// Changes one system account (insurance fund, bad debt, fees, settlements) by `delta`.
async fn add_system(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    name: &str,
    asset: &str,
    delta: Amount,
) -> Result<(), ApiError> {
    let row = sqlx::query("SELECT amount FROM system_balances WHERE name = $1 AND asset = $2")
        .bind(name)
        .bind(asset)
        .fetch_optional(&mut **tx)
        .await?;
    let current = match row {
        Some(r) => Amount::from_str(&r.try_get::<String, _>(0)?)
            .map_err(|e| ApiError::Storage(e.to_string()))?,
        None => Amount::ZERO,
    };
    let next = current
        .checked_add(delta, name)
        .map_err(|e| ApiError::Storage(e.to_string()))?;
    sqlx::query(
        "INSERT INTO system_balances (name, asset, amount) VALUES ($1, $2, $3) \
         ON CONFLICT (name, asset) DO UPDATE SET amount = excluded.amount",
    )
    .bind(name)
    .bind(asset)
    .bind(next.0.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The outbox payload of an account's book: `{"account": id, "positions": [...]}`.
fn outbox_payload(account: &str, positions: &[&Position]) -> Result<String, ApiError> {
    to_json(&json!({ "account": account, "positions": positions }))
}

/// Writes the account's whole book (every venue's positions, as of this transaction) to the outbox,
/// replacing the account's older rows: a book supersedes the previous ones (margin is a function of
/// the book), so the table holds at most one row per account whether or not a relay drains it.
async fn write_outbox(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    account: &str,
    created: i64,
) -> Result<(), ApiError> {
    let rows = sqlx::query("SELECT positions FROM positions WHERE account_id = $1 ORDER BY venue")
        .bind(account)
        .fetch_all(&mut **tx)
        .await?;
    let mut all: Vec<Position> = Vec::new();
    for r in rows {
        let text: String = r.try_get(0)?;
        let mut items: Vec<Position> = serde_json::from_str(&text)
            .map_err(|e| ApiError::Storage(format!("positions.positions: {e}")))?;
        all.append(&mut items);
    }
    let refs: Vec<&Position> = all.iter().collect();
    sqlx::query("DELETE FROM outbox WHERE account_id = $1")
        .bind(account)
        .execute(&mut **tx)
        .await?;
    sqlx::query("INSERT INTO outbox (account_id, payload, created_ms) VALUES ($1, $2, $3)")
        .bind(account)
        .bind(outbox_payload(account, &refs)?)
        .bind(created)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Replaces one venue's positions of an account (the positions projection).
async fn put_positions(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    account: &str,
    venue: Venue,
    positions: &[Position],
    reported: &[Reported],
    seq: i64,
) -> Result<(), ApiError> {
    let text = serde_json::to_string(positions).map_err(|e| ApiError::Engine(e.to_string()))?;
    let figures = serde_json::to_string(reported).map_err(|e| ApiError::Engine(e.to_string()))?;
    sqlx::query(
        "INSERT INTO positions (account_id, venue, positions, seq, reported) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (account_id, venue) DO UPDATE SET positions = excluded.positions, seq = excluded.seq, reported = excluded.reported",
    )
    .bind(account)
    .bind(venue.as_str())
    .bind(text)
    .bind(seq)
    .bind(figures)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn add_balance(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    account: &str,
    location: Venue,
    asset: &str,
    delta: Amount,
    field: &str,
) -> Result<Amount, ApiError> {
    let current = balance_of(tx, account, location, asset).await?;
    let next = current
        .checked_add(delta, field)
        .map_err(|e| ApiError::bad(field, e.to_string()))?;
    if next.0 < 0 {
        return Err(ApiError::Conflict {
            field: field.into(),
            reason: format!(
                "insufficient {asset} at {location}: balance {} base units, debit {}",
                current.0, -delta.0
            ),
        });
    }
    sqlx::query(
        "INSERT INTO balances (account_id, location, asset, amount) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (account_id, location, asset) DO UPDATE SET amount = excluded.amount",
    )
    .bind(account)
    .bind(location.as_str())
    .bind(asset)
    .bind(next.0.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(next)
}

/// The balances one venue's account stream declared for an account ([`Mutation::StreamedBalances`]).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamedBalances {
    /// The reporting venue.
    pub venue: Venue,
    /// Per asset, base units.
    pub balances: Vec<Collateral>,
    /// Reported balances the margin does not count, with the reason.
    pub ignored: Vec<IgnoredBalance>,
    /// `streamed from <venue> at <time>`.
    pub source: String,
    /// UTC ms of the statement.
    pub at_ms: i64,
}

/// A balance a venue's stream reported that the margin does not count, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IgnoredBalance {
    /// The venue's asset symbol.
    pub asset: String,
    /// The amount as the venue reported it, in whole units (in base units when the stream
    /// named no decimals for the asset; the reason then says so).
    pub amount: f64,
    /// Why it is not counted.
    pub reason: String,
}

/// The `balances` column: the counted balances as a JSON list, or, when the stream reported
/// balances the margin does not count, `{"balances": [...], "ignored": [...]}` (older rows
/// hold the plain list; both are read by `row_to_streamed`).
fn streamed_json(balances: &[Collateral], ignored: &[IgnoredBalance]) -> Result<String, ApiError> {
    if ignored.is_empty() {
        to_json(&balances)
    } else {
        to_json(&json!({"balances": balances, "ignored": ignored}))
    }
}

fn row_to_streamed(r: &AnyRow) -> Result<StreamedBalances, ApiError> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Plain(Vec<Collateral>),
        WithIgnored {
            balances: Vec<Collateral>,
            #[serde(default)]
            ignored: Vec<IgnoredBalance>,
        },
    }
    let venue: String = r.try_get(0)?;
    let text: String = r.try_get(1)?;
    let (balances, ignored) = match serde_json::from_str(&text)
        .map_err(|e| ApiError::Storage(format!("streamed_balances.balances: {e}")))?
    {
        Stored::Plain(b) => (b, Vec::new()),
        Stored::WithIgnored { balances, ignored } => (balances, ignored),
    };
    Ok(StreamedBalances {
        venue: Venue::from_str(&venue).map_err(|e| ApiError::Storage(e.to_string()))?,
        balances,
        ignored,
        source: r.try_get(2)?,
        at_ms: r.try_get(3)?,
    })
}

/// Puts streamed balances in place of the ledger's on their venues, noting each venue's source
/// in `reported` ([`STREAMED_COLLATERAL`], one row per asset: `value` the base units as a float,
/// for the explanation only; the margin reads the exact base units of `collateral`).
fn with_streamed(acc: &mut intermargin_model::Account, streamed: Vec<StreamedBalances>) {
    for s in streamed {
        acc.collateral.retain(|c| c.venue != s.venue);
        for c in &s.balances {
            acc.reported.push(Reported {
                venue: s.venue,
                pool: None,
                instrument: None,
                currency: Some(c.asset.clone()),
                field: STREAMED_COLLATERAL.into(),
                value: c.amount.0 as f64,
                source: s.source.clone(),
            });
        }
        acc.collateral.extend(s.balances);
        for g in &s.ignored {
            acc.reported.push(Reported {
                venue: s.venue,
                pool: None,
                instrument: None,
                currency: Some(g.asset.clone()),
                field: STREAMED_COLLATERAL_IGNORED.into(),
                value: g.amount,
                source: format!("{}; not counted: {}", s.source, g.reason),
            });
        }
    }
}

/// The `field` of the `reported` rows [`Ledger::book`] adds for streamed balances.
pub const STREAMED_COLLATERAL: &str = "streamed_collateral";

/// The `field` of the `reported` rows [`Ledger::book`] adds for streamed balances the margin
/// does not count (`value` the whole units the venue reported, `source` the stream's source
/// and the reason).
pub const STREAMED_COLLATERAL_IGNORED: &str = "streamed_collateral_ignored";

fn row_to_collateral(r: &AnyRow) -> Result<Collateral, ApiError> {
    let loc: String = r.try_get(0)?;
    let amount: String = r.try_get(2)?;
    Ok(Collateral {
        venue: Venue::from_str(&loc).map_err(|e| ApiError::Storage(e.to_string()))?,
        asset: r.try_get(1)?,
        amount: Amount::from_str(&amount).map_err(|e| ApiError::Storage(e.to_string()))?,
        sub_account: None,
        chain_id: None,
    })
}

fn row_to_event(r: &AnyRow) -> Result<Event, ApiError> {
    let payload: String = r.try_get(3)?;
    Ok(Event {
        seq: r.try_get(0)?,
        account_id: r.try_get(1)?,
        kind: r.try_get(2)?,
        payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
        created_ms: r.try_get(4)?,
    })
}

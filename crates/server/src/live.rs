//! `serve --live CONFIG`: the monitor reads the venues' live feeds ([`intermargin_live::LiveFeed`])
//! instead of the demo replay. The feed has already judged its sources: stale and diverging
//! sources' prices are withheld (they never reach the market) and come as alarms, which the
//! monitor turns into circuit-breaker trips ([`crate::monitor::LiveBreakers::observe_alarm`]).

use std::path::Path;

use intermargin_live::account::AccountStream;
use intermargin_live::{LiveConfig, LiveFeed};
use intermargin_model::{Position, Venue};

use crate::error::ApiError;
use crate::monitor::{FeedBatch, PriceFeed, PriceTick};
use crate::state::Shared;

/// A venue account's positions as its account stream now has them (`[[accounts]]` of the live
/// config): they replace that venue's positions in the ledger account.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountUpdate {
    /// Ledger account.
    pub account: String,
    /// Venue whose positions these are.
    pub venue: Venue,
    /// The positions.
    pub positions: Vec<Position>,
}

/// One account stream and the positions last handed to the monitor (as JSON, to compare).
struct Streamed {
    stream: AccountStream,
    last: Option<String>,
}

/// The live feed as the monitor's price feed.
pub struct LiveSource {
    feed: LiveFeed,
    accounts: Vec<Streamed>,
}

impl LiveSource {
    /// Starts every source and account stream of `cfg` on the current tokio runtime.
    pub fn start(cfg: &LiveConfig) -> Result<LiveSource, String> {
        let accounts = cfg
            .account_sources()
            .map_err(|e| format!("--live: {e}"))?
            .into_iter()
            .map(|src| Streamed {
                stream: AccountStream::start(src),
                last: None,
            })
            .collect();
        let feed = LiveFeed::start(cfg).map_err(|e| format!("--live: {e}"))?;
        Ok(LiveSource { feed, accounts })
    }

    /// Positions of the account streams that changed since last asked (only once a stream has
    /// its REST base, so an unreachable venue never empties an account).
    fn account_updates(&mut self) -> Vec<AccountUpdate> {
        let mut out = Vec::new();
        for s in &mut self.accounts {
            if s.stream.status().reconciliations == 0 {
                continue;
            }
            let snap = match s.stream.snapshot() {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("account stream: {e}");
                    continue;
                }
            };
            let Some(acc) = snap.portfolio.accounts.into_iter().next() else {
                continue;
            };
            let json = serde_json::to_string(&acc.positions).unwrap_or_default();
            if s.last.as_deref() != Some(json.as_str()) {
                s.last = Some(json);
                out.push(AccountUpdate {
                    account: acc.id,
                    venue: s.stream.venue(),
                    positions: acc.positions,
                });
            }
        }
        out
    }

    /// Each account stream's status, by ledger account.
    pub fn account_status(&self) -> serde_json::Value {
        let map: serde_json::Map<String, serde_json::Value> = self
            .accounts
            .iter()
            .map(|s| {
                (
                    s.stream.account().to_string(),
                    serde_json::to_value(s.stream.status()).unwrap_or_default(),
                )
            })
            .collect();
        serde_json::Value::Object(map)
    }

    /// Reads, validates and starts a live config file; errors name the flag and the field.
    pub fn from_file(path: &Path) -> Result<LiveSource, String> {
        let cfg =
            LiveConfig::from_file(path).map_err(|e| format!("--live {}: {e}", path.display()))?;
        Self::start(&cfg)
    }

    /// Each source's status as `/health` shows it: name → connection state and counters.
    pub fn status(&self) -> serde_json::Value {
        let map: serde_json::Map<String, serde_json::Value> = self
            .feed
            .status()
            .into_iter()
            .map(|(name, s)| (name, serde_json::to_value(s).unwrap_or_default()))
            .collect();
        serde_json::Value::Object(map)
    }
}

#[async_trait::async_trait]
impl PriceFeed for LiveSource {
    async fn next_batch(&mut self) -> Option<FeedBatch> {
        let b = self.feed.next_batch().await;
        let t_ms = b.t_ms;
        Some(FeedBatch {
            ticks: b
                .ticks
                .into_iter()
                .map(|t| PriceTick {
                    t_ms,
                    key: t.key,
                    price: t.price,
                })
                .collect(),
            alarms: b.alarms,
            withheld: b.withheld,
            wall_ms: Some(t_ms),
            sources: Some(self.status()),
            accounts: self.account_updates(),
            account_streams: (!self.accounts.is_empty()).then(|| self.account_status()),
        })
    }
}

/// Files a streamed account's positions in the ledger (as `POST …/positions` does, checked
/// the same way, written by `system`), then reloads and re-margins the account.
pub async fn apply_account_update(st: &Shared, u: &AccountUpdate) -> Result<(), ApiError> {
    use sha2::Digest;
    crate::api::ensure_exists(st, &u.account).await?;
    let m = crate::api::positions_mutation(st, &u.account, u.venue, u.positions.clone()).await?;
    let body = serde_json::to_vec(&u.positions).unwrap_or_default();
    let hash = hex::encode(sha2::Sha256::digest(&body));
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let key = format!(
        "live-stream:{}:{}:{}:{}",
        u.account,
        u.venue,
        intermargin_live::now_ms(),
        SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    st.ledger.apply("system", &key, &hash, m).await?;
    st.reload_book(&u.account).await?;
    crate::monitor::remargin_accounts(st, std::slice::from_ref(&u.account)).await;
    Ok(())
}

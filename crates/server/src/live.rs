//! `serve --live CONFIG`: the monitor reads the venues' live feeds ([`intermargin_live::LiveFeed`])
//! instead of the demo replay. The feed has already judged its sources: stale and diverging
//! sources' prices are withheld (they never reach the market) and come as alarms, which the
//! monitor turns into circuit-breaker trips ([`crate::monitor::LiveBreakers::observe_alarm`]).

use std::path::Path;
use std::sync::{Arc, Mutex};

use intermargin_live::account::AccountStream;
use intermargin_live::{LiveConfig, LiveFeed};
use intermargin_model::{Account, Collateral, Order, Position, Venue};

use crate::error::ApiError;
use crate::ledger::IgnoredBalance;
use crate::monitor::{FeedBatch, PriceFeed, PriceTick};
use crate::state::Shared;

/// Most open orders one account stream may file for one venue (checked before they are
/// copied or serialised; a larger set is refused whole).
pub const MAX_ORDERS_PER_VENUE: usize = 1_000;

/// Most balances (assets) one account stream may declare for one venue.
pub const MAX_BALANCES_PER_VENUE: usize = 256;

/// What a venue account's stream now reports that changed since last filed (`[[accounts]]` of
/// the live config): each part replaces that venue's part in the ledger account.
#[derive(Debug, Clone)]
pub struct AccountUpdate {
    /// Ledger account: the stream's configured one.
    pub account: String,
    /// Venue whose state this is.
    pub venue: Venue,
    /// The positions (filed when `file_positions`).
    pub positions: Vec<Position>,
    /// True when the positions changed since last filed.
    pub file_positions: bool,
    /// The open orders, when they changed.
    pub orders: Option<Vec<Order>>,
    /// The venue's balances, when they changed.
    pub balances: Option<Vec<Collateral>>,
    /// The assets (decimals of the balances' base units) as the stream's adapter read them.
    pub assets: Vec<intermargin_model::Asset>,
    /// UTC ms the stream's state was read.
    pub at_ms: i64,
    /// What the stream last offered, forgotten part by part when the ledger refuses a part, so
    /// that it is offered again (after [`RETRY_MS`]) — e.g. orders that arrived before the
    /// market had a price for their instrument.
    last: Option<Arc<Mutex<Last>>>,
}

/// How long a stream waits before offering again a part the ledger refused.
pub const RETRY_MS: i64 = 1_000;

/// The JSON last filed of each part of one stream's account, to compare.
#[derive(Debug, Default)]
struct Last {
    positions: Option<String>,
    orders: Option<String>,
    balances: Option<String>,
    /// No update before this time (UTC ms): set when a part was refused.
    hold_until_ms: i64,
}

/// One account stream and what was last handed to the monitor.
struct Streamed {
    stream: AccountStream,
    last: Arc<Mutex<Last>>,
}

/// The update a stream's account means for the ledger, or `None` when nothing changed. Refused
/// (naming why) when the stream's snapshot speaks for another account than its configured
/// one, for another venue than its own, or holds more orders or balances than the limits
/// (counted before anything is copied).
fn update_of(
    configured: &str,
    venue: Venue,
    accounts: Vec<Account>,
    assets: Vec<intermargin_model::Asset>,
    last: &mut Last,
    at_ms: i64,
) -> Result<Option<AccountUpdate>, String> {
    if accounts.len() > 1 {
        return Err(format!(
            "the {venue} stream of account {configured:?} reported {} accounts; it files one",
            accounts.len()
        ));
    }
    let Some(acc) = accounts.into_iter().next() else {
        return Ok(None);
    };
    if acc.id != configured {
        return Err(format!(
            "the {venue} stream configured for account {configured:?} reported account {:?}: refused",
            acc.id
        ));
    }
    if acc.orders.len() > MAX_ORDERS_PER_VENUE {
        return Err(format!(
            "orders: {} open orders on {venue} exceed the limit of {MAX_ORDERS_PER_VENUE}",
            acc.orders.len()
        ));
    }
    if acc.collateral.len() > MAX_BALANCES_PER_VENUE {
        return Err(format!(
            "balances: {} balances on {venue} exceed the limit of {MAX_BALANCES_PER_VENUE}",
            acc.collateral.len()
        ));
    }
    for (i, c) in acc.collateral.iter().enumerate() {
        if c.venue != venue {
            return Err(format!(
                "balances[{i}].venue: the {venue} stream declared a balance on {}",
                c.venue
            ));
        }
    }
    for (i, o) in acc.orders.iter().enumerate() {
        if o.instrument.venue != venue {
            return Err(format!(
                "orders[{i}].instrument.venue: the {venue} stream reported an order on {}",
                o.instrument.venue
            ));
        }
    }
    let json = |v: &dyn erased::Json| v.json();
    let (p, o, b) = (
        json(&acc.positions),
        json(&acc.orders),
        json(&acc.collateral),
    );
    let file_positions = last.positions.as_deref() != Some(p.as_str());
    let orders = (last.orders.as_deref() != Some(o.as_str())).then_some(acc.orders);
    let balances = (last.balances.as_deref() != Some(b.as_str())).then_some(acc.collateral);
    if !file_positions && orders.is_none() && balances.is_none() {
        return Ok(None);
    }
    last.positions = Some(p);
    last.orders = Some(o);
    last.balances = Some(b);
    Ok(Some(AccountUpdate {
        account: configured.to_string(),
        venue,
        positions: acc.positions,
        file_positions,
        orders,
        balances,
        assets,
        at_ms,
        last: None,
    }))
}

mod erased {
    /// A list serialised to compare with what was last filed.
    pub trait Json {
        /// Its JSON (empty on the impossible serialisation error).
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for Vec<T> {
        fn json(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
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
                last: Arc::default(),
            })
            .collect();
        let feed = LiveFeed::start(cfg).map_err(|e| format!("--live: {e}"))?;
        Ok(LiveSource { feed, accounts })
    }

    /// What the account streams report that changed since last asked (only once a stream has
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
            let (account, venue) = (s.stream.account().to_string(), s.stream.venue());
            let at = intermargin_live::now_ms();
            let (accounts, assets) = (snap.portfolio.accounts, snap.portfolio.assets);
            let mut last = s.last.lock().unwrap_or_else(|p| p.into_inner());
            if at < last.hold_until_ms {
                continue;
            }
            match update_of(&account, venue, accounts, assets, &mut last, at) {
                Ok(Some(mut u)) => {
                    u.last = Some(s.last.clone());
                    out.push(u)
                }
                Ok(None) => {}
                Err(e) => tracing::warn!("account stream of {account:?}: {e}"),
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

/// Files what a stream reports in the ledger, written by `system` as the operator's configured
/// stream: positions as `POST …/positions` files them (checked the same way), open orders
/// ([`orders_mutation`]) and the venue's balances as its statement of fact
/// ([`crate::ledger::Mutation::StreamedBalances`], never a deposit); then reloads and re-margins
/// the account. Each part is filed on its own: a refused part names itself and why.
pub async fn apply_account_update(st: &Shared, u: &AccountUpdate) -> Result<(), ApiError> {
    crate::api::ensure_exists(st, &u.account).await?;
    let mut refused: Vec<String> = Vec::new();
    if u.file_positions {
        let m = crate::api::positions_mutation(st, &u.account, u.venue, u.positions.clone()).await;
        if let Err(e) = file(st, u, "positions", m).await {
            u.forget(|l| l.positions = None);
            refused.push(format!("positions: {e}"));
        }
    }
    if let Some(orders) = &u.orders {
        let m = orders_mutation(st, &u.account, u.venue, orders).await;
        if let Err(e) = file(st, u, "orders", m).await {
            u.forget(|l| l.orders = None);
            refused.push(format!("orders: {e}"));
        }
    }
    if let Some(balances) = &u.balances {
        let declared = st.ledger.assets().await?;
        let m = declared_balances(balances, &u.assets, &declared).and_then(|(b, left_out)| {
            let mut m = balances_mutation(&u.account, u.venue, &b, u.at_ms)?;
            if let crate::ledger::Mutation::StreamedBalances { ignored, .. } = &mut m {
                *ignored = left_out;
            }
            Ok(m)
        });
        if let Err(e) = file(st, u, "balances", m).await {
            u.forget(|l| l.balances = None);
            refused.push(format!("balances: {e}"));
        }
    }
    st.reload_book(&u.account).await?;
    crate::monitor::remargin_accounts(st, std::slice::from_ref(&u.account)).await;
    if refused.is_empty() {
        Ok(())
    } else {
        Err(ApiError::bad(
            format!("live.accounts.{}", u.account),
            refused.join("; "),
        ))
    }
}

/// Equal when they file the same state (the retry handle is not compared).
impl PartialEq for AccountUpdate {
    fn eq(&self, o: &Self) -> bool {
        (
            &self.account,
            self.venue,
            &self.positions,
            self.file_positions,
        ) == (&o.account, o.venue, &o.positions, o.file_positions)
            && (&self.orders, &self.balances, &self.assets, self.at_ms)
                == (&o.orders, &o.balances, &o.assets, o.at_ms)
    }
}

impl AccountUpdate {
    /// Forgets a refused part (so the stream offers it again) and holds the stream for [`RETRY_MS`].
    fn forget(&self, part: impl FnOnce(&mut Last)) {
        if let Some(l) = &self.last {
            let mut l = l.lock().unwrap_or_else(|p| p.into_inner());
            part(&mut l);
            l.hold_until_ms = self.at_ms + RETRY_MS;
        }
    }
}

/// Applies one mutation of a stream as `system` under a fresh idempotency key.
async fn file(
    st: &Shared,
    u: &AccountUpdate,
    part: &str,
    m: Result<crate::ledger::Mutation, ApiError>,
) -> Result<(), ApiError> {
    use sha2::Digest;
    let m = m?;
    if m.account() != u.account {
        return Err(ApiError::bad(
            "account",
            format!(
                "a stream of {:?} cannot write to {:?}",
                u.account,
                m.account()
            ),
        ));
    }
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let key = format!(
        "live-stream:{}:{}:{part}:{}:{n}",
        u.account, u.venue, u.at_ms
    );
    let hash = hex::encode(sha2::Sha256::digest(key.as_bytes()));
    st.ledger.apply("system", &key, &hash, m).await?;
    Ok(())
}

/// The [`crate::ledger::Mutation::Orders`] of a stream's open orders on `venue`, refused (naming
/// `orders[i].field`) when there are more than [`MAX_ORDERS_PER_VENUE`] (counted first), an
/// order is on another venue, is for an instrument the market has no price for (unknown to the
/// margin), or a number is out of range; the orders are validated as the model validates a
/// snapshot's.
pub async fn orders_mutation(
    st: &Shared,
    account: &str,
    venue: Venue,
    orders: &[Order],
) -> Result<crate::ledger::Mutation, ApiError> {
    use crate::api::{MAX_LEVERAGE, MAX_VALUE};
    if orders.len() > MAX_ORDERS_PER_VENUE {
        return Err(ApiError::bad(
            "orders",
            format!(
                "{} open orders exceed the limit of {MAX_ORDERS_PER_VENUE} per venue",
                orders.len()
            ),
        ));
    }
    let market = st.market.read().await.clone();
    for (i, o) in orders.iter().enumerate() {
        if o.instrument.venue != venue {
            return Err(ApiError::bad(
                format!("orders[{i}].instrument.venue"),
                format!("must be {venue}"),
            ));
        }
        let id = o.instrument.id();
        let price = market
            .mark_prices
            .get(&id)
            .copied()
            .or_else(|| market.index_price(venue.as_str(), &o.instrument.underlying));
        let Some(price) = price else {
            return Err(ApiError::bad(
                format!("orders[{i}].instrument"),
                format!(
                    "unknown instrument {id}: the market has no mark or {venue} index price for it"
                ),
            ));
        };
        let size = o.size.abs() * o.instrument.contract_size.abs().max(1.0);
        let worth = size * price.abs().max(o.price.unwrap_or(0.0).abs()).max(1.0);
        if !(size.is_finite() && size <= MAX_VALUE && worth <= MAX_VALUE) {
            return Err(ApiError::bad(
                format!("orders[{i}].size"),
                format!(
                    "{} contracts are worth more than {MAX_VALUE:e} in the quote currency",
                    o.size
                ),
            ));
        }
        for (name, v) in [("price", o.price), ("trigger_price", o.trigger_price)] {
            if let Some(v) = v {
                if !(v.is_finite() && v.abs() <= MAX_VALUE) {
                    return Err(ApiError::bad(
                        format!("orders[{i}].{name}"),
                        format!("must be finite and at most {MAX_VALUE:e} in magnitude"),
                    ));
                }
            }
        }
        if let Some(l) = o.leverage {
            if !(l.is_finite() && l > 0.0 && l <= MAX_LEVERAGE) {
                return Err(ApiError::bad(
                    format!("orders[{i}].leverage"),
                    format!("must be within (0, {MAX_LEVERAGE}], got {l}"),
                ));
            }
        }
    }
    let mut check = intermargin_model::Portfolio::default();
    let mut acc = Account::new(account);
    acc.orders = orders.to_vec();
    check.accounts.push(acc);
    check.validate(Some(market.timestamp_ms)).map_err(|e| {
        ApiError::bad(
            "orders",
            e.to_string().replace("portfolio.accounts[0].", ""),
        )
    })?;
    let orders = check.accounts.pop().map(|a| a.orders).unwrap_or_default();
    Ok(crate::ledger::Mutation::Orders {
        account: account.to_string(),
        venue,
        orders,
    })
}

/// The streamed balances of the ledger's declared assets (the margin values only those), and
/// every other one as an [`IgnoredBalance`] naming the reason (filed with the statement, so the
/// margin report lists it under `collateral_ignored`; also logged). Refused naming
/// `balances[i].asset` when the stream's adapter counts an asset's base units with other
/// decimals than the ledger.
fn declared_balances(
    balances: &[Collateral],
    stream_assets: &[intermargin_model::Asset],
    declared: &[intermargin_model::Asset],
) -> Result<(Vec<Collateral>, Vec<IgnoredBalance>), ApiError> {
    let mut out = Vec::new();
    let mut ignored = Vec::new();
    for (i, c) in balances.iter().enumerate() {
        let Some(d) = declared.iter().find(|a| a.symbol == c.asset) else {
            let decimals = stream_assets
                .iter()
                .find(|a| a.symbol == c.asset)
                .map(|a| a.decimals);
            let reason = format!(
                "{} is not declared in the ledger, so it has no decimals or price here to value it and no {} collateral rule is applied to it; declare it (POST /api/v1/assets) to count it{}",
                c.asset,
                c.venue,
                if decimals.is_none() {
                    " (amount in the venue's base units: the stream named no decimals)"
                } else {
                    ""
                }
            );
            tracing::warn!(
                "streamed {} balance of {} not counted: {reason}",
                c.venue,
                c.asset
            );
            ignored.push(IgnoredBalance {
                asset: c.asset.clone(),
                amount: match decimals {
                    Some(d) => c.amount.to_f64(d),
                    None => c.amount.0 as f64,
                },
                reason,
            });
            continue;
        };
        if let Some(a) = stream_assets.iter().find(|a| a.symbol == c.asset) {
            if a.decimals != d.decimals {
                return Err(ApiError::bad(
                    format!("balances[{i}].asset"),
                    format!(
                        "{}: the stream counts {} decimals, the ledger {}",
                        c.asset, a.decimals, d.decimals
                    ),
                ));
            }
        }
        out.push(c.clone());
    }
    Ok((out, ignored))
}

/// The [`crate::ledger::Mutation::StreamedBalances`] of a stream's balances on `venue` read at
/// `at_ms`: base units as the venue reports them, each on `venue` (else refused naming
/// `balances[i].venue`), at most [`MAX_BALANCES_PER_VENUE`]; its source reads
/// `streamed from <venue> at <RFC 3339 time>`.
pub fn balances_mutation(
    account: &str,
    venue: Venue,
    balances: &[Collateral],
    at_ms: i64,
) -> Result<crate::ledger::Mutation, ApiError> {
    if balances.len() > MAX_BALANCES_PER_VENUE {
        return Err(ApiError::bad(
            "balances",
            format!(
                "{} balances exceed the limit of {MAX_BALANCES_PER_VENUE} per venue",
                balances.len()
            ),
        ));
    }
    for (i, c) in balances.iter().enumerate() {
        if c.venue != venue {
            return Err(ApiError::bad(
                format!("balances[{i}].venue"),
                format!("must be {venue}"),
            ));
        }
    }
    let at = rfc3339_ms(at_ms);
    Ok(crate::ledger::Mutation::StreamedBalances {
        account: account.to_string(),
        venue,
        balances: balances.to_vec(),
        ignored: Vec::new(),
        source: format!("streamed from {venue} at {at}"),
        at_ms,
    })
}

/// `at_ms` (UTC ms since 1970) as RFC 3339 with milliseconds, `1970-01-01T00:00:00.000Z`
/// (days to civil date by H. Hinnant's `civil_from_days`).
fn rfc3339_ms(at_ms: i64) -> String {
    let (days, ms) = (at_ms.div_euclid(86_400_000), at_ms.rem_euclid(86_400_000));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, mi, s, milli) = (
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1_000 % 60,
        ms % 1_000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use intermargin_model::{Amount, Instrument, Side};

    fn account(id: &str, orders: usize) -> Account {
        let mut a = Account::new(id);
        let ins: Instrument = serde_json::from_value(serde_json::json!({
            "venue": "binance", "symbol": "BTCUSDT", "type": "perpetual", "underlying": "BTC",
            "quote": "USDT", "settle": "USDT", "settlement": "linear", "size_unit": "base",
            "contract_size": 1.0}))
        .unwrap();
        a.orders = vec![Order::limit(ins, Side::Buy, 1.0, 100.0); orders];
        a.collateral.push(Collateral {
            venue: Venue::Binance,
            asset: "USDT".into(),
            amount: Amount(5),
            sub_account: None,
            chain_id: None,
        });
        a
    }

    #[test]
    fn a_stream_files_only_its_configured_account_and_venue_within_the_limits() {
        let mut last = Last::default();
        // Another account than the configured one: refused, naming both.
        let e = update_of(
            "mine",
            Venue::Binance,
            vec![account("victim", 1)],
            vec![],
            &mut last,
            0,
        )
        .unwrap_err();
        assert!(e.contains("\"mine\"") && e.contains("\"victim\""), "{e}");
        // Two accounts from one stream: refused.
        let two = vec![account("mine", 1), account("mine", 1)];
        assert!(update_of("mine", Venue::Binance, two, vec![], &mut last, 0).is_err());
        // Over the order limit: refused before anything is serialised.
        let big = vec![account("mine", MAX_ORDERS_PER_VENUE + 1)];
        let e = update_of("mine", Venue::Binance, big, vec![], &mut last, 0).unwrap_err();
        assert!(e.starts_with("orders: 1001 open orders"), "{e}");
        // An order or a balance on another venue than the stream's.
        let e = update_of(
            "mine",
            Venue::Okx,
            vec![account("mine", 1)],
            vec![],
            &mut last,
            0,
        )
        .unwrap_err();
        assert!(e.starts_with("balances[0].venue"), "{e}");
        assert!(
            last.orders.is_none(),
            "nothing remembered from a refused snapshot"
        );
        // Accepted once, then nothing new; a changed order set is offered alone.
        let u = update_of(
            "mine",
            Venue::Binance,
            vec![account("mine", 1)],
            vec![],
            &mut last,
            7,
        )
        .unwrap()
        .unwrap();
        assert_eq!((u.account.as_str(), u.at_ms), ("mine", 7));
        assert!(u.file_positions && u.orders.is_some() && u.balances.is_some());
        assert!(update_of(
            "mine",
            Venue::Binance,
            vec![account("mine", 1)],
            vec![],
            &mut last,
            8
        )
        .unwrap()
        .is_none());
        let u = update_of(
            "mine",
            Venue::Binance,
            vec![account("mine", 2)],
            vec![],
            &mut last,
            9,
        )
        .unwrap()
        .unwrap();
        assert!(!u.file_positions && u.balances.is_none());
        assert_eq!(u.orders.map(|o| o.len()), Some(2));
    }

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 (a leap day) 12:34:56.789 UTC = 951,827,696,789 ms.
        assert_eq!(rfc3339_ms(951_827_696_789), "2000-02-29T12:34:56.789Z");
        // The documented ACCOUNT_UPDATE's event time 1603093193284 = 2020-10-19T07:39:53.284Z.
        assert_eq!(rfc3339_ms(1_603_093_193_284), "2020-10-19T07:39:53.284Z");
    }

    #[test]
    fn balances_of_undeclared_assets_are_named_as_ignored_and_other_decimals_refused() {
        let c = |asset: &str| Collateral {
            venue: Venue::Binance,
            asset: asset.into(),
            amount: Amount(1),
            sub_account: None,
            chain_id: None,
        };
        let usdt = intermargin_model::Asset::new("USDT", 6);
        let (kept, ignored) = declared_balances(
            &[c("USDT"), c("BNB"), c("EOS3L")],
            &[usdt.clone(), intermargin_model::Asset::new("BNB", 8)],
            std::slice::from_ref(&usdt),
        )
        .unwrap();
        assert_eq!(kept, vec![c("USDT")]);
        // Left out, not dropped: each named with its amount and why (1 base unit of BNB at the
        // stream's 8 decimals = 1e-8; EOS3L has no decimals from the stream: base units).
        assert_eq!(ignored.len(), 2);
        assert_eq!(
            (ignored[0].asset.as_str(), ignored[0].amount),
            ("BNB", 1e-8)
        );
        assert!(ignored[0]
            .reason
            .starts_with("BNB is not declared in the ledger"));
        assert_eq!(
            (ignored[1].asset.as_str(), ignored[1].amount),
            ("EOS3L", 1.0)
        );
        assert!(
            ignored[1].reason.contains("base units"),
            "{}",
            ignored[1].reason
        );
        let e = declared_balances(
            &[c("USDT")],
            &[intermargin_model::Asset::new("USDT", 8)],
            &[usdt],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("balances[0].asset") && e.contains("8 decimals"),
            "{e}"
        );
    }
}

//! Account streams: a venue's private WebSocket kept connected and applied to the account, with
//! periodic REST reconciliation. One handle ([`AccountStream`]) and one run loop for every
//! venue; each venue module supplies a [`Driver`] (its connection protocol, its rows, how its
//! streamed and REST states compare):
//!
//! * Binance USDⓈ-M user-data stream ([`crate::binance_account`]): listen key, keep-alive;
//! * Deribit JSON-RPC ([`crate::deribit_account`]): `public/auth`, `user.portfolio`,
//!   `user.changes`;
//! * OKX v5 private ([`crate::okx_account`]): `login`, `positions`, `account`, `orders`;
//! * Bybit v5 private ([`crate::bybit_account`]): `auth`, `position`, `wallet`, `order`.
//!
//! What they share, here:
//! * the account is kept as rows of the venue's REST payloads, and the venue's REST adapter
//!   builds the canonical account from them ([`AccountStream::snapshot`]: one reading of every
//!   field, for streamed and fetched state alike);
//! * the REST state (`intermargin_venues::fetch::Fetcher::fetch`) is the base at every
//!   (re)connection and every `reconcile_every`: streamed balances or positions that disagree
//!   with it are replaced, a warning names each difference, and the status counts it
//!   (`disagreements`, `last_disagreement`);
//! * a dropped connection reconnects with backoff and jitter ([`crate::ws::Backoff`]); a refused
//!   login backs off the same way (counted in `auth_failures`);
//! * a malformed frame is logged and counted (`bad_frames`), never a panic.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use intermargin_model::{Snapshot, Venue};
use intermargin_venues::fetch::Fetcher;
use intermargin_venues::{ImportOptions, Payload, VenueError};
use serde::Serialize;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub use crate::binance_account::{BinanceAccountSource, LISTEN_KEY_VALIDITY};
use crate::ws::{Backoff, MAX_FRAME_BYTES};

/// What the account stream has done, for `/health` and the logs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AccountStreamStatus {
    /// Connected now.
    pub connected: bool,
    /// Binance: listen keys obtained (`POST`).
    pub listen_keys: u64,
    /// Binance: keep-alives sent (`PUT`).
    pub keepalives: u64,
    /// Binance: `listenKeyExpired` events (or keep-alives refused for an unknown key).
    pub expiries: u64,
    /// Connections lost.
    pub disconnects: u64,
    /// Frames skipped as unreadable.
    pub bad_frames: u64,
    /// Account and order events applied.
    pub events: u64,
    /// REST reconciliations done.
    pub reconciliations: u64,
    /// Reconciliations that found the streamed state wrong (the REST state replaced it).
    pub disagreements: u64,
    /// What the last disagreement was.
    pub last_disagreement: Option<String>,
    /// Last event applied (UTC ms, the venue's event time when given).
    pub last_event_ms: Option<i64>,
    /// Last REST or connection error.
    pub last_error: Option<String>,
    /// Logins accepted (Deribit `public/auth` with `client_credentials`, OKX `login`, Bybit
    /// `auth`), one per connection.
    pub auths: u64,
    /// Logins refused by the venue (OKX `event: error`, Bybit `success: false`, Deribit auth
    /// errors); each is followed by a backoff and a new connection.
    pub auth_failures: u64,
    /// Deribit: access tokens renewed with the `refresh_token` grant before they expired.
    pub token_refreshes: u64,
    /// Deribit: `test_request` heartbeats answered with `public/test`.
    pub heartbeats: u64,
    /// OKX and Bybit: keep-alive pings sent.
    pub pings: u64,
    /// OKX and Bybit: pongs received.
    pub pongs: u64,
}

/// What a venue's stream task and its handle share: the account as rows of the venue's REST
/// payloads, the counters, and whether a REST state was adopted yet.
#[derive(Default)]
pub(crate) struct Inner<R> {
    pub(crate) rows: R,
    pub(crate) status: AccountStreamStatus,
    pub(crate) reconciled: bool,
}

pub(crate) type Shared<R> = Arc<Mutex<Inner<R>>>;

pub(crate) fn lock<R>(s: &Shared<R>) -> std::sync::MutexGuard<'_, Inner<R>> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// How one session with the venue ended.
pub(crate) enum End {
    /// The handle asked to stop.
    Stop,
    /// The connection was lost (counted in `disconnects`): back off, reconnect.
    Reconnect(String),
    /// No session was established (login refused, listen key not issued): back off, retry.
    Failed(String),
    /// Start over at once (a Binance listen key expired).
    Restart(String),
}

/// The three [`Driver`] accessors every venue's source answers from its own `account`, `rest`
/// and `backoff` fields: one home instead of a copy per venue.
macro_rules! source_fields {
    () => {
        fn account(&self) -> &str {
            &self.account
        }

        fn rest(&self) -> &Fetcher {
            &self.rest
        }

        fn backoff(&self) -> &Backoff {
            &self.backoff
        }
    };
}
pub(crate) use source_fields;

/// One venue's account-stream protocol: its rows, its REST state, and one connected session.
pub(crate) trait Driver: Send + Sync + 'static {
    /// The account as rows of the venue's REST payloads.
    type Rows: Default + Clone + Send + 'static;
    /// The venue.
    const VENUE: Venue;
    /// Canonical account id.
    fn account(&self) -> &str;
    /// Signed REST access for reconciliation.
    fn rest(&self) -> &Fetcher;
    /// Reconnect delays.
    fn backoff(&self) -> &Backoff;
    /// The rows as the payloads the venue's REST adapter reads.
    fn payloads(rows: &Self::Rows) -> Vec<Payload>;
    /// The fetched REST payloads as rows.
    fn rest_rows(payloads: &[Payload]) -> Result<Self::Rows, String>;
    /// Each difference between the streamed and the REST rows, named; empty when they agree.
    fn differences(streamed: &Self::Rows, rest: &Self::Rows) -> Vec<String>;
    /// Moves onto the REST rows what REST does not report (open orders, cached tables).
    fn carry(rest: &mut Self::Rows, streamed: &mut Self::Rows);
    /// One connection: connect, authenticate, subscribe, apply pushes until it ends.
    fn session(
        &self,
        shared: &Shared<Self::Rows>,
        stop: &mut watch::Receiver<bool>,
        backoff: &mut Backoff,
    ) -> impl Future<Output = End> + Send;
}

/// Makes a fetched REST state the account's: the first time silently, later naming each
/// disagreement with the streamed rows (`differences`; logged and counted). `carry` moves onto
/// the REST rows what REST does not report (open orders, cached tables) from the streamed ones.
pub(crate) fn adopt_rest<R>(
    shared: &Shared<R>,
    venue: &str,
    account: &str,
    rest: Result<R, String>,
    differences: fn(&R, &R) -> Vec<String>,
    carry: impl FnOnce(&mut R, &mut R),
) {
    let mut g = lock(shared);
    match rest {
        Err(e) => {
            tracing::warn!(account = %account, "{venue} account reconciliation failed: {e}");
            g.status.last_error = Some(format!("reconciliation: {e}"));
        }
        Ok(mut rest) => {
            let diffs = differences(&g.rows, &rest);
            if g.reconciled && !diffs.is_empty() {
                let msg = diffs.join("; ");
                tracing::warn!(
                    account = %account,
                    "{venue} account stream disagreed with REST, REST state adopted: {msg}"
                );
                g.status.disagreements += 1;
                g.status.last_disagreement = Some(msg);
            }
            carry(&mut rest, &mut g.rows);
            g.rows = rest;
            g.reconciled = true;
            g.status.reconciliations += 1;
        }
    }
}

/// Fetches the REST state and makes it the account's (the first time silently; later, a
/// disagreement is logged and counted).
pub(crate) async fn reconcile<D: Driver>(d: &D, shared: &Shared<D::Rows>) {
    let fetched = d.rest().fetch().await.map_err(|e| e.to_string());
    let rest = fetched.and_then(|p| D::rest_rows(&p));
    adopt_rest(
        shared,
        D::VENUE.as_str(),
        d.account(),
        rest,
        D::differences,
        D::carry,
    );
}

/// The loop every venue's stream runs: REST base, one session, backoff, again.
async fn run<D: Driver>(d: D, shared: Shared<D::Rows>, mut stop: watch::Receiver<bool>) {
    let mut backoff = d.backoff().clone();
    let venue = D::VENUE.as_str();
    loop {
        if *stop.borrow() {
            return;
        }
        // Every (re)connection starts from the REST state.
        reconcile(&d, &shared).await;
        let end = d.session(&shared, &mut stop, &mut backoff).await;
        lock(&shared).status.connected = false;
        let reason = match end {
            End::Stop => return,
            End::Restart(reason) => {
                tracing::info!(account = %d.account(), "{venue} account stream: {reason}; starting over");
                continue;
            }
            End::Failed(reason) => {
                tracing::warn!(account = %d.account(), "{venue} account stream: {reason}; retrying");
                reason
            }
            End::Reconnect(reason) => {
                tracing::warn!(account = %d.account(), "{venue} account stream: {reason}; reconnecting");
                lock(&shared).status.disconnects += 1;
                reason
            }
        };
        lock(&shared).status.last_error = Some(reason);
        tokio::select! {
            _ = sleep(backoff.next_delay()) => {}
            _ = stop.changed() => return,
        }
    }
}

/// A client WebSocket connection.
pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connects to `url` (frames up to [`MAX_FRAME_BYTES`], 10 s timeout).
pub(crate) async fn connect(url: &str) -> Result<Ws, String> {
    let cfg = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES));
    let connect = tokio_tungstenite::connect_async_with_config(url, Some(cfg), false);
    match timeout(Duration::from_secs(10), connect).await {
        Err(_) => Err("connect timed out after 10 s".into()),
        Ok(Err(e)) => Err(format!("connect: {e}")),
        Ok(Ok((ws, _))) => Ok(ws),
    }
}

/// The text of a received message: `Ok(None)` for frames to skip (binary, ping, pong), `Err`
/// with the reason when the connection is over.
pub(crate) fn text_of(
    msg: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
) -> Result<Option<String>, String> {
    match msg {
        None => Err("closed by the venue".into()),
        Some(Err(e)) => Err(format!("read: {e}")),
        Some(Ok(Message::Text(t))) => Ok(Some(t.to_string())),
        Some(Ok(Message::Close(_))) => Err("close frame".into()),
        Some(Ok(_)) => Ok(None),
    }
}

/// A number field given as a decimal string or a JSON number (0 when absent or unreadable: the
/// adapter, not this comparison, judges the field).
pub(crate) fn num(v: &Value, field: &str) -> f64 {
    match v.get(field) {
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0.0),
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Named differences between streamed and REST balances (`{key} {label}: streamed …, REST …`);
/// an absent balance counts as 0.
pub(crate) fn balance_differences(
    label: &str,
    streamed: &BTreeMap<String, f64>,
    rest: &BTreeMap<String, f64>,
) -> Vec<String> {
    let mut keys: Vec<&String> = streamed.keys().chain(rest.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let s = streamed.get(k).copied().unwrap_or(0.0);
            let r = rest.get(k).copied().unwrap_or(0.0);
            (s != r).then(|| format!("{k} {label}: streamed {s}, REST {r}"))
        })
        .collect()
}

/// Named differences between streamed and REST positions, each `(signed size, entry price)`
/// by key (`{key}: streamed {size} @ {price}, REST …`); a size of 0 counts as absent.
pub(crate) fn position_differences(
    streamed: &BTreeMap<String, (f64, f64)>,
    rest: &BTreeMap<String, (f64, f64)>,
) -> Vec<String> {
    let open = |m: &BTreeMap<String, (f64, f64)>| -> BTreeMap<String, (f64, f64)> {
        m.iter()
            .filter(|(_, (size, _))| *size != 0.0)
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    };
    let (s, r) = (open(streamed), open(rest));
    let mut keys: Vec<&String> = s.keys().chain(r.keys()).collect();
    keys.sort();
    keys.dedup();
    let show = |x: Option<&(f64, f64)>| match x {
        Some((size, px)) => format!("{size} @ {px}"),
        None => "none".to_string(),
    };
    keys.into_iter()
        .filter_map(|k| {
            let (a, b) = (s.get(k), r.get(k));
            (a != b).then(|| format!("{k}: streamed {}, REST {}", show(a), show(b)))
        })
        .collect()
}

/// The account source of one `[[accounts]]` entry, by venue.
#[derive(Clone)]
pub enum AnyAccountSource {
    /// Binance USDⓈ-M user-data stream.
    Binance(BinanceAccountSource),
    /// Deribit private JSON-RPC stream.
    Deribit(crate::deribit_account::DeribitAccountSource),
    /// OKX v5 private WebSocket.
    Okx(crate::okx_account::OkxAccountSource),
    /// Bybit v5 private WebSocket.
    Bybit(crate::bybit_account::BybitAccountSource),
}

impl From<BinanceAccountSource> for AnyAccountSource {
    fn from(s: BinanceAccountSource) -> Self {
        AnyAccountSource::Binance(s)
    }
}

impl From<crate::deribit_account::DeribitAccountSource> for AnyAccountSource {
    fn from(s: crate::deribit_account::DeribitAccountSource) -> Self {
        AnyAccountSource::Deribit(s)
    }
}

impl From<crate::okx_account::OkxAccountSource> for AnyAccountSource {
    fn from(s: crate::okx_account::OkxAccountSource) -> Self {
        AnyAccountSource::Okx(s)
    }
}

impl From<crate::bybit_account::BybitAccountSource> for AnyAccountSource {
    fn from(s: crate::bybit_account::BybitAccountSource) -> Self {
        AnyAccountSource::Bybit(s)
    }
}

/// What the handle reads from a running stream, whatever its rows.
trait View: Send + Sync {
    fn payloads(&self) -> Vec<Payload>;
    fn status(&self) -> AccountStreamStatus;
}

struct RowsView<R> {
    shared: Shared<R>,
    payloads: fn(&R) -> Vec<Payload>,
}

impl<R: Send + 'static> View for RowsView<R> {
    fn payloads(&self) -> Vec<Payload> {
        (self.payloads)(&lock(&self.shared).rows)
    }

    fn status(&self) -> AccountStreamStatus {
        lock(&self.shared).status.clone()
    }
}

/// A running account stream of any venue.
pub struct AccountStream {
    venue: Venue,
    account: String,
    view: Arc<dyn View>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl AccountStream {
    /// Starts the venue's stream on the current tokio runtime.
    pub fn start(src: impl Into<AnyAccountSource>) -> AccountStream {
        match src.into() {
            AnyAccountSource::Binance(s) => launch(s),
            AnyAccountSource::Deribit(s) => launch(s),
            AnyAccountSource::Okx(s) => launch(s),
            AnyAccountSource::Bybit(s) => launch(s),
        }
    }

    /// The venue streamed.
    pub fn venue(&self) -> Venue {
        self.venue
    }

    /// The account as streamed (and reconciled), through the venue's REST adapter.
    pub fn snapshot(&self) -> Result<Snapshot, VenueError> {
        intermargin_venues::import(
            self.venue,
            &self.view.payloads(),
            &ImportOptions {
                account: self.account.clone(),
            },
        )
    }

    /// The canonical account id it files positions under.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// Counters and state.
    pub fn status(&self) -> AccountStreamStatus {
        self.view.status()
    }

    /// Stops the stream (also done on drop).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for AccountStream {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.task.abort();
    }
}

fn launch<D: Driver>(d: D) -> AccountStream {
    let shared: Shared<D::Rows> = Arc::default();
    let (stop, rx) = watch::channel(false);
    let account = d.account().to_string();
    let view = Arc::new(RowsView {
        shared: shared.clone(),
        payloads: D::payloads,
    });
    let task = tokio::spawn(run(d, shared, rx));
    AccountStream {
        venue: D::VENUE,
        account,
        view,
        stop,
        task,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_each_key_and_treat_zero_as_absent() {
        let m = |v: &[(&str, f64)]| -> BTreeMap<String, f64> {
            v.iter().map(|(k, x)| (k.to_string(), *x)).collect()
        };
        assert!(balance_differences("balance", &m(&[("BTC", 0.0)]), &m(&[])).is_empty());
        assert_eq!(
            balance_differences("cash balance", &m(&[("USDT", 1.5)]), &m(&[("USDT", 2.0)])),
            ["USDT cash balance: streamed 1.5, REST 2"]
        );
        let p = |v: &[(&str, f64, f64)]| -> BTreeMap<String, (f64, f64)> {
            v.iter()
                .map(|(k, s, e)| (k.to_string(), (*s, *e)))
                .collect()
        };
        assert!(position_differences(&p(&[("A", 0.0, 5.0)]), &p(&[])).is_empty());
        assert_eq!(
            position_differences(&p(&[("A", 1.0, 5.0)]), &p(&[("B", -2.0, 7.0)])),
            [
                "A: streamed 1 @ 5, REST none",
                "B: streamed none, REST -2 @ 7"
            ]
        );
    }
}

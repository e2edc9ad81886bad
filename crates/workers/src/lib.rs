//! Margin workers past one machine on NATS JetStream (issue 20).
//!
//! Three JetStream streams carry the work; JetStream's own consumers and a key-value bucket with a
//! time-to-live carry membership and failover, so nothing here is a home-made cluster protocol:
//!
//! * `IM_TICKS` (`im.ticks.<UNDERLYING>`): one message per price update of an underlying carrying
//!   all of its prices; the stream keeps the last one per underlying, so a starting worker reads
//!   the whole market with a last-per-subject consumer and then follows new ticks.
//! * `IM_EVENTS` (`im.events.<partition>.<account hex>`): each account's whole book after a
//!   ledger mutation, written through the ledger's transactional outbox and relayed by
//!   [`relay`] with the outbox id as `Nats-Msg-Id` (deduplicated) and as the book's version;
//!   partition = FNV-1a(account id) mod P. The stream keeps the last book per account (a
//!   compacted topic), so a worker taking a partition over rebuilds its books from it.
//! * `IM_REPORTS` (`im.reports.<account hex>`): each account's latest margin report, with its
//!   `(book_seq, market_seq)` version; API nodes ([`intake`]) keep the newest and drop duplicates
//!   and out-of-order ones.
//!
//! [`worker`] owns partitions through leases in the `im_owners` key-value bucket (`create` only
//! when absent; renewed by compare-and-set on the revision; the bucket's max age expires the lease
//! of a killed worker), consumes each owned partition with a durable pull consumer (acknowledging
//! an event only after the reports it caused are stored), and re-margins with the unified model's
//! batch engine ([`intermargin_margin::portfolio::UnifiedBatch`]).
#![deny(missing_docs)]

pub mod intake;
pub mod relay;
pub mod ticks;
pub mod worker;

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use serde::{Deserialize, Serialize};

/// Stream of price ticks.
pub const TICKS_STREAM: &str = "IM_TICKS";
/// Stream of account books (ledger outbox).
pub const EVENTS_STREAM: &str = "IM_EVENTS";
/// Stream of margin reports.
pub const REPORTS_STREAM: &str = "IM_REPORTS";
/// Key-value bucket of partition leases.
pub const OWNERS_BUCKET: &str = "im_owners";

/// Errors of the worker plane, each naming what failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// NATS or JetStream refused or failed an operation.
    #[error("nats: {what}: {detail}")]
    Nats {
        /// The operation.
        what: String,
        /// The client's error.
        detail: String,
    },
    /// A message or argument did not have the expected shape.
    #[error("{field}: {reason}")]
    Invalid {
        /// Field or path at fault.
        field: String,
        /// Why.
        reason: String,
    },
    /// The ledger failed.
    #[error("ledger: {0}")]
    Ledger(String),
}

/// Wraps a NATS client error with the operation it failed.
pub fn nats_err(what: impl Into<String>) -> impl FnOnce(String) -> Error {
    let what = what.into();
    move |detail| Error::Nats { what, detail }
}

/// `Result` of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// The partition of an account: 64-bit FNV-1a of its id's bytes, modulo `partitions`. Stable
/// across processes, machines and versions (unlike the standard library's hasher).
pub fn partition_of(account: &str, partitions: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in account.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % u64::from(partitions.max(1))) as u32
}

/// The subject token of an account: its id in lower-case hex (ids may contain `.`, `*` or `>`).
pub fn account_token(account: &str) -> String {
    hex::encode(account.as_bytes())
}

/// The account id of a subject token made by [`account_token`].
pub fn account_of_token(token: &str) -> Result<String> {
    let bytes = hex::decode(token).map_err(|e| Error::Invalid {
        field: "subject".into(),
        reason: format!("account token {token:?}: {e}"),
    })?;
    String::from_utf8(bytes).map_err(|e| Error::Invalid {
        field: "subject".into(),
        reason: format!("account token {token:?}: {e}"),
    })
}

/// Subject of an account's book events.
pub fn event_subject(account: &str, partitions: u32) -> String {
    format!(
        "im.events.{}.{}",
        partition_of(account, partitions),
        account_token(account)
    )
}

/// Subject of an account's margin reports.
pub fn report_subject(account: &str) -> String {
    format!("im.reports.{}", account_token(account))
}

/// Subject of an underlying's price ticks.
pub fn tick_subject(underlying: &str) -> Result<String> {
    if underlying.is_empty()
        || !underlying
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Error::Invalid {
            field: "underlying".into(),
            reason: format!("{underlying:?} is not a subject token (letters, digits, - and _)"),
        });
    }
    Ok(format!("im.ticks.{underlying}"))
}

/// A partition list: `0-3`, `0,2,5` or a mix (`0-1,4`); every entry below `total`.
pub fn parse_partitions(text: &str, total: u32, flag: &str) -> Result<Vec<u32>> {
    let bad = |reason: String| Error::Invalid {
        field: flag.to_string(),
        reason,
    };
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let a: u32 = a
            .parse()
            .map_err(|_| bad(format!("{part:?}: expected N or N-M")))?;
        let b: u32 = b
            .parse()
            .map_err(|_| bad(format!("{part:?}: expected N or N-M")))?;
        if a > b {
            return Err(bad(format!("{part:?}: range runs backwards")));
        }
        if b >= total {
            return Err(bad(format!(
                "{part:?}: partitions are numbered 0..{} (--partition-count {total})",
                total.saturating_sub(1)
            )));
        }
        out.extend(a..=b);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// A price update of one underlying as carried on `im.ticks.<UNDERLYING>`: all of its prices
/// (keys as in the service's replay feed: `fx:BTC`, `index:deribit:BTC`, `mark:okx:BTC-USD-SWAP`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TickMsg {
    /// Underlying.
    pub underlying: String,
    /// Market quote currency.
    pub quote: String,
    /// Market time, UTC ms.
    pub time_ms: i64,
    /// Wall time the publisher sent it, UTC ms (latency measurement).
    pub sent_ms: i64,
    /// Every price of the underlying: key → price.
    pub prices: std::collections::BTreeMap<String, f64>,
    /// Implied volatilities of its options: instrument id → vol.
    #[serde(default)]
    pub ivs: std::collections::BTreeMap<String, f64>,
}

/// An account's book as relayed from the ledger outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BookMsg {
    /// Account id.
    pub account: String,
    /// Every position of the account after the mutation.
    pub positions: Vec<intermargin_model::Position>,
}

/// Header carrying the book version (outbox id) on `im.events.*`.
pub const BOOK_SEQ_HEADER: &str = "Im-Book-Seq";

/// A margin report as published on `im.reports.<account hex>` and served by API nodes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReportMsg {
    /// Always `worker_margin` (the `/ws` message type).
    #[serde(rename = "type")]
    pub kind: String,
    /// Account id.
    pub account: String,
    /// Book version: outbox id of the account's book margined.
    pub book_seq: u64,
    /// Market version: JetStream sequence of the latest tick applied.
    pub market_seq: u64,
    /// Model: `unified` (pooled requirement of the unified cross-venue model, batch engine).
    pub model: String,
    /// Pooled requirement (quote currency); `None` with `error`.
    pub pooled_requirement: Option<f64>,
    /// Quote currency.
    pub currency: String,
    /// Number of positions margined.
    pub positions: usize,
    /// Partition of the account.
    pub partition: u32,
    /// Worker that computed it.
    pub worker: String,
    /// Market time of the latest tick applied (UTC ms).
    pub market_time_ms: i64,
    /// Wall time the latest applied tick was sent (UTC ms).
    pub tick_sent_ms: i64,
    /// Wall time the report was computed (UTC ms).
    pub computed_ms: i64,
    /// Why the account could not be margined (an instrument without a price, …).
    pub error: Option<String>,
}

/// Wall-clock UTC ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Connects to NATS at `url` (a few retries while a server starts).
pub async fn connect(url: &str) -> Result<async_nats::Client> {
    let mut last = String::new();
    for attempt in 0..20 {
        match async_nats::ConnectOptions::new()
            .name("intermargin")
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(2))
            .connect(url)
            .await
        {
            Ok(c) => return Ok(c),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100 * (attempt + 1))).await;
    }
    Err(Error::Nats {
        what: format!("connect to {url}"),
        detail: last,
    })
}

/// Connects to NATS at `url` and opens its JetStream context.
pub async fn jetstream_at(url: &str) -> Result<jetstream::Context> {
    Ok(jetstream::new(connect(url).await?))
}

/// Creates (or checks) the three streams for `partitions` event partitions. The events stream's
/// description records the partition count; a process started with another count is refused.
pub async fn ensure_streams(js: &jetstream::Context, partitions: u32) -> Result<()> {
    if partitions == 0 || partitions > 4096 {
        return Err(Error::Invalid {
            field: "--partition-count".into(),
            reason: format!("must be in 1..=4096, got {partitions}"),
        });
    }
    let described = format!("partitions={partitions}");
    let configs = [
        stream::Config {
            name: TICKS_STREAM.into(),
            subjects: vec!["im.ticks.>".into()],
            max_messages_per_subject: 1,
            description: Some("price ticks, last per underlying".into()),
            ..Default::default()
        },
        stream::Config {
            name: EVENTS_STREAM.into(),
            subjects: vec!["im.events.>".into()],
            max_messages_per_subject: 1,
            duplicate_window: Duration::from_secs(120),
            description: Some(described.clone()),
            ..Default::default()
        },
        stream::Config {
            name: REPORTS_STREAM.into(),
            subjects: vec!["im.reports.>".into()],
            max_messages_per_subject: 1,
            duplicate_window: Duration::from_secs(120),
            description: Some("margin reports, last per account".into()),
            ..Default::default()
        },
    ];
    for c in configs {
        let name = c.name.clone();
        let mut s = js
            .get_or_create_stream(c)
            .await
            .map_err(|e| nats_err(format!("stream {name}"))(e.to_string()))?;
        if name == EVENTS_STREAM {
            let info = s
                .info()
                .await
                .map_err(|e| nats_err(format!("stream {name} info"))(e.to_string()))?;
            let have = info.config.description.clone().unwrap_or_default();
            if have != described {
                return Err(Error::Invalid {
                    field: "--partition-count".into(),
                    reason: format!(
                        "stream {EVENTS_STREAM} was created with {have:?}, this process has {described:?}"
                    ),
                });
            }
        }
    }
    Ok(())
}

/// The lease bucket: a lease lives `ttl` unless renewed. Its stream is created here with the
/// key-value layout (`KV_<bucket>`, `$KV.<bucket>.>`, one message per key, roll-ups, direct get)
/// because the client's own bucket creation first queries account limits in a form that
/// Debian's nats-server 2.9 does not answer.
pub async fn owners_bucket(js: &jetstream::Context, ttl: Duration) -> Result<jetstream::kv::Store> {
    js.get_or_create_stream(stream::Config {
        name: format!("KV_{OWNERS_BUCKET}"),
        subjects: vec![format!("$KV.{OWNERS_BUCKET}.>")],
        max_messages_per_subject: 1,
        max_age: ttl,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        description: Some("partition leases of margin workers".into()),
        ..Default::default()
    })
    .await
    .map_err(|e| nats_err("key-value bucket im_owners")(e.to_string()))?;
    js.get_key_value(OWNERS_BUCKET)
        .await
        .map_err(|e| nats_err("key-value bucket im_owners")(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        // FNV-1a 64 test vectors (Fowler/Noll/Vo reference suite): "" → cbf29ce484222325,
        // "a" → af63dc4c8601ec8c, "foobar" → 85944171f73967e8.
        assert_eq!(
            partition_of("", u32::MAX),
            (0xcbf2_9ce4_8422_2325u64 % u64::from(u32::MAX)) as u32
        );
        assert_eq!(
            partition_of("a", u32::MAX),
            (0xaf63_dc4c_8601_ec8cu64 % u64::from(u32::MAX)) as u32
        );
        assert_eq!(
            partition_of("foobar", 1000),
            (0x8594_4171_f739_67e8u64 % 1000) as u32
        );
    }

    #[test]
    fn partitions_parse_ranges_and_lists_and_name_the_flag() {
        assert_eq!(
            parse_partitions("0-3", 4, "--partitions").unwrap(),
            vec![0, 1, 2, 3]
        );
        assert_eq!(
            parse_partitions("5,0-1,1", 8, "--partitions").unwrap(),
            vec![0, 1, 5]
        );
        let e = parse_partitions("2-9", 4, "--partitions")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--partitions") && e.contains("0..3"), "{e}");
        assert!(parse_partitions("3-1", 4, "--standby")
            .unwrap_err()
            .to_string()
            .contains("--standby"));
        assert!(parse_partitions("x", 4, "--partitions").is_err());
    }

    #[test]
    fn account_tokens_round_trip_and_subjects_are_safe() {
        for id in ["acct-1", "a.b*c>", "ünï"] {
            let t = account_token(id);
            assert!(t.chars().all(|c| c.is_ascii_hexdigit()));
            assert_eq!(account_of_token(&t).unwrap(), id);
        }
        assert!(tick_subject("BTC").is_ok());
        assert!(tick_subject("BT.C").is_err());
        assert!(account_of_token("zz").is_err());
    }
}

//! Live market data for the monitor: one task per venue keeps its public WebSocket connected
//! (subscribe, heartbeats, reconnect with backoff and jitter, resubscribe), Aave's oracle is
//! polled by JSON-RPC `eth_call`, and a [`LiveFeed`] hands the monitor batches of prices
//! together with the alarms a risk officer needs before trusting them: a source gone stale, a
//! lost message (sequence gap), sources disagreeing on one asset (oracle divergence).
//!
//! Why this shape:
//! * the wire formats (what a frame means) live in `intermargin_venues::stream`, tested on the
//!   venues' documented messages; this crate owns only connections, time and judgement;
//! * prices are conflated on a [`board::Board`] (latest value per key), so a slow consumer
//!   never blocks a socket and memory is bounded by the number of keys, not by the backlog;
//! * a stale or diverging source does not move margin: its prices are withheld and an alarm
//!   goes to the circuit breakers instead, until it recovers.
#![deny(missing_docs)]

pub mod aave;
pub mod account;
pub mod binance_account;
pub mod board;
pub mod bybit_account;
pub mod config;
pub mod deribit_account;
pub mod feed;
pub mod okx_account;
pub mod ws;

pub use board::{Board, Health, HealthEvent, Quote};
pub use config::{LiveConfig, SourceConfig};
pub use feed::{Alarm, AlarmKind, LiveBatch, LiveFeed};

/// Milliseconds since the Unix epoch, UTC.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

//! The ledger outbox relay: publishes the outbox rows (each account's book after a mutation) to
//! `IM_EVENTS` in id order, with the outbox id as `Nats-Msg-Id` (JetStream drops a republished
//! one within the duplicate window) and as the book's version header, and deletes the rows only
//! once JetStream acknowledged them: at least once, and a crash between the two replays rows that
//! JetStream deduplicates (and that workers ignore anyway: a book at a version they hold).

use std::time::Duration;

use async_nats::jetstream;
use async_nats::HeaderMap;
use intermargin_server::ledger::Ledger;

use crate::{event_subject, nats_err, BookMsg, Error, Result, BOOK_SEQ_HEADER};

/// Rows relayed per round trip.
const BATCH: i64 = 1_000;

/// Relays one batch of outbox rows; returns how many were published.
pub async fn relay_once(
    ledger: &Ledger,
    js: &jetstream::Context,
    partitions: u32,
) -> Result<usize> {
    let rows = ledger
        .outbox_pending(BATCH)
        .await
        .map_err(|e| Error::Ledger(e.to_string()))?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut acks = Vec::with_capacity(rows.len());
    let mut ids = Vec::with_capacity(rows.len());
    for (id, account, payload) in rows {
        // The payload is the ledger's own JSON; check it names the row's account before relaying.
        let book: BookMsg = serde_json::from_str(&payload).map_err(|e| Error::Invalid {
            field: format!("outbox[{id}].payload"),
            reason: e.to_string(),
        })?;
        if book.account != account {
            return Err(Error::Invalid {
                field: format!("outbox[{id}].payload.account"),
                reason: format!("{:?} in a row of {account:?}", book.account),
            });
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            format!("outbox-{id}").as_str(),
        );
        headers.insert(BOOK_SEQ_HEADER, id.to_string().as_str());
        let ack = js
            .publish_with_headers(event_subject(&account, partitions), headers, payload.into())
            .await
            .map_err(|e| nats_err(format!("publish outbox row {id}"))(e.to_string()))?;
        acks.push((id, ack));
    }
    for (id, ack) in acks {
        ack.await
            .map_err(|e| nats_err(format!("acknowledgement of outbox row {id}"))(e.to_string()))?;
        ids.push(id);
    }
    ledger
        .outbox_done(&ids)
        .await
        .map_err(|e| Error::Ledger(e.to_string()))?;
    Ok(ids.len())
}

/// Relays for ever: polls the outbox every 20 ms when it is empty, backs off on errors (the rows
/// stay in the outbox until JetStream acknowledges them).
pub async fn run(st: intermargin_server::state::Shared, js: jetstream::Context, partitions: u32) {
    let ledger = &st.ledger;
    let mut backoff = Duration::from_millis(100);
    loop {
        match relay_once(ledger, &js, partitions).await {
            Ok(0) => tokio::time::sleep(Duration::from_millis(20)).await,
            Ok(_) => backoff = Duration::from_millis(100),
            Err(e) => {
                tracing::warn!("outbox relay: {e}; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

//! The API node's side (`serve --nats`): reads `IM_REPORTS` from the last report of every account
//! on, keeps the newest per account in [`intermargin_server::worker_reports::WorkerReports`]
//! (dropping duplicates and out-of-order ones) and streams the kept ones on `/ws`.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use intermargin_server::state::Shared;
use intermargin_server::worker_reports::{Offered, WorkerReport};

use crate::{nats_err, ReportMsg, Result, REPORTS_STREAM};

/// Offers one report message to the node's store; streams it on `/ws` when it is kept.
pub fn offer(st: &Shared, payload: &[u8]) -> std::result::Result<Offered, String> {
    let r: ReportMsg = serde_json::from_slice(payload).map_err(|e| format!("report: {e}"))?;
    let verdict = st.worker_reports.offer(
        &r.account,
        WorkerReport {
            book_seq: r.book_seq,
            market_seq: r.market_seq,
            json: bytes::Bytes::copy_from_slice(payload),
        },
    );
    if verdict == Offered::Applied {
        let text = String::from_utf8_lossy(payload).into_owned();
        let _ = st.feed.send(Arc::new((r.account, text)));
    }
    Ok(verdict)
}

/// Follows the reports stream once (an ordered consumer from the last report per account on).
async fn follow(st: &Shared, js: &jetstream::Context) -> Result<()> {
    let stream = js
        .get_stream(REPORTS_STREAM)
        .await
        .map_err(|e| nats_err("reports stream")(e.to_string()))?;
    let c = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: "im.reports.>".into(),
            deliver_policy: consumer::DeliverPolicy::LastPerSubject,
            ..Default::default()
        })
        .await
        .map_err(|e| nats_err("reports consumer")(e.to_string()))?;
    let mut msgs = c
        .messages()
        .await
        .map_err(|e| nats_err("reports messages")(e.to_string()))?;
    while let Some(m) = msgs.next().await {
        let m = m.map_err(|e| nats_err("reports message")(e.to_string()))?;
        if let Err(e) = offer(st, &m.payload) {
            tracing::warn!("{} dropped: {e}", m.subject);
        }
    }
    Ok(())
}

/// Follows the reports stream for ever (reconnecting after errors).
pub async fn run(st: Shared, js: jetstream::Context) {
    loop {
        if let Err(e) = follow(&st, &js).await {
            tracing::warn!("report intake: {e}; retrying");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

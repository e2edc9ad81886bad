//! Price ticks into `IM_TICKS`: publishing one underlying's prices, and replaying a price feed
//! file (the service's JSON-lines format) grouped by time and underlying.

use std::collections::BTreeMap;

use async_nats::jetstream;
use intermargin_model::Market;
use intermargin_server::monitor::{apply_tick, PriceTick};

use crate::{nats_err, tick_subject, Result, TickMsg};

/// Publishes one tick; returns its JetStream sequence (the market version it makes).
pub async fn publish(js: &jetstream::Context, tick: &TickMsg) -> Result<u64> {
    let subject = tick_subject(&tick.underlying)?;
    let body = serde_json::to_vec(tick).map_err(|e| crate::Error::Invalid {
        field: "tick".into(),
        reason: e.to_string(),
    })?;
    let ack = js
        .publish(subject.clone(), body.into())
        .await
        .map_err(|e| nats_err(format!("publish {subject}"))(e.to_string()))?
        .await
        .map_err(|e| nats_err(format!("acknowledgement of {subject}"))(e.to_string()))?;
    Ok(ack.sequence)
}

/// Applies a tick message to a market (what a worker does on each tick).
pub fn apply(market: &mut Market, tick: &TickMsg) -> std::result::Result<(), String> {
    for (key, price) in &tick.prices {
        if !(price.is_finite() && *price > 0.0) {
            return Err(format!(
                "prices[{key:?}]: must be a positive number, got {price}"
            ));
        }
        apply_tick(
            market,
            &PriceTick {
                t_ms: tick.time_ms,
                key: key.clone(),
                price: *price,
            },
        )?;
    }
    for (id, iv) in &tick.ivs {
        if !(iv.is_finite() && *iv > 0.0) {
            return Err(format!("ivs[{id:?}]: must be a positive number, got {iv}"));
        }
        market.mark_ivs.insert(id.clone(), *iv);
    }
    market.timestamp_ms = market.timestamp_ms.max(tick.time_ms);
    Ok(())
}

/// The underlying a feed key prices: `fx:BTC` and `index:deribit:BTC` name it; a mark key
/// (`mark:okx:BTC-USD-SWAP`) is assigned by `marks` (instrument market key → underlying).
pub fn underlying_of(key: &str, marks: &BTreeMap<String, String>) -> Option<String> {
    let (kind, rest) = key.split_once(':')?;
    match kind {
        "fx" => Some(rest.to_string()),
        "index" => rest.rsplit(':').next().map(str::to_string),
        "mark" => marks.get(rest).cloned(),
        _ => None,
    }
}

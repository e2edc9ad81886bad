//! A tick through the service on the fast path (issue 20 item 1): the ticked accounts' figures
//! are those of the per-account report at the new prices, no report is serialised without a
//! listener (the cached one is dropped and the next query builds the current one), a listener of
//! every account gets a report only when the figures moved beyond the threshold, and an
//! account-scoped listener gets every update; `/health` counts what was serialised and skipped.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering::{Relaxed, Release};
use std::sync::Arc;

use intermargin_server::monitor::{apply_tick, remargin_fast, PriceTick};
use intermargin_server::prepare;
use intermargin_server::risk::margin_report;
use intermargin_server::state::Shared;

mod common;

const ADMIN: &str = "im_adm1n0000020_0123456789abcdef0123456789abcdef0123456789abcdef";
const ACCOUNT: &str = "hedged";

/// Moves BTC by `factor` (FX, every venue index and the delta-one marks) as a feed batch would.
async fn tick(st: &Shared, factor: f64) -> BTreeSet<String> {
    let mut m = st.market.write().await;
    let keys: Vec<(String, f64)> =
        m.fx.iter()
            .filter(|(k, _)| *k == "BTC")
            .map(|(k, v)| (format!("fx:{k}"), *v))
            .chain(
                m.index_prices
                    .iter()
                    .filter(|(k, _)| k.ends_with(":BTC"))
                    .map(|(k, v)| (format!("index:{k}"), *v)),
            )
            .chain(
                m.mark_prices
                    .iter()
                    .filter(|(k, _)| k.contains("BTC") && !k.starts_with("deribit:BTC-"))
                    .map(|(k, v)| (format!("mark:{k}"), *v)),
            )
            .collect();
    let mut moved = BTreeSet::new();
    for (key, price) in keys {
        let t = PriceTick {
            t_ms: 0,
            key,
            price: price * factor,
        };
        moved.insert(apply_tick(&mut m, &t).unwrap());
    }
    m.timestamp_ms += 1_000;
    st.monitor.market_seq.fetch_add(1, Release);
    moved
}

/// The figures the monitor holds for the account against a report built now on the book and
/// prices (the per-account path).
async fn check_against_per_account(st: &Shared) {
    let book = st.book(ACCOUNT).await.unwrap();
    let assets = st.assets.read().await.clone();
    let market = st.market.read().await.clone();
    let want = margin_report(&book, &assets, &market, None)
        .unwrap()
        .margin_figures()
        .unwrap();
    let got = st.margins.read().await[ACCOUNT].current.unwrap();
    assert_eq!(got.state, want.state);
    for (g, w) in [
        (got.figures.equity, want.figures.equity),
        (got.figures.initial, want.figures.initial),
        (got.figures.maintenance, want.figures.maintenance),
        (got.headline.siloed_total, want.headline.siloed_total),
        (got.headline.saving, want.headline.saving),
    ] {
        assert!((g - w).abs() <= 1e-9 * w.abs().max(1.0), "{g} vs {w}");
    }
}

#[tokio::test]
async fn ticks_remargin_figures_and_serialise_only_for_listeners() {
    let dir = common::tempdir::Dir::new("monitor-tick");
    let cfg = common::config(&dir.0, None, ADMIN);
    let (st, _) = prepare(&cfg).await.unwrap();
    let m = &st.monitor;
    let before = st.margins.read().await[ACCOUNT].current.unwrap();

    // No listener: figures only, the cached report dropped, the next query builds it.
    let moved = tick(&st, 0.97).await;
    let pass = remargin_fast(&st, Some(moved)).await;
    assert_eq!((pass.accounts, pass.serialised), (1, 0));
    assert!(pass.shared_instruments >= 3, "{pass:?}");
    assert_eq!(m.reports_skipped.load(Relaxed), 1);
    check_against_per_account(&st).await;
    let after = st.margins.read().await[ACCOUNT].current.unwrap();
    assert_ne!(after.figures.equity, before.figures.equity, "a 3 % move");
    let seq = st.margins.read().await[ACCOUNT].seq;
    assert!(st.reports.read().await.get(ACCOUNT, seq).is_none());
    let served = intermargin_server::api::current_report(&st, ACCOUNT)
        .await
        .unwrap();
    assert_eq!(served.margin_figures().unwrap(), after);
    assert!(st.reports.read().await.get(ACCOUNT, seq).is_some());

    // A tick on an underlying the book does not hold re-margins nothing.
    let pass = remargin_fast(&st, Some(BTreeSet::from(["SOL".to_string()]))).await;
    assert_eq!(pass.accounts, 0);

    // A listener of every account: a report for a move beyond the threshold (0.1 % of the
    // account's scale), none for a tiny one.
    let _wide = st.listeners.join(None);
    let mut rx = st.feed.subscribe();
    let pass = remargin_fast(&st, Some(tick(&st, 1.05).await)).await;
    assert_eq!(pass.serialised, 1, "first report for the listener");
    let msg = rx.recv().await.unwrap();
    assert_eq!(msg.0, ACCOUNT);
    let v: serde_json::Value = serde_json::from_str(&msg.1).unwrap();
    assert_eq!(v["type"], "margin");
    check_against_per_account(&st).await;
    let f = st.margins.read().await[ACCOUNT].current.unwrap();
    assert!(
        (v["report"]["unified"]["initial_margin"].as_f64().unwrap() - f.figures.initial).abs()
            <= 1e-9 * f.figures.initial
    );
    let pass = remargin_fast(&st, Some(tick(&st, 1.000_001).await)).await;
    assert_eq!(
        pass.serialised, 0,
        "a move of 1e-6 stays under the threshold"
    );
    let pass = remargin_fast(&st, Some(tick(&st, 1.02).await)).await;
    assert_eq!(pass.serialised, 1, "2 % is beyond it");

    // An account-scoped listener gets every update, however small.
    let _own = st.listeners.join(Some(ACCOUNT));
    let pass = remargin_fast(&st, Some(tick(&st, 1.000_001).await)).await;
    assert_eq!(pass.serialised, 1);
    assert!(m.reports_serialised.load(Relaxed) >= 3);

    // /health shows the counters beside last_accounts and last_remargin_ms.
    let r = intermargin_server::app(Arc::clone(&st));
    let (s, h) = common::call(&r, "GET", "/health", None, None, None).await;
    assert!(s.is_success());
    for k in [
        "last_accounts",
        "last_remargin_ms",
        "reports_serialised",
        "reports_skipped",
        "reports_cached",
        "last_shared_instruments",
    ] {
        assert!(h["monitor"][k].is_number(), "{k}: {h}");
    }
}

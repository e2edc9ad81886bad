//! OKX's whole BTC-USD perpetual schedule (May 2019) in `params/okx.toml`, the venue's last tier
//! applying past it, and published position tiers (`GET /api/v5/public/position-tiers`) being
//! the venue's whole schedule too. The calculator here reads the schedule from the announcement's
//! text (https://www.okx.com/id/help/adjustment-of-perpetual-swap-tiered-maintenance-margin-ratio-schedule):
//! tiers 1–7 as printed, then from 100,000 contracts "step size 10,000 to next tier" and "step
//! size 0.5 % to next tier" from 4.0 %, the last tier 1,890,000~1,899,999 at 93.5 %.
mod venue_support;

use intermargin_margin::venues::okx::{OkxParams, OkxTiered};
use intermargin_margin::MarginModel;
use intermargin_model::{Instrument, Settlement, SizeUnit, Venue};
use proptest::prelude::*;
use serde_json::json;
use venue_support::*;

/// The announcement's maintenance rate for a count of `n` contracts (whole contracts; a
/// fractional count belongs to the tier whose printed range it follows).
fn announced_mmr(n: f64) -> f64 {
    let printed = [
        (0.0, 0.005),
        (1_000.0, 0.010),
        (10_000.0, 0.015),
        (15_000.0, 0.020),
        (25_000.0, 0.025),
        (50_000.0, 0.030),
        (75_000.0, 0.035),
    ];
    if n < 100_000.0 {
        return printed.iter().rev().find(|(f, _)| n >= *f).unwrap().1;
    }
    // Tier 8 + k for 100,000 + 10,000·k ≤ n; the last tier (k = 179) goes on past 1,899,999.
    let k = ((n - 100_000.0) / 10_000.0).floor().min(179.0);
    0.040 + 0.005 * k
}

fn btc_usd_swap() -> Instrument {
    perp(
        Venue::Okx,
        "BTC-USD-SWAP",
        "BTC",
        "BTC",
        Settlement::Inverse,
        100.0,
        SizeUnit::Quote,
    )
}

#[test]
fn every_shipped_row_follows_the_announcement() {
    let p = OkxParams::embedded().unwrap();
    let f = &p.swap["BTC-USD"];
    assert!(f.complete);
    assert_eq!(f.tiers.len(), 187, "7 printed tiers + 180 steps of 10,000");
    for t in &f.tiers {
        assert!(
            (t.mmr - announced_mmr(t.floor)).abs() < 1e-12,
            "tier at {}: {} vs {}",
            t.floor,
            t.mmr,
            announced_mmr(t.floor)
        );
    }
    let last = f.tiers.last().unwrap();
    assert_eq!(
        (last.floor, last.cap, last.mmr),
        (1_890_000.0, Some(1_899_999.0), 0.935)
    );
    assert_eq!(last.max_leverage, Some(1.0));
}

/// 150,000 contracts (formerly refused: "75,000+ contracts"): tier 8 + 5 = 4.0 % + 2.5 % = 6.5 %.
/// Mark 50,000: value 15,000,000 / 50,000 = 300 BTC, MM = 19.5 BTC; leverage 5 → IM 60 BTC.
#[test]
fn one_hundred_fifty_thousand_contracts_are_tier_13() {
    let ins = btc_usd_swap();
    let mut m = market();
    m.mark_prices.insert(ins.id(), 50_000.0);
    let mut p = pos(ins, 150_000.0, Some(50_000.0));
    p.leverage = Some(5.0);
    let acc = account(vec![coll(Venue::Okx, "BTC", 400.0, 8)], vec![p]);
    let v = &OkxTiered::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap()[0];
    close(v.maintenance_margin, 19.5, 1e-9, "MM");
    close(v.initial_margin, 60.0, 1e-9, "IM");
}

/// 2,000,000 contracts lie past the last tier (1,899,999): OKX's last tier, 93.5 %, applies.
/// Mark 40,000: 200,000,000 / 40,000 = 5,000 BTC × 93.5 % = 4,675 BTC; 1x → IM 5,000 BTC.
#[test]
fn past_the_last_tier_the_last_rate_applies() {
    let ins = btc_usd_swap();
    let mut m = market();
    m.mark_prices.insert(ins.id(), 40_000.0);
    let mut p = pos(ins, -2_000_000.0, Some(40_000.0));
    p.leverage = Some(1.0);
    let acc = account(vec![coll(Venue::Okx, "BTC", 6_000.0, 8)], vec![p]);
    let v = &OkxTiered::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap()[0];
    close(v.maintenance_margin, 4_675.0, 1e-9, "MM");
    close(v.initial_margin, 5_000.0, 1e-9, "IM");
}

/// Published tiers are the venue's whole schedule: 1,500 contracts past a two-tier table's last
/// cap (1,000) pay its last rate. BTC-USDT-SWAP of 0.01 BTC at 60,000: 15 BTC = 900,000 USDT
/// × 0.6 % = 5,400 USDT; 50x → IM 18,000.
#[test]
fn published_tiers_go_on_past_their_last_cap() {
    let ins = perp(
        Venue::Okx,
        "BTC-USDT-SWAP",
        "BTC",
        "USDT",
        Settlement::Linear,
        0.01,
        SizeUnit::Base,
    );
    let mut m = market();
    m.mark_prices.insert(ins.id(), 60_000.0);
    m.venue_params.insert(
        "okx:BTC-USDT".into(),
        json!({"source": "GET /api/v5/public/position-tiers", "tiers": [
            {"tier": 1, "floor": 0.0, "cap": 500.0, "mmr": 0.004, "imr": 0.01, "max_leverage": 100.0},
            {"tier": 2, "floor": 501.0, "cap": 1000.0, "mmr": 0.006, "imr": 0.02, "max_leverage": 50.0}]}),
    );
    let acc = account(
        vec![coll(Venue::Okx, "USDT", 50_000.0, 6)],
        vec![pos(ins, 1_500.0, None)],
    );
    let v = &OkxTiered::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap()[0];
    close(v.maintenance_margin, 5_400.0, 1e-9, "MM");
    close(v.initial_margin, 18_000.0, 1e-9, "IM");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random BTC-USD-SWAP counts over the whole schedule and past it: MM = value in BTC × the
    /// announcement's rate for the count; IM = value / leverage.
    #[test]
    fn random_counts_against_the_announcement(
        n in prop_oneof![1u32..100_000, 100_000u32..2_500_000],
        short in any::<bool>(),
        mark in 5_000.0f64..150_000.0,
        lev in 1u32..=100,
    ) {
        let ins = btc_usd_swap();
        let mut m = market();
        m.mark_prices.insert(ins.id(), mark);
        let size = if short { -f64::from(n) } else { f64::from(n) };
        let mut p = pos(ins, size, Some(mark));
        p.leverage = Some(f64::from(lev));
        let acc = account(vec![coll(Venue::Okx, "BTC", 10.0, 8)], vec![p]);
        let v = &OkxTiered::new().unwrap().margin(&acc, &assets(), &m).unwrap()[0];
        let value = f64::from(n) * 100.0 / mark;
        let want = value * announced_mmr(f64::from(n));
        prop_assert!((v.maintenance_margin - want).abs() <= 1e-9 * want.max(1.0),
            "{n}: {} vs {want}", v.maintenance_margin);
        let im = value / f64::from(lev);
        prop_assert!((v.initial_margin - im).abs() <= 1e-9 * im.max(1.0));
    }
}

//! OKX USDT-margined BTC futures and swaps against the file's BTC-USDT tiers (OKX announcement
//! "Adjustment of USDT-margined Futures & Perpetual Swap Tiered Maintenance Margin Ratio
//! Schedule", effective 2020-01-17: BTC tier 1 up to 50,000 contracts of 0.0001 BTC = 5 BTC =
//! 500 of today's 0.01 BTC contracts, maintenance margin ratio 0.5 %, initial 1.0 %; see
//! params/okx.toml for the face-value conversion). OKX charges the whole position value at its tier's ratio
//! ("Margin Ratio = (Fixed Margin + UPL) / Position Value", Position Value = face value ×
//! contracts × mark price). Expected values are worked by hand below.
mod venue_support;

use intermargin_margin::venues::okx::OkxTiered;
use intermargin_margin::MarginModel;
use intermargin_model::{Instrument, InstrumentKind, Settlement, SizeUnit, Venue};
use venue_support::*;

/// OKX BTC-USDT expiry future: 0.01 BTC per contract, settled in USDT.
fn btc_usdt_future(symbol: &str) -> Instrument {
    Instrument {
        venue: Venue::Okx,
        symbol: symbol.into(),
        // 2024-12-27 08:00 UTC.
        kind: InstrumentKind::Future {
            expiry_ms: 1_735_286_400_000,
        },
        underlying: "BTC".into(),
        quote: "USDT".into(),
        settle: "USDT".into(),
        settlement: Settlement::Linear,
        contract_size: 0.01,
        size_unit: SizeUnit::Base,
    }
}

/// Long 300 BTC-USDT-241227 contracts at mark 60,000, entry 60,000, 10x, 20,000 USDT wallet.
/// Tier: 300 contracts ≤ 500 → tier 1, MMR 0.5 %.
/// Position value = 300 × 0.01 BTC × 60,000 = 3 BTC × 60,000 = 180,000 USDT.
/// MM = 180,000 × 0.005 = 900 USDT (whole position at the tier-1 rate).
/// IM at 10x = 180,000 / 10 = 18,000 USDT.
/// Liquidation (all else fixed): 20,000 + 3(P − 60,000) = 3 × P × 0.005
/// → 2.985 P = 160,000 → P = 53,601.340033…
#[test]
fn btc_usdt_future_uses_family_tier_one() {
    let ins = btc_usdt_future("BTC-USDT-241227");
    let mut m = market();
    m.mark_prices.insert(ins.id(), 60_000.0);
    let mut p = pos(ins, 300.0, Some(60_000.0));
    p.leverage = Some(10.0);
    let acc = account(vec![coll(Venue::Okx, "USDT", 20_000.0, 6)], vec![p]);
    let v = &OkxTiered::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap()[0];
    assert_eq!(v.settlement, "USDT");
    close(v.maintenance_margin, 900.0, 1e-9, "MM");
    close(v.initial_margin, 18_000.0, 1e-9, "IM");
    close(
        v.positions[0].liquidation_price.unwrap(),
        160_000.0 / 2.985,
        1e-6,
        "LP",
    );
}

/// Short 500 BTC-USDT-SWAP contracts (the inclusive tier-1 maximum) at 40,000, no leverage set:
/// 500 × 0.01 = 5 BTC × 40,000 = 200,000 USDT; MM = 0.5 % → 1,000 USDT;
/// IM at the tier's 100x (1 / 1.0 % basic IMR) = 2,000 USDT.
#[test]
fn btc_usdt_swap_at_the_tier_one_maximum() {
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
    m.mark_prices.insert(ins.id(), 40_000.0);
    let acc = account(
        vec![coll(Venue::Okx, "USDT", 10_000.0, 6)],
        vec![pos(ins, -500.0, None)],
    );
    let v = &OkxTiered::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap()[0];
    close(v.maintenance_margin, 1_000.0, 1e-9, "MM");
    close(v.initial_margin, 2_000.0, 1e-9, "IM");
}

/// 501 contracts (5.01 BTC) lie past the only tier carried: an error, not a guessed rate.
#[test]
fn beyond_the_carried_tier_is_an_error_naming_the_instrument() {
    let ins = btc_usdt_future("BTC-USDT-241227");
    let mut m = market();
    m.mark_prices.insert(ins.id(), 60_000.0);
    let acc = account(
        vec![coll(Venue::Okx, "USDT", 100_000.0, 6)],
        vec![pos(ins, 501.0, None)],
    );
    let err = OkxTiered::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap_err()
        .to_string();
    assert!(err.contains("BTC-USDT-241227"), "{err}");
    assert!(err.contains("beyond the last tier"), "{err}");
}

/// A family the file does not carry names the instrument, the family and what is available.
#[test]
fn unknown_family_names_instrument_and_family() {
    let ins = btc_usdt_future("ETH-USDT-241227");
    let mut m = market();
    m.mark_prices.insert(ins.id(), 3_000.0);
    let acc = account(
        vec![coll(Venue::Okx, "USDT", 1_000.0, 6)],
        vec![pos(ins, 1.0, None)],
    );
    let err = OkxTiered::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap_err()
        .to_string();
    assert!(err.contains("ETH-USDT-241227"), "{err}");
    assert!(err.contains("family ETH-USDT"), "{err}");
    assert!(err.contains("BTC-USDC, BTC-USDT"), "{err}");
    assert!(err.contains("okx:ETH-USDT"), "{err}");
}

/// An id without OKX's BASE-QUOTE-SUFFIX shape has no family: the error says so.
#[test]
fn non_okx_symbol_is_rejected_with_its_name() {
    let ins = btc_usdt_future("BTCUSDT");
    let mut m = market();
    m.mark_prices.insert(ins.id(), 60_000.0);
    let acc = account(
        vec![coll(Venue::Okx, "USDT", 1_000.0, 6)],
        vec![pos(ins, 1.0, None)],
    );
    let err = OkxTiered::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap_err()
        .to_string();
    assert!(err.contains("BTCUSDT"), "{err}");
    assert!(err.contains("not an OKX swap/futures id"), "{err}");
}

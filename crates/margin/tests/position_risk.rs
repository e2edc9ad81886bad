//! `position_risk`: mark and unrealised P&L per position on the hedged book, by hand.

use intermargin_margin::venues::position_risk;
use intermargin_model::Snapshot;

#[test]
fn each_leg_of_the_hedged_book_has_its_mark_and_pnl_in_its_settlement_currency() {
    let mut snap =
        Snapshot::from_json(include_str!("../../../examples/hedged-book/snapshot.json")).unwrap();
    let m = &mut snap.market.mark_prices;
    m.insert("binance:BTCUSDT".into(), 60_000.0);
    m.insert("okx:BTC-USD-SWAP".into(), 60_000.0);
    m.insert("deribit:BTC-27DEC24-60000-C".into(), 0.1);
    let acc = &snap.portfolio.accounts[0];
    let find = |sym: &str| {
        acc.positions
            .iter()
            .find(|p| p.instrument.symbol == sym)
            .unwrap()
    };

    // Binance linear perp, short 8.5 BTC from 62,950 to 60,000: +8.5 × 2,950 USDT.
    let b = position_risk(find("BTCUSDT"), &snap.market).unwrap();
    assert_eq!(b.currency, "USDT");
    assert!((b.unrealised_pnl - 8.5 * 2_950.0).abs() < 1e-6, "{b:?}");
    assert_eq!(b.mark_price, 60_000.0);

    // OKX inverse swap, short 4,000 contracts of 100 USD from 63,010.2 to 60,000: the short
    // gains 400,000 USD × (1/60,000 − 1/63,010.2) in BTC (face × (1/entry − 1/mark), negated).
    let o = position_risk(find("BTC-USD-SWAP"), &snap.market).unwrap();
    let want = -400_000.0 * (1.0 / 63_010.2 - 1.0 / 60_000.0);
    assert_eq!(o.currency, "BTC");
    assert!((o.unrealised_pnl - want).abs() < 1e-12, "{o:?} vs {want}");
    assert!(o.unrealised_pnl > 0.0);

    // Deribit inverse call, long 16 from a premium of 0.1402 BTC to 0.1: 16 × (−0.0402) BTC.
    let d = position_risk(find("BTC-27DEC24-60000-C"), &snap.market).unwrap();
    assert_eq!(d.currency, "BTC");
    assert!(
        (d.unrealised_pnl - 16.0 * (0.1 - 0.1402)).abs() < 1e-12,
        "{d:?}"
    );

    // Greeks: the option's venue-published delta per contract × 16; the perps' base quantities.
    let g = d.greeks.unwrap();
    let published = &snap.market.greeks["deribit:BTC-27DEC24-60000-C"];
    assert!((g.delta - 16.0 * published.delta).abs() < 1e-12);
    assert_eq!(b.greeks.unwrap().delta, -8.5);
    assert!((o.greeks.unwrap().delta - (-400_000.0 / 60_000.0)).abs() < 1e-9);

    snap.market.mark_prices.clear();
    assert!(position_risk(find("BTCUSDT"), &snap.market).is_none());
}

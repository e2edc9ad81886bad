//! FX to the USD quote is filled from a USD-quoted venue index, never from Binance's USDT index.

use intermargin_model::{Market, Portfolio, Snapshot};
use intermargin_venues::complete_fx;

#[test]
fn fx_comes_from_usd_indices_and_stablecoins_at_par() {
    let mut m = Market::new(1, "USD");
    m.index_prices.insert("binance:BTC".into(), 60_030.0); // USDT-quoted: must not be used
    m.index_prices.insert("okx:BTC".into(), 60_000.5);
    m.index_prices.insert("deribit:BTC".into(), 60_001.0); // preferred over OKX
    m.index_prices.insert("aave:WETH".into(), 3_000.0);
    let mut p = Portfolio::default();
    for (s, d) in [("BTC", 8), ("USDT", 6), ("WETH", 18), ("SOL", 9)] {
        p.declare_asset(intermargin_model::Asset::new(s, d))
            .unwrap();
    }
    let mut snap = Snapshot::new(p, m);
    snap.market.fx.insert("WETH".into(), 2_999.0); // an existing rate is kept
    complete_fx(&mut snap);
    assert_eq!(snap.market.fx["BTC"], 60_001.0);
    assert_eq!(snap.market.fx["USDT"], 1.0);
    assert_eq!(snap.market.fx["WETH"], 2_999.0);
    assert!(
        !snap.market.fx.contains_key("SOL"),
        "no price, no invented rate"
    );
}

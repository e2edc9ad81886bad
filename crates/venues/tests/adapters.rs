//! End-to-end: every payload in tests/data imports; documented numbers land exactly where they should.

use std::path::{Path, PathBuf};

use intermargin_model::{
    Amount, InstrumentKind, OptionKind, Settlement, SizeUnit, Snapshot, Venue,
};
use intermargin_venues::{import, ImportOptions, Payload, VenueError};
use serde_json::json;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn payload(rel: &str) -> Payload {
    let p = data_dir().join(rel);
    Payload::named(rel, std::fs::read_to_string(&p).unwrap())
}

fn imp(venue: Venue, files: &[&str]) -> Result<Snapshot, VenueError> {
    let ps: Vec<Payload> = files.iter().map(|f| payload(f)).collect();
    import(venue, &ps, &ImportOptions::default())
}

fn ok(venue: Venue, files: &[&str]) -> Snapshot {
    match imp(venue, files) {
        Ok(s) => s,
        Err(e) => panic!("{files:?}: {e}"),
    }
}

fn coll(s: &Snapshot, asset: &str) -> Vec<i128> {
    s.portfolio.accounts[0]
        .collateral
        .iter()
        .filter(|c| c.asset == asset)
        .map(|c| c.amount.0)
        .collect()
}

#[test]
fn every_payload_in_test_data_imports_on_its_own() {
    let mut count = 0;
    for dir in std::fs::read_dir(data_dir()).unwrap() {
        let dir = dir.unwrap().path();
        // `ws/` holds WebSocket frames (tests/stream.rs), not REST payloads.
        if !dir.is_dir() || dir.ends_with("ws") {
            continue;
        }
        let venue: Venue = dir.file_name().unwrap().to_str().unwrap().parse().unwrap();
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let text = std::fs::read_to_string(&f).unwrap();
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            let snap = import(
                venue,
                &[Payload::named(&name, text)],
                &ImportOptions::default(),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            snap.validate().unwrap();
            // and it round-trips through the canonical JSON with money unchanged
            let back = Snapshot::from_json(&serde_json::to_string(&snap).unwrap()).unwrap();
            assert_eq!(
                back.portfolio.accounts[0].collateral, snap.portfolio.accounts[0].collateral,
                "{name}"
            );
            assert_eq!(
                back.portfolio.accounts[0].positions.len(),
                snap.portfolio.accounts[0].positions.len()
            );
            count += 1;
        }
    }
    // 7 deribit + 10 binance + 2 okx + 5 bybit + 2 dydx + 3 hyperliquid shared fixtures,
    // plus 2 deribit, 2 dydx and 3 aave payloads written for this crate, and the COIN-M docs'
    // examples (dapi positionRisk and leverageBracket, papi cm positionRisk) and an OKX
    // position-tiers payload, plus the four venues'
    // documented open-orders examples (issue 17).
    assert_eq!(count, 44);
}

#[test]
fn deribit_perpetual_position_in_usd_becomes_contracts_of_ten_usd() {
    let s = ok(Venue::Deribit, &["deribit/private_get_positions.json"]);
    let p = &s.portfolio.accounts[0].positions[0];
    // size 50 USD / 10 USD per contract = 5 contracts
    assert_eq!(p.size, 5.0);
    assert_eq!(p.instrument.kind, InstrumentKind::Perpetual);
    assert_eq!(
        (p.instrument.contract_size, p.instrument.size_unit),
        (10.0, SizeUnit::Quote)
    );
    assert_eq!(p.instrument.settlement, Settlement::Inverse);
    assert_eq!(p.entry_price, Some(7440.18));
    assert_eq!(p.leverage, Some(34.0));
    assert_eq!(s.market.mark_prices["deribit:BTC-PERPETUAL"], 7476.65);
    assert_eq!(s.market.index_prices["deribit:BTC"], 7466.79);
}

#[test]
fn deribit_option_book_with_ticker_and_summary() {
    let s = ok(
        Venue::Deribit,
        &[
            "deribit/private_get_positions_options.json",
            "deribit/public_ticker_option.json",
            "deribit/private_get_account_summary.json",
            "deribit/public_get_instruments_future.json",
        ],
    );
    let acc = &s.portfolio.accounts[0];
    assert_eq!(
        acc.positions.len(),
        3,
        "zero-size ETH-PERPETUAL row skipped"
    );
    let opt = &acc.positions[0];
    assert_eq!(opt.size, 5.0);
    assert_eq!(
        opt.instrument.kind,
        InstrumentKind::Option {
            // 2025-06-27 08:00:00 UTC (date -u -d '2025-06-27 08:00' +%s)
            expiry_ms: 1_751_011_200_000,
            strike: 100_000.0,
            option_kind: OptionKind::Call
        }
    );
    assert_eq!(opt.instrument.settle, "BTC");
    // -20000 USD / 10 USD
    assert_eq!(acc.positions[1].size, -2000.0);
    let lin = &acc.positions[2];
    assert_eq!((lin.size, lin.instrument.settle.as_str()), (0.5, "USDC"));
    assert_eq!(lin.instrument.settlement, Settlement::Linear);
    // mark_iv 58.23 % → 0.5823
    assert_eq!(s.market.mark_ivs["deribit:BTC-27JUN25-100000-C"], 0.5823);
    let g = &s.market.greeks["deribit:BTC-27JUN25-100000-C"];
    assert_eq!((g.delta, g.vega, g.theta), (0.31135, 215.65593, -20.65119));
    assert_eq!(s.market.mark_prices["deribit:BTC-27JUN25-100000-C"], 0.0824);
    assert_eq!(s.market.index_prices["deribit:BTC"], 62890.55);
    assert_eq!(s.market.timestamp_ms, 1_724_742_000_000);
    // balance 302.60065765 BTC = 30260065765 satoshi, exactly
    assert_eq!(coll(&s, "BTC"), vec![30_260_065_765]);
}

#[test]
fn deribit_summaries_give_one_balance_per_currency() {
    let s = ok(
        Venue::Deribit,
        &["deribit/private_get_account_summaries.json"],
    );
    assert_eq!(coll(&s, "BTC"), vec![30_260_065_765]);
    // 100 ETH in wei
    assert_eq!(coll(&s, "ETH"), vec![100_000_000_000_000_000_000]);
}

#[test]
fn deribit_conflicting_prices_across_payloads_are_an_error_naming_the_key() {
    let e = imp(
        Venue::Deribit,
        &[
            "deribit/private_get_positions.json",
            "deribit/public_ticker_perpetual.json",
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("deribit:BTC-PERPETUAL"), "{e}");
    assert!(e.contains("7476.65") && e.contains("36288.31"), "{e}");
}

#[test]
fn binance_position_risk_v3_and_brackets() {
    let s = ok(
        Venue::Binance,
        &[
            "binance/fapi_v3_positionRisk.json",
            "binance/fapi_v1_leverageBracket.json",
        ],
    );
    let p = &s.portfolio.accounts[0].positions[0];
    assert_eq!(p.instrument.symbol, "ADAUSDT");
    assert_eq!(
        (
            p.instrument.underlying.as_str(),
            p.instrument.settle.as_str()
        ),
        ("ADA", "USDT")
    );
    assert_eq!(p.size, 30.0);
    assert_eq!(p.entry_price, Some(0.385));
    assert_eq!(p.unrealized_pnl, Some(0.764277));
    assert_eq!(s.market.mark_prices["binance:ADAUSDT"], 0.4104759);
    assert_eq!(s.market.timestamp_ms, 1_720_736_417_660);
    assert_eq!(
        s.market.venue_params["binance:ETHUSDT"],
        json!({
            "source": "GET /fapi/v1/leverageBracket",
            "notional_coef": 1.5,
            "brackets": [{"bracket": 1, "initial_leverage": 75.0, "notional_floor": 0.0,
                          "notional_cap": 10000.0, "maint_margin_ratio": 0.0065, "cum": 0.0}]
        })
    );
}

#[test]
fn binance_zero_rows_are_skipped_and_balances_are_exact() {
    let s = ok(Venue::Binance, &["binance/fapi_v2_account.json"]);
    assert!(s.portfolio.accounts[0].positions.is_empty());
    // 23.72469206 USDT at 6 decimals: 23724692.06 → truncated to 23724692
    assert_eq!(coll(&s, "USDT"), vec![23_724_692]);
    let s = ok(Venue::Binance, &["binance/fapi_v3_account.json"]);
    let p = &s.portfolio.accounts[0].positions[0];
    assert_eq!((p.instrument.symbol.as_str(), p.size), ("BTCUSDT", 1.0));
    let s = ok(Venue::Binance, &["binance/papi_v1_balance.json"]);
    // The wallet, and the cross-margin loan with its interest as a debt of USDT:
    // −(10 + 0.72469206) = −10.72469206 → −10,724,692 at 6 decimals (truncated).
    assert_eq!(coll(&s, "USDT"), vec![122_607_351_379, -10_724_692]);
}

#[test]
fn okx_isolated_margin_position_and_balance() {
    let s = ok(
        Venue::Okx,
        &["okx/account_positions.json", "okx/account_balance.json"],
    );
    let acc = &s.portfolio.accounts[0];
    let p = &acc.positions[0];
    assert_eq!(p.instrument.kind, InstrumentKind::Spot);
    assert_eq!(p.size, 0.00190433573);
    assert_eq!(p.sub_account.as_deref(), Some("isolated:BTC-USDT"));
    assert!(p.isolated);
    assert_eq!(p.leverage, Some(5.0));
    // cashBal 4850.435693622894 → 4850435693 (6 decimals, truncated)
    // liab -99.9998177776581948 → -99999817 (truncated toward zero)
    let mut usdt = coll(&s, "USDT");
    usdt.sort();
    assert_eq!(usdt, vec![-99_999_817, 4_850_435_693]);
    assert_eq!(s.market.mark_prices["okx:BTC-USDT"], 62891.9);
    assert_eq!(s.market.index_prices["okx:BTC"], 62890.5);
}

#[test]
fn okx_swaps_use_contract_values_from_instruments_or_the_table() {
    let positions = json!({"code":"0","msg":"","data":[
        {"instId":"BTC-USD-SWAP","instType":"SWAP","pos":"-10","posSide":"net","mgnMode":"cross",
         "avgPx":"60000","markPx":"60100","idxPx":"60090","upl":"-0.0003","lever":"10","uTime":"1724742632153"},
        {"instId":"ETH-USDT-SWAP","instType":"SWAP","pos":"7","posSide":"long","mgnMode":"isolated",
         "margin":"150.5","avgPx":"2500","markPx":"2510","upl":"7","lever":"5","uTime":"1724742632153"}
    ]});
    let instruments = json!({"code":"0","msg":"","data":[
        {"instType":"SWAP","instId":"BTC-USD-SWAP","ctVal":"100","ctMult":"1","ctValCcy":"USD",
         "ctType":"inverse","settleCcy":"BTC","expTime":""}
    ]});
    let ps = [
        Payload::named("positions", positions.to_string()),
        Payload::named("instruments", instruments.to_string()),
    ];
    let s = import(Venue::Okx, &ps, &ImportOptions::default()).unwrap();
    let acc = &s.portfolio.accounts[0];
    let inv = &acc.positions[0].instrument;
    assert_eq!(
        (inv.contract_size, inv.size_unit, inv.settlement),
        (100.0, SizeUnit::Quote, Settlement::Inverse)
    );
    assert_eq!(acc.positions[0].size, -10.0);
    let lin = &acc.positions[1];
    // ETH-USDT-SWAP from data/okx_contracts.json: 0.1 ETH per contract
    assert_eq!(
        (lin.instrument.contract_size, lin.instrument.size_unit),
        (0.1, SizeUnit::Base)
    );
    assert_eq!((lin.isolated, lin.isolated_margin), (true, Some(150.5)));
}

#[test]
fn bybit_inverse_position_wallet_and_risk_limits() {
    let s = ok(
        Venue::Bybit,
        &[
            "bybit/v5_position_list_inverse.json",
            "bybit/v5_account_wallet_balance.json",
            "bybit/v5_market_risk_limit_inverse.json",
        ],
    );
    let p = &s.portfolio.accounts[0].positions[0];
    assert_eq!(p.instrument.symbol, "BTCUSD");
    assert_eq!(
        (p.instrument.settlement, p.instrument.size_unit),
        (Settlement::Inverse, SizeUnit::Quote)
    );
    assert_eq!(p.size, -300.0);
    assert_eq!(p.entry_price, Some(27464.50441675));
    assert_eq!(p.leverage, Some(10.0));
    assert!(!p.isolated);
    assert_eq!(s.market.mark_prices["bybit:BTCUSD"], 28224.5);
    assert_eq!(coll(&s, "BTC"), vec![0]);
    // docs example: maintenanceMargin "0.5", initialMargin "1" (percent, 1 % = 1/100x)
    let rl = &s.market.venue_params["bybit:BTCUSD"]["risk_limits"][0];
    assert_eq!(rl["maintenance_margin_rate"], json!(0.005));
    assert_eq!(rl["initial_margin_rate"], json!(0.01));
    assert_eq!(rl["risk_limit_value"], json!(150.0));
    assert!(rl.get("mm_deduction").is_none());
}

#[test]
fn bybit_option_instrument_expiry_comes_from_delivery_time() {
    let s = ok(
        Venue::Bybit,
        &["bybit/v5_market_instruments_info_option.json"],
    );
    assert!(s.portfolio.accounts[0].positions.is_empty());
    let s = ok(
        Venue::Bybit,
        &["bybit/v5_market_instruments_info_linear.json"],
    );
    let p = &s.market.venue_params["bybit:BTCUSDT"];
    assert_eq!(p["max_leverage"], json!(100.0));
    assert_eq!(p["leverage_step"], json!(0.01));
}

#[test]
fn dydx_subaccount_collateral_excludes_unrealised_pnl() {
    let s = ok(
        Venue::Dydx,
        &[
            "dydx/v4_addresses_subaccountNumber_0.json",
            "dydx/ws_v4_markets_subscribed.json",
        ],
    );
    let acc = &s.portfolio.accounts[0];
    assert_eq!(acc.positions.len(), 2);
    assert_eq!(acc.positions[0].size, 0.25);
    assert_eq!(acc.positions[1].size, -2.0);
    // 6950 + 0.25·27000 − 2·1850 = 10000 USDC = 10_000_000_000 base units
    assert_eq!(coll(&s, "USDC"), vec![10_000_000_000]);
    // equity check by hand: 10000 + 188.23 + 83.6 = 10271.83, the payload's equity
    let upnl: f64 = acc
        .positions
        .iter()
        .map(|p| p.unrealized_pnl.unwrap())
        .sum();
    assert!((10_000.0 + upnl - 10_271.83).abs() < 1e-9);
    assert_eq!(s.market.mark_prices["dydx:BTC-USD"], 27752.92);
    let bp = &s.market.venue_params["dydx:BTC-USD"];
    assert_eq!(bp["initial_margin_fraction"], json!(0.05));
    assert_eq!(bp["maintenance_margin_fraction"], json!(0.03));
    // websocket example subaccount: 100000000000 USDC, no positions
    let s = ok(Venue::Dydx, &["dydx/ws_v4_subaccounts_subscribed.json"]);
    assert_eq!(coll(&s, "USDC"), vec![100_000_000_000_000_000]);
}

#[test]
fn hyperliquid_clearinghouse_meta_and_contexts() {
    let s = ok(
        Venue::Hyperliquid,
        &["hyperliquid/info_clearinghouseState.json"],
    );
    let p = &s.portfolio.accounts[0].positions[0];
    assert_eq!((p.instrument.symbol.as_str(), p.size), ("ETH", 0.0335));
    // Isolated margin posted = marginUsed (4.967826, which includes the P&L) − unrealizedPnl.
    assert_eq!((p.leverage, p.isolated), (Some(20.0), true));
    assert!((p.isolated_margin.unwrap() - (4.967826 + 0.0134)).abs() < 1e-12);
    // accountValue 13109.482328 − unrealizedPnl (−0.0134) = 13109.495728 USDC
    assert_eq!(coll(&s, "USDC"), vec![13_109_495_728]);
    let s = ok(Venue::Hyperliquid, &["hyperliquid/info_meta.json"]);
    assert_eq!(
        s.market.venue_params["hyperliquid"]["margin_tables"]["51"],
        json!([{"lower_bound": 0.0, "max_leverage": 10.0}, {"lower_bound": 3000000.0, "max_leverage": 5.0}])
    );
    assert_eq!(
        s.market.venue_params["hyperliquid:HPOS"]["only_isolated"],
        json!(true)
    );
    assert!(
        !s.market.venue_params.contains_key("hyperliquid:LOOM"),
        "delisted"
    );
    let s = ok(
        Venue::Hyperliquid,
        &["hyperliquid/info_metaAndAssetCtxs.json"],
    );
    assert_eq!(s.market.mark_prices["hyperliquid:BTC"], 14.3161);
    assert_eq!(s.market.index_prices["hyperliquid:HPOS"], 8.4585);
}

#[test]
fn aave_user_reserves_configuration_and_account_data() {
    let s = ok(
        Venue::Aave,
        &[
            "aave/pool_getUserAccountData.json",
            "aave/dataProvider_getUserReserveData.json",
            "aave/dataProvider_getReserveConfigurationData.json",
        ],
    );
    assert_eq!(coll(&s, "WETH"), vec![10_000_000_000_000_000_000]);
    assert_eq!(coll(&s, "USDC"), vec![-12_000_000_000]);
    assert!(s.portfolio.accounts[0]
        .collateral
        .iter()
        .all(|c| c.chain_id == Some(1)));
    let w = &s.market.venue_params["aave:WETH"];
    assert_eq!(
        (w["ltv"].clone(), w["liquidation_threshold"].clone()),
        (json!(0.805), json!(0.83))
    );
    assert_eq!(w["liquidation_bonus"], json!(0.05));
    assert_eq!(w["price_usd"], json!(2500.0));
    assert_eq!(s.market.index_prices["aave:WETH"], 2500.0);
    let u = &s.market.venue_params["aave:user:default"];
    // 25000·0.83/12000 = 1.7291666…
    assert!((u["health_factor"].as_f64().unwrap() - 25_000.0 * 0.83 / 12_000.0).abs() < 1e-12);
    assert_eq!(u["available_borrows_usd"], json!(8125.0));
    assert_eq!(
        s.market.venue_params["aave"]["emode_categories"]["1"]["liquidation_threshold"],
        json!(0.95)
    );
    // only the account data: totals as USD collateral and debt, 8 decimals
    let s = ok(Venue::Aave, &["aave/pool_getUserAccountData.json"]);
    let mut usd = coll(&s, "USD");
    usd.sort();
    assert_eq!(usd, vec![-1_200_000_000_000, 2_500_000_000_000]);
}

#[test]
fn bad_payloads_name_the_json_path_and_reason() {
    let bad = json!({"jsonrpc":"2.0","result":[
        {"instrument_name":"BTC-PERPETUAL","size":10,"direction":"buy"},
        {"instrument_name":"ETH-PERPETUAL","size":20,"direction":"buy"},
        {"instrument_name":"BTC-29SEP23","size":null,"direction":"buy"}]});
    let e = import(
        Venue::Deribit,
        &[Payload::named("p.json", bad.to_string())],
        &ImportOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "deribit payload (p.json): result[2].size: expected a decimal string, got null"
    );

    let missing =
        json!([{"symbol":"BTCUSDT","positionAmt":"1","entryPrice":"1"}, {"positionAmt":"2"}]);
    let e = import(
        Venue::Binance,
        &[Payload::named("b.json", missing.to_string())],
        &ImportOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "binance payload (b.json): [1].symbol: required field is missing"
    );

    let err = json!({"retCode":10003,"retMsg":"API key is invalid.","result":{},"time":1});
    let e = import(
        Venue::Bybit,
        &[Payload::named("x", err.to_string())],
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, VenueError::VenueReported { .. }), "{e}");
    assert!(e.to_string().contains("API key is invalid"));

    let e = import(
        Venue::Okx,
        &[Payload::named("x", "{not json".to_string())],
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, VenueError::Json { .. }));

    // unknown fields are tolerated
    let extra = json!([{"symbol":"BTCUSDT","positionAmt":"0.5","newField":{"x":[1,2]}}]);
    let s = import(
        Venue::Binance,
        &[Payload::named("e", extra.to_string())],
        &ImportOptions::default(),
    )
    .unwrap();
    assert_eq!(s.portfolio.accounts[0].positions[0].size, 0.5);
}

#[test]
fn account_id_is_a_parameter() {
    let ps = [payload("binance/fapi_v3_positionRisk.json")];
    let s = import(
        Venue::Binance,
        &ps,
        &ImportOptions {
            account: "alice".into(),
        },
    )
    .unwrap();
    assert_eq!(s.portfolio.accounts[0].id, "alice");
    assert!(import(
        Venue::Binance,
        &ps,
        &ImportOptions {
            account: " ".into()
        }
    )
    .is_err());
}

/// The seven venues' snapshots, with compatible payload sets per venue.
pub fn seven_venue_snapshots() -> Vec<Snapshot> {
    vec![
        ok(
            Venue::Deribit,
            &[
                "deribit/private_get_positions_options.json",
                "deribit/public_ticker_option.json",
                "deribit/private_get_account_summaries.json",
                "deribit/public_get_instruments_future.json",
                "deribit/public_get_instrument_option.json",
            ],
        ),
        ok(
            Venue::Binance,
            &[
                "binance/fapi_v3_positionRisk.json",
                "binance/fapi_v2_positionRisk.json",
                "binance/fapi_v3_account.json",
                "binance/fapi_v1_leverageBracket.json",
            ],
        ),
        ok(
            Venue::Okx,
            &["okx/account_positions.json", "okx/account_balance.json"],
        ),
        ok(
            Venue::Bybit,
            &[
                "bybit/v5_position_list_inverse.json",
                "bybit/v5_account_wallet_balance.json",
                "bybit/v5_market_risk_limit_inverse.json",
                "bybit/v5_market_instruments_info_linear.json",
                "bybit/v5_market_instruments_info_option.json",
            ],
        ),
        ok(
            Venue::Dydx,
            &[
                "dydx/v4_addresses_subaccountNumber_0.json",
                "dydx/ws_v4_markets_subscribed.json",
            ],
        ),
        ok(
            Venue::Hyperliquid,
            &[
                "hyperliquid/info_clearinghouseState.json",
                "hyperliquid/info_meta.json",
            ],
        ),
        ok(
            Venue::Aave,
            &[
                "aave/pool_getUserAccountData.json",
                "aave/dataProvider_getUserReserveData.json",
                "aave/dataProvider_getReserveConfigurationData.json",
            ],
        ),
    ]
}

#[test]
fn all_seven_venues_merge_into_one_valid_snapshot() {
    let snaps = seven_venue_snapshots();
    let mut merged = snaps[0].clone();
    for s in &snaps[1..] {
        merged.merge(s).unwrap();
    }
    merged.validate().unwrap();
    let acc = &merged.portfolio.accounts;
    assert_eq!(acc.len(), 1);
    assert_eq!(acc[0].venues().len(), 7);
    let positions: usize = snaps
        .iter()
        .map(|s| s.portfolio.accounts[0].positions.len())
        .sum();
    assert_eq!(acc[0].positions.len(), positions);
    // every balance stays exact through the merge
    let weth = acc[0]
        .collateral
        .iter()
        .find(|c| c.asset == "WETH")
        .unwrap();
    assert_eq!(weth.amount, Amount(10_000_000_000_000_000_000));
    // latest payload time: Bybit instruments-info `time` 1735809771618
    assert_eq!(merged.market.timestamp_ms, 1_735_809_771_618);
}

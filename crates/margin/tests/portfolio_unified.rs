//! Unified cross-venue model against hand calculations (parameters from params/unified.toml).

use intermargin_margin::portfolio::{UnifiedModel, UnifiedParams};
use intermargin_margin::{QuoteFigures, VenueMargin};
use intermargin_model::{
    Account, Amount, Asset, Collateral, Instrument, InstrumentKind, Market, Position, Settlement,
    SizeUnit, Venue,
};

fn btcusdt() -> Instrument {
    Instrument {
        venue: Venue::Binance,
        symbol: "BTCUSDT".into(),
        kind: InstrumentKind::Perpetual,
        underlying: "BTC".into(),
        quote: "USDT".into(),
        settle: "USDT".into(),
        settlement: Settlement::Linear,
        contract_size: 1.0,
        size_unit: SizeUnit::Base,
    }
}

fn assets() -> Vec<Asset> {
    vec![
        Asset::new("BTC", 8),
        Asset::new("ETH", 18),
        Asset::new("USDT", 6),
    ]
}

fn market() -> Market {
    let mut m = Market::new(1_700_000_000_000, "USD");
    m.mark_prices.insert("binance:BTCUSDT".into(), 50_000.0);
    m.fx.insert("BTC".into(), 50_000.0);
    m.fx.insert("ETH".into(), 3_000.0);
    m.fx.insert("USDT".into(), 1.0);
    m
}

fn binance_siloed(im: f64, mm: f64) -> VenueMargin {
    VenueMargin {
        venue: Venue::Binance,
        settlement: "USDT".into(),
        equity: 0.0,
        initial_margin: im,
        maintenance_margin: mm,
        margin_ratio: 0.0,
        in_quote: QuoteFigures {
            equity: 0.0,
            initial_margin: im,
            maintenance_margin: mm,
        },
        positions: vec![],
    }
}

#[test]
fn btc_collateral_hedged_by_a_short_perpetual_by_hand() {
    // 1 BTC collateral on Deribit, short 1 BTCUSDT on Binance: the scan nets to 0 in every scenario.
    //   roll shock   = 50,000 × max(0.075 × 0, 0.01)               =   500
    //   venue basis  = binance 0.0015 × |−50,000|                  =    75
    //   quote basis  = USDT 0.005 × 50,000 (short USDT-linear = long USDT) = 250
    //   counterparty = deribit 0.01 × 50,000 collateral             =   500
    //   collateral   = BTC 0.02 × 50,000                             = 1,000
    //   risk = 2,325; local minimum = 0.25 × Binance MM 2,000 = 500 → IM = 2,325, MM = 0.8 × IM = 1,860.
    //   siloed = Binance IM 5,000 → saving 2,675.
    let mut acc = Account::new("a");
    acc.positions.push(Position::new(btcusdt(), -1.0));
    acc.collateral.push(Collateral {
        venue: Venue::Deribit,
        asset: "BTC".into(),
        amount: Amount(100_000_000),
        sub_account: None,
        chain_id: None,
    });
    let r = UnifiedModel::new(UnifiedParams::bundled().unwrap())
        .margin(
            &acc,
            &assets(),
            &market(),
            &[binance_siloed(5_000.0, 2_000.0)],
        )
        .unwrap();
    let comp = |n: &str| {
        r.explain
            .components
            .iter()
            .find(|c| c.name == n)
            .unwrap()
            .value
    };
    assert!(
        comp("scenario_loss").abs() < 1e-6,
        "{}",
        comp("scenario_loss")
    );
    assert!((comp("roll_shock") - 500.0).abs() < 1e-6);
    assert!((comp("basis_venue_index") - 75.0).abs() < 1e-6);
    assert!((comp("basis_quote_asset") - 250.0).abs() < 1e-6);
    assert!((comp("counterparty_haircut") - 500.0).abs() < 1e-6);
    assert!((comp("collateral_haircut") - 1_000.0).abs() < 1e-6);
    assert!(
        (r.initial_margin - 2_325.0).abs() < 1e-6,
        "{}",
        r.initial_margin
    );
    assert!((r.maintenance_margin - 1_860.0).abs() < 1e-6);
    assert!((r.local_minimum_total - 500.0).abs() < 1e-9);
    assert!((r.siloed_total - 5_000.0).abs() < 1e-9);
    assert!((r.saving - 2_675.0).abs() < 1e-6);
}

#[test]
fn eth_collateral_loses_value_in_the_same_scenario_as_the_btc_book() {
    // 10 ETH collateral (30,000) and short 1 BTCUSDT. Price point +4/4: BTC +16% → perp loses 8,000;
    // ETH +18% → collateral gains 5,400, counted at ETH pnl_offset 0.6 → 3,240; net 4,760.
    // Point −4/4: ETH loses 5,400, perp gains 8,000 × BTC offset 0.6 = 4,800 → 600. Intermediate points
    // are smaller (k=3: 6,000 − 2,430 = 3,570), extended ones are cut by their fraction → scan = 4,760.
    let mut acc = Account::new("a");
    acc.positions.push(Position::new(btcusdt(), -1.0));
    acc.collateral.push(Collateral {
        venue: Venue::Deribit,
        asset: "ETH".into(),
        amount: Amount(10 * 10i128.pow(18)),
        sub_account: None,
        chain_id: None,
    });
    let r = UnifiedModel::new(UnifiedParams::bundled().unwrap())
        .margin(
            &acc,
            &assets(),
            &market(),
            &[binance_siloed(5_000.0, 2_000.0)],
        )
        .unwrap();
    let scan = r
        .explain
        .components
        .iter()
        .find(|c| c.name == "scenario_loss")
        .unwrap()
        .value;
    assert!((scan - 4_760.0).abs() < 1e-6, "{scan}");
    assert!(
        r.explain.worst_scenario.starts_with("price +4/4"),
        "{}",
        r.explain.worst_scenario
    );
    // The contributions sum to the scenario loss: the perp's 8,000 and the collateral's −3,240.
    let sum: f64 = r.explain.contributions.iter().map(|c| c.loss).sum();
    assert!((sum - 4_760.0).abs() < 1e-6);
    let eth = r
        .explain
        .contributions
        .iter()
        .find(|c| c.instrument == "deribit:ETH collateral")
        .unwrap();
    assert!((eth.loss + 3_240.0).abs() < 1e-6);
}

#[test]
fn a_local_minimum_above_the_risk_requirement_binds() {
    // Only collateral of a stablecoin at Binance and a huge venue maintenance margin: risk is small,
    // the venue's local 25% of 100,000 = 25,000 sets the requirement and binds.
    let mut acc = Account::new("a");
    acc.collateral.push(Collateral {
        venue: Venue::Binance,
        asset: "USDT".into(),
        amount: Amount(1_000_000_000),
        sub_account: None,
        chain_id: None,
    });
    let r = UnifiedModel::new(UnifiedParams::bundled().unwrap())
        .margin(
            &acc,
            &assets(),
            &market(),
            &[binance_siloed(200_000.0, 100_000.0)],
        )
        .unwrap();
    // risk: USDT basis 0.005 × 1,000 + counterparty 0.01 × 1,000 + collateral 0.005 × 1,000 = 20
    assert!(
        (r.risk_requirement - 20.0).abs() < 1e-6,
        "{}",
        r.risk_requirement
    );
    assert!((r.initial_margin - 25_000.0).abs() < 1e-6);
    let b = r.venues.iter().find(|v| v.venue == Venue::Binance).unwrap();
    assert!(b.binds);
}

#[test]
fn unknown_collateral_asset_names_the_field() {
    let mut acc = Account::new("a");
    acc.collateral.push(Collateral {
        venue: Venue::Aave,
        asset: "XYZ".into(),
        amount: Amount(1),
        sub_account: None,
        chain_id: None,
    });
    let e = UnifiedModel::new(UnifiedParams::bundled().unwrap())
        .margin(&acc, &assets(), &market(), &[])
        .unwrap_err();
    assert!(e.to_string().contains("collateral[0].asset"), "{e}");
}

//! Regression tests for the defects of issue 15, each against a figure from the venue's
//! documentation, the protocol's code, or a hand calculation written here.
mod venue_support;

use intermargin_margin::venues::aave::{close_factor, AaveParams, AaveV3, AaveVersion};
use intermargin_margin::venues::binance::BinanceUsdm;
use intermargin_margin::venues::deribit::DeribitStandard;
use intermargin_margin::venues::dydx::{
    effective_imf, position_requirements, DydxV4, MarketFractions,
};
use intermargin_margin::{MarginError, MarginModel, VenueMargin};
use intermargin_model::{Amount, Collateral, Settlement, SizeUnit, Venue};
use serde_json::json;
use venue_support::*;

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn pool<'a>(v: &'a [VenueMargin], label: &str) -> &'a VenueMargin {
    v.iter()
        .find(|m| m.pool == label)
        .unwrap_or_else(|| panic!("no pool {label:?} in {v:#?}"))
}

// ---------------------------------------------------------------------------------------------
// 1. Binance hedge mode, isolated LONG and SHORT of one symbol.

/// LONG 1 BTC @ 60,000 (isolated wallet 6,000) and SHORT 1 BTC @ 60,000 (isolated wallet 6,000),
/// mark 60,000, bracket 50k–250k: MMR 0.5 %, maintenance amount 50. Binance's formula per
/// isolated position (TMM1 = UPNL1 = 0):
/// long  LP = (6,000 + 50 − 1·60,000) / (1·0.005 − 1) = −53,950 / −0.995 = 54,221.105…
/// short LP = (6,000 + 50 + 1·60,000) / (1·0.005 + 1) = 66,050 / 1.005 = 65,721.393…
#[test]
fn binance_hedge_mode_isolated_legs_have_their_own_liquidation_price() {
    let ins = linear_perp(Venue::Binance, "BTCUSDT", "BTC", "USDT");
    let mut m = market();
    m.mark_prices.insert(ins.id(), 60_000.0);
    let mut long = pos(ins.clone(), 1.0, Some(60_000.0));
    long.isolated = true;
    long.isolated_margin = Some(6_000.0);
    long.leverage = Some(10.0);
    let mut short = pos(ins, -1.0, Some(60_000.0));
    short.isolated = true;
    short.isolated_margin = Some(6_000.0);
    short.leverage = Some(10.0);
    let acc = account(
        vec![coll(Venue::Binance, "USDT", 12_000.0, 6)],
        vec![long, short],
    );
    let v = BinanceUsdm::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap();
    let l = pool(&v, "isolated:binance:BTCUSDT:long");
    let s = pool(&v, "isolated:binance:BTCUSDT:short");
    assert_eq!(cents(l.positions[0].liquidation_price.unwrap()), 54_221.11);
    assert_eq!(cents(s.positions[0].liquidation_price.unwrap()), 65_721.39);
    // Each isolated pool holds its own wallet; the cross pool keeps nothing of them.
    close(l.equity, 6_000.0, 1e-9, "long isolated equity");
    close(s.equity, 6_000.0, 1e-9, "short isolated equity");
    close(pool(&v, "cross").equity, 0.0, 1e-9, "cross equity");
}

// ---------------------------------------------------------------------------------------------
// 2. A liquidation price beyond the last bracket the table knows.

/// The API docs' ETHUSDT bracket 1 (0–10,000 notional, MMR 0.65 %, cum 0), cross short 1 ETH @
/// 3,000 at 10×, wallet 10,000: MM = 3,000 × 0.0065 = 19.50; IM = 3,000 / 10 = 300.00;
/// LP = (10,000 + 0 + 1·3,000) / (1·0.0065 + 1) = 13,000 / 1.0065 = 12,916.05 (notional there
/// 12,916 > 10,000: the last bracket's rate goes on).
#[test]
fn binance_liquidation_price_beyond_the_last_bracket() {
    let ins = linear_perp(Venue::Binance, "ETHUSDT", "ETH", "USDT");
    let mut m = market();
    m.mark_prices.insert(ins.id(), 3_000.0);
    let mut p = pos(ins, -1.0, Some(3_000.0));
    p.leverage = Some(10.0);
    let acc = account(vec![coll(Venue::Binance, "USDT", 10_000.0, 6)], vec![p]);
    let v = BinanceUsdm::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap();
    let c = pool(&v, "cross");
    assert_eq!(cents(c.maintenance_margin), 19.50);
    assert_eq!(cents(c.initial_margin), 300.00);
    assert_eq!(cents(c.positions[0].liquidation_price.unwrap()), 12_916.05);
}

// ---------------------------------------------------------------------------------------------
// 3. No leverage in the payload: Binance's default 20×, never the bracket's maximum.

/// ETHUSDT bracket 1 allows 75×; a position without leverage is charged at the default 20×:
/// 3,000 / 20 = 150 (75× would give 40). The docs' v3 positionRisk example is exactly 20×:
/// ADAUSDT notional 12.314277, initialMargin 0.61571385 = 12.314277 / 20.
#[test]
fn binance_initial_margin_without_leverage_uses_the_default_not_the_maximum() {
    let ins = linear_perp(Venue::Binance, "ETHUSDT", "ETH", "USDT");
    let mut m = market();
    m.mark_prices.insert(ins.id(), 3_000.0);
    let acc = account(
        vec![coll(Venue::Binance, "USDT", 10_000.0, 6)],
        vec![pos(ins, 1.0, Some(3_000.0))],
    );
    let v = BinanceUsdm::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap();
    close(pool(&v, "cross").initial_margin, 150.0, 1e-9, "IM at 20x");
    assert!((12.314277f64 / 20.0 - 0.615_713_85).abs() < 1e-12);
}

// ---------------------------------------------------------------------------------------------
// 4. Deribit linear (`_USDC`) perpetuals margined at their USDC index.

fn sol_usdc() -> intermargin_model::Instrument {
    perp(
        Venue::Deribit,
        "SOL_USDC-PERPETUAL",
        "SOL",
        "USDC",
        Settlement::Linear,
        1.0,
        SizeUnit::Base,
    )
}

/// Deribit's "Linear Perpetual" article: SOL_USDC at 200, IM rate 4 % + 0.0005 % per SOL,
/// MM 2 % + 0.0005 % per SOL. 25 SOL: IM = 25·200·(0.04 + 25·0.000005) = 5,000 · 0.040125 =
/// 200.625; MM = 5,000 · 0.020125 = 100.625. 6,000 SOL: IM = 1,200,000 · (0.04 + 0.03) = 84,000.
#[test]
fn deribit_sol_usdc_perpetual_uses_its_usdc_index() {
    let ins = sol_usdc();
    let mut m = market();
    m.mark_prices.insert(ins.id(), 200.0);
    m.index_prices.insert("deribit:SOL_USDC".into(), 200.0);
    let model = DeribitStandard::new().unwrap();
    for (size, im, mm) in [(25.0, 200.625, Some(100.625)), (6_000.0, 84_000.0, None)] {
        let acc = account(
            vec![coll(Venue::Deribit, "USDC", 1_000_000.0, 6)],
            vec![pos(ins.clone(), size, Some(200.0))],
        );
        let v = model.margin(&acc, &assets(), &m).unwrap();
        let usdc = v.iter().find(|p| p.settlement == "USDC").unwrap();
        close(usdc.initial_margin, im, 1e-6, "IM");
        if let Some(mm) = mm {
            close(usdc.maintenance_margin, mm, 1e-6, "MM");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 5. A settlement currency without a USD rate.

/// An ETH inverse perpetual with no `fx[ETH]`: the ETH figures stand (IM = |q|·(2 % + |q|·
/// 0.0004 %) in ETH, here 10 ETH → 0.2004), the USD conversion is absent and says why.
#[test]
fn own_currency_figures_without_a_usd_rate() {
    let ins = perp(
        Venue::Deribit,
        "ETH-PERPETUAL",
        "ETH",
        "ETH",
        Settlement::Inverse,
        1.0,
        SizeUnit::Quote,
    );
    let mut m = market();
    m.mark_prices.insert(ins.id(), 2_000.0);
    let acc = account(
        vec![coll(Venue::Deribit, "ETH", 5.0, 18)],
        vec![pos(ins, 20_000.0, Some(2_000.0))],
    );
    let v = DeribitStandard::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap();
    let eth = v.iter().find(|p| p.settlement == "ETH").unwrap();
    close(
        eth.initial_margin,
        10.0 * (0.02 + 10.0 * 0.000004),
        1e-12,
        "ETH IM",
    );
    close(eth.equity, 5.0, 1e-12, "ETH equity");
    assert!(eth.in_quote.is_none());
    let e = eth.quote().unwrap_err().to_string();
    assert!(e.contains("market.fx[\"ETH\"]"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// 6. dYdX v4 open-interest scaling and rounding as the protocol does it.

fn fractions(imf: f64, mmf: f64, oi: Option<f64>, lower: f64, upper: f64) -> MarketFractions {
    MarketFractions {
        imf,
        mmf,
        open_interest: oi,
        lower_cap: lower,
        upper_cap: upper,
    }
}

/// `GetAdjustedInitialMarginPpm` disables scaling only when the upper cap is 0; caps 2M / 2M
/// with open notional 3M is at/above the upper cap → IMF 100 %.
#[test]
fn dydx_equal_caps_are_not_scaling_off() {
    let f = fractions(0.20, 0.10, Some(3_000_000.0), 2_000_000.0, 2_000_000.0);
    assert_eq!(effective_imf(&f, 1.0), 1.0);
    let (imr, _) = position_requirements(&f, 1_000.0, 1.0);
    close(imr, 1_000.0, 1e-9, "IMR = 100 % of notional");
    // Through the model with the indexer's market entry.
    let ins = linear_perp(Venue::Dydx, "XYZ-USD", "XYZ", "USDC");
    let mut m = market();
    m.mark_prices.insert(ins.id(), 1.0);
    m.venue_params.insert(
        "dydx:XYZ-USD".into(),
        json!({"initialMarginFraction": "0.2", "maintenanceMarginFraction": "0.1",
               "openInterest": "3000000", "openInterestLowerCap": "2000000",
               "openInterestUpperCap": "2000000"}),
    );
    let acc = account(
        vec![coll(Venue::Dydx, "USDC", 5_000.0, 6)],
        vec![pos(ins, 1_000.0, Some(1.0))],
    );
    let v = DydxV4::new().unwrap().margin(&acc, &assets(), &m).unwrap();
    close(v[0].initial_margin, 1_000.0, 1e-9, "model IMR");
    close(
        v[0].maintenance_margin,
        100.0,
        1e-9,
        "model MMR (never scaled)",
    );
}

/// Vectors of dydxprotocol/v4-chain `x/perpetuals/types/liquidity_tier_test.go`
/// (`TestGetAdjustedInitialMarginPpm`, `TestGetInitialMarginQuoteQuantums`), amounts in USDC
/// (quantums / 1e6).
#[test]
fn dydx_protocol_test_vectors_for_initial_margin() {
    // "Open interest within bounds, rounded": 0.2 + 0.234567·0.8 = 0.3876536 → 387,653 ppm.
    let f = fractions(0.20, 0.10, Some(1.234567), 1.0, 2.0);
    assert_eq!(effective_imf(&f, 1.0), 0.387_653);
    // "Open interest at lower bound" → base; "at upper bound" → 100 %; "no upper bound" → base.
    assert_eq!(
        effective_imf(&fractions(0.2, 0.1, Some(1.0), 1.0, 2.0), 1.0),
        0.2
    );
    assert_eq!(
        effective_imf(&fractions(0.2, 0.1, Some(2.0), 1.0, 2.0), 1.0),
        1.0
    );
    assert_eq!(
        effective_imf(&fractions(0.2, 0.1, Some(1.5), 0.0, 0.0), 1.0),
        0.2
    );
    // "base IMF = 10%, lower_cap < open_interest < upper_cap, realistic numbers":
    // 500,000 quantums at OI 28,123,456.789123 USDC, caps 25M / 60M → 135,697 quantums.
    let f = fractions(
        0.20,
        0.10,
        Some(28_123_456.789_123),
        25_000_000.0,
        60_000_000.0,
    );
    let (imr, _) = position_requirements(&f, 0.5, 1.0);
    close(imr, 0.135_697, 1e-12, "realistic OIMF vector");
    // "initial margin 10%, quote quantums = 1, should round up to 1".
    let (imr, _) = position_requirements(&fractions(0.1, 0.05, None, 0.0, 0.0), 0.000_001, 1.0);
    close(imr, 0.000_001, 1e-15, "rounds up to one quantum");
}

/// `x/perpetuals/lib/lib_test.go` `TestGetMarginRequirementsInQuoteQuantums_2`, "InitialMargin
/// 100 BIPs, MaintenanceMargin 50 BIPs, atomic resolution 6": price 5,555.0, 0.007 coin →
/// notional 38.885 USDC; IMR 388,850 quantums, MMR 194,425 quantums.
#[test]
fn dydx_protocol_test_vector_for_maintenance() {
    let f = fractions(0.01, 0.005, None, 0.0, 0.0);
    let (imr, mmr) = position_requirements(&f, 0.007 * 5_555.0, 5_555.0);
    close(imr, 0.388_850, 1e-12, "IMR");
    close(mmr, 0.194_425, 1e-12, "MMR");
}

/// MMR rounds up (`BigMulPpm(…, roundUp = true)` on the base IMR): 3 quantums of notional at
/// IMF 10 %, maintenance fraction 50 %: base IMR ⌈0.3⌉ = 1 quantum, MMR ⌈0.5⌉ = 1 quantum
/// (notional × MMF would be 0.15 quantum).
#[test]
fn dydx_maintenance_rounds_up_to_the_quantum() {
    let (imr, mmr) = position_requirements(&fractions(0.1, 0.05, None, 0.0, 0.0), 0.000_003, 1.0);
    close(imr, 0.000_001, 1e-15, "IMR");
    close(mmr, 0.000_001, 1e-15, "MMR");
}

/// TNC adds each position's notional truncated toward zero to the quantum
/// (`BaseToQuoteQuantums`). A short of 0.0000013 coin entered at 10/13 (S·entry = −1 quantum)
/// with the settled collateral Q + S·entry = 2 quantums, so Q = 3 quantums; at oracle 1.0,
/// S·P = −1.3 quantums → −1: TNC = 3 − 1 = 2 quantums (the untruncated sum gives 1.7).
#[test]
fn dydx_net_collateral_truncates_each_position() {
    let ins = linear_perp(Venue::Dydx, "BTC-USD", "BTC", "USDC");
    let mut m = market();
    m.mark_prices.insert(ins.id(), 1.0);
    let acc = account(
        vec![Collateral {
            venue: Venue::Dydx,
            asset: "USDC".into(),
            amount: Amount(2),
            sub_account: None,
            chain_id: None,
        }],
        vec![pos(ins, -0.000_001_3, Some(10.0 / 13.0))],
    );
    let v = DydxV4::new().unwrap().margin(&acc, &assets(), &m).unwrap();
    close(v[0].equity, 0.000_002, 1e-15, "TNC");
}

/// Fractions the protocol's `LiquidityTier.Validate` refuses are refused with their path.
#[test]
fn dydx_invalid_fractions_are_refused_with_their_path() {
    let ins = linear_perp(Venue::Dydx, "XYZ-USD", "XYZ", "USDC");
    let cases = [
        (
            json!({"initialMarginFraction": "1.5", "maintenanceMarginFraction": "0.1"}),
            "initial_margin_fraction",
        ),
        (
            json!({"initialMarginFraction": "-0.1", "maintenanceMarginFraction": "0"}),
            "initial_margin_fraction",
        ),
        (
            json!({"initialMarginFraction": "0.1", "maintenanceMarginFraction": "0.2"}),
            "maintenance_margin_fraction",
        ),
        (
            json!({"initialMarginFraction": "0.1", "maintenanceMarginFraction": "0.05",
                "openInterestLowerCap": "5000000", "openInterestUpperCap": "1000000"}),
            "open_interest_lower_cap",
        ),
    ];
    for (params, field) in cases {
        let mut m = market();
        m.mark_prices.insert(ins.id(), 1.0);
        m.venue_params.insert("dydx:XYZ-USD".into(), params);
        let acc = account(
            vec![coll(Venue::Dydx, "USDC", 5_000.0, 6)],
            vec![pos(ins.clone(), 1.0, Some(1.0))],
        );
        let e = DydxV4::new()
            .unwrap()
            .margin(&acc, &assets(), &m)
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("dydx:XYZ-USD") && text.contains(field),
            "{field}: {text}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 8. Aave v3.

fn aave_market() -> intermargin_model::Market {
    let mut m = market();
    m.index_prices.insert("aave:WETH".into(), 2_000.0);
    m.index_prices.insert("aave:USDC".into(), 1.0);
    m.index_prices.insert("aave:USDT".into(), 1.0);
    m
}

/// A user in category 1, which the payload defines as stablecoins (LTV 97 %, LT 98 %), holding
/// 1 WETH (its own LTV 80 %, LT 82.5 %, category 0) and 1,000 USDC (category 1), owing 2,400
/// USDT. The file's category 1 (ETH correlated) lists WETH, but membership follows the payload:
/// WETH stays at its own parameters.
/// Hand: collateral 3,000; avg LT = ⌊(2,000·8,250 + 1,000·9,800)/3,000⌋ = ⌊8,766.67⌋ = 8,766 bps;
/// HF = 3,000·0.8766 / 2,400 = 1.09575; borrowing power = 3,000·⌊(2,000·8,000 + 1,000·9,700)
/// / 3,000⌋ bps = 3,000·0.8566 = 2,569.8 → free 169.8 (with WETH at 98 % it would be 570).
#[test]
fn aave_emode_membership_comes_from_the_payload() {
    let mut m = aave_market();
    m.venue_params.insert(
        "aave".into(),
        json!({"emode_categories": {"1": {"label": "Stablecoins", "ltv": 0.97,
               "liquidation_threshold": 0.98, "liquidation_bonus": 0.01}}}),
    );
    m.venue_params.insert(
        "aave:WETH".into(),
        json!({"ltv": 0.80, "liquidation_threshold": 0.825, "emode_category": 0}),
    );
    m.venue_params.insert(
        "aave:USDC".into(),
        json!({"ltv": 0.75, "liquidation_threshold": 0.78, "emode_category": 1}),
    );
    m.venue_params
        .insert("aave:user:acct".into(), json!({"emode_category": 1}));
    let acc = account(
        vec![
            coll(Venue::Aave, "WETH", 1.0, 18),
            coll(Venue::Aave, "USDC", 1_000.0, 6),
            coll(Venue::Aave, "USDT", -2_400.0, 6),
        ],
        vec![],
    );
    let mut a = assets();
    a.push(intermargin_model::Asset::new("USDT", 6));
    let st = AaveV3::new().unwrap().account_state(&acc, &a, &m).unwrap();
    close(st.health_factor(), 3_000.0 * 0.8766 / 2_400.0, 1e-12, "HF");
    close(st.borrowing_power(), 2_569.8, 1e-9, "borrowing power");
    // After WETH −10 % (1,800): avg LT ⌊(1,800·8,250 + 1,000·9,800)/2,800⌋ = ⌊8,803.57⌋ = 8,803;
    // HF = 2,800·0.8803/2,400 = 1.027 (healthy); at −30 % (1,400): ⌊(1,400·8,250 +
    // 1,000·9,800)/2,400⌋ = 8,895 → HF = 2,400·0.8895/2,400 = 0.8895: liquidatable.
    m.index_prices.insert("aave:WETH".into(), 1_400.0);
    let st = AaveV3::new().unwrap().account_state(&acc, &a, &m).unwrap();
    close(st.health_factor(), 0.8895, 1e-12, "HF after −30 %");
    let v = AaveV3::new().unwrap().margin(&acc, &a, &m).unwrap();
    assert!(v[0].margin_ratio >= 1.0, "{v:?}");
}

/// Zero-LTV collateral inside the user's category keeps LTV 0 (no borrowing power); its
/// threshold is the category's. 1,000 USDC at LTV 0 / LT 78 % in category 1 (LTV 97 %,
/// LT 98 %): borrowing power 0, threshold value 980.
#[test]
fn aave_zero_ltv_collateral_stays_zero_in_emode() {
    let mut m = aave_market();
    m.venue_params.insert(
        "aave".into(),
        json!({"emode_categories": {"1": {"ltv": 0.97, "liquidation_threshold": 0.98}}}),
    );
    m.venue_params.insert(
        "aave:USDC".into(),
        json!({"ltv": 0, "liquidation_threshold": 0.78, "emode_category": 1}),
    );
    m.venue_params
        .insert("aave:user:acct".into(), json!({"emode_category": 1}));
    let acc = account(vec![coll(Venue::Aave, "USDC", 1_000.0, 6)], vec![]);
    let st = AaveV3::new()
        .unwrap()
        .account_state(&acc, &assets(), &m)
        .unwrap();
    close(st.borrowing_power(), 0.0, 1e-12, "borrowing power");
    close(st.threshold_value(), 980.0, 1e-9, "threshold value");
}

/// `GenericLogic` floors the average threshold to whole basis points: 1 USD at 82.51 % and
/// 1 USD at 82.50 % average 8,250.5 bps → 8,250. With debt 1.65005 the unfloored HF is
/// 1.6501/1.65005 > 1, the protocol's 1.65/1.65005 < 1: liquidatable.
#[test]
fn aave_average_threshold_is_floored_to_basis_points() {
    let mut m = market();
    m.index_prices.insert("aave:WETH".into(), 1.0);
    m.index_prices.insert("aave:WBTC".into(), 1.0);
    m.index_prices.insert("aave:USDC".into(), 1.0);
    m.venue_params.insert(
        "aave:WETH".into(),
        json!({"ltv": 0.8, "liquidation_threshold": 0.8251}),
    );
    m.venue_params.insert(
        "aave:WBTC".into(),
        json!({"ltv": 0.8, "liquidation_threshold": 0.8250}),
    );
    let acc = account(
        vec![
            coll(Venue::Aave, "WETH", 1.0, 18),
            coll(Venue::Aave, "WBTC", 1.0, 8),
            coll(Venue::Aave, "USDC", -1.65005, 6),
        ],
        vec![],
    );
    let model = AaveV3::new().unwrap();
    let st = model.account_state(&acc, &assets(), &m).unwrap();
    assert_eq!(st.average_liquidation_threshold_bps(), 8_250.0);
    assert!(st.health_factor() < 1.0, "{}", st.health_factor());
    let v = model.margin(&acc, &assets(), &m).unwrap();
    assert!(v[0].margin_ratio >= 1.0, "{}", v[0].margin_ratio);
}

/// aave-v3-core `LiquidationLogic`: `healthFactor > CLOSE_FACTOR_HF_THRESHOLD ? 50 % : 100 %`.
#[test]
fn aave_v3_0_close_factor_is_full_at_exactly_the_threshold() {
    let p = AaveParams::embedded().unwrap().liquidation;
    assert_eq!(close_factor(0.95, 1e6, 1e6, AaveVersion::V3_0, &p), 1.0);
    assert_eq!(
        close_factor(0.950_001, 1e6, 1e6, AaveVersion::V3_0, &p),
        0.5
    );
    assert_eq!(close_factor(0.94, 1e6, 1e6, AaveVersion::V3_0, &p), 1.0);
}

/// Reserve parameters the protocol cannot hold are refused with their path.
#[test]
fn aave_invalid_parameters_are_refused_with_their_path() {
    let cases = [
        (
            json!({"ltv": 5000, "liquidation_threshold": 12000}),
            "liquidation_threshold",
        ),
        (json!({"ltv": 0.9, "liquidation_threshold": 0.8}), "ltv"),
    ];
    for (params, field) in cases {
        let mut m = aave_market();
        m.venue_params.insert("aave:WETH".into(), params);
        let acc = account(vec![coll(Venue::Aave, "WETH", 1.0, 18)], vec![]);
        let e = AaveV3::new()
            .unwrap()
            .margin(&acc, &assets(), &m)
            .unwrap_err();
        let t = e.to_string();
        assert!(t.contains("aave:WETH") && t.contains(field), "{field}: {t}");
    }
    // A bonus below 100 % of the repaid debt (9,500 bps).
    let mut m = aave_market();
    m.venue_params.insert(
        "aave".into(),
        json!({"emode_categories": {"1": {"ltv": 0.9, "liquidation_threshold": 0.93,
               "liquidation_bonus": 9500}}}),
    );
    m.venue_params
        .insert("aave:user:acct".into(), json!({"emode_category": 1}));
    let acc = account(vec![coll(Venue::Aave, "WETH", 1.0, 18)], vec![]);
    let t = AaveV3::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap_err()
        .to_string();
    assert!(t.contains("liquidation_bonus"), "{t}");
    // A zero price.
    let mut m = aave_market();
    m.index_prices.insert("aave:WETH".into(), 0.0);
    let acc = account(vec![coll(Venue::Aave, "WETH", 1.0, 18)], vec![]);
    let e = AaveV3::new()
        .unwrap()
        .margin(&acc, &assets(), &m)
        .unwrap_err();
    assert!(
        matches!(&e, MarginError::MissingMarket { field, .. } if field.contains("aave:WETH")),
        "{e}"
    );
}

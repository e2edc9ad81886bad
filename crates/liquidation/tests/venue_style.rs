//! Each venue's own liquidation procedure (`venue_style`) against the protocols' own test
//! vectors, hand calculations, and — on random accounts — calculators written here from the
//! sources (v4-chain `liquidations.go`, aave-v3-origin `LiquidationLogic.sol`, Hyperliquid's
//! liquidation docs). Expected values never come from the code under test.

use intermargin_liquidation::venue_style::aave::{liquidation_call, AaveCallInputs, AaveReserve};
use intermargin_liquidation::venue_style::dydx::{
    bankruptcy_quote_quantums, fillable_price, liquidate_subaccount, DydxConfig, DydxPosition,
};
use intermargin_liquidation::venue_style::hyperliquid::{liquidate_pool, HlPosition};
use intermargin_liquidation::{ImpactParams, RuleBook};
use intermargin_model::Venue;
use num_bigint::BigUint;
use proptest::prelude::*;

const USD: i128 = 1_000_000; // quote quantums per USDC

// ---------------------------------------------------------------- dYdX v4

/// v4-chain testutil: `BtcUsd_20PercentInitial_10PercentMaintenance` at the $50,000 test oracle;
/// `EthUsd_20PercentInitial_10PercentMaintenance` at $3,000.
fn pos(instrument: &str, size: f64, price: f64) -> DydxPosition {
    let nn = (size * price * 1e6).round() as i128;
    DydxPosition {
        instrument: instrument.into(),
        size,
        net_notional: nn,
        maintenance: nn.abs() / 10,
    }
}

#[test]
fn v4_chain_bankruptcy_price_vectors() {
    // protocol/x/clob/keeper/liquidations_test.go, TestGetBankruptcyPriceInQuoteQuantums.
    let btc_long = pos("BTC", 0.1, 50_000.0);
    let btc_short = pos("BTC", -0.1, 50_000.0);
    let cases: [(&DydxPosition, i128, i128); 6] = [
        (&btc_long, -4_501, 4_501_000_000),
        (&btc_short, 5_499, -5_499_000_000),
        (&btc_long, -5_000, 5_000_000_000),
        (&btc_short, 5_000, -5_000_000_000),
        (&btc_long, -5_100, 5_100_000_000),
        (&btc_short, 4_900, -4_900_000_000),
    ];
    for (p, balance, want) in cases {
        let tnc = balance * USD + p.net_notional;
        let got =
            bankruptcy_quote_quantums(-p.net_notional, -p.maintenance, tnc, p.maintenance).unwrap();
        assert_eq!(got, want, "{} balance {balance}", p.size);
    }
    // "fully closing one long position and has multiple long positions": 0.004 BTC + 0.1 ETH,
    // balance −$490 → 294,000,000 for the ETH.
    let (btc, eth) = (pos("BTC", 0.004, 50_000.0), pos("ETH", 0.1, 3_000.0));
    let tnc = -490 * USD + btc.net_notional + eth.net_notional;
    let tmmr = btc.maintenance + eth.maintenance;
    let got = bankruptcy_quote_quantums(-eth.net_notional, -eth.maintenance, tnc, tmmr).unwrap();
    assert_eq!(got, 294_000_000);
    // Rounding: 1 BTC long, balance −$13, closing 21,347 base quantums (0.00021347 BTC)
    // → 2,776 (rounded up from 2,775.11). DNNV and DMMR from the position before and after.
    let one = pos("BTC", 1.0, 50_000.0);
    let after_nn = ((1.0 - 0.000_213_47) * 50_000.0 * 1e6_f64).round() as i128;
    let after_mmr = (after_nn + 9) / 10; // MMR rounded up to the quantum
    let tnc = -13 * USD + one.net_notional;
    let got = bankruptcy_quote_quantums(
        after_nn - one.net_notional,
        after_mmr - one.maintenance,
        tnc,
        one.maintenance,
    )
    .unwrap();
    assert_eq!(got, 2_776);
}

#[test]
fn v4_chain_fillable_price_vectors() {
    // liquidations_test.go, TestGetFillablePrice (default config: BA 1,000,000, SMMR 100,000).
    let cfg = DydxConfig::default();
    let check = |p: &DydxPosition, tnc: i128, tmmr: i128, want: f64| {
        let got = fillable_price(p, tnc, tmmr, &cfg).unwrap();
        assert!((got - want).abs() < 1e-7, "{got} vs {want}");
    };
    let long = pos("BTC", 0.1, 50_000.0);
    let short = pos("BTC", -0.1, 50_000.0);
    check(&long, -4_501 * USD + long.net_notional, 500 * USD, 49_999.0);
    check(
        &short,
        5_499 * USD + short.net_notional,
        500 * USD,
        50_001.0,
    );
    check(&long, -5_000 * USD + long.net_notional, 500 * USD, 49_500.0);
    check(
        &short,
        5_000 * USD + short.net_notional,
        500 * USD,
        50_500.0,
    );
    check(&long, -5_500 * USD + long.net_notional, 500 * USD, 49_500.0);
    check(
        &short,
        4_500 * USD + short.net_notional,
        500 * USD,
        50_500.0,
    );
    // Two longs, balance −$490: the ETH closes at $2,976 (372/125 subticks).
    let (btc, eth) = (pos("BTC", 0.004, 50_000.0), pos("ETH", 0.1, 3_000.0));
    let tnc = -490 * USD + btc.net_notional + eth.net_notional;
    check(&eth, tnc, btc.maintenance + eth.maintenance, 2_976.0);
    // SpreadToMaintenanceMarginRatioPpm = 1,000,000 → $49,990.
    let wide = DydxConfig {
        spread_to_maintenance_margin_ratio_ppm: 1_000_000,
        ..cfg
    };
    let got = fillable_price(&long, -4_501 * USD + long.net_notional, 500 * USD, &wide).unwrap();
    assert!((got - 49_990.0).abs() < 1e-7);
}

#[test]
fn dydx_closes_the_whole_position_and_charges_the_capped_fee() {
    // Hand calculation. Long 0.1 BTC @ 50,000, balance −4,501: TNC 499 < MMR 500.
    // Fillable 49,999 → quote 4,999.9; bankruptcy 4,501; delta 498.9 > 0;
    // fee = min(0.5 % × 4,999.9 = 24.9995, 498.9) = 24.9995; TNC after = 499 − 5,000 + 4,999.9
    // − 24.9995 = 473.9005.
    let p = pos("BTC", 0.1, 50_000.0);
    let tnc = -4_501 * USD + p.net_notional;
    let l = liquidate_subaccount(&[p], tnc, 0, &DydxConfig::default()).unwrap();
    assert!(l.liquidatable);
    let c = &l.closes[0];
    assert_eq!(
        (c.method.as_str(), c.side.as_str(), c.size),
        ("orderbook", "sell", 0.1)
    );
    assert!((c.insurance_fund_delta - 24.9995).abs() < 1e-9, "{c:?}");
    assert!((l.net_collateral_after - 473.9005).abs() < 1e-9, "{l:?}");
    assert!((c.bankruptcy_price - 45_010.0).abs() < 1e-6);
}

#[test]
fn dydx_deleverages_when_the_insurance_fund_cannot_cover() {
    // Long 0.1 BTC, balance −5,100: TNC −100. ABR clamps to 1: fill 5,000 − 50 = 4,950;
    // bankruptcy 5,100; the fund owes 150. With 1,000 in the fund it pays (fund → 850, TNC → 0);
    // with 100 it cannot, and the position is deleveraged at the bankruptcy price.
    let p = pos("BTC", 0.1, 50_000.0);
    let tnc = -5_100 * USD + p.net_notional;
    let cfg = DydxConfig::default();
    let l = liquidate_subaccount(std::slice::from_ref(&p), tnc, 1_000 * USD, &cfg).unwrap();
    assert_eq!(l.closes[0].method, "orderbook");
    assert!((l.closes[0].insurance_fund_delta + 150.0).abs() < 1e-9);
    assert_eq!(l.insurance_fund_after, Some(850.0));
    assert_eq!(l.net_collateral_after, 0.0);
    let l = liquidate_subaccount(&[p], tnc, 100 * USD, &cfg).unwrap();
    assert_eq!(l.closes[0].method, "deleveraging");
    assert_eq!(l.insurance_fund_after, Some(100.0));
    assert_eq!(l.closes[0].quote, 5_100.0);
}

/// The protocol's procedure written again from liquidations.go, in floating point: whole
/// positions in order while TNC < TMMR; fill at PNNV − ABR·SMMR·PMMR; bankruptcy
/// PNNV − TNC·PMMR/TMMR; fee min(0.5 %·|fill|, fill − bankruptcy) or the fund's payout.
fn dydx_reference(ps: &[(f64, f64, f64)], tnc: f64, fund: f64) -> Vec<(f64, f64, bool)> {
    let mut tmmr: f64 = ps.iter().map(|p| p.2).sum();
    let (mut tnc, mut fund) = (tnc, fund);
    let mut out = Vec::new();
    for &(_size, pnnv, pmmr) in ps {
        if !(tmmr > 0.0 && tnc < tmmr) {
            break;
        }
        let abr = (1.0 - tnc / tmmr).clamp(0.0, 1.0);
        let fill = pnnv - abr * 0.1 * pmmr;
        let bankruptcy = pnnv - tnc * pmmr / tmmr;
        let delta = fill - bankruptcy;
        let (quote, fund_delta, delev) = if delta < 0.0 && fund + delta < 0.0 {
            (bankruptcy, 0.0, true)
        } else if delta < 0.0 {
            (bankruptcy, delta, false)
        } else {
            let fee = (0.005 * fill.abs()).min(delta);
            (fill - fee, fee, false)
        };
        fund += fund_delta;
        tnc = tnc - pnnv + quote;
        tmmr -= pmmr;
        out.push((quote, fund_delta, delev));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn dydx_random_subaccounts_match_the_reference(
        legs in prop::collection::vec((-50i64..50, 1i64..200_000, 20u32..200), 1..4),
        balance in -400_000i64..400_000,
        fund in 0i64..5_000,
    ) {
        // Sizes in 0.01 units, prices in whole USD, maintenance 2–20 % (in ‰ of notional).
        let mut ps = Vec::new();
        for (i, &(s, px, mmr_bp)) in legs.iter().enumerate() {
            if s == 0 { continue; }
            let size = s as f64 / 100.0;
            let nn = s as i128 * px as i128 * 10_000; // size·price in quantums
            ps.push(DydxPosition {
                instrument: format!("P{i}"),
                size,
                net_notional: nn,
                maintenance: nn.abs() * mmr_bp as i128 / 1_000,
            });
        }
        prop_assume!(!ps.is_empty());
        let tnc = balance as i128 * USD + ps.iter().map(|p| p.net_notional).sum::<i128>();
        let got = liquidate_subaccount(&ps, tnc, fund as i128 * USD, &DydxConfig::default()).unwrap();
        let reference = dydx_reference(
            &ps.iter().map(|p| (p.size, p.net_notional as f64 / 1e6, p.maintenance as f64 / 1e6)).collect::<Vec<_>>(),
            tnc as f64 / 1e6,
            fund as f64,
        );
        prop_assert_eq!(got.closes.len(), reference.len());
        for (c, (quote, fund_delta, delev)) in got.closes.iter().zip(&reference) {
            // The protocol rounds to the quantum (1e-6) against the subaccount: within 2 quantums.
            prop_assert!((c.quote - quote).abs() <= 2e-6 + 1e-12 * quote.abs(), "{c:?} vs {quote}");
            prop_assert!((c.insurance_fund_delta - fund_delta).abs() <= 2e-6 + 1e-12 * quote.abs());
            prop_assert_eq!(c.method == "deleveraging", *delev);
        }
    }
}

// ---------------------------------------------------------------- Aave v3

const E18: u128 = 1_000_000_000_000_000_000;
const E8: u128 = 100_000_000;

fn weth(balance: u128) -> AaveReserve {
    AaveReserve {
        symbol: "WETH".into(),
        balance,
        price: 2_000 * E8,
        decimals: 18,
    }
}

fn usdc(balance_usd: u128) -> AaveReserve {
    AaveReserve {
        symbol: "USDC".into(),
        balance: balance_usd * 1_000_000,
        price: E8,
        decimals: 6,
    }
}

/// A user with only `coll` WETH supplied (LT 83 %) and `debt` USDC borrowed.
fn single_pair(coll: u128, debt_usd: u128, cover: u128) -> AaveCallInputs {
    let total_collateral_base = coll * 2_000 * E8 / E18;
    let total_debt_base = debt_usd * E8;
    // HF = Σ value·LT / debt, in wad (GenericLogic), LT 8300 bps.
    let hf = U::from(total_collateral_base) * U::from(8_300u32) * U::from(E18)
        / U::from(10_000u32)
        / U::from(total_debt_base);
    AaveCallInputs {
        total_collateral_base,
        total_debt_base,
        health_factor_wad: hf.try_into().unwrap(),
        collateral: weth(coll),
        debt: usdc(debt_usd),
        liquidation_bonus_bps: 10_500,
        protocol_fee_bps: 1_000,
        debt_to_cover: cover,
    }
}
type U = BigUint;

#[test]
fn aave_close_factor_is_half_of_the_total_debt_above_hf_095() {
    // 10 WETH @ 2,000 (LT 83 %), 17,000 USDC: HF 0.97647 > 0.95 and both legs ≥ 2,000 USD:
    // at most 50 % of the total debt (8,500 USDC). Seized: 8,500 / 2,000 × 1.05 = 4.4625 WETH;
    // bonus part 0.2125, 10 % of it (0.02125) to the treasury; the liquidator gets 4.44125.
    let c = liquidation_call(&single_pair(10 * E18, 17_000, u128::MAX)).unwrap();
    assert!(c.close_factor_applied);
    assert_eq!(c.debt_repaid, 8_500_000_000);
    assert_eq!(c.protocol_fee, 21_250_000_000_000_000);
    assert_eq!(c.collateral_to_liquidator, 4_441_250_000_000_000_000);
    assert_eq!(c.deficit, 0);
}

#[test]
fn aave_repays_all_at_or_below_hf_095() {
    // 18,000 USDC: HF 0.9222 ≤ 0.95 → the whole debt; 9 WETH × 1.05 = 9.45 seized, fee 0.045.
    let c = liquidation_call(&single_pair(10 * E18, 18_000, u128::MAX)).unwrap();
    assert!(!c.close_factor_applied);
    assert_eq!(c.debt_repaid, 18_000_000_000);
    assert_eq!(
        c.collateral_to_liquidator + c.protocol_fee,
        9_450_000_000_000_000_000
    );
    assert_eq!(c.protocol_fee, 45_000_000_000_000_000);
}

#[test]
fn aave_small_positions_are_closed_in_full_whatever_the_hf() {
    // 0.95 WETH (1,900 USD < 2,000) against 1,600 USDC: HF 0.9856 > 0.95, yet the whole debt.
    let c = liquidation_call(&single_pair(95 * E18 / 100, 1_600, u128::MAX)).unwrap();
    assert!(!c.close_factor_applied);
    assert_eq!(c.debt_repaid, 1_600_000_000);
}

#[test]
fn aave_caps_at_the_collateral_balance_and_burns_the_rest_as_deficit() {
    // 19,800 USDC against 10 WETH: 9.9 × 1.05 = 10.395 > 10, so all 10 WETH are seized and the
    // debt repaid is 20,000 / 1.05 = 19,047.619048 USDC (percentDiv half-up: (2e14 + 5,250) /
    // 10,500 = 19,047,619,048). No collateral is left: the remaining 752.380952 USDC is burnt
    // as a deficit. Fee: bonus part 10 − 9.523809523809523810 = 0.476190476190476190 WETH,
    // 10 % of it = 0.047619047619047619.
    let c = liquidation_call(&single_pair(10 * E18, 19_800, u128::MAX)).unwrap();
    assert_eq!(c.debt_repaid, 19_047_619_048);
    assert_eq!(c.deficit, 19_800_000_000 - 19_047_619_048);
    assert_eq!(c.protocol_fee, 47_619_047_619_047_619);
    assert_eq!(
        c.collateral_to_liquidator,
        10 * E18 - 47_619_047_619_047_619
    );
}

#[test]
fn aave_refuses_to_leave_dust_and_to_liquidate_a_healthy_user() {
    // Repaying 17,500 of 18,000 USDC leaves 500 USD of debt < 1,000: MUST_NOT_LEAVE_DUST.
    let e = liquidation_call(&single_pair(10 * E18, 18_000, 17_500_000_000)).unwrap_err();
    assert!(e.to_string().contains("MUST_NOT_LEAVE_DUST"), "{e}");
    // 16,000 USDC: HF 1.0375.
    let e = liquidation_call(&single_pair(10 * E18, 16_000, u128::MAX)).unwrap_err();
    assert!(
        e.to_string().contains("HEALTH_FACTOR_NOT_BELOW_THRESHOLD"),
        "{e}"
    );
}

/// `executeLiquidationCall`'s sizing written again from LiquidationLogic.sol and
/// PercentageMath.sol, on arbitrary-precision integers. `None` = the call reverts.
fn aave_reference(i: &AaveCallInputs) -> Option<(U, U, U)> {
    let pm = |v: &U, p: u128| (v * U::from(p) + U::from(5_000u32)) / U::from(10_000u32);
    let pd = |v: &U, p: u128| (v * U::from(10_000u32) + U::from(p / 2)) / U::from(p);
    let cu = U::from(10u32).pow(i.collateral.decimals as u32);
    let du = U::from(10u32).pow(i.debt.decimals as u32);
    let (cp, dp) = (U::from(i.collateral.price), U::from(i.debt.price));
    let (cb, db) = (U::from(i.collateral.balance), U::from(i.debt.balance));
    if i.health_factor_wad >= E18 {
        return None;
    }
    let debt_base = &db * &dp / &du;
    let coll_base = &cb * &cp / &cu;
    let threshold = U::from(2_000u32) * U::from(E8);
    let mut max = db.clone();
    if coll_base >= threshold && debt_base >= threshold && i.health_factor_wad > 95 * E18 / 100 {
        let half = pm(&U::from(i.total_debt_base), 5_000);
        if debt_base > half {
            max = half * &du / &dp;
        }
    }
    let mut debt = max.min(U::from(i.debt_to_cover));
    let base_coll = &dp * &debt * &cu / (&cp * &du);
    let max_coll = pm(&base_coll, i.liquidation_bonus_bps as u128);
    let mut coll = if max_coll > cb {
        debt = pd(
            &(&cp * &cb * &du / (&dp * &cu)),
            i.liquidation_bonus_bps as u128,
        );
        cb.clone()
    } else {
        max_coll
    };
    let mut fee = U::from(0u32);
    if i.protocol_fee_bps != 0 {
        let bonus = &coll - pd(&coll, i.liquidation_bonus_bps as u128);
        fee = pm(&bonus, i.protocol_fee_bps as u128);
        coll -= &fee;
    }
    if debt < db && &coll + &fee < cb {
        let left = U::from(1_000u32) * U::from(E8);
        if (&db - &debt) * &dp / &du < left || (&cb - &coll) * &cp / &cu < left {
            return None;
        }
    }
    Some((debt, coll, fee))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn aave_random_calls_match_the_reference(
        coll_units in 1u64..5_000_000,           // in 0.001 of a token
        coll_dec in prop::sample::select(vec![6u8, 8, 18]),
        coll_px in 1u64..10_000_000,             // in 0.01 USD
        debt_units in 1u64..5_000_000,
        debt_dec in prop::sample::select(vec![6u8, 8, 18]),
        debt_px in 1u64..10_000_000,
        other_debt in 0u64..3_000_000,           // USD of debt in other reserves
        other_coll in 0u64..3_000_000,
        bonus in 10_000u32..11_500,
        fee in 0u32..=10_000,
        hf_milli in 0u64..1_000,
        cover_frac in prop::option::of(1u64..1_000),
    ) {
        let scale = |units: u64, dec: u8| units as u128 * 10u128.pow(dec as u32) / 1_000;
        let collateral = AaveReserve { symbol: "C".into(), balance: scale(coll_units, coll_dec).max(1), price: coll_px as u128 * E8 / 100, decimals: coll_dec };
        let debt = AaveReserve { symbol: "D".into(), balance: scale(debt_units, debt_dec).max(1), price: debt_px as u128 * E8 / 100, decimals: debt_dec };
        let in_base = |r: &AaveReserve| r.balance * r.price / 10u128.pow(r.decimals as u32);
        let cover = match cover_frac { Some(f) => debt.balance * f as u128 / 1_000, None => u128::MAX };
        let i = AaveCallInputs {
            total_collateral_base: in_base(&collateral) + other_coll as u128 * E8,
            total_debt_base: in_base(&debt) + other_debt as u128 * E8,
            health_factor_wad: hf_milli as u128 * E18 / 1_000,
            collateral,
            debt,
            liquidation_bonus_bps: bonus,
            protocol_fee_bps: fee,
            debt_to_cover: cover,
        };
        let got = liquidation_call(&i);
        match aave_reference(&i) {
            None => prop_assert!(got.is_err(), "{got:?}"),
            Some((d, c, f)) => {
                let got = got.unwrap();
                prop_assert_eq!(U::from(got.debt_repaid), d);
                prop_assert_eq!(U::from(got.collateral_to_liquidator), c);
                prop_assert_eq!(U::from(got.protocol_fee), f);
            }
        }
    }
}

// ---------------------------------------------------------------- Hyperliquid

fn flat() -> ImpactParams {
    ImpactParams {
        k: 0.01,
        alpha: 1.0,
        depth: 1_000_000.0,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn hyperliquid_random_pools_follow_the_documented_steps(
        size in -100.0f64..100.0,
        mark in 100.0f64..100_000.0,
        mm_rate in 0.005f64..0.2,
        equity_frac in -0.2f64..1.5,
    ) {
        prop_assume!(size.abs() > 1e-6);
        // The docs' procedure, written here: liquidatable when equity < MM; below 2/3·MM the
        // backstop takes the pool; else market orders, 20 % of a position above 100,000 USDC,
        // whole otherwise; a partial step is followed (if still short) by whole orders.
        let rules = RuleBook::bundled().unwrap();
        let notional = size.abs() * mark;
        let mm = notional * mm_rate;
        let equity = mm * equity_frac;
        let imp = flat();
        let p = HlPosition { instrument: "hyperliquid:X".into(), size, mark, maintenance: mm, impact: imp };
        let got = liquidate_pool(equity, &[p], rules.get(Venue::Hyperliquid)).unwrap();
        prop_assert_eq!(got.liquidatable, equity < mm);
        if equity >= mm {
            prop_assert!(got.steps.is_empty());
            return Ok(());
        }
        if equity < 2.0 / 3.0 * mm {
            prop_assert_eq!(got.steps.len(), 1);
            prop_assert_eq!(got.steps[0].method.as_str(), "backstop");
            return Ok(());
        }
        let slip = |n: f64| n * 0.01 * n / 1_000_000.0; // linear impact: cost = n·k·n/depth
        if notional > 100_000.0 {
            let first = &got.steps[0];
            prop_assert!((first.orders[0].size - 0.2 * size.abs()).abs() < 1e-9 * size.abs());
            prop_assert_eq!(got.cooldown_ms, Some(30_000));
            let e1 = equity - slip(0.2 * notional);
            prop_assert!((first.equity_after - e1).abs() < 1e-6 * notional);
            let mm1 = 0.8 * mm;
            if e1 >= mm1 {
                prop_assert_eq!(got.steps.len(), 1);
            } else if e1 < 2.0 / 3.0 * mm1 {
                prop_assert_eq!(got.steps[1].method.as_str(), "backstop");
            } else {
                prop_assert!((got.steps[1].orders[0].size - 0.8 * size.abs()).abs() < 1e-9 * size.abs());
            }
        } else {
            prop_assert_eq!(got.steps.len(), 1);
            prop_assert!((got.steps[0].orders[0].size - size.abs()).abs() < 1e-12 * size.abs());
            let e1 = equity - slip(notional);
            prop_assert!((got.auto_deleveraged - (-e1).max(0.0)).abs() < 1e-6 * notional);
        }
    }
}

//! Aave v3 isolation mode, debt ceilings and the v3.0–v3.1 e-mode `priceSource`.
//!
//! Protocol sources (aave/aave-v3-core): `UserConfiguration.getIsolationModeState` (isolated
//! when the only collateral has a debt ceiling), `ValidationLogic.validateBorrow` (only
//! `borrowableInIsolation` assets, `isolationModeTotalDebt + amount / 10^(decimals − 2) ≤
//! ceiling`), `IsolationModeLogic.updateIsolatedDebtIfIsolated` (repayment floored at zero),
//! `GenericLogic.calculateUserAccountData` (no isolation branch; e-mode price source replaces
//! the oracle price of the category's reserves). Numbers from `test-suites/isolation-mode.spec.ts`
//! are ported with the test they come from; the rest are hand calculations written out.
mod venue_support;

use intermargin_margin::venues::aave::{
    isolated_borrow, isolated_debt_units, isolated_repay, AaveV3, IsolationRefusal,
};
use intermargin_margin::MarginModel;
use intermargin_model::{Market, Venue};
use proptest::prelude::*;
use serde_json::json;
use venue_support::*;

const E18: u128 = 1_000_000_000_000_000_000;

/// isolation-mode.spec.ts: AAVE has debt ceiling "10000" (100.00 USD); DAI and USDC are
/// borrowable in isolation, WETH is not.
#[test]
fn isolation_mode_spec_debt_ceiling_cases() {
    let ceiling = 10_000u128;
    // "User 1 tries to borrow ETH (revert expected)": ASSET_NOT_BORROWABLE_IN_ISOLATION.
    assert_eq!(
        isolated_borrow(false, E18 / 100, 18, 0, ceiling),
        Err(IsolationRefusal::NotBorrowableInIsolation)
    );
    // "User 1 borrows 10 DAI. Check debt ceiling": isolationModeTotalDebt = 1000.
    let t1 = isolated_borrow(true, 10 * E18, 18, 0, ceiling).unwrap();
    assert_eq!(t1, 1000);
    // "User 3 deposits 100 AAVE, borrows 10 DAI": 2000.
    let t2 = isolated_borrow(true, 10 * E18, 18, t1, ceiling).unwrap();
    assert_eq!(t2, 2000);
    // "User 4 deposits 500 AAVE, tries to borrow past the debt ceiling": 100 DAI → 12,000 >
    // 10,000, DEBT_CEILING_EXCEEDED (whatever the collateral).
    assert_eq!(
        isolated_borrow(true, 100 * E18, 18, t2, ceiling),
        Err(IsolationRefusal::DebtCeilingExceeded {
            would_be: 12_000,
            ceiling
        })
    );
    // "Push time forward one year. User 1, User 3 repay debt. Ensure debt ceiling is 0": each
    // repays 10 DAI plus a year's interest (any amount > 10 DAI), so the second repayment
    // exceeds what is left and the total floors at 0.
    let with_interest = 10 * E18 + E18 / 3;
    let after_first = isolated_repay(t2, with_interest, 18);
    assert_eq!(after_first, 2000 - 1033);
    assert_eq!(isolated_repay(after_first, with_interest, 18), 0);
    // "Perform liquidation of isolation mode asset": borrow 50 DAI, liquidate half:
    // expected = before − 25e18 / 1e16 = before − 2500.
    let before = isolated_borrow(true, 50 * E18, 18, 0, ceiling).unwrap();
    assert_eq!(before, 5000);
    assert_eq!(isolated_repay(before, 25 * E18, 18), before - 2500);
    // Six-decimal USDC counts the same cents; below a cent is truncated.
    assert_eq!(isolated_debt_units(12_345_678, 6), 1234);
}

fn isolated_market(aave_price: f64, ceiling: f64, total: f64) -> Market {
    let mut m = market();
    m.index_prices.insert("aave:AAVE".into(), aave_price);
    m.index_prices.insert("aave:USDC".into(), 1.0);
    m.index_prices.insert("aave:WETH".into(), 2_000.0);
    m.venue_params.insert(
        "aave:AAVE".into(),
        json!({"ltv": 0.66, "liquidation_threshold": 0.73, "debt_ceiling": ceiling,
               "isolation_mode_total_debt": total}),
    );
    m.venue_params.insert(
        "aave:USDC".into(),
        json!({"ltv": 0.77, "liquidation_threshold": 0.80, "borrowable_in_isolation": true}),
    );
    m.venue_params.insert(
        "aave:WETH".into(),
        json!({"ltv": 0.80, "liquidation_threshold": 0.825}),
    );
    m
}

fn aave_assets() -> Vec<intermargin_model::Asset> {
    let mut a = assets();
    a.push(intermargin_model::Asset::new("AAVE", 18));
    a
}

/// 100 AAVE at 100 USD as the only collateral (LTV 66 %, LT 73 %), 1,000 USDC borrowed,
/// ceiling 2,500 USD of which 2,200 is used (this user's 1,000 among them).
/// Borrowing power 6,600 → 5,600 free, but the ceiling leaves 300: available 300.
/// Mapping: equity 10,000 − 1,000 = 9,000; initial = max(10,000 × 34 %, 9,000 − 300) = 8,700
/// (equity − initial = 300); maintenance 10,000 × 27 % = 2,700; HF 7,300 / 1,000 = 7.3.
#[test]
fn isolated_user_borrows_no_more_than_the_ceiling_leaves() {
    let m = isolated_market(100.0, 2_500.0, 2_200.0);
    let acc = account(
        vec![
            coll(Venue::Aave, "AAVE", 100.0, 18),
            coll(Venue::Aave, "USDC", -1_000.0, 6),
        ],
        vec![],
    );
    let model = AaveV3::new().unwrap();
    let st = model.account_state(&acc, &aave_assets(), &m).unwrap();
    let iso = st.isolation.as_ref().expect("isolation mode");
    assert_eq!(iso.asset, "AAVE");
    close(iso.headroom(), 300.0, 1e-9, "headroom");
    close(st.available_borrows(), 300.0, 1e-9, "available");
    close(st.health_factor(), 7.3, 1e-12, "HF");
    let v = &model.margin(&acc, &aave_assets(), &m).unwrap()[0];
    close(v.equity, 9_000.0, 1e-9, "equity");
    close(v.initial_margin, 8_700.0, 1e-9, "IM");
    close(v.maintenance_margin, 2_700.0, 1e-9, "MM");
    // A ceiling with room to spare binds nothing: IM back to 10,000 × 34 % = 3,400.
    let m = isolated_market(100.0, 1_000_000.0, 2_200.0);
    let v = &model.margin(&acc, &aave_assets(), &m).unwrap()[0];
    close(v.initial_margin, 3_400.0, 1e-9, "IM, loose ceiling");
    // A ceiling already passed (lowered by governance) leaves nothing: equity − IM = 0.
    let m = isolated_market(100.0, 2_000.0, 2_200.0);
    let v = &model.margin(&acc, &aave_assets(), &m).unwrap()[0];
    close(v.equity - v.initial_margin, 0.0, 1e-9, "no headroom");
}

/// An isolated asset beside other collateral (a ceiling set on an asset already used with
/// others): `getIsolationModeState` is false, `GenericLogic` counts both as usual.
/// 100 AAVE × 100 (LT 73 %, LTV 66 %) + 5 WETH × 2,000 (LT 82.5 %, LTV 80 %), 1,000 USDC debt:
/// avg LT = (10,000 × 7300 + 10,000 × 8250) / 20,000 = 7775 bps; HF = 20,000 × 0.7775 / 1,000
/// = 15.55; avg LTV 7300 bps → borrowing power 14,600, available 13,600 (the 300 of headroom
/// does not apply).
#[test]
fn isolated_asset_beside_other_collateral_counts_as_usual() {
    let m = isolated_market(100.0, 2_500.0, 2_200.0);
    let acc = account(
        vec![
            coll(Venue::Aave, "AAVE", 100.0, 18),
            coll(Venue::Aave, "WETH", 5.0, 18),
            coll(Venue::Aave, "USDC", -1_000.0, 6),
        ],
        vec![],
    );
    let st = AaveV3::new()
        .unwrap()
        .account_state(&acc, &aave_assets(), &m)
        .unwrap();
    assert!(st.isolation.is_none());
    close(st.health_factor(), 15.55, 1e-12, "HF");
    close(st.available_borrows(), 13_600.0, 1e-9, "available");
}

/// An isolated asset supplied but switched off as collateral is not "the only collateral".
#[test]
fn isolated_asset_not_used_as_collateral_does_not_isolate() {
    let mut m = isolated_market(100.0, 2_500.0, 2_200.0);
    m.venue_params.insert(
        "aave:user-reserve:AAVE".into(),
        json!({"collateral_disabled": true}),
    );
    let acc = account(
        vec![
            coll(Venue::Aave, "AAVE", 100.0, 18),
            coll(Venue::Aave, "WETH", 5.0, 18),
        ],
        vec![],
    );
    let st = AaveV3::new()
        .unwrap()
        .account_state(&acc, &aave_assets(), &m)
        .unwrap();
    assert!(st.isolation.is_none());
    close(st.borrowing_power(), 8_000.0, 1e-9, "WETH alone");
}

/// v3.0–v3.1 e-mode price source: category 1 (stablecoins, LTV 97 %, LT 97.5 %) priced by a
/// source at 1.00, while the oracle has USDC 1.0002 and DAI 0.9990. A user in category 1 with
/// 10,000 USDC supplied and 9,000 DAI borrowed: both at 1.00 → HF = 10,000 × 0.975 / 9,000 =
/// 1.083333…; at the oracle prices it would be 10,002 × 0.975 / 8,991 = 1.084651….
/// The same user outside e-mode (no category) uses the oracle prices.
#[test]
fn emode_price_source_replaces_the_oracle_price_of_the_category() {
    let mut m = market();
    m.index_prices.insert("aave:USDC".into(), 1.0002);
    m.index_prices.insert("aave:DAI".into(), 0.9990);
    m.venue_params.insert(
        "aave:USDC".into(),
        json!({"ltv": 0.77, "liquidation_threshold": 0.80, "emode_category": 1}),
    );
    m.venue_params.insert(
        "aave:DAI".into(),
        json!({"ltv": 0.63, "liquidation_threshold": 0.77, "emode_category": 1}),
    );
    m.venue_params.insert(
        "aave".into(),
        json!({"emode_categories": {"1": {"ltv": 0.97, "liquidation_threshold": 0.975,
            "liquidation_bonus": 0.01, "label": "Stablecoins", "price_usd": 1.0}}}),
    );
    m.venue_params
        .insert("aave:user:acct".into(), json!({"emode_category": 1}));
    let mut a = assets();
    a.push(intermargin_model::Asset::new("DAI", 18));
    let acc = account(
        vec![
            coll(Venue::Aave, "USDC", 10_000.0, 6),
            coll(Venue::Aave, "DAI", -9_000.0, 18),
        ],
        vec![],
    );
    let st = AaveV3::new().unwrap().account_state(&acc, &a, &m).unwrap();
    close(
        st.health_factor(),
        10_000.0 * 0.975 / 9_000.0,
        1e-12,
        "HF at the source price",
    );
    m.venue_params.remove("aave:user:acct");
    let st = AaveV3::new().unwrap().account_state(&acc, &a, &m).unwrap();
    close(
        st.health_factor(),
        10_002.0 * 0.80 / 8_991.0,
        1e-12,
        "HF outside e-mode at the oracle prices",
    );
}

#[test]
fn bad_isolation_parameters_are_refused_with_their_path() {
    let acc = account(
        vec![
            coll(Venue::Aave, "AAVE", 100.0, 18),
            coll(Venue::Aave, "USDC", -1_000.0, 6),
        ],
        vec![],
    );
    let model = AaveV3::new().unwrap();
    let m = isolated_market(100.0, -5.0, 0.0);
    let e = model
        .margin(&acc, &aave_assets(), &m)
        .unwrap_err()
        .to_string();
    assert!(e.contains("aave:AAVE") && e.contains("debt_ceiling"), "{e}");
    let mut m = isolated_market(100.0, 2_500.0, 0.0);
    m.venue_params.insert(
        "aave:AAVE".into(),
        json!({"ltv": 0.66, "liquidation_threshold": 0.73, "debt_ceiling": 2500.0}),
    );
    let e = model
        .margin(&acc, &aave_assets(), &m)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("isolation_mode_total_debt") && e.contains("missing"),
        "{e}"
    );
    let m = isolated_market(100.0, 2_500.0, -1.0);
    let e = model
        .margin(&acc, &aave_assets(), &m)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("isolation_mode_total_debt") && e.contains("negative"),
        "{e}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Random isolated accounts against a calculator written from ValidationLogic /
    /// GenericLogic: available = min(C·LTV − D, ceiling − total), floored at 0; HF = C·LT / D;
    /// the VenueMargin mapping keeps equity − initial = available and equity ≤ maintenance
    /// ⇔ HF ≤ 1.
    #[test]
    fn random_isolated_accounts(
        units in 1.0f64..10_000.0,
        price in 1.0f64..500.0,
        debt in 0.0f64..200_000.0,
        ceiling_cents in 1u64..100_000_000,
        used_frac in 0.0f64..1.5,
    ) {
        let ceiling = ceiling_cents as f64 / 100.0;
        let total = (ceiling * used_frac * 100.0).round() / 100.0;
        let m = isolated_market(price, ceiling, total);
        let debt = (debt * 1e6).round() / 1e6;
        let acc = account(
            vec![coll(Venue::Aave, "AAVE", units, 18), coll(Venue::Aave, "USDC", -debt, 6)],
            vec![],
        );
        let model = AaveV3::new().unwrap();
        let st = model.account_state(&acc, &aave_assets(), &m).unwrap();
        let held = (units * 1e18).round() / 1e18;
        let c = held * price;
        let want_available = (c * 0.66 - debt).max(0.0).min((ceiling - total).max(0.0));
        let tol = 1e-9 * c.max(debt).max(1.0);
        prop_assert!((st.available_borrows() - want_available).abs() <= tol,
            "available {} want {}", st.available_borrows(), want_available);
        if debt > 0.0 {
            let hf = c * 0.73 / debt;
            prop_assert!((st.health_factor() - hf).abs() <= 1e-9 * hf.max(1.0));
        }
        let v = &model.margin(&acc, &aave_assets(), &m).unwrap()[0];
        let free = v.equity - v.initial_margin;
        let want_free = (c * 0.66 - debt).min((ceiling - total).max(0.0));
        prop_assert!((free - want_free).abs() <= tol, "free {free} want {want_free}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Random isolated borrows and repayments against ValidationLogic.validateBorrow and
    /// IsolationModeLogic.updateIsolatedDebtIfIsolated written out here (aave-v3-core):
    /// `require(borrowableInIsolation)`, `require(total + amount / 10 ** (decimals − 2) ≤
    /// ceiling)`, and on repayment `total ≤ repaid' ? 0 : total − repaid'` with
    /// `repaid' = repayAmount / 10 ** (decimals − 2)`.
    #[test]
    fn random_isolated_borrows_and_repayments(
        borrowable in prop::bool::weighted(0.9),
        decimals in 2u32..=18,
        amount in 0u128..1_000_000_000_000_000_000_000_000,
        total in 0u128..2_000_000_000,
        ceiling in 0u128..2_000_000_000,
        repay in 0u128..1_000_000_000_000_000_000_000_000,
    ) {
        let mut scale = 1u128;
        for _ in 2..decimals {
            scale *= 10;
        }
        let units = amount / scale;
        let want = if !borrowable {
            Err(IsolationRefusal::NotBorrowableInIsolation)
        } else if total + units > ceiling {
            Err(IsolationRefusal::DebtCeilingExceeded { would_be: total + units, ceiling })
        } else {
            Ok(total + units)
        };
        prop_assert_eq!(isolated_borrow(borrowable, amount, decimals, total, ceiling), want);
        let repaid = repay / scale;
        // Written as the Solidity reads (`isolationModeTotalDebt <= isolatedDebtRepaid ? 0 : …`).
        #[allow(clippy::implicit_saturating_sub)]
        let after = if total <= repaid { 0 } else { total - repaid };
        prop_assert_eq!(isolated_repay(total, repay, decimals), after);
    }
}

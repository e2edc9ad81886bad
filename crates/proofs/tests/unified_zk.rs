//! The unified-model margin proof end to end on the hedged example book (Deribit inverse call,
//! Binance linear perpetual, OKX inverse swap, Aave deposit): accepted books prove and verify,
//! a book short at one segregated venue cannot be proved, and the circuit's requirement is at
//! least the unified model's on random books.

use ark_bn254::Fr;
use ark_relations::r1cs::{ConstraintSynthesizer, ConstraintSystem};
use intermargin_margin::portfolio::{UnifiedMargin, UnifiedModel, UnifiedParams, VenueKind};
use intermargin_model::{Account, Amount, Snapshot, Venue};
use intermargin_proofs::zk::groth;
use intermargin_proofs::zk::unified::{
    self, export_unified, UnifiedCircuit, UnifiedExportOptions, UnifiedRule,
};
use intermargin_proofs::ProofError;
use proptest::prelude::*;
use rand::SeedableRng;

fn snapshot() -> Snapshot {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/hedged-book/snapshot.json"
    );
    Snapshot::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn model() -> UnifiedModel {
    UnifiedModel::new(UnifiedParams::bundled().unwrap())
}

fn opts() -> UnifiedExportOptions {
    UnifiedExportOptions::for_asset("USD")
}

/// Collateral base units × 10^loss_scale → USD (collateral USD, 6 decimals, loss_scale 6).
fn usd(x: i128) -> f64 {
    x as f64 / 1e12
}

/// The model accepts: every segregated venue holds its floor and the total covers the requirement.
fn accepted(m: &UnifiedMargin) -> bool {
    let held: f64 = m.venues.iter().map(|v| v.held).sum();
    m.venues.iter().all(|v| v.floor_shortfall <= 0.0) && held >= m.initial_margin
}

fn set_collateral(acct: &mut Account, venue: Venue, asset: &str, amount: i128) {
    acct.collateral
        .retain(|c| !(c.venue == venue && c.asset == asset));
    acct.collateral.push(intermargin_model::Collateral {
        venue,
        asset: asset.into(),
        amount: Amount(amount),
        sub_account: None,
        chain_id: None,
    });
}

fn satisfied(rule: &UnifiedRule, circuit: UnifiedCircuit<'_>) -> bool {
    let _ = rule;
    let cs = ConstraintSystem::<Fr>::new_ref();
    circuit.generate_constraints(cs.clone()).unwrap();
    cs.is_satisfied().unwrap()
}

#[test]
fn accepted_book_proves_and_verifies_and_a_book_short_at_one_venue_cannot() {
    let snap = snapshot();
    let mdl = model();
    let assets = &snap.portfolio.assets;
    let market = &snap.market;
    // The example with 4x its collateral: the model accepts it.
    let mut acct = snap.portfolio.accounts[0].clone();
    for c in &mut acct.collateral {
        c.amount = Amount(c.amount.0 * 4);
    }
    let m = mdl.margin(&acct, assets, market).unwrap();
    assert!(accepted(&m), "{m:#?}");
    let (rule, book) = export_unified(&mdl, &acct, assets, market, &opts(), "test".into()).unwrap();
    let (q, salt) = book.resolve(&rule).unwrap();
    let e = rule.check_book(&q).unwrap();
    assert!(usd(e.requirement()) >= m.initial_margin);
    assert!(satisfied(
        &rule,
        UnifiedCircuit::new(&rule, q.clone(), salt)
    ));
    let count = groth::constraint_count(&rule).unwrap();
    eprintln!(
        "unified rule: {} legs, {} venues, {} groups x {} scenarios, {count} constraints",
        rule.legs.len(),
        rule.venues.len(),
        rule.groups.len(),
        rule.scenarios.len()
    );
    assert!(count < 40_000, "{count}");

    // Full Groth16 round trip once.
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(14);
    let keys = groth::setup(&rule, &mut rng).unwrap();
    let proof = unified::prove(&rule, &keys.pk, &book, &mut rng).unwrap();
    groth::verify(&rule, &keys.vk, &proof).unwrap();
    // A tampered threshold or another rule is rejected.
    let mut other = rule.clone();
    other.threshold += 1;
    assert!(groth::verify(&other, &keys.vk, &proof).is_err());
    let mut other = rule.clone();
    other.legs[0].add_on += 1;
    assert!(groth::verify(&other, &keys.vk, &proof).is_err());

    // Short at Binance: USDT there at half the model's floor, the pool made ample with USDC at Aave.
    let binance_floor = m
        .venues
        .iter()
        .find(|v| v.venue == Venue::Binance)
        .unwrap()
        .local_minimum;
    assert!(binance_floor > 0.0);
    let mut short = acct.clone();
    set_collateral(
        &mut short,
        Venue::Binance,
        "USDT",
        (binance_floor * 0.5 * 1e6) as i128,
    );
    set_collateral(&mut short, Venue::Aave, "USDC", 50_000_000 * 1_000_000);
    let ms = mdl.margin(&short, assets, market).unwrap();
    let held: f64 = ms.venues.iter().map(|v| v.held).sum();
    // (The USDC added carries its own depeg charge, so the requirement grows with it.)
    assert!(
        held > 2.0 * ms.initial_margin,
        "pool ample: held {held}, requirement {}",
        ms.initial_margin
    );
    assert!(
        !accepted(&ms),
        "the model itself refuses: Binance is under its floor"
    );
    let (srule, sbook) =
        export_unified(&mdl, &short, assets, market, &opts(), "short".into()).unwrap();
    let (sq, ssalt) = sbook.resolve(&srule).unwrap();
    let err = srule.check_book(&sq).unwrap_err();
    assert!(
        matches!(&err, ProofError::Unmet { what, .. } if what.contains("binance")),
        "{err}"
    );
    let skeys = groth::setup(&srule, &mut rng);
    // The prover refuses before any proving work.
    let refused = unified::prove(&srule, &skeys.unwrap().pk, &sbook, &mut rng).unwrap_err();
    assert!(refused
        .to_string()
        .contains("local floor at segregated venue binance"));
    // The honest witness does not satisfy the circuit...
    assert!(!satisfied(
        &srule,
        UnifiedCircuit::new(&srule, sq.clone(), ssalt)
    ));
    // ...nor one that claims more USDT at Binance under the committed book's commitment.
    let b = srule
        .legs
        .iter()
        .position(|l| l.id == "binance:USDT collateral")
        .unwrap();
    let mut forged = sq.clone();
    forged[b] *= 3;
    let mut c = UnifiedCircuit::new(&srule, forged.clone(), ssalt);
    assert!(
        srule.check_book(&forged).is_ok(),
        "the forged book would pass"
    );
    c.commitment = unified::commitment_of(&sq, ssalt);
    assert!(!satisfied(&srule, c));
}

/// The model's figures and the circuit's on one random book.
fn compare(sizes: [f64; 3], coll: [f64; 4]) -> std::result::Result<(), TestCaseError> {
    let snap = snapshot();
    let mdl = model();
    let assets = &snap.portfolio.assets;
    let market = &snap.market;
    let mut acct = snap.portfolio.accounts[0].clone();
    for (p, s) in acct.positions.iter_mut().zip(sizes) {
        p.size = s;
    }
    acct.positions.retain(|p| p.size != 0.0);
    acct.collateral.clear();
    set_collateral(&mut acct, Venue::Deribit, "BTC", (coll[0] * 1e8) as i128);
    set_collateral(&mut acct, Venue::Binance, "USDT", (coll[1] * 1e6) as i128);
    set_collateral(&mut acct, Venue::Okx, "BTC", (coll[2] * 1e8) as i128);
    set_collateral(&mut acct, Venue::Aave, "USDC", (coll[3] * 1e6) as i128);
    acct.collateral.retain(|c| c.amount.0 != 0);
    if acct.positions.is_empty() && acct.collateral.is_empty() {
        return Ok(());
    }
    let m = mdl.margin(&acct, assets, market).unwrap();
    let (rule, book) =
        export_unified(&mdl, &acct, assets, market, &opts(), "random".into()).unwrap();
    let (q, _) = book.resolve(&rule).unwrap();
    let e = rule.evaluate(&q).unwrap();
    let tol = 1e-6 * m.initial_margin.abs().max(1.0);
    prop_assert!(
        usd(e.requirement()) >= m.initial_margin - tol,
        "circuit {} < model {}",
        usd(e.requirement()),
        m.initial_margin
    );
    for (j, v) in rule.venues.iter().enumerate() {
        let mv = m
            .venues
            .iter()
            .find(|x| x.venue.as_str() == v.venue)
            .unwrap();
        if v.kind == VenueKind::Segregated {
            prop_assert!(
                usd(e.floor[j]) >= mv.local_minimum - 1e-6 * mv.local_minimum.max(1.0),
                "{}: floor {} < model {}",
                v.venue,
                usd(e.floor[j]),
                mv.local_minimum
            );
        }
        // Collateral is never overstated.
        prop_assert!(usd(e.held[j]) <= mv.held + 1e-6 * mv.held.max(1.0));
    }
    // Whenever the circuit accepts, the model accepts.
    if rule.check_book(&q).is_ok() {
        prop_assert!(
            accepted(&m),
            "circuit accepts a book the model refuses: {m:#?}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn bound_covers_the_unified_model_on_random_books(
        call in -300i32..300,
        perp in -200i32..200,
        swap in -8000i32..8000,
        d_btc in 0u32..60,
        b_usdt in 0u32..3_000,
        o_btc in 0u32..40,
        a_usdc in 0u32..2_000,
    ) {
        compare(
            [call as f64 / 10.0, perp as f64 / 10.0, swap as f64],
            [d_btc as f64 / 10.0, b_usdt as f64 * 1000.0, o_btc as f64 / 10.0, a_usdc as f64 * 1000.0],
        )?;
    }
}

#[test]
fn hand_example_of_the_bound_on_the_hedged_book() {
    // The unmodified example: the circuit's figures against the model's, printed for the notes.
    let snap = snapshot();
    compare([16.0, -8.5, -4000.0], [3.0, 100_000.0, 2.0, 200_000.0]).unwrap();
    let mdl = model();
    let acct = &snap.portfolio.accounts[0];
    let m = mdl
        .margin(acct, &snap.portfolio.assets, &snap.market)
        .unwrap();
    let (rule, book) = export_unified(
        &mdl,
        acct,
        &snap.portfolio.assets,
        &snap.market,
        &opts(),
        "x".into(),
    )
    .unwrap();
    let (q, _) = book.resolve(&rule).unwrap();
    let e = rule.evaluate(&q).unwrap();
    eprintln!(
        "hedged book: model IM {:.2} (floors {:.2}), circuit requirement {:.2} (floors {:.2}, scan {:.2}, add-ons {:.2})",
        m.initial_margin,
        m.local_minimum_total,
        usd(e.requirement()),
        usd(e.floor.iter().sum()),
        usd(e.worst.iter().sum()),
        usd(e.add_on)
    );
}

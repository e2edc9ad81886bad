//! Merkle-sum tree: inclusion proofs hold for every user and fail when anything is altered.

use intermargin_proofs::solvency::{verify_inclusion, Ledger, SumTree};
use intermargin_proofs::ProofError;

const CSV: &str = "user,BTC,USDC\nalice,5,100\nbob,0,250\ncarol,7,0\n";

fn tree() -> SumTree {
    SumTree::build(Ledger::from_csv(CSV.as_bytes()).unwrap(), [9u8; 32]).unwrap()
}

#[test]
fn root_commits_to_hand_summed_liabilities_and_every_user_verifies() {
    let t = tree();
    let root = t.root();
    // BTC: 5 + 0 + 7 = 12; USDC: 100 + 250 + 0 = 350.
    assert_eq!(root.liabilities, vec![12, 350]);
    assert_eq!(root.depth, 2); // 3 users padded to 4 leaves
    for u in 0..t.len() {
        verify_inclusion(&root, &t.proof(u)).unwrap();
    }
}

#[test]
fn tampered_leaf_fails() {
    let t = tree();
    let root = t.root();
    let mut p = t.proof(0);
    p.balances[0] -= 1; // alice claims 4 BTC
    assert!(matches!(
        verify_inclusion(&root, &p),
        Err(ProofError::Rejected(_))
    ));
    let mut p = t.proof(0);
    p.user = "mallory".into();
    assert!(verify_inclusion(&root, &p).is_err());
}

#[test]
fn wrong_sibling_fails() {
    let t = tree();
    let root = t.root();
    let mut p = t.proof(1);
    p.path[0].sums[1] ^= 1; // sibling liability altered by one unit
    assert!(verify_inclusion(&root, &p).is_err());
    let mut p = t.proof(1);
    p.path[1].hash = t.proof(2).path[0].hash;
    assert!(verify_inclusion(&root, &p).is_err());
    let mut p = t.proof(1);
    p.leaf_index ^= 1; // claim the other side
    assert!(verify_inclusion(&root, &p).is_err());
    let mut p = t.proof(1);
    p.path.pop();
    assert!(verify_inclusion(&root, &p).is_err());
}

#[test]
fn negative_balance_is_rejected_in_csv_and_in_a_proof_file() {
    let e = Ledger::from_csv("user,BTC\nalice,-5\n".as_bytes()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "row 2 (user alice), column BTC: negative balance -5"
    );
    let t = tree();
    let mut v = serde_json::to_value(t.proof(0)).unwrap();
    v["balances"][0] = serde_json::json!(-5);
    let e = intermargin_proofs::json::from_str::<intermargin_proofs::InclusionProof>(
        &v.to_string(),
        "proof",
    )
    .unwrap_err();
    assert!(e.to_string().contains("balances[0]"), "{e}");
}

#[test]
fn overflow_is_rejected() {
    // Above the u64 bound in the CSV.
    let e = Ledger::from_csv("user,BTC\nalice,18446744073709551616\n".as_bytes()).unwrap_err();
    assert!(e.to_string().contains("exceeds the bound"), "{e}");
    // A forged sibling sum that would wrap u128.
    let t = tree();
    let root = t.root();
    let mut p = t.proof(0);
    p.path[0].sums[0] = u128::MAX;
    assert!(matches!(
        verify_inclusion(&root, &p),
        Err(ProofError::Overflow { .. })
    ));
}

#[test]
fn bad_csv_names_the_field() {
    let e = Ledger::from_csv("name,BTC\na,1\n".as_bytes()).unwrap_err();
    assert!(e.to_string().starts_with("header"), "{e}");
    let e = Ledger::from_csv("user,BTC\na,1\na,2\n".as_bytes()).unwrap_err();
    assert!(e.to_string().contains("duplicate user"), "{e}");
    let e = Ledger::from_csv("user,BTC\n../x,1\n".as_bytes()).unwrap_err();
    assert!(e.to_string().starts_with("row 2, column user"), "{e}");
    let e = Ledger::from_csv("user,BTC\na,1.5\n".as_bytes()).unwrap_err();
    assert!(e.to_string().contains("column BTC"), "{e}");
}

#[test]
fn reserves_are_compared_with_liabilities() {
    let root = tree().root();
    let ok = root
        .clone()
        .with_reserves([("BTC".into(), 12), ("USDC".into(), 400)].into())
        .unwrap();
    assert!(ok.reserves.unwrap().solvent);
    let short = root
        .clone()
        .with_reserves([("BTC".into(), 11), ("USDC".into(), 400)].into())
        .unwrap();
    let r = short.reserves.unwrap();
    assert!(!r.solvent);
    assert_eq!(r.shortfalls, vec!["BTC".to_string()]);
    assert!(root.with_reserves([("BTC".into(), 11)].into()).is_err());
}

#[test]
fn single_user_and_power_of_two_sizes_work() {
    for n in [1usize, 2, 4, 5, 17] {
        let mut csv = String::from("user,ETH\n");
        let mut total = 0u128;
        for i in 0..n {
            csv.push_str(&format!("u{i},{}\n", i * 3 + 1));
            total += (i * 3 + 1) as u128;
        }
        let t = SumTree::build(Ledger::from_csv(csv.as_bytes()).unwrap(), [1u8; 32]).unwrap();
        let root = t.root();
        assert_eq!(root.liabilities, vec![total]);
        for u in 0..n {
            verify_inclusion(&root, &t.proof(u)).unwrap();
        }
    }
}

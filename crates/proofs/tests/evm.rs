//! The exported Solidity verifier on an EVM: compiled by solc (solc-js), run in revm, whose BN254
//! precompiles (ecAdd 0x06, ecMul 0x07, pairing 0x08) come from substrate-bn, an implementation
//! independent of the arkworks code that made the proof. A valid proof must return true, and a
//! changed public input, proof point or rule digest must return false.
//!
//! solc-js is installed by `scripts/deps.sh` (it exports `INTERMARGIN_SOLC_JS`); without it this
//! test says so and stops, unless `INTERMARGIN_REQUIRE_EVM=1`, which makes the absence a failure.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::{book, tiny_rule};
use intermargin_proofs::zk::groth::SolidityCalldata;
use intermargin_proofs::zk::solidity::verifier_contract;
use intermargin_proofs::{prove, setup};
use rand::SeedableRng;
use revm::db::{CacheDB, EmptyDB};
use revm::primitives::{
    keccak256, AccountInfo, Address, Bytecode, Bytes, ExecutionResult, Output, TransactTo, U256,
};
use revm::Evm;

/// A change made to the calldata before it is sent.
type Tamper = fn(&mut SolidityCalldata);

const SALT: &str = "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd";

fn solc_js() -> Option<PathBuf> {
    let p = std::env::var_os("INTERMARGIN_SOLC_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e/node_modules/solc")
        });
    if p.join("package.json").exists() {
        return Some(p);
    }
    assert!(
        std::env::var("INTERMARGIN_REQUIRE_EVM").as_deref() != Ok("1"),
        "solc-js not found at {} (run scripts/deps.sh)",
        p.display()
    );
    None
}

fn compile(source: &str, solc: &PathBuf) -> Vec<u8> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/evm/compile.cjs");
    let mut child = Command::new("node")
        .arg(&script)
        .arg(solc)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node must be installed to compile the verifier");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(source.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "solc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    hex::decode(String::from_utf8(out.stdout).unwrap().trim()).unwrap()
}

/// ABI encoding of `verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[3])`: the selector,
/// then the eleven words of the fixed-size arrays in order.
fn calldata(cd: &SolidityCalldata) -> Vec<u8> {
    let selector = keccak256(b"verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[3])");
    let mut out = selector[..4].to_vec();
    let words =
        cd.a.iter()
            .chain(cd.b.iter().flatten())
            .chain(cd.c.iter())
            .chain(cd.input.iter());
    for w in words {
        let v = U256::from_str_radix(w, 10).expect("decimal word");
        out.extend_from_slice(&v.to_be_bytes::<32>());
    }
    assert_eq!(out.len(), 4 + 11 * 32);
    out
}

/// Calls the contract at `to` with `data`; returns (success, output, gas used).
fn call(db: &mut CacheDB<EmptyDB>, to: Address, data: Vec<u8>) -> (bool, Vec<u8>, u64) {
    let mut evm = Evm::builder()
        .with_db(db)
        .modify_tx_env(|tx| {
            tx.caller = Address::repeat_byte(0x11);
            tx.transact_to = TransactTo::Call(to);
            tx.data = Bytes::from(data);
            tx.gas_limit = 5_000_000;
        })
        .build();
    match evm.transact().expect("transaction executes").result {
        ExecutionResult::Success {
            output: Output::Call(bytes),
            gas_used,
            ..
        } => (true, bytes.to_vec(), gas_used),
        ExecutionResult::Success { gas_used, .. } => (true, Vec::new(), gas_used),
        ExecutionResult::Revert { output, gas_used } => (false, output.to_vec(), gas_used),
        ExecutionResult::Halt { gas_used, .. } => (false, Vec::new(), gas_used),
    }
}

fn returns_true(out: &(bool, Vec<u8>, u64)) -> bool {
    let mut one = [0u8; 32];
    one[31] = 1;
    out.0 && out.1 == one
}

#[test]
fn exported_verifier_accepts_the_proof_on_an_evm_and_rejects_tampering() {
    let Some(solc) = solc_js() else {
        eprintln!("skipped: solc-js not installed (scripts/deps.sh installs it)");
        return;
    };
    let rule = tiny_rule();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
    let keys = setup(&rule, &mut rng).unwrap();
    // Hand-checked in tests/zk.rs: 3 BTC, −2 ETH lots against 100 leaves slack in both scenarios.
    let b = book(&[("x:BTC-PERP", 3), ("x:ETH-PERP", -2)], 100, SALT);
    let proof = prove(&rule, &keys.pk, &b, &mut rng).unwrap();

    let code = compile(&verifier_contract(&keys.vk, &rule), &solc);
    let to = Address::repeat_byte(0x42);
    let mut db = CacheDB::new(EmptyDB::default());
    db.insert_account_info(
        to,
        AccountInfo {
            balance: U256::ZERO,
            nonce: 1,
            code_hash: keccak256(&code),
            code: Some(Bytecode::new_raw(Bytes::from(code))),
        },
    );

    let valid = call(&mut db, to, calldata(&proof.solidity_calldata));
    assert!(
        returns_true(&valid),
        "a valid proof must verify on the EVM: {valid:?}"
    );
    eprintln!("verifyProof: {} gas", valid.2);

    // Each change must make the contract answer false (or revert), never true.
    let tamper: [(&str, Tamper); 4] = [
        ("threshold input", |c| c.input[2] = "11".into()),
        ("commitment input", |c| {
            c.input[1] =
                (U256::from_str_radix(&c.input[1], 10).unwrap() + U256::from(1)).to_string()
        }),
        ("rule digest input", |c| c.input[0] = "1".into()),
        ("proof point C swapped with A", |c| {
            std::mem::swap(&mut c.a, &mut c.c)
        }),
    ];
    for (what, f) in tamper {
        let mut cd = proof.solidity_calldata.clone();
        f(&mut cd);
        let out = call(&mut db, to, calldata(&cd));
        assert!(!returns_true(&out), "{what}: accepted {out:?}");
    }
}

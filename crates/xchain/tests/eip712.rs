//! Byte-exact compatibility with EIP-712's own "Mail" example and with MetaMask eth-sig-util's
//! array/nested-struct vector. Expected values are copied from those sources (see tests/data/README.md).

use alloy_primitives::{address, b256, keccak256, Address, Bytes, B256, U256};
use alloy_sol_types::{sol, Eip712Domain, SolStruct};
use intermargin_xchain::guardian::{recover_ecdsa, GuardianKey, Scheme};
use intermargin_xchain::typed_data::{parse_typed_data, typed_data_hashes};
use intermargin_xchain::{hash_typed_data_json, XchainError};

const MAIL: &str = include_str!("data/mail.json");
const MAIL_ARRAYS: &str = include_str!("data/mail_arrays.json");

// EIP-712 assets/eip-712/Example.js expectations.
const MAIL_TYPE_HASH: B256 =
    b256!("a0cedeb2dc280ba39b857546d74f5549c3a1d7bdc2dd96bf881f76108e23dac2");
const MAIL_STRUCT_HASH: B256 =
    b256!("c52c0ee5d84264471806290a3f2c4cecfc5490626bf912d01f240d7a274b371e");
const MAIL_DOMAIN_SEPARATOR: B256 =
    b256!("f2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f");
const MAIL_DIGEST: B256 = b256!("be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2");
const COW: Address = address!("CD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826");
const SIG_R: B256 = b256!("4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d");
const SIG_S: B256 = b256!("07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b91562");

sol! {
    struct Person {
        string name;
        address wallet;
    }
    struct Mail {
        Person from;
        Person to;
        string contents;
    }
}

fn mail_struct() -> (Mail, Eip712Domain) {
    let domain = Eip712Domain::new(
        Some("Ether Mail".into()),
        Some("1".into()),
        Some(U256::from(1)),
        Some(address!("CcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC")),
        None,
    );
    let mail = Mail {
        from: Person {
            name: "Cow".into(),
            wallet: COW,
        },
        to: Person {
            name: "Bob".into(),
            wallet: address!("bBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"),
        },
        contents: "Hello, Bob!".into(),
    };
    (mail, domain)
}

#[test]
fn mail_example_json_matches_the_eip712_spec_hash_by_hash() {
    let td = parse_typed_data(MAIL).unwrap();
    assert_eq!(
        td.encode_type().unwrap(),
        "Mail(Person from,Person to,string contents)Person(string name,address wallet)"
    );
    let h = typed_data_hashes(&td).unwrap();
    assert_eq!(h.type_hash, MAIL_TYPE_HASH);
    assert_eq!(h.struct_hash, MAIL_STRUCT_HASH);
    assert_eq!(h.domain_separator, MAIL_DOMAIN_SEPARATOR);
    assert_eq!(h.digest, MAIL_DIGEST);
    assert_eq!(hash_typed_data_json(MAIL).unwrap(), MAIL_DIGEST);
}

#[test]
fn mail_example_sol_struct_matches_the_eip712_spec() {
    let (mail, domain) = mail_struct();
    assert_eq!(mail.eip712_type_hash(), MAIL_TYPE_HASH);
    assert_eq!(mail.eip712_hash_struct(), MAIL_STRUCT_HASH);
    assert_eq!(domain.separator(), MAIL_DOMAIN_SEPARATOR);
    assert_eq!(mail.eip712_signing_hash(&domain), MAIL_DIGEST);
    // Example.js encodeData(Mail) (typeHash ‖ hash(from) ‖ hash(to) ‖ keccak(contents)).
    let expected_encoding = "a0cedeb2dc280ba39b857546d74f5549c3a1d7bdc2dd96bf881f76108e23dac2fc71e5fa27ff56c350aa531bc129ebdf613b772b6604664f5d8dbe21b85eb0c8cd54f074a4af31b4411ff6a60c9719dbd559c221c8ac3492d9d872b041d703d1b5aadf3154a261abdd9086fc627b61efca26ae5702701d05cd2305f7c52a2fc8";
    let mut enc = MAIL_TYPE_HASH.to_vec();
    enc.extend(mail.eip712_encode_data());
    assert_eq!(hex::encode(enc), expected_encoding);
}

#[test]
fn mail_example_signature_with_cow_key_matches_the_spec() {
    let key = GuardianKey::from_bytes(&keccak256(b"cow").0).unwrap();
    assert_eq!(key.address(), COW);
    let sig = key.sign(Scheme::Ecdsa, &MAIL_DIGEST).unwrap();
    assert_eq!(&sig[..32], SIG_R.as_slice());
    assert_eq!(&sig[32..64], SIG_S.as_slice());
    assert_eq!(sig[64], 28);
    assert_eq!(recover_ecdsa(&MAIL_DIGEST, &sig, 0).unwrap(), COW);
}

#[test]
fn the_spec_signature_recovers_the_cow_address() {
    // Built from the published (v, r, s), not from our signer.
    let mut raw = SIG_R.to_vec();
    raw.extend_from_slice(SIG_S.as_slice());
    raw.push(28);
    assert_eq!(
        recover_ecdsa(&MAIL_DIGEST, &Bytes::from(raw.clone()), 0).unwrap(),
        COW
    );
    // A flipped v recovers someone else; a wrong length is a typed error.
    raw[64] = 27;
    assert_ne!(recover_ecdsa(&MAIL_DIGEST, &raw, 0).unwrap(), COW);
    let e = recover_ecdsa(&MAIL_DIGEST, &raw[..64], 3).unwrap_err();
    assert!(matches!(e, XchainError::BadSignature { index: 3, .. }));
}

#[test]
fn arrays_and_nested_structs_match_eth_sig_util_v4() {
    let td = parse_typed_data(MAIL_ARRAYS).unwrap();
    assert_eq!(
        td.encode_type().unwrap(),
        "Mail(Person from,Person[] to,string contents)Person(string name,address[] wallets)"
    );
    assert_eq!(
        keccak256("Person(string name,address[] wallets)"),
        b256!("fabfe1ed996349fc6027709802be19d047da1aa5d6894ff5f6486d92db2e6860")
    );
    let h = typed_data_hashes(&td).unwrap();
    assert_eq!(
        h.type_hash,
        b256!("4bd8a9a2b93427bb184aca81e24beb30ffa3c747e2a33d4225ec08bf12e2e753")
    );
    assert_eq!(
        h.struct_hash,
        b256!("eb4221181ff3f1a83ea7313993ca9218496e424604ba9492bb4052c03d5c3df8")
    );
    assert_eq!(h.domain_separator, MAIL_DOMAIN_SEPARATOR);
    assert_eq!(
        h.digest,
        b256!("a85c2e2b118698e88db68a8105b794a8cc7cec074e89ef991cb4f5f533819cc2")
    );
}

#[test]
fn malformed_typed_data_is_a_typed_error() {
    assert!(matches!(
        hash_typed_data_json("{"),
        Err(XchainError::TypedData(_))
    ));
    let missing_type = MAIL.replace("\"Mail\": [", "\"Letter\": [");
    assert!(matches!(
        hash_typed_data_json(&missing_type),
        Err(XchainError::TypedData(_))
    ));
}

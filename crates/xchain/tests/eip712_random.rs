//! EIP-712 hashing of random typed data (nested structs, dynamic and fixed arrays, arrays of
//! structs, every atomic type and width, integers as JSON numbers beyond 64 bits, as decimal
//! strings and as hex strings (lower and upper case); eth-account's lenient bools, short `bytesN`,
//! text and numbers as bytes (also beyond 64 bits), strings given as integers, and null or absent
//! struct / string / bytes fields) compared with eth-account, an independent implementation (Python,
//! `tests/eip712_eth_account.py`); and, written as a JavaScript caller writes them, with MetaMask's
//! eth-sig-util (`tests/eip712_eth_sig_util.mjs`, npm `@metamask/eth-sig-util` in `tests/e2e`).
//! Where the two libraries disagree (a null string, the strings "false"/"0" as bool) this crate
//! follows eth-account, and a test pins each disagreement.
//!
//! eth-account is installed into `.venv-test` by `scripts/deps.sh`, which also sets
//! `INTERMARGIN_REQUIRE_ETH_ACCOUNT=1`; without it locally the comparison says so and stops.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use alloy_primitives::{keccak256, I256, U256};
use intermargin_xchain::hash_typed_data_json;
use intermargin_xchain::typed_data::{parse_typed_data, typed_data_hashes};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn python() -> Option<PathBuf> {
    let py = std::env::var_os("INTERMARGIN_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv-test/bin/python")
        });
    let ok = Command::new(&py)
        .args(["-c", "import eth_account"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Some(py);
    }
    assert!(
        std::env::var("INTERMARGIN_REQUIRE_ETH_ACCOUNT").as_deref() != Ok("1"),
        "eth-account is not importable by {} (run scripts/deps.sh)",
        py.display()
    );
    None
}

/// eth-account's digests of the documents, in order.
fn eth_account_digests(py: &PathBuf, docs: &[String]) -> Vec<String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/eip712_eth_account.py");
    let mut child = Command::new(py)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    let input = format!("[{}]", docs.join(","));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "eth-account script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The largest integer JavaScript's JSON.parse keeps exact (2^53 − 1).
const JS_SAFE: u64 = (1 << 53) - 1;

/// A random typed-data document, written as JSON text by hand so integers of any size can be
/// bare JSON numbers.
struct Gen {
    rng: ChaCha8Rng,
    structs: Vec<(String, Vec<(String, String)>)>,
    /// Documents as a JavaScript caller writes them: JSON.parse keeps integers exact only up to
    /// 2^53, so bigger integers are strings (numeric types) or stay within that range (text and
    /// bytes given as numbers).
    js: bool,
}

impl Gen {
    /// An integer literal for a text or bytes field: beyond 64 bits, or within JavaScript's
    /// exact range for a JavaScript caller.
    fn big_literal(&mut self) -> String {
        if self.js {
            self.rng.gen_range(0..=JS_SAFE).to_string()
        } else {
            (self.uint(256) | (U256::from(1u8) << 64usize)).to_string()
        }
    }

    /// A numeric field's value as a bare JSON number, or as a string where JavaScript would lose it.
    fn bare(&self, digits: String, big: bool) -> String {
        if self.js && big {
            format!("\"{digits}\"")
        } else {
            digits
        }
    }

    fn hex(&mut self, n: usize) -> String {
        let bytes: Vec<u8> = (0..n).map(|_| self.rng.gen()).collect();
        format!("\"0x{}\"", hex::encode(bytes))
    }

    fn atomic_type(&mut self) -> String {
        match self.rng.gen_range(0..7) {
            0 => "address".into(),
            1 => "bool".into(),
            2 => "string".into(),
            3 => "bytes".into(),
            4 => format!("bytes{}", self.rng.gen_range(1..=32)),
            5 => format!("uint{}", 8 * self.rng.gen_range(1..=32)),
            _ => format!("int{}", 8 * self.rng.gen_range(1..=32)),
        }
    }

    /// Declares a struct (and the structs it uses) and returns its name.
    fn struct_type(&mut self, depth: usize) -> String {
        let name = format!("S{}", self.structs.len());
        self.structs.push((name.clone(), Vec::new()));
        let idx = self.structs.len() - 1;
        let n = self.rng.gen_range(1..=5);
        let mut fields = Vec::new();
        for f in 0..n {
            let base = if depth < 2 && self.rng.gen_bool(0.25) {
                self.struct_type(depth + 1)
            } else {
                self.atomic_type()
            };
            let ty = match self.rng.gen_range(0..6) {
                0 => format!("{base}[]"),
                1 => format!("{base}[{}]", self.rng.gen_range(1..=3)),
                _ => base,
            };
            fields.push((format!("f{f}"), ty));
        }
        self.structs[idx].1 = fields;
        name
    }

    fn uint(&mut self, bits: usize) -> U256 {
        let b = self.rng.gen_range(0..=bits);
        let mut v = U256::from_be_bytes(self.rng.gen::<[u8; 32]>());
        if b < 256 {
            v &= (U256::from(1) << b) - U256::from(1);
        }
        v
    }

    fn value(&mut self, ty: &str) -> String {
        if let Some(open) = ty.rfind('[') {
            let inner = &ty[..open];
            let len = match &ty[open + 1..ty.len() - 1] {
                "" => self.rng.gen_range(0..=3),
                k => k.parse().unwrap(),
            };
            let items: Vec<String> = (0..len).map(|_| self.value(inner)).collect();
            return format!("[{}]", items.join(","));
        }
        if let Some(pos) = self.structs.iter().position(|(n, _)| n == ty) {
            let fields = self.structs[pos].1.clone();
            let mut parts: Vec<String> = Vec::new();
            for (n, t) in &fields {
                // eth-account's missing values: a struct, string or bytes field that is null or
                // absent is a zero word.
                let nullable = !t.ends_with(']')
                    && (t == "string" || t == "bytes" || self.structs.iter().any(|(s, _)| s == t));
                // (eth-sig-util refuses absent fields and hashes a null string as "": not sent to it.)
                if nullable && !self.js && self.rng.gen_bool(0.15) {
                    if self.rng.gen_bool(0.5) {
                        parts.push(format!("\"{n}\":null"));
                    }
                    continue;
                }
                parts.push(format!("\"{n}\":{}", self.value(t)));
            }
            return format!("{{{}}}", parts.join(","));
        }
        match ty {
            "address" => self.hex(20),
            "bool" => {
                // eth-account's lenient forms too: numbers and strings.
                let lenient = [
                    "0",
                    "1",
                    "7",
                    "\"true\"",
                    "\"\"",
                    "\"yes\"",
                    "\"false\"",
                    "\"False\"",
                    "\"0\"",
                ];
                // eth-sig-util reads the strings "false", "False" and "0" as true (JavaScript
                // truthiness) where eth-account reads false: not sent to it (see
                // `where_eth_account_and_eth_sig_util_disagree`).
                let lenient = if self.js { &lenient[..3] } else { &lenient[..] };
                if self.rng.gen_bool(0.3) {
                    lenient[self.rng.gen_range(0..lenient.len())].to_string()
                } else {
                    self.rng.gen_bool(0.5).to_string()
                }
            }
            "string" => {
                let choices = [
                    "",
                    "Hello, Bob!",
                    "caf\u{e9} \u{1F600}",
                    "quote \\\" and \\\\ slash",
                    "\\u0041",
                ];
                match self.rng.gen_range(0..10) {
                    // eth-account reads an integer as its big-endian bytes.
                    0 => self.rng.gen_range(0..100_000u64).to_string(),
                    1 => self.big_literal(),
                    _ => format!("\"{}\"", choices[self.rng.gen_range(0..choices.len())]),
                }
            }
            "bytes" => match self.rng.gen_range(0..11) {
                0 | 1 => "\"plain text, not hex\"".into(),
                2 => self.rng.gen_range(0..100_000u64).to_string(),
                // An integer literal beyond 64 bits.
                3 => self.big_literal(),
                _ => {
                    let n = self.rng.gen_range(0..40);
                    self.hex(n)
                }
            },
            t if t.starts_with("bytes") => {
                let n: usize = t[5..].parse().unwrap();
                match self.rng.gen_range(0..10) {
                    // Shorter than N: right-padded, as the ABI pads.
                    0..=2 => {
                        let k = self.rng.gen_range(0..n);
                        self.hex(k)
                    }
                    3 => format!(
                        "\"{}\"",
                        &"abcdefghijklmnopqrstuvwxyz012345"[..self.rng.gen_range(0..=n)]
                    ),
                    4 if n >= 3 => self.rng.gen_range(0..1u64 << 24).to_string(),
                    // Beyond 64 bits, still within N bytes.
                    5 if n >= 9 && !self.js => {
                        let v = self.uint(8 * n) | (U256::from(1u8) << 64usize);
                        let v = if n < 32 {
                            v & ((U256::from(1u8) << (8 * n)) - U256::from(1u8))
                        } else {
                            v
                        };
                        v.to_string()
                    }
                    _ => self.hex(n),
                }
            }
            t if t.starts_with("uint") => {
                let v = self.uint(t[4..].parse().unwrap());
                match self.rng.gen_range(0..5) {
                    0 | 1 => self.bare(v.to_string(), v > U256::from(JS_SAFE)),
                    2 => format!("\"{v}\""),
                    3 => format!("\"0x{}\"", format!("{v:x}").to_uppercase()),
                    _ => format!("\"{v:#x}\""),
                }
            }
            t => {
                let bits: usize = t[3..].parse().unwrap();
                let mag = self.uint(bits - 1);
                let v = if self.rng.gen_bool(0.5) {
                    I256::from_raw(mag)
                } else {
                    // −mag − 1 reaches the type's minimum −2^(bits−1).
                    -I256::from_raw(mag) - I256::ONE
                };
                if self.rng.gen_bool(0.6) {
                    let big = v.unsigned_abs() > U256::from(JS_SAFE);
                    self.bare(v.to_string(), big)
                } else {
                    format!("\"{v}\"")
                }
            }
        }
    }

    fn document(seed: u64) -> String {
        Self::document_for(seed, false)
    }

    fn document_for(seed: u64, js: bool) -> String {
        let mut g = Gen {
            rng: ChaCha8Rng::seed_from_u64(seed),
            structs: Vec::new(),
            js,
        };
        let primary = g.struct_type(0);
        let message = g.value(&primary);
        let mut types: Vec<String> = g
            .structs
            .iter()
            .map(|(n, fs)| {
                let f: Vec<String> = fs
                    .iter()
                    .map(|(fname, t)| format!("{{\"name\":\"{fname}\",\"type\":\"{t}\"}}"))
                    .collect();
                format!("\"{n}\":[{}]", f.join(","))
            })
            .collect();
        types.push(
            "\"EIP712Domain\":[{\"name\":\"name\",\"type\":\"string\"},{\"name\":\"version\",\"type\":\"string\"},\
             {\"name\":\"chainId\",\"type\":\"uint256\"},{\"name\":\"verifyingContract\",\"type\":\"address\"}]"
                .into(),
        );
        let id = g.uint(256);
        let chain_id = g.bare(id.to_string(), id > U256::from(JS_SAFE));
        let vc = g.hex(20);
        format!(
            "{{\"types\":{{{}}},\"primaryType\":\"{primary}\",\"domain\":{{\"name\":\"random {seed}\",\"version\":\"1\",\
             \"chainId\":{chain_id},\"verifyingContract\":{vc}}},\"message\":{message}}}",
            types.join(",")
        )
    }
}

/// The issue's failing case: a `uint256` written as a JSON number beyond 64 bits.
const BIG: &str = r#"{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"chainId","type":"uint256"}],
 "Big":[{"name":"v","type":"uint256"},{"name":"w","type":"int256"}]},"primaryType":"Big",
 "domain":{"name":"big","chainId":1},"message":{"v":VALUE,"w":WVALUE}}"#;

#[test]
fn uint256_beyond_64_bits_as_a_json_number_hashes_like_its_string_and_hex_forms() {
    let doc = |v: &str, w: &str| BIG.replace("WVALUE", w).replace("VALUE", v);
    let n = hash_typed_data_json(&doc(
        "1000000000000000000000000000000",
        "-1000000000000000000000000000000",
    ))
    .unwrap();
    let s = hash_typed_data_json(&doc(
        "\"1000000000000000000000000000000\"",
        "\"-1000000000000000000000000000000\"",
    ))
    .unwrap();
    let x = hash_typed_data_json(&doc(
        "\"0xc9f2c9cd04674edea40000000\"",
        "\"-1000000000000000000000000000000\"",
    ))
    .unwrap();
    assert_eq!(n, s);
    assert_eq!(n, x);
    // hashStruct by hand: keccak(typeHash ‖ uint256(10^30) ‖ int256(−10^30) two's complement).
    let td = parse_typed_data(&doc(
        "1000000000000000000000000000000",
        "-1000000000000000000000000000000",
    ))
    .unwrap();
    let ten30 = U256::from(10u64).pow(U256::from(30));
    let mut enc = keccak256("Big(uint256 v,int256 w)").to_vec();
    enc.extend(ten30.to_be_bytes::<32>());
    enc.extend((U256::MAX - ten30 + U256::from(1)).to_be_bytes::<32>());
    assert_eq!(typed_data_hashes(&td).unwrap().struct_hash, keccak256(enc));
    // A bytes32 longer than 32 bytes is refused naming its path.
    let long = r#"{"types":{"EIP712Domain":[],"M":[{"name":"x","type":"bytes2"}]},"primaryType":"M","domain":{},"message":{"x":"0x010203"}}"#;
    let e = hash_typed_data_json(long).unwrap_err().to_string();
    assert!(e.contains("message.x") && e.contains("bytes2"), "{e}");
    // The largest uint256 as a JSON number, and one past it refused with the field's type.
    let max = U256::MAX.to_string();
    assert!(hash_typed_data_json(&doc(&max, "0")).is_ok());
    let over = "115792089237316195423570985008687907853269984665640564039457584007913129639936";
    let e = hash_typed_data_json(&doc(over, "0"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("uint256"), "{e}");
    // A float is refused (eth-account refuses floats for integer types too).
    let e = hash_typed_data_json(&doc("1e30", "0"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("uint256"), "{e}");
}

#[test]
fn random_typed_data_matches_eth_account() {
    let Some(py) = python() else {
        eprintln!(
            "skipped: eth-account not importable from .venv-test (scripts/deps.sh installs it)"
        );
        return;
    };
    let docs: Vec<String> = (0..300).map(Gen::document).collect();
    let reference = eth_account_digests(&py, &docs);
    assert_eq!(reference.len(), docs.len());
    // The examples with the issue's big number are in the comparison too.
    let mut big = 0;
    for (i, (doc, want)) in docs.iter().zip(&reference).enumerate() {
        assert!(
            !want.starts_with("error"),
            "document {i}: eth-account refused it: {want}\n{doc}"
        );
        let got = hash_typed_data_json(doc).unwrap_or_else(|e| panic!("document {i}: {e}\n{doc}"));
        assert_eq!(hex::encode(got), *want, "document {i}:\n{doc}");
        if doc.contains("00000000000000000000")
            || doc
                .split(|c: char| !c.is_ascii_digit())
                .any(|d| d.len() > 20)
        {
            big += 1;
        }
    }
    assert!(
        big > 100,
        "only {big} documents carried integers beyond 64 bits"
    );
    let bigdoc = BIG
        .replace("WVALUE", "-1000000000000000000000000000000")
        .replace("VALUE", "1000000000000000000000000000000");
    let r = eth_account_digests(&py, std::slice::from_ref(&bigdoc));
    assert_eq!(hex::encode(hash_typed_data_json(&bigdoc).unwrap()), r[0]);
}

#[test]
fn missing_values_and_integers_as_strings_or_bytes_hash_as_eth_account_does() {
    let doc = |msg: &str| {
        format!(
            r#"{{"types":{{"EIP712Domain":[{{"name":"name","type":"string"}}],"In":[{{"name":"a","type":"uint8"}}],
            "M":[{{"name":"s","type":"string"}},{{"name":"b","type":"bytes"}},{{"name":"i","type":"In"}},{{"name":"v","type":"uint256"}}]}},
            "primaryType":"M","domain":{{"name":"n"}},"message":{msg}}}"#
        )
    };
    let th = keccak256("M(string s,bytes b,In i,uint256 v)In(uint8 a)");
    let by_hand = |words: [[u8; 32]; 3], v: u64| {
        let mut enc = th.to_vec();
        for w in words {
            enc.extend(w);
        }
        enc.extend(U256::from(v).to_be_bytes::<32>());
        keccak256(enc)
    };
    // Null and absent string, bytes and struct fields: zero words.
    let absent = doc(r#"{"v":5}"#);
    let null = doc(r#"{"s":null,"b":null,"i":null,"v":5}"#);
    let want = by_hand([[0; 32]; 3], 5);
    for d in [&absent, &null] {
        let td = parse_typed_data(d).unwrap();
        assert_eq!(typed_data_hashes(&td).unwrap().struct_hash, want);
    }
    // A string given as an integer hashes its big-endian bytes; a bytes field given as an
    // integer literal beyond 64 bits is that integer's bytes (2^64 = 0x01 followed by 8 zeros).
    let ints = doc(r#"{"s":300,"b":18446744073709551616,"i":{"a":"0xFF"},"v":"0x05"}"#);
    let td = parse_typed_data(&ints).unwrap();
    let inner = keccak256(
        [
            keccak256("In(uint8 a)").to_vec(),
            U256::from(255).to_be_bytes::<32>().to_vec(),
        ]
        .concat(),
    );
    let want = by_hand(
        [
            keccak256([0x01, 0x2c]).0,
            keccak256([1, 0, 0, 0, 0, 0, 0, 0, 0]).0,
            inner.0,
        ],
        5,
    );
    assert_eq!(typed_data_hashes(&td).unwrap().struct_hash, want);
    // A missing uint is refused naming its path (eth-account refuses it too).
    let missing = doc(r#"{"s":"x"}"#);
    let e = hash_typed_data_json(&missing).unwrap_err().to_string();
    assert!(e.contains("message.v"), "{e}");
    if let Some(py) = python() {
        let r = eth_account_digests(&py, &[absent.clone(), null.clone(), ints.clone(), missing]);
        assert_eq!(hex::encode(hash_typed_data_json(&absent).unwrap()), r[0]);
        assert_eq!(hex::encode(hash_typed_data_json(&null).unwrap()), r[1]);
        assert_eq!(hex::encode(hash_typed_data_json(&ints).unwrap()), r[2]);
        assert!(r[3].starts_with("error"), "{}", r[3]);
    }
}

/// The npm modules folder holding MetaMask's eth-sig-util (`tests/e2e`, installed by
/// `scripts/deps.sh`), or None when it is absent and not required.
fn eth_sig_util() -> Option<PathBuf> {
    let modules = std::env::var_os("INTERMARGIN_E2E_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e/node_modules")
        });
    let present = modules.join("@metamask/eth-sig-util/package.json").exists()
        && Command::new("node")
            .arg("--version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
    if present {
        return Some(modules);
    }
    assert!(
        std::env::var("INTERMARGIN_REQUIRE_ETH_ACCOUNT").as_deref() != Ok("1"),
        "@metamask/eth-sig-util is not installed under {} (run scripts/deps.sh)",
        modules.display()
    );
    None
}

/// eth-sig-util's V4 digests of the documents, in order.
fn eth_sig_util_digests(modules: &PathBuf, docs: &[String]) -> Vec<String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/eip712_eth_sig_util.mjs");
    let mut child = Command::new("node")
        .arg(script)
        .env("INTERMARGIN_E2E_MODULES", modules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs");
    let input = format!("[{}]", docs.join(","));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "eth-sig-util script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn random_typed_data_matches_eth_sig_util() {
    let Some(modules) = eth_sig_util() else {
        eprintln!("skipped: @metamask/eth-sig-util not installed (scripts/deps.sh installs it)");
        return;
    };
    let docs: Vec<String> = (0..300).map(|s| Gen::document_for(s, true)).collect();
    let reference = eth_sig_util_digests(&modules, &docs);
    assert_eq!(reference.len(), docs.len());
    // Every document eth-sig-util accepts hashes the same here; the ones it refuses (text as
    // bytesN, for instance) are eth-account's lenient forms, accepted here as eth-account does.
    let mut compared = 0;
    for (i, (doc, want)) in docs.iter().zip(&reference).enumerate() {
        let got = hash_typed_data_json(doc).unwrap_or_else(|e| panic!("document {i}: {e}\n{doc}"));
        if want.starts_with("error") {
            continue;
        }
        assert_eq!(hex::encode(got), *want, "document {i}:\n{doc}");
        compared += 1;
    }
    assert!(
        compared >= 150,
        "only {compared} of 300 documents were accepted by eth-sig-util"
    );
}

/// Where the two reference libraries disagree, this crate hashes as eth-account does; the test
/// reads both libraries' answers and fails if either changes its mind.
#[test]
fn where_eth_account_and_eth_sig_util_disagree() {
    let (Some(modules), Some(py)) = (eth_sig_util(), python()) else {
        eprintln!("skipped: eth-sig-util or eth-account missing (scripts/deps.sh installs both)");
        return;
    };
    let doc = |ty: &str, msg: &str| {
        format!(
            r#"{{"types":{{"EIP712Domain":[{{"name":"name","type":"string"}}],"M":[{{"name":"x","type":"{ty}"}}]}},"primaryType":"M","domain":{{"name":"n"}},"message":{msg}}}"#
        )
    };
    let cases = [
        // A null string: eth-account hashes a zero word, eth-sig-util keccak256("").
        doc("string", r#"{"x":null}"#),
        // "false", "False", "0" as bool: false for eth-account, true for eth-sig-util.
        doc("bool", r#"{"x":"false"}"#),
        doc("bool", r#"{"x":"False"}"#),
        doc("bool", r#"{"x":"0"}"#),
    ];
    let sig_util = eth_sig_util_digests(&modules, &cases);
    let account = eth_account_digests(&py, &cases);
    for (i, d) in cases.iter().enumerate() {
        let ours = hex::encode(hash_typed_data_json(d).unwrap());
        assert_eq!(ours, account[i], "case {i} differs from eth-account: {d}");
        assert!(
            !sig_util[i].starts_with("error"),
            "eth-sig-util refused {d}"
        );
        assert_ne!(sig_util[i], account[i], "the libraries now agree on {d}");
    }
    // Absent fields: eth-account hashes a zero word, eth-sig-util refuses them.
    let absent = doc("string", "{}");
    assert!(eth_sig_util_digests(&modules, std::slice::from_ref(&absent))[0].starts_with("error"));
    assert_eq!(
        hex::encode(hash_typed_data_json(&absent).unwrap()),
        eth_account_digests(&py, std::slice::from_ref(&absent))[0]
    );
}

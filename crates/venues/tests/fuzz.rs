//! Mutation fuzzing: every test payload, with random values replaced, keys deleted and types
//! swapped, must import or fail with an error — never panic, never yield an invalid snapshot.

use std::path::Path;

use intermargin_model::Venue;
use intermargin_venues::{import_values, ImportOptions, Source};
use proptest::prelude::*;
use serde_json::{json, Value};

#[derive(Clone, Debug)]
enum Seg {
    Key(String),
    Idx(usize),
}

fn paths(v: &Value, prefix: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    out.push(prefix.clone());
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                prefix.push(Seg::Key(k.clone()));
                paths(c, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                prefix.push(Seg::Idx(i));
                paths(c, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn replacement(k: u8) -> Option<Value> {
    Some(match k % 16 {
        0 => Value::Null,
        1 => json!(""),
        2 => json!("abc"),
        3 => json!(-1),
        4 => json!(0),
        5 => json!(1e300),
        6 => json!(-1e-300),
        7 => json!(true),
        8 => json!([]),
        9 => json!({}),
        10 => json!("99999999999999999999999999999999999999999"),
        11 => json!("-0.000000000000000000000000000001"),
        12 => json!(u64::MAX),
        13 => json!("1e400"),
        14 => json!([null, {"size": "x"}]),
        _ => return None, // delete
    })
}

fn mutate(v: &mut Value, path: &[Seg], kind: u8) {
    let Some((last, parents)) = path.split_last() else {
        if let Some(r) = replacement(kind) {
            *v = r;
        }
        return;
    };
    let mut cur = v;
    for s in parents {
        cur = match (s, cur) {
            (Seg::Key(k), Value::Object(m)) => match m.get_mut(k) {
                Some(c) => c,
                None => return,
            },
            (Seg::Idx(i), Value::Array(a)) => match a.get_mut(*i) {
                Some(c) => c,
                None => return,
            },
            _ => return,
        };
    }
    match (last, cur, replacement(kind)) {
        (Seg::Key(k), Value::Object(m), Some(r)) => {
            m.insert(k.clone(), r);
        }
        (Seg::Key(k), Value::Object(m), None) => {
            m.remove(k);
        }
        (Seg::Idx(i), Value::Array(a), Some(r)) if *i < a.len() => a[*i] = r,
        (Seg::Idx(i), Value::Array(a), None) if *i < a.len() => {
            // duplicate instead of delete, so repeats are exercised too
            let c = a[*i].clone();
            a.push(c);
        }
        _ => {}
    }
}

fn corpus() -> Vec<(Venue, String, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut out = Vec::new();
    for d in std::fs::read_dir(dir).unwrap() {
        let d = d.unwrap().path();
        // `ws/` holds WebSocket frames (tests/stream.rs), not REST payloads.
        if !d.is_dir() || d.ends_with("ws") {
            continue;
        }
        let venue: Venue = d.file_name().unwrap().to_str().unwrap().parse().unwrap();
        for f in std::fs::read_dir(&d).unwrap() {
            let f = f.unwrap().path();
            if f.extension().and_then(|e| e.to_str()) == Some("json") {
                let v: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
                out.push((
                    venue,
                    f.file_name().unwrap().to_string_lossy().to_string(),
                    v,
                ));
            }
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_payloads_never_panic(
        file in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let corpus = corpus();
        let (venue, name, original) = &corpus[file.index(corpus.len())];
        let mut v = original.clone();
        for (at, kind) in edits {
            let mut all = Vec::new();
            paths(&v, &mut Vec::new(), &mut all);
            let p = all[at.index(all.len())].clone();
            mutate(&mut v, &p, kind);
        }
        let src = Source { venue: *venue, file: Some(name.clone()) };
        match import_values(*venue, &[(src, v)], &ImportOptions::default()) {
            Ok(snap) => prop_assert!(snap.validate().is_ok()),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn arbitrary_json_never_panics(text in "[\\[\\]{}\",:0-9a-z.eE -]{0,60}") {
        for venue in intermargin_venues::SUPPORTED {
            let _ = intermargin_venues::import(
                venue,
                &[intermargin_venues::Payload::named("x", text.clone())],
                &ImportOptions::default(),
            );
        }
    }
}

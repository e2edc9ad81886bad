//! Fault-and-concurrency suite against the real `intermargin serve` binary: concurrent clients
//! mix every mutating route (deposits, withdrawals, transfers, credit lines, positions, venue
//! imports, liquidations, account creation, key create/rotate/revoke, simulation jobs) while the
//! process is killed with SIGKILL at a random moment and restarted, several times. After every
//! restart:
//!
//! - `GET /api/v1/ledger` answers 200 (the ledger invariant holds over the whole log; the
//!   restart itself re-verifies every balance projection against the log);
//! - every acknowledged ledger write is stored exactly once, at the sequence number and with the
//!   payload it was acknowledged with; nothing is stored beyond the one request in flight per
//!   client at the kill; a refused write left no trace;
//! - retrying the in-flight request with its idempotency key applies it exactly once (the
//!   answer names the event already stored, or a new one when it had not committed);
//! - no liquidation ever closed more than the position it was planned on;
//! - keys: every acknowledged creation, rotation and revocation is in the key list and
//!   authenticates (or is refused) accordingly; a rotation in flight is whole or absent (the new
//!   key is never there while the old one is still active, nor the old revoked without a new one);
//! - every acknowledged simulation job still answers under its id (finished, or failed as
//!   interrupted), to its owner only.
//!
//! On SQLite always, and on PostgreSQL when `INTERMARGIN_TEST_POSTGRES` is set. Loopback only,
//! bounded: three kills per backend, each after 0.4–1.2 s of load. The kill times come from a
//! seed printed by the test (`INTERMARGIN_FAULT_SEED` replays one).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

mod common;
use common::{http, start};

const ADMIN: &str = "im_fault0000000016_00112233445566778899aabbccddeeff0011223344556677";
/// Accounts whose money moves (one client each).
const MONEY: [&str; 3] = ["m0", "m1", "m2"];
/// The account the liquidation client makes bankrupt and liquidates, over and over.
const LIQ: &str = "liq";
/// The account whose keys the key client creates, rotates and revokes.
const KEYED: &str = "keyed";
/// The size of the position each liquidation round opens (BTC).
const LIQ_SIZE: f64 = 2.0;
const KILLS: usize = 3;
const BINANCE_POSITIONS: &str =
    include_str!("../../../examples/hedged-book/binance/fapi_v2_positionRisk.json");
const BINANCE_BALANCE: &str =
    include_str!("../../../examples/hedged-book/binance/fapi_v3_balance.json");

/// One request a client sends.
#[derive(Clone, Debug)]
struct Op {
    key: String,
    method: &'static str,
    path: String,
    idem: String,
    body: Option<Value>,
}

impl Op {
    fn send(&self, addr: &str) -> std::io::Result<(u16, Value)> {
        http(
            addr,
            &self.key,
            self.method,
            &self.path,
            Some(&self.idem),
            self.body.as_ref(),
        )
    }
}

/// What one client saw in one run of the server.
#[derive(Default)]
struct Log {
    /// Requests answered 2xx, with the answer.
    acked: Vec<(Op, Value)>,
    /// Requests refused with an error status (they must have left no trace).
    refused: Vec<(Op, u16, Value)>,
    /// The request whose connection broke when the server died.
    in_flight: Option<Op>,
}

impl Log {
    /// Sends `op`; false once the server is gone (the op is then in flight).
    fn run(&mut self, addr: &str, op: Op) -> bool {
        match op.send(addr) {
            Ok((s, v)) if (200..300).contains(&s) => {
                self.acked.push((op, v));
                true
            }
            Ok((s, v)) => {
                assert!(
                    s < 500 || s == 503,
                    "{} {}: server error {s} {v}",
                    op.method,
                    op.path
                );
                self.refused.push((op, s, v));
                true
            }
            Err(_) => {
                self.in_flight = Some(op);
                false
            }
        }
    }
}

/// A tiny xorshift generator: the kill times and op choices, replayable from the printed seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Keys and ledger state the clients share across runs.
struct World {
    operator: String,
    account_keys: HashMap<String, String>,
    binance_perp: Value,
}

fn admin_op(method: &'static str, path: &str, idem: String, body: Option<Value>) -> Op {
    Op {
        key: ADMIN.to_string(),
        method,
        path: path.to_string(),
        idem,
        body,
    }
}

/// The ledger ops of money client `i` in run `run`, step `n`: every amount is unique to the
/// (client, run, step), so a stored event names the request it came from.
fn money_op(w: &World, account: &str, run: usize, n: u64) -> Op {
    let unique = (run as u64 + 1) * 1_000_000 + n; // base units of USDC (6 decimals)
    let idem = format!("{account}-r{run}-{n}");
    let op = |key: &str, route: &str, body: Value| Op {
        key: key.to_string(),
        method: "POST",
        path: format!("/api/v1/accounts/{account}/{route}"),
        idem: idem.clone(),
        body: Some(body),
    };
    let own = &w.account_keys[account];
    match n % 7 {
        0 | 1 => op(
            &w.operator,
            "deposits",
            json!({"location": "deribit", "asset": "USDC", "amount": (100_000_000 + unique).to_string()}),
        ),
        2 => op(
            own,
            "withdrawals",
            json!({"location": "deribit", "asset": "USDC", "amount": unique.to_string()}),
        ),
        3 => op(
            own,
            "transfers",
            json!({"from": "deribit", "to": "okx", "asset": "USDC", "amount": unique.to_string(), "fee": "1"}),
        ),
        4 => op(
            &w.operator,
            "deposits",
            json!({"location": "hub", "asset": "USDC", "amount": (100_000_000 + unique).to_string()}),
        ),
        5 => op(
            &w.operator,
            "credits",
            json!({"venue": "deribit", "asset": "USDC", "amount": unique.to_string()}),
        ),
        _ => op(
            &w.operator,
            "import",
            json!({"venue": "binance", "payloads": [
                serde_json::from_str::<Value>(BINANCE_POSITIONS).unwrap(),
                serde_json::from_str::<Value>(BINANCE_BALANCE).unwrap(),
            ]}),
        ),
    }
}

/// The liquidation client's ops: fund, open a losing 2-BTC long, liquidate; repeat.
fn liq_op(w: &World, run: usize, n: u64) -> Op {
    let idem = format!("liq-r{run}-{n}");
    let op = |route: &str, body: Option<Value>| Op {
        key: w.operator.clone(),
        method: "POST",
        path: format!("/api/v1/accounts/{LIQ}/{route}"),
        idem: idem.clone(),
        body,
    };
    match n % 3 {
        0 => op(
            "deposits",
            Some(
                json!({"location": "binance", "asset": "USDT", "amount": (1_000_000_000 + (run as u64) * 1000 + n).to_string()}),
            ),
        ),
        1 => {
            let mut perp = w.binance_perp.clone();
            perp["size"] = json!(LIQ_SIZE);
            perp["entry_price"] = json!(100_000.0);
            perp["leverage"] = json!(20.0);
            op(
                "positions",
                Some(json!({"venue": "binance", "positions": [perp]})),
            )
        }
        _ => op("liquidations", None),
    }
}

/// Every event of `account`, in order.
fn events(addr: &str, account: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = 0i64;
    loop {
        let (s, v) = http(
            addr,
            ADMIN,
            "GET",
            &format!("/api/v1/accounts/{account}/events?limit=1000&after={after}"),
            None,
            None,
        )
        .expect("events");
        assert_eq!(s, 200, "{v}");
        let page = v["events"].as_array().cloned().unwrap_or_default();
        if page.is_empty() {
            return out;
        }
        after = page.last().and_then(|e| e["seq"].as_i64()).unwrap_or(after);
        out.extend(page);
    }
}

/// Ledger clients' expectations, accumulated over every run: account → seq → acknowledged event.
type Acked = BTreeMap<String, BTreeMap<i64, Value>>;

/// Checks one account's log against what was acknowledged; returns the stored event of the
/// in-flight request when it committed.
fn check_account(
    addr: &str,
    backend: &str,
    account: &str,
    acked: &BTreeMap<i64, Value>,
    in_flight: Option<&Op>,
) -> Option<Value> {
    let stored = events(addr, account);
    let mut by_seq = BTreeMap::new();
    for e in &stored {
        let seq = e["seq"].as_i64().expect("seq");
        assert!(
            by_seq.insert(seq, e.clone()).is_none(),
            "{backend} {account}: seq {seq} twice"
        );
    }
    // Every acknowledged write is there, as acknowledged.
    for (seq, ev) in acked {
        let Some(e) = by_seq.get(seq) else {
            panic!("{backend} {account}: acknowledged event {seq} lost: {ev}");
        };
        assert_eq!(e["kind"], ev["kind"], "{backend} {account} seq {seq}");
        assert_eq!(e["payload"], ev["payload"], "{backend} {account} seq {seq}");
    }
    // Nothing else but the one request in flight.
    let extra: Vec<&Value> = by_seq
        .iter()
        .filter(|(s, _)| !acked.contains_key(s))
        .map(|(_, e)| e)
        .collect();
    assert!(
        extra.len() <= 1,
        "{backend} {account}: {} unacknowledged events: {extra:?}",
        extra.len()
    );
    let extra = extra.first().map(|e| (*e).clone());
    if let Some(e) = &extra {
        let op = in_flight
            .unwrap_or_else(|| panic!("{backend} {account}: an event nobody was sending: {e}"));
        let route = op.path.rsplit('/').next().unwrap_or_default();
        let kind = match route {
            "deposits" => "deposit",
            "withdrawals" => "withdrawal",
            "transfers" => "transfer",
            "credits" => "credit",
            "positions" => "positions",
            "import" => "venue_report",
            "liquidations" => "liquidation",
            other => panic!("unexpected route {other}"),
        };
        assert_eq!(e["kind"], kind, "{backend} {account}: {e} vs {op:?}");
        if let Some(amount) = op.body.as_ref().and_then(|b| b.get("amount")) {
            assert_eq!(&e["payload"]["amount"], amount, "{backend} {account}");
        }
    }
    // No liquidation ever closed more than the position it was planned on.
    for e in stored.iter().filter(|e| e["kind"] == "liquidation") {
        let closed: f64 = e["payload"]["plan"]["plan"]
            .as_array()
            .map(|legs| legs.iter().filter_map(|l| l["reduce"].as_f64()).sum())
            .unwrap_or(0.0);
        assert!(
            closed > 0.0 && closed <= LIQ_SIZE + 1e-9,
            "{backend}: liquidation closed {closed} of {LIQ_SIZE}: {e}"
        );
    }
    extra
}

/// What the key client believes, from acknowledged answers only.
#[derive(Default)]
struct KeyModel {
    /// key id → (full key, revoked?, replaced_by)
    keys: BTreeMap<String, (String, bool, Option<String>)>,
    /// Account ids whose creation was acknowledged.
    accounts: BTreeSet<String>,
}

fn key_id(full: &str) -> String {
    full.split('_').nth(1).unwrap_or_default().to_string()
}

/// The key client: create an account, issue a key for it, rotate that key, revoke the new one.
fn key_client(addr: &str, run: usize, stop: &AtomicBool) -> (Vec<(Op, u16, Value)>, Option<Op>) {
    let mut seen = Vec::new();
    let mut last_key: Option<String> = None;
    for n in 0u64.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let op = match n % 4 {
            0 => admin_op(
                "POST",
                "/api/v1/accounts",
                format!("acct-r{run}-{n}"),
                Some(json!({"id": format!("new-{run}-{n}")})),
            ),
            1 => admin_op(
                "POST",
                "/api/v1/keys",
                format!("key-r{run}-{n}"),
                Some(json!({"scope": KEYED})),
            ),
            2 => match &last_key {
                Some(k) => admin_op(
                    "POST",
                    &format!("/api/v1/keys/{}/rotate", key_id(k)),
                    format!("rot-r{run}-{n}"),
                    None,
                ),
                None => continue,
            },
            _ => match &last_key {
                Some(k) => admin_op(
                    "DELETE",
                    &format!("/api/v1/keys/{}", key_id(k)),
                    format!("rev-r{run}-{n}"),
                    None,
                ),
                None => continue,
            },
        };
        match op.send(addr) {
            Ok((s, v)) => {
                if s == 201 && v["key"].is_string() {
                    last_key = v["key"].as_str().map(str::to_string);
                }
                if op.method == "DELETE" && s == 200 {
                    last_key = None;
                }
                seen.push((op, s, v));
            }
            Err(_) => return (seen, Some(op)),
        }
    }
    (seen, None)
}

/// Folds the key client's acknowledged answers into the model.
fn apply_keys(model: &mut KeyModel, seen: &[(Op, u16, Value)]) {
    for (op, s, v) in seen {
        match (op.method, *s) {
            ("POST", 201) if op.path == "/api/v1/accounts" => {
                model
                    .accounts
                    .insert(op.body.as_ref().unwrap()["id"].as_str().unwrap().into());
            }
            ("POST", 201) => {
                let full = v["key"].as_str().unwrap().to_string();
                model
                    .keys
                    .insert(key_id(&full), (full.clone(), false, None));
                if let Some(old) = v["replaces"].as_str() {
                    let entry = model.keys.get_mut(old).expect("rotated a known key");
                    entry.1 = true;
                    entry.2 = Some(key_id(&full));
                }
            }
            ("DELETE", 200) => {
                let id = op.path.rsplit('/').next().unwrap();
                model.keys.get_mut(id).expect("revoked a known key").1 = true;
            }
            (m, s) => panic!("key client: {m} {} answered {s}: {v}", op.path),
        }
    }
}

/// Checks keys and accounts after a restart; resolves the in-flight key op into the model.
fn check_keys(addr: &str, backend: &str, model: &mut KeyModel, in_flight: Option<&Op>) {
    let (s, v) = http(addr, ADMIN, "GET", "/api/v1/keys", None, None).expect("keys");
    assert_eq!(s, 200, "{v}");
    let listed: BTreeMap<String, Value> = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["key_id"].as_str().unwrap().to_string(), k.clone()))
        .collect();
    // The key an in-flight rotation or revocation names may or may not be revoked: resolved below.
    let in_flight_target = in_flight
        .filter(|o| o.method == "DELETE" || o.path.ends_with("/rotate"))
        .and_then(|o| o.path.split('/').nth(4))
        .map(str::to_string);
    for (id, (_, revoked, replaced_by)) in &model.keys {
        let k = listed
            .get(id)
            .unwrap_or_else(|| panic!("{backend}: acknowledged key {id} lost"));
        if in_flight_target.as_deref() == Some(id.as_str()) {
            continue;
        }
        assert_eq!(
            k["revoked_ms"].is_null(),
            !revoked,
            "{backend}: key {id}: {k}"
        );
        if let Some(r) = replaced_by {
            assert_eq!(k["replaced_by"], json!(r), "{backend}: key {id}: {k}");
        }
    }
    // Keys the ledger holds that no acknowledged answer named: the in-flight creation or
    // rotation at most, and a rotation is whole.
    let unknown: Vec<&String> = listed
        .keys()
        .filter(|id| !model.keys.contains_key(*id) && listed[*id]["scope"] == KEYED)
        .collect();
    let op_path = in_flight.map(|o| o.path.clone()).unwrap_or_default();
    let rotating = in_flight
        .filter(|o| o.path.ends_with("/rotate"))
        .map(|o| o.path.split('/').nth(4).unwrap_or_default().to_string());
    match (unknown.as_slice(), &rotating) {
        ([], Some(old)) => assert!(
            listed[old]["revoked_ms"].is_null(),
            "{backend}: rotation of {old} half-written: revoked without a new key"
        ),
        ([new], Some(old)) => {
            assert_eq!(
                listed[old]["replaced_by"],
                json!(new),
                "{backend}: rotation of {old} half-written"
            );
            assert!(listed[*new]["revoked_ms"].is_null(), "{backend}: {new}");
            let entry = model.keys.get_mut(old).unwrap();
            entry.1 = true;
            entry.2 = Some((*new).clone());
            // Its secret was never delivered: known to exist, not usable by this test.
            model
                .keys
                .insert((*new).clone(), (String::new(), false, None));
        }
        ([], None) => {}
        ([new], None) => {
            assert!(
                op_path == "/api/v1/keys",
                "{backend}: key {new} nobody was creating"
            );
            model
                .keys
                .insert((*new).clone(), (String::new(), false, None));
        }
        (many, _) => panic!("{backend}: unacknowledged keys {many:?}"),
    }
    if let Some(op) = in_flight.filter(|o| o.method == "DELETE") {
        let id = op.path.rsplit('/').next().unwrap();
        if !listed[id]["revoked_ms"].is_null() {
            model.keys.get_mut(id).unwrap().1 = true;
        }
    }
    // Some active keys still open their account; revoked ones are refused.
    for (id, (full, revoked, _)) in model.keys.iter().filter(|k| !k.1 .0.is_empty()).take(6) {
        let (s, _) = http(
            addr,
            full,
            "GET",
            &format!("/api/v1/accounts/{KEYED}"),
            None,
            None,
        )
        .expect("get");
        if *revoked {
            assert!(
                s == 401 || s == 429,
                "{backend}: revoked key {id} answered {s}"
            );
        } else {
            assert_eq!(s, 200, "{backend}: active key {id}");
        }
    }
    // Accounts: every acknowledged creation, and at most the one in flight besides.
    let (_, v) = http(addr, ADMIN, "GET", "/api/v1/accounts", None, None).expect("accounts");
    let ids: BTreeSet<String> = v["accounts"]
        .as_array()
        .expect("account list")
        .iter()
        .filter_map(|a| a["id"].as_str().map(str::to_string))
        .filter(|id| id.starts_with("new-"))
        .collect();
    for id in &model.accounts {
        assert!(
            ids.contains(id),
            "{backend}: acknowledged account {id} lost"
        );
    }
    let extra: Vec<&String> = ids.difference(&model.accounts).collect();
    let creating = in_flight
        .filter(|o| o.path == "/api/v1/accounts")
        .and_then(|o| o.body.as_ref())
        .and_then(|b| b["id"].as_str());
    match extra.as_slice() {
        [] => {}
        [one] if Some(one.as_str()) == creating => {
            model.accounts.insert((*one).clone());
        }
        other => panic!("{backend}: accounts nobody created: {other:?}"),
    }
}

/// The job client: simulation jobs with the account key of m1 (429 when its quota is full).
fn job_client(addr: &str, key: &str, stop: &AtomicBool) -> Vec<String> {
    let mut ids = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let body = json!({"preset": "calm", "kind": "simulate", "paths": 2});
        match http(
            addr,
            key,
            "POST",
            "/api/v1/simulations",
            Some("job"),
            Some(&body),
        ) {
            Ok((202, v)) => ids.push(v["id"].as_str().unwrap().to_string()),
            Ok((429, _)) => {}
            Ok((s, v)) => panic!("job start answered {s}: {v}"),
            Err(_) => break,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    ids
}

fn run_backend(backend: &str, database: Option<String>, rng: &mut Rng) {
    let dir = tempfile::tempdir().unwrap();
    let db = database.as_deref();
    let mut server = start(dir.path(), db, ADMIN, &["--no-demo-plots"]);
    let mut addr = server.addr.clone();
    // Set-up (not under faults): the accounts, an operator key, each account's own key.
    let setup_addr = addr.clone();
    let post = |path: &str, idem: &str, body: Value| {
        let (s, v) = http(&setup_addr, ADMIN, "POST", path, Some(idem), Some(&body)).unwrap();
        assert!(s == 201 || s == 200, "{path}: {s} {v}");
        v
    };
    let operator = post("/api/v1/keys", "op", json!({"scope": "operator"}))["key"]
        .as_str()
        .unwrap()
        .to_string();
    let mut account_keys = HashMap::new();
    let mut acked: Acked = BTreeMap::new();
    for a in MONEY.iter().chain([&LIQ]) {
        post("/api/v1/accounts", &format!("create-{a}"), json!({"id": a}));
        let k = post("/api/v1/keys", &format!("key-{a}"), json!({"scope": a}))["key"]
            .as_str()
            .unwrap()
            .to_string();
        account_keys.insert(a.to_string(), k);
    }
    post("/api/v1/accounts", "create-keyed", json!({"id": KEYED}));
    // The set-up's own events (account creation) are the baseline of each log.
    for a in MONEY.iter().chain([&LIQ]) {
        let m = acked.entry(a.to_string()).or_default();
        for e in events(&addr, a) {
            m.insert(e["seq"].as_i64().unwrap(), e);
        }
    }
    let perp: Value = {
        let snap: Value =
            serde_json::from_str(include_str!("../../../examples/hedged-book/snapshot.json"))
                .unwrap();
        snap["portfolio"]["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|a| a["positions"].as_array().cloned().unwrap_or_default())
            .find(|p| p["instrument"]["venue"] == "binance")
            .expect("a binance position in the demo book")
    };
    let world = Arc::new(World {
        operator,
        account_keys,
        binance_perp: perp,
    });
    let mut keys = KeyModel::default();
    let mut jobs: Vec<String> = Vec::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    // Requests in flight at a kill: (that had committed, in all).
    let mut in_flight = (0usize, 0usize);

    for run in 0..KILLS {
        let stop = Arc::new(AtomicBool::new(false));
        let mut ledger_clients = Vec::new();
        for a in MONEY.iter().chain([&LIQ]) {
            let (w, addr, stop, a) = (world.clone(), addr.clone(), stop.clone(), a.to_string());
            ledger_clients.push(std::thread::spawn(move || {
                let mut log = Log::default();
                for n in 0u64.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let op = if a == LIQ {
                        liq_op(&w, run, n)
                    } else {
                        money_op(&w, &a, run, n)
                    };
                    if !log.run(&addr, op) {
                        break;
                    }
                }
                (a, log)
            }));
        }
        let key_thread = {
            let (addr, stop) = (addr.clone(), stop.clone());
            std::thread::spawn(move || key_client(&addr, run, &stop))
        };
        let job_thread = {
            let (addr, stop, key) = (addr.clone(), stop.clone(), world.account_keys["m1"].clone());
            std::thread::spawn(move || job_client(&addr, &key, &stop))
        };
        std::thread::sleep(Duration::from_millis(400 + rng.below(800)));
        server.kill();
        stop.store(true, Ordering::Relaxed);
        let logs: Vec<(String, Log)> = ledger_clients
            .into_iter()
            .map(|t| t.join().expect("ledger client"))
            .collect();
        let (seen_keys, key_in_flight) = key_thread.join().expect("key client");
        jobs.extend(job_thread.join().expect("job client"));
        apply_keys(&mut keys, &seen_keys);

        server = start(dir.path(), db, ADMIN, &["--no-demo-plots"]);
        let addr2 = server.addr.clone();
        let (s, v) = http(&addr2, ADMIN, "GET", "/api/v1/ledger", None, None).unwrap();
        assert_eq!(s, 200, "{backend} run {run}: ledger invariant: {v}");
        for (a, log) in logs {
            let m = acked.entry(a.clone()).or_default();
            for (_, v) in &log.acked {
                let seq = v["seq"]
                    .as_i64()
                    .expect("an acknowledged write names its event");
                assert!(
                    m.insert(seq, v.clone()).is_none(),
                    "{backend}: seq {seq} acknowledged twice"
                );
            }
            *counts.entry(a.clone()).or_default() += log.acked.len();
            let committed = check_account(&addr2, backend, &a, m, log.in_flight.as_ref());
            // Retry the in-flight request with its idempotency key: it applies exactly once.
            if let Some(op) = &log.in_flight {
                in_flight.0 += usize::from(committed.is_some());
                in_flight.1 += 1;
                let (s, v) = op.send(&addr2).expect("retry");
                match (&committed, s) {
                    (Some(e), 200..=299) => assert_eq!(
                        v["seq"], e["seq"],
                        "{backend} {a}: the retry must answer the event already stored"
                    ),
                    (Some(e), _) => {
                        panic!("{backend} {a}: committed {e} but the retry answered {s} {v}")
                    }
                    (None, 200..=299) => {}
                    (None, _) => assert!(s < 500, "{backend} {a}: retry answered {s} {v}"),
                }
                if (200..300).contains(&s) {
                    m.insert(v["seq"].as_i64().unwrap(), v);
                }
                check_account(&addr2, backend, &a, m, None);
            }
        }
        check_keys(&addr2, backend, &mut keys, key_in_flight.as_ref());
        // Every acknowledged job answers its owner under its id, and nobody else.
        for id in &jobs {
            let path = format!("/api/v1/simulations/{id}");
            let (s, v) = http(&addr2, &world.account_keys["m1"], "GET", &path, None, None).unwrap();
            assert_eq!(s, 200, "{backend}: job {id} lost: {v}");
            assert!(
                ["queued", "running", "done", "failed"]
                    .contains(&v["status"].as_str().unwrap_or("")),
                "{v}"
            );
            let (s, _) = http(&addr2, &world.account_keys["m2"], "GET", &path, None, None).unwrap();
            assert_eq!(s, 404, "{backend}: another account sees job {id}");
        }
        let (s, v) = http(&addr2, ADMIN, "GET", "/api/v1/ledger", None, None).unwrap();
        assert_eq!(s, 200, "{backend} run {run} after retries: {v}");
        // The next run talks to the restarted server.
        addr = addr2;
    }
    let total: usize = counts.values().sum();
    assert!(
        total > 50,
        "{backend}: too few writes acknowledged to mean anything: {counts:?}"
    );
    let liquidations = events(&server.addr, LIQ)
        .iter()
        .filter(|e| e["kind"] == "liquidation")
        .count();
    eprintln!(
        "{backend}: {total} acknowledged ledger writes over {KILLS} kills ({counts:?}), {} of {} in-flight writes had committed, {liquidations} liquidations, {} keys, {} accounts, {} jobs",
        in_flight.0,
        in_flight.1,
        keys.keys.len(),
        keys.accounts.len(),
        jobs.len()
    );
    assert!(
        liquidations >= 1,
        "{backend}: no liquidation happened under load"
    );
    server.kill();
}

#[test]
fn kill_dash_nine_during_every_mutation_loses_nothing_acknowledged_and_half_writes_nothing() {
    let seed = std::env::var("INTERMARGIN_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        });
    eprintln!("INTERMARGIN_FAULT_SEED={seed}");
    let mut rng = Rng(seed);
    run_backend("sqlite", None, &mut rng);
    if let Some(url) = common::postgres_database("faults") {
        run_backend("postgres", Some(url), &mut rng);
    }
}

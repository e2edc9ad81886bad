//! Margin workers past one machine (issue 20), end to end on loopback: a JetStream `nats-server`,
//! one API node (`serve --nats`), two workers (`worker`), all the built binary. Books go in
//! through the API (ledger → outbox → JetStream), ticks through JetStream; the reports the API
//! node serves are checked against the per-account path (`intermargin margin --model unified` on
//! the same book and market), then one worker is paused with events and a tick in flight and
//! killed with SIGKILL: the other takes its partitions over, every account gets the report of its
//! latest book at the latest market, and the reports streamed on `/ws` never go back in version.
//!
//! Needs `nats-server` (Debian package); skipped when absent unless INTERMARGIN_REQUIRE_NATS is set.

use std::collections::{BTreeMap, HashMap};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

mod common;

const KEY: &str = "im_natsworker0001_00112233445566778899aabbccddeeff0011223344556677";
const PARTITIONS: u32 = 4;
const ACCOUNTS: usize = 40;

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn nats_server() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("INTERMARGIN_NATS_SERVER")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "nats-server".into());
    match Command::new(&path).arg("--version").output() {
        Ok(o) if o.status.success() => Some(path),
        _ => {
            if std::env::var_os("INTERMARGIN_REQUIRE_NATS").is_some() {
                panic!("INTERMARGIN_REQUIRE_NATS is set but nats-server ({path:?}) does not run");
            }
            eprintln!("SKIPPED: nats-server not found (apt-get install nats-server, or set INTERMARGIN_NATS_SERVER)");
            None
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_nats(bin: &std::path::Path, dir: &std::path::Path) -> (Proc, String) {
    let port = free_port();
    let child = Command::new(bin)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nats-server");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nats-server did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Proc(child), format!("nats://127.0.0.1:{port}"))
}

fn start_worker(
    url: &str,
    name: &str,
    primary: &str,
    standby: &str,
    log: &std::path::Path,
) -> Proc {
    let err = std::fs::File::create(log.join(format!("{name}.log"))).unwrap();
    let child = Command::new(assert_cmd::cargo::cargo_bin("intermargin"))
        .args([
            "worker",
            "--nats",
            url,
            "--partitions",
            primary,
            "--standby",
            standby,
            "--partition-count",
            &PARTITIONS.to_string(),
            "--name",
            name,
            "--lease-ms",
            "1500",
            "--ack-wait-ms",
            "2000",
        ])
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("start worker");
    Proc(child)
}

fn http(
    addr: &str,
    method: &str,
    path: &str,
    idem: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    common::http(addr, KEY, method, path, idem, body).expect("http")
}

/// The demo book's instruments (BTC: an inverse option, a linear perpetual, an inverse swap),
/// its assets and the prices its market gives each of them.
fn demo() -> (
    Vec<Value>,
    Value,
    BTreeMap<String, f64>,
    BTreeMap<String, f64>,
) {
    let snap: Value = serde_json::from_str(intermargin_server::DEMO_SNAPSHOT).unwrap();
    let instruments: Vec<Value> = snap["portfolio"]["accounts"][0]["positions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["instrument"].clone())
        .collect();
    let m = &snap["market"];
    let mut prices = BTreeMap::new();
    for (k, v) in m["fx"].as_object().unwrap() {
        if k == "BTC" {
            prices.insert(format!("fx:{k}"), v.as_f64().unwrap());
        }
    }
    for (k, v) in m["index_prices"].as_object().unwrap() {
        if k.ends_with(":BTC") {
            prices.insert(format!("index:{k}"), v.as_f64().unwrap());
        }
    }
    for (k, v) in m["mark_prices"].as_object().unwrap() {
        prices.insert(format!("mark:{k}"), v.as_f64().unwrap());
    }
    let ivs = m["mark_ivs"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_f64().unwrap()))
        .collect();
    (
        instruments,
        snap["portfolio"]["assets"].clone(),
        prices,
        ivs,
    )
}

/// A tick of BTC with every demo price scaled by `f` (the option's mark too: it is quoted in BTC,
/// the vol unchanged).
struct Tick {
    prices: BTreeMap<String, f64>,
    ivs: BTreeMap<String, f64>,
    time_ms: i64,
}

fn tick(f: f64, round: i64) -> Tick {
    let (_, _, prices, ivs) = demo();
    Tick {
        prices: prices
            .into_iter()
            .map(|(k, v)| {
                let option = k.starts_with("mark:deribit:BTC-27DEC24");
                (k, if option { v } else { v * f })
            })
            .collect(),
        ivs,
        time_ms: 1_724_742_000_000 + round * 1000,
    }
}

fn publish(url: &str, t: &Tick) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let js = intermargin_workers::jetstream_at(url).await.unwrap();
        intermargin_workers::ensure_streams(&js, PARTITIONS)
            .await
            .unwrap();
        intermargin_workers::ticks::publish(
            &js,
            &intermargin_workers::TickMsg {
                underlying: "BTC".into(),
                quote: "USD".into(),
                time_ms: t.time_ms,
                sent_ms: intermargin_workers::now_ms(),
                prices: t.prices.clone(),
                ivs: t.ivs.clone(),
            },
        )
        .await
        .unwrap()
    })
}

/// The stablecoins' and quote's fx of the demo market (1.0 each), as their own tick.
fn publish_fx(url: &str) {
    let t = Tick {
        prices: fx_prices(),
        ivs: BTreeMap::new(),
        time_ms: 1_724_742_000_000,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let js = intermargin_workers::jetstream_at(url).await.unwrap();
        intermargin_workers::ensure_streams(&js, PARTITIONS)
            .await
            .unwrap();
        intermargin_workers::ticks::publish(
            &js,
            &intermargin_workers::TickMsg {
                underlying: "USD".into(),
                quote: "USD".into(),
                time_ms: t.time_ms,
                sent_ms: intermargin_workers::now_ms(),
                prices: t.prices,
                ivs: t.ivs,
            },
        )
        .await
        .unwrap();
    });
}

/// `fx:<currency>` of the demo market for every currency but BTC.
fn fx_prices() -> BTreeMap<String, f64> {
    let snap: Value = serde_json::from_str(intermargin_server::DEMO_SNAPSHOT).unwrap();
    snap["market"]["fx"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "BTC")
        .map(|(k, v)| (format!("fx:{k}"), v.as_f64().unwrap()))
        .collect()
}

/// A random book over the demo instruments, grouped by venue: (venue, positions).
fn random_book(rng: &mut rand::rngs::StdRng, instruments: &[Value]) -> Vec<(String, Vec<Value>)> {
    let mut by_venue: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for inst in instruments {
        if rng.gen_bool(0.7) {
            let unit = if inst["size_unit"] == "quote" {
                100.0
            } else {
                0.5
            };
            let size = f64::from(rng.gen_range(-40i32..=40)) * unit;
            if size != 0.0 {
                by_venue
                    .entry(inst["venue"].as_str().unwrap().to_string())
                    .or_default()
                    .push(json!({"instrument": inst, "size": size}));
            }
        }
    }
    by_venue.into_iter().collect()
}

/// The per-account path on the same book and market: `intermargin margin --model unified`.
fn expected(dir: &std::path::Path, assets: &Value, id: &str, book: &[Value], t: &Tick) -> f64 {
    let mut market = json!({"timestamp_ms": t.time_ms, "quote": "USD", "index_prices": {}, "mark_prices": {}, "mark_ivs": t.ivs, "fx": {}});
    for (k, v) in t.prices.iter().chain(fx_prices().iter()) {
        let (kind, rest) = k.split_once(':').unwrap();
        let table = match kind {
            "fx" => "fx",
            "index" => "index_prices",
            _ => "mark_prices",
        };
        market[table][rest] = json!(v);
    }
    let snap = json!({
        "version": 1,
        "portfolio": {"assets": assets, "accounts": [{"id": id, "collateral": [], "positions": book}]},
        "market": market,
    });
    let path = dir.join(format!("expected-{id}.json"));
    std::fs::write(&path, snap.to_string()).unwrap();
    let out = Command::new(assert_cmd::cargo::cargo_bin("intermargin"))
        .args(["margin", "--model", "unified", "--json", "--snapshot"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["unified"]["pooled_requirement"].as_f64().unwrap()
}

/// Waits until every account's served worker report is at `market_seq` (an empty book: at most
/// it) and margins the expected book; returns the reports.
fn wait_reports(
    addr: &str,
    want: &HashMap<String, (usize, f64)>,
    market_seq: u64,
    within: Duration,
) -> HashMap<String, Value> {
    let deadline = Instant::now() + within;
    loop {
        let mut got = HashMap::new();
        for (id, (n, im)) in want {
            let (s, v) = http(
                addr,
                "GET",
                &format!("/api/v1/accounts/{id}/margin?source=workers"),
                None,
                None,
            );
            // A tick re-margins the holders of its underlying: an empty book keeps the report
            // of the market it was margined at.
            let at = v["market_seq"].as_u64();
            if s == 200
                && (at == Some(market_seq) || (*n == 0 && at.is_some_and(|a| a <= market_seq)))
                && v["positions"].as_u64() == Some(*n as u64)
                && v["pooled_requirement"]
                    .as_f64()
                    .is_some_and(|x| (x - im).abs() <= 1e-9 * im.abs().max(1.0))
            {
                got.insert(id.clone(), v);
            }
        }
        if got.len() == want.len() {
            return got;
        }
        if Instant::now() > deadline {
            let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
            let sample = missing.first().map(|id| {
                http(
                    addr,
                    "GET",
                    &format!("/api/v1/accounts/{id}/margin?source=workers"),
                    None,
                    None,
                )
                .1
            });
            panic!(
                "{} of {} accounts without the expected report at market {market_seq}; e.g. {:?}: {:?} (want {:?})",
                missing.len(),
                want.len(),
                missing.first(),
                sample,
                missing.first().map(|m| want[*m])
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Collects the `worker_margin` messages of `/ws`.
fn watch_ws(addr: &str) -> Arc<Mutex<Vec<Value>>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (mut ws, _) = tungstenite::connect(format!("ws://{addr}/ws")).expect("ws");
    ws.send(tungstenite::Message::Text(
        json!({"auth": KEY}).to_string().into(),
    ))
    .unwrap();
    let sink = log.clone();
    std::thread::spawn(move || {
        while let Ok(m) = ws.read() {
            if let tungstenite::Message::Text(t) = m {
                if let Ok(v) = serde_json::from_str::<Value>(&t) {
                    if v["type"] == "worker_margin" {
                        sink.lock().unwrap().push(v);
                    }
                }
            }
        }
    });
    log
}

#[test]
fn two_workers_one_killed_every_report_served_in_order() {
    let Some(bin) = nats_server() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let js_dir = dir.path().join("js");
    std::fs::create_dir_all(&js_dir).unwrap();
    let (_nats, url) = start_nats(&bin, &js_dir);
    let data = dir.path().join("api");
    let api = common::start(
        &data,
        None,
        KEY,
        &[
            "--nats",
            &url,
            "--partition-count",
            &PARTITIONS.to_string(),
            "--no-demo-plots",
        ],
    );
    let addr = api.addr.clone();
    let (instruments, assets, _, _) = demo();

    // The market first, then the workers: wa primary for partitions 0-1, wb for 2-3, each the
    // other's standby.
    publish_fx(&url);
    let t0 = tick(1.0, 0);
    let seq0 = publish(&url, &t0);
    let mut wa = start_worker(&url, "wa", "0-1", "2-3", dir.path());
    let _wb = start_worker(&url, "wb", "2-3", "0-1", dir.path());
    let ws = watch_ws(&addr);

    let mut rng = rand::rngs::StdRng::seed_from_u64(20);
    let mut books: BTreeMap<String, Vec<(String, Vec<Value>)>> = BTreeMap::new();
    for i in 0..ACCOUNTS {
        let id = format!("acct-{i:03}");
        let (s, v) = http(
            &addr,
            "POST",
            "/api/v1/accounts",
            Some(&format!("c-{id}")),
            Some(&json!({"id": id})),
        );
        assert_eq!(s, 201, "{v}");
        let book = random_book(&mut rng, &instruments);
        for (venue, positions) in &book {
            let (s, v) = http(
                &addr,
                "POST",
                &format!("/api/v1/accounts/{id}/positions"),
                Some(&format!("p0-{id}-{venue}")),
                Some(&json!({"venue": venue, "positions": positions})),
            );
            assert_eq!(s, 200, "{v}");
        }
        books.insert(id, book);
    }
    let flat = |b: &[(String, Vec<Value>)]| -> Vec<Value> {
        b.iter().flat_map(|(_, p)| p.clone()).collect()
    };
    let want_at = |t: &Tick,
                   books: &BTreeMap<String, Vec<(String, Vec<Value>)>>|
     -> HashMap<String, (usize, f64)> {
        books
            .iter()
            .map(|(id, b)| {
                let f = flat(b);
                (
                    id.clone(),
                    (f.len(), expected(dir.path(), &assets, id, &f, t)),
                )
            })
            .collect()
    };

    // Every account margined at the first market, each by its partition's primary worker.
    let first = wait_reports(&addr, &want_at(&t0, &books), seq0, Duration::from_secs(60));
    for (id, r) in &first {
        let p = intermargin_workers::partition_of(id, PARTITIONS);
        assert_eq!(r["partition"].as_u64(), Some(u64::from(p)));
        assert_eq!(r["worker"], if p < 2 { "wa" } else { "wb" }, "{id}");
    }
    let in_wa: Vec<String> = books
        .keys()
        .filter(|id| intermargin_workers::partition_of(id, PARTITIONS) < 2)
        .cloned()
        .collect();
    assert!(
        !in_wa.is_empty() && in_wa.len() < ACCOUNTS,
        "both workers hold accounts"
    );

    // A tick re-margins every holder.
    let t1 = tick(1.01, 1);
    let seq1 = publish(&url, &t1);
    wait_reports(&addr, &want_at(&t1, &books), seq1, Duration::from_secs(30));

    // wa paused (SIGSTOP): new books for some of its accounts and others, a tick, then SIGKILL.
    let pid = wa.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap()
        .success());
    let changed: Vec<String> = in_wa
        .iter()
        .take(6)
        .cloned()
        .chain(
            books
                .keys()
                .filter(|id| !in_wa.contains(id))
                .take(3)
                .cloned(),
        )
        .collect();
    for (k, id) in changed.iter().enumerate() {
        let mut book = random_book(&mut rng, &instruments);
        if book.is_empty() {
            book = vec![(
                "okx".into(),
                vec![json!({"instrument": instruments[2], "size": -100.0 * (k as f64 + 1.0)})],
            )];
        }
        // Replace every venue's positions: venues absent from the new book get an empty list.
        let old: Vec<String> = books[id].iter().map(|(v, _)| v.clone()).collect();
        for v in old {
            if !book.iter().any(|(nv, _)| *nv == v) {
                let (s, _) = http(
                    &addr,
                    "POST",
                    &format!("/api/v1/accounts/{id}/positions"),
                    Some(&format!("p1-{id}-{v}-clear")),
                    Some(&json!({"venue": v, "positions": []})),
                );
                assert_eq!(s, 200);
            }
        }
        for (venue, positions) in &book {
            let (s, v) = http(
                &addr,
                "POST",
                &format!("/api/v1/accounts/{id}/positions"),
                Some(&format!("p1-{id}-{venue}")),
                Some(&json!({"venue": venue, "positions": positions})),
            );
            assert_eq!(s, 200, "{v}");
        }
        books.insert(id.clone(), book);
    }
    let t2 = tick(0.97, 2);
    let seq2 = publish(&url, &t2);
    std::thread::sleep(Duration::from_millis(300));
    let killed = Instant::now();
    wa.0.kill().unwrap(); // SIGKILL
    wa.0.wait().unwrap();

    let last = wait_reports(&addr, &want_at(&t2, &books), seq2, Duration::from_secs(30));
    let takeover = killed.elapsed();
    eprintln!(
        "takeover: every account at the latest book and market {:.2} s after SIGKILL",
        takeover.as_secs_f64()
    );
    for (id, r) in &last {
        assert_eq!(r["worker"], "wb", "{id}: partitions 0-1 taken over by wb");
    }

    // /ws: per account, versions strictly increase (no duplicate, nothing out of order), and the
    // last one streamed is the one served.
    std::thread::sleep(Duration::from_millis(500));
    let log = ws.lock().unwrap().clone();
    assert!(log.len() >= 3 * ACCOUNTS, "{} messages streamed", log.len());
    let mut seen: HashMap<String, (u64, u64)> = HashMap::new();
    for m in &log {
        let id = m["account"].as_str().unwrap().to_string();
        let v = (
            m["book_seq"].as_u64().unwrap(),
            m["market_seq"].as_u64().unwrap(),
        );
        if let Some(prev) = seen.get(&id) {
            assert!(v > *prev, "{id}: {v:?} streamed after {prev:?}");
        }
        seen.insert(id, v);
    }
    for (id, r) in &last {
        let v = (
            r["book_seq"].as_u64().unwrap(),
            r["market_seq"].as_u64().unwrap(),
        );
        assert_eq!(seen.get(id), Some(&v), "{id}: last streamed = served");
    }
    // The changed accounts' book versions moved on; the others kept theirs.
    for id in books.keys() {
        let (a, b) = (
            first[id]["book_seq"].as_u64().unwrap(),
            last[id]["book_seq"].as_u64().unwrap(),
        );
        if changed.contains(id) {
            assert!(b > a, "{id}: book version {a} → {b}");
        } else {
            assert_eq!(a, b, "{id}");
        }
    }
    drop(api);
}

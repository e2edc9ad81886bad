//! The real `intermargin serve` under an address-space limit (`setrlimit(RLIMIT_AS)`, what
//! `prlimit --as` sets; no cgroup needed): requests sized to exhaust memory are refused with a
//! 4xx naming the field before anything is allocated, and the process stays up and keeps
//! serving. Before the bounds, `accounts = 1000000000` made the process abort on a 96 GB
//! allocation.

use std::os::unix::process::CommandExt;

use serde_json::{json, Value};

mod common;
use common::http;

const ADMIN: &str = "im_hostile000000016_00112233445566778899aabbccddeeff001122334455";
const CRASH: &str = include_str!("../../../examples/stress/crash.toml");
/// The address-space limit: far below what any of the attacks would allocate (the smallest,
/// 5 million accounts, is ~0.5 GB of accounts alone, times the paths and venues of the run),
/// above what the service needs (about 170 MiB of address space idle in a debug build: threads
/// reserve stacks; malloc arenas are capped below).
const LIMIT_BYTES: u64 = 512 * 1024 * 1024;

/// Peak resident and virtual size of a process, kB (from /proc).
fn memory_kb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmPeak:"))
}

#[test]
fn oversize_requests_are_refused_under_a_memory_limit_and_the_server_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = common::command(dir.path(), None, ADMIN, &["--no-demo-plots"]);
    // Few malloc arenas, so the limit measures allocations rather than per-thread reservations.
    cmd.env("MALLOC_ARENA_MAX", "2");
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: LIMIT_BYTES as libc::rlim_t,
                rlim_max: LIMIT_BYTES as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut server = common::spawn(cmd);
    let addr = server.addr.clone();
    let pid = server.child.id();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
    assert!(
        limits
            .lines()
            .any(|l| l.starts_with("Max address space") && l.contains(&LIMIT_BYTES.to_string())),
        "the limit is in force: {limits}"
    );
    let post = |path: &str, body: Value| {
        http(&addr, ADMIN, "POST", path, Some("hostile"), Some(&body)).expect("the server answers")
    };
    let (s, v) = post("/api/v1/accounts", json!({"id": "victim"}));
    assert_eq!(s, 201, "{v}");
    let sim = |from: &str, to: &str| json!({"config": CRASH.replacen(from, to, 1)});
    let mut frontier_paths = CRASH.replacen("paths = 2000", "paths = 2000000000", 1);
    frontier_paths.push('\n');
    // (request, route, the field the refusal must name)
    let attacks: Vec<(&str, Value, &str)> = vec![
        (
            "/api/v1/simulations",
            sim("accounts = 1000", "accounts = 1000000000"),
            "body.config.population.accounts",
        ),
        (
            "/api/v1/simulations",
            sim("steps = 1440", "steps = 2000000000"),
            "body.config.steps",
        ),
        (
            "/api/v1/simulations",
            sim("accounts = 1000", "accounts = 5000000"),
            "body.config.population.accounts",
        ),
        (
            "/api/v1/simulations",
            json!({"preset": "crash", "paths": 2_000_000_000u64}),
            "body.paths",
        ),
        (
            "/api/v1/simulations",
            json!({"preset": "crash", "kind": "frontier", "paths": 2_000_000_000u64}),
            "body.paths",
        ),
        (
            "/api/v1/simulations",
            json!({"config": frontier_paths}),
            "body.config.paths",
        ),
    ];
    for (path, body, field) in &attacks {
        let (s, v) = post(path, body.clone());
        assert!((400..500).contains(&s), "{path} {field}: answered {s} {v}");
        assert_eq!(v["error"]["field"], *field, "{path}: {v}");
        assert!(
            server.child.try_wait().unwrap().is_none(),
            "the server died on {field}"
        );
    }
    // A margin proof whose rule asks for a 4-billion-bit quantity: refused naming the rule field.
    let rule: Value = serde_json::from_str(include_str!("../../../examples/zk/rule.json")).unwrap();
    let mut big_rule = rule.clone();
    big_rule["quantity_bits"] = json!(4_000_000_000u64);
    let (s, v) = post(
        "/api/v1/proofs/verify",
        json!({"rule": big_rule, "proof": {}}),
    );
    assert!((400..500).contains(&s), "{s} {v}");
    assert!(
        v["error"]["field"]
            .as_str()
            .is_some_and(|f| f.starts_with("body")),
        "{v}"
    );
    // A solvency proof padded to the body limit with path steps: the body limit refuses it (413).
    let step = r#"{"hash":"00","sums":["1"]},"#;
    let huge = format!(
        r#"{{"root":{{}},"proof":{{"path":[{}{{}}]}}}}"#,
        step.repeat(3 * 1024 * 1024 / step.len())
    );
    let raw_len = huge.len();
    let body: Value = serde_json::from_str(&huge).unwrap();
    let (s, v) = post("/api/v1/solvency/verify", body);
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (413, Some("payload_too_large")),
        "{raw_len} bytes: {v}"
    );
    // Still alive, still serving, within the limit.
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server died"
    );
    let (s, _) = http(&addr, ADMIN, "GET", "/health", None, None).unwrap();
    assert_eq!(s, 200);
    let (s, v) = post(
        "/api/v1/simulations",
        json!({"preset": "calm", "kind": "simulate", "paths": 2}),
    );
    assert_eq!(s, 202, "a reasonable simulation is still accepted: {v}");
    let (rss, peak) = memory_kb(pid);
    eprintln!(
        "serve under RLIMIT_AS = {} MiB: peak RSS {} MiB, peak virtual {} MiB",
        LIMIT_BYTES >> 20,
        rss >> 10,
        peak >> 10
    );
    assert!(peak * 1024 <= LIMIT_BYTES);
    server.kill();
}

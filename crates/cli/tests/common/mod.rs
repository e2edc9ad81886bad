//! What the tests of the real `intermargin serve` binary share: starting it, a minimal HTTP/1.1
//! client that reports a broken connection as an error (the signal of a crash), and a fresh
//! PostgreSQL database when `INTERMARGIN_TEST_POSTGRES` is set.
#![allow(dead_code)] // each test binary uses part of it

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// A running `intermargin serve` and the address it listens on.
pub struct Server {
    /// The process (killed with SIGKILL by [`Server::kill`] or on drop).
    pub child: Child,
    /// `host:port` it printed.
    pub addr: String,
}

impl Server {
    /// SIGKILL: no shutdown hook, no flush.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `intermargin serve --no-demo` on `dir` (and `database` when given) with `admin` as
/// `INTERMARGIN_ADMIN_KEY`, plus `extra` arguments; returns once it prints its address.
pub fn start(dir: &std::path::Path, database: Option<&str>, admin: &str, extra: &[&str]) -> Server {
    spawn(command(dir, database, admin, extra))
}

/// The command [`start`] runs, to adjust (limits, environment) before [`spawn`].
pub fn command(
    dir: &std::path::Path,
    database: Option<&str>,
    admin: &str,
    extra: &[&str],
) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("intermargin"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--no-demo",
        "--rate-limit",
        "1000000",
        "--data",
    ])
    .arg(dir)
    .args(extra);
    if let Some(db) = database {
        cmd.args(["--database", db]);
    }
    cmd.env("INTERMARGIN_ADMIN_KEY", admin);
    cmd
}

/// Runs `cmd` (an `intermargin serve`) and returns once it prints the address it listens on.
// The child is returned inside `Server`, whose `kill`/drop waits for it; clippy cannot follow that.
#[allow(clippy::zombie_processes)]
pub fn spawn(mut cmd: Command) -> Server {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start intermargin serve");
    let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line).unwrap_or(0) == 0 {
            let _ = child.kill();
            let _ = child.wait();
            panic!("server exited before listening");
        }
        if let Some(rest) = line.trim().strip_prefix("intermargin listening on http://") {
            let addr = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            // Keep draining stdout so the server never blocks on a full pipe.
            std::thread::spawn(move || {
                let mut sink = Vec::new();
                let _ = out.read_to_end(&mut sink);
            });
            return Server { child, addr };
        }
    }
}

/// One request on its own connection: (status, JSON body or `Value::Null`), or an error when
/// the connection breaks before a whole answer arrives.
pub fn http(
    addr: &str,
    key: &str,
    method: &str,
    path: &str,
    idem: Option<&str>,
    body: Option<&Value>,
) -> std::io::Result<(u16, Value)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(k) = idem {
        req.push_str(&format!("Idempotency-Key: {k}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let raw = String::from_utf8_lossy(&raw);
    let status: u16 = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))?;
    let (head, payload) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    // A body cut short by a crash is an error, not an answer.
    let declared = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    });
    if let Some(n) = declared {
        if payload.len() < n {
            return Err(std::io::Error::other("answer cut short"));
        }
    }
    // Chunked bodies: take the JSON between the first '{' or '[' and the last '}' or ']'.
    let start = payload.find(['{', '[']);
    let end = payload.rfind(['}', ']']);
    let json_text = match (start, end) {
        (Some(a), Some(b)) if b >= a => &payload[a..=b],
        _ => "null",
    };
    Ok((
        status,
        serde_json::from_str(json_text).unwrap_or(Value::Null),
    ))
}

/// A fresh PostgreSQL database URL when `INTERMARGIN_TEST_POSTGRES` is set, else `None`.
pub fn postgres_database(tag: &str) -> Option<String> {
    let base = std::env::var("INTERMARGIN_TEST_POSTGRES").ok()?;
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let db = format!("im_{tag}_{:x}", n ^ ((std::process::id() as u128) << 20));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let admin = sqlx::AnyPool::connect(&base)
            .await
            .expect("connect to INTERMARGIN_TEST_POSTGRES");
        sqlx::query(&format!("CREATE DATABASE {db}"))
            .execute(&admin)
            .await
            .expect("create a test database");
        admin.close().await;
    });
    let url = match base.rfind('/') {
        Some(i) if base[..i].contains("//") && i > base.find("//").unwrap_or(0) + 1 => {
            format!("{}/{db}", &base[..i])
        }
        _ => format!("{base}/{db}"),
    };
    Some(url)
}

//! What the API test files share: one request through the router, answered as JSON.
#![allow(dead_code)] // each test binary uses part of it

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// A service on the demo book at `dir` (SQLite there, or `database`), with `admin` as its admin
/// key, no demo plots and no rate limit to speak of.
pub fn config(
    dir: &std::path::Path,
    database: Option<String>,
    admin: &str,
) -> intermargin_server::Config {
    intermargin_server::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        database,
        admin_key: Some(admin.to_string()),
        feed: None,
        feed_speed: 1.0,
        live: None,
        rate_limit: 1.0e6,
        demo: true,
        demo_copies: 1,
        routes: None,
        demo_plots: false,
        monitor_threads: None,
        breakers: None,
        timeouts: intermargin_server::Timeouts::default(),
        history_step: std::time::Duration::ZERO,
        report_threshold: intermargin_server::DEFAULT_REPORT_THRESHOLD,
        report_cache: intermargin_server::DEFAULT_REPORT_CACHE,
    }
}

/// Sends one request with `key` and an idempotency key never used before in this test binary,
/// so every call is a new write.
pub async fn call_once(
    router: &axum::Router,
    method: &str,
    uri: &str,
    key: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let idem = format!(
        "t{}",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    call(router, method, uri, Some(key), Some(&idem), body).await
}

/// Sends one request (bearer key and idempotency key when given) and parses the JSON answer
/// (`Value::Null` when the body is not JSON).
pub async fn call(
    router: &axum::Router,
    method: &str,
    uri: &str,
    key: Option<&str>,
    idem: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    if let Some(i) = idem {
        req = req.header("idempotency-key", i);
    }
    let body = body
        .map(|b| Body::from(b.to_string()))
        .unwrap_or_else(Body::empty);
    let resp = router
        .clone()
        .oneshot(req.body(body).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Scratch directories for a test's data.
pub mod tempdir {
    /// A directory removed when dropped.
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new(tag: &str) -> Dir {
            let p = std::env::temp_dir().join(format!(
                "im-test-{tag}-{}-{}",
                std::process::id(),
                rand_suffix()
            ));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    pub fn rand_suffix() -> String {
        use std::time::{SystemTime, UNIX_EPOCH};
        let n = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!("{:x}", n ^ (std::process::id() as u128) << 20)
    }
}

/// Database URLs to run each test on: SQLite always, PostgreSQL when configured (a fresh database per call).
pub async fn backends(tag: &str) -> Vec<(String, Option<String>)> {
    let mut out = vec![("sqlite".to_string(), None)];
    if let Ok(base) = std::env::var("INTERMARGIN_TEST_POSTGRES") {
        sqlx::any::install_default_drivers();
        let db = format!("im_{}_{}", tag, tempdir::rand_suffix());
        let admin = sqlx::AnyPool::connect(&base)
            .await
            .expect("connect to INTERMARGIN_TEST_POSTGRES");
        sqlx::query(&format!("CREATE DATABASE {db}"))
            .execute(&admin)
            .await
            .unwrap();
        let url = match base.rfind('/') {
            Some(i)
                if base[..i].contains("@")
                    || base[..i].ends_with(':')
                    || base[..i].contains("//") =>
            {
                format!("{}/{db}", &base[..i])
            }
            _ => format!("{base}/{db}"),
        };
        out.push(("postgres".to_string(), Some(url)));
    }
    out
}

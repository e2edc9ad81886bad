//! Projection verification from checkpoints (issue 20 item 2) and the bulk loader, on SQLite and
//! (with INTERMARGIN_TEST_POSTGRES) PostgreSQL: a restart verifies the projections from the latest
//! checkpoint and the events after it; a projection tampered with after a checkpoint is still
//! detected; a bulk load writes exactly what the same mutations applied one by one write.

use std::collections::BTreeMap;

use intermargin_model::{Amount, Asset, Venue};
use intermargin_server::ledger::{Ledger, Mutation};
use rand::{Rng, SeedableRng};
use sqlx::Row;

mod common;

const ASSETS: [&str; 2] = ["USDC", "BTC"];
const PLACES: [Venue; 3] = [Venue::Hub, Venue::Deribit, Venue::Binance];

/// The database URL of one backend (a fresh SQLite file under `dir` or the fresh PostgreSQL database).
fn url(dir: &std::path::Path, pg: &Option<String>) -> String {
    pg.clone()
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.join("intermargin.db").display()))
}

async fn open(url: &str) -> Ledger {
    let l = Ledger::open(url).await.unwrap();
    for a in ASSETS {
        l.declare_asset(&Asset::new(a, 6)).await.unwrap();
    }
    l
}

/// A second connection, to tamper with the tables behind the ledger's back.
async fn raw(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(url).await.unwrap()
}

/// Applies `m` as a fresh request (its own idempotency key).
async fn apply(l: &Ledger, n: &mut u64, m: Mutation) -> bool {
    *n += 1;
    l.apply("test", &format!("k{n}"), "h", m).await.is_ok()
}

/// Random money movements on `accounts`, tracked in `expect` (the test's own model of the balances):
/// deposits always apply; withdrawals and transfers only when covered (the ledger refuses the rest).
async fn random_moves(
    l: &Ledger,
    rng: &mut rand::rngs::StdRng,
    n: &mut u64,
    accounts: &[String],
    expect: &mut BTreeMap<(String, Venue, String), i128>,
    count: usize,
) {
    for _ in 0..count {
        let a = accounts[rng.gen_range(0..accounts.len())].clone();
        let asset = ASSETS[rng.gen_range(0..ASSETS.len())].to_string();
        let (from, to) = (
            PLACES[rng.gen_range(0..PLACES.len())],
            PLACES[rng.gen_range(0..PLACES.len())],
        );
        let amount: i128 = rng.gen_range(1..1_000_000);
        let have = expect
            .get(&(a.clone(), from, asset.clone()))
            .copied()
            .unwrap_or(0);
        match rng.gen_range(0..3) {
            0 => {
                assert!(
                    apply(
                        l,
                        n,
                        Mutation::Deposit {
                            account: a.clone(),
                            location: from,
                            asset: asset.clone(),
                            amount: Amount(amount),
                        }
                    )
                    .await
                );
                *expect.entry((a, from, asset)).or_default() += amount;
            }
            1 => {
                let ok = apply(
                    l,
                    n,
                    Mutation::Withdraw {
                        account: a.clone(),
                        location: from,
                        asset: asset.clone(),
                        amount: Amount(amount),
                    },
                )
                .await;
                assert_eq!(ok, amount <= have, "withdraw {amount} of {have}");
                if ok {
                    *expect.entry((a, from, asset)).or_default() -= amount;
                }
            }
            _ => {
                let fee = amount / 100;
                let ok = apply(
                    l,
                    n,
                    Mutation::Transfer {
                        account: a.clone(),
                        from,
                        to,
                        asset: asset.clone(),
                        amount: Amount(amount),
                        fee: Amount(fee),
                    },
                )
                .await;
                assert_eq!(ok, amount <= have, "transfer {amount} of {have}");
                if ok {
                    *expect.entry((a.clone(), from, asset.clone())).or_default() -= amount;
                    *expect.entry((a, to, asset)).or_default() += amount - fee;
                }
            }
        }
    }
}

/// The balances table, non-zero rows.
async fn stored(pool: &sqlx::AnyPool) -> BTreeMap<(String, Venue, String), i128> {
    let rows = sqlx::query("SELECT account_id, location, asset, amount FROM balances")
        .fetch_all(pool)
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            let loc: String = r.get(1);
            let amt: String = r.get(3);
            (
                (r.get(0), loc.parse().unwrap(), r.get(2)),
                amt.parse::<i128>().unwrap(),
            )
        })
        .filter(|(_, v)| *v != 0)
        .collect()
}

#[tokio::test]
async fn restarts_verify_from_checkpoints_and_tampering_after_one_is_detected() {
    for (name, pg) in common::backends("ckpt").await {
        let dir = common::tempdir::Dir::new("ckpt");
        let url = url(&dir.0, &pg);
        let mut rng = rand::rngs::StdRng::seed_from_u64(20);
        let mut n = 0;
        let mut expect = BTreeMap::new();
        let accounts: Vec<String> = (0..4).map(|i| format!("acct{i}")).collect();
        let l = open(&url).await;
        for a in &accounts {
            assert!(
                apply(
                    &l,
                    &mut n,
                    Mutation::CreateAccount {
                        id: a.clone(),
                        name: a.clone(),
                    },
                )
                .await
            );
        }
        random_moves(&l, &mut rng, &mut n, &accounts, &mut expect, 60).await;
        let pool = raw(&url).await;
        expect.retain(|_, v| *v != 0);
        assert_eq!(stored(&pool).await, expect, "{name}: the test's model");

        // First verification: the whole log, then a checkpoint at its last event.
        let v = l.verify().await.unwrap();
        assert_eq!(v.from_checkpoint, None, "{name}");
        assert!(v.checkpoint_written, "{name}");
        let first = v.last_seq;

        // More events: the next verification starts at the checkpoint and replays only them.
        let before = n;
        random_moves(&l, &mut rng, &mut n, &accounts, &mut expect, 25).await;
        let money_events: i64 = sqlx::query(
            "SELECT COUNT(*) FROM events WHERE seq > $1 AND kind IN ('deposit', 'withdrawal', 'transfer')",
        )
        .bind(first)
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
        assert!(
            money_events > 0 && money_events as u64 <= n - before,
            "{name}"
        );
        drop(l);
        let l = open(&url).await;
        let v = l.verify().await.unwrap();
        assert_eq!(v.from_checkpoint, Some(first), "{name}");
        assert_eq!(v.events_replayed, money_events as u64, "{name}");
        assert!(v.checkpoint_written, "{name}");
        // Nothing new: verified from the latest checkpoint, no new one.
        let again = l.verify().await.unwrap();
        assert_eq!(again.from_checkpoint, Some(v.last_seq), "{name}");
        assert_eq!(again.events_replayed, 0, "{name}");
        assert!(!again.checkpoint_written, "{name}");

        // Events after the checkpoint, then one balance moved by one base unit behind the
        // ledger's back: detected, though the whole log is not replayed.
        random_moves(&l, &mut rng, &mut n, &accounts, &mut expect, 10).await;
        expect.retain(|_, v| *v != 0);
        let ((acct, loc, asset), amount) =
            expect.iter().next().map(|(k, v)| (k.clone(), *v)).unwrap();
        let set = |v: i128| {
            sqlx::query(
                "UPDATE balances SET amount = $1 WHERE account_id = $2 AND location = $3 AND asset = $4",
            )
            .bind(v.to_string())
            .bind(acct.clone())
            .bind(loc.as_str().to_string())
            .bind(asset.clone())
        };
        set(amount + 1).execute(&pool).await.unwrap();
        let e = l.verify().await.unwrap_err().to_string();
        assert!(e.contains("checkpoint"), "{name}: {e}");
        // Restored: verifies (and checkpoints) again.
        set(amount).execute(&pool).await.unwrap();
        let v = l.verify().await.unwrap();
        assert!(
            v.from_checkpoint.is_some() && v.checkpoint_written,
            "{name}"
        );
        // Tampered with no event after the checkpoint: the digest alone catches it.
        set(amount - 1).execute(&pool).await.unwrap();
        let e = l.verify().await.unwrap_err().to_string();
        assert!(e.contains("checkpoint"), "{name}: {e}");
        set(amount).execute(&pool).await.unwrap();
        // A row invented for another account is caught too.
        sqlx::query(
            "INSERT INTO balances (account_id, location, asset, amount) VALUES ('acct0', 'okx', 'BTC', '5')",
        )
        .execute(&pool)
        .await
        .unwrap();
        assert!(l.verify().await.is_err(), "{name}");
        sqlx::query("DELETE FROM balances WHERE location = 'okx'")
            .execute(&pool)
            .await
            .unwrap();
        l.verify().await.unwrap();
        assert_eq!(stored(&pool).await, expect, "{name}");
    }
}

#[tokio::test]
async fn without_a_checkpoint_the_whole_log_catches_a_tampered_projection() {
    for (name, pg) in common::backends("nockpt").await {
        let dir = common::tempdir::Dir::new("nockpt");
        let url = url(&dir.0, &pg);
        let l = open(&url).await;
        let mut n = 0;
        for m in [
            Mutation::CreateAccount {
                id: "a".into(),
                name: "a".into(),
            },
            Mutation::Deposit {
                account: "a".into(),
                location: Venue::Hub,
                asset: "USDC".into(),
                amount: Amount(100),
            },
        ] {
            assert!(apply(&l, &mut n, m).await);
        }
        let pool = raw(&url).await;
        sqlx::query("UPDATE balances SET amount = '101'")
            .execute(&pool)
            .await
            .unwrap();
        let e = l.verify().await.unwrap_err().to_string();
        // The invariant (101 held, 100 deposited) fails first.
        assert!(
            e.contains("invariant") || e.contains("event log"),
            "{name}: {e}"
        );
        let cps: i64 = sqlx::query("SELECT COUNT(*) FROM checkpoints")
            .fetch_one(&pool)
            .await
            .unwrap()
            .get(0);
        assert_eq!(cps, 0, "{name}: no checkpoint of a failed verification");
    }
}

/// JSON equality with numbers compared to 1e-12 relative.
fn same_json(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    match (a, b) {
        (V::Number(x), V::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
            _ => x == y,
        },
        (V::Array(x), V::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (V::Object(x), V::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// One random account's mutations: its creation, deposits, positions on some venues.
fn random_account(rng: &mut rand::rngs::StdRng, id: &str) -> Vec<Mutation> {
    let mut out = vec![Mutation::CreateAccount {
        id: id.into(),
        name: format!("name of {id}"),
    }];
    for _ in 0..rng.gen_range(0..5) {
        out.push(Mutation::Deposit {
            account: id.into(),
            location: PLACES[rng.gen_range(0..PLACES.len())],
            asset: ASSETS[rng.gen_range(0..ASSETS.len())].into(),
            amount: Amount(rng.gen_range(1..10_000_000)),
        });
    }
    let snap = intermargin_model::Snapshot::from_json(intermargin_server::DEMO_SNAPSHOT).unwrap();
    for p in &snap.portfolio.accounts[0].positions {
        if rng.gen_bool(0.6) {
            let mut p = p.clone();
            p.size *= rng.gen_range(0.1..3.0);
            out.push(Mutation::Positions {
                account: id.into(),
                venue: p.instrument.venue,
                positions: vec![p],
            });
        }
    }
    out
}

#[tokio::test]
async fn a_bulk_load_writes_what_one_by_one_writes() {
    for (name, pg) in common::backends("bulk").await {
        let dir = common::tempdir::Dir::new("bulk");
        let dir2 = common::tempdir::Dir::new("bulk1");
        let bulk_url = url(&dir.0, &pg);
        let one_url = format!(
            "sqlite://{}?mode=rwc",
            dir2.0.join("intermargin.db").display()
        );
        let (bulk, one) = (open(&bulk_url).await, open(&one_url).await);
        let mut rng = rand::rngs::StdRng::seed_from_u64(2020);
        let batch: Vec<Vec<Mutation>> = (0..300)
            .map(|i| random_account(&mut rng, &format!("b{i}")))
            .collect();
        assert_eq!(bulk.bulk_create(&batch[..120]).await.unwrap(), 120);
        assert_eq!(bulk.bulk_create(&batch[120..]).await.unwrap(), 180);
        let mut n = 0;
        for muts in &batch {
            for m in muts {
                assert!(apply(&one, &mut n, m.clone()).await);
            }
        }
        let (pb, po) = (raw(&bulk_url).await, raw(&one_url).await);
        assert_eq!(stored(&pb).await, stored(&po).await, "{name}");
        for sql in [
            "SELECT account_id, kind, payload FROM events ORDER BY seq",
            "SELECT account_id, venue, positions, reported FROM positions ORDER BY account_id, venue",
            "SELECT id, name FROM accounts ORDER BY id",
        ] {
            let text = |rows: Vec<sqlx::any::AnyRow>| -> Vec<Vec<String>> {
                rows.iter()
                    .map(|r| (0..r.len()).map(|i| r.get::<String, _>(i)).collect())
                    .collect()
            };
            let a = text(sqlx::query(sql).fetch_all(&pb).await.unwrap());
            let b = text(sqlx::query(sql).fetch_all(&po).await.unwrap());
            assert_eq!(a, b, "{name}: {sql}");
        }
        // The outbox: one row per account, its final whole book, whether written by the bulk
        // loader or by each mutation in turn (each newer book replaces the account's older row).
        let outbox = |rows: Vec<sqlx::any::AnyRow>| -> Vec<(String, String)> {
            rows.iter().map(|r| (r.get(0), r.get(1))).collect()
        };
        let sql = "SELECT account_id, payload FROM outbox ORDER BY account_id";
        let a = outbox(sqlx::query(sql).fetch_all(&pb).await.unwrap());
        let b = outbox(sqlx::query(sql).fetch_all(&po).await.unwrap());
        assert_eq!(
            a.len(),
            batch.len(),
            "{name}: one outbox row per account (bulk)"
        );
        assert_eq!(
            b.len(),
            batch.len(),
            "{name}: one outbox row per account (one by one)"
        );
        // Equal books; numbers within 1e-12 relative (the one-by-one path writes books read back
        // from the ledger's JSON text, whose float parsing may differ from the value written in
        // the last bit).
        for ((xa, xp), (ya, yp)) in a.iter().zip(&b) {
            assert_eq!(xa, ya, "{name}: outbox accounts");
            let (x, y): (serde_json::Value, serde_json::Value) = (
                serde_json::from_str(xp).unwrap(),
                serde_json::from_str(yp).unwrap(),
            );
            assert!(
                same_json(&x, &y),
                "{name}: outbox book of {xa}: {xp} vs {yp}"
            );
        }
        for (account, payload) in &b {
            let book: serde_json::Value = serde_json::from_str(payload).unwrap();
            let stored: Vec<serde_json::Value> = one
                .positions(account)
                .await
                .unwrap()
                .iter()
                .map(|p| serde_json::to_value(p).unwrap())
                .collect();
            assert!(
                same_json(&book["positions"], &serde_json::Value::Array(stored)),
                "{name}: {account}"
            );
        }
        // The books read back in one pass are those read one account at a time.
        let books = bulk.all_books().await.unwrap();
        assert_eq!(books.len(), 300, "{name}");
        for (id, b) in books.iter().take(40) {
            assert_eq!(b.collateral, one.balances(id).await.unwrap(), "{name}");
            assert_eq!(b.positions, one.positions(id).await.unwrap(), "{name}");
        }
        // The loaded ledger verifies from its log.
        assert!(bulk.verify().await.unwrap().checkpoint_written, "{name}");
        // An existing account refuses the whole batch, writing nothing.
        let again = vec![random_account(&mut rng, "new"), batch[0].clone()];
        assert!(bulk.bulk_create(&again).await.is_err(), "{name}");
        assert!(!bulk.account_exists("new").await.unwrap(), "{name}");
        // Only creations, deposits and positions are bulk-loaded; each starts with its creation.
        let bad = vec![vec![Mutation::Deposit {
            account: "x".into(),
            location: Venue::Hub,
            asset: "USDC".into(),
            amount: Amount(1),
        }]];
        let e = bulk.bulk_create(&bad).await.unwrap_err().to_string();
        assert!(e.contains("accounts[0][0]"), "{name}: {e}");
        let undeclared = vec![vec![
            Mutation::CreateAccount {
                id: "y".into(),
                name: "y".into(),
            },
            Mutation::Deposit {
                account: "y".into(),
                location: Venue::Hub,
                asset: "DOGE".into(),
                amount: Amount(1),
            },
        ]];
        let e = bulk.bulk_create(&undeclared).await.unwrap_err().to_string();
        assert!(e.contains("accounts[0][1].asset"), "{name}: {e}");
    }
}

//! Long-running engine work (simulations, zero-knowledge proofs) as jobs: started by a POST,
//! polled for progress, their results kept on disk so a restart does not lose them.
//!
//! Jobs run one at a time (the engines use every core through rayon; two at once would only
//! share the same cores), taken from a fair queue: one queue per owner (an account, or any
//! other key), served round-robin, so a caller with many jobs waits behind itself, not others.
//! Each owner may have [`MAX_PER_OWNER`] jobs waiting or running and the service
//! [`MAX_PENDING`] in all; past either, a start answers 429 with `Retry-After`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Notify;

use crate::auth::Principal;
use crate::error::ApiError;

/// Jobs waiting or running at once, across all owners.
pub const MAX_PENDING: usize = 32;
/// Jobs one owner (an account, or a non-account key) may have waiting or running.
pub const MAX_PER_OWNER: usize = 2;
/// Jobs kept in memory; past this, finished ones are dropped from memory (they stay on disk).
pub const MAX_IN_MEMORY: usize = 256;
/// The error of a job the service stopped (or crashed) before finishing.
pub const INTERRUPTED: &str =
    "interrupted: the service stopped before the job finished; start it again";
/// Seconds a refused start is told to wait.
const RETRY_SECS: u64 = 10;

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for the worker.
    Queued,
    /// Computing.
    Running,
    /// Finished; `result` holds the output.
    Done,
    /// Finished with an error; `error` says why.
    Failed,
}

/// What a client sees of a job (also its file on disk once finished).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobView {
    /// Job id.
    pub id: String,
    /// `simulation`, `frontier` or `proof`.
    pub kind: String,
    /// Scope of the key that started it (`admin` or an account id); only it and admins may read it.
    pub owner: String,
    /// Account the job is about, when any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Where it stands.
    pub status: Status,
    /// Units of work done (paths, proving steps).
    pub done: u64,
    /// Units of work in all.
    pub total: u64,
    /// `done / total`.
    pub fraction: f64,
    /// Output once done.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One job's live state.
pub struct Job {
    view: Mutex<JobView>,
    done: AtomicU64,
    quota: String,
}

impl Job {
    /// The job's id.
    pub fn id(&self) -> String {
        self.snapshot().id
    }

    /// Adds `n` units of finished work (called from engine progress callbacks).
    pub fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    fn snapshot(&self) -> JobView {
        let mut v = match self.view.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        if v.status == Status::Running || v.status == Status::Queued {
            v.done = self.done.load(Ordering::Relaxed).min(v.total);
        }
        v.fraction = if v.total == 0 {
            0.0
        } else {
            v.done as f64 / v.total as f64
        };
        v
    }

    fn update(&self, f: impl FnOnce(&mut JobView)) {
        match self.view.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }
}

/// Work queued for the worker.
type Work = Box<dyn FnOnce(&Job) -> Result<Value, String> + Send>;

/// Per-owner queues served round-robin.
#[derive(Default)]
struct FairQueue {
    queues: BTreeMap<String, VecDeque<(Arc<Job>, Work)>>,
    /// Owner served last; the next pick is the first owner after it.
    last: Option<String>,
}

impl FairQueue {
    fn pop(&mut self) -> Option<(Arc<Job>, Work)> {
        let owner = match &self.last {
            Some(l) => self
                .queues
                .range::<String, _>((std::ops::Bound::Excluded(l), std::ops::Bound::Unbounded))
                .next()
                .or_else(|| self.queues.iter().next())
                .map(|(k, _)| k.clone()),
            None => self.queues.keys().next().cloned(),
        }?;
        let q = self.queues.get_mut(&owner)?;
        let item = q.pop_front();
        if q.is_empty() {
            self.queues.remove(&owner);
        }
        self.last = Some(owner);
        item
    }
}

/// The job table, the fair queue and the directory finished jobs are written to.
pub struct Jobs {
    table: Mutex<HashMap<String, Arc<Job>>>,
    queue: Mutex<FairQueue>,
    ready: Notify,
    worker: std::sync::Once,
    dir: PathBuf,
}

fn new_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

fn valid_job_id(id: &str) -> bool {
    id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit())
}

/// Whose quota a job counts against: the account for account keys, else the key itself.
fn quota_owner(p: &Principal) -> String {
    match &p.scope {
        crate::auth::Scope::Account(a) => format!("account:{a}"),
        _ => format!("key:{}", p.key_id),
    }
}

impl Jobs {
    /// A job table persisting finished jobs under `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Jobs {
            table: Mutex::new(HashMap::new()),
            queue: Mutex::new(FairQueue::default()),
            ready: Notify::new(),
            worker: std::sync::Once::new(),
            dir,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Job>>> {
        match self.table.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, FairQueue> {
        match self.queue.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Queues `work` (run on the blocking pool when its turn comes) and returns its view.
    ///
    /// `work` gets the job to report progress on and returns the result or an error message.
    pub fn start<F>(
        self: &Arc<Self>,
        p: &Principal,
        kind: &str,
        account: Option<String>,
        total: u64,
        work: F,
    ) -> Result<JobView, ApiError>
    where
        F: FnOnce(&Job) -> Result<Value, String> + Send + 'static,
    {
        let quota = quota_owner(p);
        let job = {
            let mut table = self.lock();
            let live: Vec<&Arc<Job>> = table
                .values()
                .filter(|j| matches!(j.snapshot().status, Status::Queued | Status::Running))
                .collect();
            if live.iter().filter(|j| j.quota == quota).count() >= MAX_PER_OWNER {
                return Err(ApiError::RateLimited(RETRY_SECS));
            }
            if live.len() >= MAX_PENDING {
                return Err(ApiError::RateLimited(RETRY_SECS));
            }
            if table.len() >= MAX_IN_MEMORY {
                // Finished jobs were persisted when they finished; `get` reads them from disk.
                table
                    .retain(|_, j| matches!(j.snapshot().status, Status::Queued | Status::Running));
            }
            let id = new_id();
            let job = Arc::new(Job {
                view: Mutex::new(JobView {
                    id: id.clone(),
                    kind: kind.to_string(),
                    owner: p.scope.as_str().to_string(),
                    account,
                    status: Status::Queued,
                    done: 0,
                    total,
                    fraction: 0.0,
                    result: None,
                    error: None,
                }),
                done: AtomicU64::new(0),
                quota: quota.clone(),
            });
            table.insert(id, job.clone());
            job
        };
        let view = job.snapshot();
        // Durable before it is acknowledged: after a crash the id still answers (as interrupted).
        if let Err(e) = self.write(&view) {
            self.lock().remove(&view.id);
            return Err(ApiError::Storage(format!(
                "job {}: not recorded: {e}",
                view.id
            )));
        }
        self.queue()
            .queues
            .entry(quota)
            .or_default()
            .push_back((job, Box::new(work)));
        let me = self.clone();
        self.worker.call_once(|| {
            tokio::spawn(async move { me.run_worker().await });
        });
        self.ready.notify_one();
        Ok(view)
    }

    /// Runs queued jobs one at a time, in fair order, for as long as the service lives.
    async fn run_worker(self: Arc<Self>) {
        loop {
            let next = self.queue().pop();
            let Some((job, work)) = next else {
                self.ready.notified().await;
                continue;
            };
            job.update(|v| v.status = Status::Running);
            let j = job.clone();
            let outcome = tokio::task::spawn_blocking(move || work(&j))
                .await
                .unwrap_or_else(|e| Err(format!("job panicked: {e}")));
            // Written to disk before it shows as finished, so dropping it from memory loses nothing.
            let mut fin = job.snapshot();
            match outcome {
                Ok(r) => {
                    fin.status = Status::Done;
                    fin.done = fin.total;
                    fin.fraction = 1.0;
                    fin.result = Some(r);
                }
                Err(e) => {
                    fin.status = Status::Failed;
                    fin.error = Some(e);
                }
            }
            self.persist(&fin);
            job.update(|v| *v = fin);
        }
    }

    /// Writes a job's view whole or not at all (a temporary file renamed over the old one).
    fn write(&self, v: &JobView) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!("{}.json.tmp", v.id));
        std::fs::write(&tmp, serde_json::to_vec(v)?)?;
        std::fs::rename(&tmp, self.dir.join(format!("{}.json", v.id)))
    }

    fn persist(&self, v: &JobView) {
        if let Err(e) = self.write(v) {
            tracing::warn!("job {}: result not persisted: {e}", v.id);
        }
    }

    /// The job `id` as `p` may see it: another scope's job answers 404, like a missing one.
    pub fn get(&self, p: &Principal, id: &str) -> Result<JobView, ApiError> {
        let missing = || ApiError::NotFound(format!("job {id:?} does not exist"));
        if !valid_job_id(id) {
            return Err(missing());
        }
        let live = self.lock().get(id).cloned();
        let view = match live {
            Some(j) => j.snapshot(),
            None => {
                let text =
                    std::fs::read(self.dir.join(format!("{id}.json"))).map_err(|_| missing())?;
                let mut v: JobView = serde_json::from_slice(&text).map_err(|e| {
                    ApiError::Storage(format!("job {id}: stored result unreadable: {e}"))
                })?;
                // Stored as queued or running but not in this process's table: the service
                // stopped before it finished. It will not resume; say so instead of "queued".
                if matches!(v.status, Status::Queued | Status::Running) {
                    v.status = Status::Failed;
                    v.error = Some(INTERRUPTED.to_string());
                }
                v
            }
        };
        let allowed = match &p.scope {
            crate::auth::Scope::Admin => true,
            other => view.owner == other.as_str(),
        };
        if allowed {
            Ok(view)
        } else {
            Err(missing())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Scope;

    fn key(scope: Scope) -> Principal {
        Principal {
            key_id: "k".into(),
            scope,
        }
    }

    #[tokio::test]
    async fn a_finished_job_survives_a_restart_and_stays_with_its_owner() {
        let dir = std::env::temp_dir().join(format!("im-jobs-{}", std::process::id()));
        let jobs = Arc::new(Jobs::new(dir.clone()));
        let alice = key(Scope::Account("alice".into()));
        let v = jobs
            .start(&alice, "simulation", None, 3, |j: &Job| {
                j.advance(3);
                Ok(serde_json::json!({"answer": 42}))
            })
            .unwrap();
        let done = loop {
            let now = jobs.get(&alice, &v.id).unwrap();
            if now.status == Status::Done {
                break now;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        };
        assert_eq!((done.done, done.fraction), (3, 1.0));
        // A new table over the same directory (a restart) still answers from disk.
        let restarted = Jobs::new(dir.clone());
        let again = restarted.get(&alice, &v.id).unwrap();
        assert_eq!(again.result, Some(serde_json::json!({"answer": 42})));
        assert!(restarted
            .get(&key(Scope::Account("bob".into())), &v.id)
            .is_err());
        assert!(restarted.get(&key(Scope::Admin), &v.id).is_ok());
        assert!(restarted.get(&alice, "../../etc/passwd").is_err());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn an_acknowledged_job_still_answers_after_a_crash_as_interrupted() {
        let dir = std::env::temp_dir().join(format!("im-jobs-i-{}", std::process::id()));
        let jobs = Arc::new(Jobs::new(dir.clone()));
        let alice = key(Scope::Account("alice".into()));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let v = jobs
            .start(&alice, "simulation", None, 1, move |_: &Job| {
                let _ = rx.recv_timeout(std::time::Duration::from_secs(5));
                Ok(serde_json::json!(1))
            })
            .unwrap();
        // The process dies while the job runs: a new table over the same directory.
        let restarted = Jobs::new(dir.clone());
        let seen = restarted.get(&alice, &v.id).unwrap();
        assert_eq!(seen.status, Status::Failed);
        assert_eq!(seen.error.as_deref(), Some(INTERRUPTED));
        assert!(restarted
            .get(&key(Scope::Account("bob".into())), &v.id)
            .is_err());
        let _ = tx.send(());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn one_owner_cannot_fill_the_queue_and_owners_are_served_in_turn() {
        let dir = std::env::temp_dir().join(format!("im-jobs-q-{}", std::process::id()));
        let jobs = Arc::new(Jobs::new(dir.clone()));
        let alice = key(Scope::Account("alice".into()));
        let slow = |_: &Job| {
            std::thread::sleep(std::time::Duration::from_millis(200));
            Ok(serde_json::json!(1))
        };
        // The attack: eight jobs from one account. Two are accepted; the rest get 429 + a wait.
        let mut refused = 0;
        for _ in 0..8 {
            match jobs.start(&alice, "simulation", None, 1, slow) {
                Ok(_) => {}
                Err(ApiError::RateLimited(wait)) => {
                    assert!(wait > 0);
                    refused += 1;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(refused, 8 - MAX_PER_OWNER);
        // Everyone else, the admin included, still gets in.
        let bob = key(Scope::Account("bob".into()));
        assert!(jobs.start(&bob, "simulation", None, 1, slow).is_ok());
        assert!(jobs
            .start(&key(Scope::Admin), "proof", None, 1, slow)
            .is_ok());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_fair_queue_alternates_between_owners() {
        let mut q = FairQueue::default();
        let job = |id: &str| {
            Arc::new(Job {
                view: Mutex::new(JobView {
                    id: id.into(),
                    kind: "simulation".into(),
                    owner: String::new(),
                    account: None,
                    status: Status::Queued,
                    done: 0,
                    total: 1,
                    fraction: 0.0,
                    result: None,
                    error: None,
                }),
                done: AtomicU64::new(0),
                quota: String::new(),
            })
        };
        for (owner, id) in [("a", "a1"), ("a", "a2"), ("a", "a3"), ("b", "b1")] {
            let w: Work = Box::new(|_| Ok(serde_json::json!(null)));
            q.queues
                .entry(owner.into())
                .or_default()
                .push_back((job(id), w));
        }
        let order: Vec<String> = std::iter::from_fn(|| q.pop().map(|(j, _)| j.id())).collect();
        assert_eq!(order, ["a1", "b1", "a2", "a3"]);
    }

    #[tokio::test]
    async fn a_failed_job_reports_its_error() {
        let dir = std::env::temp_dir().join(format!("im-jobs-f-{}", std::process::id()));
        let jobs = Arc::new(Jobs::new(dir.clone()));
        let admin = key(Scope::Admin);
        let v = jobs
            .start(&admin, "proof", None, 1, |_: &Job| Err("no keys".into()))
            .unwrap();
        let fin = loop {
            let now = jobs.get(&admin, &v.id).unwrap();
            if now.status == Status::Failed {
                break now;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        };
        assert_eq!(fin.error.as_deref(), Some("no keys"));
        let _ = std::fs::remove_dir_all(dir);
    }
}

//! Soak harness: runs many random fault schedules in parallel and checks, for each, that the
//! invariant never broke, no replay was accepted and the final entitled withdrawal completed.
//!
//! ```text
//! cargo run --release -p intermargin-xchain --example soak -- --schedules 1000000 [--seed 0]
//!     [--faults-end-ms 20000] [--scheme keyed_hash|ecdsa]
//! ```
//! Exit status 1 if any schedule failed (the failing seeds are printed for replay with
//! `random_schedule(seed, scheme, faults_end_ms)` + `run(&cfg, seed)`).

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use intermargin_xchain::sim::{random_schedule, run, SimReport};
use intermargin_xchain::Scheme;
use rayon::prelude::*;
use serde::Serialize;

#[derive(Default, Serialize)]
struct Totals {
    schedules: u64,
    invariant_checks: u64,
    invariant_violations: u64,
    replays_accepted: u64,
    liveness_failures: u64,
    messages: u64,
    credits_accepted: u64,
    credits_issued: u64,
    orders_accepted: u64,
    withdrawals: u64,
    reorgs: u64,
    forgeries: u64,
    rejected_replay: u64,
    rejected_expired: u64,
    rejected_bad_signature: u64,
    rejected_wrong_domain: u64,
    rejected_no_quorum: u64,
    rejected_rate_limited: u64,
    config_errors: u64,
    failing_seeds: Vec<u64>,
}

impl Totals {
    fn add(&mut self, seed: u64, r: &SimReport) {
        self.schedules += 1;
        self.invariant_checks += r.invariant_checks;
        self.invariant_violations += r.invariant_violations;
        self.replays_accepted += r.replays_accepted;
        self.liveness_failures += u64::from(!r.liveness_ok);
        self.messages += r.messages;
        self.credits_accepted += r.credits;
        self.credits_issued += r.credits_issued;
        self.orders_accepted += r.orders_accepted;
        self.withdrawals += r.withdrawals;
        self.reorgs += r.reorgs;
        self.forgeries += r.forgeries;
        self.rejected_replay += r.rejected.replay;
        self.rejected_expired += r.rejected.expired;
        self.rejected_bad_signature += r.rejected.bad_signature;
        self.rejected_wrong_domain += r.rejected.wrong_domain;
        self.rejected_no_quorum += r.rejected.no_quorum;
        self.rejected_rate_limited += r.rejected.rate_limited;
        if (r.invariant_violations > 0 || r.replays_accepted > 0 || !r.liveness_ok)
            && self.failing_seeds.len() < 20
        {
            self.failing_seeds.push(seed);
        }
    }

    fn merge(mut self, o: Totals) -> Totals {
        self.schedules += o.schedules;
        self.invariant_checks += o.invariant_checks;
        self.invariant_violations += o.invariant_violations;
        self.replays_accepted += o.replays_accepted;
        self.liveness_failures += o.liveness_failures;
        self.messages += o.messages;
        self.credits_accepted += o.credits_accepted;
        self.credits_issued += o.credits_issued;
        self.orders_accepted += o.orders_accepted;
        self.withdrawals += o.withdrawals;
        self.reorgs += o.reorgs;
        self.forgeries += o.forgeries;
        self.rejected_replay += o.rejected_replay;
        self.rejected_expired += o.rejected_expired;
        self.rejected_bad_signature += o.rejected_bad_signature;
        self.rejected_wrong_domain += o.rejected_wrong_domain;
        self.rejected_no_quorum += o.rejected_no_quorum;
        self.rejected_rate_limited += o.rejected_rate_limited;
        self.config_errors += o.config_errors;
        self.failing_seeds.extend(o.failing_seeds);
        self.failing_seeds.truncate(20);
        self
    }
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .ok_or_else(|| format!("{name}: missing value"))?
            .parse()
            .map_err(|_| format!("{name}: not a valid value")),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let parsed = (|| -> Result<(u64, u64, u64, Scheme), String> {
        let scheme = match arg(&args, "--scheme", "keyed_hash".to_string())?.as_str() {
            "ecdsa" => Scheme::Ecdsa,
            "keyed_hash" => Scheme::KeyedHash,
            other => {
                return Err(format!(
                    "--scheme: expected ecdsa or keyed_hash, got {other}"
                ))
            }
        };
        Ok((
            arg(&args, "--schedules", 10_000u64)?,
            arg(&args, "--seed", 0u64)?,
            arg(&args, "--faults-end-ms", 20_000u64)?,
            scheme,
        ))
    })();
    let (n, base, faults_end_ms, scheme) = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let pb = ProgressBar::new(n);
    pb.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} schedules ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let start = Instant::now();
    let totals = (0..n)
        .into_par_iter()
        .fold(Totals::default, |mut t, i| {
            let seed = base.wrapping_add(i);
            let cfg = random_schedule(seed, scheme, faults_end_ms);
            match run(&cfg, seed) {
                Ok(r) => t.add(seed, &r),
                Err(_) => t.config_errors += 1,
            }
            pb.inc(1);
            t
        })
        .reduce(Totals::default, Totals::merge);
    pb.finish();
    let secs = start.elapsed().as_secs_f64();
    let out = serde_json::json!({
        "scheme": format!("{scheme:?}"),
        "faults_end_ms": faults_end_ms,
        "base_seed": base,
        "threads": rayon::current_num_threads(),
        "seconds": secs,
        "schedules_per_second": totals.schedules as f64 / secs,
        "totals": totals,
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    if totals.invariant_violations > 0
        || totals.replays_accepted > 0
        || totals.liveness_failures > 0
        || totals.config_errors > 0
    {
        eprintln!("soak FAILED");
        std::process::exit(1);
    }
}

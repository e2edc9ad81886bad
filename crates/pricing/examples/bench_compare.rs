//! Timing driver for `bench/compare.sh`: reads the inputs the Python side generated, runs the
//! batch API several times, writes the outputs back for the error comparison, and prints timings
//! as one JSON line.
//!
//! Usage: `bench_compare greeks|greeks4|iv <inputs.f64> <outputs.f64> <repeats>` (`greeks`: all
//! seven Greeks; `greeks4`: price, delta, gamma, vega only, the peers' workload).
//! Inputs: little-endian f64 columns `is_call, forward, strike, years, vol_or_price, rate`, each
//! `n` long. Outputs: `price, delta, gamma, vega` columns (greeks) or the `iv` column.

use std::error::Error;
use std::time::Instant;

use intermargin_pricing::{
    implied_vol_batch, price_delta_gamma_vega_batch, price_greeks_batch, BatchGreeks, BatchInputs,
    OptionKind,
};

fn read_f64(path: &str) -> Result<Vec<f64>, Box<dyn Error>> {
    let bytes = std::fs::read(path)?;
    if bytes.len() % 48 != 0 {
        return Err(format!("{path}: length {} is not 6 columns of f64", bytes.len()).into());
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect())
}

fn write_f64(path: &str, cols: &[&[f64]]) -> Result<(), Box<dyn Error>> {
    let mut bytes = Vec::with_capacity(cols.iter().map(|c| c.len() * 8).sum());
    for c in cols {
        for v in c.iter() {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    std::fs::write(path, bytes)?;
    Ok(())
}

/// CPU time of the whole process (all rayon threads), seconds: comparable with Python's
/// `time.process_time()` and meaningful on a loaded machine where wall time is not.
fn cpu_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a libc constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return f64::NAN;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        return Err(
            "usage: bench_compare greeks|greeks4|iv <inputs.f64> <outputs.f64> <repeats>".into(),
        );
    }
    let repeats: usize = args[4].parse().map_err(|e| format!("repeats: {e}"))?;
    let data = read_f64(&args[2])?;
    let n = data.len() / 6;
    let col = |i: usize| &data[i * n..(i + 1) * n];
    let kind: Vec<OptionKind> = col(0)
        .iter()
        .map(|&c| {
            if c != 0.0 {
                OptionKind::Call
            } else {
                OptionKind::Put
            }
        })
        .collect();
    let inp = BatchInputs {
        kind: &kind,
        forward: col(1),
        strike: col(2),
        years: col(3),
        vol_or_price: col(4),
        rate: col(5),
    };
    let mut times = Vec::with_capacity(repeats);
    let mut cpu = Vec::with_capacity(repeats);
    match args[1].as_str() {
        "greeks" | "greeks4" => {
            let mut out = BatchGreeks::with_len(n);
            let all = args[1] == "greeks";
            for _ in 0..repeats.max(1) {
                let (t0, c0) = (Instant::now(), cpu_s());
                if all {
                    price_greeks_batch(&inp, false, &mut out)?;
                } else {
                    price_delta_gamma_vega_batch(&inp, false, &mut out)?;
                }
                times.push(t0.elapsed().as_secs_f64());
                cpu.push(cpu_s() - c0);
            }
            write_f64(&args[3], &[&out.price, &out.delta, &out.gamma, &out.vega])?;
        }
        "iv" => {
            let mut out = vec![0.0; n];
            for _ in 0..repeats.max(1) {
                let (t0, c0) = (Instant::now(), cpu_s());
                implied_vol_batch(&inp, false, &mut out)?;
                times.push(t0.elapsed().as_secs_f64());
                cpu.push(cpu_s() - c0);
            }
            write_f64(&args[3], &[&out])?;
        }
        other => return Err(format!("mode: expected greeks, greeks4 or iv, got {other}").into()),
    }
    times.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    println!(
        "{{\"n\": {n}, \"best_s\": {}, \"median_s\": {}, \"cpu_best_s\": {}, \"threads\": {}}}",
        times[0],
        times[times.len() / 2],
        cpu[0],
        rayon::current_num_threads()
    );
    Ok(())
}

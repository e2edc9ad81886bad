//! Criterion benches of the batch APIs: Greeks for 1e6 options, implied vols for 1e5 premiums.
//!
//! Sample counts are small (a 1e6 batch takes tens of ms on 2 cores); run with
//! `cargo bench -p intermargin-pricing --bench batch`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use intermargin_pricing::{
    implied_vol_batch, price_delta_gamma_vega_batch, price_greeks_batch, BatchGreeks, BatchInputs,
    OptionKind,
};

/// Deterministic options (xorshift): both kinds, ±2σ strikes, 1 day–3 years, 10–150 % vol.
fn columns(n: usize) -> (Vec<OptionKind>, [Vec<f64>; 5]) {
    let mut s = 0x9e37_79b9_7f4a_7c15_u64;
    let mut u = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut kind = Vec::with_capacity(n);
    let mut c: [Vec<f64>; 5] = Default::default();
    for _ in 0..n {
        kind.push(if u() < 0.5 {
            OptionKind::Call
        } else {
            OptionKind::Put
        });
        let f = 50.0 + 100.0 * u();
        let t = 1.0 / 365.0 + 3.0 * u();
        let v = 0.1 + 1.4 * u();
        c[0].push(f);
        c[1].push(f * ((4.0 * u() - 2.0) * v * t.sqrt()).exp());
        c[2].push(t);
        c[3].push(v);
        c[4].push(0.05 * u());
    }
    (kind, c)
}

fn bench_greeks(c: &mut Criterion) {
    let n = 1_000_000;
    let (kind, [f, k, t, v, r]) = columns(n);
    let inp = BatchInputs {
        kind: &kind,
        forward: &f,
        strike: &k,
        years: &t,
        vol_or_price: &v,
        rate: &r,
    };
    let mut out = BatchGreeks::with_len(n);
    let mut g = c.benchmark_group("greeks_batch");
    g.sample_size(10).throughput(Throughput::Elements(n as u64));
    for inverse in [false, true] {
        let name = if inverse { "inverse_1e6" } else { "linear_1e6" };
        g.bench_function(name, |b| {
            b.iter(|| price_greeks_batch(black_box(&inp), inverse, &mut out))
        });
    }
    g.bench_function("first_order_linear_1e6", |b| {
        b.iter(|| price_delta_gamma_vega_batch(black_box(&inp), false, &mut out))
    });
    g.finish();
}

fn bench_iv(c: &mut Criterion) {
    let n = 100_000;
    let (kind, [f, k, t, v, r]) = columns(n);
    let mut prem = BatchGreeks::with_len(n);
    let inp = BatchInputs {
        kind: &kind,
        forward: &f,
        strike: &k,
        years: &t,
        vol_or_price: &v,
        rate: &r,
    };
    if let Err(e) = price_greeks_batch(&inp, false, &mut prem) {
        panic!("bench inputs invalid: {e}");
    }
    let inp = BatchInputs {
        vol_or_price: &prem.price,
        ..inp
    };
    let mut out = vec![0.0; n];
    let mut g = c.benchmark_group("implied_vol_batch");
    g.sample_size(10).throughput(Throughput::Elements(n as u64));
    g.bench_function("linear_1e5", |b| {
        b.iter(|| implied_vol_batch(black_box(&inp), false, &mut out))
    });
    g.finish();
}

criterion_group!(benches, bench_greeks, bench_iv);
criterion_main!(benches);

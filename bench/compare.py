"""Same-inputs benchmark of intermargin-pricing against numpy, py_vollib_vectorized and QuantLib.

Run through bench/compare.sh (which builds the Rust driver and the virtualenv). Steps:
  1. draw one seeded set of options (numpy, seed 20261125) and write it to bench/.data/;
  2. time the Rust batch API on it (crates/pricing/examples/bench_compare.rs) and read back its
     outputs;
  3. time each peer on the same arrays, in this process;
  4. print a table of times, speed ratios and max abs / rel differences, and write
     bench/.data/results.json.
Timings are the best of several repeats (QuantLib: one pass, it loops in Python).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
from scipy.special import ndtr

# py_lets_be_rational >= 1.1 only numba-compiles when asked; py_vollib_vectorized's jitted code
# calls into it and fails to type otherwise.
os.environ.setdefault("PY_LETS_BE_RATIONAL_ENABLE_NUMBA", "1")

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, ".data")


def draw(n, seed):
    """Random options: both kinds, |ln K/F| up to ~1.2, 1 day to 3 years, 10 %-150 % vol."""
    rng = np.random.default_rng(seed)
    is_call = (rng.random(n) < 0.5).astype(np.float64)
    f = rng.uniform(50.0, 150.0, n)
    t = rng.uniform(1.0 / 365.0, 3.0, n)
    vol = rng.uniform(0.1, 1.5, n)
    k = f * np.exp(rng.normal(0.0, 0.4, n) * vol * np.sqrt(t) + rng.uniform(-0.2, 0.2, n))
    r = rng.uniform(0.0, 0.05, n)
    return is_call, f, k, t, vol, r


def numpy_black76(is_call, f, k, t, vol, r):
    """Vectorised Black-76 price, delta, gamma, vega (scipy's ndtr for N)."""
    df = np.exp(-r * t)
    sqrt_t = np.sqrt(t)
    sd = vol * sqrt_t
    d1 = np.log(f / k) / sd + 0.5 * sd
    d2 = d1 - sd
    pdf1 = np.exp(-0.5 * d1 * d1) / np.sqrt(2.0 * np.pi)
    call = is_call != 0.0
    sign = np.where(call, 1.0, -1.0)
    nd1 = ndtr(sign * d1)
    nd2 = ndtr(sign * d2)
    price = sign * df * (f * nd1 - k * nd2)
    delta = sign * df * nd1
    gamma = df * pdf1 / (f * sd)
    vega = df * f * pdf1 * sqrt_t
    return price, delta, gamma, vega


def numpy_black76_price(is_call, f, k, t, vol, r):
    """Vectorised Black-76 premium alone (numpy, scipy's ndtr for N): the plain numpy pricer."""
    sd = vol * np.sqrt(t)
    d1 = np.log(f / k) / sd + 0.5 * sd
    sign = np.where(is_call != 0.0, 1.0, -1.0)
    return sign * np.exp(-r * t) * (f * ndtr(sign * d1) - k * ndtr(sign * (d1 - sd)))


def quantlib_black76(is_call, f, k, t, vol, r):
    """QuantLib's BlackCalculator per option: value, deltaForward, gammaForward, vega(T)."""
    import QuantLib as ql

    n = len(f)
    out = np.empty((4, n))
    call, put = ql.Option.Call, ql.Option.Put
    for i in range(n):
        payoff = ql.PlainVanillaPayoff(call if is_call[i] else put, float(k[i]))
        c = ql.BlackCalculator(
            payoff, float(f[i]), float(vol[i] * np.sqrt(t[i])), float(np.exp(-r[i] * t[i]))
        )
        out[0, i] = c.value()
        out[1, i] = c.deltaForward()
        out[2, i] = c.gammaForward()
        out[3, i] = c.vega(float(t[i]))
    return out


def best_of(fn, repeats):
    """(best wall s, best process-CPU s, result) over `repeats` runs."""
    times, cpus, res = [], [], None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        res = fn()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return min(times), min(cpus), res


def run_rust(binary, mode, cols, repeats):
    n = len(cols[0])
    inp = os.path.join(DATA, f"{mode}_in.f64")
    out = os.path.join(DATA, f"{mode}_out.f64")
    np.concatenate([np.asarray(c, dtype="<f8") for c in cols]).tofile(inp)
    line = subprocess.run(
        [binary, mode, inp, out, str(repeats)], check=True, capture_output=True, text=True
    ).stdout.strip()
    timing = json.loads(line)
    res = np.fromfile(out, dtype="<f8").reshape(-1, n)
    return timing, res


def errs(ours, peer, floor=0.0):
    """Max absolute and relative difference where both are finite (relative to |peer| + floor)."""
    ok = np.isfinite(ours) & np.isfinite(peer)
    d = np.abs(ours[ok] - peer[ok])
    return float(d.max()), float((d / (np.abs(peer[ok]) + floor)).max()), int((~ok).sum())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rust-bin", required=True)
    ap.add_argument("--greeks-n", type=int, default=1_000_000)
    ap.add_argument("--iv-n", type=int, default=100_000)
    ap.add_argument("--ql-n", type=int, default=None, help="QuantLib subset (default: all)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    os.makedirs(DATA, exist_ok=True)
    rows = []

    # (a) Greeks vs numpy, (c) vs QuantLib: the same 1e6 options.
    is_call, f, k, t, vol, r = draw(args.greeks_n, 20261125)
    # Rust: the peers' workload (price, delta, gamma, vega) and, for reference, all 7 Greeks.
    rt, rg = run_rust(args.rust_bin, "greeks4", [is_call, f, k, t, vol, r], args.repeats)
    rt7, _ = run_rust(args.rust_bin, "greeks", [is_call, f, k, t, vol, r], args.repeats)
    np_t, np_c, npg = best_of(lambda: numpy_black76(is_call, f, k, t, vol, r), args.repeats)
    names = ["price", "delta", "gamma", "vega"]
    # Relative errors use a floor of 1e-12·F-scale so vanishing wing premiums do not dominate.
    e_np = {nm: errs(rg[i], npg[i], 1e-12) for i, nm in enumerate(names)}
    rows.append(("(a) price+Δ+Γ+vega, numpy/scipy", args.greeks_n, np_t, rt["best_s"],
                 np_c, rt["cpu_best_s"], e_np))
    rows.append(("(a') numpy 4 Greeks vs rust all 7 Greeks", args.greeks_n, np_t, rt7["best_s"],
                 np_c, rt7["cpu_best_s"], {}))

    qn = args.ql_n or args.greeks_n
    ql_t, ql_c, qlg = best_of(
        lambda: quantlib_black76(is_call[:qn], f[:qn], k[:qn], t[:qn], vol[:qn], r[:qn]), 1
    )
    e_ql = {nm: errs(rg[i][:qn], qlg[i], 1e-12) for i, nm in enumerate(names)}
    # Scale QuantLib's time to the full batch when a subset was timed.
    rows.append(("(c) price+Δ+Γ+vega, QuantLib BlackCalculator", qn, ql_t * args.greeks_n / qn,
                 rt["best_s"], ql_c * args.greeks_n / qn, rt["cpu_best_s"], e_ql))

    # (b) Implied vol of 1e5 premiums vs py_vollib_vectorized (Let's Be Rational, numba).
    try:
        from py_vollib_vectorized import vectorized_implied_volatility_black
        peer_name = "py_vollib_vectorized"
    except ImportError:  # fallback named in compare.sh: plain Let's Be Rational, one call each
        from py_vollib.black.implied_volatility import implied_volatility as lbr_iv

        peer_name = "py_vollib (Let's Be Rational)"

        def vectorized_implied_volatility_black(price, F, K, r, t, flag, **_):
            out = np.empty(len(price))
            for i in range(len(price)):
                try:
                    out[i] = lbr_iv(price[i], F[i], K[i], r[i], t[i], flag[i])
                except Exception:  # below intrinsic / above bound: NaN like the vectorised peer
                    out[i] = np.nan
            return out

    is_call, f, k, t, vol, r = draw(args.iv_n, 7)
    price = numpy_black76(is_call, f, k, t, vol, r)[0]
    ri, riv = run_rust(args.rust_bin, "iv", [is_call, f, k, t, price, r], args.repeats)
    riv = riv[0]
    flag = np.where(is_call != 0.0, "c", "p")

    def vv():
        return np.asarray(
            vectorized_implied_volatility_black(
                price, f, k, r, t, flag, on_error="ignore", return_as="numpy"
            ),
            dtype=float,
        ).ravel()

    vv()  # numba compilation outside the timing
    vv_t, vv_c, viv = best_of(vv, args.repeats)
    # Accuracy against the generating vol, for both solvers, where vega is material
    # (|d1| < 5: elsewhere the vol is not determined by a double-precision premium).
    sd = vol * np.sqrt(t)
    d1 = np.log(f / k) / sd + 0.5 * sd
    material = np.abs(d1) < 5.0
    e_iv_true_ours = errs(riv[material], vol[material])
    e_iv_true_peer = errs(viv[material], vol[material])
    # Repricing error of each solver's vol, priced by scipy (independent of both solvers).
    rep_ours = numpy_black76(is_call, f, k, t, np.where(np.isfinite(riv), riv, 0.2), r)[0]
    rep_peer = numpy_black76(is_call, f, k, t, np.where(np.isfinite(viv), viv, 0.2), r)[0]
    e_rep_ours = errs(rep_ours[np.isfinite(riv)], price[np.isfinite(riv)], 1e-300)
    e_rep_peer = errs(rep_peer[np.isfinite(viv)], price[np.isfinite(viv)], 1e-300)
    e_vs_peer = errs(riv, viv)
    bad_ours = int((~(np.isfinite(riv) & (riv > 0))).sum())
    bad_peer = int((~(np.isfinite(viv) & (viv > 0))).sum())
    print(f"implied vol: no solution (NaN or <= 0) for {bad_ours} (ours) / {bad_peer} (peer) "
          f"of {args.iv_n} premiums")
    rows.append((f"(b) implied vol, {peer_name}", args.iv_n, vv_t, ri["best_s"], vv_c,
                 ri["cpu_best_s"], {
        "iv vs peer": e_vs_peer,
        "iv vs true (ours)": e_iv_true_ours,
        "iv vs true (peer)": e_iv_true_peer,
        "reprice (ours)": e_rep_ours,
        "reprice (peer)": e_rep_peer,
    }))

    # (d, e) The Python package (python/, PyO3): the same Rust batches called from Python on numpy
    # arrays, conversions and GIL release included. Its times go in the "rust" columns.
    try:
        import intermargin as imp
    except ImportError:
        imp = None
        print("python package intermargin not installed: rows (d) and (e) skipped")
    if imp is not None:
        is_call, f, k, t, vol, r = draw(args.greeks_n, 20261125)
        kind = is_call != 0.0
        imp.greeks(f[:1000], k[:1000], t[:1000], vol[:1000], kind=kind[:1000], rate=r[:1000])
        pg_t, pg_c, pg = best_of(lambda: imp.greeks(f, k, t, vol, kind=kind, rate=r), args.repeats)
        e_py = {nm: errs(pg[nm], npg[i], 1e-12) for i, nm in enumerate(names)}
        rows.append(("(d) python pkg all Greeks vs numpy 4 Greeks", args.greeks_n, np_t, pg_t,
                     np_c, pg_c, e_py))
        # (f, g) Premiums alone: the package's vectorised price() against a plain numpy Black-76
        # and against py_vollib_vectorized's vectorized_black, on the same 1e6 options.
        np_p = lambda: numpy_black76_price(is_call, f, k, t, vol, r)  # noqa: E731
        npp_t, npp_c, npp = best_of(np_p, args.repeats)
        imp.price(f[:1000], k[:1000], t[:1000], vol[:1000], kind=kind[:1000], rate=r[:1000])
        pp_t, pp_c, pp = best_of(lambda: imp.price(f, k, t, vol, kind=kind, rate=r), args.repeats)
        rows.append(("(f) python pkg price vs numpy Black-76 price", args.greeks_n, npp_t, pp_t,
                     npp_c, pp_c, {"price": errs(pp, npp, 1e-12)}))
        try:
            from py_vollib_vectorized import vectorized_black
        except ImportError:
            print("py_vollib_vectorized not installed: row (g) skipped")
        else:
            flag = np.where(kind, "c", "p")

            def vb():
                return np.asarray(vectorized_black(flag, f, k, t, r, vol, return_as="numpy"),
                                  dtype=float).ravel()

            vb()  # numba compilation outside the timing
            vb_t, vb_c, vbp = best_of(vb, args.repeats)
            # vectorized_black returns the undiscounted Black premium (checked: it equals
            # numpy's discounted premium x e^{rT} to 1e-12), so it is compared discounted; the
            # discounting is not timed (it favours the peer).
            rows.append(("(g) python pkg price vs py_vollib_vectorized", args.greeks_n, vb_t,
                         pp_t, vb_c, pp_c,
                         {"price (peer x e^-rT)": errs(pp, vbp * np.exp(-r * t), 1e-12)}))
        is_call, f, k, t, vol, r = draw(args.iv_n, 7)
        kind = is_call != 0.0
        pi_t, pi_c, piv = best_of(lambda: imp.implied_vol(f, k, t, price, kind=kind, rate=r),
                                  args.repeats)
        rows.append((f"(e) python pkg implied vol vs {peer_name}", args.iv_n, vv_t, pi_t, vv_c,
                     pi_c, {"iv vs rust binary": errs(piv, riv)}))

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load avg {load:.1f}, "
          f"python {platform.python_version()}, rust threads {rt['threads']}")
    print("wall = best elapsed of the repeats; cpu = best process CPU time (all threads)")
    print(f"{'workload':48} {'n':>9} {'peer wall':>10} {'rust wall':>10} {'ratio':>7} "
          f"{'peer cpu':>10} {'rust cpu':>10} {'ratio':>7}")
    for name, n, pw, rw, pc, rc, _ in rows:
        print(f"{name:48} {n:>9} {pw:>10.4f} {rw:>10.4f} {pw / rw:>6.1f}x "
              f"{pc:>10.4f} {rc:>10.4f} {pc / rc:>6.1f}x")
    print()
    print(f"{'workload':48} {'quantity':20} {'max abs':>10} {'max rel':>10} {'non-finite':>10}")
    for name, _, _, _, _, _, e in rows:
        for q, (a, rel, bad) in e.items():
            print(f"{name:48} {q:20} {a:>10.2e} {rel:>10.2e} {bad:>10}")
    with open(os.path.join(DATA, "results.json"), "w") as fh:
        json.dump([{"workload": nm, "n": n, "peer_wall_s": pw, "rust_wall_s": rw,
                    "wall_ratio": pw / rw, "peer_cpu_s": pc, "rust_cpu_s": rc,
                    "cpu_ratio": pc / rc,
                    "errors": {q: {"max_abs": a, "max_rel": rl, "non_finite": b}
                               for q, (a, rl, b) in e.items()}}
                   for nm, n, pw, rw, pc, rc, e in rows], fh, indent=1)
        fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

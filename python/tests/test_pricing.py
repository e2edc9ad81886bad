"""Prices and Greeks against an independent Black-76 written here (math.erf, scalar loop)."""

import math
import threading
import time

import numpy as np
import pytest

import intermargin as im


def n_cdf(x):
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def black76(kind, f, k, t, v, r):
    """Textbook Black-76 (Black 1976): premium and dV/dF, discounted."""
    sd = v * math.sqrt(t)
    d1 = (math.log(f / k) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    df = math.exp(-r * t)
    if kind == "call":
        return df * (f * n_cdf(d1) - k * n_cdf(d2)), df * n_cdf(d1)
    return df * (k * n_cdf(-d2) - f * n_cdf(-d1)), -df * n_cdf(-d1)


def sample(n, seed=7):
    rng = np.random.default_rng(seed)
    f = rng.uniform(50, 150, n)
    k = f * np.exp(rng.uniform(-0.5, 0.5, n))
    t = rng.uniform(0.02, 2.0, n)
    v = rng.uniform(0.1, 1.5, n)
    r = rng.uniform(-0.01, 0.06, n)
    kinds = np.where(rng.uniform(size=n) < 0.5, "call", "put")
    return f, k, t, v, r, kinds


def test_prices_match_an_independent_black76_for_calls_and_puts():
    f, k, t, v, r, kinds = sample(2000)
    got = im.price(f, k, t, v, kind=kinds, rate=r)
    want = np.array([black76(*a)[0] for a in zip(kinds, f, k, t, v, r)])
    assert got.shape == (2000,)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-11)


def test_hull_example_15_6():
    # Hull, Options, Futures and Other Derivatives, Example 15.6: S=42, K=40, r=10 %, σ=20 %,
    # T=0.5 → c ≈ 4.76, p ≈ 0.81 (Black-76 on F = S·e^{rT}).
    f = 42 * math.exp(0.1 * 0.5)
    assert abs(float(im.price(f, 40, 0.5, 0.2, "call", rate=0.1)) - 4.76) < 0.005
    assert abs(float(im.price(f, 40, 0.5, 0.2, "put", rate=0.1)) - 0.81) < 0.005


def test_delta_matches_and_inverse_is_the_linear_premium_over_the_forward():
    f, k, t, v, r, kinds = sample(500, seed=3)
    g = im.greeks(f, k, t, v, kind=kinds, rate=r)
    want_delta = np.array([black76(*a)[1] for a in zip(kinds, f, k, t, v, r)])
    np.testing.assert_allclose(g["delta"], want_delta, rtol=1e-9, atol=1e-12)
    inv = im.price(f, k, t, v, kind=kinds, rate=r, inverse=True)
    np.testing.assert_allclose(inv, g["price"] / f, rtol=1e-12)
    np.testing.assert_allclose(g["vega_per_vol_point"], g["vega"] / 100)
    np.testing.assert_allclose(g["theta_per_day"], g["theta"] / 365)


def test_inverse_greeks_carry_deribits_coin_delta():
    # README example: F 90,000, K 100,000, T 0.25, σ 55 %. Deribit's delta = N(d1) − C/F.
    f, k, t, v = 90_000.0, 100_000.0, 0.25, 0.55
    c, d = black76("call", f, k, t, v, 0.0)
    g = im.greeks(f, k, t, v, "call", inverse=True)
    assert abs(float(g["delta_coin"]) - (d - c / f)) < 1e-9
    assert 0.33 < float(g["delta_coin"]) < 0.34
    assert abs(float(g["price_quote"]) - c) < 1e-6
    # The inverse delta is the derivative of the coin premium: bump the forward.
    h = 1.0
    up = float(im.price(f + h, k, t, v, "call", inverse=True))
    dn = float(im.price(f - h, k, t, v, "call", inverse=True))
    assert abs(float(g["delta"]) - (up - dn) / (2 * h)) < 1e-10


def test_scalars_give_scalars_and_inputs_broadcast():
    p = im.price(100, 100, 1, 0.5)
    assert np.ndim(p) == 0
    grid = im.price(100.0, np.array([[90.0], [110.0]]), np.array([0.5, 1.0, 2.0]), 0.5)
    assert grid.shape == (2, 3)
    assert grid[0, 2] > grid[0, 0]


def test_implied_vol_round_trips_and_marks_unattainable_premiums():
    f, k, t, v, r, kinds = sample(3000, seed=11)
    p = im.price(f, k, t, v, kind=kinds, rate=r)
    iv = im.implied_vol(f, k, t, p, kind=kinds, rate=r)
    # Where the premium is (nearly) all intrinsic value, a double carries no vol information.
    intrinsic = np.exp(-r * t) * np.where(kinds == "call", np.maximum(f - k, 0), np.maximum(k - f, 0))
    ok = (p - intrinsic) > 1e-6 * f
    np.testing.assert_allclose(iv[ok], v[ok], rtol=1e-7)
    out = im.implied_vol(100.0, 90.0, 1.0, np.array([15.0, 120.0]), "call")
    assert np.isnan(out[1]) and not np.isnan(out[0])
    with pytest.raises(im.InputError) as e:
        im.implied_vol(100.0, 90.0, 1.0, np.array([15.0, 120.0]), "call", strict=True)
    assert e.value.field == "price" and "price[1]" in str(e.value)
    inv = im.implied_vol(f[:10], k[:10], t[:10], p[:10] / f[:10], kind=kinds[:10], rate=r[:10], inverse=True)
    np.testing.assert_allclose(inv, v[:10], rtol=1e-7)


def test_bad_inputs_raise_naming_the_field():
    with pytest.raises(im.InputError) as e:
        im.price(100, 100, 1, np.array([0.5, 50.0]))
    assert e.value.field == "vol" and "vol[1]" in str(e.value) and "0.5 = 50 %" in str(e.value)
    assert isinstance(e.value, ValueError)
    with pytest.raises(im.InputError) as e:
        im.price(np.array([100.0, -1.0]), 100, 1, 0.5)
    assert e.value.field == "forward"
    with pytest.raises(im.InputError) as e:
        im.price(100, 100, 1, 0.5, kind="straddle")
    assert e.value.field == "kind"
    with pytest.raises(im.InputError) as e:
        im.price(np.ones(3), np.ones(4), 1, 0.5)
    assert e.value.field == "forward"
    with pytest.raises(im.InputError) as e:
        im.price("abc", 100, 1, 0.5)
    assert e.value.field == "forward"


def test_the_batch_releases_the_gil():
    # While a large batch prices on one thread, a pure-Python thread must keep running.
    n = 2_000_000
    f = np.full(n, 100.0)
    ticks = []
    done = threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    worker = threading.Thread(target=tick)
    worker.start()
    time.sleep(0.01)
    start = time.perf_counter()
    for _ in range(3):
        im.greeks(f, 100.0, 1.0, 0.5)
    end = time.perf_counter()
    done.set()
    worker.join()
    during = [x for x in ticks if start < x < end]
    # With the GIL held the ticker would be frozen for the whole run.
    assert len(during) >= 3, (len(during), end - start)

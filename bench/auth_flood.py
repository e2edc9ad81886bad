#!/usr/bin/env python3
"""Auth-flood latency (a measurement, not a test): how much a flood of bad-key requests slows
legitimate ones on `intermargin serve`.

Starts the given binary on loopback with the demo book, then measures a legitimate client
(one keep-alive connection, sequential GET /api/v1/accounts/hedged/margin with a valid key):

  1. alone (baseline);
  2. while FLOOD connections (in separate processes, so Python's GIL does not slow the measuring
     client) send requests with a wrong secret on the legitimate key's own key id: the attack of
     issue 16 item 4 (argon2 on every attempt made one valid request take 1.3-1.7 s);
  3. while the flood uses random, unknown key ids;
  4. control: the same flood of requests to /health (no authentication at all), which shows how
     much of the slowdown is the flood's share of the CPU rather than authentication.

Prints p50/p95/p99/max of the legitimate requests and the flood's answers (401 vs 429) per phase.
Usage: bench/auth_flood.py --bin target/release/intermargin [--requests 2000] [--flood 50]
Standard library only.
"""
import argparse
import asyncio
import http.client
import multiprocessing as mp
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentiles(xs):
    xs = sorted(xs)
    pick = lambda q: xs[min(len(xs) - 1, int(q * len(xs)))]
    return {"n": len(xs), "p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99), "max": xs[-1]}


def legit(port, key, n):
    """n sequential requests on one keep-alive connection; latencies in ms."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    hdr = {"Authorization": f"Bearer {key}"}
    out, statuses = [], {}
    for _ in range(n):
        t = time.perf_counter()
        conn.request("GET", "/api/v1/accounts/hedged/margin", headers=hdr)
        r = conn.getresponse()
        r.read()
        out.append((time.perf_counter() - t) * 1e3)
        statuses[r.status] = statuses.get(r.status, 0) + 1
    conn.close()
    return out, statuses


async def flood_conn(port, make_key, stop_at, counts):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while time.time() < stop_at:
        key = make_key()
        if key is None:  # the control: the same flood of requests, without authentication
            req = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
        else:
            req = (f"GET /api/v1/accounts/hedged HTTP/1.1\r\nHost: x\r\n"
                   f"Authorization: Bearer {key}\r\n\r\n").encode()
        writer.write(req)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        if length:
            await reader.readexactly(length)
        with counts.get_lock():
            counts[{200: 0, 401: 1, 429: 2}.get(status, 3)] += 1
    writer.close()


def flood_proc(port, mode, key_id, conns, seconds, q):
    if mode == "wrong-secret":
        make_key = lambda: f"im_{key_id}_{secrets.token_hex(24)}"
    elif mode == "random-id":
        make_key = lambda: f"im_{secrets.token_hex(6)}_{secrets.token_hex(24)}"
    else:
        make_key = lambda: None
    counts = q
    stop_at = time.time() + seconds

    async def main():
        await asyncio.gather(*(flood_conn(port, make_key, stop_at, counts) for _ in range(conns)),
                             return_exceptions=True)

    asyncio.run(main())


def phase(name, port, key, n, mode=None, flood=0, procs=2):
    q = mp.Array("q", 4)  # flood answers: 200, 401, 429, other
    ps = []
    if mode:
        key_id = key.split("_")[1]
        per = max(1, flood // procs)
        # The flood runs a little longer than the measurement so it covers all of it.
        for _ in range(procs):
            p = mp.Process(target=flood_proc, args=(port, mode, key_id, per, 600, q), daemon=True)
            p.start()
            ps.append(p)
        time.sleep(1.0)  # let the flood reach steady state
    before = list(q)
    t0 = time.time()
    lat, statuses = legit(port, key, n)
    wall = time.time() - t0
    after = list(q)
    for p in ps:
        p.terminate()
    for p in ps:
        p.join()
    flood_rate = {k: round((a - b) / wall) for k, a, b in zip(("200", "401", "429", "other"), after, before)}
    st = percentiles(lat)
    print(f"{name:<28} legit n={st['n']} p50={st['p50']:.2f} ms p95={st['p95']:.2f} ms "
          f"p99={st['p99']:.2f} ms max={st['max']:.2f} ms  statuses={statuses}  ({wall:.1f} s)"
          + (f"  flood conns={flood} answers/s={flood_rate}" if mode else ""), flush=True)
    return st


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--flood", type=int, default=50)
    a = ap.parse_args()
    data = tempfile.mkdtemp(prefix="im-flood-")
    port = free_port()
    key = f"im_flood{secrets.token_hex(4)}_{secrets.token_hex(24)}"
    env = dict(os.environ, INTERMARGIN_ADMIN_KEY=key)
    srv = subprocess.Popen([a.bin, "serve", "--listen", f"127.0.0.1:{port}", "--data", data,
                            "--no-demo-plots", "--rate-limit", "100000"],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        legit(port, key, 200)  # warm the report and key caches
        print(f"cpus={os.cpu_count()} loadavg={os.getloadavg()} bin={a.bin}")
        phase("baseline", port, key, a.requests)
        phase("flood: wrong secret, same id", port, key, a.requests, "wrong-secret", a.flood)
        phase("flood: random key ids", port, key, a.requests, "random-id", a.flood)
        phase("control: /health flood", port, key, a.requests, "health", a.flood)
        phase("baseline again", port, key, a.requests)
    finally:
        srv.kill()
        srv.wait()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

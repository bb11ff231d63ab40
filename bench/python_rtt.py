#!/usr/bin/env python3
"""bench/python_rtt.py: the Python binding's request/reply round trip against pyzmq's.

  PYTHONPATH=build/python /usr/bin/python3 bench/python_rtt.py [--quick] [--size B]

procmod: `client.request("ping", payload)` to a real procmod-server (forward, single
client; its built-in ping answers on its I/O thread). Raw: a pyzmq DEALER in this
process sending the payload as one frame to `procmod-bench raw-echo` (a raw ROUTER in a
child process that sends every message back), and `recv()` of the echo. Both cross the
same tcp loopback between two processes, both are timed from Python. After a warm-up
of 2,000 round trips each, rounds of a block of 500 per path alternate (forward in even
rounds, backward in odd ones) so drift hits both alike; p50 and p99 over all samples.
Target: procmod p50 and p99 ≤ 1.3× raw. Exit 0 when met, 1 when not.

Environment: PROCMOD_SERVER, PROCMOD_BENCH (default: the build tree next to bench/).
"""

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import zmq

import procmod

ROOT = Path(__file__).resolve().parents[1]
SERVER = os.environ.get("PROCMOD_SERVER", str(ROOT / "build/server/procmod-server"))
BENCH = os.environ.get("PROCMOD_BENCH", str(ROOT / "build/bench/procmod-bench"))
TARGET = 1.3


def start(argv, pattern, timeout=10.0):
    """Starts argv and returns (Popen, the first group of `pattern` on a stdout line)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + timeout
    for line in proc.stdout:  # both peers print their ready line at once, or exit
        m = re.search(pattern, line)
        if m:
            return proc, m.group(1)
        if time.monotonic() > deadline:
            break
    stop(proc)
    sys.exit(f"python_rtt: {argv[0]} did not print {pattern!r}")


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    proc.stdout.close()


def block(round_trip, n, out):
    clock = time.perf_counter_ns
    for _ in range(n):
        t0 = clock()
        round_trip()
        out.append((clock() - t0) / 1000.0)


def percentile(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 rounds of 300 instead of 30 of 500")
    parser.add_argument("--size", type=int, default=64, help="payload bytes (default 64)")
    opts = parser.parse_args()
    rounds, per_block, warmup = (6, 300, 500) if opts.quick else (30, 500, 2000)
    payload = b"x" * opts.size

    server, url = start([SERVER, "--port", "0", "--admin", "none", "--log-level", "warn"],
                        r"procmod-server: ready on (tcp://\S+)")
    echo, echo_url = start([BENCH, "raw-echo", "--bind", "tcp://127.0.0.1:0"], r"^ready (\S+)")
    ctx = zmq.Context()
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    try:
        dealer.connect(echo_url)
        client = procmod.connect(url, name="python-rtt")

        def pm():
            client.request("ping", payload)

        def raw():
            dealer.send(payload)
            dealer.recv()

        assert client.request("ping", payload) == payload
        dealer.send(payload)
        assert dealer.recv() == payload
        block(pm, warmup, [])
        block(raw, warmup, [])
        samples = {"procmod": [], "raw": []}
        paths = [("procmod", pm), ("raw", raw)]
        start_time = time.monotonic()
        for r in range(rounds):
            for name, fn in (paths if r % 2 == 0 else paths[::-1]):
                block(fn, per_block, samples[name])
        seconds = time.monotonic() - start_time
        client.close()
    finally:
        dealer.close()
        ctx.term()
        stop(echo)
        stop(server)

    rows = []
    met = True
    for label, p in (("p50", 50), ("p99", 99)):
        pm_us, raw_us = percentile(samples["procmod"], p), percentile(samples["raw"], p)
        ratio = pm_us / raw_us
        ok = ratio <= TARGET
        met = met and ok
        rows.append((f"python rtt {opts.size} B tcp {label}", f"{pm_us:.1f} us",
                     f"{raw_us:.1f} us", f"{ratio:.2f}x", f"<= {TARGET:.2f}x",
                     "yes" if ok else "MISSED"))
    header = ("case", "procmod (Client.request)", "raw (pyzmq DEALER)", "ratio", "target", "met")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    line = lambda row: "| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line(row))
    print(f"{rounds} rounds x {per_block} round trips per path in {seconds:.1f} s "
          f"(after {warmup} warm-up each); procmod {procmod.__version__}, pyzmq {zmq.__version__}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())

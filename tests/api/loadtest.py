#!/usr/bin/env python3
"""loadtest.py -- the admin API under hostile clients (issue 15), a
benchmark-like load test against netstickd --no-usb:

  SLOW   slow unauthenticated connections (slowloris: one header line
         every 5 s, never a complete request), from 50 loopback addresses
         127.0.1.x, reopened as soon as the daemon drops them
  SSE    idle authenticated event streams held open, from 20 addresses
         127.0.2.x
  legit  one client on 127.0.0.1 doing GET /api/v1/status every 50 ms

    tests/api/loadtest.py [--seconds N] [--slow 1000] [--sse 100]

Prints the legit client's latency (p50, p95, max), its failures, how many
slow connections and streams the daemon held at the end, and how many log
lines the daemon wrote.  `make loadtest-api` runs it for 60 s (the figures
in docs/performance.md); no pass/fail on speed.
"""
import argparse
import os
import resource
import selectors
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from helpers import TOKEN, Daemon, call, cleanup, new_tmp, rm_tmp


def connect(src, port, payload):
    s = socket.socket()
    s.setblocking(False)
    s.bind((src, 0))
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    return [s, payload, 0.0, src]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--slow", type=int, default=1000)
    ap.add_argument("--sse", type=int, default=100)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    tmp = new_tmp()
    d = Daemon(tmp)
    sel = selectors.DefaultSelector()
    sse_req = ("GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: "
               "Bearer %s\r\n\r\n" % TOKEN).encode()
    conns = []
    for i in range(a.slow):
        conns.append(connect("127.0.1.%d" % (1 + i % 50), d.port, None))
    for i in range(a.sse):
        conns.append(connect("127.0.2.%d" % (1 + i % 20), d.port, sse_req))
    for c in conns:
        sel.register(c[0], selectors.EVENT_READ, c)
    lat, fails, reopened = [], 0, 0
    start = time.monotonic()
    next_legit = start
    lines_before = len(d.log_text().splitlines())
    while time.monotonic() - start < a.seconds:
        now = time.monotonic()
        for c in conns:               # slowloris: a line every 5 s
            if c[1] is None and now - c[2] >= 5:
                try:
                    c[0].send(b"GET /api/v1/status HTTP/1.1\r\n" if c[2] == 0
                              else b"X-Slow: 1\r\n")
                except OSError:
                    pass
                c[2] = now
            elif c[1] is not None and c[2] == 0:
                try:
                    c[0].send(c[1])
                    c[2] = now
                except OSError:
                    pass
        for key, _ in sel.select(timeout=0.01):
            c = key.data
            try:
                data = c[0].recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if data:
                continue
            sel.unregister(c[0])      # dropped by the daemon: reopen
            c[0].close()
            n = connect(c[3], d.port, c[1])
            c[0], c[2] = n[0], 0.0
            sel.register(c[0], selectors.EVENT_READ, c)
            reopened += 1
        if now >= next_legit:
            next_legit += 0.05
            t0 = time.monotonic()
            try:
                st, _, _ = call(d.port, "GET", "/api/v1/status", token=TOKEN)
                if st != 200:
                    fails += 1
            except Exception:
                fails += 1
            lat.append((time.monotonic() - t0) * 1000)
    st, _, metrics = call(d.port, "GET", "/metrics", token=TOKEN)
    lines = len(d.log_text().splitlines()) - lines_before
    lat.sort()
    pct = lambda p: lat[min(len(lat) - 1, int(len(lat) * p))] if lat else 0
    streams = [l for l in str(metrics).splitlines()
               if l.startswith("netstick_events_subscribers ")]
    print("loadtest: %.0f s, %d slow + %d SSE clients; legit GET /status: "
          "%d requests, %d failed, p50 %.1f ms, p95 %.1f ms, max %.1f ms; "
          "%d reconnects by the attackers; %s; daemon log +%d lines" %
          (a.seconds, a.slow, a.sse, len(lat), fails, pct(0.5), pct(0.95),
           lat[-1] if lat else 0, reopened,
           streams[0] if streams else "streams ?", lines))
    for c in conns:
        c[0].close()
    d.stop()
    cleanup()
    rm_tmp(tmp)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        cleanup()           # never leave the daemon behind

#!/usr/bin/env python3
"""badhttp.py PORT MODE FILE -- an HTTP/1.1 server on 127.0.0.1 that serves
FILE with byte ranges, and misbehaves in one way chosen by MODE, for the
fault tests.  Real sockets, real HTTP; only the lies are scripted.

  good          honest ranges (the baseline)
  ignore-range  200 with the whole body for every GET (Range ignored)
  trickle       the same, the body sent 64 KiB every 25 ms (2.6 MB/s)
  flaky500      every distinct range fails once with 500, then succeeds
  short         ranges longer than 1 byte get half their body, then a close
  wrong-range   ranges longer than 1 byte get a Content-Range 512 bytes off
  slow          ranges longer than 1 byte are answered after 10 s
  no-accept     honest ranges but never an Accept-Ranges header
  auth          401 unless "Authorization: Bearer s3cret" and "X-Test: yes"
"""
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, MODE, FILE = int(sys.argv[1]), sys.argv[2], sys.argv[3]
seen = set()
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("badhttp: " + (fmt % args) + "\n")

    def common(self, status, length):
        self.send_response(status)
        self.send_header("Content-Length", str(length))
        self.send_header("ETag", '"v1"')
        if MODE != "no-accept":
            self.send_header("Accept-Ranges", "bytes")

    def authorized(self):
        if MODE != "auth":
            return True
        if (self.headers.get("Authorization") == "Bearer s3cret"
                and self.headers.get("X-Test") == "yes"):
            return True
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def do_HEAD(self):
        if self.authorized():
            self.common(200, os.path.getsize(FILE))
            self.end_headers()

    def do_GET(self):
        if not self.authorized():
            return
        data = open(FILE, "rb").read()
        m = re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers.get("Range", ""))
        if MODE in ("ignore-range", "trickle") or not m:
            self.common(200, len(data))
            self.end_headers()
            step = 65536 if MODE == "trickle" else len(data) or 1
            for i in range(0, len(data), step):
                self.wfile.write(data[i:i + step])
                if MODE == "trickle":
                    self.wfile.flush()
                    time.sleep(0.025)
            return
        first, last = int(m.group(1)), min(int(m.group(2)), len(data) - 1)
        big = last > first
        if MODE == "flaky500" and big:
            with lock:
                fresh = (first, last) not in seen
                seen.add((first, last))
            if fresh:
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        if MODE == "slow" and big:
            time.sleep(10)
        body = data[first:last + 1]
        shift = 512 if MODE == "wrong-range" and big else 0
        self.common(206, len(body))
        self.send_header("Content-Range", "bytes %d-%d/%d" %
                         (first + shift, last + shift, len(data)))
        self.end_headers()
        if MODE == "short" and big:
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()

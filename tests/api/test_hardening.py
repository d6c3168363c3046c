#!/usr/bin/env python3
"""test_hardening.py -- issue 15: the exact requests an attacker's test made
against netstickd --no-usb, each now refused (the right 4xx, nothing
loaded, no secret in any reply, event or log) or held off.

    tests/api/test_hardening.py [NAME_REGEX]

Servers: netstickd --no-usb with allowed_hosts [127.0.0.2], and a
ThreadingHTTPServer with byte ranges on 127.0.0.1 and 127.0.0.2 (the
same port), which also redirects /redir.img on 127.0.0.2 to 127.0.0.1.
Hostile clients bind other loopback addresses (127.0.0.3...) so the
per-address limits hold them and not the legitimate client.

Closing line: "api-hardening: N passed, N failed".
"""
import ctypes
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from helpers import (NETSTICKD, TOKEN, Daemon, Sse, err_code, free_port,
                     new_tmp, rm_tmp, Suite, check, expect)

SUITE = Suite("api-hardening")
test = SUITE.test
D = None
TMP = None
HTTP_PORT = None
SECRET = "hunter2secret"
SEEN = []                 # request lines + headers the HTTP server saw
SLOW = {"delay": 0.0}     # seconds before answering /slow.img





def no_secret(*things):
    for t in things:
        text = t if isinstance(t, str) else json.dumps(t)
        check(SECRET not in text, "secret shown: %s" % text[:300])


def lun1():
    return D.call("GET", "/api/v1/luns/1")[2]


def nothing_loaded():
    li = lun1()
    check(li["state"] in ("empty", "error") and li["media"] is None, li)


class Ranges(BaseHTTPRequestHandler):
    """Serves $TMP/www with byte ranges; /redir.img redirects off-policy."""
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _file(self):
        name = self.path.split("?")[0].lstrip("/")
        if name == "slow.img":
            time.sleep(SLOW["delay"])
            name = "disk.img"
        path = os.path.join(TMP, "www", name)
        return path if os.path.isfile(path) else None

    def _common(self, head):
        SEEN.append((self.server.server_address[0], self.requestline,
                     str(self.headers)))
        if self.path.startswith("/redir.img"):
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:%d/disk.img"
                             % HTTP_PORT)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path = self._file()
        if not path:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        size = os.path.getsize(path)
        m = re.match(r"bytes=(\d+)-(\d+)", self.headers.get("Range", ""))
        first, last = (int(m.group(1)), int(m.group(2))) if m else (0, size - 1)
        last = min(last, size - 1)
        self.send_response(206 if m else 200)
        if m:
            self.send_header("Content-Range", "bytes %d-%d/%d"
                             % (first, last, size))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", '"v1"')
        self.send_header("Content-Length", str(last - first + 1))
        self.end_headers()
        if not head:
            with open(path, "rb") as f:
                f.seek(first)
                self.wfile.write(f.read(last - first + 1))

    def do_HEAD(self):
        self._common(True)

    def do_GET(self):
        self._common(False)


def start_http():
    global HTTP_PORT
    HTTP_PORT = free_port()
    for host in ("127.0.0.1", "127.0.0.2"):
        srv = ThreadingHTTPServer((host, HTTP_PORT), Ranges)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()


def start_shared():
    global D, TMP
    TMP = new_tmp()
    os.makedirs(os.path.join(TMP, "www"))
    with open(os.path.join(TMP, "www", "disk.img"), "wb") as f:
        f.write(os.urandom(1 << 20))
    start_http()
    D = Daemon(TMP, api={"allowed_hosts": "[127.0.0.2]"})
    os.chmod(D.config, 0o600)


# ---- the allowed_hosts bypass and credentials ---------------------------

@test
def test_one_slash_http_host_checked():
    for scheme in ("http", "https", "HTTP", "Https"):
        src = "%s:/127.0.0.1:%d/disk.img" % (scheme, HTTP_PORT)
        expect(D.call("PUT", "/api/v1/luns/1/media", {"source": src}), 422,
               "host_not_allowed")
        nothing_loaded()


@test
def test_one_slash_with_credentials_redacted_everywhere():
    sse = Sse(D.port, TOKEN)
    sse.next("hello")
    src = "http:/user:%s@127.0.0.2:%d/disk.img" % (SECRET, HTTP_PORT)
    body = expect(D.call("PUT", "/api/v1/luns/1/media", {"source": src}), 200)
    no_secret(body)
    check(body["media"]["source"].startswith("http://***@127.0.0.2"), body)
    no_secret(D.call("GET", "/api/v1/luns")[2], lun1())
    ev = sse.next("lun")
    while ev and ev["data"]["lun"]["state"] != "ready":
        no_secret(ev["data"])
        ev = sse.next("lun")
    check(ev is not None, "no ready event")
    no_secret(ev["data"])
    sse.close()
    no_secret(D.call("GET", "/metrics")[2], D.log_text())
    expect(D.call("DELETE", "/api/v1/luns/1/media"), 200)


@test
def test_upper_case_scheme_reaches_http_not_file():
    src = "HTTPS://user:%s@127.0.0.1:1/x.img" % SECRET
    body = expect(D.call("PUT", "/api/v1/luns/1/media", {"source": src}), 422,
                  "host_not_allowed")
    no_secret(body)
    src = "HTTPS://user:%s@127.0.0.2:1/x.img" % SECRET
    st, _, body = D.call("PUT", "/api/v1/luns/1/media", {"source": src})
    check(st == 422 and err_code(body) == "open_failed", (st, body))
    check("https://***@127.0.0.2" in body["error"]["message"], body)
    no_secret(body, lun1(), D.log_text())


@test
def test_redirect_off_policy_refused():
    del SEEN[:]
    src = "http://127.0.0.2:%d/redir.img" % HTTP_PORT
    body = expect(D.call("PUT", "/api/v1/luns/1/media", {"source": src}), 422,
                  "open_failed")
    check("policy" in body["error"]["message"], body)
    nothing_loaded()
    check(not [s for s in SEEN if s[0] == "127.0.0.1"],
          "a request reached the refused host: %s" % SEEN)


@test
def test_header_option_crlf_refused():
    del SEEN[:]
    src = "http://127.0.0.2:%d/disk.img" % HTTP_PORT
    for bad in ("X-A: 1\r\nX-Injected: yes", "X-A: 1\nX-Injected: yes",
                "X-A: 1\rX"):
        expect(D.call("PUT", "/api/v1/luns/1/media",
                      {"source": src, "options": {"header": bad}}),
               422, "option_invalid")
    check(not [s for s in SEEN if "X-Injected" in s[2]], SEEN)
    nothing_loaded()


@test
def test_nul_in_json_string_refused():
    os.makedirs(D.images, exist_ok=True)
    with open(os.path.join(D.images, "c.img"), "wb") as f:
        f.write(b"\0" * 65536)
    raw = ('{"source":"%s/c.img\\u0000/../.."}' % D.images).encode()
    expect(D.call("PUT", "/api/v1/luns/1/media", raw=raw), 400, "bad_json")
    nothing_loaded()


@test
def test_tls_file_options_from_a_client_refused_alike():
    src = "https://127.0.0.2:1/x.img"
    msgs = set()
    for path in ("/etc/passwd", "/nonexistent/x.pem",
                 os.path.join(D.images, "c.img")):
        for key in ("ca-file", "client-cert", "ca-path", "client-key"):
            body = expect(D.call("PUT", "/api/v1/luns/1/media",
                                 {"source": src,
                                  "options": {key: path}}),
                          422, "option_not_allowed")
            msgs.add(body["error"]["message"].replace(key, "KEY"))
        body = expect(D.call("PUT", "/api/v1/luns/1/media",
                             {"source": src + "#ca-file=" + path}),
                      422, "option_not_allowed")
        msgs.add(body["error"]["message"].replace("ca-file", "KEY"))
    check(len(msgs) == 1, "messages differ by file: %s" % msgs)


# ---- the symlink race ------------------------------------------------------

RENAME_EXCHANGE = 2


def _swapper(a, b, stop, count):
    libc = ctypes.CDLL(None, use_errno=True)
    fn = libc.renameat2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                   ctypes.c_char_p, ctypes.c_uint]
    AT_FDCWD = -100
    while not stop.is_set():
        if fn(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(),
              RENAME_EXCHANGE) == 0:
            count[0] += 1


@test
def test_symlink_swap_race_never_escapes():
    tries = int(os.environ.get("RACE_TRIES", "2000"))
    outside = os.path.join(TMP, "outside")
    os.makedirs(outside, exist_ok=True)
    with open(os.path.join(outside, "x.img"), "wb") as f:
        f.write(b"\1" * (2 << 20))          # 2 MiB: an escape shows
    sub = os.path.join(D.images, "sub")
    evil = os.path.join(D.images, "evil")
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "x.img"), "wb") as f:
        f.write(b"\2" * (1 << 20))          # 1 MiB inside
    if not os.path.lexists(evil):
        os.symlink(outside, evil)
    stop = threading.Event()
    swaps = [0]
    t = threading.Thread(target=_swapper, args=(sub, evil, stop, swaps))
    t.start()
    escapes = loaded = refused = 0
    conn = http.client.HTTPConnection("127.0.0.1", D.port, timeout=20)
    h = {"Authorization": "Bearer " + TOKEN,
         "Content-Type": "application/json"}
    body = json.dumps({"source": os.path.join(sub, "x.img")})
    try:
        for _ in range(tries):
            conn.request("PUT", "/api/v1/luns/1/media", body=body, headers=h)
            r = conn.getresponse()
            reply = json.loads(r.read())
            if r.status == 200:
                loaded += 1
                if reply["media"]["size"] != 1 << 20:
                    escapes += 1
            else:
                refused += 1
    finally:
        stop.set()
        t.join()
        conn.close()
    print("     race: %d tries, %d swaps, %d loaded inside, %d refused, "
          "%d escapes" % (tries, swaps[0], loaded, refused, escapes))
    check(escapes == 0, "%d escapes" % escapes)
    check(loaded > 0 and refused > 0 and swaps[0] > tries,
          "the race did not run both ways")
    expect(D.call("DELETE", "/api/v1/luns/1/media"), 200)


# ---- hostile clients --------------------------------------------------------

def _slow_socket(src, port):
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n")
    return s


def _closed_by_server(s):
    try:
        s.settimeout(0.5)
        return s.recv(1) == b""
    except socket.timeout:
        return False
    except OSError:
        return True


@test
def test_auth_before_body():
    for auth, status in ((None, 401), ("Bearer " + TOKEN, 413)):
        s = socket.create_connection(("127.0.0.1", D.port), timeout=5)
        req = ("PUT /api/v1/luns/1/media HTTP/1.1\r\nHost: x\r\n"
               "Content-Type: application/json\r\n"
               "Content-Length: 100000000\r\n")
        if auth:
            req += "Authorization: %s\r\n" % auth
        s.sendall((req + "\r\n").encode())
        t0 = time.monotonic()
        head = s.recv(4096).decode()       # no body sent at all
        check(head.startswith("HTTP/1.1 %d" % status), head[:80])
        check(time.monotonic() - t0 < 2, "answer waited for the body")
        s.close()


@test
def test_slowloris_held_off_legit_served():
    socks = []
    for i in range(40):
        try:
            socks.append(_slow_socket("127.0.0.3", D.port))
        except OSError:
            pass
    lat = []
    for _ in range(20):
        t0 = time.monotonic()
        st, _, _ = D.call("GET", "/api/v1/status")
        lat.append(time.monotonic() - t0)
        check(st == 200, st)
    # Those over the per-address limit were closed at once.
    time.sleep(0.3)
    held = [s for s in socks if not _closed_by_server(s)]
    check(len(held) <= 16, "%d slow connections held from one address"
          % len(held))
    # The deadline ends the rest: no complete request in 10 s.
    end = time.monotonic() + 14
    while time.monotonic() < end and any(not _closed_by_server(s)
                                          for s in held):
        time.sleep(0.5)
    check(all(_closed_by_server(s) for s in held), "slow connections live "
          "past the request deadline")
    for s in socks:
        s.close()
    check(max(lat) < 1.0, "legit latency %.3f s" % max(lat))


@test
def test_sse_capped_per_address_and_freed_on_leave():
    streams = []
    for _ in range(8):
        s = socket.socket()
        s.bind(("127.0.0.4", 0))
        s.connect(("127.0.0.1", D.port))
        s.sendall(("GET /api/v1/events HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: Bearer %s\r\n\r\n" % TOKEN).encode())
        check(s.recv(64).startswith(b"HTTP/1.1 200"), "stream refused")
        streams.append(s)

    def ninth():
        s = socket.socket()
        s.bind(("127.0.0.4", 0))
        s.settimeout(5)
        s.connect(("127.0.0.1", D.port))
        s.sendall(("GET /api/v1/events HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: Bearer %s\r\n\r\n" % TOKEN).encode())
        return s, s.recv(64)

    s9, head = ninth()
    check(head.startswith(b"HTTP/1.1 503"), head)
    s9.close()
    # Another address is not held by these.
    sse = Sse(D.port, TOKEN)
    check(sse.status == 200, sse.status)
    sse.close()
    streams.pop().close()
    t0 = time.monotonic()
    ok = False
    while time.monotonic() - t0 < 5 and not ok:
        s9, head = ninth()
        ok = head.startswith(b"HTTP/1.1 200")
        streams.append(s9)
        if not ok:
            time.sleep(0.2)
    check(ok, "slot not freed after the client left")
    print("     sse slot freed after %.2f s" % (time.monotonic() - t0))
    for s in streams:
        s.close()


@test
def test_head_events_answered():
    st, h, _ = D.call("HEAD", "/api/v1/events")
    check(st == 200 and h.get("content-type") == "text/event-stream",
          (st, h))


@test
def test_unauthenticated_flood_log_bounded():
    before = len(D.log_text().splitlines())
    for _ in range(300):
        D.call("PUT", "/api/v1/luns/1/media", {"source": "memory:1M"},
               token="wrong-token-0123456789")
    st, _, _ = D.call("GET", "/api/v1/status")
    check(st == 200, st)
    grown = len(D.log_text().splitlines()) - before
    check(grown <= 25, "log grew by %d lines" % grown)


# ---- state reported ----------------------------------------------------------

@test
def test_luns_during_load_show_the_new_source():
    SLOW["delay"] = 1.5
    src = "http://127.0.0.2:%d/slow.img" % HTTP_PORT
    res = {}
    t = threading.Thread(target=lambda: res.update(r=D.call(
        "PUT", "/api/v1/luns/1/media", {"source": src})))
    t.start()
    time.sleep(0.6)
    li = lun1()
    t.join()
    SLOW["delay"] = 0.0
    check(li["state"] == "loading", li)
    check(li["media"]["source"] == src, li)
    body = expect(res["r"], 200)
    check(body["state"] == "ready" and body["media"]["source"] == src, body)
    expect(D.call("DELETE", "/api/v1/luns/1/media"), 200)


# ---- secrets at start-up ---------------------------------------------------------

def _start_fails(tmp, api, want):
    cfg = os.path.join(tmp, "c.yaml")
    with open(cfg, "w") as f:
        f.write("api:\n  port: 0\n" +
                "".join("  %s: %s\n" % kv for kv in api.items()) +
                "luns:\n  - {}\n")
    t0 = time.monotonic()
    p = subprocess.run([NETSTICKD, "--no-usb", "-c", cfg],
                       capture_output=True, text=True, timeout=10)
    check(p.returncode != 0, "started: %s" % p.stderr)
    check(time.monotonic() - t0 < 5, "start-up hung")
    check(re.search(want, p.stderr), p.stderr)


@test
def test_token_file_fifo_long_and_dir_refused():
    tmp = new_tmp()
    try:
        fifo = os.path.join(tmp, "fifo")
        os.mkfifo(fifo, 0o600)
        _start_fails(tmp, {"token_file": fifo}, "not a regular file")
        big = os.path.join(tmp, "big")
        with open(big, "w") as f:
            f.write("a" * 300 + "\n")
        os.chmod(big, 0o600)
        _start_fails(tmp, {"token_file": big}, "at most 256")
        _start_fails(tmp, {"token_file": tmp}, "not a regular file")
    finally:
        rm_tmp(tmp)


@test
def test_inline_token_in_world_readable_config_warned():
    tmp = new_tmp()
    try:
        d = Daemon(tmp, token="inline-token-0123456789abcdef")
        os.chmod(d.config, 0o644)
        d.stop()
        d = Daemon(tmp, token="inline-token-0123456789abcdef")
        # Daemon() writes the config with the umask's mode (0644 here).
        if os.stat(d.config).st_mode & 0o044:
            time.sleep(0.3)
            check("others can read" in d.log_text(), d.log_text())
        d.stop()
    finally:
        rm_tmp(tmp)


def main():
    return SUITE.main(start_shared, lambda: [(D, True)], lambda: TMP)

if __name__ == "__main__":
    sys.exit(main())

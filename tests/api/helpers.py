"""helpers.py — shared pieces of the API tests (tests/api/test_api.py).

Daemon       build/netstickd --no-usb with a generated config.yaml on a free
             port (api.port: 0, read back from the log), killed at exit
call()       one HTTP request -> (status, headers, parsed JSON or text)
Sse          a GET /api/v1/events reader on its own socket
nbdkit()     a real nbdkit on a free loopback port, killed at exit

Python standard library only.  Every wait is bounded.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NETSTICKD = os.environ.get("NETSTICKD", os.path.join(REPO, "build", "netstickd"))
TOKEN = "test-token-0123456789abcdef"

_procs = []


def cleanup():
    for p in _procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in _procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, limit=5.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def nbdkit(*args):
    """nbdkit ARGS on 127.0.0.1:PORT in the foreground; returns the port."""
    port = free_port()
    p = subprocess.Popen(["nbdkit", "-f", "--exit-with-parent", "-i",
                          "127.0.0.1", "-p", str(port)] + list(args),
                         stdin=subprocess.DEVNULL,   # nbdkit wants fd 0 open
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _procs.append(p)
    if not wait_port(port):
        raise RuntimeError("nbdkit did not start")
    return port


class Daemon:
    """netstickd --no-usb with config text built from `api` and `extra`."""

    def __init__(self, tmp, api=None, extra="", token=TOKEN, luns=None):
        self.tmp = tmp
        self.images = os.path.join(tmp, "images")
        os.makedirs(self.images, exist_ok=True)
        api_lines = {
            "port": "0",
            "allowed_dir": self.images,
            "allowed_schemes": "[file, memory, nbd, http, https]",
            "webui_dir": os.path.join(REPO, "webui"),
            "max_body": "4096",
        }
        if token:
            api_lines["token"] = '"%s"' % token
        api_lines.update(api or {})
        cfg = "api:\n" + "".join("  %s: %s\n" % kv for kv in api_lines.items())
        cfg += "luns:\n" + (luns or "  - media: memory:1M\n  - {}\n")
        cfg += extra
        self.config = os.path.join(tmp, "config.yaml")
        with open(self.config, "w") as f:
            f.write(cfg)
        self.log = os.path.join(tmp, "netstickd.log")
        self.proc = subprocess.Popen([NETSTICKD, "--no-usb", "-c", self.config],
                                     stdin=subprocess.DEVNULL,
                                     stdout=open(self.log, "w"),
                                     stderr=subprocess.STDOUT)
        _procs.append(self.proc)
        self.port = self._wait_port()
        self.token = token

    def _wait_port(self):
        end = time.monotonic() + 10
        while time.monotonic() < end:
            m = re.search(r"listening on https?://[^:]+:(\d+)/", self.log_text())
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("netstickd did not start:\n" + self.log_text())

    def log_text(self):
        with open(self.log) as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=15)

    def call(self, method, path, body=None, token="default", headers=None,
             raw=None):
        return call(self.port, method, path, body,
                    self.token if token == "default" else token, headers, raw)


def call(port, method, path, body=None, token=None, headers=None, raw=None):
    """Returns (status, headers dict (lower-case names), JSON or text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    data = raw if raw is not None else (
        json.dumps(body).encode() if body is not None else None)
    if data is not None:
        h.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=data, headers=h)
    r = conn.getresponse()
    text = r.read().decode("utf-8", "replace")
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    conn.close()
    if hdrs.get("content-type", "").startswith("application/json"):
        return r.status, hdrs, json.loads(text)
    return r.status, hdrs, text


def err_code(body):
    try:
        return body["error"]["code"]
    except (TypeError, KeyError):
        return None


class Sse:
    """Reads GET /api/v1/events event by event."""

    def __init__(self, port, token, last_id=None):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        h = {"Authorization": "Bearer " + token, "Accept": "text/event-stream"}
        if last_id is not None:
            h["Last-Event-ID"] = str(last_id)
        self.conn.request("GET", "/api/v1/events", headers=h)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.content_type = self.resp.getheader("Content-Type")

    def next(self, want=None, limit=10.0):
        """The next event (dict with id, event, data) whose type is want."""
        end = time.monotonic() + limit
        ev = {}
        while time.monotonic() < end:
            line = self.resp.readline().decode()
            if line == "":
                return None
            line = line.rstrip("\n")
            if line.startswith(":"):
                continue
            if line == "":
                if ev and (want is None or ev.get("event") == want):
                    if "data" in ev:
                        ev["data"] = json.loads(ev["data"])
                    return ev
                ev = {}
                continue
            k, _, v = line.partition(": ")
            ev[k] = v
        return None

    def close(self):
        self.conn.close()


def new_tmp():
    return tempfile.mkdtemp(prefix="netstick-api.")


def rm_tmp(path):
    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------- the runner


class Skip(Exception):
    """Raised by a test that cannot run here (a tool is missing)."""


def check(cond, what=""):
    if not cond:
        raise AssertionError(what)


def expect(resp, status, code=None):
    """resp is call()'s (status, headers, body): the status must be
    `status` and, when given, the error code `code`; returns the body."""
    st, _, body = resp
    check(st == status, "status %s, want %s: %s" % (st, status, body))
    if code is not None:
        check(err_code(body) == code, "code %r, want %r: %s"
              % (err_code(body), code, body))
    return body


class Suite:
    """One file's tests: @SUITE.test registers a test, SUITE.main() runs
    those whose name matches argv[1] (default: all), one line each ("ok
    NAME", "FAIL NAME" and a traceback, "skip NAME: why"), then the closing
    line "LABEL: N passed, N failed[, N skipped]"."""

    def __init__(self, label):
        self.label = label
        self.tests = []

    def test(self, fn):
        self.tests.append(fn)
        return fn

    def main(self, start, daemons, tmp):
        """start(): sets up what the tests share.  daemons(): after the
        tests, [(daemon, must_live)]: each must exit 0 when stopped, and a
        must_live one must still be running.  tmp(): a directory to remove
        at the end, or None.  Returns the exit status."""
        pattern = re.compile(sys.argv[1] if len(sys.argv) > 1 else "")
        passed = failed = skipped = 0
        try:
            start()
            for fn in self.tests:
                if not pattern.search(fn.__name__):
                    continue
                try:
                    fn()
                    print("ok   %s" % fn.__name__)
                    passed += 1
                except Skip as e:
                    print("skip %s: %s" % (fn.__name__, e))
                    skipped += 1
                except Exception:
                    print("FAIL %s" % fn.__name__)
                    traceback.print_exc(limit=3, file=sys.stdout)
                    failed += 1
            for d, must_live in daemons():
                failed += self._finish(d, must_live)
        finally:
            cleanup()
            if tmp():
                rm_tmp(tmp())
        line = "%s: %d passed, %d failed" % (self.label, passed, failed)
        print(line + (", %d skipped" % skipped if skipped else ""))
        return 1 if failed else 0

    @staticmethod
    def _finish(d, must_live):
        if d is None or (not must_live and not d.alive()):
            return 0
        if not d.alive():
            print("FAIL netstickd died:\n" + d.log_text())
            return 1
        rc = d.stop()
        if rc != 0:
            print("FAIL netstickd exit status %s" % rc)
            return 1
        return 0

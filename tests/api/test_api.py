#!/usr/bin/env python3
"""test_api.py — the admin API against a running netstickd --no-usb.

Every route of docs/api.md, the errors (bad JSON, oversize body, missing
and wrong token, unknown LUN and image, disallowed scheme, path traversal,
symlink escape, unreachable source with a redacted message, concurrent
swaps on one LUN), the event stream, metrics, the web UI files and the
token file.  The host lock (409 medium_locked, then ?force=true) needs a
USB host to send PREVENT MEDIUM REMOVAL: tests/unit/test-api-routes.c
covers it in-process and tests/vm/api-swap.sh with a real Linux host.

    tests/api/test_api.py [NAME_REGEX]

One line per test ("ok NAME" / "FAIL NAME" / "skip NAME: why"), then
"api: N passed, N failed[, N skipped]".  Exit status 1 if any failed.
"""
import http.client
import json
import os
import re
import shutil
import ssl
import stat
import subprocess
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from helpers import (TOKEN, Daemon, Sse, call, cleanup, err_code, new_tmp,
                     nbdkit, rm_tmp, free_port)

TESTS = []
D = None          # the shared daemon
TMP = None


class Skip(Exception):
    pass


def test(fn):
    TESTS.append(fn)
    return fn


def check(cond, what=""):
    if not cond:
        raise AssertionError(what)


def expect(resp, status, code=None):
    st, _, body = resp
    check(st == status, "status %s, want %s: %s" % (st, status, body))
    if code is not None:
        check(err_code(body) == code, "code %r, want %r: %s"
              % (err_code(body), code, body))
    return body


def write_image(name, size=1 << 20, fill=None):
    path = os.path.join(D.images, name)
    with open(path, "wb") as f:
        f.write(fill * size if fill else os.urandom(size))
    return path


# ---------------------------------------------------------------- auth


@test
def test_missing_token_401():
    st, h, body = D.call("GET", "/api/v1/status", token=None)
    check(st == 401 and err_code(body) == "unauthorized", body)
    check(h.get("www-authenticate", "").startswith("Bearer"), h)


@test
def test_wrong_token_401():
    expect(D.call("GET", "/api/v1/status", token="x" * 26), 401, "unauthorized")
    expect(D.call("GET", "/api/v1/luns", token=TOKEN + "x"), 401, "unauthorized")
    expect(D.call("GET", "/api/v1/luns", headers={"Authorization": TOKEN},
                  token=None), 401, "unauthorized")


@test
def test_every_api_route_needs_the_token():
    for method, path in [("GET", "/api/v1/luns"), ("GET", "/api/v1/luns/0"),
                         ("PUT", "/api/v1/luns/0/media"),
                         ("DELETE", "/api/v1/luns/0/media"),
                         ("GET", "/api/v1/images"), ("GET", "/api/v1/events"),
                         ("GET", "/metrics"), ("GET", "/api/v1/nope")]:
        expect(D.call(method, path, token=None), 401, "unauthorized")


# ---------------------------------------------------------------- reads


@test
def test_status_fields():
    body = expect(D.call("GET", "/api/v1/status"), 200)
    check(body["version"] and isinstance(body["uptime_s"], int), body)
    check(body["usb"]["enabled"] is False, body)
    check(body["usb"]["state"] == "not_attached", body)
    check(len(body["luns"]) == 2 and body["luns"][0]["id"] == 0, body)
    check(set(body["luns"][0]) >= {"id", "state", "source", "image",
                                   "host_lock"}, body)


@test
def test_luns_list_and_one():
    body = expect(D.call("GET", "/api/v1/luns"), 200)
    check([l["id"] for l in body] == [0, 1], body)
    one = expect(D.call("GET", "/api/v1/luns/0"), 200)
    for k in ("state", "error", "media", "host_lock", "removable", "io",
              "media_generation", "block_size", "cache"):
        check(k in one, k)
    for k in ("read_bytes", "write_bytes", "reads", "writes", "read_errors",
              "write_errors", "media_changes"):
        check(k in one["io"], k)


@test
def test_unknown_lun_404():
    for path in ("/api/v1/luns/2", "/api/v1/luns/99/media", "/api/v1/luns/-1",
                 "/api/v1/luns/abc"):
        expect(D.call("GET", path), 404, "unknown_lun")
    expect(D.call("PUT", "/api/v1/luns/7/media", {"image": "disk"}), 404,
           "unknown_lun")


@test
def test_unknown_route_404_and_method_405():
    expect(D.call("GET", "/api/v1/whatever"), 404, "not_found")
    st, h, body = D.call("POST", "/api/v1/luns/0/media", {"image": "disk"})
    check(st == 405 and err_code(body) == "method_not_allowed", body)
    check("PUT" in h.get("allow", "") and "DELETE" in h.get("allow", ""), h)


@test
def test_images_catalog():
    body = expect(D.call("GET", "/api/v1/images"), 200)
    names = [i["name"] for i in body]
    check(names == ["disk", "other", "secret-http", "missing"], names)
    disk = body[0]
    check(disk["description"] == "Test disk" and disk["cdrom"] is False, disk)
    # Credentials in a catalog URI are never shown.
    check("hunter2" not in json.dumps(body), body)


# ---------------------------------------------------------------- media


@test
def test_insert_image_then_eject():
    body = expect(D.call("PUT", "/api/v1/luns/1/media", {"image": "disk"}), 200)
    check(body["state"] == "ready" and body["media"]["image"] == "disk", body)
    check(body["media"]["size"] == 1 << 20, body)
    body = expect(D.call("GET", "/api/v1/luns/1"), 200)
    check(body["media"]["source"].endswith("disk.img"), body)
    body = expect(D.call("DELETE", "/api/v1/luns/1/media"), 200)
    check(body["state"] == "empty" and body["media"] is None, body)
    # Ejecting an empty drive is fine.
    expect(D.call("DELETE", "/api/v1/luns/1/media"), 200)


@test
def test_insert_source_file_readonly():
    path = write_image("ro.img")
    body = expect(D.call("PUT", "/api/v1/luns/1/media",
                         {"source": path, "readonly": True}), 200)
    check(body["media"]["readonly"] is True, body)
    check(body["media"]["image"] is None, body)
    body = expect(D.call("PUT", "/api/v1/luns/1/media",
                         {"source": "file://" + path}), 200)
    check(body["media"]["readonly"] is False, body)


@test
def test_swap_replaces_media_and_bumps_generation():
    a = expect(D.call("PUT", "/api/v1/luns/1/media", {"image": "disk"}), 200)
    b = expect(D.call("PUT", "/api/v1/luns/1/media", {"image": "other"}), 200)
    check(b["media"]["image"] == "other", b)
    check(b["media"]["size"] == 2 << 20, b)
    check(b["media_generation"] > a["media_generation"], (a, b))
    check(b["io"]["media_changes"] == a["io"]["media_changes"] + 1, (a, b))


@test
def test_unknown_image_404():
    expect(D.call("PUT", "/api/v1/luns/1/media", {"image": "nope"}), 404,
           "unknown_image")


@test
def test_bad_json_400():
    for raw in (b"{", b"not json", b"{\"image\": \"disk\"} trailing", b""):
        expect(D.call("PUT", "/api/v1/luns/1/media", raw=raw), 400, "bad_json")


@test
def test_bad_fields_400():
    for body in ({}, {"image": "disk", "source": "/x"}, {"image": 3},
                 {"image": "disk", "readonly": "yes"},
                 {"image": "disk", "speed": 1}, [], "disk",
                 {"source": "memory:1M", "options": {"a": 1}}):
        expect(D.call("PUT", "/api/v1/luns/1/media", body), 400, "bad_request")


@test
def test_oversize_body_413():
    big = {"source": "memory:1M", "pad": "x" * 8192}
    expect(D.call("PUT", "/api/v1/luns/1/media", big), 413, "body_too_large")
    # The daemon is fine afterwards.
    expect(D.call("GET", "/api/v1/status"), 200)


@test
def test_disallowed_scheme_422():
    for src in ("ftp://127.0.0.1/x.img", "nbd+unix:///x?socket=/tmp/s",
                "gopher://h/x"):
        expect(D.call("PUT", "/api/v1/luns/1/media", {"source": src}), 422,
               "scheme_not_allowed")


@test
def test_path_traversal_422():
    write_image("disk-t.img")
    for src in (D.images + "/../../../etc/passwd", "/etc/passwd",
                "file://" + D.images + "/../config.yaml"):
        expect(D.call("PUT", "/api/v1/luns/1/media", {"source": src}), 422,
               "path_not_allowed")
    expect(D.call("PUT", "/api/v1/luns/1/media", {"source": "disk.img"}), 422,
           "source_invalid")


@test
def test_symlink_escape_422():
    link = os.path.join(D.images, "escape.img")
    if not os.path.lexists(link):
        os.symlink(D.config, link)
    expect(D.call("PUT", "/api/v1/luns/1/media", {"source": link}), 422,
           "path_not_allowed")
    # A symlink that stays inside is fine.
    inside = os.path.join(D.images, "inside.img")
    if not os.path.lexists(inside):
        os.symlink(os.path.join(D.images, "disk.img"), inside)
    expect(D.call("PUT", "/api/v1/luns/1/media", {"source": inside}), 200)


@test
def test_missing_file_422():
    expect(D.call("PUT", "/api/v1/luns/1/media",
                  {"source": D.images + "/nope.img"}), 422, "source_not_found")


@test
def test_unreachable_source_422_redacted_error_state():
    port = free_port()   # nothing listens there
    src = "http://admin:hunter2@127.0.0.1:%d/disk.img?token=s3cr3t" % port
    st, _, body = D.call("PUT", "/api/v1/luns/1/media", {"source": src})
    check(st == 422 and err_code(body) == "open_failed", body)
    text = json.dumps(body)
    check("hunter2" not in text and "s3cr3t" not in text, text)
    lun = expect(D.call("GET", "/api/v1/luns/1"), 200)
    check(lun["state"] == "error" and lun["media"] is None, lun)
    check(lun["error"]["message"], lun)
    check("hunter2" not in json.dumps(lun) and "s3cr3t" not in json.dumps(lun),
          lun)
    check("hunter2" not in D.log_text() and "s3cr3t" not in D.log_text(),
          "secret in the log")
    # The next good insert clears the error.
    lun = expect(D.call("PUT", "/api/v1/luns/1/media", {"image": "disk"}), 200)
    check(lun["state"] == "ready" and lun["error"] is None, lun)


@test
def test_unreachable_nbd_422():
    port = free_port()
    expect(D.call("PUT", "/api/v1/luns/1/media",
                  {"source": "nbd://127.0.0.1:%d/" % port}), 422, "open_failed")


@test
def test_nbd_source_with_options():
    if not shutil.which("nbdkit"):
        raise Skip("nbdkit is not installed")
    port = nbdkit("memory", "3M")
    body = expect(D.call("PUT", "/api/v1/luns/1/media",
                         {"source": "nbd://127.0.0.1:%d/" % port,
                          "options": {"connections": "1", "timeout-ms": "3000"}}),
                  200)
    check(body["media"]["size"] == 3 << 20, body)
    expect(D.call("PUT", "/api/v1/luns/1/media",
                  {"source": "nbd://127.0.0.1:%d/" % port,
                   "options": {"no-such-option": "1"}}), 422, "open_failed")


@test
def test_concurrent_swaps_same_lun_one_wins_other_409():
    if not shutil.which("nbdkit"):
        raise Skip("nbdkit is not installed")
    port = nbdkit("--filter=delay", "memory", "1M", "delay-open=1500ms")
    results = []

    def put(body):
        results.append(D.call("PUT", "/api/v1/luns/1/media", body))

    slow = threading.Thread(target=put, args=(
        {"source": "nbd://127.0.0.1:%d/" % port,
         "options": {"connect-timeout-ms": "8000"}},))
    slow.start()
    time.sleep(0.4)
    lun = expect(D.call("GET", "/api/v1/luns/1"), 200)
    check(lun["state"] == "loading" and lun["changing"] is True, lun)
    expect(D.call("PUT", "/api/v1/luns/1/media", {"image": "disk"}), 409,
           "lun_busy")
    expect(D.call("DELETE", "/api/v1/luns/1/media?force=true"), 409, "lun_busy")
    slow.join(20)
    check(results and results[0][0] == 200, results)
    lun = expect(D.call("GET", "/api/v1/luns/1"), 200)
    check(lun["state"] == "ready" and lun["changing"] is False, lun)
    check(lun["media"]["source"].startswith("nbd://"), lun)
    # Other LUNs are not blocked by a change on this one.


@test
def test_parallel_swaps_never_half_swapped():
    results = []

    def put(name):
        results.append(D.call("PUT", "/api/v1/luns/1/media", {"image": name}))

    threads = [threading.Thread(target=put, args=(n,))
               for n in ("disk", "other") * 8]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    codes = sorted(r[0] for r in results)
    check(set(codes) <= {200, 409} and 200 in codes, codes)
    for st, _, body in results:
        if st == 409:
            check(err_code(body) == "lun_busy", body)
    lun = expect(D.call("GET", "/api/v1/luns/1"), 200)
    check(lun["state"] == "ready" and lun["changing"] is False, lun)
    size = {"disk": 1 << 20, "other": 2 << 20}[lun["media"]["image"]]
    check(lun["media"]["size"] == size, lun)


@test
def test_force_eject_of_unlocked_lun():
    expect(D.call("PUT", "/api/v1/luns/1/media", {"image": "disk"}), 200)
    body = expect(D.call("DELETE", "/api/v1/luns/1/media?force=true"), 200)
    check(body["state"] == "empty", body)


@test
def test_cdrom_unsupported_422():
    expect(D.call("PUT", "/api/v1/luns/1/media",
                  {"image": "disk", "cdrom": True}), 422, "cdrom_unsupported")


# ---------------------------------------------------------------- events


@test
def test_events_hello_then_media_changes():
    sse = Sse(D.port, TOKEN)
    check(sse.status == 200 and sse.content_type == "text/event-stream",
          sse.status)
    hello = sse.next("hello")
    check(hello and len(hello["data"]["luns"]) == 2, hello)
    check("status" in hello["data"], hello)
    expect(D.call("PUT", "/api/v1/luns/1/media", {"image": "other"}), 200)
    states = []
    while "ready" not in states:
        ev = sse.next("lun")
        check(ev is not None, "no lun event")
        if ev["data"]["lun"]["id"] == 1:
            states.append(ev["data"]["lun"]["state"])
    check(states[0] == "loading", states)
    last = int(ev["id"])
    expect(D.call("DELETE", "/api/v1/luns/1/media"), 200)
    ev = sse.next("lun")
    while ev and ev["data"]["lun"]["state"] != "empty":
        ev = sse.next("lun")
    check(ev and ev["data"]["change"] == "media", ev)
    ev = sse.next("lun")   # the change is over: changing is false again
    check(ev["data"]["lun"]["state"] == "empty", ev)
    check(ev["data"]["lun"]["changing"] is False, ev)
    sse.close()
    # Reconnecting with Last-Event-ID replays what was missed.
    again = Sse(D.port, TOKEN, last_id=last)
    ev = again.next()
    check(ev["event"] == "lun" and int(ev["id"]) == last + 1, ev)
    again.close()


@test
def test_events_stale_last_event_id_resyncs_with_hello():
    sse = Sse(D.port, TOKEN, last_id=10 ** 9)
    ev = sse.next()
    check(ev and ev["event"] == "hello", ev)
    sse.close()


# ---------------------------------------------------------------- metrics, UI


@test
def test_metrics_prometheus_text():
    st, h, text = D.call("GET", "/metrics")
    check(st == 200 and h["content-type"].startswith("text/plain"), h)
    for name in ("netstick_lun_read_bytes_total{lun=\"0\"}",
                 "netstick_lun_state{lun=\"1\",state=\"ready\"}",
                 "netstick_backend_latency_seconds_bucket",
                 "netstick_api_replies_total{class=\"4xx\"}",
                 "netstick_usb_state{state=\"not_attached\"} 1"):
        check(name in text, name)
    for line in text.splitlines():
        check(line.startswith("#") or re.match(r"^[a-z_]+(\{[^}]*\})? \S+$",
                                               line), line)


@test
def test_webui_served_without_token():
    st, h, text = D.call("GET", "/", token=None)
    check(st == 200 and "<html" in text.lower(), st)
    check("default-src 'self'" in h.get("content-security-policy", ""), h)
    st, h, _ = D.call("GET", "/app.js", token=None)
    check(st == 200 and "javascript" in h["content-type"], h)
    for path in ("/../config.yaml", "/.hidden", "/nope.html", "/%2e%2e/x.js"):
        st, _, _ = D.call("GET", path, token=None)
        check(st == 404, (path, st))


@test
def test_token_file_generated_0600_and_used():
    tmp = new_tmp()
    try:
        tf = os.path.join(tmp, "state", "token")
        d = Daemon(tmp, api={"token_file": tf}, token=None)
        mode = stat.S_IMODE(os.stat(tf).st_mode)
        check(mode == 0o600, oct(mode))
        token = open(tf).read().strip()
        check(len(token) >= 32, token)
        check(token not in d.log_text(), "token in the log")
        expect(call(d.port, "GET", "/api/v1/status", token=token), 200)
        expect(call(d.port, "GET", "/api/v1/status", token=TOKEN), 401)
        check(d.stop() == 0, "exit status")
        # A restart keeps the same token.
        d = Daemon(tmp, api={"token_file": tf}, token=None)
        expect(call(d.port, "GET", "/api/v1/status", token=token), 200)
        d.stop()
    finally:
        rm_tmp(tmp)


@test
def test_tls_api_with_cli_cacert():
    if not shutil.which("openssl"):
        raise Skip("openssl is not installed")
    tmp = new_tmp()
    try:
        key, cert = os.path.join(tmp, "api.key"), os.path.join(tmp, "api.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
        d = Daemon(tmp, api={"tls_cert": cert, "tls_key": key})
        check("listening on https://" in d.log_text(), d.log_text())
        ctx = ssl.create_default_context(cafile=cert)
        conn = http.client.HTTPSConnection("127.0.0.1", d.port, context=ctx,
                                           timeout=20)
        conn.request("GET", "/api/v1/status",
                     headers={"Authorization": "Bearer " + TOKEN})
        r = conn.getresponse()
        check(r.status == 200 and json.loads(r.read())["version"], r.status)
        conn.close()
        # Plain HTTP on the TLS port gets no API.
        try:
            st, _, _ = call(d.port, "GET", "/api/v1/status", token=TOKEN)
            check(st != 200, "plain HTTP answered")
        except (OSError, http.client.HTTPException):
            pass
        env = dict(os.environ, NETSTICK_TOKEN=TOKEN,
                   NETSTICK_URL="https://127.0.0.1:%d" % d.port)
        p = subprocess.run([CLI, "--cacert", cert, "status"], env=env,
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == 0 and "LUN 0" in p.stdout, p)
        p = subprocess.run([CLI, "status"], env=env, capture_output=True,
                           text=True, timeout=30)
        check(p.returncode == 3, "untrusted certificate accepted: %s" % p)
        check(d.stop() == 0, "exit status")
    finally:
        rm_tmp(tmp)


# ---------------------------------------------------------------- CLI

CLI = os.environ.get("NETSTICK_CLI",
                     os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                  "..", "..", "build", "netstick"))


def cli(*args, token=TOKEN, url=None, timeout=30):
    env = dict(os.environ, NETSTICK_URL=url or "http://127.0.0.1:%d" % D.port)
    env.pop("NETSTICK_TOKEN", None)
    if token:
        env["NETSTICK_TOKEN"] = token
    env["NETSTICK_TOKEN_FILE"] = "/nonexistent/token"
    p = subprocess.run([CLI] + list(args), env=env, capture_output=True,
                       text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


@test
def test_cli_status_luns_images():
    rc, out, _ = cli("status")
    check(rc == 0 and "LUN 0:" in out and "LUN 1:" in out, out)
    rc, out, _ = cli("--json", "luns")
    check(rc == 0 and len(json.loads(out)) == 2, out)
    rc, out, _ = cli("luns", "0")
    check(rc == 0 and out.startswith("LUN 0: "), out)
    rc, out, _ = cli("images")
    check(rc == 0 and "disk" in out and "Test disk" in out, out)
    check("hunter2" not in out, out)


@test
def test_cli_insert_eject_and_exit_codes():
    rc, out, err = cli("insert", "1", "disk")
    check(rc == 0 and "ready" in out, (rc, out, err))
    rc, out, err = cli("--json", "insert", "1", D.images + "/other.img", "--ro")
    check(rc == 0 and json.loads(out)["media"]["readonly"] is True, out)
    rc, out, err = cli("eject", "1")
    check(rc == 0 and "empty" in out, (rc, out, err))
    rc, out, err = cli("eject", "1", "--force")
    check(rc == 0, (rc, out, err))
    rc, _, err = cli("insert", "5", "disk")
    check(rc == 5 and "unknown_lun" in err, (rc, err))
    rc, _, err = cli("insert", "1", "nope")
    check(rc == 5 and "unknown_image" in err, (rc, err))
    rc, _, err = cli("insert", "1", "/etc/passwd")
    check(rc == 7 and "path_not_allowed" in err, (rc, err))
    rc, _, err = cli("status", token="wrong-token-0123456789")
    check(rc == 4, (rc, err))
    rc, _, err = cli("status", url="http://127.0.0.1:%d" % free_port())
    check(rc == 3, (rc, err))
    rc, _, _ = cli("frobnicate")
    check(rc == 2, rc)
    rc, _, _ = cli("insert", "1")
    check(rc == 2, rc)


@test
def test_cli_watch_follows_events():
    env = dict(os.environ, NETSTICK_URL="http://127.0.0.1:%d" % D.port,
               NETSTICK_TOKEN=TOKEN)
    p = subprocess.Popen([CLI, "watch"], env=env, stdout=subprocess.PIPE,
                         text=True)
    try:
        line = p.stdout.readline()
        check(line.startswith("netstickd "), line)
        expect(D.call("PUT", "/api/v1/luns/1/media", {"image": "disk"}), 200)
        seen = []
        end = time.monotonic() + 10
        while time.monotonic() < end and \
                not any(s.startswith("lun 1: ready") for s in seen):
            seen.append(p.stdout.readline())
        check(any(s.startswith("lun 1: ready") for s in seen), seen)
    finally:
        p.terminate()
        p.wait(5)


@test
def test_cli_ui_url_carries_token_in_fragment():
    rc, out, _ = cli("ui-url")
    check(rc == 0 and out.strip().endswith("/#token=" + TOKEN), out)


@test
def test_daemon_alive_and_clean_exit():
    check(D.alive(), "netstickd died:\n" + D.log_text())


def start_shared():
    global D, TMP
    TMP = new_tmp()
    images = os.path.join(TMP, "images")
    os.makedirs(images)
    with open(os.path.join(images, "disk.img"), "wb") as f:
        f.write(os.urandom(1 << 20))
    with open(os.path.join(images, "other.img"), "wb") as f:
        f.write(os.urandom(2 << 20))
    extra = """images:
  - name: disk
    source: %(d)s/disk.img
    description: Test disk
  - name: other
    source: %(d)s/other.img
  - name: secret-http
    source: "https://user:hunter2@127.0.0.1:1/x.iso"
    readonly: true
  - name: missing
    source: %(d)s/missing.img
""" % {"d": images}
    D = Daemon(TMP, extra=extra)


def main():
    pattern = re.compile(sys.argv[1] if len(sys.argv) > 1 else "")
    passed = failed = skipped = 0
    try:
        start_shared()
        for fn in TESTS:
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
        if D.alive():
            rc = D.stop()
            if rc != 0:
                print("FAIL netstickd exit status %s" % rc)
                failed += 1
        else:
            print("FAIL netstickd died:\n" + D.log_text())
            failed += 1
    finally:
        cleanup()
        if TMP:
            rm_tmp(TMP)
    line = "api: %d passed, %d failed" % (passed, failed)
    print(line + (", %d skipped" % skipped if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

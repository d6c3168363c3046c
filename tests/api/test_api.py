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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from helpers import (TOKEN, Daemon, Sse, call, err_code, new_tmp, nbdkit,
                     rm_tmp, free_port, Suite, check, expect, Skip)

SUITE = Suite("api")
test = SUITE.test
D = None          # the shared daemon
TMP = None






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
def test_cdrom_into_disk_lun_422():
    expect(D.call("PUT", "/api/v1/luns/1/media",
                  {"image": "disk", "cdrom": True}), 422, "not_cdrom")


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
def test_layer_stats_in_lun_json_and_metrics():
    tmp = new_tmp()
    try:
        luns = ('  - media: memory:4M\n'
                '    layers: ["cache:size-mib=2,block-kib=16"]\n')
        d = Daemon(tmp, luns=luns)
        st, _, lun = call(d.port, "GET", "/api/v1/luns/0", token=TOKEN)
        check(st == 200, lun)
        cache = lun["cache"]
        check(cache is not None and lun["layers"]["cache"] == cache, lun)
        for k in ("hits", "misses", "backend_bytes", "ra_window_bytes",
                  "in_flight", "cache_bytes"):
            check(k in cache, k)
        check(cache["cache_limit_bytes"] == 2 << 20, cache)
        st, _, text = call(d.port, "GET", "/metrics", token=TOKEN)
        check('netstick_layer_cache_hits_total{lun="0"} 0' in text, text)
        check("# TYPE netstick_layer_cache_cache_bytes gauge" in text, text)
        check('netstick_layer_cache_cache_limit_bytes{lun="0"} 2097152'
              in text, text)
        # No layers: null, as before.
        st, _, plain = call(D.port, "GET", "/api/v1/luns/0", token=TOKEN)
        check(plain["cache"] is None and plain["layers"] is None, plain)
        d.stop()
    finally:
        rm_tmp(tmp)


@test
def test_network_media_gets_the_default_read_cache():
    """A network source on a LUN without layers: gets network_layers (by
    default a 32 MiB cache); a local one does not; network_layers: []
    and a LUN's own layers: replace it."""
    if not shutil.which("nbdkit"):
        raise Skip("nbdkit is not installed")
    port = nbdkit("memory", "3M")
    src = {"source": "nbd://127.0.0.1:%d/" % port}
    expect(D.call("PUT", "/api/v1/luns/1/media", src), 200)
    st, _, lun = D.call("GET", "/api/v1/luns/1")
    check(lun["cache"] is not None and
          lun["cache"]["cache_limit_bytes"] == 32 << 20, lun)
    st, _, plain = D.call("GET", "/api/v1/luns/0")
    check(plain["layers"] is None, plain)   # memory: maps, none
    tmp = new_tmp()
    try:
        luns = ('  - media: ""\n'
                '    network_layers: []\n'
                '  - media: ""\n'
                '    network_layers: ["cache:size-mib=4"]\n'
                '  - media: ""\n'
                '    layers: ["cache:size-mib=2"]\n'
                '    network_layers: ["cache:size-mib=4"]\n')
        d = Daemon(tmp, luns=luns, extra="")
        for i, want in ((0, None), (1, 4 << 20), (2, 2 << 20)):
            st, _, r = call(d.port, "PUT", "/api/v1/luns/%d/media" % i,
                            src, token=TOKEN)
            check(st == 200, (i, r))
            st, _, r = call(d.port, "GET", "/api/v1/luns/%d" % i,
                            token=TOKEN)
            got = r["cache"] and r["cache"]["cache_limit_bytes"]
            check(got == want, (i, r))
        d.stop()
    finally:
        rm_tmp(tmp)
    expect(D.call("DELETE", "/api/v1/luns/1/media"), 200)


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
    p = subprocess.Popen([CLI, "watch"], env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, text=True)
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


# ---------------------------------------------------------------- warm

W = None          # a daemon whose LUN 0 has a pcache layer
WIMG = None       # (path, nbd port) of the image it warms
BETOOL = os.environ.get("BETOOL",
                        os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                     "..", "..", "build", "tests", "betool"))


def warm_daemon():
    """Starts (once) nbdkit serving 16 MiB and a daemon warming into
    TMP/warm/cache; the catalog names the export "next-installer"."""
    global W, WIMG
    if W:
        return W
    if not shutil.which("nbdkit"):
        raise Skip("nbdkit not installed")
    d = os.path.join(TMP, "warm")
    os.makedirs(d)
    img = os.path.join(d, "big.img")
    with open(img, "wb") as f:
        f.write(os.urandom(16 << 20))
    port = nbdkit("-r", "file", img)
    WIMG = (img, port)
    W = Daemon(d, luns='  - layers: ["pcache:dir=%s/cache,size-mib=64,'
               'block-kib=64"]\n' % d,
               extra="images:\n  - name: next-installer\n"
                     "    source: nbd://127.0.0.1:%d\n" % port)
    return W


def warm_wait(dmn, job_id, states=("done", "failed", "cancelled"), limit=30):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        st, _, j = dmn.call("GET", "/api/v1/warm/%d" % job_id)
        check(st == 200, (st, j))
        if j["state"] in states:
            return j
        time.sleep(0.05)
    raise AssertionError("warm job %d did not end: %s" % (job_id, j))


@test
def test_warm_needs_a_lun_with_pcache():
    expect(D.call("POST", "/api/v1/warm", {"image": "disk"}), 400, "no_cache")


@test
def test_warm_bad_requests():
    dmn = warm_daemon()
    expect(dmn.call("POST", "/api/v1/warm", {"image": "x", "frob": 1}), 400,
           "bad_request")
    expect(dmn.call("POST", "/api/v1/warm", {"image": "next-installer",
                                             "mib": 0}), 400, "bad_request")
    expect(dmn.call("POST", "/api/v1/warm", {"image": "nope"}), 404,
           "unknown_image")
    expect(dmn.call("POST", "/api/v1/warm", {"source": "/etc/passwd"}), 422,
           "path_not_allowed")
    expect(dmn.call("POST", "/api/v1/warm", {"image": "next-installer",
                                             "lun": 3}), 400, "unknown_lun")
    expect(dmn.call("POST", "/api/v1/warm", raw=b"{"), 400, "bad_json")
    expect(dmn.call("GET", "/api/v1/warm/99"), 404, "unknown_warm")
    expect(dmn.call("PUT", "/api/v1/warm/1"), 405, "method_not_allowed")
    expect(dmn.call("GET", "/api/v1/warm", token=None), 401)


@test
def test_warm_progress_in_events_then_cancel():
    dmn = warm_daemon()
    sse = Sse(dmn.port, TOKEN)
    try:
        check(sse.next("hello")["data"]["warm"] is not None)
        j = expect(dmn.call("POST", "/api/v1/warm",
                            {"source": "nbd://127.0.0.1:%d" % WIMG[1],
                             "rate_mib": 2}), 202)
        check(j["state"] in ("queued", "opening", "running"), j)
        done = []
        w = {"rate": 0}
        end = time.monotonic() + 15
        while time.monotonic() < end and (len(set(done)) < 3 or
                                          not w["rate"]):
            ev = sse.next("warm")
            w = ev["data"]["warm"]
            if w["id"] == j["id"] and w["state"] == "running":
                done.append(w["bytes_done"])
            else:
                w = {"rate": 0}
        check(len(set(done)) >= 3 and done == sorted(done), done)
        check(w["bytes_total"] == 16 << 20 and w["rate_limit"] == 2 << 20, w)
        check(w["rate"] > 0 and w["eta_s"] is not None, w)
        c = expect(dmn.call("DELETE", "/api/v1/warm/%d" % j["id"]), 200)
        check(c["id"] == j["id"], c)
        while True:
            w = sse.next("warm")["data"]["warm"]
            if w["id"] == j["id"] and w["state"] == "cancelled":
                break
        check(w["bytes_done"] < 16 << 20, w)
    finally:
        sse.close()
    expect(dmn.call("DELETE", "/api/v1/warm/%d" % j["id"]), 200)
    expect(dmn.call("GET", "/api/v1/warm/%d" % j["id"]), 404, "unknown_warm")


@test
def test_warm_catalog_image_fills_the_cache_once():
    dmn = warm_daemon()
    j = expect(dmn.call("POST", "/api/v1/warm", {"image": "next-installer"}),
               202)
    j = warm_wait(dmn, j["id"])
    check(j["state"] == "done" and j["bytes_done"] == 16 << 20, j)
    check(j["image"] == "next-installer", j)
    maps = [f for f in os.listdir(os.path.join(dmn.tmp, "cache"))
            if f.endswith(".map")]
    check(len(maps) == 1, maps)
    # Again: all from the cache, so no rate limit slows it down.
    j = expect(dmn.call("POST", "/api/v1/warm", {"image": "next-installer",
                                                 "rate_mib": 1}), 202)
    j = warm_wait(dmn, j["id"], limit=5)
    check(j["state"] == "done" and j["elapsed_ms"] < 4000, j)
    lst = expect(dmn.call("GET", "/api/v1/warm"), 200)
    check(lst[0]["id"] == j["id"], lst)


@test
def test_warm_into_a_pcache_of_network_layers():
    """pcache in network_layers (no layers:): warm finds it, and a file
    source on that LUN gets no layers at all."""
    if not shutil.which("nbdkit"):
        raise Skip("nbdkit not installed")
    tmp = new_tmp()
    try:
        port = nbdkit("memory", "2M")
        d = Daemon(tmp, luns='  - network_layers: ["pcache:dir=%s/cache,'
                   'size-mib=16"]\n' % tmp)
        j = expect(d.call("POST", "/api/v1/warm",
                          {"source": "nbd://127.0.0.1:%d/" % port}), 202)
        j = warm_wait(d, j["id"])
        check(j["state"] == "done" and j["bytes_done"] == 2 << 20, j)
        with open(os.path.join(d.images, "f.img"), "wb") as f:
            f.write(b"\0" * (1 << 20))
        expect(d.call("POST", "/api/v1/warm",
                      {"source": os.path.join(d.images, "f.img")}),
               400, "no_cache")
        d.stop()
    finally:
        rm_tmp(tmp)


@test
def test_warm_first_mib_only():
    dmn = warm_daemon()
    j = expect(dmn.call("POST", "/api/v1/warm", {"image": "next-installer",
                                                 "mib": 3}), 202)
    j = warm_wait(dmn, j["id"])
    check(j["state"] == "done" and j["bytes_total"] == 3 << 20 and
          j["bytes_done"] == 3 << 20 and j["size"] == 16 << 20, j)


@test
def test_cli_warm_wait_list_cancel():
    dmn = warm_daemon()
    url = "http://127.0.0.1:%d" % dmn.port
    rc, out, err = cli("warm", "next-installer", "--mib", "2", "--wait",
                       url=url)
    check(rc == 0 and "done" in out.splitlines()[-1], (rc, out, err))
    rc, out, err = cli("warm", "--list", url=url)
    check(rc == 0 and out.startswith("warm "), (rc, out, err))
    img = os.path.join(dmn.tmp, "cli.img")
    with open(img, "wb") as f:
        f.write(os.urandom(8 << 20))
    port = nbdkit("-r", "file", img)     # not cached yet: a 1 MiB/s job
    rc, out, err = cli("warm", "nbd://127.0.0.1:%d" % port, "--rate", "1",
                       url=url)
    check(rc == 0, (rc, out, err))
    jid = out.split()[1].rstrip(":")
    rc, out, err = cli("warm", "--cancel", jid, url=url)
    check(rc == 0 and out.startswith("warm %s:" % jid), (rc, out, err))
    warm_wait(dmn, int(jid), ("cancelled",))
    rc, _, err = cli("warm", "--cancel", "999", url=url)
    check(rc == 5, (rc, err))
    rc, _, _ = cli("warm", url=url)
    check(rc == 2, rc)


@test
def test_warm_sigkill_then_every_block_matches():
    """SIGKILL the daemon while a warm fills the cache; after a restart
    the cache serves only bytes that match the source."""
    if not os.path.exists(BETOOL):
        raise Skip("no betool (make build/tests/betool)")
    warm_daemon()
    d = os.path.join(TMP, "crash")
    os.makedirs(d)
    spec = "pcache:dir=%s/cache,size-mib=64,block-kib=64" % d
    dmn = Daemon(d, luns='  - layers: ["%s"]\n' % spec)
    j = expect(dmn.call("POST", "/api/v1/warm",
                        {"source": "nbd://127.0.0.1:%d" % WIMG[1],
                         "rate_mib": 8}), 202)
    warm_wait(dmn, j["id"], ("running",))
    end = time.monotonic() + 10
    while time.monotonic() < end and \
            dmn.call("GET", "/api/v1/warm/%d" % j["id"])[2]["bytes_done"] < 5 << 20:
        time.sleep(0.05)
    dmn.proc.kill()
    dmn.proc.wait(5)
    got = os.path.join(d, "got.img")
    p = subprocess.run([BETOOL, "-l", spec, "nbd://127.0.0.1:%d" % WIMG[1],
                        "readall", "1M", got, "pcache-stats"],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, p.stdout + p.stderr)
    with open(got, "rb") as a, open(WIMG[0], "rb") as b:
        check(a.read() == b.read(), "served bytes differ from the source")
    m = re.search(r"pcache: hits (\d+) .*bytes-next (\d+)", p.stdout)
    check(m and int(m.group(1)) >= 64 and int(m.group(2)) < 16 << 20,
          p.stdout)
    # The daemon starts again on the same cache and finishes the job.
    dmn = Daemon(d, luns='  - layers: ["%s"]\n' % spec)
    j = expect(dmn.call("POST", "/api/v1/warm",
                        {"source": "nbd://127.0.0.1:%d" % WIMG[1]}), 202)
    check(warm_wait(dmn, j["id"])["state"] == "done")
    check(dmn.stop() == 0, dmn.log_text())


# ---------------------------------------------------------------- stats


def events_until(sse, want, limit=10.0):
    """Every event up to and including the first of type want."""
    seen = []
    end = time.monotonic() + limit
    while time.monotonic() < end:
        ev = sse.next(limit=end - time.monotonic())
        check(ev is not None, "no %s event after %s" % (want, seen))
        seen.append(ev)
        if ev["event"] == want:
            return seen
    raise AssertionError("no %s event: %s" % (want, seen))


@test
def test_stats_events_only_when_counters_change():
    sse = Sse(D.port, TOKEN)
    try:
        hello = sse.next("hello")["data"]
        check(isinstance(hello["ts_ms"], int) and hello["ts_ms"] > 0, hello)
        time.sleep(1.5)          # what ran before settles
        expect(D.call("PUT", "/api/v1/luns/1/media", {"image": "missing"}),
               422)
        events_until(sse, "lun")
        t0 = time.monotonic()
        time.sleep(2.5)          # idle: nothing but keepalives
        expect(D.call("PUT", "/api/v1/luns/1/media", {"image": "missing"}),
               422)
        idle = events_until(sse, "lun")
        check(all(e["event"] != "stats" for e in idle), idle)
        # A change of LUN 1's counters (media_changes): one stats event
        # for it within about a second, then quiet again.
        expect(D.call("PUT", "/api/v1/luns/1/media", {"image": "other"}), 200)
        ev = events_until(sse, "stats", limit=5)[-1]
        check("id" not in ev, ev)
        st = ev["data"]
        check(st["lun"] == 1 and st["io"]["media_changes"] >= 1, st)
        check(st["since_ms"] < st["ts_ms"] and st["ts_ms"] > hello["ts_ms"],
              st)
        check(st["ts_ms"] - st["since_ms"] < 3000, st)
        for k in ("read_bytes", "write_bytes", "reads", "writes"):
            check(isinstance(st["io"][k], int), st)
        check(st["warm"]["backend_bytes"] == 0, st)
        check(time.monotonic() - t0 < 10, "took too long")
        time.sleep(2.5)
        expect(D.call("PUT", "/api/v1/luns/1/media", {"image": "missing"}),
               422)
        after = events_until(sse, "lun")
        check(all(e["event"] != "stats" or e["data"]["lun"] != 1 or
                  e["data"]["ts_ms"] - st["ts_ms"] < 1500 for e in after),
              after)
        last = int(after[-1]["id"])
    finally:
        sse.close()
    # Not replayed: a reconnect from before the last ring event gets that
    # event first (stats events took no id and no room in the ring).
    again = Sse(D.port, TOKEN, last_id=last - 1)
    try:
        ev = again.next()
        check(ev["event"] == "lun" and int(ev["id"]) == last, ev)
    finally:
        again.close()
    expect(D.call("DELETE", "/api/v1/luns/1/media"), 200)


@test
def test_stats_events_show_a_warm_fetching():
    warm_daemon()
    d = os.path.join(TMP, "warm-stats")
    os.makedirs(d)
    dmn = Daemon(d, luns='  - layers: ["pcache:dir=%s/cache,size-mib=64"]\n'
                 % d)
    sse = Sse(dmn.port, TOKEN)
    try:
        base = sse.next("hello")["data"]
        j = expect(dmn.call("POST", "/api/v1/warm",
                            {"source": "nbd://127.0.0.1:%d" % WIMG[1],
                             "rate_mib": 4}), 202)
        got = []
        end = time.monotonic() + 20
        while time.monotonic() < end and len(got) < 3:
            ev = sse.next("stats", limit=end - time.monotonic())
            check(ev is not None, "no stats event")
            got.append(ev["data"])
        ts = [g["ts_ms"] for g in got]
        fetched = [g["warm"]["backend_bytes"] for g in got]
        check(all(g["lun"] == 0 for g in got), got)
        check(ts == sorted(ts) and len(set(ts)) == 3, ts)
        check([g["prev_ts_ms"] for g in got[1:]] == ts[:-1], got)
        check(fetched == sorted(fetched) and fetched[-1] > 0, fetched)
        # The rate between two events, as a client computes it.
        b, a = got[-2], got[-1]
        rate = ((a["warm"]["backend_bytes"] - b["warm"]["backend_bytes"]) *
                1000 / (a["ts_ms"] - max(a["since_ms"], b["ts_ms"])))
        check(1 << 20 < rate < 12 << 20, rate)
        check(got[0]["ts_ms"] > base["ts_ms"], (got[0], base["ts_ms"]))
        c = expect(dmn.call("DELETE", "/api/v1/warm/%d" % j["id"]), 200)
        check(c["bytes_fetched"] >= fetched[-1], (c, fetched))
        st, _, text = dmn.call("GET", "/metrics")
        m = re.search(r'^netstick_warm_fetched_bytes_total\{lun="0"\} (\d+)$',
                      text, re.M)
        check(st == 200 and m and int(m.group(1)) >= fetched[-1], text[-400:])
    finally:
        sse.close()
    check(dmn.stop() == 0, dmn.log_text())


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
    return SUITE.main(start_shared, lambda: [(W, False), (D, True)], lambda: TMP)

if __name__ == "__main__":
    sys.exit(main())

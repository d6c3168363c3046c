"""test_seed.py — seed volumes through the admin API and the CLI against a
running netstickd --no-usb (docs/seed.md): inserts, identity, the catalog
seed, and every kind of bad input answered with a clear 4xx and nothing
inserted.  Closing line: "api-seed: N passed, N failed".
"""
import base64
import os
import re
import subprocess
import sys

from helpers import (Daemon, err_code, new_tmp, TOKEN, Suite, check)

SUITE = Suite("api-seed")
test = SUITE.test
D = None
TMP = None
CLI = os.environ.get("NETSTICK_CLI", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "netstick"))




def put_seed(lun, seed, query="", **extra):
    body = dict(extra, seed=seed)
    return D.call("PUT", "/api/v1/luns/%d/media%s" % (lun, query), body)


def nocloud(**files):
    f = {"user-data": "#cloud-config\n", "meta-data": "instance-id: x\n"}
    f.update(files)
    return {"kind": "nocloud", "files": f}


def source(lun):
    st, _, body = D.call("GET", "/api/v1/luns/%d" % lun)
    m = body.get("media") or {}
    return m.get("source")


def refused(lun, seed, status, code, raw=None):
    before = source(lun)
    if raw is not None:
        st, _, body = D.call("PUT", "/api/v1/luns/%d/media" % lun, raw=raw)
    else:
        st, _, body = put_seed(lun, seed)
    codes = code if isinstance(code, tuple) else (code,)
    check(st == status and err_code(body) in codes,
          "got %s %s, want %s %s" % (st, body, status, code))
    check("message" in body["error"] and body["error"]["message"], body)
    check(source(lun) == before, "media changed: %s -> %s" % (before, source(lun)))


@test
def test_nocloud_insert_read_only_identity():
    st, _, body = put_seed(0, nocloud())
    check(st == 200, body)
    m = body["media"]
    check(re.fullmatch(r"seed:sha256-[0-9a-f]{64}", m["source"]), m)
    check(m["readonly"] is True and m["size"] % 4096 == 0, m)
    # The same files give the same volume (deterministic build).
    st, _, again = put_seed(0, nocloud())
    check(st == 200 and again["media"]["source"] == m["source"], again)
    check(again["media_generation"] > body["media_generation"], again)
    st, _, other = put_seed(0, nocloud(**{"vendor-data": "x"}))
    check(st == 200 and other["media"]["source"] != m["source"], other)


@test
def test_base64_and_text_object_forms():
    seed = nocloud(**{"bin/blob": {"base64": base64.b64encode(b"\0\1\2").decode()},
                      "t.txt": {"text": "hello {{lun}}"}})
    st, _, body = put_seed(1, seed)
    check(st == 200, body)


@test
def test_catalog_seed_by_name_and_listed():
    st, _, body = D.call("PUT", "/api/v1/luns/1/media", {"image": "ks"})
    check(st == 200 and body["media"]["image"] == "ks", body)
    check(body["media"]["source"].startswith("seed:sha256-"), body)
    st, _, imgs = D.call("GET", "/api/v1/images")
    ks = [i for i in imgs if i["name"] == "ks"][0]
    check(ks["source"] is None and ks["seed"]["kind"] == "kickstart", ks)
    check(ks["seed"]["files"] == ["ks.cfg"], ks)


@test
def test_eject_then_reinsert():
    check(put_seed(0, nocloud())[0] == 200)
    st, _, body = D.call("DELETE", "/api/v1/luns/0/media")
    check(st == 200 and body["state"] == "empty", body)


@test
def test_bad_names_400_nothing_inserted():
    for name in ["../x", "/etc/x", "a//b", "a/", "./a", "a/../b", "a\\b",
                 "a:b", "x\x01y", "a/b/c/d/e/f/g/h/i"]:
        refused(0, nocloud(**{name: "x"}), 400, "bad_file_name")
    refused(0, nocloud(**{"a" * 256: "x"}), 400, "bad_file_name")
    refused(0, nocloud(**{"USER-DATA": "x"}), 400, "bad_file_name")
    refused(0, nocloud(**{"d": "x", "d/e": "y"}), 400, "bad_file_name")


@test
def test_nul_in_names_or_text_400():
    raw = b'{"seed": {"kind": "nocloud", "files": {"user-data": "x", ' \
          b'"meta-data": "y", "a\\u0000/../../etc/x": "z"}}}'
    # The API's JSON reader may refuse \u0000 itself (bad_json).
    refused(0, None, 400, ("bad_file_name", "bad_json"), raw=raw)
    raw = b'{"seed": {"kind": "custom", "label": "L", "files": {"a": "x\\u0000y"}}}'
    refused(0, None, 400, ("bad_file_name", "bad_json"), raw=raw)


@test
def test_bad_base64_400():
    for b in ["!!!!", "abc", "YQ=a", {"x": 1}]:
        refused(0, nocloud(x={"base64": b}), 400,
                "bad_base64" if isinstance(b, str) else "bad_seed")
    refused(0, nocloud(x={"gzip": "YQ=="}), 400, "bad_seed")
    refused(0, nocloud(x=5), 400, "bad_seed")


@test
def test_kinds_and_labels_400():
    refused(0, {"kind": "floppy", "files": {"a": "x"}}, 400, "unknown_kind")
    refused(0, {"files": {"a": "x"}}, 400, "unknown_kind")
    refused(0, dict(nocloud(), label="OTHER"), 400, "bad_label")
    refused(0, {"kind": "kickstart", "label": "cidata",
                "files": {"ks.cfg": "x"}}, 400, "bad_label")
    refused(0, {"kind": "custom", "files": {"a": "x"}}, 400, "bad_label")
    refused(0, {"kind": "custom", "label": "L" * 33, "files": {"a": "x"}},
            400, "bad_label")
    refused(0, {"kind": "custom", "label": "a b", "files": {"a": "x"}},
            400, "bad_label")
    refused(0, {"kind": "kickstart", "files": {"other": "x"}}, 400, "missing_file")
    refused(0, {"kind": "nocloud", "files": {"user-data": "x"}}, 400, "missing_file")
    refused(0, {"kind": "autounattend", "files": {"a.xml": "x"}}, 400,
            "missing_file")
    st, _, body = put_seed(0, {"kind": "autounattend",
                               "files": {"Autounattend.xml": "<x/>"}})
    check(st == 200, body)
    refused(0, dict(nocloud(), extra=1), 400, "bad_seed")


@test
def test_limits_413():
    refused(0, nocloud(big="x" * 5000), 413, "seed_too_large")
    many = {"f%d" % i: "" for i in range(9)}
    refused(0, {"kind": "custom", "label": "L", "files": many}, 413,
            "too_many_files")
    # The limit holds after templating too: {{pad}} is 1000 bytes.
    refused(0, nocloud(t="{{pad}}" * 5), 413, "seed_too_large")


@test
def test_templates_unknown_variable_400_and_off():
    refused(0, nocloud(t="{{nope}}"), 400, "unknown_variable")
    st, _, body = put_seed(0, dict(nocloud(t="{{nope}} {{ v1.x }}"),
                                   template=False))
    check(st == 200, body)
    st, _, body = put_seed(0, nocloud(t="{{ v1.local_hostname }}"))
    check(st == 200, body)


@test
def test_seed_with_source_or_options_400():
    st, _, body = D.call("PUT", "/api/v1/luns/0/media",
                         {"seed": nocloud(), "image": "ks"})
    check(st == 400 and err_code(body) == "bad_request", body)


def cli(*args):
    env = dict(os.environ, NETSTICK_URL="http://127.0.0.1:%d" % D.port,
               NETSTICK_TOKEN=TOKEN)
    p = subprocess.run([CLI] + list(args), env=env, capture_output=True,
                       text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


@test
def test_cli_seed_files_text_and_binary():
    ud = os.path.join(TMP, "ud.yaml")
    md = os.path.join(TMP, "md.yaml")
    bn = os.path.join(TMP, "blob")
    with open(ud, "w") as f:
        f.write("#cloud-config\nhostname: {{serial}}\n")
    with open(md, "w") as f:
        f.write("instance-id: a\n")
    with open(bn, "wb") as f:
        f.write(b"\0\xff\0")
    rc, out, err = cli("seed", "1", "--kind", "nocloud", "user-data=" + ud,
                       "meta-data=" + md, "d/blob=" + bn)
    check(rc == 0 and "seed:sha256-" in out, (rc, out, err))
    rc, out, err = cli("seed", "1", "--kind", "nocloud", "../x=" + ud)
    check(rc == 7 and "bad_file_name" in err, (rc, err))
    rc, _, _ = cli("seed", "1", "user-data=" + ud)
    check(rc == 2, rc)
    rc, out, _ = cli("images")
    check(rc == 0 and "seed (kickstart)" in out, out)


@test
def test_daemon_alive():
    check(D.alive(), "netstickd died:\n" + D.log_text())


def start():
    global D, TMP
    TMP = new_tmp()
    extra = """seed:
  max_files: 8
  max_file_size: 4096
  max_volume_size: 1048576
  variables:
    site: rack-7
    pad: "%s"
images:
  - name: ks
    description: kickstart
    seed:
      kind: kickstart
      files:
        ks.cfg: |
          # {{site}} {{lun}}
""" % ("p" * 1000)
    D = Daemon(TMP, extra=extra, api={"max_body": "65536"},
               luns="  - {}\n  - {}\n")


def main():
    return SUITE.main(start, lambda: [(D, True)], lambda: TMP)

if __name__ == "__main__":
    sys.exit(main())

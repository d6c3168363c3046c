#!/usr/bin/python3
"""test_redfish.py — the Redfish service (docs/redfish.md) against a running
netstickd --no-usb, driven by the real clients from Debian: python3-sushy
(what Ironic's redfish-virtual-media boot interface runs on) and
redfishtool, plus raw HTTP for the errors.  Images are served by a real
nginx on loopback.

    /usr/bin/python3 tests/api/test_redfish.py [NAME_REGEX]

Runs with Debian's /usr/bin/python3 (sushy lives in its dist-packages).
One line per test, then "redfish: N passed, N failed[, N skipped]".
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from helpers import (NETSTICKD, TOKEN, Daemon, Sse, call, new_tmp, nbdkit,
                     free_port, wait_port, _procs, Suite, check, Skip)

try:
    import sushy
    from sushy import auth as sushy_auth
    from sushy import exceptions as sushy_exc
except ImportError:          # reported per test below
    sushy = None

SUITE = Suite("redfish")
test = SUITE.test
D = None          # the daemon with power hooks
D2 = None         # no hooks, 1 s session timeout
TMP = None
NGINX = None      # port
CDROM = False     # whether this netstickd has LUNs of type cdrom
NLUNS = 2         # disk LUNs 0 and 1, and LUN 2 of type cdrom when CDROM
USER, PASSWORD = "admin", "s3cret-pass"
ROOT = "/redfish/v1"
VM0 = ROOT + "/Managers/1/VirtualMedia/0"
SVM0 = ROOT + "/Systems/1/VirtualMedia/0"
INSERT = "/Actions/VirtualMedia.InsertMedia"
EJECT = "/Actions/VirtualMedia.EjectMedia"





def need_sushy():
    if sushy is None:
        raise Skip("python3-sushy is not installed")


# ------------------------------------------------------------------ helpers


def basic(user=USER, password=PASSWORD):
    raw = ("%s:%s" % (user, password)).encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def rf(method, path, body=None, headers=None, d=None, auth=True, raw=None):
    """A Redfish request with Basic auth: (status, headers, body)."""
    h = dict(basic() if auth else {})
    h.update(headers or {})
    return call((d or D).port, method, path, body, None, h, raw)


def msg_id(body):
    try:
        return body["error"]["code"].split(".")[-1]
    except (TypeError, KeyError, AttributeError):
        return None


def expect_err(resp, status, mid):
    st, h, body = resp
    check(st == status, "status %s, want %s: %s" % (st, status, body))
    check(msg_id(body) == mid, "MessageId %r, want %r: %s"
          % (msg_id(body), mid, body))
    info = body["error"]["@Message.ExtendedInfo"]
    check(info and info[0]["MessageId"].endswith(mid) and
          info[0]["Message"] and info[0]["Resolution"], body)
    return body


def lun(n=0, d=None):
    st, _, body = call((d or D).port, "GET", "/api/v1/luns/%d" % n,
                       token=TOKEN)
    check(st == 200, body)
    return body


def make_image(path, mib, seed):
    with open(path, "wb") as f:
        block = bytes((seed + i) % 251 for i in range(65536))
        for _ in range(mib * 16):
            f.write(block)


def start_nginx(www):
    port = free_port()
    conf = os.path.join(TMP, "nginx")
    os.makedirs(conf, exist_ok=True)
    user = "user root root;" if os.geteuid() == 0 else ""
    pw = subprocess.run(["openssl", "passwd", "-apr1", "imgpw"], check=True,
                        capture_output=True, text=True).stdout.strip()
    with open(os.path.join(conf, "htpasswd"), "w") as f:
        f.write("imguser:%s\n" % pw)
    with open(os.path.join(conf, "nginx.conf"), "w") as f:
        f.write("""%s
daemon off;
worker_processes 1;
pid %s/nginx.pid;
error_log %s/error.log;
events { worker_connections 64; }
http {
    access_log %s/access.log;
    client_body_temp_path %s/body;
    proxy_temp_path %s/proxy;
    fastcgi_temp_path %s/fastcgi;
    uwsgi_temp_path %s/uwsgi;
    scgi_temp_path %s/scgi;
    types { application/octet-stream iso img; }
    server {
        listen 127.0.0.1:%d;
        root %s;
        location /private/ {
            auth_basic "images";
            auth_basic_user_file %s/htpasswd;
        }
    }
}
""" % ((user,) + (conf,) * 8 + (port, www, conf)))
    p = subprocess.Popen(["nginx", "-c", conf + "/nginx.conf", "-p", conf],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    _procs.append(p)
    if not wait_port(port):
        raise RuntimeError("nginx did not start")
    return port


def url(name):
    return "http://127.0.0.1:%d/%s" % (NGINX, name)


def sushy_client(kind="session", d=None):
    need_sushy()
    base = "http://127.0.0.1:%d%s" % ((d or D).port, ROOT)
    a = (sushy_auth.SessionAuth if kind == "session" else
         sushy_auth.BasicAuth)(username=USER, password=PASSWORD)
    return sushy.Sushy(base, auth=a)


def eject_all(d=None):
    for n in range(NLUNS):
        st, _, _ = rf("POST", ROOT + "/Managers/1/VirtualMedia/%d" % n + EJECT,
                      d=d)
        check(st == 204, st)


def redfishtool(*args, d=None, auth="Basic"):
    if not shutil.which("redfishtool"):
        raise Skip("redfishtool is not installed")
    cmd = ["redfishtool", "-r", "127.0.0.1:%d" % (d or D).port, "-u", USER,
           "-p", PASSWORD, "-S", "Never", "-A", auth, "-T", "30"] + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


# ------------------------------------------------------------ service root


@test
def test_service_root_open_without_auth():
    for path in ("/redfish", ROOT, ROOT + "/", ROOT + "/odata"):
        st, h, body = rf("GET", path, auth=False)
        check(st == 200 and h.get("odata-version") == "4.0", (path, st, h))
    st, _, body = rf("GET", ROOT + "/", auth=False)
    check(body["@odata.id"] == ROOT + "/", body)
    check(body["Links"]["Sessions"]["@odata.id"] ==
          ROOT + "/SessionService/Sessions", body)
    for k in ("Systems", "Managers", "SessionService"):
        check(body[k]["@odata.id"] == ROOT + "/" + k, body)


@test
def test_everything_else_needs_auth_401():
    for path in (ROOT + "/Systems", ROOT + "/Managers/1", VM0,
                 ROOT + "/SessionService/Sessions"):
        resp = rf("GET", path, auth=False)
        expect_err(resp, 401, "NoValidSession")
        check(resp[1].get("www-authenticate", "").startswith("Basic"),
              resp[1])


@test
def test_trailing_slash_and_connection_close():
    st, h, a = rf("GET", ROOT + "/Systems/1/", headers={"Connection": "close"})
    st2, _, b = rf("GET", ROOT + "/Systems/1")
    check(st == st2 == 200, (st, st2))
    check(a["@odata.id"] == b["@odata.id"] == ROOT + "/Systems/1", a)
    check(h.get("connection", "").lower() == "close", h)
    st, _, c = rf("GET", ROOT + "/Managers/1/VirtualMedia/")
    check(st == 200 and c["Members@odata.count"] == NLUNS, c)


# ------------------------------------------------------------------ sushy


@test
def test_sushy_session_finds_system_and_manager_linked_both_ways():
    s = sushy_client("session")
    check(s._auth.get_session_key(), "no session token")
    system = s.get_system()
    check(system.identity == "1" and system.boot is not None, system.identity)
    mgr = s.get_manager()
    check(mgr.identity == "1", mgr.identity)
    check([m.identity for m in system.managers] == ["1"], "ManagedBy")
    check([x.identity for x in mgr.systems] == ["1"], "ManagerForServers")
    s._auth.close()


@test
def test_sushy_lists_virtual_media_under_manager_and_system():
    s = sushy_client("session")
    members = s.get_manager().virtual_media.get_members()
    check(sorted(m.identity for m in members) ==
          [str(n) for n in range(NLUNS)], members)
    for m in members:
        want = ["CD", "DVD"] if m.identity == "2" else ["USBStick"]
        check([t.value for t in m.media_types] == want, m.media_types)
        check(m.inserted is False and m.image is None, (m.inserted, m.image))
    st, _, coll = rf("GET", ROOT + "/Systems/1/VirtualMedia")
    check(st == 200 and [x["@odata.id"] for x in coll["Members"]] ==
          [ROOT + "/Systems/1/VirtualMedia/%d" % n for n in range(NLUNS)],
          coll)
    st, _, one = rf("GET", SVM0)
    for k in ("Id", "Name", "MediaTypes", "Image", "ImageName", "Inserted",
              "WriteProtected", "ConnectedVia", "TransferProtocolType"):
        check(k in one, (k, one))
    check(one["Actions"]["#VirtualMedia.InsertMedia"]["target"] ==
          SVM0 + INSERT, one)
    s._auth.close()


@test
def test_sushy_insert_by_url_action_path_reads_back_then_ejects():
    s = sushy_client("session")
    vm = s.get_manager().virtual_media.get_member(VM0)
    vm.insert_media(url("boot.iso"), inserted=True, write_protected=True)
    vm.refresh()
    check(vm.inserted is True and vm.image == url("boot.iso"), vm.image)
    check(vm.image_name == "boot.iso" and vm.write_protected is True,
          (vm.image_name, vm.write_protected))
    st, _, raw = rf("GET", VM0)
    check(raw["TransferProtocolType"] == "HTTP" and
          raw["ConnectedVia"] == "URI", raw)
    info = lun(0)
    check(info["state"] == "ready" and info["media"]["readonly"] and
          info["media"]["source"] == url("boot.iso") and
          info["media"]["size"] == 4 << 20, info)
    # The System's view is the same LUN.
    st, _, sv = rf("GET", SVM0)
    check(sv["Inserted"] is True and sv["Image"] == url("boot.iso"), sv)
    vm.eject_media()
    vm.refresh()
    check(vm.inserted is False and vm.image is None, (vm.inserted, vm.image))
    check(lun(0)["state"] == "empty", lun(0))
    s._auth.close()


@test
def test_sushy_insert_and_eject_through_patch_path():
    s = sushy_client("session")
    vm = s.get_manager().virtual_media.get_member(ROOT +
                                                  "/Managers/1/VirtualMedia/1")
    check(vm._allow_patch(), "no PATCH in Allow")
    check(vm._get_etag(), "no ETag")
    # A BMC with no actions: sushy falls back to PATCH with If-Match.
    vm._actions.insert_media = None
    vm._actions.eject_media = None
    vm.insert_media(url("other.img"), write_protected=False)
    st, _, raw = rf("GET", ROOT + "/Managers/1/VirtualMedia/1")
    check(raw["Inserted"] is True and raw["Image"] == url("other.img"), raw)
    check(lun(1)["media"]["source"] == url("other.img"), lun(1))
    vm.refresh()
    vm._actions.insert_media = None
    vm._actions.eject_media = None
    vm.eject_media()
    st, _, raw = rf("GET", ROOT + "/Managers/1/VirtualMedia/1")
    check(raw["Inserted"] is False and raw["Image"] is None, raw)
    check(lun(1)["state"] == "empty", lun(1))
    s._auth.close()


@test
def test_sushy_ironic_style_cd_insert_into_cdrom_lun():
    """What Ironic's redfish-virtual-media does for a deploy ISO: the member
    whose MediaTypes has CD (or DVD), InsertMedia, boot once from Cd."""
    if not CDROM:
        raise Skip("this netstickd has no cdrom LUN type")
    s = sushy_client("session")
    system = s.get_system()
    mgr = system.managers[0]
    cds = [v for v in mgr.virtual_media.get_members()
           if sushy.VIRTUAL_MEDIA_CD in v.media_types]
    check([v.identity for v in cds] == ["2"], cds)
    cd = cds[0]
    cd.insert_media(url("boot.iso"), inserted=True, write_protected=True)
    system.set_system_boot_options(target=sushy.BOOT_SOURCE_TARGET_CD,
                                   enabled=sushy.BOOT_SOURCE_ENABLED_ONCE)
    cd.refresh()
    check(cd.inserted and cd.image == url("boot.iso"), cd.image)
    info = lun(2)
    check(info["state"] == "ready" and info["media"]["readonly"] and
          info["media"]["size"] == 4 << 20, info)
    cd.eject_media()
    cd.refresh()
    check(cd.inserted is False and lun(2)["state"] == "empty", lun(2))
    s._auth.close()


@test
def test_sushy_basic_auth_insert_and_boot_override_opens_no_session():
    s = sushy_client("basic")
    vm = s.get_system().managers[0].virtual_media.get_member(VM0)
    vm.insert_media(url("boot.iso"))
    vm.refresh()
    check(vm.inserted and vm.image == url("boot.iso"), vm.image)
    vm.eject_media()
    st, _, coll = rf("GET", ROOT + "/SessionService/Sessions")
    check(coll["Members@odata.count"] == 0, coll)


@test
def test_sushy_one_time_boot_override_cd():
    s = sushy_client("session")
    system = s.get_system()
    allowed = system.get_allowed_system_boot_source_values()
    check({sushy.BOOT_SOURCE_TARGET_CD, sushy.BOOT_SOURCE_TARGET_HDD,
           sushy.BOOT_SOURCE_TARGET_PXE, sushy.BOOT_SOURCE_TARGET_USB,
           sushy.BOOT_SOURCE_TARGET_NONE} <= set(allowed), allowed)
    system.set_system_boot_options(target=sushy.BOOT_SOURCE_TARGET_CD,
                                   enabled=sushy.BOOT_SOURCE_ENABLED_ONCE,
                                   mode=sushy.BOOT_SOURCE_MODE_UEFI)
    system.refresh()
    check(system.boot.target == sushy.BOOT_SOURCE_TARGET_CD and
          system.boot.enabled == sushy.BOOT_SOURCE_ENABLED_ONCE and
          system.boot.mode == sushy.BOOT_SOURCE_MODE_UEFI, system.boot)
    # What Ironic does after deploy: boot from disk, persistently.
    system.set_system_boot_options(
        target=sushy.BOOT_SOURCE_TARGET_HDD,
        enabled=sushy.BOOT_SOURCE_ENABLED_CONTINUOUS)
    st, h, raw = rf("GET", ROOT + "/Systems/1")
    check(raw["Boot"]["BootSourceOverrideTarget"] == "Hdd" and
          raw["Boot"]["BootSourceOverrideEnabled"] == "Continuous", raw)
    check(raw["@odata.etag"] == h["etag"], (raw, h))
    s._auth.close()


@test
def test_sushy_reset_runs_power_hooks_and_power_state_reads_hook():
    s = sushy_client("session")
    system = s.get_system()
    allowed = system.get_allowed_reset_system_values()
    check(sushy.RESET_ON in allowed and sushy.RESET_FORCE_OFF in allowed and
          sushy.RESET_FORCE_RESTART in allowed, allowed)
    log = os.path.join(TMP, "power.log")
    system.reset_system(sushy.RESET_FORCE_OFF)
    system.refresh()
    check(system.power_state == sushy.POWER_STATE_OFF, system.power_state)
    system.reset_system(sushy.RESET_ON)
    system.refresh()
    check(system.power_state == sushy.POWER_STATE_ON, system.power_state)
    system.reset_system(sushy.RESET_FORCE_RESTART)   # off, then on
    with open(log) as f:
        lines = f.read().split()
    check(lines == ["off:ForceOff", "on:On", "off:ForceRestart",
                    "on:ForceRestart"], lines)
    s._auth.close()


# ------------------------------------------------------------- raw protocol


@test
def test_insert_defaults_protocol_inferred_204():
    st, _, body = rf("POST", VM0 + INSERT, {"Image": url("boot.iso")})
    check(st == 204, (st, body))
    st, _, vm = rf("GET", VM0)
    check(vm["Inserted"] is True and vm["WriteProtected"] is True and
          vm["TransferProtocolType"] == "HTTP", vm)
    check(lun(0)["media"]["readonly"] is True, lun(0))
    eject_all()
    st, _, vm = rf("GET", VM0)
    check(vm["Inserted"] is False and vm["Image"] is None and
          vm["ConnectedVia"] == "NotConnected", vm)


@test
def test_slow_insert_answers_once_presented_and_a_second_gets_409():
    if not shutil.which("nbdkit"):
        raise Skip("nbdkit is not installed")
    port = nbdkit("--filter=delay", "memory", "1M", "delay-open=2000ms")
    slow = "nbd://127.0.0.1:%d/" % port
    res = {}

    def insert():
        res["slow"] = rf("POST", VM0 + INSERT, {"Image": slow})
        res["after"] = lun(0)

    t = threading.Thread(target=insert)
    t0 = time.monotonic()
    t.start()
    time.sleep(0.5)
    second = rf("POST", VM0 + INSERT, {"Image": url("boot.iso")})
    t.join(30)
    check(res["slow"][0] == 204, res["slow"])
    check(time.monotonic() - t0 >= 2.0, "answered before the open finished")
    # Presented when the action answered: ready, not loading.
    check(res["after"]["state"] == "ready" and
          res["after"]["media"]["source"] == slow, res["after"])
    expect_err(second, 409, "ResourceInUse")
    st, _, vm = rf("GET", VM0)
    check(vm["Image"] == slow and vm["TransferProtocolType"] == "OEM", vm)
    eject_all()


@test
def test_insert_with_image_credentials_not_shown():
    body = {"Image": url("private/boot.iso"), "UserName": "imguser",
            "Password": "imgpw", "TransferProtocolType": "HTTP"}
    st, _, b = rf("POST", VM0 + INSERT, body)
    check(st == 204, (st, b))
    st, _, vm = rf("GET", VM0)
    check(vm["Inserted"] and "imgpw" not in json.dumps(vm), vm)
    check("imgpw" not in D.log_text(), "password in the log")
    eject_all()


@test
def test_patch_with_stale_if_match_412_and_nothing_changes():
    st, h, _ = rf("GET", ROOT + "/Systems/1")
    before = h["etag"]
    resp = rf("PATCH", ROOT + "/Systems/1",
              {"Boot": {"BootSourceOverrideTarget": "Pxe"}},
              headers={"If-Match": 'W/"stale"'})
    expect_err(resp, 412, "PreconditionFailed")
    resp = rf("PATCH", VM0, {"Image": url("boot.iso"), "Inserted": True},
              headers={"If-Match": '"stale"'})
    expect_err(resp, 412, "PreconditionFailed")
    check(lun(0)["state"] == "empty", lun(0))
    st, h, _ = rf("GET", ROOT + "/Systems/1")
    check(h["etag"] == before, (h["etag"], before))
    # The current ETag, weak or strong, is accepted.
    strong = before[2:]
    st, h, body = rf("PATCH", ROOT + "/Systems/1",
                     {"Boot": {"BootSourceOverrideTarget": "Pxe"}},
                     headers={"If-Match": strong})
    check(st == 200 and body["Boot"]["BootSourceOverrideTarget"] == "Pxe",
          (st, body))


@test
def test_allow_header_and_405():
    st, h, _ = rf("GET", VM0)
    check("PATCH" in h["allow"], h)
    resp = rf("DELETE", VM0)
    expect_err(resp, 405, "GeneralError")
    check("PATCH" in resp[1]["allow"], resp[1])
    resp = rf("GET", VM0 + INSERT)
    check(resp[0] == 405 and resp[1]["allow"] == "POST", resp)


# --------------------------------------------------------------- redfishtool


@test
def test_redfishtool_raw_get_post_patch():
    rc, out, err = redfishtool("raw", "GET", ROOT + "/Systems/1")
    check(rc == 0 and json.loads(out)["Id"] == "1", (rc, out, err))
    rc, out, err = redfishtool("raw", "-d",
                               json.dumps({"Image": url("boot.iso")}),
                               "POST", VM0 + INSERT)
    check(rc == 0, (rc, out, err))
    check(lun(0)["state"] == "ready", lun(0))
    rc, out, err = redfishtool("raw", "-d", json.dumps({"Image": None,
                                                         "Inserted": False}),
                               "PATCH", VM0)
    check(rc == 0, (rc, out, err))
    check(lun(0)["state"] == "empty", lun(0))


@test
def test_redfishtool_systems_set_boot_override_session_auth():
    rc, out, err = redfishtool("Systems", "-1", "setBootOverride", "Once",
                               "Pxe", auth="Session")
    check(rc == 0, (rc, out, err))
    st, _, raw = rf("GET", ROOT + "/Systems/1")
    check(raw["Boot"]["BootSourceOverrideTarget"] == "Pxe" and
          raw["Boot"]["BootSourceOverrideEnabled"] == "Once", raw)
    rc, out, err = redfishtool("Systems", "-1", "setBootOverride", "Once",
                               "Diags")
    check(rc != 0, "Diags is not in the AllowableValues")


# ---------------------------------------------------------------- bad input


@test
def test_wrong_password_basic_and_login_401():
    resp = rf("GET", ROOT + "/Systems/1", headers=basic(password="nope"))
    expect_err(resp, 401, "NoValidSession")
    resp = rf("GET", ROOT + "/Systems/1", headers=basic(user="root"))
    expect_err(resp, 401, "NoValidSession")
    resp = rf("POST", ROOT + "/SessionService/Sessions",
              {"UserName": USER, "Password": "nope"}, auth=False)
    expect_err(resp, 401, "ResourceAtUriUnauthorized")
    check("x-auth-token" not in resp[1], resp[1])
    if sushy:
        try:
            sushy_client("session")._auth  # right password works
            sushy.Sushy("http://127.0.0.1:%d%s" % (D.port, ROOT),
                        auth=sushy_auth.SessionAuth(USER, "nope"))
            check(False, "sushy logged in with a wrong password")
        except sushy_exc.AccessError:
            pass


@test
def test_session_login_logout_missing_and_deleted_token_401():
    st, h, body = rf("POST", ROOT + "/SessionService/Sessions",
                     {"UserName": USER, "Password": PASSWORD}, auth=False)
    check(st == 201 and h["location"].startswith(ROOT +
          "/SessionService/Sessions/") and len(h["x-auth-token"]) == 64,
          (st, h))
    tok = {"X-Auth-Token": h["x-auth-token"]}
    check(rf("GET", ROOT + "/Systems/1", headers=tok, auth=False)[0] == 200)
    st, _, me = rf("GET", h["location"], headers=tok, auth=False)
    check(st == 200 and me["UserName"] == USER, me)
    expect_err(rf("GET", ROOT + "/Systems/1", headers={"X-Auth-Token": "0" * 64},
                  auth=False), 401, "NoValidSession")
    check(rf("DELETE", h["location"], headers=tok, auth=False)[0] == 204)
    expect_err(rf("GET", ROOT + "/Systems/1", headers=tok, auth=False), 401,
               "NoValidSession")


@test
def test_expired_session_401():
    st, h, _ = rf("POST", ROOT + "/SessionService/Sessions",
                  {"UserName": USER, "Password": PASSWORD}, d=D2, auth=False)
    check(st == 201, st)
    tok = {"X-Auth-Token": h["x-auth-token"]}
    check(rf("GET", ROOT + "/Systems/1", headers=tok, d=D2, auth=False)[0]
          == 200)
    time.sleep(2.5)
    expect_err(rf("GET", ROOT + "/Systems/1", headers=tok, d=D2, auth=False),
               401, "NoValidSession")
    st, _, coll = rf("GET", ROOT + "/SessionService/Sessions", d=D2)
    check(coll["Members@odata.count"] == 0, coll)


@test
def test_unknown_member_404():
    for path in (ROOT + "/Managers/1/VirtualMedia/%d" % NLUNS,
                 ROOT + "/Managers/1/VirtualMedia/01",
                 ROOT + "/Systems/1/VirtualMedia/x", ROOT + "/Systems/2",
                 ROOT + "/Managers/bmc", ROOT + "/Chassis",
                 ROOT + "/SessionService/Sessions/0123456789abcdef"):
        expect_err(rf("GET", path), 404, "ResourceNotFound")


@test
def test_unknown_action_404_state_unchanged():
    expect_err(rf("POST", VM0 + "/Actions/VirtualMedia.Frobnicate",
                  {"Image": url("boot.iso")}), 404, "ActionNotSupported")
    expect_err(rf("POST", ROOT + "/Systems/1/Actions/ComputerSystem.Explode",
                  {}), 404, "ActionNotSupported")
    check(lun(0)["state"] == "empty", lun(0))


@test
def test_unknown_parameter_and_property_400():
    expect_err(rf("POST", VM0 + INSERT, {"Image": url("boot.iso"),
                                         "Bogus": 1}),
               400, "ActionParameterUnknown")
    expect_err(rf("POST", VM0 + INSERT, {"Image": 5}), 400,
               "ActionParameterValueTypeError")
    expect_err(rf("POST", VM0 + INSERT, {}), 400, "ActionParameterMissing")
    expect_err(rf("PATCH", VM0, {"MediaTypes": ["CD"]}), 400,
               "PropertyNotWritable")
    expect_err(rf("PATCH", ROOT + "/Systems/1",
                  {"Boot": {"BootSourceOverrideTarget": "Floppy"}}), 400,
               "PropertyValueNotInList")
    expect_err(rf("PATCH", ROOT + "/Systems/1", {"AssetTag": "x"}), 400,
               "PropertyUnknown")
    expect_err(rf("POST", VM0 + INSERT, {"Image": url("boot.iso"),
                                         "TransferProtocolType": "NFS"}),
               400, "ActionParameterValueNotInList")
    expect_err(rf("POST", VM0 + EJECT, {"Force": True}), 400,
               "ActionParameterUnknown")
    check(lun(0)["state"] == "empty", lun(0))


@test
def test_malformed_json_400_state_unchanged():
    for raw in (b"{", b"not json", b'{"Image": "x"} trailing', b"[1, 2]"):
        expect_err(rf("POST", VM0 + INSERT, raw=raw), 400, "MalformedJSON")
        expect_err(rf("PATCH", ROOT + "/Systems/1", raw=raw), 400,
                   "MalformedJSON")
    check(lun(0)["state"] == "empty", lun(0))


@test
def test_disallowed_scheme_400_state_unchanged():
    for image in ("ftp://127.0.0.1/boot.iso", "/etc/passwd",
                  "file:///etc/shadow"):
        resp = rf("POST", VM0 + INSERT, {"Image": image})
        check(resp[0] == 400, resp)
        check(msg_id(resp[2]) in ("ActionParameterValueNotInList",
                                  "CouldNotEstablishConnection"), resp)
    check(lun(0)["state"] == "empty", lun(0))


@test
def test_unreachable_image_400_never_5xx():
    dead = "http://127.0.0.1:%d/boot.iso" % free_port()
    for image in (dead, url("missing.iso")):
        t0 = time.monotonic()
        body = expect_err(rf("POST", VM0 + INSERT, {"Image": image}), 400,
                          "CouldNotEstablishConnection")
        check(image in body["error"]["message"], body)
        check(time.monotonic() - t0 < 60, "took too long")
    secret = "http://u:topsecret@127.0.0.1:%d/boot.iso" % free_port()
    body = expect_err(rf("POST", VM0 + INSERT, {"Image": secret}), 400,
                      "CouldNotEstablishConnection")
    check("topsecret" not in json.dumps(body), body)
    st, _, vm = rf("GET", VM0)
    check(vm["Inserted"] is False and vm["Image"] is None, vm)
    check(vm["Oem"]["Netstick"]["LastError"], vm)
    check("topsecret" not in json.dumps(vm), vm)
    check("topsecret" not in D.log_text(), "password in the log")


@test
def test_oversize_body_413():
    expect_err(rf("POST", VM0 + INSERT, raw=b'{"Image": "' + b"a" * 8192 +
                  b'"}'), 413, "GeneralError")


@test
def test_no_hook_configured_reset_400_power_on():
    st, _, sysj = rf("GET", ROOT + "/Systems/1", d=D2)
    check(sysj["PowerState"] == "On", sysj)
    check(sysj["Actions"]["#ComputerSystem.Reset"]
          ["ResetType@Redfish.AllowableValues"] == [], sysj)
    body = expect_err(rf("POST", ROOT + "/Systems/1/Actions/"
                         "ComputerSystem.Reset", {"ResetType": "On"}, d=D2),
                      400, "ActionNotSupported")
    check("redfish.hooks" in body["error"]["message"], body)
    expect_err(rf("POST", ROOT + "/Systems/1/Actions/ComputerSystem.Reset",
                  {"ResetType": "Nmi"}, d=D2), 400,
               "ActionParameterValueNotInList")


@test
def test_rest_api_and_events_see_redfish_changes():
    sse = Sse(D.port, TOKEN)
    check(sse.next("hello"), "no hello")
    check(rf("POST", VM0 + INSERT, {"Image": url("boot.iso")})[0] == 204)
    states = []
    while "ready" not in states:
        ev = sse.next("lun")
        check(ev is not None, "no lun event")
        if ev["data"]["lun"]["id"] == 0:
            states.append(ev["data"]["lun"]["state"])
    check(rf("POST", VM0 + EJECT)[0] == 204)
    while states[-1] != "empty":
        ev = sse.next("lun")
        check(ev is not None, "no eject event")
        if ev["data"]["lun"]["id"] == 0:
            states.append(ev["data"]["lun"]["state"])
    sse.close()
    # And the other way: a REST insert shows in Redfish.
    st, _, _ = call(D.port, "PUT", "/api/v1/luns/1/media",
                    {"source": url("other.img")}, TOKEN)
    check(st == 200, st)
    st, _, vm = rf("GET", ROOT + "/Managers/1/VirtualMedia/1")
    check(vm["Inserted"] and vm["Image"] == url("other.img"), vm)
    eject_all()


@test
def test_sushy_over_tls_verifies_the_certificate():
    """The API's TLS options cover Redfish: sushy with the CA file works, a
    session login included; without it the certificate is refused."""
    need_sushy()
    tmp = os.path.join(TMP, "tls")
    os.makedirs(tmp)
    key, cert = os.path.join(tmp, "api.key"), os.path.join(tmp, "api.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    d = Daemon(tmp, luns="  - {}\n", api={"tls_cert": cert, "tls_key": key},
               extra=redfish_config(False, 60))
    base = "https://127.0.0.1:%d%s" % (d.port, ROOT)
    # requests lets these override the verify= a client gives.
    saved = {k: os.environ.pop(k) for k in ("REQUESTS_CA_BUNDLE",
                                             "CURL_CA_BUNDLE")
             if k in os.environ}
    try:
        s = sushy.Sushy(base, verify=cert,
                        auth=sushy_auth.SessionAuth(USER, PASSWORD))
        check(s._auth.get_session_key() and s.get_system().identity == "1",
              "no session over TLS")
        s._auth.close()
        try:
            sushy.Sushy(base, auth=sushy_auth.BasicAuth(USER, PASSWORD))
            check(False, "an untrusted certificate was accepted")
        except sushy_exc.ConnectionError:
            pass
    finally:
        os.environ.update(saved)
    check(d.stop() == 0, "exit status")


@test
def test_daemons_alive():
    for d in (D, D2):
        check(d.alive(), d.log_text())
        check(rf("GET", ROOT, d=d, auth=False)[0] == 200)


# --------------------------------------------------------------- the run


def redfish_config(hooks, timeout):
    h = subprocess.run(["openssl", "passwd", "-6", PASSWORD], check=True,
                       capture_output=True, text=True).stdout.strip()
    cfg = ("redfish:\n  session_timeout: %d\n  users:\n"
           "    - {name: %s, password_hash: '%s'}\n" % (timeout, USER, h))
    if hooks:
        state = os.path.join(TMP, "power.state")
        log = os.path.join(TMP, "power.log")
        with open(state, "w") as f:
            f.write("On\n")
        cfg += ("  hooks:\n"
                "    power_state: cat %s\n"
                "    power_on: echo on:$NETSTICK_RESET_TYPE >> %s; echo On > %s\n"
                "    power_off: echo off:$NETSTICK_RESET_TYPE >> %s; echo Off > %s\n"
                "    timeout: 10\n" % (state, log, state, log, state))
    return cfg


def cdrom_supported():
    """Whether netstickd takes a LUN of type cdrom (the CD-ROM issue)."""
    path = os.path.join(TMP, "probe.yaml")
    with open(path, "w") as f:
        f.write("luns: [{type: cdrom}]\n")
    return subprocess.run([NETSTICKD,
                           "--check-config", "-c", path],
                          capture_output=True).returncode == 0


def start():
    global D, D2, TMP, NGINX, CDROM, NLUNS
    TMP = new_tmp()
    CDROM = cdrom_supported()
    NLUNS = 3 if CDROM else 2
    www = os.path.join(TMP, "www")
    os.makedirs(os.path.join(www, "private"))
    make_image(os.path.join(www, "boot.iso"), 4, 1)
    make_image(os.path.join(www, "other.img"), 2, 7)
    shutil.copy(os.path.join(www, "boot.iso"), os.path.join(www, "private"))
    NGINX = start_nginx(www)
    luns = "  - {}\n  - {}\n" + ("  - {type: cdrom}\n" if CDROM else "")
    D = Daemon(os.path.join(TMP, "d1"), luns=luns,
               api={"allowed_schemes": "[http, https, nbd]"},
               extra=redfish_config(True, 1800))
    D2 = Daemon(os.path.join(TMP, "d2"), luns=luns,
                extra=redfish_config(False, 1))


def main():
    return SUITE.main(start, lambda: [(D, True), (D2, True)], lambda: TMP)

if __name__ == "__main__":
    sys.exit(main())

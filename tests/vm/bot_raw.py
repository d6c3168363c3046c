#!/usr/bin/env python3
"""bot_raw.py - Bulk-Only Transport checks below the SCSI layer, through
usbfs (/dev/bus/usb), for the VM battery (tests/vm/conformance.sh).

    bot_raw.py SYSFS_USB_DEVICE CHECK [ARG]

detaches usb-storage from interface 0 (it stays detached), claims it and
talks CBW/CSW directly.  Exit status 0 = pass, 1 = fail (with the reason on
stdout).  Every transfer has a timeout (2 s): nothing here can hang.

Checks:
  get-max-lun N        GET MAX LUN (0xFE) answers N
  inquiry              INQUIRY CBW -> 36 bytes, CSW good, tag echoed
  hi-gt-di             INQUIRY with 100 bytes expected: 36 bytes (then a
                       halt) or 100 padded bytes, CSW residue 64
  invalid-cbw          bad signature: bulk-in stalls; after Bulk-Only
                       Reset + CLEAR_HALT both ways the next CBW works
  short-cbw            same with a 30-byte CBW
  wedged-until-reset   after an invalid CBW, CLEAR_HALT alone does not
                       revive the device (bulk-in stalls again); the reset
                       does
  reset-mid-data       READ of 64 KiB, one packet taken, then the reset
                       recovery: the next command works
"""
import ctypes
import errno
import fcntl
import os
import struct
import sys

TIMEOUT_MS = 2000


def _ioc(d, nr, size):
    return (d << 30) | (size << 16) | (ord("U") << 8) | nr


class CtrlTransfer(ctypes.Structure):
    _fields_ = [("bRequestType", ctypes.c_uint8), ("bRequest", ctypes.c_uint8),
                ("wValue", ctypes.c_uint16), ("wIndex", ctypes.c_uint16),
                ("wLength", ctypes.c_uint16), ("timeout", ctypes.c_uint32),
                ("data", ctypes.c_void_p)]


class BulkTransfer(ctypes.Structure):
    _fields_ = [("ep", ctypes.c_uint), ("len", ctypes.c_uint),
                ("timeout", ctypes.c_uint), ("data", ctypes.c_void_p)]


class UsbIoctl(ctypes.Structure):
    _fields_ = [("ifno", ctypes.c_int), ("ioctl_code", ctypes.c_int),
                ("data", ctypes.c_void_p)]


USBDEVFS_CONTROL = _ioc(3, 0, ctypes.sizeof(CtrlTransfer))
USBDEVFS_BULK = _ioc(3, 2, ctypes.sizeof(BulkTransfer))
USBDEVFS_CLAIMINTERFACE = _ioc(2, 15, 4)
USBDEVFS_IOCTL = _ioc(3, 18, ctypes.sizeof(UsbIoctl))
USBDEVFS_CLEAR_HALT = _ioc(2, 21, 4)
USBDEVFS_DISCONNECT = _ioc(0, 22, 0)

CBW_SIG, CSW_SIG = 0x43425355, 0x53425355


class Fail(Exception):
    pass


class Bot:
    def __init__(self, sysdev):
        bus = int(open(os.path.join(sysdev, "busnum")).read())
        dev = int(open(os.path.join(sysdev, "devnum")).read())
        self.fd = os.open("/dev/bus/usb/%03d/%03d" % (bus, dev), os.O_RDWR)
        self.ep_in, self.ep_out, self.mps = self._endpoints(sysdev)
        self._detach()
        fcntl.ioctl(self.fd, USBDEVFS_CLAIMINTERFACE, struct.pack("I", 0))
        self.tag = 0x1000

    @staticmethod
    def _endpoints(sysdev):
        name = os.path.basename(sysdev)
        intf = os.path.join(sysdev, name + ":1.0")
        ep_in = ep_out = None
        mps = 512
        for e in os.listdir(intf):
            if not e.startswith("ep_"):
                continue
            if open(os.path.join(intf, e, "type")).read().strip() != "Bulk":
                continue
            addr = int(e[3:], 16)
            if addr & 0x80:
                ep_in = addr
                mps = int(open(os.path.join(intf, e, "wMaxPacketSize")).read(), 16)
            else:
                ep_out = addr
        if ep_in is None or ep_out is None:
            raise Fail("no bulk endpoints on %s" % intf)
        return ep_in, ep_out, mps

    def _detach(self):
        req = UsbIoctl(0, USBDEVFS_DISCONNECT, None)
        try:
            fcntl.ioctl(self.fd, USBDEVFS_IOCTL, req)
        except OSError as e:
            if e.errno != errno.ENODATA:  # no driver bound: fine
                raise

    # -- transfers: return bytes, or raise OSError (EPIPE = stall)
    def bulk(self, ep, data=None, length=0):
        if data is not None:
            buf = ctypes.create_string_buffer(bytes(data), len(data))
            length = len(data)
        else:
            buf = ctypes.create_string_buffer(max(length, 1))
        bt = BulkTransfer(ep, length, TIMEOUT_MS, ctypes.addressof(buf))
        n = fcntl.ioctl(self.fd, USBDEVFS_BULK, bt)
        return buf.raw[:n]

    def control(self, rtype, req, value, index, length=0):
        buf = ctypes.create_string_buffer(max(length, 1))
        ct = CtrlTransfer(rtype, req, value, index, length, TIMEOUT_MS,
                          ctypes.addressof(buf))
        n = fcntl.ioctl(self.fd, USBDEVFS_CONTROL, ct)
        return buf.raw[:n]

    def clear_halt(self, ep):
        fcntl.ioctl(self.fd, USBDEVFS_CLEAR_HALT, struct.pack("I", ep))

    def reset_recovery(self):
        self.control(0x21, 0xFF, 0, 0)      # Bulk-Only Mass Storage Reset
        self.clear_halt(self.ep_in)
        self.clear_halt(self.ep_out)

    # -- one command
    def cbw(self, cdb, length, data_in=True, lun=0, sig=CBW_SIG, size=31):
        self.tag += 1
        raw = struct.pack("<IIIBBB", sig, self.tag, length,
                          0x80 if data_in else 0, lun, len(cdb))
        raw += bytes(cdb).ljust(16, b"\0")
        self.bulk(self.ep_out, raw[:size])
        return self.tag

    def csw(self, tag):
        """Read the CSW, clearing one halt on bulk-in first if needed."""
        try:
            raw = self.bulk(self.ep_in, length=self.mps)
        except OSError as e:
            if e.errno != errno.EPIPE:
                raise
            self.clear_halt(self.ep_in)
            raw = self.bulk(self.ep_in, length=self.mps)
        if len(raw) != 13:
            raise Fail("CSW of %d bytes" % len(raw))
        sig, rtag, residue, status = struct.unpack("<IIIB", raw)
        if sig != CSW_SIG:
            raise Fail("CSW signature %#x" % sig)
        if rtag != tag:
            raise Fail("CSW tag %#x, expected %#x" % (rtag, tag))
        return residue, status

    def read_in(self, length):
        """Data-in phase; a stall after short data is allowed (Hi > Di)."""
        try:
            return self.bulk(self.ep_in, length=length)
        except OSError as e:
            if e.errno != errno.EPIPE:
                raise
            return b""

    def inquiry(self, alloc=36):
        tag = self.cbw([0x12, 0, 0, 0, alloc, 0], alloc)
        data = self.read_in(alloc)
        residue, status = self.csw(tag)
        return data, residue, status


def expect(cond, why):
    if not cond:
        raise Fail(why)


def check_inquiry(b):
    data, residue, status = b.inquiry()
    print("inquiry: %d bytes, residue %d, status %d" % (len(data), residue, status))
    expect(len(data) == 36, "expected 36 bytes of INQUIRY data")
    expect(status == 0 and residue == 0, "expected a good CSW, residue 0")


def check_get_max_lun(b, want):
    v = b.control(0xA1, 0xFE, 0, 0, 1)
    print("GET MAX LUN:", list(v))
    expect(len(v) == 1 and v[0] == int(want), "expected %s" % want)


def check_hi_gt_di(b):
    data, residue, status = b.inquiry(100)
    print("inquiry(100): %d bytes, residue %d, status %d" % (len(data), residue, status))
    expect(status == 0, "expected CSW status 0")
    # Either short data (36 bytes, then a halt) or data padded to 100 bytes;
    # both report the relevant data: residue 100 - 36.
    expect(len(data) in (36, 100), "sent %d bytes" % len(data))
    expect(residue == 64, "residue %d, expected 64" % residue)
    check_inquiry(b)


def send_bad_cbw(b, **kw):
    try:
        b.cbw([0x00] * 6, 0, **kw)
    except OSError as e:
        print("bad CBW refused on bulk-out:", e)


def expect_stalled_in(b):
    try:
        raw = b.bulk(b.ep_in, length=b.mps)
    except OSError as e:
        print("bulk-in after the bad CBW:", e)
        expect(e.errno == errno.EPIPE, "expected a stall (EPIPE), got %s" % e)
        return
    raise Fail("bulk-in answered %d bytes after an invalid CBW (expected a stall)" % len(raw))


def check_invalid_cbw(b, **kw):
    send_bad_cbw(b, **kw)
    expect_stalled_in(b)
    b.reset_recovery()
    check_inquiry(b)


def check_wedged(b):
    """HOSTS.md: stall both endpoints and stay stalled until a reset; the
    kernel re-stalls bulk-in after a CLEAR_HALT (it "wedges" it)."""
    send_bad_cbw(b, sig=0x12345678)
    expect_stalled_in(b)
    b.clear_halt(b.ep_in)
    b.clear_halt(b.ep_out)
    try:
        b.cbw([0x12, 0, 0, 0, 36, 0], 36)
        print("CBW after CLEAR_HALT: accepted on bulk-out")
    except OSError as e:
        print("CBW after CLEAR_HALT:", e)
    try:
        raw = b.bulk(b.ep_in, length=b.mps)
        raise Fail("bulk-in answered %d bytes after CLEAR_HALT without a reset" % len(raw))
    except OSError as e:
        print("bulk-in after CLEAR_HALT only:", e)
        if e.errno != errno.EPIPE:
            raise Fail("bulk-in must stay stalled until a reset; got %s" % e)
    b.reset_recovery()
    check_inquiry(b)


def check_reset_mid_data(b):
    b.cbw([0x28, 0, 0, 0, 0, 0, 0, 0, 128, 0], 65536)
    part = b.bulk(b.ep_in, length=b.mps)  # a whole packet: no babble
    print("took %d of 65536 bytes, resetting" % len(part))
    b.reset_recovery()
    check_inquiry(b)


CHECKS = {
    "inquiry": check_inquiry,
    "get-max-lun": check_get_max_lun,
    "hi-gt-di": check_hi_gt_di,
    "invalid-cbw": lambda b: check_invalid_cbw(b, sig=0xdeadbeef),
    "short-cbw": lambda b: check_invalid_cbw(b, size=30),
    "wedged-until-reset": check_wedged,
    "reset-mid-data": check_reset_mid_data,
}


def main():
    if len(sys.argv) < 3 or sys.argv[2] not in CHECKS:
        print(__doc__)
        return 2
    try:
        b = Bot(sys.argv[1])
        CHECKS[sys.argv[2]](b, *sys.argv[3:])
    except (Fail, OSError) as e:
        print("FAIL:", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""soak_host.py -- the host side of the soak test (tests/vm/soak.sh).

    soak_host.py run STATE DEV SECONDS SEED   I/O on DEV for SECONDS
    soak_host.py verify STATE IMAGE           the media against STATE

`run` writes, reads and flushes random 4 KiB blocks of the first 16 MiB of
DEV with O_DIRECT, while soak.sh injects faults.  Each block written holds
its block number and a generation (a counter that never repeats) all
through its 4 KiB, so a stale, torn or misplaced block shows.  STATE (JSON,
kept across runs and daemon restarts) records per block:

  durable   the generation of the last write acknowledged and then covered
            by a successful flush (fsync): it must never be lost
  allowed   the generations the block may hold now: the durable one and
            every write issued after it, acknowledged or failed (a failed
            write may or may not have landed)

A read must return a generation in `allowed` (0, all zeros, for a block
never written).  `verify` reads the image file itself at the end: every
block must hold an allowed generation, so none at or after its durable
one is lost.  I/O errors while a fault is on are expected and counted;
the device is reopened (bounded) when it went away.  Output: one line of
counts; exit 1 on a stale read (run) or a lost block (verify).
"""
import errno
import json
import mmap
import os
import random
import struct
import sys
import time

BS = 4096
REGION = 16 << 20
MAGIC = b"NSSOAK01"


def block_data(b, gen):
    head = MAGIC + struct.pack("<QQ", b, gen)
    return (head * (BS // len(head) + 1))[:BS]


def parse(buf, b):
    """The generation a block holds, or None when it is no valid block b."""
    data = bytes(buf)
    if data == b"\0" * BS:
        return 0
    if data[:8] != MAGIC:
        return None
    blk, gen = struct.unpack("<QQ", data[8:24])
    if blk != b or data != block_data(b, gen):
        return None
    return gen


def load(path):
    try:
        with open(path) as f:
            st = json.load(f)
    except FileNotFoundError:
        st = {"next_gen": 1, "durable": {}, "allowed": {},
              "totals": {"writes": 0, "reads": 0, "flushes": 0,
                         "errors": 0, "stale": 0}}
    return st


def save(path, st):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(st, f)
    os.replace(tmp, path)


def allowed(st, b):
    return st["allowed"].get(str(b), [0])


def open_dev(dev, until):
    while True:
        try:
            return os.open(dev, os.O_RDWR | os.O_DIRECT)
        except OSError:
            if time.monotonic() > until:
                return -1
            time.sleep(0.2)


def run(state, dev, seconds, seed):
    st = load(state)
    rnd = random.Random(seed)
    buf = mmap.mmap(-1, BS)
    end = time.monotonic() + seconds
    fd = open_dev(dev, end)
    n = {"writes": 0, "reads": 0, "flushes": 0, "errors": 0, "stale": 0}
    pending = {}
    size = REGION
    while fd >= 0 and time.monotonic() < end:
        b = rnd.randrange(size // BS)
        op = rnd.random()
        key = str(b)
        try:
            if op < 0.55:
                gen = st["next_gen"]
                st["next_gen"] += 1
                st["allowed"].setdefault(key, [0]).append(gen)
                buf.seek(0)
                buf.write(block_data(b, gen))
                if os.pwritev(fd, [buf], b * BS) != BS:
                    raise OSError(errno.EIO, "short write")
                pending[key] = gen
                n["writes"] += 1
            elif op < 0.9:
                if os.preadv(fd, [buf], b * BS) != BS:
                    raise OSError(errno.EIO, "short read")
                got = parse(buf, b)
                n["reads"] += 1
                if got is None or got not in allowed(st, b):
                    n["stale"] += 1
                    print("STALE block %d: holds %s, allowed %s"
                          % (b, got, allowed(st, b)[-5:]))
            else:
                os.fsync(fd)
                n["flushes"] += 1
                flushed(st, pending)
        except OSError as e:
            n["errors"] += 1
            if e.errno in (errno.ENODEV, errno.ENXIO, errno.ENOENT,
                           errno.EBADF):
                os.close(fd)
                fd = open_dev(dev, end + 30)
            else:
                time.sleep(0.05)
    for _ in range(50):               # a last flush, bounded
        if fd < 0:
            break
        try:
            os.fsync(fd)
            flushed(st, pending)
            n["flushes"] += 1
            break
        except OSError:
            n["errors"] += 1
            time.sleep(0.2)
    if fd >= 0:
        os.close(fd)
    for k, v in n.items():
        st["totals"][k] += v
    save(state, st)
    print("soak-host %s: writes %d reads %d flushes %d errors %d stale %d"
          % (dev, n["writes"], n["reads"], n["flushes"], n["errors"],
             n["stale"]))
    return 1 if n["stale"] else 0


def flushed(st, pending):
    """Every write acknowledged before a successful flush is durable."""
    for key, gen in pending.items():
        st["durable"][key] = max(gen, st["durable"].get(key, 0))
        st["allowed"][key] = [g for g in st["allowed"][key]
                              if g >= st["durable"][key]]
    pending.clear()


def verify(state, image):
    st = load(state)
    lost = checked = 0
    with open(image, "rb") as f:
        for key, gen in st["durable"].items():
            b = int(key)
            f.seek(b * BS)
            got = parse(f.read(BS), b)
            checked += 1
            if got is None or got < gen or got not in allowed(st, b):
                lost += 1
                print("LOST block %d: holds %s, durable %d" % (b, got, gen))
    t = st["totals"]
    print("soak-verify %s: %d durable blocks checked, %d lost; totals: "
          "writes %d reads %d flushes %d errors %d stale %d"
          % (image, checked, lost, t["writes"], t["reads"], t["flushes"],
             t["errors"], t["stale"]))
    return 1 if lost or t["stale"] else 0


if __name__ == "__main__":
    if sys.argv[1] == "run":
        sys.exit(run(sys.argv[2], sys.argv[3], float(sys.argv[4]),
                     int(sys.argv[5])))
    sys.exit(verify(sys.argv[2], sys.argv[3]))

#!/usr/bin/env python3
"""fwboot-bridge.py — runs in the test VM: joins usbredirect's TCP socket
to the virtio-serial port whose other end is the second QEMU's usb-redir
chardev (tests/vm/fwboot.sh, docs/testing.md).

    fwboot-bridge.py PORTNAME TCPPORT [WAIT_SECONDS]

1. Finds /dev/vportNpM whose /sys/class/virtio-ports/*/name is PORTNAME
   (the guest has no udev, so /dev/virtio-ports/NAME does not exist).
2. Connects to 127.0.0.1:TCPPORT (usbredirect --as), retrying while it
   starts (10 s at most).
3. Waits until the port's host side is connected: a virtio-serial port
   polls POLLHUP while nothing is connected on the build machine, so a plain
   socat started in advance would read EOF and end at once.  Bytes from
   usbredirect are not read meanwhile (they wait in the socket).
4. Copies both ways until either side closes: the second QEMU exiting
   (POLLHUP again) ends the bridge, which closes usbredirect's connection,
   and usbredirect then gives the device back and exits.

Prints "bridge: connected" once both ends are joined, "bridge: done (N
bytes in, M out)" at the end.  Exit status 0, or 1 with a reason.  Every
wait is bounded: WAIT_SECONDS (default 300) for the QEMU to connect.
"""
import errno
import glob
import os
import select
import socket
import sys
import time


def die(msg):
    print("bridge: " + msg, flush=True)
    sys.exit(1)


def find_port(name):
    for d in glob.glob("/sys/class/virtio-ports/*"):
        try:
            with open(os.path.join(d, "name")) as f:
                if f.read().strip() == name:
                    return "/dev/" + os.path.basename(d)
        except OSError:
            pass
    return None


def connect(tcpport):
    end = time.monotonic() + 10
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.connect(("127.0.0.1", tcpport))
            return s
        except OSError:
            s.close()
            if time.monotonic() > end:
                die("usbredirect does not listen on 127.0.0.1:%d" % tcpport)
            time.sleep(0.05)


def wait_host(fd, seconds):
    """Polls until the port is no longer hung up (the QEMU connected)."""
    p = select.poll()
    p.register(fd, select.POLLIN | select.POLLOUT)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ev = p.poll(50)
        if ev and not (ev[0][1] & select.POLLHUP):
            return
        if not ev:
            continue
        time.sleep(0.05)
    die("nothing connected to the virtio-serial port in %d s" % seconds)


def pump(fd, sock):
    """Copies until EOF or hang-up on either side; returns (in, out)."""
    n_in = n_out = 0
    p = select.poll()
    p.register(fd, select.POLLIN)
    p.register(sock.fileno(), select.POLLIN)
    while True:
        for f, ev in p.poll():
            if f == fd:
                if ev & select.POLLIN:
                    try:
                        b = os.read(fd, 65536)
                    except OSError as e:
                        if e.errno == errno.EAGAIN:
                            continue
                        return n_in, n_out
                    if not b:
                        return n_in, n_out
                    sock.sendall(b)
                    n_in += len(b)
                elif ev & (select.POLLHUP | select.POLLERR):
                    return n_in, n_out
            else:
                b = sock.recv(65536)
                if not b:
                    return n_in, n_out
                write_all(fd, b)
                n_out += len(b)


def write_all(fd, b):
    view = memoryview(b)
    while view:
        try:
            n = os.write(fd, view)
        except OSError as e:
            if e.errno != errno.EAGAIN:
                raise
            select.select([], [fd], [], 1.0)
            continue
        view = view[n:]


def main():
    if len(sys.argv) < 3:
        die("usage: fwboot-bridge.py PORTNAME TCPPORT [WAIT_SECONDS]")
    name, tcpport = sys.argv[1], int(sys.argv[2])
    wait = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    dev = find_port(name)
    if not dev:
        die("no virtio-serial port named %s (modprobe virtio_console?)" % name)
    sock = connect(tcpport)
    fd = os.open(dev, os.O_RDWR | os.O_NONBLOCK)
    wait_host(fd, wait)
    print("bridge: connected %s <-> 127.0.0.1:%d" % (dev, tcpport), flush=True)
    try:
        n_in, n_out = pump(fd, sock)
    except OSError as e:
        die("copy: %s" % e)
    print("bridge: done (%d bytes in, %d out)" % (n_in, n_out), flush=True)
    sock.close()
    os.close(fd)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""fwboot-log.py — netstickd's debug log, for tests/vm/fwboot.sh.

    fwboot-log.py stamp               stdin to stdout, each line prefixed
                                      with CLOCK_MONOTONIC seconds ("12.345 ")
    fwboot-log.py analyze LOG [FROM]  what the host did from line FROM on
                                      (1-based, default 1), as key=value lines

analyze reads a stamped log written with log level debug (the bot, scsi
and ffs modules) and prints:

    commands=N          CBWs seen
    max_ms=N            the longest command, CBW to CSW (a command with no
                        CSW by the end of the log counts until the last line)
    max_op=0xNN         its opcode
    open_commands=N     CBWs never answered
    halts=N             endpoint halts (stalls) the daemon made or tried
    bot_resets=N        Bulk-Only Mass Storage Resets from the host
    becoming_ready=N    commands answered 02/04/01 (NOT READY, BECOMING READY)
    no_medium=N         commands answered 02/3A/00
    failed=N            commands answered CHECK CONDITION, any sense
    ops=0x12:3,0x00:5   opcodes and how often, in order of first use
"""
import re
import sys
import time

CBW = re.compile(r"bot: cbw tag (\d+) lun \d+ op (0x[0-9a-f]{2})")
CSW = re.compile(r"bot: csw tag (\d+) status (\d+)")
HALT = re.compile(r"ffs: halt(?:ed)? (?:in|out)")
RESET = re.compile(r"ffs: Bulk-Only Mass Storage Reset")
FAILED = re.compile(r"scsi: lun \d+: op 0x[0-9a-f]{2} failed: (.*)")


def stamp():
    for line in sys.stdin:
        sys.stdout.write("%.3f %s" % (time.monotonic(), line))
        sys.stdout.flush()


def analyze(path, start):
    n = {"commands": 0, "halts": 0, "bot_resets": 0, "becoming_ready": 0,
         "no_medium": 0, "failed": 0}
    ops = {}
    open_cmds = {}      # tag -> (time, op)
    max_ms, max_op, last_t = 0, "-", 0.0
    with open(path, errors="replace") as f:
        for i, line in enumerate(f, 1):
            head, _, rest = line.partition(" ")
            try:
                t = float(head)
            except ValueError:
                continue
            last_t = t
            if i < start:
                continue
            m = CBW.search(rest)
            if m:
                n["commands"] += 1
                ops[m.group(2)] = ops.get(m.group(2), 0) + 1
                open_cmds[m.group(1)] = (t, m.group(2))
                continue
            m = CSW.search(rest)
            if m and m.group(1) in open_cmds:
                t0, op = open_cmds.pop(m.group(1))
                ms = int((t - t0) * 1000)
                if ms > max_ms:
                    max_ms, max_op = ms, op
                continue
            if HALT.search(rest):
                n["halts"] += 1
            elif RESET.search(rest):
                n["bot_resets"] += 1
            else:
                m = FAILED.search(rest)
                if m:
                    n["failed"] += 1
                    if "becoming ready" in m.group(1):
                        n["becoming_ready"] += 1
                    elif "medium not present" in m.group(1):
                        n["no_medium"] += 1
    for t0, op in open_cmds.values():
        ms = int((last_t - t0) * 1000)
        if ms > max_ms:
            max_ms, max_op = ms, op
    for k, v in n.items():
        print("%s=%d" % (k, v))
    print("max_ms=%d" % max_ms)
    print("max_op=%s" % max_op)
    print("open_commands=%d" % len(open_cmds))
    print("ops=%s" % ",".join("%s:%d" % kv for kv in ops.items()))


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "stamp":
        stamp()
    elif len(sys.argv) >= 3 and sys.argv[1] == "analyze":
        analyze(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

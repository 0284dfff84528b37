#!/usr/bin/env python3
"""Run a command in a pseudo-terminal of a fixed size, count what it writes to the
terminal and its CPU time, then stop it with SIGTERM. Prints one JSON object.

  pty_run.py --cols 80 --rows 24 --frame-log F (--until-data | --duration S) -- CMD...

--until-data: stop at the first line of the frame log whose newest-row field is not
'-' and that shows the store's own data (last field 'store'), and report
first_data_ms (from just before fork to the first frame with stored data, the
glance's if there is one), store_data_ms (to that first frame of the store's own) and
glance (whether the first came from the glance).
--duration S: from --settle seconds (default 3) after the first frame showing stored
data, measure S seconds: bytes, CPU %, RSS at the end.
--quiet-below PCT: before measuring, wait (at most --quiet-max seconds) for a
--quiet-window of CPU at or below PCT: after a bulk load sled compacts its log in the
background for minutes, which is start-up debt, not idle work. Reports
compacting_secs and compacting_cpu_pct (that wait, its CPU) and quiet (whether it
came).
"""
import argparse, fcntl, json, os, pty, select, signal, struct, sys, termios, time

ap = argparse.ArgumentParser()
ap.add_argument("--cols", type=int, default=80)
ap.add_argument("--rows", type=int, default=24)
ap.add_argument("--frame-log", required=True)
ap.add_argument("--until-data", action="store_true")
ap.add_argument("--duration", type=float, default=0)
ap.add_argument("--settle", type=float, default=3)
ap.add_argument("--timeout", type=float, default=60)
ap.add_argument("--quiet-below", type=float, default=None)
ap.add_argument("--quiet-max", type=float, default=600)
ap.add_argument("--quiet-window", type=float, default=20)
ap.add_argument("cmd", nargs=argparse.REMAINDER)
a = ap.parse_args()
cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd

env = dict(os.environ, TERM="xterm-256color", DOORWATCH_FRAME_LOG=a.frame_log)
t0 = time.time()
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", a.rows, a.cols, 0, 0))
    os.execvpe(cmd[0], cmd, env)

tick = os.sysconf("SC_CLK_TCK")


def cpu_secs():
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / tick
    except OSError:
        return 0.0


def rss_kb():
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def frames():
    try:
        return [l.split() for l in open(a.frame_log).read().splitlines() if l.strip()]
    except OSError:
        return []


total = 0
out = {"first_data_ms": None, "store_data_ms": None, "glance": False}


def whose(f):
    # Frame logs before the glance had no such field: the store's.
    return f[4] if len(f) >= 5 else "store"

measuring = None  # (t, cpu, bytes) at the start of the window
quieting = None  # (t, cpu) when the wait for quiet began
window = None  # (t, cpu) at the start of the current quiet window
deadline = t0 + a.timeout
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.02)
    if r:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        total += len(data)
    fl = frames()
    if a.until_data:
        for f in fl:
            if len(f) >= 3 and f[2] != "-":
                if out["first_data_ms"] is None:
                    out["first_data_ms"] = int(f[0]) - t0 * 1000
                    out["glance"] = whose(f) == "glance"
                if whose(f) == "store":
                    out["store_data_ms"] = int(f[0]) - t0 * 1000
                    break
        if out["store_data_ms"] is not None:
            break
    elif measuring is None and fl:
        # The console draws its first frame before the store opens; opening it (and
        # loading the saved state) is start-up, not idle or live work. Measure from
        # the first frame that shows stored data, or 10 s after the first frame.
        # Then let the work that follows the first data frame settle (the rest of
        # the newest page, the alarm board) for --settle seconds.
        first = int(fl[0][0]) / 1000
        data = [int(f[0]) / 1000 for f in fl if len(f) >= 3 and f[2] != "-"]
        start = data[0] + a.settle if data else first + 10
        if time.time() >= start:
            if a.quiet_below is not None and quieting is None:
                quieting = (time.time(), cpu_secs())
                window = quieting
                deadline = quieting[0] + a.quiet_max + a.duration + 5
            elif a.quiet_below is not None:
                now = time.time()
                if now - window[0] >= a.quiet_window:
                    pct = 100.0 * (cpu_secs() - window[1]) / (now - window[0])
                    quiet = pct <= a.quiet_below
                    if quiet or now - quieting[0] >= a.quiet_max:
                        out.update(
                            quiet=quiet,
                            compacting_secs=now - quieting[0],
                            compacting_cpu_pct=100.0 * (cpu_secs() - quieting[1]) / (now - quieting[0]),
                        )
                        measuring = (now, cpu_secs(), total)
                        deadline = now + a.duration
                    else:
                        window = (now, cpu_secs())
            else:
                measuring = (time.time(), cpu_secs(), total)
                deadline = measuring[0] + a.duration
if measuring is not None:
    span = time.time() - measuring[0]
    out.update(
        secs=span,
        cpu_pct=100.0 * (cpu_secs() - measuring[1]) / span,
        bytes_per_s=(total - measuring[2]) / span,
        rss_kb=rss_kb(),
    )
os.kill(pid, signal.SIGTERM)
end = time.time() + 10
while time.time() < end:
    r, _, _ = select.select([fd], [], [], 0.05)
    if r:
        try:
            if not os.read(fd, 65536):
                break
        except OSError:
            break
    done, _ = os.waitpid(pid, os.WNOHANG)
    if done:
        break
else:
    os.kill(pid, signal.SIGKILL)
try:
    os.waitpid(pid, 0)
except ChildProcessError:
    pass
print(json.dumps(out))

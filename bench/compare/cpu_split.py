#!/usr/bin/env python3
"""Where a no-op converge's time goes, against the `ssh HOST true` floor.

    sudo python3 bench/compare/cpu_split.py --n 20 --files 50 --reps 7 [--bin NAME=PATH ...]

On lab hosts (systemd-nspawn on this machine: they share its kernel and its
cores), brings up N fresh hosts, converges the benchmark's workload (F files)
with the first binary, then alternates, `--reps` times:

  floor   `ssh HOST true` to all N hosts at once (run.py's floor)
  NAME    `rampart apply --auto-approve` with each binary given (a no-op)

and reports for each the median of: wall seconds; the machine's busy CPU
seconds over the run (from /proc/stat: every lab host's sshd, shell and
programs, and the client, are on this kernel); and the client's own CPU
seconds (its rusage). The hosts' share is the difference. Then it runs one
host's facts script (printed by the `facts_script` example of each binary's
checkout, `--script NAME=FILE`) on lab1 `--reps` times and reports its CPU
seconds there (bash's `times` after the script).

Nothing runs against any address outside the lab's 198.18.0.0/24.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as bench  # noqa: E402  (the runner's workload and floor)


def busy_jiffies():
    """Busy and total jiffies of the whole machine (first line of /proc/stat)."""
    f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = f[3] + f[4]
    return sum(f) - idle


HZ = os.sysconf("SC_CLK_TCK")


def measure(fn):
    """wall s, machine busy CPU s, client CPU s of fn()."""
    r0 = os.times()
    b0 = busy_jiffies()
    t0 = time.monotonic()
    fn()
    wall = time.monotonic() - t0
    b1 = busy_jiffies()
    r1 = os.times()
    client = (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)
    return wall, (b1 - b0) / HZ, client


def noop(w):
    """One no-op apply, the command alone (run.py's checks after it are not timed here)."""
    cmd, cwd, env = w.command("rampart")
    r = subprocess.run(cmd, cwd=cwd, env=dict(os.environ, NO_COLOR="1", **env), capture_output=True, text=True)
    if r.returncode != 0 or "No changes." not in r.stdout:
        sys.exit(f"cpu_split: the no-op was not one (exit {r.returncode}):\n{r.stdout[-2000:]}{r.stderr[-2000:]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--files", type=int, default=50)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--bin", action="append", default=[], help="NAME=PATH of a rampart binary (first one converges)")
    ap.add_argument("--script", action="append", default=[], help="NAME=FILE: a facts script to time on lab1")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("cpu_split: run as root (the lab)")
    bins = [tuple(b.split("=", 1)) for b in a.bin] or [("rampart", str(bench.RAMPART))]
    bench.RAMPART = Path(bins[0][1])
    rows = {}
    with tempfile.TemporaryDirectory(prefix="rampart-cpu-") as tmp:
        bench.lab_up(a.n, fresh=True)
        w = bench.Work(a.n, a.files, Path(tmp))
        w.new_connections()
        w.set_flavor("blue")
        w.run("rampart", "cold", 900)
        for rep in range(a.reps):
            rows.setdefault("floor", []).append(measure(w.floor))
            for name, path in bins:
                bench.RAMPART = Path(path)
                rows.setdefault(name, []).append(measure(lambda: noop(w)))
        print(f"no-op at N = {a.n}, {a.files} files per host, {a.reps} runs each, medians, on {os.cpu_count()} cores")
        print("| run | wall s | machine busy CPU s | client CPU s | rest (hosts, kernel) CPU s |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for name, v in rows.items():
            wall, busy, client = (statistics.median(x[i] for x in v) for i in range(3))
            print(f"| {name} | {wall:.2f} | {busy:.2f} | {client:.2f} | {busy - client:.2f} |")
        if a.script:
            print()
            print(f"one host's facts script on lab1, {a.reps} runs each, medians")
            print("| script | wall s | CPU s on the host |")
            print("| --- | ---: | ---: |")
        for s in a.script:
            name, file = s.split("=", 1)
            text = Path(file).read_text()
            cpu, wall = [], []
            for _ in range(a.reps):
                probe = "s=$(date +%s%N); sh >/dev/null; e=$(date +%s%N); times; echo \"wall $(( (e - s) / 1000 ))\""
                r = subprocess.run(
                    ["ssh", "-i", str(bench.KEY), "-o", f"UserKnownHostsFile={bench.KH}", "-o", "BatchMode=yes", "root@198.18.0.11", f"bash -c '{probe}'"],
                    input=text, capture_output=True, text=True, check=True,
                )
                lines = r.stdout.strip().splitlines()
                # bash's times: the shell's own, then its children's (user and system)
                kids = lines[-2].split()
                secs = lambda t: float(t.split("m")[0]) * 60 + float(t.split("m")[1].rstrip("s"))
                cpu.append(secs(kids[0]) + secs(kids[1]))
                wall.append(int(lines[-1].split()[1]) / 1e6)
            print(f"| {name} | {statistics.median(wall):.3f} | {statistics.median(cpu):.3f} |")
    subprocess.run([str(bench.RAMPART), "lab", "down"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""rampart vs Ansible vs pyinfra, the same workload on the same lab hosts, in one run.

    sudo python3 bench/compare/run.py                # N = 3, 10, 20; 10 and 50 files; 3 repetitions
    sudo python3 bench/compare/run.py --sizes 3 --files 10 --reps 1   # a quick look

Installs ansible-core and pyinfra from PyPI into a virtualenv
(/var/cache/rampart-bench/venv), builds rampart (release), brings up lab
hosts with `rampart lab up N`, and for each N and repetition runs every tool
in turn on freshly reset hosts:

  cold    converge fresh hosts (packages, F files, haproxy.cfg, service)
  noop    the same again: nothing to change (the key figure)
  change  the group variable changes: all F files change on every host

for each file count F (`--files`, default 10 and 50 files per host: a tuning
to one shape shows in the other),

plus the floor: `ssh HOST true` to all N hosts in parallel, fresh connections.
Prints a table (min and median of the repetitions, and each figure's ratio to
rampart's) and writes it to bench/RESULTS.md. Every run's exit code is
checked and the hosts' files are checked after each phase, so a tool that
did nothing cannot look fast.
"""
import argparse
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENV = Path("/var/cache/rampart-bench/venv")
LAB = Path(os.environ.get("RAMPART_LAB_DIR") or "/var/lib/rampart-lab")
KEY = LAB / "id_ed25519"
KH = LAB / "known_hosts"
RAMPART = Path(os.environ["RAMPART_BIN"]) if os.environ.get("RAMPART_BIN") else ROOT / "target/release/rampart"
TOOLS = ["rampart", "pyinfra", "ansible"]
PHASES = ["cold", "noop", "change"]


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def setup():
    if os.geteuid() != 0:
        sys.exit("bench: run as root (the lab makes containers and network namespaces)")
    if os.environ.get("RAMPART_BIN"):
        log(f"using {RAMPART} (RAMPART_BIN; not built here)")
    else:
        log("building rampart (release)")
        sh(["cargo", "build", "--release", "-q"], cwd=ROOT)
    if not (VENV / "bin/pyinfra").exists() or not (VENV / "bin/ansible-playbook").exists():
        log(f"installing ansible-core and pyinfra from PyPI into {VENV}")
        VENV.parent.mkdir(parents=True, exist_ok=True)
        sh([sys.executable, "-m", "venv", str(VENV)])
        sh([str(VENV / "bin/pip"), "install", "-q", "ansible-core", "pyinfra"])
    versions = {
        "rampart": subprocess.run([str(RAMPART), "--version"], capture_output=True, text=True).stdout.split()[-1],
        "ansible": subprocess.run([str(VENV / "bin/ansible-playbook"), "--version"], capture_output=True, text=True).stdout.splitlines()[0].split("core ")[-1].rstrip("]"),
        "pyinfra": subprocess.run([str(VENV / "bin/pyinfra"), "--version"], capture_output=True, text=True).stdout.strip().split("v")[-1],
        "ssh": subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip().split(",")[0],
    }
    return versions


def lab_up(n, fresh):
    args = [str(RAMPART), "lab", "up", str(n)] + (["--fresh"] if fresh else [])
    sh(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def lab_hosts(n):
    return [(f"lab{k}", f"198.18.0.{10 + k}") for k in range(1, n + 1)]


def hademo_role(files, out: Path):
    """The rampart role with `files` files: the checked-in role's 10 file
    resources (and templates) widened to conf-01 .. conf-FF."""
    src = HERE / "rampart/roles/hademo"
    shutil.copytree(src, out)
    text = (src / "role.toml").read_text()
    block = lambda i: f'[[resources]]\nkind = "file"\npath = "/etc/hademo/conf-{i:02d}.cfg"\ntemplate = "conf-{i:02d}.hbs"\nmode = "0644"\nowner = "root"\n\n'
    ten = "".join(block(i) for i in range(1, 11))
    assert ten in text, "the role's file resources are not where the runner expects them"
    (out / "role.toml").write_text(text.replace(ten, "".join(block(i) for i in range(1, files + 1))))
    one = (src / "templates/conf-01.hbs").read_text()
    for i in range(11, files + 1):
        (out / f"templates/conf-{i:02d}.hbs").write_text(one.replace("file 01", f"file {i:02d}").replace("setting_01_", f"setting_{i:02d}_"))


class Work:
    """The three tools' inputs for N hosts and F files per host, in a scratch directory."""

    def __init__(self, n, files, tmp: Path):
        self.n, self.files, self.tmp, self.hosts = n, files, tmp, lab_hosts(n)
        sh([str(RAMPART), "lab", "inventory", "--out", str(tmp / "inventory.toml")], stdout=subprocess.DEVNULL)
        shutil.copytree(HERE / "ansible", tmp / "ansible")
        shutil.copytree(HERE / "pyinfra", tmp / "pyinfra")
        hademo_role(files, tmp / "roles/hademo")
        ten = '["01", "02", "03", "04", "05", "06", "07", "08", "09", "10"]'
        site = (tmp / "ansible/site.yml").read_text()
        assert ten in site
        (tmp / "ansible/site.yml").write_text(site.replace(ten, "[" + ", ".join(f'"{i:02d}"' for i in range(1, files + 1)) + "]"))
        deploy = (tmp / "pyinfra/deploy.py").read_text()
        assert "range(1, 11)" in deploy
        (tmp / "pyinfra/deploy.py").write_text(deploy.replace("range(1, 11)", f"range(1, {files + 1})"))
        self.control = 0

    def set_flavor(self, flavor):
        self.flavor = flavor
        stack = (HERE / "rampart/stack.toml").read_text().replace('flavor = "blue"', f'flavor = "{flavor}"')
        (self.tmp / "stack.toml").write_text(stack)
        lines = ["[all]"] + [f"{h} ansible_host={a}" for h, a in self.hosts]
        lines += ["", "[all:vars]", "ansible_user=root", f"ansible_ssh_private_key_file={KEY}", "ansible_python_interpreter=/usr/bin/python3", f"flavor={flavor}"]
        (self.tmp / "ansible/hosts.ini").write_text("\n".join(lines) + "\n")
        hosts = ",\n".join(f'    ("{h}", {{"ssh_hostname": "{a}", "addr": "{a}"}})' for h, a in self.hosts)
        (self.tmp / "pyinfra/inventory.py").write_text(
            f"hosts = ([\n{hosts}\n], {{\"ssh_user\": \"root\", \"ssh_key\": \"{KEY}\", \"ssh_known_hosts_file\": \"{KH}\", "
            f"\"ssh_strict_host_key_checking\": \"yes\", \"flavor\": \"{flavor}\"}})\n"
        )

    def new_connections(self):
        """Fresh hosts have fresh host keys: Ansible's persistent masters must not outlive them."""
        self.control += 1
        d = self.tmp / f"cp{self.control}"
        d.mkdir()
        cfg = f"""[defaults]
forks = {max(self.n, 5)}
host_key_checking = True
gathering = explicit
interpreter_python = /usr/bin/python3
retry_files_enabled = False
stdout_callback = default

[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile={KH} -o StrictHostKeyChecking=yes
control_path_dir = {d}
"""
        (self.tmp / "ansible/ansible.cfg").write_text(cfg)

    def command(self, tool):
        if tool == "rampart":
            return [str(RAMPART), "-i", str(self.tmp / "inventory.toml"), "-s", str(self.tmp / "stack.toml"), "--roles", str(self.tmp / "roles"), "apply", "--auto-approve"], ROOT, {}
        if tool == "ansible":
            env = {"ANSIBLE_CONFIG": str(self.tmp / "ansible/ansible.cfg")}
            return [str(VENV / "bin/ansible-playbook"), "-i", "hosts.ini", "site.yml"], self.tmp / "ansible", env
        return [str(VENV / "bin/pyinfra"), "-y", "inventory.py", "deploy.py"], self.tmp / "pyinfra", {}

    def run(self, tool, phase, timeout):
        """The seconds the tool took, or None when it ran past `timeout` (it is
        killed, with everything it started: its process group)."""
        cmd, cwd, env = self.command(tool)
        e = dict(os.environ, NO_COLOR="1", **env)
        t = time.monotonic()
        p = subprocess.Popen(cmd, cwd=cwd, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
            return None
        r = subprocess.CompletedProcess(cmd, p.returncode, out, err)
        secs = time.monotonic() - t
        if r.returncode != 0:
            sys.exit(f"bench: {tool} {phase} on {self.n} hosts failed (exit {r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        self.verify(tool, phase)
        return secs

    def verify(self, tool, phase):
        """Every host holds the flavor's files and a running haproxy listing the fleet."""
        check = (
            f"grep -q 'flavor {self.flavor}' /etc/hademo/conf-{self.files:02d}.cfg && grep -c '^    server lab' /etc/haproxy/haproxy.cfg && systemctl is-active -q haproxy"
        )
        for h, a in (self.hosts[0], self.hosts[-1]):
            r = subprocess.run(["ssh", "-i", str(KEY), "-o", f"UserKnownHostsFile={KH}", "-o", "BatchMode=yes", f"root@{a}", check], capture_output=True, text=True)
            if r.returncode != 0 or r.stdout.strip() != str(self.n):
                sys.exit(f"bench: after {tool} {phase}, {h} does not hold the workload: {r.stdout}{r.stderr}")

    def floor(self):
        procs = []
        t = time.monotonic()
        for _, a in self.hosts:
            procs.append(subprocess.Popen(["ssh", "-i", str(KEY), "-o", f"UserKnownHostsFile={KH}", "-o", "BatchMode=yes", "-o", "ControlMaster=no", "-o", "ControlPath=none", f"root@{a}", "true"]))
        codes = [p.wait() for p in procs]
        secs = time.monotonic() - t
        if any(codes):
            sys.exit(f"bench: ssh floor failed: {codes}")
        return secs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="3,10,20", help="host counts (default 3,10,20)")
    ap.add_argument("--files", default="10,50", help="files per host (default 10,50)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of each phase (default 3)")
    ap.add_argument("--tools", default=",".join(TOOLS), help="which tools (default all)")
    ap.add_argument("--out", default=str(ROOT / "bench/RESULTS.md"))
    ap.add_argument("--timeout", type=int, default=900, help="seconds one tool run may take before it is killed and its repetition run again on fresh hosts, once (default 900)")
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    counts = [int(f) for f in a.files.split(",")]
    tools = [t for t in a.tools.split(",") if t]
    versions = setup()
    results = {}  # (tool, n, files, phase) -> [secs]; the floor under files 0
    retries = []  # runs killed at the timeout (an apt-get that hangs: README)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    try:
        for n in sizes:
            lab_up(n, fresh=True)
            for files in counts:
                with tempfile.TemporaryDirectory(prefix="rampart-bench-") as tmp:
                    w = Work(n, files, Path(tmp))
                    for rep in range(a.reps):
                        fl = w.floor()
                        results.setdefault(("ssh", n, 0, "floor"), []).append(fl)
                        log(f"N={n} F={files} rep {rep + 1}/{a.reps} ssh      floor  {fl:7.2f} s")
                        for tool in tools:
                            for attempt in (1, 2):
                                got = one_rep(w, tool, rep, a.timeout)
                                if got is not None:
                                    break
                                retries.append(f"N={n} F={files} rep {rep + 1}: {tool} ran past {a.timeout} s (attempt {attempt})")
                                log(retries[-1] + ("; again on fresh hosts" if attempt == 1 else "; giving up"))
                            else:
                                sys.exit(f"bench: {tool} ran past {a.timeout} s twice at N={n} F={files}")
                            for phase, secs in zip(PHASES, got):
                                results.setdefault((tool, n, files, phase), []).append(secs)
                                log(f"N={n} F={files} rep {rep + 1}/{a.reps} {tool:8} {phase:6} {secs:7.2f} s")
                            # the table so far, so a run stopped later keeps what it measured
                            report(results, sizes, counts, tools, versions, a.reps, started, a.out, " ".join(sys.argv[1:]), retries, done=False)
    finally:
        subprocess.run([str(RAMPART), "lab", "down"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    report(results, sizes, counts, tools, versions, a.reps, started, a.out, " ".join(sys.argv[1:]), retries, done=True)


def one_rep(w, tool, rep, timeout):
    """cold, noop and change of one tool on freshly reset hosts: their seconds,
    or None when one of them ran past `timeout`."""
    lab_up(w.n, fresh=True)  # clean hosts (same base image) for every tool's cold run
    w.new_connections()
    w.set_flavor("blue")
    got = []
    for phase in PHASES:
        if phase == "change":
            w.set_flavor(f"green{rep}")
        secs = w.run(tool, phase, timeout)
        if secs is None:
            return None
        got.append(secs)
    return got


def report(results, sizes, counts, tools, versions, reps, started, out, argv, retries, done):
    rows = []
    for files in counts:
        for n in sizes:
            fl = results.get(("ssh", n, 0, "floor"))
            if not fl or not any((t, n, files, p) in results for t in tools for p in PHASES):
                continue
            rows.append(("ssh true (floor)", versions["ssh"], n, "", "floor", min(fl), statistics.median(fl), ""))
            for phase in PHASES:
                base = results.get(("rampart", n, files, phase))
                for tool in tools:
                    v = results.get((tool, n, files, phase))
                    if not v:
                        continue
                    med = statistics.median(v)
                    if tool == "rampart":
                        ratio = f"{med / statistics.median(fl):.2f}x the floor"
                    else:
                        ratio = f"rampart {med / statistics.median(base):.1f}x faster" if base else ""
                    rows.append((tool, versions[tool], n, files, phase, min(v), med, ratio))
    head = "| tool | version | N | files | phase | min s | median s | ratio |\n| --- | --- | ---: | ---: | --- | ---: | ---: | --- |\n"
    table = head + "".join(f"| {t} | {v} | {n} | {f} | {p} | {mn:.2f} | {md:.2f} | {r} |\n" for t, v, n, f, p, mn, md, r in rows)
    cmd = "sudo python3 bench/compare/run.py" + (f" {argv}" if argv else "")
    state = "" if done else "\n**Partial: the run had not finished when this was written** (the runner rewrites this file after each tool's repetition).\n"
    killed = "".join(f"- {r}\n" for r in retries)
    killed = f"\nRuns killed at the timeout and run again on fresh hosts:\n{killed}" if killed else ""
    text = f"""# rampart vs pyinfra vs Ansible

Measured {started} on {platform.node()} ({os.cpu_count()} cores), {reps} repetitions
each, by `{cmd}`. Workload and settings: `bench/compare/README.md`.
Ratios compare medians: "rampart Nx faster" = the tool's median / rampart's.
{state}{killed}
{table}"""
    Path(out).write_text(text)
    if done:
        print(text)
        log(f"written to {out}")


if __name__ == "__main__":
    main()

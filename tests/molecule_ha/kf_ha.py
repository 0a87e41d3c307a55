"""Helpers for the verify step of molecule/ha: the scenario's shape, commands in its containers, real kubectl.

The scenario's shape (hosts, groups, addresses, VIP, endpoint) is read from molecule/ha/molecule.yml, the one
place it is written. Commands run in the instances with `docker exec` (container name = instance name), which is
fast enough to time failovers to a fraction of a second (an Ansible-backed call costs 1-3 s on this machine).
"""
from __future__ import annotations

import csv
import io
import json
import os
import shlex
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "molecule" / "ha" / "molecule.yml"
ADMIN_CONF = "/etc/kubernetes/admin.conf"
MANIFEST = "/etc/kubernetes/manifests/kube-apiserver.yaml"
# Outside /etc/kubernetes/manifests, so the kubelet stops the static pod (it would restart a killed process).
MANIFEST_AWAY = "/etc/kubernetes/kube-apiserver.yaml.kf-ha-verify"
STATS_SOCKET = "/run/haproxy/admin.sock"
BACKEND = "kube-apiserver"

# haproxy's runtime API through python3 (in the image; socat is not installed by the role).
_SHOW_STAT = f"""
import socket
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect({STATS_SOCKET!r})
s.sendall(b"show stat\\n")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(data.decode())
"""


@dataclass
class Shape:
    hosts: dict[str, str] = field(default_factory=dict)  # name -> IPv4 address
    groups: dict[str, list[str]] = field(default_factory=dict)
    vip: str = ""
    endpoint: str = ""
    vars: dict = field(default_factory=dict)

    @property
    def control_planes(self) -> list[str]:
        return self.groups.get("control_plane", [])

    @property
    def loadbalancers(self) -> list[str]:
        return self.groups.get("loadbalancers", [])

    @property
    def nodes(self) -> list[str]:
        return self.control_planes + self.groups.get("workers", [])


def shape() -> Shape:
    m = yaml.safe_load(SCENARIO.read_text())
    s = Shape()
    for p in m["platforms"]:
        s.hosts[p["name"]] = p["networks"][0]["ipv4_address"]
        for g in p.get("groups", []):
            s.groups.setdefault(g, []).append(p["name"])
    s.vars = m["provisioner"]["inventory"]["group_vars"]["all"]
    s.vip = s.vars["loadbalancer_vip"]
    s.endpoint = s.vars["kubernetes_control_plane_endpoint"]
    return s


def dexec(name: str, cmd: str, timeout: float = 60, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run a shell command in an instance (rc 124 when it timed out)."""
    argv = ["docker", "exec", *(["-i"] if stdin is not None else []), name, "sh", "-c", cmd]
    try:
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(argv, 124, e.stdout or "", f"timed out after {timeout}s")


def dexec_ok(name: str, cmd: str, timeout: float = 60, stdin: str | None = None) -> str:
    r = dexec(name, cmd, timeout, stdin)
    assert r.returncode == 0, f"{name}: {cmd} -> rc {r.returncode}\nstdout: {r.stdout[-2000:]}\nstderr: {r.stderr[-2000:]}"
    return r.stdout


def holder(s: Shape) -> list[str]:
    """The load balancers that hold the VIP right now (one, normally)."""
    out = []
    for lb in s.loadbalancers:
        r = dexec(lb, "ip -4 -o addr show", timeout=20)
        if f" {s.vip}/" in r.stdout:
            out.append(lb)
    return out


def show_stat(lb: str) -> dict[str, str]:
    """Status (UP, DOWN, ...) of every server of the API backend in haproxy's `show stat` on a load balancer."""
    text = dexec_ok(lb, "python3 -", timeout=20, stdin=_SHOW_STAT).lstrip("# ")
    rows = csv.DictReader(io.StringIO(text))
    return {r["svname"]: r["status"] for r in rows
            if r.get("pxname") == BACKEND and r.get("svname") not in ("FRONTEND", "BACKEND")}


class Kubectl:
    """Real kubectl with the cluster's admin credentials: the venv's on the controller when the VIP answers there
    (the host is the lab network's gateway), else the one on the first control plane."""

    def __init__(self, s: Shape):
        self.s = s
        self.cp1 = s.control_planes[0]
        self.dir = tempfile.mkdtemp(prefix="kf-molha-")
        self.kubeconfig = Path(self.dir) / "admin.conf"
        self.kubeconfig.write_text(dexec_ok(self.cp1, f"cat {ADMIN_CONF}"))
        self.kubeconfig.chmod(0o600)
        self.local = ROOT / ".venv" / "bin" / "kubectl"
        host, port = s.endpoint.rsplit(":", 1)
        try:
            socket.create_connection((host, int(port)), timeout=5).close()
            self.where = "controller"
        except OSError as e:
            self.where = f"{self.cp1} (the VIP is not reachable from the controller: {e})"
        self.on_controller = self.where == "controller"

    def run(self, *args: str, server: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
        flags = [f"--request-timeout={int(timeout)}s"] + ([f"--server={server}"] if server else [])
        if self.on_controller:
            argv = [str(self.local), f"--kubeconfig={self.kubeconfig}", *flags, *args]
            try:
                return subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 10, check=False,
                                      env=dict(os.environ))
            except subprocess.TimeoutExpired:
                return subprocess.CompletedProcess(argv, 124, "", "timed out")
        cmd = shlex.join(["kubectl", f"--kubeconfig={ADMIN_CONF}", *flags, *args])
        return dexec(self.cp1, cmd, timeout=timeout + 10)

    def via_vip(self, *args: str, timeout: float = 10) -> subprocess.CompletedProcess:
        return self.run(*args, server=f"https://{self.s.endpoint}", timeout=timeout)


def wait_until(check, bound: float, step: float = 0.25):
    """Call check() until it returns a true value or `bound` seconds passed; (value, seconds since start)."""
    t0 = time.monotonic()
    while True:
        v = check()
        elapsed = time.monotonic() - t0
        if v or elapsed > bound:
            return v, elapsed
        time.sleep(step)


def node_problems(nodes_json: str, expected: list[str]) -> list[str]:
    seen = {n["metadata"]["name"]: n for n in json.loads(nodes_json)["items"]}
    problems = [f"{n}: not registered" for n in expected if n not in seen]
    for name, node in sorted(seen.items()):
        ready = [c for c in node["status"].get("conditions", []) if c["type"] == "Ready"]
        if not ready or ready[0]["status"] != "True":
            problems.append(f"{name}: Ready={ready[0]['status'] if ready else 'missing'}")
    return problems


def report(line: str) -> None:
    """A measured figure: printed (the verifier runs pytest with -s) and kept in .cache/molecule/ha-times.txt."""
    print(f"[ha] {line}", flush=True)
    out = ROOT / ".cache" / "molecule" / "ha-times.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as f:
        f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {line}\n")

"""The lab harness: network, systemd hosts, repository server, package cache, inventory.

Everything the harness creates carries the Docker label ``kubeforge.lab=<name>``; ``down`` removes exactly that.
Processes the harness starts (apt-cacher-ng; dockerd through ./docker-engine) have pid files under .cache/
and are stopped only through them.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CACHE = ROOT / ".cache"
LAB_STATE = CACHE / "lab"
# resolved: worktrees that link .cache/apt-cacher-ng to one directory share one cache (same configuration text)
ACNG_DIR = (CACHE / "apt-cacher-ng").resolve()
KUBESIM_OUT = CACHE / "kubesim"
REPO_WWW = KUBESIM_OUT / "www"
KUBESIM_MANIFEST = KUBESIM_OUT / "manifest.json"
# Used only until tests/kubesim/build has written its manifest (it names the mirror's real versions).
MIRROR_FALLBACK = {"containerd": "2.1.9", "runc": "1.3.6"}

DEFAULT_NAME = "lab"
DEFAULT_SUBNET = "172.30.10.0/24"
DISTROS = {"bookworm", "trixie"}
IMAGE = "kubeforge/debian:{distro}"
LABEL = "kubeforge.lab"
CACHE_PORT = 3142
REPO_PORT = 8080
FIRST_HOST = 10           # hosts get .10, .11, ... (.3-.9 stay free, e.g. for a load balancer VIP)
VIP_HOST = 5              # the virtual IP of an HA lab (control-plane endpoint)
LAB_USER = "kubeforge"

# Container settings shared by every lab host (molecule/default/molecule.yml spells the same settings).
CAP_DROP = ["SYS_RESOURCE", "SYS_TIME", "SYS_MODULE"]
HOST_RUN_ARGS = [
    "--cap-add", "ALL", *[x for c in CAP_DROP for x in ("--cap-drop", c)],
    "--security-opt", "systempaths=unconfined",
    "--security-opt", "apparmor=unconfined",
    # Docker's default seccomp profile refuses keyctl and pivot_root, so runc cannot start a container inside a
    # host (issue 14); this profile allows everything but what acts on the whole machine (kexec, swap, modules,
    # clock, raw I/O ports, open_by_handle_at, ...). See README.md, "Containers inside the hosts".
    "--security-opt", f"seccomp={HERE / 'seccomp-host.json'}",
    "--cgroupns", "host",
    "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
]


# inotify instances a booted systemd host container holds (systemd, journald, udev, logind, path units; counted
# from /proc/*/fd on these machines: 8-9).
INOTIFY_PER_HOST = 10


def inotify_in_use() -> int:
    """inotify instances open on the machine (anon_inode:inotify fds of every process we can see)."""
    n = 0
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            for fd in os.scandir(fd_dir):
                try:
                    if os.readlink(fd.path) == "anon_inode:inotify":
                        n += 1
                except OSError:
                    pass
        except OSError:
            pass
    return n


def check_inotify_budget(new_hosts: list[str]) -> None:
    """Fail before starting hosts whose systemd would hang at boot for want of inotify instances.

    All root-owned containers share the machine's fs.inotify.max_user_instances (128 by default): a systemd host
    that gets none never finishes booting (seen with 9 lab hosts next to other containers)."""
    if not new_hosts:
        return
    try:
        limit = int(Path("/proc/sys/fs/inotify/max_user_instances").read_text())
    except (OSError, ValueError):
        return
    used, need = inotify_in_use(), INOTIFY_PER_HOST * len(new_hosts)
    if used + need > limit:
        raise LabError(
            f"{len(new_hosts)} new host(s) need about {need} inotify instances, {used} of the machine's "
            f"fs.inotify.max_user_instances={limit} are in use: systemd in the containers would not finish booting. "
            f"Raise the limit (sysctl -w fs.inotify.max_user_instances={max(1024, used + need)}) or stop other "
            "containers, then run up again.")


class LabError(Exception):
    pass


def say(msg: str) -> None:
    print(f"[lab] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------------
# The lab settings the roles see. ONE place: variable names follow the roles; adjust them here only.
# ---------------------------------------------------------------------------------------------------------------
def addr(subnet: str, host: int) -> str:
    return str(ipaddress.ip_network(subnet)[host])


def mirror_versions() -> dict:
    """containerd/runc versions the stand-in mirror carries (from tests/kubesim/build's manifest)."""
    versions = dict(MIRROR_FALLBACK)
    if KUBESIM_MANIFEST.exists():
        mirror = json.loads(KUBESIM_MANIFEST.read_text()).get("mirror", {})
        for name in versions:
            versions[name] = mirror.get(name, {}).get("version", versions[name])
    return versions


def lab_group_vars(subnet: str, distro: str, control_planes: int = 1, loadbalancers: int = 0) -> dict:
    gw, repo = addr(subnet, 1), addr(subnet, 2)
    mirror = mirror_versions()
    v = {
        "kubernetes_package_repository": f"http://{repo}:{REPO_PORT}/core:/stable:",
        "prereqs_package_proxy": f"http://{gw}:{CACHE_PORT}",
        "prereqs_package_proxy_bypass": [repo],
        # The stand-in repository and mirror serve plain http on the lab network: the inventory opts in.
        "kubernetes_allow_insecure_http": True,
        # These machines are cgroup v1: the inventory opts in, as a user on such hosts would.
        "kubernetes_allow_cgroup_v1": True,
        "container_runtime_containerd_source": "archive",
        "container_runtime_download_base_url": f"http://{repo}:{REPO_PORT}/mirror",
        "container_runtime_unit_base_url": f"http://{repo}:{REPO_PORT}/mirror",
        "container_runtime_containerd_version": mirror["containerd"],
        "container_runtime_runc_version": mirror["runc"],
        # No container image can be pulled here and the stand-in runs no application container: the smoke test
        # checks scheduling and the NodePort only, and reports readiness and HTTP as not covered (roles/smoke_test).
        "smoke_test_wait_ready": False,
        "smoke_test_http_check": False,
    }
    if distro == "bookworm":
        # Debian sid's runc (the mirror's) needs glibc 2.38; Debian 12 pairs sid's containerd with its own runc.
        v["container_runtime_runc_source"] = "distro"
    v.update(lab_ha_group_vars(subnet, control_planes, loadbalancers))
    return v


def lab_ha_group_vars(subnet: str, control_planes: int, loadbalancers: int) -> dict:
    """The HA settings of a lab with load balancers or several control planes (none otherwise): the virtual IP
    .VIP_HOST is the control-plane endpoint, held by keepalived on the load balancers (frontend 6443) or, with no
    load balancer, on the control planes themselves (co-located, frontend 8443). Unicast VRRP: the lab's --internal
    bridge drops VRRP multicast (roles/loadbalancer/README.md, "Multicast in the lab")."""
    if loadbalancers == 0 and control_planes <= 1:
        return {}
    vip = addr(subnet, VIP_HOST)
    v: dict = {}
    if loadbalancers == 0:
        v["loadbalancer_colocated"] = True
    v.update({
        "kubernetes_control_plane_endpoint": f"{vip}:{8443 if loadbalancers == 0 else 6443}",
        "loadbalancer_vip": vip,
        "loadbalancer_vip_prefix": ipaddress.ip_network(subnet).prefixlen,
        "loadbalancer_vrrp_unicast": True,
    })
    return v


def inventory_dir(name: str) -> Path:
    return LAB_STATE / name / "inventory"


# ---------------------------------------------------------------------------------------------------------------
# Small command helpers
# ---------------------------------------------------------------------------------------------------------------
def run(cmd: list[str], check: bool = True, capture: bool = True, input: str | None = None, timeout: float | None = None):
    r = subprocess.run(cmd, text=True, capture_output=capture, input=input, timeout=timeout, check=False)
    if check and r.returncode != 0:
        raise LabError(f"{' '.join(cmd)} failed ({r.returncode}): {(r.stderr or r.stdout or '').strip()[-800:]}")
    return r


def docker(*args: str, check: bool = True, input: str | None = None, timeout: float | None = None):
    return run(["docker", *args], check=check, input=input, timeout=timeout)


def docker_ids(kind: str, name: str) -> list[str]:
    """Ids of containers/networks/volumes labelled kubeforge.lab=<name>."""
    fmt = {"container": ["ps", "-aq"], "network": ["network", "ls", "-q"], "volume": ["volume", "ls", "-q"]}[kind]
    out = docker(*fmt, "--filter", f"label={LABEL}={name}").stdout.split()
    return out


def ensure_engine() -> None:
    r = run([str(HERE / "docker-engine"), "ensure"], capture=False, check=False)
    if r.returncode:
        raise LabError("the Docker engine is not available")


def pid_alive(pid: int, comm: str) -> bool:
    try:
        return comm in Path(f"/proc/{pid}/comm").read_text()
    except OSError:
        return False


def stop_pid(pid: int, comm: str, what: str) -> None:
    if not pid_alive(pid, comm):
        return
    say(f"stopping {what} (pid {pid}, started by the harness)")
    os.kill(pid, signal.SIGTERM)
    for _attempt in range(50):
        if not pid_alive(pid, comm):
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------------------------------------------------------
# Package cache: apt-cacher-ng as a plain process, config and cache under .cache/apt-cacher-ng/
# ---------------------------------------------------------------------------------------------------------------
def host_debian_mirrors() -> tuple[str, str]:
    """The host's Debian mirror and security mirror, from its apt sources (default deb.debian.org)."""
    main, sec = "http://deb.debian.org/debian", "http://deb.debian.org/debian-security"
    texts = []
    for f in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        try:
            texts.append(f.read_text())
        except OSError:
            pass
    uris = re.findall(r"(?:^URIs:\s*|^deb\s+(?:\[[^\]]*\]\s+)?)(http://\S+)", "\n".join(texts), re.M)
    for u in uris:
        u = u.rstrip("/")
        if u.endswith("/debian-security") and sec == "http://deb.debian.org/debian-security":
            sec = u
        elif u.endswith("/debian") and main == "http://deb.debian.org/debian":
            main = u
    return main, sec


class PackageCache:
    """One apt-cacher-ng for every lab on the machine, started once and not restarted while labs use it.

    It listens on 0.0.0.0:3142 (so a new lab network's gateway works without a restart that would cut off the
    other labs' downloads), and the host firewall lets only the loopback and the lab networks reach that port
    (chain KFLAB-CACHE; each lab's own chain accepts its gateway:3142 first). IPv4 only.
    """
    pidfile = ACNG_DIR / "run" / "apt-cacher-ng.pid"
    conf = ACNG_DIR / "etc" / "acng.conf"
    guard_chain = "KFLAB-CACHE"

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid, "apt-cacher-ng") else None

    @staticmethod
    def lab_networks() -> list[str]:
        return docker("network", "ls", "-q", "--filter", f"label={LABEL}").stdout.split()

    # Suites the images' apt sources name (tests/lab/build-images), per distribution.
    SUITES = {"bookworm": ["bookworm", "bookworm-updates", "bookworm-security"],
              "trixie": ["trixie", "trixie-updates", "trixie-security"]}

    def warm(self, distros: list[str]) -> None:
        """Refresh the Debian index files (InRelease) through the cache, one at a time, before the hosts ask.

        apt-cacher-ng 3.7 mishandles several clients refreshing the same volatile file in the same second (its
        temporary name is second-based: "Failure to move file ... out of the way"), and apt's http method then waits
        forever on the half-closed connection (measured: 9 hosts, apt-get update hung for 8+ minutes despite
        Acquire::http::Timeout). Refreshed here, the files stay fresh for FreshIndexMaxAge, so the hosts' parallel
        `apt-get update` in the next minutes is answered from the cache without a refresh."""
        import urllib.request
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": f"http://127.0.0.1:{CACHE_PORT}"}))
        for distro in distros:
            for suite in self.SUITES.get(distro, []):
                archive = "debian-security" if suite.endswith("-security") else "debian"
                url = f"http://deb.debian.org/{archive}/dists/{suite}/InRelease"
                try:
                    with opener.open(url, timeout=60) as r:
                        r.read()
                except OSError as e:
                    say(f"package cache: could not refresh {url} ({e}); the hosts will fetch it themselves")

    def render(self) -> str:
        main, sec = host_debian_mirrors()
        return "\n".join([
            "# Generated by tests/lab (kubeforge lab package cache). Only Debian's archive is served (ForceManaged).",
            f"CacheDir: {ACNG_DIR / 'cache'}",
            f"LogDir: {ACNG_DIR / 'log'}",
            "SupportDir: /usr/lib/apt-cacher-ng",
            f"Port: {CACHE_PORT}",
            "BindAddress: 0.0.0.0",
            f"SocketPath: {ACNG_DIR / 'run' / 'socket'}",
            f"PidFile: {ACNG_DIR / 'run' / 'acng-own.pid'}",
            "ForeGround: 1",
            "ForceManaged: 1",
            "ReportPage: acng-report.html",
            "ExThreshold: 30",
            "VerboseLog: 1",
            # A lab run refreshes the same index files from many hosts at once: `warm` refreshes them first, and
            # for 10 minutes after that the hosts are answered from the cache (see PackageCache.warm).
            "FreshIndexMaxAge: 600",
            # Requests for the Debian archive (as written in the images' sources) are served from the host's mirror.
            f"Remap-debrep: deb.debian.org/debian ; {main}/",
            f"Remap-secdeb: deb.debian.org/debian-security ; {sec}/",
            "",
        ])

    def guard_up(self) -> None:
        ch = self.guard_chain
        if run(["iptables", "-w", "-n", "-L", ch], check=False).returncode != 0:
            run(["iptables", "-w", "-N", ch])
        run(["iptables", "-w", "-F", ch])
        run(["iptables", "-w", "-A", ch, "-i", "lo", "-j", "RETURN"])
        run(["iptables", "-w", "-A", ch, "-j", "DROP"])
        jump = ["INPUT", "-p", "tcp", "--dport", str(CACHE_PORT), "-j", ch]
        if run(["iptables", "-w", "-C", *jump], check=False).returncode != 0:
            run(["iptables", "-w", "-A", *jump])

    def guard_down(self) -> None:
        ch = self.guard_chain
        jump = ["INPUT", "-p", "tcp", "--dport", str(CACHE_PORT), "-j", ch]
        while run(["iptables", "-w", "-C", *jump], check=False).returncode == 0:
            run(["iptables", "-w", "-D", *jump], check=False)
        if run(["iptables", "-w", "-n", "-L", ch], check=False).returncode == 0:
            run(["iptables", "-w", "-F", ch], check=False)
            run(["iptables", "-w", "-X", ch], check=False)

    def ensure(self) -> None:
        if not shutil.which("apt-cacher-ng") and not Path("/usr/sbin/apt-cacher-ng").exists():
            run([str(HERE / "docker-engine"), "apt-install", "apt-cacher-ng"], capture=False)
        for d in ("etc", "cache", "log", "run"):
            (ACNG_DIR / d).mkdir(parents=True, exist_ok=True)
        self.guard_up()  # before it listens
        text = self.render()
        pid = self.pid()
        if pid and self.conf.exists() and self.conf.read_text() == text:
            return
        if pid:
            say("package cache: configuration changed; restarting apt-cacher-ng")
            stop_pid(pid, "apt-cacher-ng", "apt-cacher-ng")
        self.conf.write_text(text)
        exe = shutil.which("apt-cacher-ng") or "/usr/sbin/apt-cacher-ng"
        with open(ACNG_DIR / "log" / "daemon.out", "ab") as log:
            proc = subprocess.Popen([exe, "-c", str(self.conf.parent)], stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=log, start_new_session=True)
        self.pidfile.write_text(f"{proc.pid}\n")
        for _attempt in range(50):
            if proc.poll() is not None:
                raise LabError(f"apt-cacher-ng exited ({proc.returncode}); see {ACNG_DIR / 'log'}")
            if self._listening("127.0.0.1"):
                say(f"package cache: apt-cacher-ng pid {proc.pid} on port {CACHE_PORT} "
                    f"(cache {ACNG_DIR / 'cache'}; reachable from loopback and lab networks only)")
                return
            time.sleep(0.2)
        raise LabError("apt-cacher-ng does not listen; see .cache/apt-cacher-ng/log")

    @staticmethod
    def _listening(ip: str) -> bool:
        import socket
        s = socket.socket()
        s.settimeout(0.5)
        try:
            s.connect((ip, CACHE_PORT))
            return True
        except OSError:
            return False
        finally:
            s.close()

    def stop_if_unused(self) -> None:
        """After a lab went away: stop the cache (and its firewall guard) when no lab network is left."""
        if self.lab_networks():
            say("package cache: other labs still use it; leaving it running")
            return
        pid = self.pid()
        if pid:
            stop_pid(pid, "apt-cacher-ng", "package cache apt-cacher-ng")
        self.pidfile.unlink(missing_ok=True)
        self.guard_down()


# ---------------------------------------------------------------------------------------------------------------
# Host firewall: a lab network may reach the host only at the cache port (Docker's --internal already stops
# forwarding to anything outside the network).
# ---------------------------------------------------------------------------------------------------------------
def _chain(name: str) -> str:
    return "KFLAB-" + hashlib.sha256(name.encode()).hexdigest()[:10]


def firewall_up(name: str, bridge: str, gateway: str) -> None:
    ch = _chain(name)
    if run(["iptables", "-w", "-n", "-L", ch], check=False).returncode != 0:
        run(["iptables", "-w", "-N", ch])
    run(["iptables", "-w", "-F", ch])
    for rule in (["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
                 ["-p", "tcp", "-d", gateway, "--dport", str(CACHE_PORT), "-j", "ACCEPT"],
                 ["-j", "DROP"]):
        run(["iptables", "-w", "-A", ch, *rule])
    jump = ["INPUT", "-i", bridge, "-j", ch]
    if run(["iptables", "-w", "-C", *jump], check=False).returncode != 0:
        run(["iptables", "-w", "-I", *jump])


def firewall_down(name: str) -> None:
    ch = _chain(name)
    out = run(["iptables", "-w", "-S", "INPUT"], check=False).stdout
    for line in out.splitlines():
        if line.startswith("-A INPUT") and f"-j {ch}" in line:
            run(["iptables", "-w", "-D", *line.split()[1:]], check=False)
    if run(["iptables", "-w", "-n", "-L", ch], check=False).returncode == 0:
        run(["iptables", "-w", "-F", ch], check=False)
        run(["iptables", "-w", "-X", ch], check=False)


# ---------------------------------------------------------------------------------------------------------------
# The lab
# ---------------------------------------------------------------------------------------------------------------
class Lab:
    def __init__(self, name: str, subnet: str = DEFAULT_SUBNET, distro: str = "bookworm", control_planes: int = 1,
                 workers: int = 2, loadbalancers: int = 0, repo: bool = True):
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,30}", name):
            raise LabError(f"lab name {name!r}: use lower-case letters, digits and '-' (at most 31)")
        if distro not in DISTROS:
            raise LabError(f"distro {distro!r}: one of {', '.join(sorted(DISTROS))}")
        net = ipaddress.ip_network(subnet)
        if net.version != 4 or net.prefixlen > 26:
            raise LabError(f"subnet {subnet}: an IPv4 network of /26 or larger")
        if min(control_planes, workers, loadbalancers) < 0:
            raise LabError("host counts cannot be negative")
        if loadbalancers == 1:
            raise LabError("one load balancer: keepalived needs two to move the VIP; use --loadbalancers 2 "
                           "(or 0: the VIP on the control planes themselves)")
        self.name, self.subnet, self.distro, self.repo = name, str(net), distro, repo
        self.counts = {"control_plane": control_planes, "workers": workers, "loadbalancers": loadbalancers}
        self.dir = LAB_STATE / name
        self.key = self.dir / "id_ed25519"

    # -- persisted settings, so that down/status need only the name
    @classmethod
    def existing(cls, name: str) -> "Lab":
        f = LAB_STATE / name / "lab.json"
        if f.exists():
            d = json.loads(f.read_text())
            return cls(name, d["subnet"], d["distro"], d["counts"]["control_plane"], d["counts"]["workers"],
                       d["counts"]["loadbalancers"], d.get("repo", True))
        return cls(name)

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "lab.json").write_text(json.dumps(
            {"subnet": self.subnet, "distro": self.distro, "counts": self.counts, "repo": self.repo}, indent=2) + "\n")

    @property
    def network(self) -> str:
        return self.name

    def hosts(self) -> list[tuple[str, str, str]]:
        """(group, container/host name, ip) for every host, in address order."""
        out, n = [], FIRST_HOST
        for group, prefix in (("control_plane", "cp"), ("workers", "worker"), ("loadbalancers", "lb")):
            for i in range(1, self.counts[group] + 1):
                out.append((group, f"{self.name}-{prefix}{i}", addr(self.subnet, n)))
                n += 1
        return out

    # -- sysctl guard: recorded before the first `up` of a lab, checked by its `down`
    @property
    def sysctl_record(self) -> Path:
        return LAB_STATE / "sysctl" / f"{self.name}.json"

    # -- up
    def up(self) -> None:
        t0 = time.monotonic()
        self.t0 = t0
        if not self.sysctl_record.exists():
            run([str(HERE / "sysctl-guard"), "record", str(self.sysctl_record)], capture=False)
        ensure_engine()
        run([str(HERE / "build-images"), self.distro, *(["bookworm"] if self.repo and self.distro != "bookworm" else [])],
            capture=False)
        self.save()
        self._network()
        cache = PackageCache()
        cache.ensure()
        cache.warm([self.distro])
        if self.repo:
            run([str(ROOT / "tests" / "kubesim" / "build")], capture=False)
            self._repo_server()
        self._keypair()
        t1 = time.monotonic()
        check_inotify_budget([c for _g, c, _ip in self.hosts() if self._exists(c) != "running"])
        for _group, cname, ip in self.hosts():
            self._host(cname, ip)
        for _group, cname, _ip in self.hosts():
            self._wait_booted(cname)
            self._provision_user(cname)
        for _group, cname, ip in self.hosts():
            self._wait_ssh(cname, ip)
        self._inventory()
        say(f"hosts ready in {time.monotonic() - t1:.1f} s; lab '{self.name}' up in {time.monotonic() - t0:.1f} s")
        say(f"inventory: {inventory_dir(self.name)}")

    def _network(self) -> None:
        gw = addr(self.subnet, 1)
        r = docker("network", "inspect", self.network, check=False)
        if r.returncode == 0:
            info = json.loads(r.stdout)[0]
            cfg = (info.get("IPAM", {}).get("Config") or [{}])[0]
            if info.get("Labels", {}).get(LABEL) != self.name or cfg.get("Subnet") != self.subnet or not info.get("Internal"):
                raise LabError(f"network {self.network} exists with other settings (subnet {cfg.get('Subnet')}, "
                               f"internal {info.get('Internal')}); run 'down' first")
        else:
            say(f"network {self.network}: internal, {self.subnet}, gateway {gw}")
            docker("network", "create", "--internal", "--subnet", self.subnet, "--gateway", gw,
                   "--label", f"{LABEL}={self.name}", self.network)
            info = json.loads(docker("network", "inspect", self.network).stdout)[0]
        bridge = (info.get("Options") or {}).get("com.docker.network.bridge.name") or f"br-{info['Id'][:12]}"
        firewall_up(self.name, bridge, gw)

    def _exists(self, cname: str) -> str | None:
        r = docker("inspect", "-f", "{{.State.Status}}", cname, check=False)
        return r.stdout.strip() if r.returncode == 0 else None

    def _repo_server(self) -> None:
        cname, ip = f"{self.name}-repo", addr(self.subnet, 2)
        REPO_WWW.mkdir(parents=True, exist_ok=True)
        state = self._exists(cname)
        if state == "running":
            return
        if state:
            docker("rm", "-f", cname)
        say(f"repository server {cname}: http://{ip}:{REPO_PORT}/ serving {REPO_WWW} (read-only)")
        docker("run", "-d", "--name", cname, "--hostname", cname, "--label", f"{LABEL}={self.name}",
               "--label", "kubeforge.role=repo", "--network", self.network, "--ip", ip,
               # the parent is mounted: a rebuild replaces www/ as a whole, and a mount of www/ itself would
               # keep serving the deleted directory
               "-v", f"{KUBESIM_OUT}:/srv/kubesim:ro", "--restart", "no",
               IMAGE.format(distro="bookworm"),
               "python3", "-m", "http.server", str(REPO_PORT), "--bind", ip, "--directory", "/srv/kubesim/www")

    def _keypair(self) -> None:
        if not shutil.which("ssh-keygen") or not shutil.which("ssh"):
            run([str(HERE / "docker-engine"), "apt-install", "openssh-client"], capture=False)
        if not self.key.exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"kubeforge-lab-{self.name}", "-f", str(self.key)])

    def _host(self, cname: str, ip: str) -> None:
        state = self._exists(cname)
        if state == "running":
            return
        if state:
            say(f"{cname}: {state}; starting it again")
            docker("start", cname)
            return
        say(f"host {cname} ({self.distro}) at {ip}")
        vol = f"{cname}-containerd"
        docker("volume", "create", "--label", f"{LABEL}={self.name}", vol)
        docker("run", "-d", "--name", cname, "--hostname", cname, "--label", f"{LABEL}={self.name}",
               "--label", "kubeforge.role=host", "--network", self.network, "--ip", ip, *HOST_RUN_ARGS,
               "-v", f"{vol}:/var/lib/containerd", IMAGE.format(distro=self.distro))

    def _wait_booted(self, cname: str, timeout: float = 90) -> None:
        end = time.monotonic() + timeout
        state = ""
        while time.monotonic() < end:
            state = docker("exec", cname, "systemctl", "is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded"):
                if state == "degraded":
                    failed = docker("exec", cname, "systemctl", "--failed", "--no-legend", "--plain", check=False).stdout
                    say(f"{cname}: systemd degraded: {' '.join(l.split()[0] for l in failed.splitlines() if l)}")
                return
            time.sleep(0.5)
        raise LabError(f"{cname}: systemd did not finish booting in {timeout:.0f} s (state {state!r})")

    def _provision_user(self, cname: str) -> None:
        pub = (self.key.with_suffix(".pub")).read_text().strip()
        script = f"""set -e
id {LAB_USER} >/dev/null 2>&1 || useradd -m -s /bin/bash {LAB_USER}
install -d -m 700 -o {LAB_USER} -g {LAB_USER} /home/{LAB_USER}/.ssh
printf '%s\\n' '{pub}' > /home/{LAB_USER}/.ssh/authorized_keys
chown {LAB_USER}:{LAB_USER} /home/{LAB_USER}/.ssh/authorized_keys
chmod 600 /home/{LAB_USER}/.ssh/authorized_keys
printf '%s\\n' '{LAB_USER} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/{LAB_USER}
chmod 440 /etc/sudoers.d/{LAB_USER}
systemctl is-active --quiet ssh || systemctl start ssh
"""
        docker("exec", "-i", cname, "bash", "-s", input=script)

    def ssh_args(self, ip: str) -> list[str]:
        return ["ssh", "-i", str(self.key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", f"{LAB_USER}@{ip}"]

    def _wait_ssh(self, cname: str, ip: str, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if run([*self.ssh_args(ip), "sudo", "-n", "true"], check=False, timeout=20).returncode == 0:
                return
            time.sleep(1)
        raise LabError(f"{cname}: no SSH with sudo as {LAB_USER}@{ip} within {timeout:.0f} s")

    def _inventory(self) -> None:
        import yaml
        inv = inventory_dir(self.name)
        (inv / "group_vars" / "all").mkdir(parents=True, exist_ok=True)
        children = {g: {"hosts": {}} for g in ("control_plane", "workers", "loadbalancers")}
        for group, cname, ip in self.hosts():
            children[group]["hosts"][cname] = {"ansible_host": ip}
        doc = {"all": {
            "vars": {
                "ansible_user": LAB_USER,
                "ansible_ssh_private_key_file": str(self.key),
                "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
                "ansible_become": True,
                "ansible_python_interpreter": "/usr/bin/python3",
            },
            "children": children,
        }}
        header = f"# Generated by tests/lab/lab up --name {self.name}; do not edit (rewritten on every 'up').\n"
        (inv / "hosts.yml").write_text(header + yaml.safe_dump(doc, sort_keys=False))
        (inv / "group_vars" / "all" / "lab.yml").write_text(
            header + "# Lab settings: how the lab's machines reach packages (cache, stand-in repository and mirror).\n"
            + yaml.safe_dump(lab_group_vars(self.subnet, self.distro, self.counts["control_plane"],
                                          self.counts["loadbalancers"]), sort_keys=False))

    # -- converge (make lab)
    def converge(self, playbook: str) -> int:
        inv = inventory_dir(self.name)
        env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
                   PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}")
        say(f"running {Path(playbook).name} on lab '{self.name}': ansible-playbook -i {inv} {playbook}")
        t = time.monotonic()
        r = subprocess.run(["ansible-playbook", "-i", str(inv), playbook], cwd=ROOT, env=env, check=False)
        say(f"{Path(playbook).name} finished with exit code {r.returncode} in {time.monotonic() - t:.1f} s")
        if r.returncode == 0:
            cps = [ip for g, _cname, ip in self.hosts() if g == "control_plane"]
            if cps:
                say("kubectl get nodes -o wide (on the first control plane)")
                k = run([*self.ssh_args(cps[0]), "sudo", "kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf",
                         "get", "nodes", "-o", "wide"], check=False, capture=False, timeout=60)
                if k.returncode != 0:
                    say("kubectl get nodes failed")
                    r = k
        say(f"total time {time.monotonic() - getattr(self, 't0', t):.1f} s")
        return r.returncode

    # -- down
    def down(self) -> int:
        ensure_engine()
        cids = docker_ids("container", self.name)
        if cids:
            say(f"removing {len(cids)} container(s) of lab '{self.name}'")
            docker("rm", "-f", "-v", *cids)
        for nid in docker_ids("network", self.name):
            say(f"removing network {self.network}")
            docker("network", "rm", nid)
        firewall_down(self.name)
        vids = docker_ids("volume", self.name)
        if vids:
            say(f"removing {len(vids)} volume(s)")
            docker("volume", "rm", *vids)
        PackageCache().stop_if_unused()
        if self.dir.exists():
            shutil.rmtree(self.dir)
        rc = 0
        if self.sysctl_record.exists():
            rc = run([str(HERE / "sysctl-guard"), "check", str(self.sysctl_record)], check=False, capture=False).returncode
            self.sysctl_record.unlink()
            if rc != 0:
                say(f"FAILED: the machine's non-namespaced sysctls changed while lab '{self.name}' existed (listed above)")
        # dockerd: only when the harness started it and nothing else (container or lab network) is on it any more.
        if not docker("ps", "-aq").stdout.split() and not PackageCache.lab_networks():
            run([str(HERE / "docker-engine"), "stop-if-started"], capture=False, check=False)
        else:
            say("leaving the Docker engine running (other containers exist)")
        say(f"lab '{self.name}' is down")
        return rc

    # -- status
    def status(self) -> int:
        r = run(["docker", "info"], check=False)
        if r.returncode != 0:
            say("Docker engine: not answering")
            return 1
        print(f"lab {self.name}: subnet {self.subnet}, distro {self.distro}, inventory {inventory_dir(self.name)}")
        out = docker("ps", "-a", "--filter", f"label={LABEL}={self.name}",
                     "--format", "{{.Names}}\t{{.Status}}\t{{.Image}}").stdout
        print(out.rstrip() or "(no containers)")
        pid = PackageCache().pid()
        print(f"package cache: {'apt-cacher-ng pid ' + str(pid) if pid else 'not running'}")
        return 0

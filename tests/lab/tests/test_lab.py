"""The lab harness, tested on real containers. Order matters: the last test takes the lab down."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

from conftest import LAB_DIR, ROOT, dexec, json_of, labelled, labcore, sh

# What a minimal server install has, and what only the roles may bring.
IMAGE_MUST_HAVE = ["systemd", "systemd-sysv", "dbus", "python3", "sudo", "openssh-server", "procps", "kmod",
                   "iproute2", "ca-certificates"]
IMAGE_MUST_NOT_HAVE = ["chrony", "containerd", "containerd.io", "runc", "iptables", "nftables", "gnupg", "curl",
                       "kubeadm", "kubelet", "kubectl", "ufw", "firewalld", "haproxy", "keepalived"]


@pytest.mark.parametrize("distro", ["bookworm", "trixie"])
def test_image_contents_and_recipe_label(distro):
    sh(str(LAB_DIR / "build-images"), distro, timeout=900)
    img = f"kubeforge/debian:{distro}"
    cfg = json_of("docker", "image", "inspect", img)[0]["Config"]
    assert cfg["StopSignal"] == "SIGRTMIN+3"
    # PID 1 makes /proc/sys/{fs,kernel,vm} read-only, then execs systemd (the machine's sysctls stay as they are).
    assert cfg["Cmd"][0] == "/usr/local/sbin/kubeforge-lab-init"
    init = sh("docker", "run", "--rm", "--network", "none", img, "cat", cfg["Cmd"][0]).stdout
    assert "remount,bind,ro" in init and "exec /lib/systemd/systemd" in init, init
    assert re.fullmatch(r"[0-9a-f]{16}", cfg["Labels"]["kubeforge.recipe"])
    installed = set(sh("docker", "run", "--rm", "--network", "none", img, "dpkg-query", "-W", "-f", "${Package}\n")
                    .stdout.split())
    assert set(IMAGE_MUST_HAVE) <= installed, set(IMAGE_MUST_HAVE) - installed
    assert not installed & set(IMAGE_MUST_NOT_HAVE)
    # Trimmed: no manual pages, no documentation besides copyright files.
    leftovers = sh("docker", "run", "--rm", "--network", "none", img, "sh", "-c",
                   "find /usr/share/man /usr/share/doc -type f ! -name copyright | head -5").stdout.strip()
    assert leftovers == ""
    # Unchanged recipe: not rebuilt.
    again = sh(str(LAB_DIR / "build-images"), distro)
    assert "is up to date" in again.stderr


def test_systemd_is_pid1_and_boots(lab):
    for _group, cname, _ip in lab.hosts:
        assert sh("docker", "exec", cname, "ps", "-p", "1", "-o", "comm=").stdout.strip() == "systemd"
        state = sh("docker", "exec", cname, "systemctl", "is-system-running", check=False).stdout.strip()
        assert state in ("running", "degraded"), state
        assert sh("docker", "exec", cname, "hostname").stdout.strip() == cname
        assert sh("docker", "exec", cname, "systemctl", "is-active", "ssh", "dbus").stdout.split() == ["active", "active"]


def test_ssh_as_kubeforge_with_passwordless_sudo(lab):
    for _group, cname, ip in lab.hosts:
        out = sh(*lab.obj.ssh_args(ip), "id -un; sudo -n id -u; hostname").stdout.split()
        assert out == ["kubeforge", "0", cname]
    # Each container generated its own SSH host key.
    keys = {sh("docker", "exec", c, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[1] for _group, c, _ip in lab.hosts}
    assert len(keys) == len(lab.hosts)


def test_inventory_reaches_every_host_with_become(lab):
    inv = Path(sh(str(LAB_DIR / "lab"), "inventory-path", lab.name).stdout.strip())
    hosts = yaml.safe_load((inv / "hosts.yml").read_text())
    groups = hosts["all"]["children"]
    assert set(groups) == {"control_plane", "workers", "loadbalancers"}
    assert groups["control_plane"]["hosts"] == {f"{lab.name}-cp1": {"ansible_host": "172.30.12.10"}}
    assert groups["workers"]["hosts"] == {f"{lab.name}-worker1": {"ansible_host": "172.30.12.11"}}
    gv = yaml.safe_load((inv / "group_vars" / "all" / "lab.yml").read_text())
    assert gv["prereqs_package_proxy"] == "http://172.30.12.1:3142"
    assert gv["kubernetes_package_repository"] == "http://172.30.12.2:8080/core:/stable:"
    env = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING="False")
    r = subprocess.run([str(ROOT / ".venv/bin/ansible"), "-i", str(inv), "all", "-m", "ansible.builtin.command",
                        "-a", "id -u", "-o"], text=True, capture_output=True, env=env, timeout=120, cwd="/", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(re.findall(r"\| CHANGED \| rc=0 \| \(stdout\) 0$", r.stdout, re.M)) == len(lab.hosts), r.stdout


def _proxy_conf(lab) -> str:
    return (f'Acquire::http::Proxy "http://{lab.gateway}:3142";\n'
            f'Acquire::http::Proxy::{lab.repo_ip} "DIRECT";\n')


def _acng_log_lines(path_part: str) -> list[list[str]]:
    log = labcore.ACNG_DIR / "log" / "apt-cacher.log"
    return [l.split("|") for l in log.read_text().splitlines() if path_part in l] if log.exists() else []


def test_apt_goes_through_the_cache_and_second_fetch_is_a_hit(lab):
    (cp, cp_ip), (wk, wk_ip) = lab.container("control_plane"), lab.container("workers")
    pkg = "hello"
    for c in (cp, wk):
        dexec(c, f"cat > /etc/apt/apt.conf.d/01proxy <<'EOF'\n{_proxy_conf(lab)}EOF\napt-get update -qq")
    dexec(cp, f"cd /tmp && apt-get download -qq {pkg} && ls {pkg}_*.deb")
    misses = [l for l in _acng_log_lines(f"/{pkg}_") if l[1] == "I"]
    served = [l for l in _acng_log_lines(f"/{pkg}_") if l[1] == "O"]
    assert served and served[-1][3] == cp_ip
    dexec(wk, f"cd /tmp && apt-get download -qq {pkg} && ls {pkg}_*.deb")
    misses2 = [l for l in _acng_log_lines(f"/{pkg}_") if l[1] == "I"]
    served2 = [l for l in _acng_log_lines(f"/{pkg}_") if l[1] == "O"]
    assert len(served2) == len(served) + 1 and served2[-1][3] == wk_ip
    assert len(misses2) == len(misses), "second fetch went to the mirror instead of the cache"
    # The stand-in repository at .2 is reached DIRECT (the proxy excludes it), over the lab network.
    (labcore.REPO_WWW / "kf-lab-probe.txt").write_text("probe\n")
    try:
        out = dexec(wk, f"apt-config dump | grep -i 'proxy::{lab.repo_ip}'; "
                        f"python3 -c \"import urllib.request; print(urllib.request.urlopen('http://{lab.repo_ip}:8080/kf-lab-probe.txt').read().decode())\"")
        assert "DIRECT" in out.stdout and "probe" in out.stdout
    finally:
        (labcore.REPO_WWW / "kf-lab-probe.txt").unlink()


def test_parallel_apt_updates_take_the_index_files_from_the_cache(lab):
    """Every host refreshes its package lists at the same moment: each finishes, and the index files (InRelease)
    are served from the cache without a refresh against the mirror. apt-cacher-ng 3.7 refreshing one file for two
    clients in the same second fails and leaves apt waiting for ever (a CI run hung 30 min on it); index files are
    static for the cache and renewed only by PackageCache.warm."""
    log, err = labcore.ACNG_DIR / "log" / "apt-cacher.log", labcore.ACNG_DIR / "log" / "apt-cacher.err"
    seen = len(log.read_text().splitlines())
    results: dict[str, int] = {}

    def update(c: str) -> None:
        r = dexec(c, f"cat > /etc/apt/apt.conf.d/01proxy <<'EOF'\n{_proxy_conf(lab)}EOF\n"
                     "rm -rf /var/lib/apt/lists/* && apt-get update -qq", check=False, timeout=180)
        results[c] = r.returncode

    threads = [threading.Thread(target=update, args=(c,)) for _g, c, _ip in lab.hosts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {c: 0 for _g, c, _ip in lab.hosts}, results
    index = [l.split("|") for l in log.read_text().splitlines()[seen:] if l.endswith("/InRelease")]
    assert len([l for l in index if l[1] == "O"]) >= 3 * len(lab.hosts), index
    assert [l for l in index if l[1] == "I"] == [], "an index file was refreshed against the mirror"
    assert "out of the way" not in (err.read_text() if err.exists() else "")


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"reached")

    def log_message(self, *a):
        pass


PROBE = """
import socket, sys
ok = []
for target in sys.argv[1:]:
    ip, port = target.rsplit(":", 1)
    s = socket.socket(); s.settimeout(3)
    try:
        s.connect((ip, int(port))); ok.append("open")
    except OSError:
        ok.append("closed")
    finally:
        s.close()
print(" ".join(ok))
"""


def test_hosts_reach_nothing_outside_their_network_but_the_cache(lab):
    """Targets are only this machine and containers the test creates: another internal network's container (which
    the host would have to forward to), a listener of the host on the lab gateway, the cache, the repository."""
    cp = lab.container("control_plane")[0]
    other_net, other = "kf-lab-pytest-other", "kf-lab-pytest-other-srv"
    sh("docker", "rm", "-f", other, check=False)
    sh("docker", "network", "rm", other_net, check=False)
    sh("docker", "network", "create", "--internal", "--subnet", "172.30.13.0/24", other_net)
    srv = HTTPServer((lab.gateway, 0), _Hello)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        sh("docker", "run", "-d", "--name", other, "--network", other_net, "--ip", "172.30.13.10",
           "kubeforge/debian:bookworm", "python3", "-m", "http.server", "8000", "--bind", "172.30.13.10")
        # The other server answers on its own network (reached from the host), so "closed" below is isolation.
        for _attempt in range(50):
            try:
                socket.create_connection(("172.30.13.10", 8000), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("probe server did not start")
        socket.create_connection((lab.gateway, srv.server_port), timeout=2).close()  # the host reaches it
        targets = ["172.30.13.10:8000", f"{lab.gateway}:{srv.server_port}", f"{lab.gateway}:3142", f"{lab.repo_ip}:8080"]
        out = sh("docker", "exec", cp, "python3", "-c", PROBE, *targets).stdout.split()
        assert out == ["closed", "closed", "open", "open"], dict(zip(targets, out))
        # The cache listens on all addresses, but only lab networks (and loopback) get through the host firewall.
        out = sh("docker", "exec", other, "python3", "-c", PROBE, "172.30.13.1:3142").stdout.split()
        assert out == ["closed"]
    finally:
        srv.shutdown()
        sh("docker", "rm", "-f", other, check=False)
        sh("docker", "network", "rm", other_net, check=False)


def test_var_lib_containerd_is_a_volume(lab):
    for _group, cname, _ip in lab.hosts:
        mounts = json_of("docker", "inspect", cname)[0]["Mounts"]
        m = [m for m in mounts if m["Destination"] == "/var/lib/containerd"]
        assert len(m) == 1 and m[0]["Type"] == "volume" and m[0]["Name"] == f"{cname}-containerd"
        fstype = sh("docker", "exec", cname, "findmnt", "-n", "-o", "FSTYPE", "/var/lib/containerd").stdout.strip()
        assert fstype != "overlay"
        caps = json_of("docker", "inspect", cname)[0]["HostConfig"]
        assert {c.removeprefix("CAP_") for c in caps["CapDrop"]} == {"SYS_RESOURCE", "SYS_TIME", "SYS_MODULE"}
        assert caps["CgroupnsMode"] == "host"


def test_sysctl_guard_catches_a_change_made_inside_a_container(lab, tmp_path):
    cp = lab.container("control_plane")[0]
    snap = tmp_path / "s.json"
    guard = str(LAB_DIR / "sysctl-guard")
    sh(guard, "record", str(snap))
    assert sh(guard, "check", str(snap)).returncode == 0
    orig = Path("/proc/sys/vm/swappiness").read_text().strip()
    new = "61" if orig != "61" else "59"
    # A lab host cannot change it: its PID 1 made /proc/sys/vm read-only.
    refused = sh("docker", "exec", cp, "sh", "-c", f"echo {new} > /proc/sys/vm/swappiness", check=False)
    assert refused.returncode != 0 and "Read-only file system" in refused.stderr, refused
    assert sh(guard, "check", str(snap)).returncode == 0
    try:
        # A container without that protection (same image, no lab init, /proc/sys writable) can, and the guard
        # names the change.
        sh("docker", "run", "--rm", "--network", "none", "--cap-add", "SYS_ADMIN", "--security-opt",
           "systempaths=unconfined", "--entrypoint", "sh", "kubeforge/debian:bookworm", "-c",
           f"echo {new} > /proc/sys/vm/swappiness")
        r = sh(guard, "check", str(snap), check=False)
        assert r.returncode == 1
        assert f"vm.swappiness: '{orig}' -> '{new}'" in r.stdout
    finally:
        Path("/proc/sys/vm/swappiness").write_text(orig + "\n")
    assert sh(guard, "check", str(snap)).returncode == 0


CAP_NAMES = ["CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
             "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
             "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
             "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
             "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
             "CHECKPOINT_RESTORE"]


def cap_names(hexmask: str) -> set[str]:
    m = int(hexmask, 16)
    return {n for i, n in enumerate(CAP_NAMES) if m >> i & 1}


def test_molecule_default_uses_the_lab_settings(lab):
    mol = yaml.safe_load((ROOT / "molecule" / "default" / "molecule.yml").read_text())
    gv = mol["provisioner"]["inventory"]["group_vars"]["all"]
    assert gv == labcore.lab_group_vars("172.30.20.0/24", "bookworm")
    cp = lab.container("control_plane")[0]
    capeff = re.search(r"^CapEff:\s*(\w+)", sh("docker", "exec", cp, "cat", "/proc/1/status").stdout, re.M).group(1)
    lab_caps = cap_names(capeff)
    assert not lab_caps & {"SYS_RESOURCE", "SYS_TIME", "SYS_MODULE"} and "SYS_ADMIN" in lab_caps
    assert [(p["name"], p["networks"][0]["ipv4_address"], p["groups"]) for p in mol["platforms"]] == [
        ("cp1", "172.30.20.10", ["control_plane"]), ("worker1", "172.30.20.11", ["workers"]),
        ("worker2", "172.30.20.12", ["workers"])]
    for p in mol["platforms"]:
        assert p["image"] == "kubeforge/debian:bookworm" and p["networks"][0]["name"] == "kf-molecule-default"
        # The driver has no cap_drop: the explicit list must give exactly the lab hosts' capabilities.
        assert set(p["capabilities"]) == lab_caps, set(p["capabilities"]) ^ lab_caps
        assert p["cgroupns_mode"] == "host" and p["pre_build_image"] is True
        assert set(p["security_opts"]) == {"systempaths=unconfined", "apparmor=unconfined"}
        assert set(p["tmpfs"]) == {"/run", "/run/lock", "/tmp"}
        assert "/sys/fs/cgroup:/sys/fs/cgroup:rw" in p["volumes"] and "/var/lib/containerd" in p["volumes"]


def test_down_leaves_nothing_behind(lab, sysctl_snapshot):
    chain = labcore._chain(lab.name)
    pidfile = labcore.LAB_STATE / "dockerd.pid"
    engine_pid = int(pidfile.read_text()) if pidfile.exists() else None
    r = lab.down()
    assert "is down" in r.stderr
    engine_was_stopped = sh("docker", "info", check=False).returncode != 0
    if engine_was_stopped:
        # Only a dockerd the harness started may be stopped, and that one must be gone.
        assert engine_pid is not None and not Path(f"/proc/{engine_pid}").exists()
        sh(str(LAB_DIR / "docker-engine"), "ensure")  # to look at what is left
    try:
        for kind in ("container", "network", "volume"):
            assert labelled(kind, lab.name) == [], kind
        assert sh("docker", "volume", "ls", "-q", "--filter", f"name={lab.name}").stdout.split() == []
        assert sh("docker", "ps", "-aq", "--filter", f"name={lab.name}").stdout.split() == []
        assert chain not in sh("iptables", "-w", "-S").stdout
        other_labs = sh("docker", "network", "ls", "-q", "--filter", f"label={labcore.LABEL}").stdout.split()
        acng = sh("pgrep", "-f", f"apt-cacher-ng -c {labcore.ACNG_DIR}", check=False).stdout.split()
        if not other_labs:
            assert acng == [], "apt-cacher-ng still running after the last lab went down"
            assert labcore.PackageCache.guard_chain not in sh("iptables", "-w", "-S").stdout
        assert not (labcore.LAB_STATE / lab.name).exists()
    finally:
        if engine_was_stopped:
            sh(str(LAB_DIR / "docker-engine"), "stop-if-started")
    r = sh(str(LAB_DIR / "sysctl-guard"), "check", str(sysctl_snapshot), check=False)
    assert r.returncode == 0, r.stdout

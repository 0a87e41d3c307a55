"""molecule/default: create and destroy work on the pre-built image, without pulling, with the lab's settings."""
from __future__ import annotations

import os
import subprocess

from conftest import LAB_DIR, ROOT, json_of, labelled, sh

NET = "kf-molecule-default"
INSTANCES = ["cp1", "worker1", "worker2"]


def molecule(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{ROOT / '.venv/bin'}:{os.environ['PATH']}", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               PY_COLORS="0", ANSIBLE_FORCE_COLOR="0")
    return subprocess.run([str(ROOT / ".venv/bin/molecule"), *args, "-s", "default"], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=600, check=False)


def test_molecule_create_and_destroy_with_the_lab_services():
    for c in INSTANCES:  # leftovers of an interrupted run
        sh("docker", "rm", "-f", "-v", c, check=False)
    sh(str(LAB_DIR / "lab"), "up", "--name", NET, "--subnet", "172.30.20.0/24", "--control-planes", "0",
       "--workers", "0", timeout=900)
    images_before = sh("docker", "images", "-q").stdout.split()
    try:
        r = molecule("create")
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        assert sorted(sh("docker", "images", "-q").stdout.split()) == sorted(images_before), "an image was pulled or built"
        for i, c in enumerate(INSTANCES):
            info = json_of("docker", "inspect", c)[0]
            assert info["Config"]["Image"] == "kubeforge/debian:bookworm"
            assert info["NetworkSettings"]["Networks"][NET]["IPAMConfig"]["IPv4Address"] == f"172.30.20.{10 + i}"
            assert sh("docker", "exec", c, "ps", "-p", "1", "-o", "comm=").stdout.strip() == "systemd"
            assert sh("docker", "exec", c, "systemctl", "is-system-running", check=False).stdout.strip() in ("running", "degraded")
            # /proc/sys writable for network-namespaced sysctls (what systempaths=unconfined is for).
            sh("docker", "exec", c, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
            mnt = [m for m in info["Mounts"] if m["Destination"] == "/var/lib/containerd"]
            assert mnt and mnt[0]["Type"] == "volume"
        # apt through the cache at the gateway, as the roles will configure it.
        proxy = 'Acquire::http::Proxy "http://172.30.20.1:3142";\nAcquire::http::Proxy::172.30.20.2 "DIRECT";\n'
        sh("docker", "exec", "-i", "cp1", "sh", "-c", "cat > /etc/apt/apt.conf.d/01proxy && apt-get update -qq",
           input=proxy)
    finally:
        r = molecule("destroy")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for c in INSTANCES:
        assert sh("docker", "ps", "-aq", "--filter", f"name=^{c}$").stdout.strip() == ""
    # The network belongs to the harness (it serves the repository and the cache), so molecule left it.
    assert labelled("network", NET)
    sh(str(LAB_DIR / "lab"), "down", "--name", NET)
    sh(str(LAB_DIR / "docker-engine"), "ensure")
    try:
        assert labelled("network", NET) == [] and labelled("container", NET) == []
    finally:
        if not sh("docker", "ps", "-aq").stdout.split():
            sh(str(LAB_DIR / "docker-engine"), "stop-if-started")

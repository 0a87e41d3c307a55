"""containerd (container_runtime role): 2.x, active, config version 3, crictl.yaml, CRI answering."""
from __future__ import annotations

import re
import tomllib

import yaml

from .common import run_ok, sandbox_image, settings


def test_containerd_2_installed_enabled_active(host):
    out = run_ok(host, "containerd", "--version")
    m = re.search(r"\bv?(\d+)\.(\d+)\.(\d+)", out)
    assert m and int(m.group(1)) >= 2, f"containerd 2.x expected: {out.strip()}"
    svc = host.service("containerd")
    assert svc.is_enabled and svc.is_running


def test_containerd_config(host):
    conf = tomllib.loads(host.file("/etc/containerd/config.toml").content_string)
    assert conf.get("version") == 3
    assert "io.containerd.grpc.v1.cri" not in conf.get("disabled_plugins", []) and "cri" not in conf.get("disabled_plugins", [])
    runc = conf["plugins"]["io.containerd.cri.v1.runtime"]["containerd"]["runtimes"]["runc"]
    assert runc["options"]["SystemdCgroup"] is True
    assert conf["plugins"]["io.containerd.cri.v1.images"]["pinned_images"]["sandbox"] == sandbox_image(host)


def test_crictl_points_at_containerd(host):
    f = host.file("/etc/crictl.yaml")
    assert f.exists and f.mode == 0o644
    data = yaml.safe_load(f.content_string)
    sock = settings(host)["kubernetes_cri_socket"]
    assert data["runtime-endpoint"] == sock and data["image-endpoint"] == sock


def test_cri_answers_on_the_socket(host):
    sock = settings(host)["kubernetes_cri_socket"].removeprefix("unix://")
    assert host.socket(f"unix://{sock}").is_listening
    run_ok(host, "ctr", "--address", sock, "version")
    plugins = run_ok(host, "ctr", "--address", sock, "plugins", "ls")
    cri = [ln.split() for ln in plugins.splitlines() if ln.split()[:2] in (["io.containerd.grpc.v1", "cri"],)]
    assert cri and cri[0][-1] == "ok", f"CRI gRPC plugin not ok:\n{plugins}"
    if host.exists("crictl"):  # cri-tools comes with the Kubernetes packages, not with this role
        run_ok(host, "crictl", "info")

"""Expected values for the verify tests: the roles' documented defaults, overridden by the scenario's inventory."""
from __future__ import annotations

import functools
import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
ROLES = ROOT / "roles"


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


@functools.cache
def role_defaults() -> dict:
    """Defaults of the roles whose settings the tests check (plain values only: nothing here is templated)."""
    merged: dict = {}
    for rel in ("kubernetes/defaults/main.yml", "prereqs/defaults/main.yml", "kube_packages/defaults/main.yml"):
        merged.update(_yaml(ROLES / rel))
    return merged


@functools.cache
def version_constants() -> dict:
    """The single source of version-dependent constants (pause tag per minor, supported minors)."""
    return _yaml(ROLES / "kubernetes" / "vars" / "main.yml")


_settings_cache: dict[str, dict] = {}


def settings(host) -> dict:
    """Role defaults overridden by the host's inventory variables (group_vars of the scenario)."""
    name = host.backend.get_hostname()
    if name not in _settings_cache:
        merged = dict(role_defaults())
        merged.update(host.ansible.get_variables())
        _settings_cache[name] = merged
    return _settings_cache[name]


def groups_of(host) -> list[str]:
    return list(settings(host).get("group_names", []))


def is_control_plane(host) -> bool:
    return "control_plane" in groups_of(host)


def first_control_plane(host) -> bool:
    s = settings(host)
    cps = s.get("groups", {}).get("control_plane", [])
    return bool(cps) and cps[0] == s.get("inventory_hostname")


def sandbox_image(host) -> str:
    s = settings(host)
    minor = ".".join(str(s["kubernetes_version"]).split(".")[:2])
    return f"{s['kubernetes_image_repository']}/pause:{version_constants()['kubernetes_pause_image_tags'][minor]}"


def run_ok(host, *argv: str) -> str:
    """Run a command (argv, quoted here) on the host; fail the test with its output when it fails."""
    cmd = shlex.join(argv)
    r = host.run(cmd)
    assert r.rc == 0, f"{cmd} -> rc {r.rc}\nstdout: {r.stdout[-2000:]}\nstderr: {r.stderr[-2000:]}"
    return r.stdout

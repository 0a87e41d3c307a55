"""Fixtures for the lab harness's own tests: one real lab for the session (bookworm, 1 control plane + 1 worker)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

LAB_DIR = Path(__file__).resolve().parent.parent
ROOT = LAB_DIR.parent.parent
sys.path.insert(0, str(LAB_DIR))

import labcore  # noqa: E402

NAME = "kf-lab-pytest"
SUBNET = "172.30.12.0/24"


# `make lab-test` runs the files that bring up labs of their own two at a time (pytest-xdist, one file per worker).
# Their lengths differ tenfold, so the order matters: longest first, and a worker gets its next file only when it is
# down to its last test (xdist's loadfile hands one out while two tests are still pending, and reorders by test
# count: a long file then waited behind another on one worker while the other worker idled). Slowest first, as
# measured by `make lab-test` (--durations) on the 2-core CI machine; a file not listed runs after these.
LONGEST_FIRST = (
    "test_remove_nodes.py",
    "test_faults.py",
    "test_day2_certs_etcd.py",
    "test_firewall_traffic.py",
    "test_add_nodes.py",
    "test_pods.py",
    "test_runc.py",
)


def _file_rank(scope: str) -> int:
    name = scope.rsplit("/", 1)[-1]
    return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadFileScheduling

    class LongestFileFirst(LoadFileScheduling):
        def _assign_work_unit(self, node):
            ordered = sorted(self.workqueue.items(), key=lambda unit: _file_rank(unit[0]))
            self.workqueue.clear()
            self.workqueue.update(ordered)
            super()._assign_work_unit(node)

        def _reschedule(self, node):
            if node.shutting_down:
                return
            if not self.workqueue:
                node.shutdown()
                return
            # A worker keeps its last test until it is given more (pytest needs the next item), so 1, not 0.
            if self._pending_of(self.assigned_work[node]) > 1:
                return
            self._assign_work_unit(node)

    return LongestFileFirst(config, log)


def sh(*cmd: str, check: bool = True, input: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    r = subprocess.run(list(cmd), text=True, capture_output=True, input=input, timeout=timeout, check=False)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} -> {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}")
    return r


def dexec(container: str, script: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    return sh("docker", "exec", "-i", container, "bash", "-s", input=script, check=check, timeout=timeout)


class LabHandle:
    def __init__(self) -> None:
        self.name = NAME
        self.subnet = SUBNET
        self.obj = labcore.Lab.existing(NAME)
        self.hosts = self.obj.hosts()
        self.down_done = False

    @property
    def gateway(self) -> str:
        return labcore.addr(SUBNET, 1)

    @property
    def repo_ip(self) -> str:
        return labcore.addr(SUBNET, 2)

    def container(self, group: str) -> tuple[str, str]:
        return next((c, ip) for g, c, ip in self.hosts if g == group)

    def down(self) -> subprocess.CompletedProcess:
        self.down_done = True
        return sh(str(LAB_DIR / "lab"), "down", "--name", NAME)


@pytest.fixture(scope="session")
def sysctl_snapshot(tmp_path_factory) -> Path:
    """The machine's non-namespaced sysctls, recorded before the lab exists."""
    path = tmp_path_factory.mktemp("sysctl") / "before.json"
    sh(str(LAB_DIR / "sysctl-guard"), "record", str(path))
    return path


@pytest.fixture(scope="session")
def lab(sysctl_snapshot) -> LabHandle:
    # A leftover from an interrupted run is removed first.
    sh(str(LAB_DIR / "lab"), "down", "--name", NAME, check=False)
    sh(str(LAB_DIR / "lab"), "up", "--name", NAME, "--subnet", SUBNET, "--control-planes", "1", "--workers", "1",
       timeout=900)
    handle = LabHandle()
    yield handle
    if not handle.down_done:
        handle.down()


def labelled(kind: str, name: str) -> list[str]:
    cmd = {"container": ["ps", "-aq"], "network": ["network", "ls", "-q"], "volume": ["volume", "ls", "-q"]}[kind]
    return sh("docker", *cmd, "--filter", f"label={labcore.LABEL}={name}").stdout.split()


def json_of(*cmd: str):
    return json.loads(sh(*cmd).stdout)

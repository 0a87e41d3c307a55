"""A fresh machine keeps its kernel settings: lab hosts (systemd as PID 1) do not raise fs.file-max / fs.nr_open.

systemd as PID 1 raises the machine's fs.file-max (to LONG_MAX) and fs.nr_open (to 1073741816) at boot when it can
write /proc/sys, and those keys are not namespaced (measured on fresh machines: a bookworm host raised fs.file-max,
a trixie host fs.nr_open). A machine that already ran a lab sits at systemd's values and shows no change, so this
test first puts both keys back to values below systemd's targets (the fresh machine's), brings a bookworm and a
trixie host up and down, and checks the machine is exactly as recorded; the original values are restored at the end.

Two small labs of their own (kf-sysctl-bookworm 172.30.15.0/24, kf-sysctl-trixie 172.30.16.0/24), no repository
server; about a minute.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import LAB_DIR, dexec, sh

LONG_MAX = 9223372036854775807
# What systemd writes when it can (src/core/main.c bump_file_max_and_nr_open): LONG_MAX, and the largest fs.nr_open
# the kernel accepts (1073741816 on x86_64).
SYSTEMD_TARGETS = {"fs.file-max": LONG_MAX, "fs.nr_open": 1073741816}
# A fresh machine's values below those targets: the kernel's NR_OPEN default, and a file-max of this machine's order.
FRESH = {"fs.file-max": 2466290, "fs.nr_open": 1048576}
LABS = {"bookworm": ("kf-sysctl-bookworm", "172.30.15.0/24"), "trixie": ("kf-sysctl-trixie", "172.30.16.0/24")}


def proc_path(key: str) -> Path:
    return Path("/proc/sys") / key.replace(".", "/")


def read(key: str) -> int:
    return int(proc_path(key).read_text().split()[0])


def write(key: str, value: int) -> None:
    proc_path(key).write_text(f"{value}\n")


def machine() -> dict[str, int]:
    return {k: read(k) for k in SYSTEMD_TARGETS}


@pytest.fixture(scope="module")
def fresh_values(tmp_path_factory):
    """The two keys set below systemd's targets (as on a fresh machine), the whole tree recorded; restored after."""
    original = machine()
    for key, value in original.items():
        if value >= SYSTEMD_TARGETS[key]:
            write(key, FRESH[key])
    before = machine()
    assert all(before[k] < SYSTEMD_TARGETS[k] for k in before), before
    record = tmp_path_factory.mktemp("sysctl") / "before.json"
    sh(str(LAB_DIR / "sysctl-guard"), "record", str(record))
    try:
        yield before, record
    finally:
        for name, _subnet in LABS.values():
            sh(str(LAB_DIR / "lab"), "down", "--name", name, check=False)
        for key, value in original.items():
            if read(key) != value:
                write(key, value)


@pytest.mark.parametrize("distro", ["bookworm", "trixie"])
def test_host_up_and_down_leaves_the_machine_values(fresh_values, distro):
    before, record = fresh_values
    name, subnet = LABS[distro]
    lab = str(LAB_DIR / "lab")
    sh(lab, "down", "--name", name, check=False)
    sh(lab, "up", "--name", name, "--subnet", subnet, "--distro", distro, "--control-planes", "1", "--workers", "0",
       "--no-repo", timeout=900)
    host = f"{name}-cp1"
    # systemd has booted (lab up waits for it) and did not touch the machine.
    assert machine() == before
    assert dexec(host, "readlink /proc/1/exe").stdout.strip().endswith("systemd")
    # Inside the host: fs/kernel/vm are read-only, the network-namespaced keys the roles set stay writable.
    denied = dexec(host, "sysctl -w fs.file-max=4096 2>&1; sysctl -w fs.nr_open=2097152 2>&1", check=False).stdout
    assert denied.count("permission denied") + denied.count("Read-only") == 2, denied
    assert dexec(host, "sysctl -w net.ipv4.ip_forward=1 && cat /proc/sys/net/ipv4/ip_forward").stdout.split()[-1] == "1"
    down = sh(lab, "down", "--name", name)
    assert "sysctls are unchanged" in down.stdout + down.stderr
    assert machine() == before
    check = sh(str(LAB_DIR / "sysctl-guard"), "check", str(record), check=False)
    assert check.returncode == 0, check.stdout

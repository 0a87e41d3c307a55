"""Checks that apply to some hosts only: they are not collected for the other hosts (deselected, not skipped).

testinfra runs every check once per host of the scenario. A check such as "the static pod manifests" means nothing on
a worker; skipping it there would make a skip in a verify run ambiguous. With ``@on("control_plane")`` the check
exists only for control planes, and each scenario's conftest turns any remaining skip into a failure (as
tests/pytest_noskip.py does for `make test`), so a check that did not run always shows.
"""
from __future__ import annotations

import pytest

from .common import first_control_plane, is_control_plane

KINDS = {
    "control_plane": is_control_plane,
    "first_control_plane": first_control_plane,
}


def on(kind: str):
    """Mark a check to run only on hosts of ``kind`` (a key of KINDS)."""
    if kind not in KINDS:
        raise ValueError(f"unknown host kind {kind!r}; known: {sorted(KINDS)}")
    return pytest.mark.kf_on(kind)


def pytest_configure(config):
    config.addinivalue_line("markers", "kf_on(kind): collect this check only for hosts of that kind")


def pytest_collection_modifyitems(config, items):
    kept, dropped = [], []
    for item in items:
        mark = item.get_closest_marker("kf_on")
        callspec = getattr(item, "callspec", None)
        host = callspec.params.get("_testinfra_host") if callspec else None
        if mark is not None and host is not None and not KINDS[mark.args[0]](host):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept

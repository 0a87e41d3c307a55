"""Verify-step plugins shared by every scenario: per-host checks are deselected where they do not apply
(kf_molecule.selection) and a skipped check fails the run (tests/pytest_noskip.py)."""
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[3] / "tests"
for path in (TESTS, TESTS / "molecule"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from kf_molecule.selection import pytest_collection_modifyitems, pytest_configure  # noqa: E402,F401 -- pytest hooks
from pytest_noskip import pytest_runtest_makereport  # noqa: E402,F401 -- pytest hook

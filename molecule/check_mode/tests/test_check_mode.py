"""Verify step of the "check_mode" scenario: the shared checks from tests/molecule/ (one copy for every scenario)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "molecule"))

from kf_molecule.check_mode import (  # noqa: E402 -- after the sys.path insertion above
    test_check_left_packages_and_etc_unchanged,
)

# the shared checks this scenario runs (pytest collects them from this module)
__all__ = [
    "test_check_left_packages_and_etc_unchanged",
]

"""Verify-step hooks shared by every scenario (tests/molecule/kf_molecule/hooks.py)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "molecule"))
# pytest finds hooks by name in a conftest module: the star import binds them here.
from kf_molecule.hooks import *  # noqa: E402,F401,F403 pylint: disable=wildcard-import,unused-wildcard-import

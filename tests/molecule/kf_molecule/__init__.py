"""Verify tests shared by the Molecule scenarios (see tests/molecule/README.md)."""

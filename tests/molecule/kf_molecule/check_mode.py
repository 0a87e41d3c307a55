"""After site.yml --check on fresh hosts: installed packages and every file under /etc exactly as prepare saw them."""
from __future__ import annotations

import difflib

from .common import ROOT, run_ok

SNAPSHOT = "/var/lib/kubeforge-molecule"
SCRIPT = ROOT / "molecule" / "check_mode" / "snapshot.sh"


def test_check_left_packages_and_etc_unchanged(host):
    assert host.file(f"{SNAPSHOT}/before.etc").exists, "no snapshot from the prepare step"
    run_ok(host, "env", f"KF_SNAPSHOT={SNAPSHOT}/after", "bash", "-c", SCRIPT.read_text())
    for kind in ("dpkg", "etc"):
        before = host.file(f"{SNAPSHOT}/before.{kind}").content_string.splitlines()
        after = host.file(f"{SNAPSHOT}/after.{kind}").content_string.splitlines()
        diff = list(difflib.unified_diff(before, after, f"before.{kind}", f"after.{kind}", lineterm="", n=0))
        assert not diff, f"--check changed the host ({kind}):\n" + "\n".join(diff[:80])

"""pytest plugin for `make test`: a skipped test is a failure there.

Tests may skip when run by hand on a machine that lacks something (Docker, etcd, root); `make test` installs
all of it, so a skip there means a check silently did not run.
"""
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = "skipped under make test (every prerequisite is installed there): %s" % reason

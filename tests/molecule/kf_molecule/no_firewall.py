"""Firewall as configured by default: none was active, so the role installed and enabled none."""
from __future__ import annotations


def test_no_firewall_installed_or_enabled(host):
    for pkg, svc in (("ufw", "ufw"), ("firewalld", "firewalld")):
        if host.package(pkg).is_installed:
            assert not host.service(svc).is_running, f"{svc} is running although no firewall was active before"
        assert not host.package(pkg).is_installed, f"{pkg} was installed although no firewall was active before"

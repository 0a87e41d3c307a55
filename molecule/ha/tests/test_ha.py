"""Verify step of the "ha" scenario: 3 control planes, stacked etcd, 2 load balancers with a VIP; failover timed.

Runs after the idempotence step (molecule's order), once (no `host` fixture: testinfra would repeat the test per
host). Everything taken away on purpose (keepalived, haproxy, an API server's manifest) is put back in a `finally`,
and each test waits until the cluster is whole again, so a re-run of verify or of site.yml finds it unchanged.
Measured times are printed with the prefix `[ha]` and appended to .cache/molecule/ha-times.txt.
"""
import json
import shlex
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "molecule_ha"))

from kf_ha import (  # noqa: E402
    ADMIN_CONF,
    MANIFEST,
    MANIFEST_AWAY,
    Kubectl,
    dexec,
    dexec_ok,
    holder,
    node_problems,
    report,
    shape,
    show_stat,
    wait_until,
)

BOUND_S = 60  # generous bound for every failover / recovery
READY_WAIT_S = 180
S = shape()


@pytest.fixture(scope="module")
def kubectl():
    k = Kubectl(S)
    report(f"kubectl through the VIP runs on: {k.where}")
    return k


def _vip_ok(kubectl, timeout: float = 5) -> bool:
    r = kubectl.via_vip("get", "nodes", "--output=name", timeout=timeout)
    return r.returncode == 0 and "node/" in r.stdout


def _readyz(cp: str):
    ip = S.hosts[cp]
    return dexec(cp, shlex.join(["kubectl", f"--kubeconfig={ADMIN_CONF}", f"--server=https://{ip}:6443",
                                 "--request-timeout=10s", "get", "--raw", "/readyz"]), timeout=30)


def _whole_again(kubectl) -> None:
    """The starting state: VIP on the first load balancer only, every API server UP in haproxy, the VIP answering."""
    first = S.loadbalancers[0]
    got, secs = wait_until(lambda: holder(S) == [first] and _vip_ok(kubectl), READY_WAIT_S, step=1)
    assert got, f"VIP not back on {first} alone within {READY_WAIT_S}s (holders: {holder(S)})"
    for lb in S.loadbalancers:
        got, _elapsed = wait_until(lambda lb=lb: set(show_stat(lb).values()) == {"UP"}, READY_WAIT_S, step=1)
        assert got, f"{lb}: not every API server UP: {show_stat(lb)}"


def test_services_on_the_load_balancers():
    for lb in S.loadbalancers:
        for unit in ("haproxy", "keepalived"):
            assert dexec(lb, f"systemctl is-active {unit}").stdout.strip() == "active", f"{lb}: {unit} not active"
            assert dexec(lb, f"systemctl is-enabled {unit}").stdout.strip() == "enabled", f"{lb}: {unit} not enabled"
    assert holder(S) == [S.loadbalancers[0]], f"VIP {S.vip} held by {holder(S)} (want the first load balancer only)"


def test_every_control_plane_serves_the_api():
    for cp in S.control_planes:
        t0 = time.monotonic()
        r = _readyz(cp)
        assert r.returncode == 0 and r.stdout.strip() == "ok", f"{cp}: /readyz -> rc {r.returncode} {r.stdout} {r.stderr}"
        report(f"{cp} ({S.hosts[cp]}:6443) /readyz = ok, kubectl call {time.monotonic() - t0:.2f} s")


def test_every_api_server_is_up_in_haproxy():
    for lb in S.loadbalancers:
        stat = show_stat(lb)
        assert sorted(stat) == sorted(S.control_planes), f"{lb}: backends {sorted(stat)}"
        assert set(stat.values()) == {"UP"}, f"{lb}: {stat}"


def test_etcd_has_a_member_per_control_plane():
    cp = S.control_planes[0]
    if dexec(cp, "command -v etcdctl").returncode != 0:
        # Debian's etcd-client, through the package proxy the prereqs role configured.
        dexec_ok(cp, "DEBIAN_FRONTEND=noninteractive apt-get install --yes --no-install-recommends etcd-client",
                 timeout=300)
    pki = "/etc/kubernetes/pki/etcd"
    cert = "healthcheck-client"
    if dexec(cp, f"test -f {pki}/{cert}.crt").returncode != 0:
        cert = "../apiserver-etcd-client"
    flags = (f"--endpoints=https://{S.hosts[cp]}:2379 --cacert={pki}/ca.crt --cert={pki}/{cert}.crt "
             f"--key={pki}/{cert}.key")
    out = dexec_ok(cp, f"ETCDCTL_API=3 etcdctl {flags} member list --write-out=json")
    members = json.loads(out)["members"]
    print(dexec_ok(cp, f"ETCDCTL_API=3 etcdctl {flags} member list --write-out=table"))
    names = sorted(m.get("name", "") for m in members)
    assert names == sorted(S.control_planes), f"etcd members {names} (want {sorted(S.control_planes)})"
    for m in members:
        urls = " ".join(m.get("clientURLs", []))
        assert not m.get("isLearner") and S.hosts[m["name"]] in urls, f"member {m}"
    # etcdctl 3.4 (Debian 12) prints the health lines on stderr.
    health = dexec_ok(cp, f"ETCDCTL_API=3 etcdctl {flags} endpoint health --cluster 2>&1")
    print(health)
    assert health.count("is healthy") == len(S.control_planes), health
    report(f"etcd members: {', '.join(names)} (all healthy)")


def test_kubectl_through_the_vip(kubectl):
    got, secs = wait_until(lambda: not node_problems(
        (kubectl.via_vip("get", "nodes", "--output=json").stdout or '{"items": []}'), S.nodes), READY_WAIT_S, step=3)
    r = kubectl.via_vip("get", "nodes", "--output=wide")
    assert got, f"nodes through the VIP: {r.stdout} {r.stderr}"
    print(r.stdout)
    report(f"kubectl get nodes through https://{S.endpoint}: {len(S.nodes)} nodes Ready")


@pytest.mark.parametrize("unit", ["keepalived", "haproxy"])
def test_vip_moves_when_a_service_stops_on_the_holder(kubectl, unit):
    _whole_again(kubectl)
    first, other = S.loadbalancers[0], S.loadbalancers[1]
    try:
        t0 = time.monotonic()
        dexec_ok(first, f"systemctl stop {unit}")
        moved, t_move = wait_until(lambda: holder(S) == [other], BOUND_S)
        served, t_served = wait_until(lambda: _vip_ok(kubectl), BOUND_S - (time.monotonic() - t0))
        t_served = time.monotonic() - t0
        assert moved, f"{unit} stopped on {first}: VIP not on {other} alone after {BOUND_S}s (holders {holder(S)})"
        assert served, f"{unit} stopped on {first}: kubectl through the VIP failed for {BOUND_S}s"
        report(f"FAILOVER {unit} stopped on {first}: VIP on {other} after {t_move:.1f} s, "
               f"kubectl get nodes through the VIP answered after {t_served:.1f} s (bound {BOUND_S} s)")
    finally:
        t1 = time.monotonic()
        dexec(first, f"systemctl start {unit}")
        back, t_back = wait_until(lambda: holder(S) == [first], BOUND_S)
        report(f"FAILBACK {unit} started on {first}: VIP back on {first} after {t_back:.1f} s"
               if back else f"FAILBACK {unit} on {first}: VIP NOT back after {time.monotonic() - t1:.1f} s")
    assert back, f"VIP did not come back to {first} (holders {holder(S)})"
    served, t_served = wait_until(lambda: _vip_ok(kubectl), BOUND_S)
    assert served, "kubectl through the VIP failed after the failback"


def test_an_api_server_taken_away_is_marked_down(kubectl):
    _whole_again(kubectl)
    cp = S.control_planes[-1]
    lb = holder(S)[0]
    try:
        dexec_ok(cp, f"mv {MANIFEST} {MANIFEST_AWAY}")
        down, t_down = wait_until(lambda: show_stat(lb).get(cp) == "DOWN", BOUND_S, step=0.5)
        assert down, f"{cp}'s API server not DOWN on {lb} after {BOUND_S}s: {show_stat(lb)}"
        gone = _readyz(cp).returncode != 0
        report(f"API server of {cp} taken away (manifest moved out): DOWN in haproxy on {lb} after {t_down:.1f} s"
               f" (its /readyz {'no longer answers' if gone else 'STILL answers'})")
        assert gone, f"{cp}: /readyz still answers with the manifest moved away"
        for other in S.loadbalancers:
            assert wait_until(lambda other=other: show_stat(other).get(cp) == "DOWN", BOUND_S)[0], other
        # Every request through the VIP keeps working while one API server is away (round robin over the others).
        failures, n = 0, 10
        t_req = time.monotonic()
        for _attempt in range(n):
            failures += not _vip_ok(kubectl, timeout=10)
        assert failures == 0, f"{failures}/{n} kubectl calls through the VIP failed with {cp}'s API server away"
        report(f"kubectl through the VIP with {cp}'s API server away: {n}/{n} calls answered "
               f"({(time.monotonic() - t_req) / n:.2f} s each)")
    finally:
        dexec(cp, f"test -f {MANIFEST_AWAY} && mv {MANIFEST_AWAY} {MANIFEST}")
        t1 = time.monotonic()
        up, t_up = wait_until(lambda: show_stat(lb).get(cp) == "UP", READY_WAIT_S, step=0.5)
        report(f"API server of {cp} restored: UP in haproxy on {lb} after {t_up:.1f} s" if up
               else f"API server of {cp} restored: NOT UP after {time.monotonic() - t1:.1f} s")
    assert up, f"{cp} not UP again on {lb}: {show_stat(lb)}"
    assert _readyz(cp).stdout.strip() == "ok"


def test_the_cluster_is_whole_at_the_end(kubectl):
    """Everything restored: what idempotence or a later verify would see."""
    _whole_again(kubectl)
    for cp in S.control_planes:
        assert dexec(cp, f"test -f {MANIFEST} && ! test -e {MANIFEST_AWAY}").returncode == 0, cp
        assert _readyz(cp).stdout.strip() == "ok", cp

"""The loadbalancer role on real lab machines (Debian 12 systemd containers on an internal network).

Lab kf-ha-lb (172.30.40.0/24): kf-ha-lb-lb1 and kf-ha-lb-lb2 run the role (haproxy + keepalived, VIP .3);
kf-ha-lb-cp1 and kf-ha-lb-cp2 (the control_plane group, so the role's backends) run a stand-in API server:
HTTPS on 6443 with a self-signed certificate, /readyz answering a status the test controls;
kf-ha-lb-worker1 is the client. Every request stays inside the lab network.

    .venv/bin/pytest tests/loadbalancer -v -s        (-s shows the measured failover times)

Packages come through the lab's apt cache (the test writes the apt proxy file on the load balancers, as
the prereqs role does on cluster nodes). The lab is removed in a finally (fixture teardown).
"""
from __future__ import annotations

import datetime
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "tests" / "lab" / "lab"
PYTHON = ROOT / ".venv" / "bin" / "python"
PLAYBOOK = ROOT / "playbooks" / "loadbalancer.yml"
STANDIN = Path(__file__).resolve().parent / "standin_apiserver.py"

NAME = os.environ.get("KF_HA_LAB", "kf-ha-lb")
NET = os.environ.get("KF_HA_NET", "172.30.40")
VIP = f"{NET}.3"
LBS = [f"{NAME}-lb1", f"{NAME}-lb2"]
BACKENDS = [f"{NAME}-cp1", f"{NAME}-cp2"]
CLIENT = f"{NAME}-worker1"
FAILOVER_BOUND = 30.0  # seconds; measured figures are printed
MARK_DOWN_BOUND = 20.0


def sh(*cmd, check=True, timeout=600, env=None, input=None):
    result = subprocess.run([str(c) for c in cmd], text=True, capture_output=True, timeout=timeout, env=env,
                            input=input, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} -> {result.returncode}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def dexec(container, script, check=True, timeout=120):
    return sh("docker", "exec", "-i", container, "bash", "-s", input=script, check=check, timeout=timeout)


def playbook(*args):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    inventory = sh(LAB, "inventory-path", NAME).stdout.strip()
    result = sh(ROOT / ".venv" / "bin" / "ansible-playbook", "-i", inventory, PLAYBOOK,
                "-e", f"@{VARS_FILE}", *args, check=False, timeout=900, env=env)
    recap = {m.group(1): {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
             for m in re.finditer(r"^(\S+)\s+:\s+(ok=.*)$", result.stdout, re.M)}
    return result, recap


VARS_FILE = ROOT / ".cache" / "lab" / f"{NAME}-loadbalancer-vars.yml"


# ---------------------------------------------------------------- lab helpers

def vip_holders():
    holders = []
    for lb in LBS:
        out = dexec(lb, "ip -4 -o addr show").stdout
        if re.search(rf"inet {re.escape(VIP)}/", out):
            holders.append(lb)
    return holders


CLIENT_SCRIPT = """
import ssl, sys, time, urllib.request
ctx = ssl._create_unverified_context()
count, bound = int(sys.argv[1]), float(sys.argv[2])
start = time.monotonic(); answers = []
while len(answers) < count:
    try:
        answers.append(urllib.request.urlopen('https://{vip}:6443/who', context=ctx, timeout=1).read().decode())
    except Exception as error:
        if answers or time.monotonic() - start > bound:
            print('ERROR', error, flush=True); sys.exit(1)
        time.sleep(0.1)
print('ELAPSED %.2f' % (time.monotonic() - start))
print('\\n'.join(answers))
"""


def request_through_vip(count=1, bound=0.0):
    """count HTTPS requests from the client through the VIP; the first may retry for `bound` seconds.
    Returns (seconds until the first answer, [backend host names])."""
    result = sh("docker", "exec", CLIENT, "python3", "-c", CLIENT_SCRIPT.format(vip=VIP), str(count), str(bound),
                check=False, timeout=bound + 60)
    assert result.returncode == 0, f"request through the VIP failed: {result.stdout} {result.stderr}"
    lines = result.stdout.split()
    return float(lines[1]), lines[2:]


STAT_SCRIPT = """
import socket
s = socket.socket(socket.AF_UNIX); s.connect('/run/haproxy/admin.sock'); s.sendall(b'show stat\\n')
print(s.makefile().read())
"""


def server_states(lb):
    out = sh("docker", "exec", lb, "python3", "-c", STAT_SCRIPT).stdout
    header = None
    states = {}
    for line in out.splitlines():
        if line.startswith("# "):
            header = line[2:].split(",")
            continue
        if not line or header is None:
            continue
        row = dict(zip(header, line.split(",")))
        if row["pxname"] == "kube-apiserver" and row["svname"] not in ("FRONTEND", "BACKEND"):
            states[row["svname"]] = row["status"]
    return states


def wait_for(predicate, bound, step=0.2):
    start = time.monotonic()
    while time.monotonic() - start < bound:
        if predicate():
            return time.monotonic() - start
        time.sleep(step)
    return None


def set_readyz(backend, status):
    dexec(backend, f"echo {status} > /run/standin-readyz")


def stamp(message):
    print(f"[{datetime.datetime.now(datetime.timezone.utc):%H:%M:%S}] {message}", flush=True)


# ---------------------------------------------------------------- the lab

def make_certificate(directory: Path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver stand-in")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    (directory / "standin.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "standin.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                              serialization.PrivateFormat.PKCS8,
                                                              serialization.NoEncryption()))


def start_standin(backend):
    dexec(backend, "systemctl reset-failed standin-api 2>/dev/null; systemctl is-active -q standin-api || "
                   "systemd-run --unit standin-api python3 /root/standin_apiserver.py --port 6443 "
                   "--cert /root/standin.crt --key /root/standin.key --status-file /run/standin-readyz")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    started = time.monotonic()
    try:
        stamp(f"lab up {NAME}")
        sh(LAB, "up", "--name", NAME, "--control-planes", "2", "--workers", "1", "--loadbalancers", "2",
           "--subnet", f"{NET}.0/24", "--no-repo", timeout=900)
        # The load balancers are not cluster nodes (no prereqs role): point apt at the lab's cache.
        for lb in LBS:
            dexec(lb, f"echo 'Acquire::http::Proxy \"http://{NET}.1:3142\";' > /etc/apt/apt.conf.d/90kubeforge-proxy")
        certs = tmp_path_factory.mktemp("standin")
        make_certificate(certs)
        for backend in BACKENDS:
            for path in (STANDIN, certs / "standin.crt", certs / "standin.key"):
                sh("docker", "cp", path, f"{backend}:/root/{path.name}")
            set_readyz(backend, 200)
            start_standin(backend)
        # Unicast VRRP: on this machine bridged frames go through the host's iptables (bridge-nf-call-iptables=1)
        # and Docker's --internal isolation rule (`! -d <subnet> -i <bridge> -j DROP`) drops VRRP's multicast
        # group 224.0.0.18, which leaves both load balancers MASTER (measured). Real networks pass it.
        VARS_FILE.write_text(f"loadbalancer_vip: {VIP}\nloadbalancer_vip_prefix: 24\n"
                             f"loadbalancer_vrrp_unicast: true\n"
                             f"kubernetes_control_plane_endpoint: '{VIP}:6443'\n")
        yield
    finally:
        stamp("lab down")
        sh(LAB, "down", "--name", NAME, check=False, timeout=300)
        VARS_FILE.unlink(missing_ok=True)
        stamp(f"lab module took {time.monotonic() - started:.0f} s")


# ---------------------------------------------------------------- tests (in order)

def test_check_mode_on_fresh_hosts_does_not_fail(lab):
    result, recap = playbook("--check")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert all(recap[lb]["failed"] == 0 for lb in LBS), recap
    for lb in LBS:
        assert dexec(lb, "command -v haproxy", check=False).returncode != 0, "check mode installed haproxy"


def test_converge(lab):
    start = time.monotonic()
    result, recap = playbook()
    stamp(f"converge: {time.monotonic() - start:.0f} s, recap {recap}")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert set(LBS) <= set(recap), recap
    assert all(recap[lb]["failed"] == 0 for lb in LBS)
    # The control planes are in the play's host pattern but end before any task: not configured.
    for backend in BACKENDS:
        assert dexec(backend, "test -e /etc/haproxy/haproxy.cfg", check=False).returncode != 0


def test_services_active_and_configuration_valid(lab):
    for lb in LBS:
        dexec(lb, "systemctl is-active haproxy keepalived && systemctl is-enabled haproxy keepalived")
        dexec(lb, "haproxy -c -f /etc/haproxy/haproxy.cfg && keepalived --config-test -f /etc/keepalived/keepalived.conf")
        config = dexec(lb, "cat /etc/haproxy/haproxy.cfg").stdout
        for backend, address in zip(BACKENDS, (f"{NET}.10", f"{NET}.11")):
            assert f"server {backend} {address}:6443 check check-ssl verify none" in config
        assert "option httpchk GET /readyz" in config and "http-check expect status 200" in config
        assert "bind *:6443" in config
    # The validators the role's template tasks use reject a broken file (so a bad change never reaches a reload).
    bad = dexec(LBS[0], "printf 'vrrp_instance x {\\n bogus_keyword 1\\n virtual_router_id 300\\n}\\n' > /tmp/bad.conf; "
                        "keepalived --config-test -f /tmp/bad.conf", check=False)
    assert bad.returncode != 0 and "Unknown keyword" in bad.stdout + bad.stderr, bad
    bad = dexec(LBS[0], "printf 'frontend x\\n bind *:1\\n bogus\\n' > /tmp/bad.cfg; haproxy -c -f /tmp/bad.cfg", check=False)
    assert bad.returncode != 0, bad
    # Binding every address needs no sysctl: none was written.
    for lb in LBS:
        assert dexec(lb, "test -e /etc/sysctl.d/90-kubeforge-loadbalancer.conf", check=False).returncode != 0


def test_exactly_one_load_balancer_holds_the_vip(lab):
    waited = wait_for(lambda: len(vip_holders()) == 1, 20)
    assert waited is not None, f"VIP holders: {vip_holders()}"
    assert vip_holders() == [LBS[0]], "the first load balancer (highest priority) should hold the VIP"


def test_requests_through_the_vip_reach_every_ready_backend(lab):
    assert wait_for(lambda: set(server_states(LBS[0]).values()) == {"UP"}, 20) is not None, server_states(LBS[0])
    _, answers = request_through_vip(count=6)
    assert set(answers) == set(BACKENDS), answers


def test_second_run_changes_nothing(lab):
    result, recap = playbook()
    assert result.returncode == 0, result.stdout[-4000:]
    assert all(recap[lb]["changed"] == 0 for lb in LBS), recap


def test_check_mode_on_converged_hosts_changes_nothing(lab):
    result, recap = playbook("--check")
    assert result.returncode == 0, result.stdout[-4000:]
    assert all(recap[lb]["changed"] == 0 and recap[lb]["failed"] == 0 for lb in LBS), recap


def test_unready_backend_is_marked_down_and_requests_keep_working(lab):
    set_readyz(BACKENDS[1], 500)
    try:
        took = wait_for(lambda: server_states(LBS[0]).get(BACKENDS[1]) == "DOWN", MARK_DOWN_BOUND)
        stamp(f"/readyz 500 on {BACKENDS[1]}: marked DOWN after {took if took is None else round(took, 1)} s")
        assert took is not None, server_states(LBS[0])
        assert server_states(LBS[0])[BACKENDS[0]] == "UP"
        _, answers = request_through_vip(count=8)
        assert set(answers) == {BACKENDS[0]}, answers
    finally:
        set_readyz(BACKENDS[1], 200)
    assert wait_for(lambda: server_states(LBS[0]).get(BACKENDS[1]) == "UP", MARK_DOWN_BOUND) is not None


def test_stopped_backend_is_marked_down_and_requests_keep_working(lab):
    dexec(BACKENDS[0], "systemctl stop standin-api")
    try:
        took = wait_for(lambda: server_states(LBS[0]).get(BACKENDS[0]) == "DOWN", MARK_DOWN_BOUND)
        stamp(f"stand-in stopped on {BACKENDS[0]}: marked DOWN after {took if took is None else round(took, 1)} s")
        assert took is not None, server_states(LBS[0])
        _, answers = request_through_vip(count=8)
        assert set(answers) == {BACKENDS[1]}, answers
    finally:
        start_standin(BACKENDS[0])
    assert wait_for(lambda: server_states(LBS[0]).get(BACKENDS[0]) == "UP", MARK_DOWN_BOUND) is not None


def _failover(stop, start, what):
    holder = vip_holders()
    assert len(holder) == 1, holder
    holder = holder[0]
    other = [lb for lb in LBS if lb != holder][0]
    begin = time.monotonic()
    dexec(holder, stop)
    try:
        moved = wait_for(lambda: vip_holders() == [other], FAILOVER_BOUND, step=0.1)
        moved_at = time.monotonic() - begin
        assert moved is not None, f"VIP holders after {what} on {holder}: {vip_holders()}"
        first, answers = request_through_vip(count=4, bound=FAILOVER_BOUND)
        served_at = time.monotonic() - begin
        stamp(f"FAILOVER {what} on {holder}: VIP on {other} after {moved_at:.1f} s, "
              f"request through the VIP answered after {served_at:.1f} s (backends {sorted(set(answers))})")
        assert served_at < FAILOVER_BOUND + 5
    finally:
        dexec(holder, start)
    # Preemption (the default): the first load balancer takes the VIP back once healthy again.
    back = wait_for(lambda: vip_holders() == [LBS[0]], FAILOVER_BOUND, step=0.2)
    stamp(f"FAILBACK after {what} restarted on {holder}: VIP on {LBS[0]} after "
          f"{'-' if back is None else f'{back:.1f}'} s")
    assert back is not None, vip_holders()
    request_through_vip(count=2, bound=10)


def test_failover_when_haproxy_stops_on_the_vip_holder(lab):
    _failover("systemctl stop haproxy", "systemctl start haproxy", "haproxy stopped")


def test_failover_when_keepalived_stops_on_the_vip_holder(lab):
    _failover("systemctl stop keepalived", "systemctl start keepalived", "keepalived stopped")


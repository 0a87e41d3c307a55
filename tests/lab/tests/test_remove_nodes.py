"""remove_nodes.yml on a real HA lab: 3 control planes (co-located haproxy + keepalived, VIP :8443) + 1 worker from
site.yml. In order, on one lab:
  0. join faults (issue 13), each repaired on this lab before the removals start:
     a. after site.yml's joins the run's bootstrap token and the kubeadm-certs Secret are gone, and no
        JoinConfiguration is left on any host;
     b. a half-joined control plane (cp2: kubelet.conf and Node present, its kube-scheduler manifest missing) stops
        add_nodes.yml before anything changes, naming the repair (reset.yml --limit cp2, its etcd member id); after
        that repair a re-run joins it again (3 etcd members, 4 manifests, no join secret left);
     c. one API server down during a worker join: the worker is reset, and while its kubeadm join is held at its
        start cp3's kube-apiserver is taken down (its serving key moved away: it exits at every start, as
        kube-apiserver does without its --tls-private-key-file; kubelet, manifests and etcd member untouched) until
        every co-located haproxy marks it DOWN; the join then succeeds through cp1 and cp2 behind the VIP. cp3 comes
        back once the worker's Node registered (with kubeadm's ControlPlaneKubeletLocalMode a control plane's kubelet
        talks to its own API server: a long outage would make cp3 NotReady and the run's final wait fail), every
        haproxy marks it UP again, the run ends green, and site.yml then changes nothing (the second site.yml run
        after the fixture's);
  1. refusals (no confirmation, not in the inventory, not a node, every control plane, the first control plane)
     fail before any host changes (changed=0 everywhere, 4 Nodes and 3 etcd members left);
  2. the worker is removed: drained, reset (no kubelet.conf), its Node gone; the control planes untouched;
  3. a dead control plane (container stopped): refused without remove_allow_unreachable, and removing another
     control plane then is refused as an etcd quorum loss; with remove_allow_unreachable its Node and etcd member
     go (3 -> 2 members, real etcdctl against the remaining members), the API still answers through the VIP and
     haproxy no longer lists it;
  4. --check for a reachable control plane changes nothing;
  5. that control plane is removed: kubeadm reset removes its own etcd member (2 -> 1), its co-located load
     balancer stops, the API still answers;
  6. a second run for every removed host reports nothing to do, changed=0;
then reset.yml on what is left (its refusals without a host are tests/validate/test_reset_refusals.py):
  7. a host holding another cluster's CA is refused (reset_any_cluster named, its CA hash and the cluster's, which
     is checked against openssl's), nothing changed; with reset_any_cluster=true it is reset;
  8. the stopped control plane comes back with its old state and an etcd learner member at its peer URL: reset.yml
     --limit resets it and its member is gone, the first control plane untouched;
  9. reset_all=true: workers first, then the control planes one at a time, the first one last; a second run
     changes nothing.

Its own lab (kf-rs-rm, 172.30.150.0/24), removed at the end (KF_RM_KEEP=1 keeps it; KF_RM_REUSE=1 starts from a kept
lab: the hosts an earlier run removed are reset and joined again by site.yml); slow (lab + site.yml take most of it).
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pytest
from conftest import LAB_DIR, ROOT, dexec, labcore, sh

NAME = "kf-rs-rm"
SUBNET = "172.30.150.0/24"
CP1, CP2, CP3, WORKER = (f"{NAME}-cp1", f"{NAME}-cp2", f"{NAME}-cp3", f"{NAME}-worker1")
ETCDCTL = ("ETCDCTL_API=3 etcdctl --cacert=/etc/kubernetes/pki/etcd/ca.crt "
           "--cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key")


def ansible_env() -> dict[str, str]:
    return dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}")


def playbook(*args: str, ok: bool = True, inventories: tuple[str, ...] = ()) -> tuple[str, dict[str, dict[str, int]]]:
    """Run remove_nodes.yml (or another root playbook given first) on the lab; its output and PLAY RECAP per host."""
    name = args[0] if args and args[0].endswith(".yml") else "remove_nodes.yml"
    args = args[1:] if args and args[0].endswith(".yml") else args
    inv = ["-i", str(labcore.inventory_dir(NAME))] + [a for i in inventories for a in ("-i", i)]
    try:
        r = subprocess.run(["ansible-playbook", *inv, name, *args], cwd=ROOT, env=ansible_env(), text=True,
                           capture_output=True, timeout=1800, check=False)
    except subprocess.TimeoutExpired as e:  # say where it hung
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout or ""
        raise AssertionError(f"{name} {args}: no end after {e.timeout} s; last output:\n{out[-8000:]}") from None
    text = r.stdout + r.stderr
    assert (r.returncode == 0) == ok, f"{name} {args}: exit {r.returncode}\n{r.stdout[-8000:]}\n{r.stderr[-3000:]}"
    recap = {}
    for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", r.stdout, re.M):
        recap[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
    return text, recap


def nodes(via: str = CP1) -> list[str]:
    out = dexec(via, "kubectl --kubeconfig=/etc/kubernetes/admin.conf get nodes --no-headers -o name").stdout
    return sorted(line.removeprefix("node/") for line in out.split())


def etcd_members(via: str = CP1) -> list[str]:
    """Member names from real etcdctl, asked of every remaining member's client URL."""
    endpoints = dexec(via, f"{ETCDCTL} --endpoints=https://127.0.0.1:2379 member list -w simple").stdout
    urls = sorted({u for line in endpoints.splitlines() for u in line.split(", ")[4].split(",")})
    out = dexec(via, f"{ETCDCTL} --endpoints={','.join(urls)} member list -w simple").stdout
    health = dexec(via, f"{ETCDCTL} --endpoints={','.join(urls)} endpoint health", check=False)
    assert health.returncode == 0, health.stdout + health.stderr
    return sorted(line.split(", ")[2] for line in out.splitlines())


def no_change(recap: dict[str, dict[str, int]]) -> bool:
    return all(c["changed"] == 0 for c in recap.values())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    lab = str(LAB_DIR / "lab")
    started = time.monotonic()
    reuse = os.environ.get("KF_RM_REUSE") == "1"
    if not reuse:
        sh(lab, "down", "--name", NAME, check=False)
    # `up` also starts a host an earlier run stopped.
    sh(lab, "up", "--name", NAME, "--subnet", SUBNET, "--control-planes", "3", "--workers", "1",
       "--loadbalancers", "0", timeout=1800)
    try:
        if reuse:
            # KF_RM_REUSE=1 (development): a lab from an earlier run; the other nodes are reset and joined again.
            members = set(nodes()) if dexec(CP1, "test -e /etc/kubernetes/admin.conf", check=False).returncode == 0 \
                else set()
            # (A stopped control plane started again by `up` registers its Node again with its old state: reset too.)
            if members and members != {CP1, CP2, CP3, WORKER}:
                playbook("reset.yml", "-e", "reset_confirm=true", "--limit", ",".join([CP2, CP3, WORKER]))
        playbook("site.yml")
        # Real etcdctl for the assertions (Debian's etcd-client), on the control plane that stays.
        dexec(CP1, "command -v etcdctl >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q etcd-client",
              timeout=600)
        extra = tmp_path_factory.mktemp("inventory") / "extra.yml"
        extra.write_text("others:\n  hosts:\n    outsider:\n      ansible_host: 172.30.150.250\n")
        print(f"\nlab up + site.yml: {time.monotonic() - started:.0f} s")
        yield {"extra": str(extra)}
    finally:
        if os.environ.get("KF_RM_KEEP") != "1":
            sh(lab, "down", "--name", NAME, check=False)


# ---------------------------------------------------------------- join faults (issue 13)

JOIN_DIR = "/run/kubeadm-join"
TOKEN_DESCRIPTION = "kubeforge.kubeadm join token"
APISERVER_KEY = "/etc/kubernetes/pki/apiserver.key"
APISERVER_UNIT = "kubesim-static-kube-apiserver.service"
# Holds `kubeadm join` on the worker at its start until /run/kf-join-go exists (first on root's PATH, before
# /usr/bin); /run/kf-join-held tells the test that the join has started.
HOLD_WRAPPER = """#!/bin/sh
if [ "$1" = join ]; then
  touch /run/kf-join-held
  while [ ! -e /run/kf-join-go ]; do sleep 1; done
fi
exec /usr/bin/kubeadm "$@"
"""
HAPROXY_STAT = """python3 - <<'EOF'
import socket
s = socket.socket(socket.AF_UNIX)
s.connect("/run/haproxy/admin.sock")
s.sendall(b"show stat\\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
print(data.decode())
EOF
"""


def join_tokens() -> list[str]:
    """The lines of `kubeadm token list` with the collection's join-token description."""
    return [line for line in dexec(CP1, "kubeadm token list").stdout.splitlines() if TOKEN_DESCRIPTION in line]


def certs_secret_exists() -> bool:
    r = dexec(CP1, "kubectl -n kube-system get secret kubeadm-certs -o name", check=False)
    assert r.returncode == 0 or "NotFound" in r.stderr, r.stderr
    return r.returncode == 0


def member_ids() -> dict[str, str]:
    """etcd member name -> id (hex, as etcdctl and the playbooks print it)."""
    out = dexec(CP1, f"{ETCDCTL} --endpoints=https://127.0.0.1:2379 member list -w simple").stdout
    return {line.split(", ")[2]: line.split(", ")[0] for line in out.splitlines()}


def address_of(container: str) -> str:
    return sh("docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
              container).stdout.strip()


def readyz(address: str) -> str:
    """What GET https://<address>:6443/readyz gives, asked from cp1: the status code or the error."""
    script = f"""python3 - <<'EOF'
import ssl, urllib.request
try:
    print(urllib.request.urlopen("https://{address}:6443/readyz", context=ssl._create_unverified_context(),
                                 timeout=5).status)
except Exception as e:
    print(type(e).__name__, getattr(e, "reason", e))
EOF
"""
    return dexec(CP1, script).stdout.strip()


def haproxy_status(host: str) -> dict[str, str]:
    """Server -> status (UP, DOWN, ...) of the kube-apiserver backend, from the stats socket of host's haproxy."""
    lines = [line for line in dexec(host, HAPROXY_STAT).stdout.splitlines() if line.strip()]
    header = lines[0].lstrip("# ").split(",")
    rows = [dict(zip(header, line.split(","))) for line in lines[1:]]
    return {r["svname"]: r["status"] for r in rows
            if r.get("pxname") == "kube-apiserver" and r.get("svname") not in ("FRONTEND", "BACKEND")}


def wait_for(what: str, check, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(2)


def test_site_run_removed_its_join_secrets(cluster):
    # site.yml joined cp2 and cp3 (token + uploaded certificates) and the worker (token): all gone after the run.
    assert nodes() == sorted([CP1, CP2, CP3, WORKER])
    assert join_tokens() == []
    assert not certs_secret_exists()
    for host in (CP1, CP2, CP3, WORKER):
        left = dexec(host, f"ls -A {JOIN_DIR} 2>/dev/null; ls /tmp | grep -c kubeadm-join || true").stdout.split()
        assert left == ["0"], (host, left)


def test_half_joined_control_plane_stops_the_run_with_its_repair(cluster):
    member_id = member_ids()[CP2]
    # A control-plane join that stopped after kubelet.conf: one of its static pod manifests is missing.
    dexec(CP2, "mv /etc/kubernetes/manifests/kube-scheduler.yaml /root/kube-scheduler.yaml")
    text, recap = playbook("add_nodes.yml", ok=False)
    flat = " ".join(text.split())
    assert "half joined" in flat, text[-6000:]
    assert f"- {CP2} (Node \"{CP2}\"): static pod manifests missing: kube-scheduler." in flat, text[-6000:]
    assert f"reset.yml --limit {CP2} -e reset_confirm=true" in flat, text[-6000:]
    assert f"member remove {member_id}" in flat, text[-6000:]
    # Stopped in the join-secrets play: nothing joined, nothing changed.
    assert "PLAY [Join the new control planes]" not in text and "PLAY [Join the new workers]" not in text
    assert no_change(recap), recap

    # The repair the message names; then the re-run joins cp2 again.
    playbook("reset.yml", "--limit", CP2, "-e", "reset_confirm=true")
    assert CP2 not in member_ids() and CP2 not in nodes()
    _text, recap = playbook("add_nodes.yml")
    assert recap[CP2]["changed"] > 0, recap
    assert dexec(CP2, "ls /etc/kubernetes/manifests").stdout.split() == [
        "etcd.yaml", "kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml"]
    assert etcd_members() == sorted([CP1, CP2, CP3])
    assert nodes() == sorted([CP1, CP2, CP3, WORKER])
    assert join_tokens() == [] and not certs_secret_exists()


def test_worker_joins_while_one_api_server_is_down(cluster, tmp_path):
    cp3 = address_of(CP3)
    playbook("reset.yml", "--limit", WORKER, "-e", "reset_confirm=true")
    assert WORKER not in nodes()
    dexec(WORKER, f"cat > /usr/local/bin/kubeadm <<'EOF'\n{HOLD_WRAPPER}EOF\nchmod 0755 /usr/local/bin/kubeadm; "
                  "rm -f /run/kf-join-held /run/kf-join-go")
    log = tmp_path / "add_nodes.log"
    with log.open("w") as sink:
        run = subprocess.Popen(["ansible-playbook", "-i", str(labcore.inventory_dir(NAME)), "add_nodes.yml"],
                               cwd=ROOT, env=ansible_env(), text=True, stdout=sink, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        wait_for("the worker's kubeadm join", lambda: run.poll() is not None or dexec(
            WORKER, "test -e /run/kf-join-held", check=False).returncode == 0, timeout=1200)
        assert run.poll() is None, "add_nodes.yml ended before the join:\n" + log.read_text()[-6000:]
        # cp3's API server goes down: its serving key moved away, the running one stopped; systemd and the kubelet
        # start it again and again, and it exits at once.
        dexec(CP3, f"mv {APISERVER_KEY} /root/apiserver.key && systemctl restart {APISERVER_UNIT} || true")
        wait_for("cp3's API server to refuse connections", lambda: "refused" in readyz(cp3).lower(), timeout=60)
        for host in (CP1, CP2, CP3):
            wait_for(f"haproxy on {host} to mark cp3 DOWN", lambda h=host: haproxy_status(h).get(CP3) == "DOWN")
            status = haproxy_status(host)
            assert status[CP1] == "UP" and status[CP2] == "UP", (host, status)
        dexec(WORKER, "touch /run/kf-join-go")
        # The join goes through the VIP to cp1 and cp2: the Node registers while cp3 is still down.
        wait_for("the worker's Node", lambda: run.poll() is not None or WORKER in nodes(), timeout=600)
        assert WORKER in nodes(), "no Node for the worker:\n" + log.read_text()[-6000:]
        assert "refused" in readyz(cp3).lower()
    finally:
        # cp3 comes back (the run's verify play then waits for every node, cp3 included, to be Ready).
        dexec(CP3, f"test -e {APISERVER_KEY} || mv /root/apiserver.key {APISERVER_KEY}", check=False)
        dexec(WORKER, "touch /run/kf-join-go", check=False)
        try:
            run.wait(timeout=1200)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=60)
        dexec(WORKER, "rm -f /usr/local/bin/kubeadm /run/kf-join-held /run/kf-join-go", check=False)
    out = log.read_text()
    assert run.returncode == 0, out[-8000:]
    assert re.search(rf"^{re.escape(WORKER)}\s+:\s+ok=\d+\s+changed=[1-9]", out, re.M), out[-3000:]
    assert nodes() == sorted([CP1, CP2, CP3, WORKER])
    assert join_tokens() == []

    wait_for("cp3's API server to answer", lambda: readyz(cp3) == "200")
    for host in (CP1, CP2, CP3):
        wait_for(f"haproxy on {host} to mark cp3 UP", lambda h=host: haproxy_status(h).get(CP3) == "UP")
    # Nothing is left to repair: a full converge changes nothing (also the second site.yml run after the fixture's).
    _text, recap = playbook("site.yml")
    assert no_change(recap) and all(c["failed"] == 0 for c in recap.values()), recap


REFUSALS = [
    ([f"-e remove_nodes={WORKER}"], "remove_confirm: remove_nodes.yml drains the nodes"),
    (["-e remove_confirm=true -e remove_nodes=nosuch"], "not in the inventory: nosuch."),
    (["-e remove_confirm=true -e remove_nodes=outsider"], "remove_nodes: outsider is not a member of the cluster"),
    ([f"-e remove_confirm=true -e remove_nodes={CP3},{CP2},{CP1}"],
     f"remove_nodes: {CP3}, {CP2}, {CP1} would remove the last control plane"),
    ([f"-e remove_confirm=true -e remove_nodes={CP1}"], f"remove_nodes: {CP1} is the first control plane"),
]


def test_refusals_fail_before_any_host_changes(cluster):
    for args, message in REFUSALS:
        text, recap = playbook(*" ".join(args).split(), ok=False, inventories=(cluster["extra"],))
        assert message in " ".join(text.split()), (args, text[-3000:])
        assert no_change(recap), (args, recap)
        # Only the controller ran: no node was contacted.
        assert set(recap) == {"localhost"}, (args, recap)
    assert nodes() == sorted([CP1, CP2, CP3, WORKER])
    assert etcd_members() == sorted([CP1, CP2, CP3])


def test_remove_worker(cluster):
    _text, recap = playbook("-e", f"remove_nodes={WORKER}", "-e", "remove_confirm=true")
    assert recap[WORKER]["changed"] > 0, recap
    assert all(recap[h]["changed"] == 0 for h in (CP1, CP2, CP3) if h in recap), recap
    assert nodes() == sorted([CP1, CP2, CP3])
    assert dexec(WORKER, "test ! -e /etc/kubernetes/kubelet.conf && ! systemctl is-active -q kubelet",
                 check=False).returncode == 0
    assert etcd_members() == sorted([CP1, CP2, CP3])


def test_remove_dead_control_plane(cluster):
    sh("docker", "stop", "-t", "5", CP3)
    # Without remove_allow_unreachable: refused, nothing changed.
    text, recap = playbook("-e", f"remove_nodes={CP3}", "-e", "remove_confirm=true", ok=False)
    assert f"remove_allow_unreachable: {CP3} did not answer over SSH" in " ".join(text.split()), text[-3000:]
    assert no_change(recap), recap
    # Removing a healthy member while cp3's is dead would leave cp1 + dead cp3: no quorum.
    text, recap = playbook("-e", f"remove_nodes={CP2}", "-e", "remove_confirm=true", ok=False)
    assert (f"would leave the etcd members {CP1}, {CP3} of which only 1 healthy ({CP1}); a quorum needs 2"
            in " ".join(text.split())), text[-3000:]
    assert no_change(recap), recap
    assert nodes() == sorted([CP1, CP2, CP3])

    _text, recap = playbook("-e", f"remove_nodes={CP3}", "-e", "remove_confirm=true",
                            "-e", "remove_allow_unreachable=true")
    assert recap[CP3]["changed"] > 0, recap
    assert nodes() == sorted([CP1, CP2])
    assert etcd_members() == sorted([CP1, CP2])
    # The API answers through the VIP from the other control plane, and haproxy no longer lists cp3.
    assert nodes(via=CP2) == sorted([CP1, CP2])
    for host in (CP1, CP2):
        cfg = dexec(host, "cat /etc/haproxy/haproxy.cfg").stdout
        assert f"server {CP3} " not in cfg and f"server {CP1} " in cfg and f"server {CP2} " in cfg, cfg


# cp3 stays in the lab's inventory (stopped): listed again, it is "nothing to do" and stays out of the load balancers
# (what an operator does until the removed hosts leave the inventory).
def test_check_mode_changes_nothing(cluster):
    _text, _recap = playbook("--check", "-e", f"remove_nodes={CP3},{CP2}", "-e", "remove_confirm=true")
    assert nodes() == sorted([CP1, CP2])
    assert etcd_members() == sorted([CP1, CP2])
    assert dexec(CP2, "test -e /etc/kubernetes/kubelet.conf && systemctl is-active -q keepalived",
                 check=False).returncode == 0
    assert f"server {CP2} " in dexec(CP1, "cat /etc/haproxy/haproxy.cfg").stdout


def test_remove_reachable_control_plane(cluster):
    text, recap = playbook("-e", f"remove_nodes={CP3},{CP2}", "-e", "remove_confirm=true")
    assert recap[CP2]["changed"] > 0 and recap[CP3]["changed"] == 0, recap
    # kubeadm reset removed the member itself: the by-ID removal found nothing left to do.
    assert "Remove the node's etcd member by ID" not in text or f"changed: [{CP2}" not in text.split(
        "Remove the node's etcd member by ID")[1].split("TASK")[0], text[-4000:]
    assert etcd_members() == [CP1]
    assert nodes() == [CP1]
    res = dexec(CP2, "test ! -e /etc/kubernetes/kubelet.conf && test -z \"$(ls -A /var/lib/etcd)\" "
                     "&& ! systemctl is-active -q keepalived && ! systemctl is-active -q haproxy", check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    cfg = dexec(CP1, "cat /etc/haproxy/haproxy.cfg").stdout
    assert f"server {CP2} " not in cfg and f"server {CP3} " not in cfg and f"server {CP1} " in cfg, cfg


def test_second_run_changes_nothing(cluster):
    text, recap = playbook("-e", f"remove_nodes={WORKER},{CP3},{CP2}", "-e", "remove_confirm=true")
    assert no_change(recap), recap
    flat = " ".join(text.split())
    for host in (WORKER, CP3, CP2):
        assert f"{host} is not a member of the cluster (no Node object, no etcd member, no kubeadm state): nothing" \
            in flat, text[-3000:]


# ---------------------------------------------------------------- reset.yml on what is left

CA_HASH = ("openssl x509 -pubkey -noout -in {path} | openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1")


def reset(*args: str, ok: bool = True) -> tuple[str, dict[str, dict[str, int]]]:
    return playbook("reset.yml", "-e", "reset_confirm=true", *args, ok=ok)


def test_reset_refuses_a_host_of_another_cluster(cluster):
    # Another cluster's CA on the worker (cp1's front-proxy CA is a CA this cluster's nodes do not trust).
    other = dexec(CP1, "cat /etc/kubernetes/pki/front-proxy-ca.crt").stdout
    dexec(WORKER, f"mkdir -p /etc/kubernetes/pki && cat > /etc/kubernetes/pki/ca.crt <<'EOF'\n{other}EOF\n")
    ours = "sha256:" + dexec(CP1, CA_HASH.format(path="/etc/kubernetes/pki/ca.crt")).stdout.strip()
    theirs = "sha256:" + dexec(WORKER, CA_HASH.format(path="/etc/kubernetes/pki/ca.crt")).stdout.strip()
    assert ours != theirs

    text, recap = reset("--limit", WORKER, ok=False)
    assert (f"reset_any_cluster: {WORKER} (CA {theirs}) is not a member of this cluster: the first control plane "
            f"{CP1} has the CA {ours}." in " ".join(text.split())), text[-3000:]
    assert no_change(recap), recap
    assert "TASK [Run kubeadm reset (answered y)]" not in text
    assert dexec(WORKER, "test -s /etc/kubernetes/pki/ca.crt", check=False).returncode == 0

    _text, recap = reset("--limit", WORKER, "-e", "reset_any_cluster=true")
    assert recap[WORKER]["changed"] > 0, recap
    assert dexec(WORKER, "test ! -e /etc/kubernetes/pki/ca.crt", check=False).returncode == 0
    assert nodes() == [CP1]


def test_reset_limited_control_plane_leaves_no_etcd_member(cluster):
    # cp3 (stopped since its removal) comes back with this cluster's CA, kubelet.conf and etcd data.
    sh("docker", "start", CP3)
    deadline = time.monotonic() + 120
    while dexec(CP3, "systemctl is-active -q ssh", check=False).returncode != 0:
        assert time.monotonic() < deadline, "ssh did not start on " + CP3
        time.sleep(2)
    address = sh("docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                 CP3).stdout.strip()
    # A member at cp3's peer URL (a learner: it does not count for the quorum of cp1's single member).
    dexec(CP1, f"{ETCDCTL} --endpoints=https://127.0.0.1:2379 member add {CP3} "
               f"--peer-urls=https://{address}:2380 --learner")
    listed = dexec(CP1, f"{ETCDCTL} --endpoints=https://127.0.0.1:2379 member list -w simple").stdout
    assert f"https://{address}:2380" in listed, listed

    text, recap = reset("--limit", CP3)
    assert recap[CP3]["changed"] > 0, recap
    assert set(recap) == {CP3}, recap
    listed = dexec(CP1, f"{ETCDCTL} --endpoints=https://127.0.0.1:2379 member list -w simple").stdout
    assert f"https://{address}:2380" not in listed, (listed, text[-4000:])
    assert etcd_members() == [CP1]
    assert nodes() == [CP1]
    res = dexec(CP3, "test ! -e /etc/kubernetes/pki/ca.crt && test ! -e /etc/kubernetes/kubelet.conf "
                     "&& test -z \"$(ls -A /var/lib/etcd)\" && ! systemctl is-active -q kubelet", check=False)
    assert res.returncode == 0, res.stdout + res.stderr


def kubeadm_reset_order(text: str) -> list[tuple[str, str]]:
    """(status, host) of every "Run kubeadm reset" result, in the order the run printed them."""
    found = []
    for block in text.split("TASK [Run kubeadm reset (answered y)]")[1:]:
        found += re.findall(r"^(changed|skipping|ok|fatal): \[([^\]\s]+)\]", block.split("TASK [")[0], re.M)
    return found


def test_reset_all_workers_first_then_control_planes_one_at_a_time(cluster):
    # cp2 holds kubeadm state again (a leftover kubelet.conf) so that more than one control plane has work.
    dexec(CP2, "mkdir -p /etc/kubernetes && cp /etc/hosts /etc/kubernetes/kubelet.conf")
    text, recap = reset("-e", "reset_all=true")
    order = kubeadm_reset_order(text)
    assert order == [("skipping", WORKER), ("skipping", CP3), ("changed", CP2), ("changed", CP1)], (order, text[-4000:])
    # one control plane per batch: each printed its own "Run kubeadm reset" task
    assert text.count("TASK [Run kubeadm reset (answered y)]") == 4, text[-4000:]
    assert text.index("PLAY [Reset the workers]") < text.index("PLAY [Reset the control planes")
    for host in (CP1, CP2, CP3, WORKER):
        res = dexec(host, "test ! -e /etc/kubernetes/pki/ca.crt && test ! -e /etc/kubernetes/kubelet.conf "
                          "&& test ! -e /etc/kubernetes/admin.conf && ! systemctl is-active -q kubelet", check=False)
        assert res.returncode == 0, (host, res.stdout + res.stderr)

    _text, recap = reset("-e", "reset_all=true")
    assert no_change(recap), recap

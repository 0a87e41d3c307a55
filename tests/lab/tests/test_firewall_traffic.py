"""The prereqs role's firewall rules proven by traffic, on ufw and on firewalld (issue 13, "Firewall").

Two lab hosts (kf-fw, 172.30.175.0/24, no repository server): the control plane runs ufw, the worker firewalld
(Debian's package: the firewalld code path of the RedHat family, exercised here on Debian), each active with its
default before the role runs. The prereqs role alone (tests/lab/tests/prereqs_only.yml) with kubernetes_cni=calico,
twice: the second run changes nothing. Then, with a network namespace on each host standing in for a pod (an address
of the pod network, or of the service network, routed through its host as a CNI bridge would):
- a "pod" reaches its own node's kubelet port 10250 (and the API port on the control plane), but not a port the
  node does not open to everyone — before this change both firewalls let the pod and service networks reach
  every port (ufw `allow from`, firewalld's trusted zone);
- an address of the service network reaches no such port either;
- traffic from a pod is routed to a network beyond the node, and traffic from there is routed to the pod (ufw
  route rules; firewalld policies k8s-pods-from/-to); under ufw, traffic between two such networks that involves
  no pod is still dropped (firewalld forwards within a zone by its own default, so the case is ufw's only). The
  networks beyond the node are namespaces on the same host: a routed packet with a pod source address would
  never cross the lab's Docker network (Docker drops foreign sources on it), and real CNIs masquerade it anyway;
- calico's IP-in-IP (IP protocol 4) from the other node arrives (a raw socket sees packets only after the
  firewall's INPUT hook: a dropped packet never reaches it).
Listeners are Python sockets in the hosts; nothing leaves the lab network.
"""
from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
from conftest import LAB_DIR, ROOT, dexec, labcore, sh

NAME = "kf-fw"
SUBNET = "172.30.175.0/24"
UFW_HOST, FIREWALLD_HOST = f"{NAME}-cp1", f"{NAME}-worker1"
POD_SUBNET, SERVICE_SUBNET = "10.244.0.0/16", "10.96.0.0/12"
# One "pod" per host, in that host's slice of the pod network; one service-network address beside it.
POD = {UFW_HOST: ("10.244.7.1", "10.244.7.2"), FIREWALLD_HOST: ("10.244.8.1", "10.244.8.2")}
# Two networks beyond each node (benchmarking addresses, RFC 2544), each a namespace routed through the node.
BEYOND = {UFW_HOST: (("198.18.7.1", "198.18.7.2"), ("198.19.7.1", "198.19.7.2")),
          FIREWALLD_HOST: (("198.18.8.1", "198.18.8.2"), ("198.19.8.1", "198.19.8.2"))}
SERVICE_SOURCE = {UFW_HOST: "10.96.7.2", FIREWALLD_HOST: "10.96.8.2"}
CLOSED_PORT = 9999  # opened by nothing: the node network cannot reach it either

LISTEN = r"""
import socket, sys, threading
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", port)); s.listen(16)
    while True:
        c, _ = s.accept(); c.sendall(b"ok"); c.close()
for p in sys.argv[1:]:
    threading.Thread(target=serve, args=(int(p),), daemon=True).start()
threading.Event().wait()
"""

CONNECT = r"""
import socket, sys
ip, port, src = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    s = socket.create_connection((ip, port), timeout=3, source_address=(src, 0) if src != "-" else None)
    print(s.recv(2).decode())
except OSError as e:
    print(type(e).__name__)
"""


def ip_of(host: str) -> str:
    return next(ip for _, c, ip in labcore.Lab.existing(NAME).hosts() if c == host)


def other(host: str) -> str:
    return FIREWALLD_HOST if host == UFW_HOST else UFW_HOST


def run_prereqs() -> dict[str, dict[str, int]]:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}")
    r = subprocess.run(["ansible-playbook", "-i", str(labcore.inventory_dir(NAME)), "-e",
                        json.dumps({"kubernetes_cni": "calico"}), str(LAB_DIR / "tests" / "prereqs_only.yml")],
                       cwd=ROOT, env=env, text=True, capture_output=True, timeout=1200, check=False)
    assert r.returncode == 0, f"prereqs_only.yml failed ({r.returncode}):\n{r.stdout[-6000:]}\n{r.stderr[-3000:]}"
    return {h: {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", c)}
            for h, c in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", r.stdout, re.M)}


def connect(host: str, ip: str, port: int, src: str = "-", netns: str | None = "kfpod") -> str:
    prefix = f"ip netns exec {netns} " if netns else ""
    return dexec(host, f"{prefix}python3 -c '{CONNECT}' {ip} {port} {src}").stdout.strip()


@pytest.fixture(scope="module")
def hosts():
    lab = str(LAB_DIR / "lab")
    sh(lab, "down", "--name", NAME, check=False)
    sh(lab, "up", "--name", NAME, "--subnet", SUBNET, "--control-planes", "1", "--workers", "1", "--no-repo",
       timeout=900)
    try:
        # The firewalls are installed through the lab's package cache before the role configures apt for it.
        proxy = f'Acquire::http::Proxy "http://{labcore.addr(SUBNET, 1)}:{labcore.CACHE_PORT}";'
        for host, package, enable in ((UFW_HOST, "ufw", "ufw default deny incoming && ufw allow 22/tcp && ufw --force enable"),
                                      (FIREWALLD_HOST, "firewalld", "systemctl enable --now firewalld && firewall-cmd --state")):
            dexec(host, f"""set -e
                echo '{proxy}' > /etc/apt/apt.conf.d/00kf-test-proxy
                apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q {package} >/dev/null
                rm /etc/apt/apt.conf.d/00kf-test-proxy
                {enable}
            """, timeout=600)
        first, second = run_prereqs(), run_prereqs()
        for host in (UFW_HOST, FIREWALLD_HOST):
            node, pod = ip_of(host), POD[host]
            dexec(host, f"""set -e
                ip netns add kfpod
                ip link add kfv0 type veth peer name kfv1
                ip link set kfv1 netns kfpod
                ip addr add {pod[0]}/24 dev kfv0 && ip link set kfv0 up
                ip route add {SERVICE_SOURCE[host]}/32 dev kfv0
                ip -n kfpod addr add {pod[1]}/24 dev kfv1
                ip -n kfpod addr add {SERVICE_SOURCE[host]}/32 dev kfv1
                ip -n kfpod link set kfv1 up && ip -n kfpod link set lo up
                ip -n kfpod route add default via {pod[0]}
                for i in 1 2; do
                    ip netns add kfout$i
                    ip link add kfo${{i}}a type veth peer name kfo${{i}}b
                    ip link set kfo${{i}}b netns kfout$i
                    ip -n kfout$i link set kfo${{i}}b up && ip -n kfout$i link set lo up
                    ip link set kfo${{i}}a up
                done
                ip addr add {BEYOND[host][0][0]}/24 dev kfo1a && ip -n kfout1 addr add {BEYOND[host][0][1]}/24 dev kfo1b
                ip addr add {BEYOND[host][1][0]}/24 dev kfo2a && ip -n kfout2 addr add {BEYOND[host][1][1]}/24 dev kfo2b
                ip -n kfout1 route add default via {BEYOND[host][0][0]}
                ip -n kfout2 route add default via {BEYOND[host][1][0]}
                nohup python3 -c '{LISTEN}' 10250 6443 {CLOSED_PORT} </dev/null >/dev/null 2>&1 &
                for ns in kfpod kfout1 kfout2; do
                    nohup ip netns exec $ns python3 -c '{LISTEN}' 8080 </dev/null >/dev/null 2>&1 &
                done
                sleep 1
                test "$(sysctl -n net.ipv4.ip_forward)" = 1
            """)
            assert node
        yield {"first": first, "second": second}
    finally:
        sh(lab, "down", "--name", NAME, check=False)


def test_prereqs_twice_second_run_changes_nothing(hosts):
    assert hosts["first"][UFW_HOST]["changed"] > 0 and hosts["first"][FIREWALLD_HOST]["changed"] > 0, hosts
    assert all(c["changed"] == 0 and c["failed"] == 0 for c in hosts["second"].values()), hosts["second"]


def test_firewalld_has_the_pods_zone_and_trusts_nothing(hosts):
    out = dexec(FIREWALLD_HOST, "firewall-cmd --get-active-zones; firewall-cmd --zone=trusted --list-sources;"
                                " firewall-cmd --zone=k8s-pods --list-all;"
                                " firewall-cmd --info-policy=k8s-pods-from; firewall-cmd --info-policy=k8s-pods-to").stdout
    assert re.search(rf"k8s-pods\s*\n\s*sources: {re.escape(POD_SUBNET)}", out), out
    assert SERVICE_SUBNET not in out, out
    assert re.search(r"^\s*ports: 10250/tcp\s*$", out, re.M), out  # a worker: no API port
    assert re.search(r"ingress-zones: k8s-pods\s*\n\s*egress-zones: ANY", out), out
    assert re.search(r"ingress-zones: ANY\s*\n\s*egress-zones: k8s-pods", out), out


def test_ufw_has_no_rule_for_the_service_network_and_routes_the_pod_network(hosts):
    out = dexec(UFW_HOST, "ufw show added").stdout
    assert SERVICE_SUBNET not in out, out
    assert f"ufw route allow from {POD_SUBNET}" in out and f"ufw route allow to {POD_SUBNET}" in out, out
    assert f"ufw allow from {POD_SUBNET}" not in out, out


@pytest.mark.parametrize("host", [UFW_HOST, FIREWALLD_HOST])
def test_a_pod_reaches_the_kubelet_and_api_port_of_its_node_and_nothing_else(hosts, host):
    node = ip_of(host)
    assert connect(host, node, 10250) == "ok"
    if host == UFW_HOST:  # the control plane: the API port too
        assert connect(host, node, 6443) == "ok"
    assert connect(host, node, CLOSED_PORT) != "ok"
    # the node network cannot reach it either: the port really is closed, not only for pods
    assert connect(other(host), node, CLOSED_PORT, netns=None) != "ok"


@pytest.mark.parametrize("host", [UFW_HOST, FIREWALLD_HOST])
def test_the_service_network_is_not_trusted(hosts, host):
    node = ip_of(host)
    assert connect(host, node, CLOSED_PORT, src=SERVICE_SOURCE[host]) != "ok"
    assert connect(host, node, 10250, src=SERVICE_SOURCE[host]) == "ok"  # the open node port, as for anyone


@pytest.mark.parametrize("host", [UFW_HOST, FIREWALLD_HOST])
def test_pod_traffic_is_routed_from_and_to_the_pod_network(hosts, host):
    beyond, _ = BEYOND[host]
    # from a pod, through the node's forwarding, to a network beyond the node
    assert connect(host, beyond[1], 8080) == "ok"
    # from there, through the node's forwarding, to the pod
    assert connect(host, POD[host][1], 8080, netns="kfout1") == "ok"


def test_ufw_still_drops_routed_traffic_that_involves_no_pod(hosts):
    _, second = BEYOND[UFW_HOST]
    assert connect(UFW_HOST, second[1], 8080, netns="kfout1") != "ok"
    # the listener is there: from the node itself (no forwarding) it answers
    assert connect(UFW_HOST, second[1], 8080, netns=None) == "ok"


@pytest.mark.parametrize("host", [UFW_HOST, FIREWALLD_HOST])
def test_calico_ip_in_ip_arrives(hosts, host):
    receive = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 4); s.settimeout(8); "
               "print(s.recvfrom(65535)[1][0])")
    send = (f"import socket, time; s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 4); "
            f"[(s.sendto(b'kf-ipip-probe' * 4, ('{ip_of(host)}', 0)), time.sleep(0.5)) for _ in range(10)]")
    rx = subprocess.Popen(["docker", "exec", host, "python3", "-c", receive], text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
    dexec(other(host), f'python3 -c "{send}"')
    out, err = rx.communicate(timeout=30)
    assert out.strip() == ip_of(other(host)), f"no IP protocol 4 packet arrived on {host}: {out} {err}"

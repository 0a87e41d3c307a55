"""Real pods in the lab (issue 14): a 1 + 1 cluster from site.yml whose kubelet stand-in runs ordinary pods through
the hosts' real containerd, runc and CNI plugins.

- lab setup: the test images (tests/lab/testimages.py) are in every host's containerd k8s.io namespace under the
  names the product and the smoke test use, imported by the lab's containerd drop-in; the lab inventory's
  group_vars/all/pods.yml gives containerd the restrict_oom_score_adj override the hosts need;
- nginx pods (the smoke test's image, a readiness probe) on both nodes: Running and Ready, their IPs from the
  nodes' podCIDRs through the flannel CNI plugin stand-in delegating to the real bridge + host-local, nginx
  answering each node; time from creation to Ready measured;
- flanneld's vxlan between the hosts: flannel.1 (VNI 1, port 8472, nolearning, the interface's MTU - 50), the node
  annotations of flannel's kube subnet manager, the route, neighbour and fdb entry for the other node; a pod on each
  node fetches the page of the nginx pod on the other node;
- 8472/udp dropped by the control plane's host firewall (an nftables table): the worker's pod no longer reaches the
  control plane's nginx pod, still reaches the worker's own; with the port open again it reaches it again;
- a NodePort Service over the nginx pods: the controller manager's EndpointSlice, kube-proxy's iptables rules
  (KUBE-SERVICES, KUBE-NODEPORTS, KUBE-SVC/SEP/EXT chains) on both nodes, every node answering on the NodePort;
- a container that exits 3: restarts, last state with its exit code, CrashLoopBackOff; a Never pod: Succeeded;
- an absent image with pull policy Never: ErrImageNeverPull; IfNotPresent: ErrImagePull;
- deletion: the kubelets stop and remove the pods' sandboxes (CNI DEL: no veth left, cgroups gone);
- `make lab`'s converge (`lab up --converge`, the fixture): site.yml, then smoke_test.yml with its readiness wait
  and the HTTP check over the NodePort of every node (the lab's pods.yml), objects removed afterwards.

Its own lab (kf-pod-lab, 172.30.190.0/24), removed at the end; KF_POD_REUSE=1 keeps and reuses it.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
import yaml
from conftest import LAB_DIR, ROOT, dexec, labcore, sh

sys.path.insert(0, str(ROOT / "tests" / "kubesim"))
from kubesim.kubelet import cri  # noqa: E402

NAME = "kf-pod-lab"
SUBNET = "172.30.190.0/24"
CP, WORKER = f"{NAME}-cp1", f"{NAME}-worker1"
NGINX = "docker.io/library/nginx:1.29-alpine"
BUSYBOX = "docker.io/library/busybox:latest"
MEASURED: dict[str, float] = {}
CONVERGE: dict[str, str] = {}
REUSE = os.environ.get("KF_POD_REUSE") == "1"


@pytest.fixture(scope="module")
def cluster():
    lab = str(LAB_DIR / "lab")
    existing = REUSE and labcore.inventory_dir(NAME).exists()
    if not existing:
        sh(lab, "down", "--name", NAME, check=False)
    t0 = time.monotonic()
    # What `make lab` runs: the lab, site.yml, then smoke_test.yml asking nginx on every node's NodePort.
    r = sh(lab, "up", "--name", NAME, "--subnet", SUBNET, "--control-planes", "1", "--workers", "1", "--converge",
           timeout=2400)
    CONVERGE["out"] = r.stdout + r.stderr
    MEASURED["lab up --converge (s)"] = time.monotonic() - t0
    try:
        yield
    finally:
        print("\nmeasured:", json.dumps({k: round(v, 2) for k, v in MEASURED.items()}))
        if not REUSE:
            sh(lab, "down", "--name", NAME, check=False)


def kubectl(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return sh("docker", "exec", "-i", CP, "kubectl", "--kubeconfig=/etc/kubernetes/admin.conf", *args, input=stdin,
              check=check)


def pod_json(name: str) -> dict:
    return json.loads(kubectl("get", "pod", name, "-o", "json").stdout)


def wait_for(what, check, timeout=120.0, interval=0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except AssertionError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def endpoint(host: str) -> str:
    pid = sh("docker", "inspect", "-f", "{{.State.Pid}}", host).stdout.strip()
    return f"unix:///proc/{pid}/root/run/containerd/containerd.sock"


def pod_manifest(name: str, node: str, containers: list, **spec) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Pod",
                           "metadata": {"name": name, "namespace": "default", "labels": {"kf-test": "pods"}},
                           "spec": {"nodeName": node, "containers": containers, **spec}})


def ready(p: dict) -> dict | None:
    cs = p["status"].get("containerStatuses") or [{"ready": False}]
    return p if p["status"].get("phase") == "Running" and all(c["ready"] for c in cs) else None


def waiting_reason(p: dict) -> str:
    cs = (p.get("status") or {}).get("containerStatuses") or [{}]
    return (cs[0].get("state") or {}).get("waiting", {}).get("reason", "")


def test_test_images_and_runtime_override_on_every_host(cluster):
    sys.path.insert(0, str(LAB_DIR))
    import testimages
    repo, tags = testimages.product_names()
    want = {f"{repo}/pause:{t}" for t in tags} | {"docker.io/library/nginx:latest", NGINX, BUSYBOX}
    for host in (CP, WORKER):
        have = set(dexec(host, "ctr -n k8s.io images ls -q").stdout.split())
        assert want <= have, (host, want - have)
        conf = dexec(host, "cat /etc/containerd/config.toml").stdout
        assert re.search(r"^\s*restrict_oom_score_adj = true$", conf, re.M), conf
        # the pause image containerd pins is one the lab imported
        pinned = re.search(r'^\s*sandbox = "(.*)"$', conf, re.M).group(1)
        assert pinned in have, pinned
        assert "imported " in dexec(host, "journalctl -u containerd --no-pager -o cat").stdout
    inv = labcore.inventory_dir(NAME) / "group_vars" / "all" / "pods.yml"
    assert yaml.safe_load(inv.read_text()) == labcore.lab_pod_group_vars()


def test_nginx_pods_run_and_get_ready_on_both_nodes(cluster):
    probe = {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 2}
    t0 = time.monotonic()
    for node in (CP, WORKER):
        kubectl("apply", "-f", "-", stdin=pod_manifest(
            f"web-{node.rsplit('-', 1)[1]}", node,
            [{"name": "nginx", "image": NGINX, "ports": [{"containerPort": 80}], "readinessProbe": probe}]))
    for node in (CP, WORKER):
        name = f"web-{node.rsplit('-', 1)[1]}"
        p = wait_for(f"{name} Ready", lambda n=name: ready(pod_json(n)))
        MEASURED[f"{name}: apply to Ready (s)"] = time.monotonic() - t0
        cidr = json.loads(kubectl("get", "node", node, "-o", "json").stdout)["spec"]["podCIDR"]
        ip = p["status"]["podIP"]
        prefix = cidr.rsplit(".", 1)[0]
        assert ip.startswith(prefix + ".") and ip != prefix + ".1", (ip, cidr)
        cs = p["status"]["containerStatuses"][0]
        assert cs["containerID"].startswith("containerd://") and cs["imageID"].startswith("sha256:"), cs
        assert cs["restartCount"] == 0 and "running" in cs["state"], cs
        # runc runs it in the node; nginx answers from the pod's address over the real bridge
        assert cs["containerID"].split("//")[1] in dexec(node, "ctr -n k8s.io tasks ls -q").stdout
        get = (f"python3 -c 'import urllib.request; print(urllib.request.urlopen(\"http://{ip}/\", "
               "timeout=5).read().decode())'")
        assert "Welcome to nginx!" in dexec(node, get).stdout
        assert re.search(r"veth\S+.*master cni0", dexec(node, "ip -o link show master cni0").stdout)


def fetch_from_pod(name: str, node: str, url: str, timeout: float = 90.0) -> tuple[str, int]:
    """A busybox pod on `node` that fetches `url` once (wget under a 10 s `timeout`, from a shell: busybox-static's
    own `wget -T` crashes with SIGSEGV, and as PID 1 wget ignores timeout's SIGTERM: the `exit` keeps the shell from exec'ing it): its phase and exit
    code."""
    kubectl("delete", "pod", name, "--ignore-not-found", "--wait=true")
    kubectl("apply", "-f", "-", stdin=pod_manifest(name, node, [
        {"name": "wget", "image": BUSYBOX, "imagePullPolicy": "IfNotPresent",
         "command": ["sh", "-c", f"timeout 10 wget -q -O - {url}; exit $?"]}], restartPolicy="Never"))
    p = wait_for(f"{name} finished", lambda: (p := pod_json(name))["status"].get("phase") in ("Succeeded", "Failed")
                 and p, timeout=timeout)
    term = p["status"]["containerStatuses"][0]["state"]["terminated"]
    return p["status"]["phase"], term["exitCode"]


def test_flannel_vxlan_between_nodes(cluster):
    nodes = {n: json.loads(kubectl("get", "node", n, "-o", "json").stdout) for n in (CP, WORKER)}
    vtep = {}
    for node, obj in nodes.items():
        ann = obj["metadata"]["annotations"]
        internal = next(a["address"] for a in obj["status"]["addresses"] if a["type"] == "InternalIP")
        # the kube subnet manager's annotations, as flanneld writes them
        assert ann["flannel.alpha.coreos.com/backend-type"] == "vxlan", ann
        assert ann["flannel.alpha.coreos.com/kube-subnet-manager"] == "true", ann
        assert ann["flannel.alpha.coreos.com/public-ip"] == internal, ann
        data = json.loads(ann["flannel.alpha.coreos.com/backend-data"])
        assert data["VNI"] == 1 and re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", data["VtepMAC"]), data
        link = json.loads(dexec(node, "ip -j -d link show flannel.1").stdout)[0]
        info = link["linkinfo"]["info_data"]
        eth = json.loads(dexec(node, "ip -j link show eth0").stdout)[0]
        assert link["address"] == data["VtepMAC"] and link["mtu"] == eth["mtu"] - 50, link
        assert (link["linkinfo"]["info_kind"], info["id"], info["port"], info["local"], info["link"],
                info["learning"]) == ("vxlan", 1, 8472, internal, "eth0", False), info
        net = obj["spec"]["podCIDR"].split("/")[0]
        addrs = [f"{a['local']}/{a['prefixlen']}" for a in
                 json.loads(dexec(node, "ip -j -4 addr show dev flannel.1").stdout)[0]["addr_info"]]
        assert addrs == [f"{net}/32"], addrs
        assert f"FLANNEL_MTU={eth['mtu'] - 50}" in dexec(node, "cat /run/flannel/subnet.env").stdout
        vtep[node] = (obj["spec"]["podCIDR"], net, data["VtepMAC"], internal)
    for node, other in ((CP, WORKER), (WORKER, CP)):
        cidr, gw, mac, public = vtep[other]
        route = json.loads(dexec(node, f"ip -j route show {cidr}").stdout)
        assert [(r["dst"], r["gateway"], r["dev"], "onlink" in r["flags"]) for r in route] == [
            (cidr, gw, "flannel.1", True)], route
        neigh = json.loads(dexec(node, "ip -j neigh show dev flannel.1").stdout)
        assert [(n["dst"], n["lladdr"], n["state"]) for n in neigh] == [(gw, mac, ["PERMANENT"])], neigh
        fdb = json.loads(dexec(node, "bridge -j fdb show dev flannel.1").stdout)
        assert [(f["mac"], f["dst"]) for f in fdb if f.get("dst")] == [(mac, public)], fdb
    # pod to pod across the hosts, through the kernel's vxlan: each node's pod fetches the other node's nginx
    for node, other in ((WORKER, CP), (CP, WORKER)):
        ip = pod_json(f"web-{other.rsplit('-', 1)[1]}")["status"]["podIP"]
        t0 = time.monotonic()
        assert fetch_from_pod(f"get-{node.rsplit('-', 1)[1]}", node, f"http://{ip}/") == ("Succeeded", 0)
        MEASURED[f"pod on {node} fetched nginx on {other} (s)"] = time.monotonic() - t0
        assert "Welcome to nginx!" in dexec(node, "cat /var/log/pods/default_get-*/wget/0.log").stdout


BLOCK_VXLAN = ("nft add table inet kf-net-block && nft add chain inet kf-net-block input "
               "'{ type filter hook input priority -10; policy accept; }' && "
               "nft add rule inet kf-net-block input udp dport 8472 counter drop")


def test_vxlan_port_closed_stops_cross_node_traffic_only(cluster):
    """The host firewall of the control plane drops 8472/udp: a pod on the worker no longer reaches the control
    plane's nginx pod (its vxlan packets are dropped), while it still reaches the worker's own nginx pod; open again,
    the cross-node fetch works again."""
    cp_ip, wk_ip = (pod_json(n)["status"]["podIP"] for n in ("web-cp1", "web-worker1"))
    dexec(CP, BLOCK_VXLAN)
    try:
        assert fetch_from_pod("get-blocked", WORKER, f"http://{cp_ip}/")[0] == "Failed"
        dropped = dexec(CP, "nft list chain inet kf-net-block input").stdout
        assert int(re.search(r"counter packets (\d+)", dropped).group(1)) > 0, dropped
        assert fetch_from_pod("get-local", WORKER, f"http://{wk_ip}/") == ("Succeeded", 0)
    finally:
        dexec(CP, "nft delete table inet kf-net-block")
    assert fetch_from_pod("get-reopened", WORKER, f"http://{cp_ip}/") == ("Succeeded", 0)
    kubectl("delete", "pod", "get-blocked", "get-local", "get-reopened", "get-cp1", "get-worker1", "--wait=true")


def test_nodeport_reaches_the_nginx_pods_from_every_node(cluster):
    """kube-proxy's iptables rules (the kubelet stand-in writes them while kube-proxy's pod runs on the node) from
    the EndpointSlice the controller manager makes for a NodePort Service: every node answers on the NodePort with
    an nginx pod, whichever node that pod is on."""
    for n in ("web-cp1", "web-worker1"):
        kubectl("label", "pod", n, "kf-web=nginx", "--overwrite")
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "kf-web", "namespace": "default"},
        "spec": {"type": "NodePort", "selector": {"kf-web": "nginx"},
                 "ports": [{"name": "http", "port": 80, "targetPort": 80, "nodePort": 30080}]}}))
    try:
        t0 = time.monotonic()
        ips = sorted(pod_json(n)["status"]["podIP"] for n in ("web-cp1", "web-worker1"))

        def slice_ips():
            items = json.loads(kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=kf-web",
                                       "-o", "json").stdout)["items"]
            return sorted(a for s in items for e in s.get("endpoints") or [] if e["conditions"]["ready"]
                          for a in e["addresses"]) == ips
        wait_for("the EndpointSlice of kf-web", slice_ips, timeout=60)
        addrs = {n: json.loads(kubectl("get", "node", n, "-o", "json").stdout)["status"]["addresses"][0]["address"]
                 for n in (CP, WORKER)}
        for node in (CP, WORKER):
            wait_for(f"KUBE-NODEPORTS rule on {node}", lambda n=node: "--dport 30080 -j KUBE-EXT-" in dexec(
                n, "iptables-save -t nat").stdout, timeout=30)
        MEASURED["Service to rules on both nodes (s)"] = time.monotonic() - t0
        nat = dexec(WORKER, "iptables-save -t nat").stdout
        for chain in ("KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"):
            assert f":{chain} " in nat, nat
        assert '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES' in nat, nat
        assert len(re.findall(r"-j DNAT --to-destination 10\.244\.\d+\.\d+:80", nat)) == 2, nat
        for client in (CP, WORKER):
            for target in (CP, WORKER):
                get = (f"python3 -c 'import urllib.request; print(urllib.request.urlopen("
                       f"\"http://{addrs[target]}:30080/\", timeout=5).read().decode())'")
                for _ in range(6):  # both endpoints, local and across the vxlan, from every node
                    assert "Welcome to nginx!" in dexec(client, get).stdout
    finally:
        kubectl("delete", "service", "kf-web", "--ignore-not-found")
    wait_for("kf-web's rules gone", lambda: "KUBE-EXT-" not in dexec(WORKER, "iptables-save -t nat").stdout,
             timeout=30)


def test_crash_loop_and_exit_codes(cluster):
    kubectl("apply", "-f", "-", stdin=pod_manifest("crash", WORKER, [
        {"name": "sh", "image": BUSYBOX, "imagePullPolicy": "IfNotPresent",
         "command": ["sh", "-c", "echo crashing; exit 3"]}], terminationGracePeriodSeconds=1))
    kubectl("apply", "-f", "-", stdin=pod_manifest("once", WORKER, [
        {"name": "sh", "image": BUSYBOX, "imagePullPolicy": "IfNotPresent", "command": ["true"]}],
        restartPolicy="Never"))
    p = wait_for("crash restarted, in CrashLoopBackOff",
                 lambda: (p := pod_json("crash"))["status"].get("containerStatuses", [{}])[0].get("restartCount", 0) >= 1
                 and waiting_reason(p) == "CrashLoopBackOff" and p)
    cs = p["status"]["containerStatuses"][0]
    assert cs["lastState"]["terminated"]["exitCode"] == 3 and cs["lastState"]["terminated"]["reason"] == "Error"
    assert p["status"]["phase"] == "Running" and not cs["ready"]
    p = wait_for("once Succeeded", lambda: (p := pod_json("once"))["status"].get("phase") == "Succeeded" and p)
    assert p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0


def test_images_not_present(cluster):
    kubectl("apply", "-f", "-", stdin=pod_manifest("never", WORKER, [
        {"name": "app", "image": "docker.io/library/kf-absent:1", "imagePullPolicy": "Never"}]))
    kubectl("apply", "-f", "-", stdin=pod_manifest("pull", WORKER, [
        {"name": "app", "image": "docker.io/library/kf-absent:2"}]))
    p = wait_for("ErrImageNeverPull", lambda: waiting_reason(p := pod_json("never")) == "ErrImageNeverPull" and p)
    assert p["status"]["containerStatuses"][0]["state"]["waiting"]["message"] == (
        'Container image "docker.io/library/kf-absent:1" is not present with pull policy of Never')
    assert p["status"]["phase"] == "Pending"
    wait_for("ErrImagePull / ImagePullBackOff",
             lambda: waiting_reason(pod_json("pull")) in ("ErrImagePull", "ImagePullBackOff"))


def test_deletion_removes_the_sandboxes(cluster):
    uids = {n: pod_json(n)["metadata"]["uid"] for n in ("web-cp1", "web-worker1", "crash", "once", "never", "pull")}
    t0 = time.monotonic()
    kubectl("delete", "pod", "-l", "kf-test=pods", "--wait=true", "--timeout=120s")
    MEASURED["delete of 6 pods (s)"] = time.monotonic() - t0
    # The API server stand-in removes a pod at once (no graceful deletion): the kubelets see their pods gone and
    # remove what they ran, as a kubelet does for a force-deleted pod.
    for node in (CP, WORKER):
        ep = endpoint(node)
        for uid in uids.values():
            wait_for(f"sandboxes of {uid} removed on {node}",
                     lambda u=uid, e=ep: cri.list_pod_sandboxes(e, labels={"io.kubernetes.pod.uid": u}) == [],
                     timeout=90)
    MEASURED["delete of 6 pods, to no sandbox left (s)"] = time.monotonic() - t0
    for node in (CP, WORKER):
        # CNI DEL ran for every pod: no veth on the bridge
        assert dexec(node, "ip -o link show master cni0 2>/dev/null").stdout.strip() == "", node
        # the pod cgroups go right after the sandboxes
        wait_for(f"pod cgroups removed on {node}", lambda n=node: not any(u.replace("-", "_") in dexec(
            n, "find /sys/fs/cgroup -maxdepth 7 -type d -name 'kubepods-*pod*.slice'").stdout for u in uids.values()),
            timeout=30)


def test_make_lab_ends_with_the_smoke_test_answering_on_every_node(cluster):
    out = CONVERGE["out"]
    assert "readiness NOT covered" not in out and "HTTP check NOT covered" not in out, out[-3000:]
    flat = " ".join(out.split())
    assert re.search(rf"HTTP check passed: nginx answered on NodePort \d+ of {CP}, {WORKER}\.", flat), out[-3000:]
    assert re.search(r"smoke_test.yml finished with exit code 0", flat), out[-3000:]
    left = kubectl("get", "deployments,services", "-l", "app.kubernetes.io/part-of=kubeforge-smoke-test",
                   "-o", "name").stdout
    assert left.strip() == "", left

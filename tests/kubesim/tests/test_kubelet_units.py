"""Unit tests for the kubelet stand-in: start-up refusals (flags, config.yaml missing,
cgroup v1), flannel's network check, init-container host install, static pod mapping,
and the CRI client's error on a dead socket."""

import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
KUBESIM = os.path.dirname(HERE)
sys.path.insert(0, KUBESIM)

from kubesim.kubelet import cri, flanneld, pods, staticpods  # noqa: E402

KUBELET_CONFIG = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"


def kubelet(*args, env=None, timeout=60):
    full = dict(os.environ, PYTHONPATH=KUBESIM, KUBESIM_VERSION="1.37.1")
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "kubesim.kubelet", *args], capture_output=True,
                          text=True, env=full, timeout=timeout)


def mounts_file(tmp_path, fstype):
    p = tmp_path / "mounts"
    p.write_text(f"sysfs /sys sysfs rw 0 0\n{fstype} /sys/fs/cgroup {fstype} rw 0 0\n")
    return str(p)


def test_unknown_and_removed_flags_are_refused():
    res = kubelet("--pod-infra-container-image=registry.k8s.io/pause:3.10")
    assert res.returncode == 1
    assert ('"command failed" err="failed to parse kubelet flag: unknown flag: '
            '--pod-infra-container-image"') in res.stderr


def test_exits_while_config_yaml_missing(tmp_path):
    # what systemd runs before kubeadm init/join (the drop-in's flags)
    cfg = tmp_path / "var/lib/kubelet/config.yaml"
    res = kubelet(f"--bootstrap-kubeconfig={tmp_path}/etc/kubernetes/bootstrap-kubelet.conf",
                  f"--kubeconfig={tmp_path}/etc/kubernetes/kubelet.conf", f"--config={cfg}")
    assert res.returncode == 1
    assert (f'"command failed" err="failed to load kubelet config file, path: {cfg}, error: failed to '
            f'load Kubelet config file {cfg}, error failed to read kubelet config file \\"{cfg}\\", '
            f'error: open {cfg}: no such file or directory"') in res.stderr


def test_wrong_config_kind_is_refused(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: Nope\n")
    res = kubelet(f"--config={cfg}")
    assert res.returncode == 1 and 'no kind \\"Nope\\" is registered' in res.stderr


def test_cgroup_v1_refused_by_default(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(KUBELET_CONFIG)
    res = kubelet(f"--config={cfg}", env={"KUBESIM_PROC_MOUNTS": mounts_file(tmp_path, "tmpfs")})
    assert res.returncode == 1
    assert ("failed to validate kubelet configuration, error: kubelet is configured to not run on a "
            "host using cgroup v1. cgroup v1 support is unsupported and will be removed in a future "
            "release") in res.stderr


def test_cgroup_v1_allowed_with_opt_in_and_v2_passes(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(KUBELET_CONFIG + "failCgroupV1: false\n")
    res = kubelet(f"--config={cfg}", f"--kubeconfig={tmp_path}/none.conf",
                  env={"KUBESIM_PROC_MOUNTS": mounts_file(tmp_path, "tmpfs")})
    assert "cgroup v1 detected. cgroup v1 support is unsupported" in res.stderr  # the warning
    assert "configured to not run on a host using cgroup v1" not in res.stderr
    cfg.write_text(KUBELET_CONFIG)
    res = kubelet(f"--config={cfg}", f"--kubeconfig={tmp_path}/none.conf",
                  env={"KUBESIM_PROC_MOUNTS": mounts_file(tmp_path, "cgroup2")})
    assert "cgroup v1" not in res.stderr
    assert res.returncode == 1  # it goes on and stops at the missing kubeconfig


def test_runtime_not_answering_is_fatal(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(KUBELET_CONFIG)
    kc = tmp_path / "kubelet.conf"
    kc.write_text("apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts: [{name: c, context: "
                  "{cluster: k, user: u}}]\nclusters: [{name: k, cluster: {server: 'https://127.0.0.1:1'}}]\n"
                  "users: [{name: u, user: {token: x}}]\n")
    sock = tmp_path / "containerd.sock"
    res = kubelet(f"--config={cfg}", f"--kubeconfig={kc}", f"--container-runtime-endpoint=unix://{sock}",
                  env={"KUBESIM_PROC_MOUNTS": mounts_file(tmp_path, "cgroup2")})
    assert res.returncode == 1
    assert (f'validate CRI v1 runtime API for endpoint \\"unix://{sock}\\": rpc error: code = Unavailable'
            in res.stderr)


def test_cri_client_dead_socket(tmp_path):
    with pytest.raises(cri.CRIError, match="no such file or directory"):
        cri.status(f"unix://{tmp_path}/nothing.sock")


def test_protobuf_decoding():
    # RuntimeConfigResponse{linux: {cgroup_driver: CGROUPFS(1)}}
    assert cri.pb_fields(b"\x0a\x02\x08\x01") == {1: [b"\x08\x01"]}
    assert cri.pb_fields(b"\x08\x96\x01") == {1: [150]}


def test_protobuf_encoding_of_pod_requests():
    # proto3 defaults are left out; int64 -1 is ten bytes; repeated strings repeat the tag
    assert cri.msg((1, ""), (2, 0), (3, False), (4, None)) == b""
    assert cri.msg((2, -1)) == b"\x10" + b"\xff" * 9 + b"\x01"
    assert cri.msg((3, ["a", "b"])) == b"\x1a\x01a\x1a\x01b"
    cfg = cri.pod_sandbox_config("web", "default", "u-1", hostname="web", log_directory="/var/log/pods/x",
                                 labels={"b": "2", "a": "1"}, cgroup_parent="kubepods-besteffort-podu_1.slice")
    f = cri.pb_fields(cfg)
    meta = cri.pb_fields(f[1][0])
    assert (meta[1], meta[2], meta[3], meta.get(4)) == ([b"web"], [b"u-1"], [b"default"], None)
    assert f[2] == [b"web"] and f[3] == [b"/var/log/pods/x"]
    assert [cri.pb_fields(e) for e in f[6]] == [{1: [b"a"], 2: [b"1"]}, {1: [b"b"], 2: [b"2"]}]  # map, sorted
    linux = cri.pb_fields(f[8][0])
    ns = cri.pb_fields(cri.pb_fields(linux[2][0])[1][0])
    assert linux[1] == [b"kubepods-besteffort-podu_1.slice"] and ns == {2: [cri.NS_CONTAINER]}  # network POD = 0
    c = cri.pb_fields(cri.container_config("nginx", "docker.io/library/nginx:latest", args=["-g", "daemon off;"],
                                           envs={"A": "1"}, log_path="nginx/0.log"))
    assert cri.pb_fields(c[2][0]) == {1: [b"docker.io/library/nginx:latest"]}
    assert c[4] == [b"-g", b"daemon off;"] and c[11] == [b"nginx/0.log"] and 3 not in c
    assert cri.pb_fields(c[6][0]) == {1: [b"A"], 2: [b"1"]}


def test_ensure_image_as_the_kubelets_image_manager(monkeypatch):
    present = {"docker.io/library/nginx:latest": {"id": "sha256:abc", "repo_tags": [], "size": 1}}
    monkeypatch.setattr(cri, "image_status", lambda endpoint, image, timeout=10.0: present.get(image))
    assert cri.ensure_image("unix:///x", "docker.io/library/nginx:latest", "Never") == "sha256:abc"
    assert cri.ensure_image("unix:///x", "docker.io/library/nginx:latest") == "sha256:abc"
    with pytest.raises(cri.ImageNotReady) as err:
        cri.ensure_image("unix:///x", "docker.io/library/absent:1", "Never")
    assert (err.value.reason, err.value.message) == (
        "ErrImageNeverPull", 'Container image "docker.io/library/absent:1" is not present with pull policy of Never')
    with pytest.raises(cri.ImageNotReady) as err:
        cri.ensure_image("unix:///x", "docker.io/library/absent:1", "IfNotPresent")
    assert err.value.reason == "ErrImagePull"


# ------------------------------------------------------------------- flannel
NET_CONF = {"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}
CNI_CONF = {"name": "cbr0", "cniVersion": "0.3.1", "plugins": [{"type": "flannel"}, {"type": "portmap"}]}


def flannel_pod():
    return {
        "metadata": {"name": "kube-flannel-ds-abcde", "namespace": "kube-flannel", "uid": "u"},
        "spec": {
            "hostNetwork": True,
            "initContainers": [
                {"name": "install-cni-plugin", "image": "ghcr.io/flannel-io/flannel-cni-plugin:v1.7.1-flannel1",
                 "command": ["cp"], "args": ["-f", "/flannel", "/opt/cni/bin/flannel"],
                 "volumeMounts": [{"name": "cni-plugin", "mountPath": "/opt/cni/bin"}]},
                {"name": "install-cni", "image": "ghcr.io/flannel-io/flannel:v0.27.4", "command": ["cp"],
                 "args": ["-f", "/etc/kube-flannel/cni-conf.json", "/etc/cni/net.d/10-flannel.conflist"],
                 "volumeMounts": [{"name": "cni", "mountPath": "/etc/cni/net.d"},
                                  {"name": "flannel-cfg", "mountPath": "/etc/kube-flannel/"}]}],
            "containers": [{"name": "kube-flannel", "image": "ghcr.io/flannel-io/flannel:v0.27.4",
                            "command": ["/opt/bin/flanneld"], "args": ["--ip-masq", "--kube-subnet-mgr"],
                            "volumeMounts": [{"name": "run", "mountPath": "/run/flannel"},
                                             {"name": "flannel-cfg", "mountPath": "/etc/kube-flannel/"}]}],
            "volumes": [{"name": "run", "hostPath": {"path": "/run/flannel"}},
                        {"name": "cni-plugin", "hostPath": {"path": "/opt/cni/bin"}},
                        {"name": "cni", "hostPath": {"path": "/etc/cni/net.d"}},
                        {"name": "flannel-cfg", "configMap": {"name": "kube-flannel-cfg"}}],
        },
    }


@pytest.fixture
def hostroot(tmp_path, monkeypatch):
    root = tmp_path / "root"
    images = tmp_path / "images"
    (images / "flannel-cni-plugin").mkdir(parents=True)
    (images / "flannel-cni-plugin" / "flannel").write_bytes(b"#!/bin/sh\nexit 1\n")
    monkeypatch.setenv("KUBESIM_HOST_ROOT", str(root))
    monkeypatch.setenv("KUBESIM_IMAGES_DIR", str(images))
    return root


def ctx_for(pod, net_conf=NET_CONF):
    cm = {"data": {"net-conf.json": json.dumps(net_conf), "cni-conf.json": json.dumps(CNI_CONF)}}
    return pods.PodContext(pod, lambda ns, name: cm if name == "kube-flannel-cfg" else None)


def test_flannel_init_containers_install_plugin_and_conflist(hostroot):
    pod = flannel_pod()
    ctx = ctx_for(pod)
    for ic in pod["spec"]["initContainers"]:
        assert pods.run_init_container(ctx, ic) == (0, "")
    plugin = hostroot / "opt/cni/bin/flannel"
    assert plugin.read_bytes().startswith(b"#!/bin/sh") and os.access(plugin, os.X_OK)
    assert json.loads((hostroot / "etc/cni/net.d/10-flannel.conflist").read_text()) == CNI_CONF


def test_flannel_init_container_missing_image_content(hostroot, tmp_path, monkeypatch):
    monkeypatch.setenv("KUBESIM_IMAGES_DIR", str(tmp_path / "empty"))
    pod = flannel_pod()
    code, msg = pods.run_init_container(ctx_for(pod), pod["spec"]["initContainers"][0])
    assert code == 1 and msg == "cp: can't stat '/flannel': No such file or directory"


def kube_node(cidr):
    return {"metadata": {"name": "node1"}, "spec": {"podCIDR": cidr} if cidr else {}}


def test_flanneld_network_matches(hostroot):
    pod = flannel_pod()
    ok, err, env = pods.flanneld_check(ctx_for(pod), pod["spec"]["containers"][0], kube_node("10.244.1.0/24"))
    assert ok and err == ""
    assert env == ("FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\n"
                   "FLANNEL_IPMASQ=true\n")


def test_flanneld_mtu_follows_the_interface(hostroot):
    pod = flannel_pod()
    ok, _, env = pods.flanneld_check(ctx_for(pod), pod["spec"]["containers"][0], kube_node("10.244.1.0/24"),
                                     iface_mtu=9000)
    assert ok and "FLANNEL_MTU=8950\n" in env


class FakeNet:
    """Records the ip/bridge commands flanneld's vxlan backend runs; answers `ip -j` from a small host model."""

    def __init__(self, monkeypatch, default_route=True):
        self.calls = []
        self.links = [{"ifname": "lo", "mtu": 65536}, {"ifname": "eth0", "mtu": 1500}]
        self.addrs = [{"ifname": "eth0", "addr_info": [{"family": "inet", "local": "172.30.1.10", "prefixlen": 24}]}]
        self.default_route = default_route
        monkeypatch.setattr(flanneld, "_ip", self.ip)
        monkeypatch.setattr(flanneld, "_ipj", self.ipj)
        monkeypatch.setattr(flanneld, "_bridge", self.bridge)

    def ip(self, *args, check=True):
        self.calls.append(("ip", *args))
        return subprocess.CompletedProcess(args, 0, "", "")

    def bridge(self, *args):
        self.calls.append(("bridge", *args))
        return subprocess.CompletedProcess(args, 0, "", "")

    def ipj(self, *args):
        if args[:2] == ("link", "show") and len(args) == 2:
            return self.links
        if args[:3] == ("-4", "addr", "show") and len(args) == 3:
            return self.addrs
        if args[:3] == ("-4", "route", "show"):
            return [{"dst": "default", "gateway": "172.30.1.1", "dev": "eth0"}] if self.default_route else []
        if args[:3] == ("-d", "link", "show"):
            return []
        if args == ("link", "show", "flannel.1"):
            return [{"ifname": "flannel.1", "address": "aa:bb:cc:00:00:01"}]
        return []


class FakeClient:
    def __init__(self):
        self.patches = []

    def patch(self, path, body):
        self.patches.append((path, body))


def flannel_node(name, cidr, mac, ip):
    return {"metadata": {"name": name, "annotations": {
        "flannel.alpha.coreos.com/backend-type": "vxlan",
        "flannel.alpha.coreos.com/backend-data": json.dumps({"VNI": 1, "VtepMAC": mac}),
        "flannel.alpha.coreos.com/public-ip": ip}}, "spec": {"podCIDR": cidr}}


def test_flanneld_vxlan_device_annotations_and_subnet_events(monkeypatch):
    net = FakeNet(monkeypatch)
    client = FakeClient()
    f = flanneld.Flanneld(client, "node1", lambda m: None)
    assert f.interface(["/opt/bin/flanneld", "--ip-masq", "--kube-subnet-mgr"]) == (True, "", 1500)
    assert f.start({"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}, kube_node("10.244.1.0/24"), 1500) \
        == (True, "")
    assert ("ip", "link", "add", "flannel.1", "type", "vxlan", "id", "1", "local", "172.30.1.10", "dev", "eth0",
            "dstport", "8472", "nolearning") in net.calls
    assert ("ip", "link", "set", "flannel.1", "mtu", "1450") in net.calls
    assert ("ip", "addr", "replace", "10.244.1.0/32", "dev", "flannel.1") in net.calls
    assert client.patches == [("/api/v1/nodes/node1", {"metadata": {"annotations": {
        "flannel.alpha.coreos.com/backend-type": "vxlan",
        "flannel.alpha.coreos.com/backend-data": '{"VNI":1,"VtepMAC":"aa:bb:cc:00:00:01"}',
        "flannel.alpha.coreos.com/kube-subnet-manager": "true",
        "flannel.alpha.coreos.com/public-ip": "172.30.1.10"}}})]
    net.calls.clear()
    me = flannel_node("node1", "10.244.1.0/24", "aa:bb:cc:00:00:01", "172.30.1.10")
    other = flannel_node("node2", "10.244.2.0/24", "aa:bb:cc:00:00:02", "172.30.1.11")
    bare = {"metadata": {"name": "node3"}, "spec": {"podCIDR": "10.244.3.0/24"}}  # no flannel there yet
    f.sync([me, other, bare])
    assert net.calls == [
        ("ip", "neigh", "replace", "10.244.2.0", "lladdr", "aa:bb:cc:00:00:02", "dev", "flannel.1", "nud", "permanent"),
        ("bridge", "fdb", "replace", "aa:bb:cc:00:00:02", "dev", "flannel.1", "dst", "172.30.1.11", "self", "permanent"),
        ("ip", "route", "replace", "10.244.2.0/24", "via", "10.244.2.0", "dev", "flannel.1", "onlink")]
    net.calls.clear()
    f.sync([me, other, bare])
    assert net.calls == []  # in sync: nothing to do
    f.sync([me])  # node2 went away
    assert net.calls == [
        ("ip", "route", "del", "10.244.2.0/24", "via", "10.244.2.0", "dev", "flannel.1", "onlink"),
        ("ip", "neigh", "del", "10.244.2.0", "dev", "flannel.1"),
        ("bridge", "fdb", "del", "aa:bb:cc:00:00:02", "dev", "flannel.1", "dst", "172.30.1.11", "self")]
    net.calls.clear()
    f.stop()
    assert net.calls == [("ip", "link", "del", "flannel.1")] and not f.active


def test_flanneld_interface_errors(monkeypatch):
    FakeNet(monkeypatch, default_route=False)
    f = flanneld.Flanneld(FakeClient(), "node1", lambda m: None)
    ok, err, _ = f.interface(["/opt/bin/flanneld", "--kube-subnet-mgr"])
    assert not ok and err == ("Failed to find any valid interface to use: failed to get default interface: "
                              "Unable to find default route")
    ok, err, _ = f.interface(["/opt/bin/flanneld", "--iface=eth9"])
    assert not ok and err.startswith("Failed to find interface to use that matches the interfaces and/or regexes "
                                     "provided: error looking up interface eth9")
    assert f.interface(["/opt/bin/flanneld", "--iface", "172.30.1.10"]) == (True, "", 1500)
    assert (f.iface, f.public_ip) == ("eth0", "172.30.1.10")


def test_flanneld_network_mismatch_wording(hostroot):
    pod = flannel_pod()
    ok, err, _ = pods.flanneld_check(ctx_for(pod, {"Network": "10.10.0.0/16"}), pod["spec"]["containers"][0],
                                     kube_node("10.244.1.0/24"))
    assert not ok
    assert err == ('Error registering network: failed to acquire lease: subnet "10.10.0.0/16" specified '
                   'in the flannel net config doesn\'t contain "10.244.1.0/24" PodCIDR of the "node1" node')


def test_flanneld_without_pod_cidr(hostroot):
    pod = flannel_pod()
    ok, err, _ = pods.flanneld_check(ctx_for(pod), pod["spec"]["containers"][0], kube_node(None))
    assert not ok
    assert err == 'Error registering network: failed to acquire lease: node "node1" pod cidr not assigned'


# --------------------------------------------------------------- static pods
def test_static_pod_image_mapping():
    def pod(image, command):
        return {"kind": "Pod", "metadata": {"name": "x"},
                "spec": {"containers": [{"name": "c", "image": image, "command": command}]}}
    argv, _ = staticpods.command_for(pod("registry.k8s.io/etcd:3.6.5-0", ["etcd", "--data-dir=/var/lib/etcd"]))
    assert argv == ["/usr/bin/etcd", "--data-dir=/var/lib/etcd"]
    argv, _ = staticpods.command_for(pod("registry.aliyuncs.com/google_containers/kube-apiserver:v1.37.1",
                                         ["kube-apiserver", "--secure-port=6443"]))
    assert argv[1:] == ["-m", "kubesim.apiserver", "--secure-port=6443"]
    argv, _ = staticpods.command_for(pod("registry.k8s.io/kube-controller-manager:v1.37.1",
                                         ["kube-controller-manager", "--leader-elect=true"]))
    assert argv[1:] == ["-m", "kubesim.controllers", "--leader-elect=true"]
    argv, _ = staticpods.command_for(pod("registry.k8s.io/kube-scheduler:v1.37.1", ["kube-scheduler"]))
    assert argv[1:] == ["-m", "kubesim.scheduler"]
    argv, why = staticpods.command_for(pod("nginx:1.27", ["nginx"]))
    assert argv is None and "no stand-in program" in why


def test_manifest_reading_skips_hidden_and_reports_bad(tmp_path):
    (tmp_path / ".hidden.yaml").write_text("kind: Pod\nmetadata: {name: h}\n")
    (tmp_path / "good.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: g, namespace: kube-system}\n")
    (tmp_path / "bad.yaml").write_text("kind: Service\n")
    out = staticpods.read_manifests(str(tmp_path))
    assert set(out) == {"good.yaml", "bad.yaml"}
    assert out["good.yaml"][0]["metadata"]["name"] == "g" and out["bad.yaml"][0] is None


def test_static_pods_as_transient_systemd_units(tmp_path, monkeypatch):
    """With a recording fake systemd-run/systemctl on PATH: start, no-op, restart on change, stop."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    calls = tmp_path / "calls"
    state = tmp_path / "active"
    (bindir / "systemd-run").write_text(f'#!/bin/sh\necho "systemd-run $*" >> {calls}\ntouch {state}\n')
    (bindir / "systemctl").write_text(
        f'#!/bin/sh\necho "systemctl $*" >> {calls}\n'
        f'if [ "$1" = show ]; then for u in "$@"; do case "$u" in *.service) echo "Id=$u"; '
        f'if [ -e {state} ]; then echo ActiveState=active; else echo ActiveState=inactive; fi; '
        f'echo NRestarts=2; echo;; esac; done; fi\n'
        f'if [ "$1" = stop ]; then rm -f {state}; fi\n')
    for f in bindir.iterdir():
        f.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.delenv("KUBESIM_STATIC_POD_RUNNER", raising=False)
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    etcd = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "etcd", "namespace": "kube-system"},
            "spec": {"containers": [{"name": "etcd", "image": "registry.k8s.io/etcd:3.6.5-0",
                                     "command": ["etcd", "--data-dir=/var/lib/etcd", "--name=cp1"]}]}}
    (manifests / "etcd.yaml").write_text(json.dumps(etcd))
    runner = staticpods.StaticPodRunner(str(tmp_path / "state"), lambda m: None)
    wanted = runner.sync(staticpods.read_manifests(str(manifests)))
    assert list(wanted) == ["kubesim-static-etcd"]
    log = calls.read_text()
    run_line = [l for l in log.splitlines() if l.startswith("systemd-run")][0]
    assert ("systemd-run --unit=kubesim-static-etcd --property=Restart=always --property=RestartSec=2"
            in run_line)
    assert run_line.endswith("/usr/bin/etcd --data-dir=/var/lib/etcd --name=cp1")
    assert "--setenv=PYTHONPATH=" in run_line
    assert runner.active("kubesim-static-etcd") and runner.restarts("kubesim-static-etcd") == 2
    calls.write_text("")
    runner.sync(staticpods.read_manifests(str(manifests)))      # unchanged: nothing started
    assert "systemd-run" not in calls.read_text()
    etcd["spec"]["containers"][0]["command"].append("--snapshot-count=10000")
    (manifests / "etcd.yaml").write_text(json.dumps(etcd))
    runner.sync(staticpods.read_manifests(str(manifests)))      # changed: stop + start
    log = calls.read_text()
    assert "systemctl stop kubesim-static-etcd.service" in log and "--snapshot-count=10000" in log
    calls.write_text("")
    (manifests / "etcd.yaml").unlink()
    assert runner.sync(staticpods.read_manifests(str(manifests))) == {}
    assert "systemctl stop kubesim-static-etcd.service" in calls.read_text()


def test_etcd36_flags_mapped_to_installed_etcd_spelling():
    args = ["--feature-gates=InitialCorruptCheck=true,CompactHashCheck=true", "--watch-progress-notify-interval=5s",
            "--data-dir=/var/lib/etcd", "--snapshot-count=10000"]
    assert staticpods.etcd_args_for((3, 4), args) == [
        "--experimental-initial-corrupt-check=true", "--experimental-compact-hash-check-enabled=true",
        "--experimental-watch-progress-notify-interval=5s", "--data-dir=/var/lib/etcd", "--snapshot-count=10000"]
    assert staticpods.etcd_args_for((3, 6), args) == args


def test_node_labels_in_kubernetes_io_namespace_refused(tmp_path):
    from kubesim.kubelet.__main__ import node_label_allowed
    assert node_label_allowed("example.com/rack") and node_label_allowed("node.kubernetes.io/pool")
    assert node_label_allowed("topology.kubernetes.io/zone")
    assert not node_label_allowed("node-role.kubernetes.io/worker")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(KUBELET_CONFIG + "failCgroupV1: false\n")
    kc = tmp_path / "kubelet.conf"
    kc.write_text("apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts: [{name: c, context: "
                  "{cluster: k, user: u}}]\nclusters: [{name: k, cluster: {server: 'https://127.0.0.1:1'}}]\n"
                  "users: [{name: u, user: {token: x}}]\n")
    res = kubelet(f"--config={cfg}", f"--kubeconfig={kc}", "--node-labels=node-role.kubernetes.io/worker=",
                  env={"KUBESIM_PROC_MOUNTS": mounts_file(tmp_path, "cgroup2")})
    assert res.returncode == 1
    assert ("unknown 'kubernetes.io' or 'k8s.io' labels specified with --node-labels: "
            "[node-role.kubernetes.io/worker]") in res.stderr


def test_node_not_ready_when_runtime_down(tmp_path, monkeypatch):
    from kubesim.kubelet import agent
    monkeypatch.setenv("KUBESIM_HOST_ROOT", str(tmp_path))
    k = agent.Kubelet(client=None, node_name="n1", node_ip="127.0.0.1", config={},
                      runtime_endpoint=f"unix://{tmp_path}/gone.sock", runtime_version="containerd://2.1.9",
                      root_dir=str(tmp_path / "kubelet"), log=lambda m: None, version="v1.37.1")
    runtime_ok, network_ok, message = k.runtime_state()
    assert not runtime_ok and not network_ok
    assert message.startswith("container runtime is down: ")
    ready = [c for c in k.build_conditions(runtime_ok, network_ok, message) if c["type"] == "Ready"][0]
    assert (ready["status"], ready["reason"]) == ("False", "KubeletNotReady")


def test_swap_on_refused_unless_fail_swap_on_false(tmp_path, monkeypatch):
    from kubesim.kubelet import __main__ as kubelet_main
    swaps = tmp_path / "swaps"
    monkeypatch.setenv("KUBESIM_PROC_SWAPS", str(swaps))
    swaps.write_text("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
                     "/dev/dm-1                               partition\t16760828\t0\t\t-2\n")
    assert kubelet_main.swap_refusal({}) == ("running with swap on is not supported, please disable swap or set "
                                             "--fail-swap-on flag to false")
    assert kubelet_main.swap_refusal({"failSwapOn": True}) is not None
    assert kubelet_main.swap_refusal({"failSwapOn": False}) is None
    swaps.write_text("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n")  # header only: swap off
    assert kubelet_main.swap_refusal({}) is None


def test_node_ip_must_be_a_host_address(tmp_path, monkeypatch):
    from kubesim.kubelet import agent, host
    own = next(str(ip) for ip in host.interface_addresses() if not ip.is_loopback)
    assert host.validate_node_ip(own) is None
    assert host.validate_node_ip("198.51.100.77") == 'node IP: "198.51.100.77" not found in the host\'s network interfaces'
    assert host.validate_node_ip("127.0.0.1") == "nodeIP can't be loopback address"
    errors = []
    monkeypatch.setenv("KUBESIM_HOST_ROOT", str(tmp_path))

    def make(ip):
        return agent.Kubelet(client=None, node_name="n1", node_ip=ip, config={}, node_ip_explicit=True,
                             runtime_endpoint=f"unix://{tmp_path}/gone.sock", runtime_version="containerd://2.1.9",
                             root_dir=str(tmp_path / "kubelet"), log=lambda m: None, log_error=errors.append,
                             version="v1.37.1")
    # not fatal (as the kubelet): the status setter fails, is logged, and the Node gets no addresses
    assert make("198.51.100.77").node_addresses() is None
    assert errors == ['"Failed to set some node status fields" err="failed to validate nodeIP: node IP: '
                      '\\"198.51.100.77\\" not found in the host\'s network interfaces" node="n1"']
    assert make(own).node_addresses() == [{"type": "InternalIP", "address": own},
                                          {"type": "Hostname", "address": "n1"}]
    assert len(errors) == 1


def test_kube_proxy_chain_names_and_rules_as_proxier():
    from kubesim.kubelet import kubeproxy
    # the names kube-proxy's own tests expect (pkg/proxy/iptables/proxier_test.go)
    assert kubeproxy.port_proto_hash("ns1/svc1:p80", "tcp") == "XPGD46QRK7WJZT7O"
    assert kubeproxy.sep_hash("ns1/svc1:p80", "tcp", "10.180.0.1:80") == "SXIVWICOYRO3J4NJ"
    svc = {"metadata": {"name": "svc1", "namespace": "ns1"},
           "spec": {"type": "NodePort", "clusterIP": "172.30.0.41",
                    "ports": [{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": 30080}]}}
    unready = {"addresses": ["10.180.0.9"], "conditions": {"ready": False}}
    sl = {"metadata": {"namespace": "ns1", "labels": {"kubernetes.io/service-name": "svc1"}}, "addressType": "IPv4",
          "ports": [{"name": "p80", "port": 80, "protocol": "TCP"}],
          "endpoints": [{"addresses": ["10.180.0.1"], "conditions": {"ready": True}},
                        {"addresses": ["10.180.0.2"], "conditions": {"ready": True}}, unready]}
    no_endpoints = {"metadata": {"name": "empty", "namespace": "ns1"},
                    "spec": {"clusterIP": "172.30.0.42", "ports": [{"port": 80}]}}
    chains, rules, svc_chains = kubeproxy.build_rules([svc, no_endpoints], [sl], "10.0.0.0/8")
    sep1 = "KUBE-SEP-SXIVWICOYRO3J4NJ"
    sep2 = "KUBE-SEP-" + kubeproxy.sep_hash("ns1/svc1:p80", "tcp", "10.180.0.2:80")
    assert svc_chains == {"KUBE-SVC-XPGD46QRK7WJZT7O", "KUBE-EXT-XPGD46QRK7WJZT7O", sep1, sep2}
    assert rules[4:] == [
        '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41/32 --dport 80 '
        '-j KUBE-SVC-XPGD46QRK7WJZT7O',
        '-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41/32 '
        '--dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ',
        '-A KUBE-NODEPORTS -m comment --comment "ns1/svc1:p80" -m tcp -p tcp --dport 30080 -j KUBE-EXT-XPGD46QRK7WJZT7O',
        '-A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment "masquerade traffic for ns1/svc1:p80 external destinations" '
        '-j KUBE-MARK-MASQ',
        '-A KUBE-EXT-XPGD46QRK7WJZT7O -j KUBE-SVC-XPGD46QRK7WJZT7O',
        '-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m statistic --mode random '
        f'--probability 0.5000000000 -j {sep1}',
        f'-A {sep1} -m comment --comment "ns1/svc1:p80" -s 10.180.0.1/32 -j KUBE-MARK-MASQ',
        f'-A {sep1} -m comment --comment "ns1/svc1:p80" -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80',
        f'-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.2:80" -j {sep2}',
        f'-A {sep2} -m comment --comment "ns1/svc1:p80" -s 10.180.0.2/32 -j KUBE-MARK-MASQ',
        f'-A {sep2} -m comment --comment "ns1/svc1:p80" -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80',
        '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this '
        'chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS']

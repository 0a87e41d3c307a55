"""The API server stand-in against a real etcd (TLS, loopback) and the real kubectl."""

import base64
import datetime
import hashlib
import hmac
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import pytest
import yaml

from conftest import HERE, KUBECTL, NODE_BOOTSTRAP_RBAC, bootstrap_token_secret, cluster_role_binding, run_kubectl

from kubesim.apiserver import testenv

FLANNEL = os.path.join(HERE, "data", "kf-api-flannel-like.yaml")

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/etcd") or not KUBECTL,
                                reason="needs Debian's etcd-server and kubectl")


@pytest.fixture(scope="module")
def cluster():
    d = tempfile.mkdtemp(prefix="kf-api-test-")
    e = testenv.Etcd(d).start()
    c = testenv.Cluster(d, e)
    try:
        c.start()
        c.super_admin = c.kubeconfig("super-admin", "kubernetes-super-admin", ["system:masters"])
        yield c
    finally:
        c.stop()
        e.stop()
        testenv.cleanup(d)


def kubectl(c, *args, conf=None, check=True, timeout=60, stdin=None):
    return run_kubectl(conf or c.super_admin, *args, check=check, timeout=timeout, stdin=stdin,
                       cache_dir=os.path.join(c.dir, "kubectl-cache"))


def https(c, path, method="GET", body=None, cert=None, token=None, headers=None):
    ctx = ssl.create_default_context(cafile=os.path.join(c.pki, "ca.crt"))
    ctx.verify_flags &= ~getattr(ssl, "VERIFY_X509_STRICT", 0)
    if cert:
        ctx.load_cert_chain(*cert)
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    req = urllib.request.Request("https://127.0.0.1:%d%s" % (c.port, path), data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=20) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


NODE = """
apiVersion: v1
kind: Node
metadata:
  name: {name}
  labels:
    kubernetes.io/hostname: {name}
    node-role.kubernetes.io/control-plane: ""
spec:
  podCIDR: 10.244.0.0/24
status:
  addresses:
  - {{type: InternalIP, address: 172.30.10.10}}
  - {{type: Hostname, address: {name}}}
  nodeInfo:
    kubeletVersion: v1.37.1
    osImage: Debian GNU/Linux 12 (bookworm)
    kernelVersion: 6.1.0-kf
    containerRuntimeVersion: containerd://2.1.4
    architecture: amd64
    operatingSystem: linux
  conditions:
  - type: Ready
    status: "False"
    reason: KubeletNotReady
    message: container runtime network not ready
"""


def make_node(c, name):
    kubectl(c, "create", "-f", "-", stdin=NODE.format(name=name))


def apply_obj(c, obj, conf=None):
    return kubectl(c, "apply", "-f", "-", conf=conf, stdin=json.dumps(obj))


# --- command line -----------------------------------------------------------------------------------
def test_unknown_flag_rejected():
    env = dict(os.environ, PYTHONPATH=testenv.KUBESIM_ROOT)
    p = subprocess.run([sys.executable, "-m", "kubesim.apiserver", "--etcd-servers=https://127.0.0.1:1", "--x=1"],
                       capture_output=True, text=True, env=env, timeout=30)
    assert p.returncode == 1
    assert "Error: unknown flag: --x" in p.stderr


# --- health, version, discovery ---------------------------------------------------------------------
def test_health_version_anonymous(cluster):
    for path in ("/healthz", "/livez", "/readyz"):
        assert https(cluster, path) == (200, "ok")
    code, body = https(cluster, "/version")
    assert code == 200 and json.loads(body)["gitVersion"] == "v1.37.1"
    p = kubectl(cluster, "version", "-o", "json")
    assert json.loads(p.stdout)["serverVersion"]["gitVersion"] == "v1.37.1"
    # anonymous may not list anything
    code, body = https(cluster, "/api/v1/namespaces")
    assert code == 403
    assert json.loads(body)["message"] == ('namespaces is forbidden: User "system:anonymous" cannot list resource '
                                           '"namespaces" in API group "" at the cluster scope')


def test_discovery_aggregated_and_legacy(cluster):
    admin = (os.path.join(cluster.pki, "super-admin.crt"), os.path.join(cluster.pki, "super-admin.key"))
    code, body = https(cluster, "/apis", cert=admin, headers={
        "Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"})
    assert code == 200
    groups = {i["metadata"]["name"] for i in json.loads(body)["items"]}
    assert {"apps", "rbac.authorization.k8s.io", "coordination.k8s.io", "certificates.k8s.io"} <= groups
    code, body = https(cluster, "/apis", cert=admin)
    assert json.loads(body)["kind"] == "APIGroupList"
    out = kubectl(cluster, "api-resources").stdout
    assert "daemonsets" in out and "ds" in out and "leases" in out


# --- kubectl get / create / tables ------------------------------------------------------------------
def test_get_nodes_table_and_wide(cluster):
    make_node(cluster, "kf-node-1")
    out = kubectl(cluster, "get", "nodes").stdout.splitlines()
    assert out[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert out[1].split()[:3] == ["kf-node-1", "NotReady", "control-plane"]
    assert out[1].split()[-1] == "v1.37.1"
    wide = kubectl(cluster, "get", "nodes", "-o", "wide").stdout.splitlines()
    assert wide[0].split()[:8] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP",
                                   "OS-IMAGE"]
    assert "172.30.10.10" in wide[1] and "containerd://2.1.4" in wide[1]


def test_create_namespace_and_typed_objects(cluster):
    # kubectl's typed clients send protobuf bodies
    kubectl(cluster, "create", "ns", "kf-ns")
    p = kubectl(cluster, "create", "ns", "kf-ns", check=False)
    assert p.returncode == 1
    assert 'Error from server (AlreadyExists): namespaces "kf-ns" already exists' in p.stderr
    kubectl(cluster, "-n", "kf-ns", "create", "configmap", "cm1", "--from-literal=a=b")
    kubectl(cluster, "-n", "kf-ns", "create", "secret", "generic", "s1", "--from-literal=x=y")
    out = kubectl(cluster, "-n", "kf-ns", "get", "secret", "s1").stdout.splitlines()
    assert out[0].split() == ["NAME", "TYPE", "DATA", "AGE"] and out[1].split()[:3] == ["s1", "Opaque", "1"]
    p = kubectl(cluster, "-n", "kf-ns", "get", "pod", "nope", check=False)
    assert 'Error from server (NotFound): pods "nope" not found' in p.stderr
    p = kubectl(cluster, "-n", "kf-missing", "create", "configmap", "x", check=False)
    assert 'namespaces "kf-missing" not found' in p.stderr
    names = kubectl(cluster, "get", "ns", "-o", "jsonpath={.items[*].metadata.name}").stdout.split()
    assert {"default", "kube-system", "kube-public", "kube-node-lease", "kf-ns"} <= set(names)
    svc = json.loads(kubectl(cluster, "get", "svc", "kubernetes", "-o", "json").stdout)
    assert svc["spec"]["clusterIP"] == "10.96.0.1"
    # auth can-i (SelfSubjectAccessReview, protobuf) with impersonation
    assert kubectl(cluster, "auth", "can-i", "list", "secrets", "-A").stdout.strip() == "yes"
    p = kubectl(cluster, "auth", "can-i", "list", "secrets", "-n", "kube-system", "--as=system:bootstrap:zzzzzz",
                check=False)
    assert p.returncode == 1 and p.stdout.strip() == "no"
    # validation errors read as upstream's
    bad = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "bad", "namespace": "kf-ns"},
           "spec": {"template": {"metadata": {"labels": {"a": "b"}},
                                 "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    p = kubectl(cluster, "apply", "-f", "-", stdin=json.dumps(bad), check=False)
    assert p.returncode == 1 and 'The DaemonSet "bad" is invalid: spec.selector: Required value' in p.stderr
    p = kubectl(cluster, "get", "pods", "-A", "--field-selector=spec.foo=x", check=False)
    assert "field label not supported: spec.foo" in p.stderr


def test_apply_client_side_then_unchanged_then_server_side(cluster):
    p = kubectl(cluster, "apply", "-f", FLANNEL)
    assert "daemonset.apps/kube-flannel-ds created" in p.stdout
    p = kubectl(cluster, "apply", "-f", FLANNEL)
    assert p.stdout.count("unchanged") == 6, p.stdout
    with open(FLANNEL) as f:
        changed = f.read().replace("'5000'", "'6000'").replace('"5000"', '"6000"').replace("--ip-masq", "--iface=eth0")
    p = kubectl(cluster, "apply", "-f", "-", stdin=changed)
    assert "daemonset.apps/kube-flannel-ds configured" in p.stdout
    ds = json.loads(kubectl(cluster, "-n", "kube-flannel", "get", "ds", "kube-flannel-ds", "-o", "json").stdout)
    c0 = ds["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "EVENT_QUEUE_DEPTH", "value": "6000"} in c0["env"]
    assert c0["args"] == ["--iface=eth0", "--kube-subnet-mgr"]
    assert ds["metadata"]["generation"] == 2
    p = kubectl(cluster, "apply", "--server-side", "-f", FLANNEL)
    assert p.stdout.count("serverside-applied") == 6, p.stdout
    ds = json.loads(kubectl(cluster, "-n", "kube-flannel", "get", "ds", "kube-flannel-ds", "-o", "json").stdout)
    assert ds["spec"]["template"]["spec"]["containers"][0]["args"] == ["--ip-masq", "--kube-subnet-mgr"]
    ds = json.loads(kubectl(cluster, "-n", "kube-flannel", "get", "ds", "kube-flannel-ds", "-o", "json",
                            "--show-managed-fields").stdout)
    assert any(m["manager"] == "kubectl" and m["operation"] == "Apply" for m in ds["metadata"]["managedFields"])
    out = kubectl(cluster, "-n", "kube-flannel", "get", "ds").stdout.splitlines()
    assert out[0].split()[:6] == ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE"]


def test_label_patch_and_output_formats(cluster):
    kubectl(cluster, "label", "node", "kf-node-1", "kf=one")
    p = kubectl(cluster, "label", "node", "kf-node-1", "kf=two", check=False)
    assert p.returncode != 0 and "already has a value" in p.stderr
    kubectl(cluster, "label", "node", "kf-node-1", "kf=two", "--overwrite")
    assert kubectl(cluster, "get", "nodes", "-l", "kf=two", "-o", "name").stdout.strip() == "node/kf-node-1"
    assert kubectl(cluster, "get", "nodes", "-l", "kf!=two", "-o", "name").stdout.strip() == ""
    kubectl(cluster, "patch", "node", "kf-node-1", "--type=merge", "-p", '{"metadata":{"annotations":{"a":"1"}}}')
    kubectl(cluster, "patch", "node", "kf-node-1", "--type=json", "-p",
            '[{"op":"add","path":"/metadata/annotations/b","value":"2"}]')
    kubectl(cluster, "patch", "node", "kf-node-1", "-p", '{"spec":{"taints":[{"key":"k","effect":"NoSchedule"}]}}')
    node = json.loads(kubectl(cluster, "get", "node", "kf-node-1", "-o", "json").stdout)
    assert node["metadata"]["annotations"] == {"a": "1", "b": "2"}
    assert node["spec"]["taints"] == [{"key": "k", "effect": "NoSchedule"}]
    y = yaml.safe_load(kubectl(cluster, "get", "node", "kf-node-1", "-o", "yaml").stdout)
    assert y["kind"] == "Node" and y["metadata"]["labels"]["kf"] == "two"
    jp = kubectl(cluster, "get", "node", "kf-node-1", "-o",
                 "jsonpath={.status.addresses[?(@.type=='InternalIP')].address}").stdout
    assert jp == "172.30.10.10"
    # strategic merge on a container list keeps the other containers and env entries
    kubectl(cluster, "-n", "kube-flannel", "patch", "ds", "kube-flannel-ds", "-p", json.dumps(
        {"spec": {"template": {"spec": {"containers": [{"name": "kube-flannel",
                                                        "env": [{"name": "KF", "value": "x"}]}]}}}}))
    ds = json.loads(kubectl(cluster, "-n", "kube-flannel", "get", "ds", "kube-flannel-ds", "-o", "json").stdout)
    env = [e["name"] for e in ds["spec"]["template"]["spec"]["containers"][0]["env"]]
    assert env[-1] == "KF" and "POD_NAME" in env
    assert len(ds["spec"]["template"]["spec"]["containers"]) == 1


def test_wait_for_ready_and_watch(cluster):
    def later():
        time.sleep(1.5)
        kubectl(cluster, "patch", "node", "kf-node-1", "--subresource=status", "-p", json.dumps(
            {"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                        "message": "kubelet is posting ready status"}]}}))
    watcher = subprocess.Popen([KUBECTL, "--kubeconfig", cluster.super_admin, "--cache-dir",
                                os.path.join(cluster.dir, "kubectl-cache"), "get", "nodes", "-w"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t = threading.Thread(target=later)
    t.start()
    p = kubectl(cluster, "wait", "--for=condition=Ready", "node/kf-node-1", "--timeout=20s")
    t.join()
    assert "node/kf-node-1 condition met" in p.stdout
    time.sleep(1)
    watcher.terminate()
    out, _ = watcher.communicate(timeout=10)
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["NAME", "STATUS"]
    assert any(line.split()[:2] == ["kf-node-1", "Ready"] for line in lines[1:]), out
    node = json.loads(kubectl(cluster, "get", "node", "kf-node-1", "-o", "json").stdout)
    ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"][0]
    assert ready["status"] == "True"
    # a status write does not touch spec or labels; a main-resource write does not touch status
    kubectl(cluster, "label", "node", "kf-node-1", "after=ready")
    node = json.loads(kubectl(cluster, "get", "node", "kf-node-1", "-o", "json").stdout)
    assert [c for c in node["status"]["conditions"] if c["type"] == "Ready"][0]["status"] == "True"
    p = kubectl(cluster, "wait", "--for=condition=Ready", "node/kf-node-1", "--timeout=5s")
    assert "condition met" in p.stdout


def test_conflict_generate_name_and_cascading_delete(cluster):
    admin = (os.path.join(cluster.pki, "super-admin.crt"), os.path.join(cluster.pki, "super-admin.key"))
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "kf-gen-", "namespace": "kf-ns"},
          "data": {"a": "1"}}
    code, body = https(cluster, "/api/v1/namespaces/kf-ns/configmaps", "POST", cm, cert=admin)
    assert code == 201
    obj = json.loads(body)
    name = obj["metadata"]["name"]
    assert name.startswith("kf-gen-") and len(name) == len("kf-gen-") + 5
    assert obj["metadata"]["uid"] and obj["metadata"]["creationTimestamp"]
    stale = dict(obj, data={"a": "2"})
    code, body = https(cluster, "/api/v1/namespaces/kf-ns/configmaps/" + name, "PUT", stale, cert=admin)
    assert code == 200
    code, body = https(cluster, "/api/v1/namespaces/kf-ns/configmaps/" + name, "PUT", stale, cert=admin)
    assert code == 409
    assert json.loads(body)["message"] == ('Operation cannot be fulfilled on configmaps "%s": the object has been '
                                           'modified; please apply your changes to the latest version and try '
                                           'again' % name)
    # ownerReferences: deleting the DaemonSet deletes its pods
    ds = json.loads(kubectl(cluster, "-n", "kube-flannel", "get", "ds", "kube-flannel-ds", "-o", "json").stdout)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "kube-flannel-ds-abcde", "namespace": "kube-flannel", "labels": {"app": "flannel"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "kube-flannel-ds",
                             "uid": ds["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"nodeName": "kf-node-1", "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}
    apply_obj(cluster, pod)
    out = kubectl(cluster, "-n", "kube-flannel", "get", "pods", "-o", "wide").stdout.splitlines()
    assert out[0].split()[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert out[1].split()[:3] == ["kube-flannel-ds-abcde", "0/1", "Pending"] and "kf-node-1" in out[1]
    fs = kubectl(cluster, "get", "pods", "-A", "--field-selector", "spec.nodeName=kf-node-1,status.phase=Pending",
                 "-o", "name").stdout.split()
    assert fs == ["pod/kube-flannel-ds-abcde"]
    p = kubectl(cluster, "-n", "kube-flannel", "delete", "ds", "kube-flannel-ds")
    assert 'daemonset.apps "kube-flannel-ds" deleted' in p.stdout
    deadline = time.time() + 10
    while time.time() < deadline:
        if not kubectl(cluster, "-n", "kube-flannel", "get", "pods", "-o", "name").stdout.strip():
            break
        time.sleep(0.3)
    else:
        raise AssertionError("dependent pod not garbage collected")
    kubectl(cluster, "delete", "ns", "kf-ns")
    p = kubectl(cluster, "get", "ns", "kf-ns", check=False)
    assert 'namespaces "kf-ns" not found' in p.stderr


CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": "ippools.crd.projectcalico.org"},
       "spec": {"group": "crd.projectcalico.org", "scope": "Cluster",
                "names": {"kind": "IPPool", "listKind": "IPPoolList", "plural": "ippools", "singular": "ippool"},
                "versions": [{"name": "v1", "served": True, "storage": True,
                              "additionalPrinterColumns": [{"name": "CIDR", "type": "string",
                                                            "jsonPath": ".spec.cidr"}],
                              "schema": {"openAPIV3Schema": {"type": "object",
                                                             "x-kubernetes-preserve-unknown-fields": True}}}]}}


def test_crd_and_custom_resources(cluster):
    apply_obj(cluster, CRD)
    pool = {"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
            "metadata": {"name": "default-ipv4-ippool"}, "spec": {"cidr": "10.244.0.0/16"}}
    deadline = time.time() + 10
    while kubectl(cluster, "apply", "-f", "-", stdin=json.dumps(pool), check=False).returncode:
        assert time.time() < deadline
        time.sleep(0.5)
    assert "unchanged" in apply_obj(cluster, pool).stdout
    out = kubectl(cluster, "get", "ippools").stdout.splitlines()
    assert out[0].split() == ["NAME", "CIDR", "AGE"] and out[1].split()[:2] == ["default-ipv4-ippool", "10.244.0.0/16"]
    pool["spec"]["cidr"] = "10.245.0.0/16"
    assert "configured" in apply_obj(cluster, pool).stdout
    kubectl(cluster, "apply", "--server-side", "-f", "-", stdin=json.dumps(pool))
    kubectl(cluster, "delete", "crd", "ippools.crd.projectcalico.org")
    deadline = time.time() + 10
    while kubectl(cluster, "get", "ippools", check=False).returncode == 0:
        assert time.time() < deadline
        time.sleep(0.3)
    apply_obj(cluster, CRD)
    time.sleep(1.5)
    assert kubectl(cluster, "get", "ippools", "-o", "name").stdout.strip() == ""


def test_smoke_test_style_workload(cluster):
    kubectl(cluster, "create", "deployment", "kf-web", "--image=nginx:1.27", "--replicas=2", "--port=80")
    kubectl(cluster, "expose", "deployment", "kf-web", "--type=NodePort", "--port=80")
    svc = json.loads(kubectl(cluster, "get", "svc", "kf-web", "-o", "json").stdout)
    assert svc["spec"]["type"] == "NodePort" and 30000 <= svc["spec"]["ports"][0]["nodePort"] <= 32767
    assert svc["spec"]["clusterIP"].startswith("10.9")
    # server-side apply conflicts with the field's other manager, unless forced
    applied = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "kf-web", "namespace": "default"},
               "spec": {"replicas": 5, "selector": {"matchLabels": {"app": "kf-web"}},
                        "template": {"metadata": {"labels": {"app": "kf-web"}},
                                     "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}}
    p = kubectl(cluster, "apply", "--server-side", "--field-manager=kf-role", "-f", "-", stdin=json.dumps(applied),
                check=False)
    assert p.returncode == 1
    assert ('error: Apply failed with 1 conflict: conflict with "kubectl-create" using apps/v1: .spec.replicas'
            in p.stderr), p.stderr
    kubectl(cluster, "apply", "--server-side", "--field-manager=kf-role", "--force-conflicts", "-f", "-",
            stdin=json.dumps(applied))
    d = json.loads(kubectl(cluster, "get", "deploy", "kf-web", "-o", "json", "--show-managed-fields").stdout)
    assert d["spec"]["replicas"] == 5
    owners = {m["manager"]: m["fieldsV1"] for m in d["metadata"]["managedFields"]}
    assert "f:replicas" in owners["kf-role"]["f:spec"]
    assert "f:replicas" not in owners["kubectl-create"].get("f:spec", {})
    kubectl(cluster, "scale", "deployment", "kf-web", "--replicas=3")
    d = json.loads(kubectl(cluster, "get", "deploy", "kf-web", "-o", "json").stdout)
    assert d["spec"]["replicas"] == 3 and d["metadata"]["generation"] == 3
    out = kubectl(cluster, "get", "deploy", "kf-web").stdout.splitlines()
    assert out[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"] and out[1].split()[1] == "0/3"
    kubectl(cluster, "delete", "deployment", "kf-web")
    kubectl(cluster, "delete", "svc", "kf-web")


# --- authentication and authorization ---------------------------------------------------------------
KUBEADM_RBAC = [
    cluster_role_binding("kubeadm:cluster-admins", "cluster-admin", "kubeadm:cluster-admins"),
    *NODE_BOOTSTRAP_RBAC,
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
     "metadata": {"name": "kubeadm:bootstrap-signer-clusterinfo", "namespace": "kube-public"},
     "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cluster-info"],
                "verbs": ["get"]}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
     "metadata": {"name": "kubeadm:bootstrap-signer-clusterinfo", "namespace": "kube-public"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                 "name": "kubeadm:bootstrap-signer-clusterinfo"},
     "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "system:anonymous"}]},
]


def test_service_account_tokens(cluster):
    kubectl(cluster, "-n", "default", "create", "serviceaccount", "kf-sa")
    token = kubectl(cluster, "-n", "default", "create", "token", "kf-sa", "--duration=1h").stdout.strip()
    assert token.count(".") == 2
    conf = cluster.kubeconfig("kf-sa", token=token)
    who = json.loads(kubectl(cluster, "auth", "whoami", "-o", "json", conf=conf).stdout)["status"]["userInfo"]
    assert who["username"] == "system:serviceaccount:default:kf-sa"
    assert "system:serviceaccounts:default" in who["groups"]
    p = kubectl(cluster, "get", "pods", conf=conf, check=False)
    assert 'User "system:serviceaccount:default:kf-sa" cannot list resource "pods"' in p.stderr
    kubectl(cluster, "-n", "default", "delete", "serviceaccount", "kf-sa")
    p = kubectl(cluster, "get", "pods", conf=conf, check=False)
    assert "error: You must be logged in to the server" in p.stderr


def test_kubeadm_cluster_admins_group(cluster):
    admin = cluster.kubeconfig("admin", "kubernetes-admin", ["kubeadm:cluster-admins"])
    p = kubectl(cluster, "get", "nodes", conf=admin, check=False)
    assert p.returncode == 1
    assert ('nodes is forbidden: User "kubernetes-admin" cannot list resource "nodes" in API group "" at the '
            'cluster scope') in p.stderr
    for obj in KUBEADM_RBAC:
        apply_obj(cluster, obj)
    deadline = time.time() + 5
    while kubectl(cluster, "get", "nodes", conf=admin, check=False).returncode != 0:
        assert time.time() < deadline
        time.sleep(0.3)


def test_unknown_ca_rejected(cluster):
    other = testenv.make_ca(cluster.pki, "other-ca", "other")
    conf = cluster.kubeconfig("stranger", "kubernetes-admin", ["system:masters"], ca=other)
    p = kubectl(cluster, "get", "nodes", conf=conf, check=False)
    assert p.returncode == 1
    # kubectl: "(Unauthorized)" when discovery was cached, else "(the server has asked for the client to
    # provide credentials)": both are its wording for a 401
    assert "error: You must be logged in to the server" in p.stderr, p.stderr


def test_bootstrap_token_authn_authz_and_tls_bootstrap(cluster):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    for obj in KUBEADM_RBAC:
        apply_obj(cluster, obj)
    past = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    apply_obj(cluster, bootstrap_token_secret("abcdef", "0123456789abcdef"))
    apply_obj(cluster, bootstrap_token_secret("expire", "0123456789abcdef", expiration=past))
    good = cluster.kubeconfig("bootstrap", token="abcdef.0123456789abcdef")
    bad = cluster.kubeconfig("bootstrap-expired", token="expire.0123456789abcdef")
    wrong = cluster.kubeconfig("bootstrap-wrong", token="abcdef.0000000000000000")
    for conf in (bad, wrong):
        p = kubectl(cluster, "get", "csr", conf=conf, check=False)
        assert p.returncode == 1
        # kubectl: "(Unauthorized)" when discovery was cached, else "(the server has asked for the client to
    # provide credentials)": both are its wording for a 401
    assert "error: You must be logged in to the server" in p.stderr, p.stderr
    p = kubectl(cluster, "-n", "kube-system", "get", "secrets", conf=good, check=False)
    assert p.returncode == 1
    assert ('secrets is forbidden: User "system:bootstrap:abcdef" cannot list resource "secrets" in API group "" '
            'in the namespace "kube-system"') in p.stderr
    who = kubectl(cluster, "auth", "whoami", "-o", "json", conf=good)
    info = json.loads(who.stdout)["status"]["userInfo"]
    assert info["username"] == "system:bootstrap:abcdef"
    assert info["groups"] == ["system:bootstrappers", "system:bootstrappers:kubeadm:default-node-token",
                              "system:authenticated"]
    # TLS bootstrap: the bootstrap user posts a kubelet client CSR; the API server alone leaves it Pending
    # (approver and signer are kube-controller-manager's), their passes then approve and issue it
    key = ec.generate_private_key(ec.SECP256R1())
    req = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
        x509.NameAttribute(NameOID.COMMON_NAME, "system:node:kf-worker")])).sign(key, hashes.SHA256()))
    csr = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
           "metadata": {"generateName": "csr-"},
           "spec": {"request": base64.b64encode(req.public_bytes(serialization.Encoding.PEM)).decode(),
                    "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
                    "usages": ["digital signature", "client auth"]}}
    p = kubectl(cluster, "create", "-f", "-", "-o", "name", conf=good, stdin=json.dumps(csr))
    name = p.stdout.strip().split("/")[-1]
    time.sleep(3)  # three passes of the API server's own loops
    o = json.loads(kubectl(cluster, "get", "csr", name, "-o", "json", conf=good).stdout)
    assert not (o.get("status") or {}).get("conditions") and not (o.get("status") or {}).get("certificate"), o
    assert kubectl(cluster, "get", "csr", name, conf=good).stdout.splitlines()[1].split()[-1] == "Pending"
    from kubesim.apiclient import Client
    from kubesim.controllers import certificates
    admin = Client.from_kubeconfig(cluster.super_admin)
    assert certificates.Approver(admin).sync() == [name]
    signing = (os.path.join(cluster.pki, "ca.crt"), os.path.join(cluster.pki, "ca.key"))
    assert certificates.Signer(admin, {certificates.KUBELET_CLIENT: signing}).sync() == [name]
    o = json.loads(kubectl(cluster, "get", "csr", name, "-o", "json", conf=good).stdout)
    assert o["spec"]["username"] == "system:bootstrap:abcdef"
    assert [c["type"] for c in o["status"]["conditions"]] == ["Approved"]
    cert = x509.load_pem_x509_certificate(base64.b64decode(o["status"]["certificate"]))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:kf-worker"
    out = kubectl(cluster, "get", "csr").stdout
    assert "Approved,Issued" in out
    # the issued certificate authenticates the node; the Node authorizer limits it to its own Node
    crt_path = os.path.join(cluster.pki, "kf-worker.crt")
    key_path = os.path.join(cluster.pki, "kf-worker.key")
    with open(crt_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    testenv.write_key(key_path, key)
    code, body = https(cluster, "/api/v1/nodes", "POST", yaml.safe_load(NODE.format(name="kf-worker")),
                       cert=(crt_path, key_path))
    assert code == 201, body
    code, body = https(cluster, "/api/v1/nodes/kf-worker/status", "PATCH",
                       {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
                       cert=(crt_path, key_path), headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert code == 200, body
    code, body = https(cluster, "/api/v1/nodes/kf-node-1/status", "PATCH",
                       {"status": {"conditions": [{"type": "Ready", "status": "False"}]}},
                       cert=(crt_path, key_path), headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert code == 403, body
    assert json.loads(body)["message"].startswith('nodes "kf-node-1" is forbidden: User "system:node:kf-worker" '
                                                  'cannot patch resource "nodes/status"')
    code, body = https(cluster, "/api/v1/nodes", cert=(crt_path, key_path))
    assert code == 200
    code, body = https(cluster, "/api/v1/namespaces/kube-system/secrets", cert=(crt_path, key_path))
    assert code == 403


def test_kubeadm_certs_deleted_with_its_proxy_token(cluster):
    """kubeadm-certs is owned by its 2 h proxy token: when the token cleaner deletes the expired token,
    the garbage collector deletes the Secret; while the token lives, the Secret stays."""
    from kubesim.apiclient import Client
    from kubesim.controllers.manager import ControllerManager
    from kubesim.kubeadm import app, phases
    client = Client.from_kubeconfig(cluster.super_admin)
    app.upload_certs(client, {"certificatesDir": cluster.pki}, phases.new_certificate_key(), out_fn=lambda _: None)
    certs = client.get("/api/v1/namespaces/kube-system/secrets/kubeadm-certs")
    (ref,) = certs["metadata"]["ownerReferences"]
    assert (ref["apiVersion"], ref["kind"], ref["controller"], ref["blockOwnerDeletion"]) == ("v1", "Secret", True, True)
    token_path = "/api/v1/namespaces/kube-system/secrets/" + ref["name"]
    token = client.get(token_path)
    assert base64.b64decode(token["data"]["description"]).decode() == "Proxy for managing TTL for the kubeadm-certs secret"
    gc = ControllerManager(client, controllers=["garbagecollector"], leader_elect=False)
    gc.reconcile()
    assert client.get_or_none("/api/v1/namespaces/kube-system/secrets/kubeadm-certs") is not None  # owner alive
    past = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    client.patch(token_path, {"data": {"expiration": base64.b64encode(past.encode()).decode()}})
    time.sleep(3)  # the API server cleans nothing up: the expired token and kubeadm-certs stay
    gc.reconcile()
    assert client.get_or_none(token_path) is not None
    assert client.get_or_none("/api/v1/namespaces/kube-system/secrets/kubeadm-certs") is not None
    # kube-controller-manager's token cleaner deletes the token, its garbage collector then kubeadm-certs
    ControllerManager(client, controllers=["tokencleaner", "garbagecollector"], leader_elect=False).reconcile()
    assert client.get_or_none(token_path) is None
    assert client.get_or_none("/api/v1/namespaces/kube-system/secrets/kubeadm-certs") is None


def test_cluster_info_jws_and_anonymous_read(cluster):
    for obj in KUBEADM_RBAC:
        apply_obj(cluster, obj)
    apply_obj(cluster, bootstrap_token_secret("abcdef", "0123456789abcdef"))
    past = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    apply_obj(cluster, bootstrap_token_secret("expird", "0123456789abcdef", expiration=past))
    apply_obj(cluster, bootstrap_token_secret("nosign", "0123456789abcdef", signing=False))
    kubeconfig = "apiVersion: v1\nclusters:\n- cluster:\n    server: https://10.0.0.1:6443\n  name: \"\"\n"
    apply_obj(cluster, {"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "cluster-info", "namespace": "kube-public"},
                        "data": {"kubeconfig": kubeconfig}})
    time.sleep(3)  # the API server alone signs nothing
    code, body = https(cluster, "/api/v1/namespaces/kube-public/configmaps/cluster-info")
    assert code == 200, body
    assert not [k for k in json.loads(body)["data"] if k.startswith("jws-")], body
    from kubesim.apiclient import Client
    from kubesim.controllers import bootstrap
    admin = Client.from_kubeconfig(cluster.super_admin)
    assert bootstrap.sign_cluster_info(admin)  # one pass of kube-controller-manager's bootstrap signer
    code, body = https(cluster, "/api/v1/namespaces/kube-public/configmaps/cluster-info")
    data = json.loads(body)["data"]
    assert sorted(k for k in data if k.startswith("jws-")) == ["jws-kubeconfig-abcdef"]  # not expird, nosign
    header, empty, sig = data["jws-kubeconfig-abcdef"].split(".")
    assert empty == ""
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "HS256", "kid": "abcdef"}
    payload = base64.urlsafe_b64encode(kubeconfig.encode()).rstrip(b"=").decode()
    want = hmac.new(b"0123456789abcdef", (header + "." + payload).encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(sig + "==") == want
    # anonymous may read cluster-info and nothing else there
    code, _ = https(cluster, "/api/v1/namespaces/kube-public/configmaps/other")
    assert code == 403
    # a deleted token's signature goes away
    kubectl(cluster, "-n", "kube-system", "delete", "secret", "bootstrap-token-abcdef")
    assert bootstrap.sign_cluster_info(admin)
    assert "jws-kubeconfig-abcdef" not in json.loads(https(cluster, "/api/v1/namespaces/kube-public/configmaps/"
                                                                    "cluster-info")[1])["data"]
    assert not bootstrap.sign_cluster_info(admin)  # nothing left to change


def test_ha_peer_shares_etcd(cluster):
    port, proc = cluster.start_peer("127.0.0.2")
    try:
        with open(cluster.super_admin) as f:
            cfg = yaml.safe_load(f)
        cfg["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:%d" % port
        peer = os.path.join(cluster.dir, "peer.conf")
        with open(peer, "w") as f:
            yaml.safe_dump(cfg, f)
        kubectl(cluster, "create", "configmap", "kf-ha-primary", "--from-literal=b=2")
        assert kubectl(cluster, "get", "configmap", "kf-ha-primary", "-o", "jsonpath={.data.b}", conf=peer).stdout == "2"
        kubectl(cluster, "create", "configmap", "kf-ha", "--from-literal=a=1", conf=peer)
        assert kubectl(cluster, "get", "configmap", "kf-ha", "-o", "jsonpath={.data.a}").stdout == "1"
        ep = json.loads(kubectl(cluster, "get", "endpoints", "kubernetes", "-o", "json").stdout)
        assert {a["ip"] for a in ep["subsets"][0]["addresses"]} == {"127.0.0.1", "127.0.0.2"}
        # the same create through both servers at once: exactly one wins
        results = []
        def create(conf):
            results.append(kubectl(cluster, "create", "configmap", "kf-race", conf=conf, check=False).returncode)
        ts = [threading.Thread(target=create, args=(c,)) for c in (peer, cluster.super_admin)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert sorted(results) == [0, 1]
    finally:
        proc.terminate()
        proc.wait(10)
    ep = json.loads(kubectl(cluster, "get", "endpoints", "kubernetes", "-o", "json").stdout)
    assert [a["ip"] for a in ep["subsets"][0]["addresses"]] == ["127.0.0.1"]


def test_readyz_fails_without_etcd(cluster):
    cluster.etcd.stop()
    try:
        code, body = https(cluster, "/readyz")
        assert code == 500
        assert "[-]etcd failed" in body
        assert https(cluster, "/livez")[0] == 500  # upstream's livez includes the etcd check too
    finally:
        cluster.etcd.start()
    deadline = time.time() + 20
    while https(cluster, "/readyz")[0] != 200:
        assert time.time() < deadline
        time.sleep(0.3)


# --- drain: cordon, pods/eviction and PodDisruptionBudgets -----------------------------------------
def running_pod(c, name, node, labels):
    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "kf-pdb-rs", "controller": True,
             "uid": "5b0b7b8e-0000-4000-8000-000000000001"}  # drain refuses pods without a controller
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default", "labels": labels,
                                                           "ownerReferences": [owner]},
           "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx:1.27"}]}}
    kubectl(c, "create", "-f", "-", stdin=json.dumps(pod))
    status = {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    kubectl(c, "patch", "pod", name, "--subresource=status", "--type=merge", "-p", json.dumps(status))


def test_drain_honours_pod_disruption_budget(cluster):
    make_node(cluster, "kf-drain-1")
    for i in (1, 2):
        running_pod(cluster, "kf-pdb-%d" % i, "kf-drain-1", {"app": "kf-pdb"})
    kubectl(cluster, "create", "poddisruptionbudget", "kf-pdb", "--selector=app=kf-pdb", "--min-available=2")
    # the eviction subresource answers 429 with the budget in the cause, as kube-apiserver does
    code, body = https(cluster, "/api/v1/namespaces/default/pods/kf-pdb-1/eviction", "POST",
                       {"apiVersion": "policy/v1", "kind": "Eviction",
                        "metadata": {"name": "kf-pdb-1", "namespace": "default"}},
                       cert=(os.path.join(cluster.pki, "super-admin.crt"),
                             os.path.join(cluster.pki, "super-admin.key")))
    st = json.loads(body)
    assert code == 429 and st["reason"] == "TooManyRequests", body
    assert st["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert st["details"]["causes"][0] == {"reason": "DisruptionBudget", "message": "The disruption budget kf-pdb "
                                          "needs 2 healthy pods and has 2 currently"}
    # real kubectl drain: cordons, retries the eviction until its timeout, names the pod, leaves the node cordoned
    p = kubectl(cluster, "drain", "kf-drain-1", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=6s",
                check=False, timeout=60)
    assert p.returncode != 0
    assert "Cannot evict pod as it would violate the pod's disruption budget." in p.stderr + p.stdout, p.stderr
    assert 'kf-pdb-1' in p.stderr + p.stdout
    node = json.loads(kubectl(cluster, "get", "node", "kf-drain-1", "-o", "json").stdout)
    assert node["spec"]["unschedulable"] is True
    assert "SchedulingDisabled" in kubectl(cluster, "get", "node", "kf-drain-1").stdout
    # a budget that allows the disruption lets drain evict every pod
    kubectl(cluster, "delete", "pdb", "kf-pdb")
    kubectl(cluster, "create", "poddisruptionbudget", "kf-pdb", "--selector=app=kf-pdb", "--max-unavailable=2")
    p = kubectl(cluster, "drain", "kf-drain-1", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=20s",
                timeout=60)
    assert "node/kf-drain-1 drained" in p.stdout, p.stdout
    assert kubectl(cluster, "get", "pods", "-l", "app=kf-pdb", "-o", "name").stdout.strip() == ""
    kubectl(cluster, "uncordon", "kf-drain-1")
    node = json.loads(kubectl(cluster, "get", "node", "kf-drain-1", "-o", "json").stdout)
    assert not node["spec"].get("unschedulable")
    kubectl(cluster, "delete", "pdb", "kf-pdb")
    kubectl(cluster, "delete", "node", "kf-drain-1")

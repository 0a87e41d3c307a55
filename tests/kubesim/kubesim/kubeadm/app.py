"""kubeadm stand-in: commands (version, config images list, init, join, token, certs certificate-key|check-expiration|renew,
reset).

Modelled on cmd/kubeadm/app/cmd/*.go; texts come from kubesim.output (shared with the unit tests'
fake kubeadm).  Everything touches the real host: files under /etc/kubernetes and /var/lib/kubelet,
systemctl, the real containerd (CRI), the real etcd (v3 JSON gateway) and the API server over HTTPS.
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

import yaml

from kubesim import output, pki
from kubesim.apiclient import ApiError, Client, resource_path
from . import certs
from . import config as K
from . import constants as C
from . import phases as P
from . import preflight
from .errors import KubeadmError, PreflightError
from .cmdutil import interactively_confirm
from .flags import check_config_mix, parse
from .klog import warning

VERSION = C.kubeadm_version()
INIT_MIX_ALLOWED = {"ignore-preflight-errors", "dry-run", "kubeconfig", "node-name", "upload-certs", "print-manifest",
                    "feature-gates", "rootfs", "v", "log-file", "yes", "skip-token-print", "skip-certificate-key-print",
                    "skip-phases"}
JOIN_MIX_ALLOWED = INIT_MIX_ALLOWED


def out(line=""):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def err(text):
    sys.stderr.write(text)
    sys.stderr.flush()


# ---------------------------------------------------------------- helpers

def systemctl(*args, check=False):
    try:
        return subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=60, check=check)
    except (OSError, subprocess.SubprocessError) as e:
        return subprocess.CompletedProcess(args, 1, "", str(e))


def admin_client(path):
    if not os.path.exists(path):
        raise KubeadmError("failed to load admin kubeconfig: open %s: no such file or directory" % path)
    return Client.from_kubeconfig(path)


def apply(client, plural, obj):
    """Create, or update when it exists (kubeadm's apiclient.CreateOrUpdate*)."""
    api = obj["apiVersion"]
    ns = obj["metadata"].get("namespace")
    coll = resource_path(api, plural, ns)
    try:
        return client.create(coll, obj)
    except ApiError as e:
        if e.status != 409:
            raise
    path = resource_path(api, plural, ns, obj["metadata"]["name"])
    cur = client.get(path)
    obj = json.loads(json.dumps(obj))
    obj["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
    return client.update(path, obj)


def api_error(e, what):
    return KubeadmError("%s: %s" % (what, e.message if isinstance(e, ApiError) else e))


def wait_for(fn, timeout, interval=1.0):
    deadline = time.time() + timeout
    last = None
    while True:
        try:
            res = fn()
            if res:
                return res
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last = e
        if time.time() >= deadline:
            return None if last is None else False
        time.sleep(interval)


def duration(value, default):
    try:
        return K.parse_duration(value if value not in (None, "") else default)
    except ValueError:
        return K.parse_duration(default)


def kubelet_healthy():
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % C.KUBELET_HEALTHZ_PORT, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def start_kubelet():
    res = systemctl("restart", "kubelet")
    if res.returncode != 0:
        out("[kubelet-start] WARNING: unable to start the kubelet service: [%s]" % (res.stderr.strip() or res.stdout.strip()))
        out("[kubelet-start] Please ensure kubelet is reloaded and running manually.")


def wait_kubelet(timeout_s, phase="wait-control-plane"):
    out("[kubelet-check] Waiting for a healthy kubelet at http://127.0.0.1:%d/healthz. This can take up to %s"
        % (C.KUBELET_HEALTHZ_PORT, K.format_duration(timeout_s)))
    t0 = time.time()
    if not wait_for(kubelet_healthy, timeout_s, 0.5):
        out("[kubelet-check] The kubelet is not healthy after %s" % K.format_duration(time.time() - t0))
        out("")
        out("Unfortunately, an error has occurred, likely caused by:")
        out("\t- The kubelet is not running")
        out("\t- The kubelet is unhealthy due to a misconfiguration of the node in some way (required cgroups disabled)")
        out("")
        out("If you are on a systemd-powered system, you can try to troubleshoot the error with the following commands:")
        out("\t- 'systemctl status kubelet'")
        out("\t- 'journalctl -xeu kubelet'")
        out("")
        raise KubeadmError("The HTTP call equal to 'curl -sSL http://127.0.0.1:%d/healthz' returned error: Get "
                           "\"http://127.0.0.1:%d/healthz\": context deadline exceeded" % (C.KUBELET_HEALTHZ_PORT,
                                                                                          C.KUBELET_HEALTHZ_PORT),
                           phase=phase)
    out("[kubelet-check] The kubelet is healthy after %.6fms" % ((time.time() - t0) * 1000))


def ca_pins_from_kubeconfig(cfg):
    cluster = cfg["clusters"][0]["cluster"]
    data = base64.b64decode(cluster["certificate-authority-data"])
    return [pki.spki_pin(c) for c in pki.load_certs(data)], cluster["server"]


def hostname():
    return socket.gethostname().lower()


# ---------------------------------------------------------------- version / images

def cmd_version(argv):
    flags, _ = parse(argv, {"output": "str", "o": "str"})
    fmt = flags.get("output", flags.get("o", ""))
    major, minor = VERSION.split(".")[:2]
    commit = hashlib.sha1(("kubesim-" + VERSION).encode()).hexdigest()
    info = {"major": major, "minor": minor, "emulationMajor": major, "emulationMinor": minor,
            "minCompatibilityMajor": major, "minCompatibilityMinor": str(int(minor) - 1),
            "gitVersion": "v" + VERSION, "gitCommit": commit, "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25.5", "compiler": "gc",
            "platform": "linux/amd64"}
    if fmt == "short":
        out("v" + VERSION)
    elif fmt == "json":
        out(json.dumps({"clientVersion": info}, indent=2))
    elif fmt == "yaml":
        sys.stdout.write(yaml.safe_dump({"clientVersion": info}, default_flow_style=False, sort_keys=False))
    elif fmt == "":
        goname = {"major": "Major", "minor": "Minor", "emulationMajor": "EmulationMajor",
                  "emulationMinor": "EmulationMinor", "minCompatibilityMajor": "MinCompatibilityMajor",
                  "minCompatibilityMinor": "MinCompatibilityMinor", "gitVersion": "GitVersion",
                  "gitCommit": "GitCommit", "gitTreeState": "GitTreeState", "buildDate": "BuildDate",
                  "goVersion": "GoVersion", "compiler": "Compiler", "platform": "Platform"}
        out("kubeadm version: &version.Info{%s}" % ", ".join('%s:"%s"' % (goname[k], v) for k, v in info.items()))
    else:
        raise KubeadmError('invalid output format: %s' % fmt)
    return 0


def resolve_k8s_version(requested):
    if requested and not str(requested).startswith(("stable", "latest")):
        v = K.normalize_version(requested, VERSION)
    else:
        # kubeadm's default is the label "stable-1": fetched from dl.k8s.io, which test hosts cannot reach
        label = requested or "stable-1"
        url = "https://dl.k8s.io/release/%s.txt" % label
        warning('could not fetch a Kubernetes version from the internet: unable to get URL "%s": Get "%s": dial '
                'tcp: lookup dl.k8s.io: no such host' % (url, url), "version.go:109")
        warning("falling back to the local client version: v%s" % VERSION, "version.go:110")
        v = "v" + VERSION
    K.check_version_skew(v, VERSION)
    return v


def images_for(cluster, k8s_version):
    repo = cluster.get("imageRepository", "registry.k8s.io")
    pins = C.pins(k8s_version)
    imgs = ["%s/%s:%s" % (repo, n, k8s_version) for n in
            ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")]
    dns = cluster.get("dns") or {}
    drepo = dns.get("imageRepository") or repo
    dtag = dns.get("imageTag") or pins["coredns"]
    imgs.append("%s/coredns/coredns:%s" % (drepo, dtag) if drepo == "registry.k8s.io" else "%s/coredns:%s" % (drepo, dtag))
    imgs.append("%s/pause:%s" % (repo, pins["pause"]))
    if "external" not in (cluster.get("etcd") or {}):
        imgs.append(P.etcd_image(cluster, k8s_version))
    return imgs


def cmd_config(argv):
    if argv[:2] != ["images", "list"]:
        sub = argv[0] if argv else ""
        if sub in ("print", "migrate", "validate") or argv[:2] == ["images", "pull"]:
            raise KubeadmError("kubesim: 'kubeadm config %s' is not implemented by the stand-in" % " ".join(argv[:2]))
        raise KubeadmError('unknown command "%s" for "kubeadm config"' % sub)
    flags, _ = parse(argv[2:], {"config": "str", "image-repository": "str", "kubernetes-version": "str",
                                "feature-gates": "str", "output": "str", "o": "str",
                                "allow-missing-template-keys": "bool", "show-managed-fields": "bool"})
    check_config_mix(flags, {"output", "o", "allow-missing-template-keys", "show-managed-fields"})
    docs = K.split_documents(flags["config"], VERSION, {"InitConfiguration", "ClusterConfiguration"}) \
        if "config" in flags else {}
    _, cluster = K.default_init(docs.get("InitConfiguration"), docs.get("ClusterConfiguration"), VERSION)
    if "image-repository" in flags:
        cluster["imageRepository"] = flags["image-repository"]
    if "kubernetes-version" in flags:
        cluster["kubernetesVersion"] = flags["kubernetes-version"]
    k8s = resolve_k8s_version(cluster.get("kubernetesVersion"))
    imgs = images_for(cluster, k8s)
    fmt = flags.get("output", flags.get("o", "text"))
    if fmt == "json":
        out(json.dumps({"kind": "Images", "apiVersion": "output.kubeadm.k8s.io/v1alpha3", "images": imgs}, indent=4))
    elif fmt == "yaml":
        sys.stdout.write(yaml.safe_dump({"apiVersion": "output.kubeadm.k8s.io/v1alpha3", "images": imgs,
                                         "kind": "Images"}, default_flow_style=False))
    else:
        for i in imgs:
            out(i)
    return 0


# ---------------------------------------------------------------- init

INIT_FLAGS = {"config": "str", "upload-certs": "bool", "certificate-key": "str", "skip-token-print": "bool",
              "skip-certificate-key-print": "bool", "ignore-preflight-errors": "list", "kubernetes-version": "str",
              "pod-network-cidr": "str", "service-cidr": "str", "service-dns-domain": "str",
              "apiserver-advertise-address": "str", "apiserver-bind-port": "str", "apiserver-cert-extra-sans": "list",
              "control-plane-endpoint": "str", "node-name": "str", "cri-socket": "str", "image-repository": "str",
              "token": "str", "token-ttl": "str", "skip-phases": "list", "dry-run": "bool", "cert-dir": "str",
              "feature-gates": "str", "patches": "str"}


def load_init(flags):
    if "config" in flags:
        check_config_mix(flags, INIT_MIX_ALLOWED)
        docs = K.split_documents(flags["config"], VERSION, {"InitConfiguration", "ClusterConfiguration"})
    else:
        docs = {}
    init, cluster = K.default_init(docs.get("InitConfiguration"), docs.get("ClusterConfiguration"), VERSION)
    nr, ep, net = init["nodeRegistration"], init["localAPIEndpoint"], cluster["networking"]
    if "config" not in flags:
        for flag, target, key in (("apiserver-advertise-address", ep, "advertiseAddress"),
                                  ("pod-network-cidr", net, "podSubnet"), ("service-cidr", net, "serviceSubnet"),
                                  ("service-dns-domain", net, "dnsDomain"), ("cri-socket", nr, "criSocket"),
                                  ("control-plane-endpoint", cluster, "controlPlaneEndpoint"),
                                  ("image-repository", cluster, "imageRepository"),
                                  ("kubernetes-version", cluster, "kubernetesVersion"),
                                  ("certificate-key", init, "certificateKey"), ("cert-dir", cluster, "certificatesDir")):
            if flag in flags:
                target[key] = flags[flag]
        if "apiserver-bind-port" in flags:
            ep["bindPort"] = int(flags["apiserver-bind-port"]) if flags["apiserver-bind-port"].isdigit() else flags["apiserver-bind-port"]
        if flags.get("apiserver-cert-extra-sans"):
            cluster["apiServer"]["certSANs"] = flags["apiserver-cert-extra-sans"]
        if "token" in flags or "token-ttl" in flags:
            init["bootstrapTokens"] = [{"token": flags.get("token", ""), "ttl": flags.get("token-ttl", "24h0m0s"),
                                        "usages": ["signing", "authentication"], "groups": [C.NODE_BOOTSTRAP_GROUP]}]
    if "node-name" in flags:
        nr["name"] = flags["node-name"]
    nr.setdefault("name", hostname())
    nr["ignorePreflightErrors"] = list(nr.get("ignorePreflightErrors") or []) + flags.get("ignore-preflight-errors", [])
    if not init.get("bootstrapTokens"):
        init["bootstrapTokens"] = [{"token": "", "description": C.DEFAULT_TOKEN_DESCRIPTION, "ttl": "24h0m0s",
                                    "usages": ["signing", "authentication"], "groups": [C.NODE_BOOTSTRAP_GROUP]}]
    for bt in init["bootstrapTokens"]:
        if not bt.get("token"):
            bt["token"] = P.new_token()
            bt.setdefault("description", C.DEFAULT_TOKEN_DESCRIPTION)
    if not ep.get("advertiseAddress"):
        ip = P.default_route_ip()
        if not ip:
            raise KubeadmError('unable to select an IP from default routes.')
        ep["advertiseAddress"] = ip
    msg = preflight.validate_ignore_list(nr["ignorePreflightErrors"])
    if msg:
        raise KubeadmError(msg)
    K.raise_if(K.validate_init(init, cluster, VERSION))
    cluster["kubernetesVersion"] = resolve_k8s_version(cluster.get("kubernetesVersion"))
    return init, cluster, docs


def component_endpoints(manifests_dir=None):
    """waiters.go getControlPlaneComponents: --bind-address / --secure-port from the static Pod manifests,
    else 127.0.0.1 and the default ports; kube-controller-manager on /healthz, kube-scheduler on /livez."""
    manifests_dir = manifests_dir or C.MANIFESTS_DIR
    result = []
    for name, port, endpoint in (("kube-controller-manager", C.CONTROLLER_MANAGER_PORT, "healthz"),
                                 ("kube-scheduler", C.SCHEDULER_PORT, "livez")):
        address = "127.0.0.1"
        try:
            with open(os.path.join(manifests_dir, name + ".yaml"), encoding="utf-8") as fh:
                pod = yaml.safe_load(fh) or {}
            command = next((c.get("command") or [] for c in pod["spec"]["containers"]
                            if (c.get("command") or [""])[0] == name), [])
        except (OSError, KeyError, TypeError, yaml.YAMLError):
            command = []
        for arg in command:
            if arg.startswith("--bind-address="):
                address = arg.split("=", 1)[1] or address
            elif arg.startswith("--secure-port="):
                port = int(arg.split("=", 1)[1] or port)
        result.append((name, "https://%s:%d/%s" % (P.fmt_host(address), port, endpoint)))
    return result


def _https_ok(url):
    """One poll of a component's health endpoint: (ok, error text as Go's http client words it)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # InsecureSkipVerify, as kubeadm
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=5):
            return True, None
    except urllib.error.HTTPError as e:
        return False, "with status: %d" % e.code
    except (OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        host_port = url.split("/")[2]
        if isinstance(reason, ConnectionRefusedError):
            return False, ': Get "%s": dial tcp %s: connect: connection refused' % (url, host_port)
        return False, ': Get "%s": %s' % (url, reason)


def wait_apiserver(client, advertise, port, timeout_s, manifests_dir=None):
    """wait-control-plane (waiters.go WaitForControlPlaneComponents): the three components in parallel."""
    import threading
    out("[control-plane-check] Waiting for healthy control plane components. This can take up to %s"
        % K.format_duration(timeout_s))
    api_url = "https://%s:%s/livez" % (P.fmt_host(advertise), port)
    components = [("kube-apiserver", api_url)] + component_endpoints(manifests_dir)
    for name, url in components:
        out("[control-plane-check] Checking %s at %s" % (name, url))
    t0 = time.time()
    errors = {}

    def poll(name, url):
        last = None
        deadline = t0 + timeout_s
        while True:
            if name == "kube-apiserver":
                try:
                    client.request("GET", "/livez", raw=True, timeout=5)
                    ok = True
                except Exception:  # noqa: BLE001 - retried until the deadline
                    ok, last = False, ": client rate limiter Wait returned an error: context deadline exceeded"
            else:
                ok, last = _https_ok(url)
            if ok:
                out("[control-plane-check] %s is healthy after %.9fs" % (name, time.time() - t0))
                return
            if time.time() >= deadline:
                out("[control-plane-check] %s is not healthy after %.9fs" % (name, time.time() - t0))
                sep = " " if last.startswith("with status") else ""
                errors[name] = "%s check failed at %s%s%s" % (name, url, sep, last)
                return
            time.sleep(1.0)

    threads = [threading.Thread(target=poll, args=c, daemon=True) for c in components]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errs = [errors[name] for name, _ in components if name in errors]
    if errs:
        msg = errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]"
        raise KubeadmError("failed while waiting for the control plane to start: " + msg, phase="wait-control-plane")


def wait_node(client, name, timeout_s):
    def get():
        return client.get("/api/v1/nodes/" + name)
    node = wait_for(get, timeout_s, 1.0)
    if not node:
        raise KubeadmError('error patching Node "%s": timed out waiting for the condition' % name,
                           phase="mark-control-plane")
    return node


def mark_control_plane(client, name, taints, timeout_s):
    out("[mark-control-plane] Marking the node %s as control-plane by adding the labels: [%s %s]"
        % (name, C.LABEL_CONTROL_PLANE, C.LABEL_EXCLUDE_LB))
    if taints:
        out("[mark-control-plane] Marking the node %s as control-plane by adding the taints [%s]"
            % (name, " ".join("%s:%s" % (t["key"], t["effect"]) if not t.get("value") else
                              "%s=%s:%s" % (t["key"], t["value"], t["effect"]) for t in taints)))
    # As kubeadm's apiclient.PatchNode: read the Node, patch it, and on a conflict (the kubelet and the controller
    # manager write the new Node too) read it again every APICallRetryInterval (500 ms) until the timeout.
    deadline = time.time() + timeout_s
    while True:
        node = wait_node(client, name, max(1, deadline - time.time()))
        labels = dict(node["metadata"].get("labels") or {})
        labels[C.LABEL_CONTROL_PLANE] = ""
        labels[C.LABEL_EXCLUDE_LB] = ""
        have = list((node.get("spec") or {}).get("taints") or [])
        for t in taints:
            if not any(h.get("key") == t["key"] and h.get("effect") == t["effect"] for h in have):
                have.append({k: v for k, v in t.items() if k in ("key", "value", "effect")})
        patch = {"metadata": {"labels": labels}, "spec": {"taints": have}}
        try:
            client.patch("/api/v1/nodes/" + name, patch)
            return
        except ApiError as e:
            if e.status != 409 or time.time() >= deadline:
                raise api_error(e, 'error patching Node "%s"' % name)
        time.sleep(0.5)


def default_taints(nr):
    if "taints" in nr and nr["taints"] is not None:
        return nr["taints"]
    return [{"key": C.LABEL_CONTROL_PLANE, "effect": "NoSchedule"}]


def upload_certs(client, cluster, key, out_fn=out):
    """init phase upload-certs: proxy token (TTL 2h) owning the encrypted kubeadm-certs Secret."""
    pki_dir = cluster.get("certificatesDir", C.PKI_DIR)
    tok = P.new_token()
    sec = P.token_secret(tok, C.DEFAULT_CERT_TOKEN_TTL, C.CERT_PROXY_TOKEN_DESCRIPTION, usages=(), groups=())
    owner = client.create(resource_path("v1", "secrets", "kube-system"), sec)
    apply(client, "secrets", P.certs_secret(pki_dir, key, owner, "external" in (cluster.get("etcd") or {})))
    for obj in P.certs_rbac():
        apply(client, obj["kind"].lower() + "s", obj)
    out_fn(output.render_upload_certs(key).rstrip("\n"))


# Test-only fault hook (tests/kubesim/README.md, "Fault hooks"): `kubeadm init` exits, as if killed, right after the
# phase named in this file (or in $KUBESIM_KUBEADM_INIT_EXIT_AFTER), e.g. "upload-config". Absent on a normal host.
INIT_FAULT_FILE = "/etc/kubesim/kubeadm-init-exit-after"
INIT_FAULT_EXIT = 137  # a shell's code for a process killed by SIGKILL


def init_fault_hook(phase):
    wanted = os.environ.get("KUBESIM_KUBEADM_INIT_EXIT_AFTER", "")
    if not wanted:
        try:
            with open(INIT_FAULT_FILE) as f:
                wanted = f.read().strip()
        except OSError:
            return
    if wanted == phase:
        sys.stdout.flush()
        err("kubesim fault hook: kubeadm init stops after the %s phase (%s)\n" % (phase, INIT_FAULT_FILE))
        os._exit(INIT_FAULT_EXIT)


def upload_kubeadm_config(client, cluster):
    """init phase upload-config kubeadm: the ClusterConfiguration in kube-system/kubeadm-config, and its RBAC."""
    out('[upload-config] Storing the configuration used in ConfigMap "kubeadm-config" in the "kube-system" Namespace')
    apply(client, "configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
                                 "data": {"ClusterConfiguration": K.dump(dict(cluster))}})
    for obj in P.upload_config_rbac():
        apply(client, obj["kind"].lower() + "s", obj)


def upload_kubelet_config(client, kcfg):
    """init phase upload-config kubelet: the KubeletConfiguration in kube-system/kubelet-config."""
    out('[kubelet] Creating a ConfigMap "kubelet-config" in namespace kube-system with the configuration for the '
        'kubelets in the cluster')
    ktext = K.dump(kcfg)
    apply(client, "configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "kubelet-config", "namespace": "kube-system",
                                              "annotations": {"kubeadm.kubernetes.io/component-config.hash":
                                                              P.config_hash(ktext)}},
                                 "data": {"kubelet": ktext}})


def bootstrap_token_phase(client, init, cluster, server, skip_token_print=False):
    """init phase bootstrap-token (cmd/kubeadm/app/cmd/phases/init/bootstraptoken.go): the InitConfiguration's
    tokens, the RBAC rules for bootstrap tokens, the cluster-info ConfigMap in kube-public and its RBAC."""
    tokens = [bt["token"] for bt in init["bootstrapTokens"]]
    if not skip_token_print:
        if len(tokens) == 1:
            out("[bootstrap-token] Using token: %s" % tokens[0])
        elif len(tokens) > 1:
            out("[bootstrap-token] Using tokens: [%s]" % " ".join(tokens))
    out("[bootstrap-token] Configuring bootstrap tokens, cluster-info ConfigMap, RBAC Roles")
    for bt in init["bootstrapTokens"]:
        ttl = K.parse_duration(bt.get("ttl", "24h")) if bt.get("ttl") not in (0, "0") else 0
        expires = None
        if bt.get("expires"):
            expires = datetime.datetime.strptime(bt["expires"].replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z")
        apply(client, "secrets", P.token_secret(bt["token"], ttl, bt.get("description", ""), bt.get("usages"),
                                                bt.get("groups"), expires))
    out("[bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to get nodes")
    out("[bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to post CSRs in order for nodes to "
        "get long term certificate credentials")
    out("[bootstrap-token] Configured RBAC rules to allow the csrapprover controller automatically approve CSRs "
        "from a Node Bootstrap Token")
    out("[bootstrap-token] Configured RBAC rules to allow certificate rotation for all node client certificates in "
        "the cluster")
    for obj in P.bootstrap_rbac():
        apply(client, obj["kind"].lower() + "s", obj)
    out('[bootstrap-token] Creating the "cluster-info" ConfigMap in the "kube-public" namespace')
    with open(os.path.join(cluster.get("certificatesDir", C.PKI_DIR), "ca.crt"), "rb") as f:
        ca_pem = f.read()
    # clusterinfo.CreateBootstrapConfigMapIfNotExists: an existing cluster-info is left as it is
    try:
        client.create(resource_path("v1", "configmaps", "kube-public"), P.cluster_info_configmap(server, ca_pem))
    except ApiError as e:
        if e.status != 409:
            raise
    for obj in P.cluster_info_rbac():
        apply(client, obj["kind"].lower() + "s", obj)


def coredns_addon(client, cluster, k8s, print_manifest=False):
    objs = P.coredns_objects(cluster, k8s)
    if print_manifest:
        sys.stdout.write("".join("---\n" + K.dump(obj) for _plural, obj in objs))
        return
    for plural, obj in objs:
        apply(client, plural, obj)
    out("[addons] Applied essential addon: CoreDNS")


def kube_proxy_addon(client, cluster, k8s, server, user_doc, print_manifest=False):
    objs = P.kube_proxy_objects(cluster, k8s, server, user_doc)
    if print_manifest:
        sys.stdout.write("".join("---\n" + K.dump(obj) for _plural, obj in objs))
        return
    for plural, obj in objs:
        apply(client, plural, obj)
    out("[addons] Applied essential addon: kube-proxy")


def cmd_init(argv):
    if argv[:1] == ["phase"]:
        return cmd_init_phase(argv[1:])
    flags, args = parse(argv, INIT_FLAGS)
    if args:
        raise KubeadmError('unknown command "%s" for "kubeadm init"' % args[0])
    init, cluster, docs = load_init(flags)
    k8s = cluster["kubernetesVersion"]
    nr, ep = init["nodeRegistration"], init["localAPIEndpoint"]
    name, advertise, port = nr["name"], ep["advertiseAddress"], int(ep["bindPort"])
    skip = set(flags.get("skip-phases", []) + list(init.get("skipPhases") or []))
    upload = flags.get("upload-certs", False)
    cert_key = init.get("certificateKey") or (P.new_certificate_key() if upload else "")

    out("[init] Using Kubernetes version: %s" % k8s)
    out("[preflight] Running pre-flight checks")
    try:
        preflight.run(preflight.init_checks(init, cluster, k8s), nr["ignorePreflightErrors"])
    except PreflightError:
        raise
    out("[preflight] Pulling images required for setting up a Kubernetes cluster")
    out("[preflight] This might take a minute or two, depending on the speed of your internet connection")
    out("[preflight] You can also perform this action beforehand using 'kubeadm config images pull'")
    ext = "external" in (cluster.get("etcd") or {})
    P.make_certs(cluster, name, advertise, out, external_etcd=ext)
    P.make_kubeconfigs(cluster, name, advertise, port, out)
    if not ext:
        out('[etcd] Creating static Pod manifest for local etcd in "%s"' % C.MANIFESTS_DIR)
        P.write_manifest(P.etcd_manifest(cluster, name, advertise, k8s), "etcd")
    P.write_control_plane_manifests(cluster, advertise, port, k8s, out)
    kcfg = P.kubelet_config(cluster, docs.get("KubeletConfiguration"))
    P.write_kubelet_files(kcfg, nr, out)
    out("[kubelet-start] Starting the kubelet")
    start_kubelet()
    out('[wait-control-plane] Waiting for the kubelet to boot up the control plane as static Pods from directory "%s"'
        % C.MANIFESTS_DIR)
    t = init.get("timeouts", {})
    wait_kubelet(duration(t.get("kubeletHealthCheck"), "4m"))
    super_client = Client.from_kubeconfig(os.path.join(C.KUBERNETES_DIR, C.SUPER_ADMIN_CONF))
    wait_apiserver(super_client, advertise, port, duration(t.get("controlPlaneComponentHealthCheck"), "4m"))
    api_timeout = duration(t.get("kubernetesAPICall"), "1m")
    try:
        apply(super_client, "clusterrolebindings",
              P.rbac("ClusterRoleBinding", "kubeadm:cluster-admins", role_ref=("ClusterRole", "cluster-admin"),
                     subjects=[P.group(C.CLUSTER_ADMINS_GROUP)]))
        client = Client.from_kubeconfig(os.path.join(C.KUBERNETES_DIR, C.ADMIN_CONF))

        def admin_authorized():
            # kubeadm polls until the admin.conf user (group kubeadm:cluster-admins) is authorized
            client.list("/api/v1/namespaces/kube-system/configmaps", limit="1")
            return True
        if not wait_for(admin_authorized, api_timeout, 0.5):
            raise KubeadmError("could not bootstrap the admin user in file admin.conf: timed out waiting for the "
                               "kubeadm:cluster-admins ClusterRoleBinding to take effect", phase="wait-control-plane")
        # upload-config
        upload_kubeadm_config(client, cluster)
        upload_kubelet_config(client, kcfg)
        init_fault_hook("upload-config")
        # upload-certs
        if upload and "upload-certs" not in skip:
            upload_certs(client, cluster, cert_key)
        else:
            out(output.render_upload_certs(None).rstrip("\n"))
        init_fault_hook("upload-certs")
        # mark-control-plane
        mark_control_plane(client, name, default_taints(nr), max(api_timeout, 60))
        init_fault_hook("mark-control-plane")
        # bootstrap-token
        server = "https://" + P.endpoint_of(cluster, advertise, port)
        bootstrap_token_phase(client, init, cluster, server)
        init_fault_hook("bootstrap-token")
        # kubelet-finalize
        pem = os.path.join(C.KUBELET_DIR, "pki", "kubelet-client-current.pem")
        out('[kubelet-finalize] Updating "%s/%s" to point to a rotatable kubelet client certificate and key'
            % (C.KUBERNETES_DIR, C.KUBELET_CONF))
        if os.path.exists(pem):
            kc = pki.read_kubeconfig(os.path.join(C.KUBERNETES_DIR, C.KUBELET_CONF))
            user = kc["users"][0]["user"]
            user.pop("client-certificate-data", None)
            user.pop("client-key-data", None)
            user["client-certificate"] = pem
            user["client-key"] = pem
            pki.write_kubeconfig(os.path.join(C.KUBERNETES_DIR, C.KUBELET_CONF), kc)
        init_fault_hook("kubelet-finalize")
        # addons
        if not (cluster.get("dns") or {}).get("disabled") and "addon/coredns" not in skip:
            coredns_addon(client, cluster, k8s)
        if not (cluster.get("proxy") or {}).get("disabled") and "addon/kube-proxy" not in skip:
            kube_proxy_addon(client, cluster, k8s, server, docs.get("KubeProxyConfiguration"))
        init_fault_hook("addon")
    except ApiError as e:
        raise KubeadmError(e.message or str(e))
    kc = pki.read_kubeconfig(os.path.join(C.KUBERNETES_DIR, C.ADMIN_CONF))
    pins, srv = ca_pins_from_kubeconfig(kc)
    endpoint = srv.replace("https://", "")
    for bt in init["bootstrapTokens"]:
        sys.stdout.write(output.render_init_done(
            endpoint, bt["token"], pins, version=VERSION, control_plane_endpoint=bool(cluster.get("controlPlaneEndpoint")),
            upload_certs=upload, certificate_key=cert_key if upload else None,
            skip_token_print=flags.get("skip-token-print", False),
            skip_certificate_key_print=flags.get("skip-certificate-key-print", False)))
    sys.stdout.flush()
    return 0


# The node-local phases of `kubeadm init` (cmd/kubeadm/app/cmd/phases/init/{certs,kubeconfig,etcd,controlplane,
# kubelet}.go), as a rebuilt control plane runs them to come back on its restored PKI and etcd data: the phase, its
# sub-phase (`all` runs every sub-phase of certs, kubeconfig and control-plane; etcd has only `local`) and the flags
# each inherits from init. Existing CAs, certificates and kubeconfig files are used, missing ones are generated.
INIT_PHASE_CONFIG_FLAGS = {"config": "str", "kubernetes-version": "str", "dry-run": "bool"}
INIT_NODE_PHASES = {
    "certs": ({"all"}, dict(INIT_PHASE_CONFIG_FLAGS, **{
        "cert-dir": "str", "apiserver-advertise-address": "str", "apiserver-cert-extra-sans": "list",
        "control-plane-endpoint": "str", "service-cidr": "str", "service-dns-domain": "str"})),
    "kubeconfig": ({"all"}, dict(INIT_PHASE_CONFIG_FLAGS, **{
        "cert-dir": "str", "apiserver-advertise-address": "str", "apiserver-bind-port": "str",
        "control-plane-endpoint": "str", "node-name": "str", "kubeconfig-dir": "str"})),
    "etcd": ({"local"}, dict(INIT_PHASE_CONFIG_FLAGS, **{"image-repository": "str", "patches": "str"})),
    "control-plane": ({"all"}, dict(INIT_PHASE_CONFIG_FLAGS, **{
        "cert-dir": "str", "apiserver-advertise-address": "str", "apiserver-bind-port": "str",
        "control-plane-endpoint": "str", "image-repository": "str", "patches": "str", "pod-network-cidr": "str",
        "service-cidr": "str", "feature-gates": "str"})),
    "kubelet-start": (None, {"config": "str", "cri-socket": "str", "node-name": "str", "dry-run": "bool",
                             "patches": "str"}),
}


def cmd_init_node_phase(phase, argv):
    subphases, spec = INIT_NODE_PHASES[phase]
    if subphases is not None:
        if not argv or argv[0].startswith("-"):
            raise KubeadmError('kubesim: run a sub-phase of "kubeadm init phase %s": %s'
                               % (phase, ", ".join(sorted(subphases))))
        if argv[0] not in subphases:
            raise KubeadmError('unknown command "%s" for "kubeadm init phase %s"' % (argv[0], phase))
        argv = argv[1:]
    flags, args = parse(argv, spec)
    if args:
        raise KubeadmError('unknown command "%s" for "kubeadm init phase %s"' % (args[0], phase))
    if flags.get("dry-run"):
        raise KubeadmError("kubesim: --dry-run of the init phases is not implemented by the stand-in")
    if os.geteuid() != 0 and phase in ("etcd", "control-plane", "kubelet-start"):
        raise KubeadmError("user is not running as root", phase=phase)
    init, cluster, docs = load_init(flags)
    k8s = cluster["kubernetesVersion"]
    nr, ep = init["nodeRegistration"], init["localAPIEndpoint"]
    name, advertise, port = nr["name"], ep["advertiseAddress"], int(ep["bindPort"])
    ext = "external" in (cluster.get("etcd") or {})
    if phase == "certs":
        P.make_certs(cluster, name, advertise, out, external_etcd=ext)
    elif phase == "kubeconfig":
        P.make_kubeconfigs(cluster, name, advertise, port, out)
    elif phase == "etcd":
        if ext:
            out("[etcd] External etcd mode. Skipping the creation of a manifest for local etcd")
        else:
            out('[etcd] Creating static Pod manifest for local etcd in "%s"' % C.MANIFESTS_DIR)
            P.write_manifest(P.etcd_manifest(cluster, name, advertise, k8s), "etcd")
    elif phase == "control-plane":
        P.write_control_plane_manifests(cluster, advertise, port, k8s, out)
    else:
        P.write_kubelet_files(P.kubelet_config(cluster, docs.get("KubeletConfiguration")), nr, out)
        out("[kubelet-start] Starting the kubelet")
        start_kubelet()
    return 0


# The phases of `kubeadm init` that act through the API server (cmd/kubeadm/app/cmd/phases/init/{uploadconfig,
# markcontrolplane,bootstraptoken,addons}.go), as a re-run finishes an interrupted init: the phase, its sub-phases
# (`all` runs every one) and the flags each inherits from init (per sub-phase for addon). Aliases as kubeadm's.
INIT_API_PHASE_ALIASES = {"uploadconfig": "upload-config", "bootstraptoken": "bootstrap-token"}
_ADDON_COMMON = {"config": "str", "kubeconfig": "str", "kubernetes-version": "str", "image-repository": "str",
                 "dry-run": "bool", "print-manifest": "bool"}
_ADDON_PROXY = {"apiserver-advertise-address": "str", "control-plane-endpoint": "str", "apiserver-bind-port": "str",
                "pod-network-cidr": "str"}
_ADDON_DNS = {"feature-gates": "str", "service-dns-domain": "str", "service-cidr": "str"}
INIT_API_PHASES = {
    "upload-config": {sub: {"config": "str", "kubeconfig": "str", "dry-run": "bool"}
                      for sub in ("all", "kubeadm", "kubelet")},
    "mark-control-plane": {None: {"config": "str", "node-name": "str", "dry-run": "bool"}},
    "bootstrap-token": {None: {"config": "str", "kubeconfig": "str", "skip-token-print": "bool", "dry-run": "bool"}},
    "addon": {"all": dict(_ADDON_COMMON, **_ADDON_PROXY, **_ADDON_DNS),
              "coredns": dict(_ADDON_COMMON, **_ADDON_DNS),
              "kube-proxy": dict(_ADDON_COMMON, **_ADDON_PROXY)},
}


def cmd_init_api_phase(phase, argv):
    subs = INIT_API_PHASES[phase]
    sub = None
    if None not in subs:
        if not argv or argv[0].startswith("-"):
            raise KubeadmError('kubesim: run a sub-phase of "kubeadm init phase %s": %s'
                               % (phase, ", ".join(sorted(subs))))
        if argv[0] not in subs:
            raise KubeadmError('unknown command "%s" for "kubeadm init phase %s"' % (argv[0], phase))
        sub, argv = argv[0], argv[1:]
    flags, args = parse(argv, subs[sub])
    if args:
        raise KubeadmError('unknown command "%s" for "kubeadm init phase %s"' % (args[0], phase))
    if flags.get("dry-run"):
        raise KubeadmError("kubesim: --dry-run of the init phases is not implemented by the stand-in")
    init, cluster, docs = load_init(flags)
    k8s = cluster["kubernetesVersion"]
    nr, ep = init["nodeRegistration"], init["localAPIEndpoint"]
    server = "https://" + P.endpoint_of(cluster, ep["advertiseAddress"], int(ep["bindPort"]))
    printing = phase == "addon" and flags.get("print-manifest")
    client = None if printing else admin_client(flags.get("kubeconfig", os.path.join(C.KUBERNETES_DIR, C.ADMIN_CONF)))
    try:
        if phase == "upload-config":
            if sub in ("all", "kubeadm"):
                upload_kubeadm_config(client, cluster)
            if sub in ("all", "kubelet"):
                upload_kubelet_config(client, P.kubelet_config(cluster, docs.get("KubeletConfiguration")))
        elif phase == "mark-control-plane":
            mark_control_plane(client, nr["name"], default_taints(nr), 60)
        elif phase == "bootstrap-token":
            bootstrap_token_phase(client, init, cluster, server, flags.get("skip-token-print", False))
        else:
            if sub in ("all", "coredns"):
                coredns_addon(client, cluster, k8s, printing)
            if sub in ("all", "kube-proxy"):
                kube_proxy_addon(client, cluster, k8s, server, docs.get("KubeProxyConfiguration"), printing)
    except ApiError as e:
        raise KubeadmError(e.message or str(e), phase=phase)
    return 0


def upload_certs_key(flags):
    """The certificate key of init phase upload-certs: --certificate-key, or with --config the InitConfiguration's
    certificateKey (the phase reads the init configuration; --certificate-key cannot be mixed with --config)."""
    if "config" in flags:
        init, _cluster, _docs = load_init(flags)
        return init.get("certificateKey") or ""
    return flags.get("certificate-key") or ""


def cmd_init_phase(argv):
    if argv[:1] and argv[0] in INIT_NODE_PHASES:
        return cmd_init_node_phase(argv[0], argv[1:])
    if argv[:1] and INIT_API_PHASE_ALIASES.get(argv[0], argv[0]) in INIT_API_PHASES:
        return cmd_init_api_phase(INIT_API_PHASE_ALIASES.get(argv[0], argv[0]), argv[1:])
    if argv[:1] != ["upload-certs"]:
        raise KubeadmError("kubesim: 'kubeadm init phase %s' is not implemented by the stand-in" % (argv[0] if argv else ""))
    flags, _ = parse(argv[1:], {"upload-certs": "bool", "certificate-key": "str", "config": "str", "kubeconfig": "str",
                                "skip-certificate-key-print": "bool"})
    if not flags.get("upload-certs"):
        out(output.render_upload_certs(None).rstrip("\n"))
        return 0
    client = admin_client(flags.get("kubeconfig", os.path.join(C.KUBERNETES_DIR, C.ADMIN_CONF)))
    try:
        cm = client.get("/api/v1/namespaces/kube-system/configmaps/kubeadm-config")
        cluster = yaml.safe_load(cm["data"]["ClusterConfiguration"])
    except ApiError as e:
        raise KubeadmError("unable to fetch the kubeadm-config ConfigMap: %s" % e.message, phase="upload-certs")
    key = upload_certs_key(flags) or P.new_certificate_key()
    if not all(c in "0123456789abcdef" for c in key.lower()) or len(key) != 64:
        raise KubeadmError("error decoding certificate key: encoding/hex: invalid byte: U+%04X" % ord(
            next((c for c in key if c.lower() not in "0123456789abcdef"), "?")) if len(key) == 64 else
            "error decoding certificate key: key size must be 32 bytes", phase="upload-certs")
    try:
        upload_certs(client, cluster, key)
    except ApiError as e:
        raise KubeadmError(e.message, phase="upload-certs")
    return 0


# ---------------------------------------------------------------- certs

def cmd_certs(argv):
    if argv[:1] == ["certificate-key"]:
        parse(argv[1:], {})
        sys.stdout.write(output.render_certificate_key(P.new_certificate_key()))
        return 0
    if argv[:1] == ["check-expiration"]:
        return certs.check_expiration(argv[1:])
    if argv[:1] == ["renew"]:
        return certs.renew(argv[1:])
    raise KubeadmError("kubesim: 'kubeadm certs %s' is not implemented by the stand-in" % (argv[0] if argv else ""))


# ---------------------------------------------------------------- token

TOKEN_FLAGS = {"kubeconfig": "str", "dry-run": "bool", "config": "str", "ttl": "str", "description": "str",
               "usages": "list", "groups": "list", "print-join-command": "bool", "certificate-key": "str",
               "output": "str", "o": "str", "allow-missing-template-keys": "bool", "show-managed-fields": "bool"}


def list_tokens(client):
    try:
        secs = client.list("/api/v1/namespaces/kube-system/secrets",
                           field_selector="type=bootstrap.kubernetes.io/token").get("items", [])
    except ApiError as e:
        raise KubeadmError("failed to list bootstrap tokens: %s" % e.message)
    toks = []
    for s in secs:
        if s.get("type") != "bootstrap.kubernetes.io/token":
            continue
        t = P.secret_to_token(s)
        if t:
            toks.append(t)
    return toks


def cmd_token(argv):
    sub = argv[0] if argv else ""
    flags, args = parse(argv[1:], TOKEN_FLAGS)
    kcpath = flags.get("kubeconfig", os.path.join(C.KUBERNETES_DIR, C.ADMIN_CONF))
    if sub == "generate":
        out(P.new_token())
        return 0
    if sub == "create":
        if flags.get("certificate-key") and not flags.get("print-join-command"):
            raise KubeadmError("cannot use --certificate-key without --print-join-command")
        token = args[0] if args else ""
        if token and not K.TOKEN_RE.match(token):
            raise KubeadmError('the bootstrap token "%s" was not of the form "^([a-z0-9]{6})\\.([a-z0-9]{16})$"' % token)
        ttl_text = flags.get("ttl", "24h0m0s")
        try:
            ttl = K.parse_duration(ttl_text)
        except ValueError as e:
            raise KubeadmError('invalid argument "%s" for "--ttl" flag: %s' % (ttl_text, e))
        usages = flags.get("usages", ["signing", "authentication"])
        for u in usages:
            if u not in ("signing", "authentication"):
                raise KubeadmError("invalid bootstrap token usage string: %s, valid usage options: "
                                   "authentication, signing" % u)
        groups = flags.get("groups", [C.NODE_BOOTSTRAP_GROUP])
        for g in groups:
            if not K.GROUP_RE.match(g):
                raise KubeadmError('group name must match ^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$, got "%s"' % g) \
                    if False else KubeadmError('%s' % ('bootstrap group "%s" is invalid (must match %s)'
                                                       % (g, "\\Asystem:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]\\z")))
        if "authentication" not in usages and groups and "groups" in flags:
            raise KubeadmError('token groups cannot be specified unless --usages includes "authentication"')
        client = admin_client(kcpath)
        token = token or P.new_token()
        sec = P.token_secret(token, ttl, flags.get("description", ""), usages,
                             groups if "authentication" in usages else [])
        try:
            client.create(resource_path("v1", "secrets", "kube-system"), sec)
        except ApiError as e:
            if e.status == 409:
                raise KubeadmError('a token with id "%s" already exists' % token.split(".")[0])
            raise KubeadmError("failed to create or update bootstrap token with name bootstrap-token-%s: %s"
                               % (token.split(".")[0], e.message))
        if flags.get("print-join-command"):
            kc = pki.read_kubeconfig(kcpath)
            pins, srv = ca_pins_from_kubeconfig(kc)
            sys.stdout.write(output.render_print_join_command(srv.replace("https://", ""), token, pins,
                                                              certificate_key=flags.get("certificate-key")))
        else:
            sys.stdout.write(output.render_token_create(token))
        return 0
    if sub == "list":
        client = admin_client(kcpath)
        toks = list_tokens(client)
        fmt = flags.get("output", flags.get("o", "text"))
        if fmt == "json":
            sys.stdout.write(output.render_token_list_json(toks))
        elif fmt == "yaml":
            for t in toks:
                sys.stdout.write(yaml.safe_dump(output.token_output_object(**{k: v for k, v in t.items() if v}),
                                                default_flow_style=False, sort_keys=False))
                sys.stdout.write("---\n") if False else None
        elif fmt in ("text", ""):
            sys.stdout.write(output.render_token_list_text(toks, datetime.datetime.now(datetime.timezone.utc)))
        else:
            raise KubeadmError('unable to match a printer suitable for the output format "%s", allowed formats are: '
                               'json,jsonpath,jsonpath-as-json,jsonpath-file,text,yaml' % fmt)
        return 0
    if sub == "delete":
        if not args:
            raise KubeadmError("missing argument; 'token delete' is missing token of form "
                               '"^([a-z0-9]{6})$" or "^([a-z0-9]{6})\\.([a-z0-9]{16})$"')
        client = admin_client(kcpath)
        for a in args:
            if K.TOKEN_RE.match(a):
                tid = a.split(".")[0]
            elif K.TOKEN_ID_RE.match(a):
                tid = a
            else:
                raise KubeadmError('given token didn\'t match pattern "^([a-z0-9]{6})$" or '
                                   '"^([a-z0-9]{6})\\.([a-z0-9]{16})$"')
            try:
                client.delete("/api/v1/namespaces/kube-system/secrets/bootstrap-token-" + tid)
            except ApiError as e:
                raise KubeadmError('failed to delete bootstrap token "%s": %s' % (tid, e.message))
            out('bootstrap token "%s" deleted' % tid)
        return 0
    raise KubeadmError('unknown command "%s" for "kubeadm token"' % sub)


# ---------------------------------------------------------------- join

JOIN_FLAGS = {"config": "str", "token": "str", "discovery-token": "str", "tls-bootstrap-token": "str",
              "discovery-token-ca-cert-hash": "list", "discovery-token-unsafe-skip-ca-verification": "bool",
              "discovery-file": "str", "control-plane": "bool", "certificate-key": "str",
              "apiserver-advertise-address": "str", "apiserver-bind-port": "str", "node-name": "str",
              "cri-socket": "str", "ignore-preflight-errors": "list", "skip-phases": "list", "dry-run": "bool",
              "patches": "str"}


def load_join(flags, args):
    if "config" in flags:
        check_config_mix(flags, JOIN_MIX_ALLOWED)
        docs = K.split_documents(flags["config"], VERSION, {"JoinConfiguration"})
        if "JoinConfiguration" not in docs:
            raise KubeadmError("no JoinConfiguration kind was found in the YAML file")
        join = docs["JoinConfiguration"]
    else:
        docs = {}
        join = {"apiVersion": K.KUBEADM_V1BETA4, "kind": "JoinConfiguration", "nodeRegistration": {},
                "discovery": {}}
        tok = flags.get("discovery-token", flags.get("token", ""))
        if "discovery-file" in flags:
            join["discovery"]["file"] = {"kubeConfigPath": flags["discovery-file"]}
        else:
            join["discovery"]["bootstrapToken"] = {
                "token": tok, "apiServerEndpoint": args[0] if args else "",
                "caCertHashes": flags.get("discovery-token-ca-cert-hash", []),
                "unsafeSkipCAVerification": flags.get("discovery-token-unsafe-skip-ca-verification", False)}
        join["discovery"]["tlsBootstrapToken"] = flags.get("tls-bootstrap-token", flags.get("token", ""))
        if "cri-socket" in flags:
            join["nodeRegistration"]["criSocket"] = flags["cri-socket"]
        if flags.get("control-plane"):
            cp = join["controlPlane"] = {"localAPIEndpoint": {}}
            if "apiserver-advertise-address" in flags:
                cp["localAPIEndpoint"]["advertiseAddress"] = flags["apiserver-advertise-address"]
            if "apiserver-bind-port" in flags:
                cp["localAPIEndpoint"]["bindPort"] = int(flags["apiserver-bind-port"])
            if "certificate-key" in flags:
                cp["certificateKey"] = flags["certificate-key"]
    join = K.default_join(join)
    nr = join["nodeRegistration"]
    if "node-name" in flags:
        nr["name"] = flags["node-name"]
    nr.setdefault("name", hostname())
    nr["ignorePreflightErrors"] = list(nr.get("ignorePreflightErrors") or []) + flags.get("ignore-preflight-errors", [])
    msg = preflight.validate_ignore_list(nr["ignorePreflightErrors"])
    if msg:
        raise KubeadmError(msg)
    K.raise_if(K.validate_join(join))
    for h in (join["discovery"].get("bootstrapToken") or {}).get("caCertHashes") or []:
        check_pin_format(h)
    return join, docs


def check_pin_format(h):
    parts = h.split(":")
    if len(parts) != 2:
        raise KubeadmError('invalid discovery token CA certificate hash: invalid hash "%s", format must be '
                           '"<type>:<value>"' % h)
    if parts[0].lower() != "sha256":
        raise KubeadmError('invalid discovery token CA certificate hash: unknown hash type "%s"' % parts[0])
    try:
        raw = bytes.fromhex(parts[1])
    except ValueError:
        raw = b"\0" * ((len(parts[1]) // 2) if len(parts[1]) % 2 == 0 else 99)
        if len(parts[1]) % 2:
            raise KubeadmError('invalid discovery token CA certificate hash: invalid hash "%s", expected a 32 byte '
                               'SHA-256 hash, found %d bytes' % (h, len(parts[1]) // 2))
    if len(raw) != 32:
        raise KubeadmError('invalid discovery token CA certificate hash: invalid hash "%s", expected a 32 byte '
                           'SHA-256 hash, found %d bytes' % (h, len(raw)))


def _b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def verify_jws(content, jws, token_id, token_secret):
    parts = jws.split(".")
    if len(parts) != 3 or parts[1] != "":
        return False
    try:
        header = json.loads(_b64url_decode(parts[0]))
    except ValueError:
        return False
    if header.get("alg") != "HS256" or header.get("kid") != token_id:
        return False
    signing_input = parts[0] + "." + base64.urlsafe_b64encode(content.encode()).rstrip(b"=").decode()
    want = hmac.new(token_secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return hmac.compare_digest(want, _b64url_decode(parts[2]))


def discover(join):
    """Token discovery (discovery/token): returns the validated cluster-info kubeconfig dict."""
    d = join["discovery"]
    if d.get("file"):
        return pki.read_kubeconfig(d["file"]["kubeConfigPath"])
    bt = d["bootstrapToken"]
    tid, tsec = bt["token"].split(".")
    endpoint = "https://" + bt["apiServerEndpoint"]
    timeout_s = duration(join.get("timeouts", {}).get("discovery"), "5m")
    insecure = Client(endpoint, insecure=True, timeout=10)
    path = "/api/v1/namespaces/kube-public/configmaps/cluster-info"
    deadline = time.time() + timeout_s
    last = None
    cm = None
    while True:
        try:
            cm = insecure.get(path)
            if "jws-kubeconfig-" + tid in (cm.get("data") or {}):
                break
            last = 'could not find a JWS signature in the cluster-info ConfigMap for token ID "%s"' % tid
        except ApiError as e:
            last = 'failed to request the cluster-info ConfigMap: %s' % e.message
        if time.time() >= deadline:
            raise KubeadmError("couldn't validate the identity of the API Server: %s" % last, phase="preflight")
        time.sleep(min(5.0, max(0.2, deadline - time.time())))
    content = cm["data"].get("kubeconfig", "")
    if not verify_jws(content, cm["data"]["jws-kubeconfig-" + tid], tid, tsec):
        raise KubeadmError("couldn't validate the identity of the API Server: failed to verify JWS signature of "
                           "received cluster info object, can't trust this API Server", phase="preflight")
    kc = yaml.safe_load(content)
    ca_data = base64.b64decode(kc["clusters"][0]["cluster"]["certificate-authority-data"])
    if not bt.get("unsafeSkipCAVerification"):
        pins = [pki.spki_pin(c) for c in pki.load_certs(ca_data)]
        wanted = [h.split(":")[0].lower() + ":" + h.split(":")[1].lower() for h in bt.get("caCertHashes") or []]
        if not any(p in wanted for p in pins):
            raise KubeadmError('couldn\'t validate the identity of the API Server: cluster CA found in cluster-info '
                               'ConfigMap is invalid: none of the public keys "%s" are pinned' % ",".join(pins),
                               phase="preflight")
        secure = Client(endpoint, ca_data=ca_data, timeout=10)
        try:
            cm2 = secure.get(path)
        except ApiError as e:
            raise KubeadmError("couldn't validate the identity of the API Server: %s" % e.message, phase="preflight")
        if cm2["data"].get("kubeconfig") != content:
            raise KubeadmError("couldn't validate the identity of the API Server: the second kubeconfig from the "
                               "cluster-info ConfigMap (after validating TLS) does not match the first", phase="preflight")
    kc["clusters"][0]["cluster"]["server"] = endpoint if not kc["clusters"][0]["cluster"].get("server") else \
        kc["clusters"][0]["cluster"]["server"]
    return kc


def bootstrap_kubeconfig(info, token, cluster_name="kubernetes"):
    c = info["clusters"][0]["cluster"]
    return pki.kubeconfig(c["server"], base64.b64decode(c["certificate-authority-data"]), cluster_name,
                          "tls-bootstrap-token-user", token=token)


def etcd_request(endpoint, path, body, pki_dir, client="apiserver-etcd-client"):
    ctx = ssl.create_default_context(cafile=os.path.join(pki_dir, "etcd", "ca.crt"))
    ctx.check_hostname = False
    ctx.load_cert_chain(os.path.join(pki_dir, client + ".crt"), os.path.join(pki_dir, client + ".key"))
    req = urllib.request.Request(endpoint.rstrip("/") + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        return json.loads(r.read() or b"{}")


def etcd_endpoints(client):
    eps = []
    try:
        pods = client.list("/api/v1/namespaces/kube-system/pods", label_selector="component=etcd,tier=control-plane")
        for p in pods.get("items", []):
            u = (p["metadata"].get("annotations") or {}).get(C.ANNOTATION_ETCD_URLS)
            if u:
                eps.append(u)
    except ApiError:
        pass
    if not eps:
        try:
            nodes = client.list("/api/v1/nodes", label_selector=C.LABEL_CONTROL_PLANE)
            for n in nodes.get("items", []):
                for a in (n.get("status") or {}).get("addresses") or []:
                    if a.get("type") == "InternalIP":
                        eps.append("https://%s:2379" % P.fmt_host(a["address"]))
        except ApiError:
            pass
    return eps


def cmd_join(argv):
    flags, args = parse(argv, JOIN_FLAGS)
    join, docs = load_join(flags, args)
    nr = join["nodeRegistration"]
    name = nr["name"]
    cp = join.get("controlPlane")
    out("[preflight] Running pre-flight checks")
    preflight.run(preflight.join_checks(join, VERSION), nr["ignorePreflightErrors"])
    info = discover(join)
    server = info["clusters"][0]["cluster"]["server"]
    ca_pem = base64.b64decode(info["clusters"][0]["cluster"]["certificate-authority-data"])
    out('[preflight] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...')
    out("[preflight] Use 'kubeadm init phase upload-config kubeadm --config your-config-file' to re-upload it.")
    tls_token = join["discovery"].get("tlsBootstrapToken") or join["discovery"]["bootstrapToken"]["token"]
    bclient = Client(server, ca_data=ca_pem, token=tls_token, timeout=15)
    try:
        cluster = yaml.safe_load(bclient.get("/api/v1/namespaces/kube-system/configmaps/kubeadm-config")
                                 ["data"]["ClusterConfiguration"])
        kubelet_cm = bclient.get("/api/v1/namespaces/kube-system/configmaps/kubelet-config")
        kcfg = yaml.safe_load(kubelet_cm["data"]["kubelet"])
    except ApiError as e:
        raise KubeadmError("unable to fetch the kubeadm-config ConfigMap: %s" % e.message, phase="preflight")
    pki_dir = cluster.get("certificatesDir", C.PKI_DIR)
    k8s = cluster.get("kubernetesVersion", "v" + VERSION)
    if cp is not None:
        if not cluster.get("controlPlaneEndpoint"):
            raise KubeadmError("\nOne or more conditions for hosting a new control plane instance is not satisfied.\n\n"
                               "unable to add a new control plane instance to a cluster that doesn't have a stable "
                               "controlPlaneEndpoint address\n\nPlease ensure that:\n* The cluster has a stable "
                               "controlPlaneEndpoint address.\n* The certificates that must be shared among control "
                               "plane instances are provided.\n", phase="preflight")
        out("[preflight] Running pre-flight checks before initializing the new control plane instance")
        init_like = {"localAPIEndpoint": cp["localAPIEndpoint"], "nodeRegistration": nr}
        preflight.run(preflight.init_checks(init_like, cluster, VERSION, secondary=True), nr["ignorePreflightErrors"])
        advertise = cp["localAPIEndpoint"].get("advertiseAddress") or P.default_route_ip()
        if not advertise:
            raise KubeadmError("unable to select an IP from default routes.")
        port = int(cp["localAPIEndpoint"].get("bindPort", C.API_SERVER_PORT))
        key = cp.get("certificateKey", "")
        if key:
            out('[download-certs] Downloading the certificates in Secret "kubeadm-certs" in the "kube-system" Namespace')
            try:
                sec = bclient.get("/api/v1/namespaces/kube-system/secrets/kubeadm-certs")
            except ApiError as e:
                if e.status in (403, 404):
                    raise KubeadmError('Secret "kubeadm-certs" was not found in the "kube-system" Namespace. This Secret '
                                       'might have expired. Please, run `kubeadm init phase upload-certs --upload-certs` '
                                       'on a control plane to generate a new one', phase="control-plane-prepare/download-certs")
                raise KubeadmError(e.message, phase="control-plane-prepare/download-certs")
            files = {}
            for rel in P.SHARED_CERTS:
                v = (sec.get("data") or {}).get(P.secret_key_name(rel))
                if v is None:
                    continue
                try:
                    files[rel] = P.decrypt(base64.b64decode(v), key)
                except Exception:  # noqa: BLE001 - wrong key: GCM authentication fails
                    raise KubeadmError("error decoding secret data with provided key: cipher: message authentication "
                                       "failed", phase="control-plane-prepare/download-certs")
            for rel, data in files.items():
                mode = 0o600 if rel.endswith(".key") else 0o644
                pki.write_file(os.path.join(pki_dir, rel), data, mode)
        for rel in ("ca.crt", "ca.key", "sa.key", "sa.pub", "front-proxy-ca.crt", "front-proxy-ca.key"):
            if not os.path.exists(os.path.join(pki_dir, rel)):
                raise KubeadmError("\nOne or more conditions for hosting a new control plane instance is not "
                                   "satisfied.\n\nfailure loading certificate for CA: couldn't load the certificate "
                                   "file %s: open %s: no such file or directory\n\nPlease ensure that:\n* The cluster "
                                   "has a stable controlPlaneEndpoint address.\n* The certificates that must be shared "
                                   "among control plane instances are provided.\n"
                                   % (os.path.join(pki_dir, rel), os.path.join(pki_dir, rel)), phase="preflight")
        ext = "external" in (cluster.get("etcd") or {})
        P.make_certs(cluster, name, advertise, out, external_etcd=ext)
        P.make_kubeconfigs(cluster, name, advertise, port, out,
                           files={C.ADMIN_CONF, C.CONTROLLER_MANAGER_CONF, C.SCHEDULER_CONF})
        P.write_control_plane_manifests(cluster, advertise, port, k8s, out)
    # kubelet-start
    pki.write_file(os.path.join(pki_dir, "ca.crt"), ca_pem, 0o644) if not os.path.exists(os.path.join(pki_dir, "ca.crt")) else None
    pki.write_kubeconfig(os.path.join(C.KUBERNETES_DIR, C.BOOTSTRAP_KUBELET_CONF),
                         bootstrap_kubeconfig(info, tls_token, cluster.get("clusterName", "kubernetes")))
    P.write_kubelet_files(kcfg, nr, out)
    out("[kubelet-start] Starting the kubelet")
    start_kubelet()
    t = join.get("timeouts", {})
    wait_kubelet(duration(t.get("kubeletHealthCheck"), "4m"), phase="kubelet-start")
    out("[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap")
    kubelet_conf = os.path.join(C.KUBERNETES_DIR, C.KUBELET_CONF)
    if not wait_for(lambda: os.path.exists(kubelet_conf), duration(t.get("tlsBootstrap"), "5m"), 0.5):
        raise KubeadmError("timed out waiting for the condition", phase="kubelet-start")
    try:
        os.unlink(os.path.join(C.KUBERNETES_DIR, C.BOOTSTRAP_KUBELET_CONF))
    except OSError:
        pass
    if cp is None:
        out("")
        out("This node has joined the cluster:")
        out("* Certificate signing request was sent to apiserver and a response was received.")
        out("* The Kubelet was informed of the new secure connection details.")
        out("")
        out("Run 'kubectl get nodes' on the control-plane to see this node join the cluster.")
        out("")
        return 0
    # control-plane-join
    client = Client.from_kubeconfig(os.path.join(C.KUBERNETES_DIR, C.ADMIN_CONF))
    if "external" not in (cluster.get("etcd") or {}):
        h = P.fmt_host(advertise)
        members = None
        last = None
        # Like kubeadm, retry with an exponential backoff: etcd refuses a member add ("unhealthy cluster") until
        # every member, including one that has just joined, has been connected to the leader for a while.
        deadline = time.monotonic() + duration(t.get("etcdAPICall"), "2m")
        delay = 0.5
        while members is None:
            for ep in etcd_endpoints(client):
                try:
                    res = etcd_request(ep, "/v3/cluster/member/add", {"peerURLs": ["https://%s:2380" % h]}, pki_dir)
                    members, new_id = res.get("members", []), res.get("member", {}).get("ID")
                    break
                except Exception as e:  # noqa: BLE001 - try the next member
                    last = e
            if members is not None or time.monotonic() + delay > deadline:
                break
            time.sleep(delay)
            delay = min(delay * 1.5, 5.0)
        if members is None:
            raise KubeadmError("error creating local etcd static pod manifest file: etcdserver: unhealthy cluster (%s)"
                               % last, phase="control-plane-join/etcd")
        out("[etcd] Announced new etcd member joining to the existing etcd cluster")
        initial = []
        for m in members:
            mname = name if m.get("ID") == new_id or not m.get("name") else m["name"]
            for u in m.get("peerURLs") or []:
                initial.append((mname, u))
        out('[etcd] Creating static Pod manifest for "etcd"')
        P.write_manifest(P.etcd_manifest(cluster, name, advertise, k8s, initial_cluster=initial), "etcd")
        out("[etcd] Waiting for the new etcd member to join the cluster. This can take up to 40s")

        def etcd_up():
            etcd_request("https://127.0.0.1:2379", "/v3/maintenance/status", {}, pki_dir)
            return True
        if not wait_for(etcd_up, duration(t.get("etcdAPICall"), "2m"), 1.0):
            raise KubeadmError("error creating local etcd static pod manifest file: timeout waiting for etcd cluster "
                               "to be available", phase="control-plane-join/etcd")
    try:
        mark_control_plane(client, name, default_taints(nr), 60)
    except ApiError as e:
        raise KubeadmError(e.message, phase="control-plane-join/mark-control-plane")
    local = pki.read_kubeconfig(os.path.join(C.KUBERNETES_DIR, C.ADMIN_CONF))
    local["clusters"][0]["cluster"]["server"] = "https://%s:%s" % (P.fmt_host(advertise), port)
    wait_apiserver(Client.from_kubeconfig_dict(local), advertise, port,
                   duration(t.get("controlPlaneComponentHealthCheck"), "4m"))
    out("")
    out("This node has joined the cluster and a new control plane instance was created:")
    out("")
    out("* Certificate signing request was sent to apiserver and approval was received.")
    out("* The Kubelet was informed of the new secure connection details.")
    out("* Control plane label and taint were applied to the new node.")
    out("* The Kubernetes control plane instances scaled up.")
    out("* A new etcd member was added to the local/stacked etcd cluster.")
    out("")
    out("To start administering your cluster from this node, you need to run the following as a regular user:")
    out("")
    out("\tmkdir -p $HOME/.kube")
    out("\tsudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config")
    out("\tsudo chown $(id -u):$(id -g) $HOME/.kube/config")
    out("")
    out("Run 'kubectl get nodes' to see this node join the cluster.")
    out("")
    return 0


# ---------------------------------------------------------------- reset

def _clean_dir(path):
    if not os.path.isdir(path):
        return
    for n in os.listdir(path):
        p = os.path.join(path, n)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p, ignore_errors=True)
        else:
            try:
                os.unlink(p)
            except OSError:
                pass


def _port_open(port):
    s = socket.socket()
    s.settimeout(0.5)
    try:
        return s.connect_ex(("127.0.0.1", port)) == 0
    finally:
        s.close()


def _read_pod(path):
    with open(path) as f:
        return yaml.safe_load(f)


def reset_cluster_config(kubeconfig):
    """newResetData: the ClusterConfiguration from the kubeadm-config ConfigMap when the kubeconfig
    (admin.conf by default) reaches the API server; (None, None) otherwise, with kubeadm's warning
    when the kubeconfig exists but the ConfigMap cannot be read.  Without it, kubeadm does not try to
    remove the etcd member (cfg == nil in removeetcdmember.go)."""
    if not os.path.exists(kubeconfig):
        return None, None
    try:
        client = Client.from_kubeconfig(kubeconfig, timeout=10)
        cm = client.get("/api/v1/namespaces/kube-system/configmaps/kubeadm-config")
        cluster = yaml.safe_load(cm["data"]["ClusterConfiguration"]) or {}
    except ApiError as e:
        warning("[reset] Unable to fetch the kubeadm-config ConfigMap from cluster: failed to get config map: %s"
                % e.message, "reset.go:124")
        return None, None
    except Exception as e:  # noqa: BLE001 - unreadable kubeconfig or ConfigMap: kubeadm only warns
        warning("[reset] Unable to fetch the kubeadm-config ConfigMap from cluster: %s" % e, "reset.go:124")
        return None, None
    return client, cluster


def _etcd_retry(fn, deadline):
    """kubeadm's etcdBackoff (50ms doubling): retried until ``deadline``; the last error is raised."""
    delay = 0.05
    while True:
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - transient etcd errors are retried, as kubeadm does
            if time.time() + delay > deadline:
                raise KubeadmError(str(getattr(e, "reason", e)))
        time.sleep(delay)
        delay = min(delay * 2, 3.2)


# How long reset retries etcd (kubeadm: etcdBackoff, 11 steps from 50ms doubling, after a 40s dial timeout).
RESET_ETCD_TIMEOUT = 20


def remove_stacked_etcd_member(client, pki_dir, own_client_url):
    """etcdphase.RemoveStackedEtcdMemberFromCluster: endpoints from the etcd pods' annotations,
    synced with the member list (client URLs); the only remaining member is left alone; a member
    already gone is no error; otherwise the member whose first peer URL is this node's is removed.
    Returns "last", "absent" or "removed"."""
    eps = etcd_endpoints(client)
    if not eps:
        raise KubeadmError("could not retrieve the list of etcd endpoints: no etcd Pods found")
    deadline = time.time() + RESET_ETCD_TIMEOUT
    state = {"eps": eps}

    def call(path, body):
        last = None
        for ep in state["eps"]:
            try:
                return etcd_request(ep, path, body, pki_dir, client="etcd/healthcheck-client")
            except Exception as e:  # noqa: BLE001 - try the next endpoint
                last = e
        raise last

    members = _etcd_retry(lambda: call("/v3/cluster/member/list", {}), deadline).get("members", [])
    # Client.Sync: the member list is the authoritative list of endpoints.
    state["eps"] = sorted({u for m in members for u in m.get("clientURLs") or []}) or eps
    if len(members) == 1 and own_client_url in state["eps"]:
        return "last"
    peer = own_client_url.rsplit(":", 1)[0] + ":%d" % C.ETCD_PEER_PORT
    mine = [m for m in members if (m.get("peerURLs") or [None])[0] == peer]
    if not mine:
        return "absent"
    _etcd_retry(lambda: call("/v3/cluster/member/remove", {"ID": mine[0]["ID"]}), deadline)
    return "removed"


DEFAULT_ETCD_DATA_DIR = "/var/lib/etcd"


def _etcd_data_dir(cluster, manifest):
    """getEtcdDataDir: the config's etcd.local.dataDir; without a config, the etcd pod's etcd-data
    volume (kubeadm's default when the manifest is gone); None for an invalid manifest."""
    if cluster is not None and "external" not in (cluster.get("etcd") or {}):
        return ((cluster.get("etcd") or {}).get("local") or {}).get("dataDir") or DEFAULT_ETCD_DATA_DIR
    warning("[reset] No kubeadm config, using etcd pod spec to get data directory", "removeetcdmember.go:107")
    if not os.path.exists(manifest):
        return DEFAULT_ETCD_DATA_DIR
    try:
        for v in _read_pod(manifest)["spec"].get("volumes") or []:
            if v.get("name") == "etcd-data":
                return v["hostPath"]["path"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return None


def phase_remove_etcd_member(client, cluster, pki_dir, manifests):
    """reset phase remove-etcd-member (removeetcdmember.go)."""
    manifest = os.path.join(manifests, "etcd.yaml")
    data_dir = _etcd_data_dir(cluster, manifest)
    if data_dir is None:
        out("[reset] No etcd config found. Assuming external etcd")
        out("[reset] Please, manually reset etcd to prevent further issues")
        return None
    if cluster is not None and os.path.exists(manifest):
        try:
            own = (_read_pod(manifest)["metadata"].get("annotations") or {}).get(C.ANNOTATION_ETCD_URLS, "")
            if not own:
                raise KubeadmError("failed to get the etcd client URL of this node: the etcd Pod has no %s "
                                   "annotation" % C.ANNOTATION_ETCD_URLS)
            remove_stacked_etcd_member(client, pki_dir, own)
        except Exception as e:  # noqa: BLE001 - kubeadm only warns and goes on
            warning("[reset] Failed to remove etcd member: %s, please manually remove this etcd member using etcdctl"
                    % (e.text() if isinstance(e, KubeadmError) else e), "removeetcdmember.go:70")
        else:
            _clean_dir(data_dir)
            out("[reset] Deleted contents of the etcd data directory: %s" % data_dir)
    # Stale files would break the next init or join: the directory is emptied either way
    # (kubeadm's IsDirEmpty is false for a directory that does not exist).
    if not (os.path.isdir(data_dir) and not os.listdir(data_dir)):
        _clean_dir(data_dir)
        out("[reset] Deleted contents of the etcd data directory: %s" % data_dir)
    return data_dir


def cmd_reset(argv):
    flags, _ = parse(argv, {"force": "bool", "f": "bool", "cert-dir": "str", "cri-socket": "str",
                            "ignore-preflight-errors": "list", "skip-phases": "list", "kubeconfig": "str",
                            "dry-run": "bool", "cleanup-tmp-dir": "bool", "config": "str"})
    force = flags.get("force") or flags.get("f")
    if "config" in flags:
        docs = K.split_documents(flags["config"], VERSION, {"ResetConfiguration"})
        force = force or (docs.get("ResetConfiguration") or {}).get("force", False)
    if flags.get("dry-run"):
        raise KubeadmError("kubesim: 'kubeadm reset --dry-run' is not implemented by the stand-in")
    pki_dir = flags.get("cert-dir", C.PKI_DIR)
    skip = set(flags.get("skip-phases") or [])
    client, cluster = reset_cluster_config(flags.get("kubeconfig", os.path.join(C.KUBERNETES_DIR, C.ADMIN_CONF)))
    # phases/reset/preflight.go: neither --force nor dry-run -> klog warning, then the question on stdin.
    if not force:
        warning("[reset] WARNING: Changes made to this host by 'kubeadm init' or 'kubeadm join' will be reverted.",
                "preflight.go:56")
        interactively_confirm("reset", "Are you sure you want to proceed?")
    out("[preflight] Running pre-flight checks")
    manifests = C.MANIFESTS_DIR
    etcd_dir = None
    if "remove-etcd-member" not in skip:
        etcd_dir = phase_remove_etcd_member(client, cluster, pki_dir, manifests)
    if "cleanup-node" in skip:
        return 0
    # cleanup-node: the static pods go with their manifests (the kubelet stops them), then the kubelet
    had_static = os.path.isdir(manifests) and any(n.endswith(".yaml") for n in os.listdir(manifests))
    for n in os.listdir(manifests) if os.path.isdir(manifests) else []:
        if n.endswith(".yaml"):
            os.unlink(os.path.join(manifests, n))
    if had_static:
        wait_for(lambda: not any(_port_open(p) for p in (6443, 2379, 10257, 10259)), 30, 0.5)
    out("[reset] Stopping the kubelet service")
    systemctl("stop", "kubelet")
    # The stand-in's etcd is a host process that may still write while it stops (kubeadm removes the
    # etcd container): what it wrote after remove-etcd-member emptied the directory goes too, silently.
    if had_static:
        if etcd_dir:
            _clean_dir(etcd_dir)
    out('[reset] Unmounting mounted directories in "%s"' % C.KUBELET_DIR)
    dirs = [manifests, C.KUBELET_DIR, pki_dir]
    out("[reset] Deleting contents of directories: [%s]" % " ".join(dirs))
    for d in dirs:
        _clean_dir(d)
    files = [os.path.join(C.KUBERNETES_DIR, f) for f in (C.ADMIN_CONF, C.SUPER_ADMIN_CONF, C.KUBELET_CONF,
                                                         C.BOOTSTRAP_KUBELET_CONF, C.CONTROLLER_MANAGER_CONF,
                                                         C.SCHEDULER_CONF)]
    out("[reset] Deleting files: [%s]" % " ".join(files))
    for f in files:
        try:
            os.unlink(f)
        except OSError:
            pass
    out("")
    out("The reset process does not perform cleanup of CNI plugin configuration,")
    out("network filtering rules and kubeconfig files.")
    out("")
    out("For information on how to perform this cleanup manually, please see:")
    out("    https://k8s.io/docs/reference/setup-tools/kubeadm/kubeadm-reset/")
    out("")
    return 0


# ---------------------------------------------------------------- main

USAGE = """

    ┌──────────────────────────────────────────────────────────┐
    │ KUBEADM                                                  │
    │ Easily bootstrap a secure Kubernetes cluster             │
    │                                                          │
    │ Please give us feedback at:                              │
    │ https://github.com/kubernetes/kubeadm/issues             │
    └──────────────────────────────────────────────────────────┘

Example usage:

    Create a two-machine cluster with one control-plane node
    (which controls the cluster), and one worker node
    (where your workloads, like Pods and Deployments run).

    ┌──────────────────────────────────────────────────────────┐
    │ On the first machine:                                    │
    ├──────────────────────────────────────────────────────────┤
    │ control-plane# kubeadm init                              │
    └──────────────────────────────────────────────────────────┘

    ┌──────────────────────────────────────────────────────────┐
    │ On the second machine:                                   │
    ├──────────────────────────────────────────────────────────┤
    │ worker# kubeadm join <arguments-returned-from-init>      │
    └──────────────────────────────────────────────────────────┘

    You can then repeat the second step on as many other machines as you like.

(kubesim stand-in: version, config images list, init, init phase certs|kubeconfig|etcd|control-plane|kubelet-start|
upload-certs, join, token,
certs certificate-key|check-expiration|renew, reset, upgrade plan|apply|node)
"""

def cmd_upgrade(argv):
    from .upgrade import cmd_upgrade as run
    return run(argv)


COMMANDS = {"version": cmd_version, "config": cmd_config, "init": cmd_init, "join": cmd_join, "token": cmd_token,
            "certs": cmd_certs, "reset": cmd_reset, "upgrade": cmd_upgrade}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if not argv or argv[0] in ("-h", "--help", "help"):
            sys.stdout.write(USAGE)
            return 0
        cmd = argv[0]
        if cmd not in COMMANDS:
            raise KubeadmError('unknown command "%s" for "kubeadm"\nRun \'kubeadm --help\' for usage.' % cmd)
        # A whole init/join/reset checks for root in its preflight; the init phases run on their own do not.
        if os.geteuid() != 0 and cmd in ("init", "join", "reset") and argv[1:2] != ["phase"]:
            raise KubeadmError("user is not running as root", phase="preflight")
        return COMMANDS[cmd](argv[1:])
    except PreflightError as e:
        text, code = output.render_preflight_failure(e.errors, VERSION, phase=e.phase)
        err(text)
        return code
    except KubeadmError as e:
        text, code = output.render_error(e.text(), VERSION)
        err(text)
        return code
    except KeyboardInterrupt:
        return 130

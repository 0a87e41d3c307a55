"""kubeadm upgrade plan | apply | node (stand-in).

Read: cmd/kubeadm/app/cmd/upgrade/{plan,apply,node}.go, cmd/kubeadm/app/cmd/phases/upgrade/{apply,node}/*.go,
cmd/kubeadm/app/phases/upgrade/{policy,health,staticpods,versiongetter}.go.  What is modelled:
- the version skew policy (policy.go) with its texts, mandatory vs skippable (--force) errors;
- the cluster health checks ControlPlaneNodesReady and StaticPodManifest (CreateJob is not modelled: the
  stand-in runs no Job controller);
- apply: static pod manifests rewritten for the new version (a manifest that does not change is skipped, as
  staticpods.go does), then kubeadm waits until the kubelet reports the new manifest's hash on the mirror pod;
  on a timeout the old manifest is restored; kubeadm-config and kubelet-config ConfigMaps uploaded; kubelet
  config written to /var/lib/kubelet/config.yaml; bootstrap-token RBAC; CoreDNS and kube-proxy updated only
  when every control plane runs the new kube-apiserver (UnupgradedControlPlaneInstances);
- node: on a control plane the same static pod upgrade to the version in kubeadm-config, on every node the
  kubelet config phase, then the addons when it was the last control plane.
Not modelled: certificate renewal during the upgrade, --dry-run, --patches, --config (UpgradeConfiguration).
"""

import datetime
import hashlib
import os
import re
import shutil
import sys
import time

import yaml

from kubesim.apiclient import ApiError, Client
from . import constants as C
from . import phases as P
from .errors import KubeadmError, PreflightError
from .cmdutil import interactively_confirm
from .flags import parse

COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
UPGRADE_MANIFESTS_TIMEOUT = 5 * 60
SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")

COMMON_FLAGS = {"kubeconfig": "str", "config": "str", "ignore-preflight-errors": "list",
                "allow-experimental-upgrades": "bool", "allow-release-candidate-upgrades": "bool",
                "print-config": "bool", "feature-gates": "str", "output": "str", "o": "str",
                "show-managed-fields": "bool", "allow-missing-template-keys": "bool"}
APPLY_FLAGS = dict(COMMON_FLAGS, **{"yes": "bool", "y": "bool", "force": "bool", "f": "bool", "dry-run": "bool",
                                    "etcd-upgrade": "bool", "certificate-renewal": "bool", "patches": "str",
                                    "skip-phases": "list"})
NODE_FLAGS = {"kubeconfig": "str", "config": "str", "ignore-preflight-errors": "list", "dry-run": "bool",
              "etcd-upgrade": "bool", "certificate-renewal": "bool", "patches": "str", "skip-phases": "list"}


def out(line=""):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------- versions

class Version:
    """k8s.io/apimachinery/pkg/util/version: semantic version with an optional pre-release."""

    def __init__(self, text):
        m = SEMVER.match(str(text).strip())
        if not m:
            raise KubeadmError('couldn\'t parse Kubernetes version "%s": could not parse "%s" as version'
                               % (text, text))
        self.major, self.minor, self.patch = int(m.group(1)), int(m.group(2)), int(m.group(3))
        self.pre = m.group(4) or ""
        self.text = "v%d.%d.%d%s" % (self.major, self.minor, self.patch, "-" + self.pre if self.pre else "")

    def key(self):
        # a pre-release sorts before its release
        return (self.major, self.minor, self.patch, 0 if self.pre else 1, self.pre)

    def less_than(self, other):
        return self.key() < other.key()

    def __str__(self):
        return self.text


def enforce_version_policies(cluster_v, kubeadm_v, new_text, kubelet_versions, allow_experimental=False,
                             allow_rc=False):
    """policy.go EnforceVersionPolicies -> (mandatory, skippable) lists of messages."""
    new = Version(new_text)
    mandatory, skippable = [], []
    if new.minor > cluster_v.minor + 1:
        msg = 'Specified version to upgrade to "%s" is too high; kubeadm can upgrade only 1 minor version at a time' \
              % new_text
        (skippable if new.pre else mandatory).append(msg)
    if new.minor < cluster_v.minor - 1:
        msg = 'Specified version to downgrade to "%s" is too low; kubeadm can downgrade only 1 minor version at a ' \
              'time' % new_text
        (skippable if new.pre else mandatory).append(msg)
    if kubeadm_v.less_than(new):
        if new.minor > kubeadm_v.minor:
            msg = ('Specified version to upgrade to "%s" is at least one minor release higher than the kubeadm minor '
                   'release (%d > %d). Such an upgrade is not supported' % (new_text, new.minor, kubeadm_v.minor))
            (skippable if new.pre else mandatory).append(msg)
        else:
            skippable.append('Specified version to upgrade to "%s" is higher than the kubeadm version "%s". Upgrade '
                             'kubeadm first using the tool you used to install kubeadm' % (new_text, kubeadm_v))
    if kubeadm_v.major > new.major or kubeadm_v.minor > new.minor:
        skippable.append("Kubeadm version %s can only be used to upgrade to Kubernetes version %d.%d"
                         % (kubeadm_v, kubeadm_v.major, kubeadm_v.minor))
    if new.pre and not allow_experimental and not (new.pre.startswith("rc") and allow_rc):
        skippable.append('Specified version to upgrade to "%s" is an unstable version and such upgrades weren\'t '
                         'allowed via setting the --allow-*-upgrades flags' % new_text)
    too_old = [v for v in kubelet_versions if new.minor > Version(v).minor + 1]
    if too_old:
        skippable.append("There are kubelets in this cluster that are too old that have these versions [%s]"
                         % " ".join(too_old))
    return mandatory, skippable


def format_errors(msgs):
    return "".join("\t- %s\n" % m for m in msgs)


def check_policies(ctx, new_text, flags, force):
    out('[upgrade/preflight] You have chosen to upgrade the cluster version to "%s"' % new_text)
    cluster_v = ctx.cluster_version()
    out("[upgrade/versions] Cluster version: %s" % cluster_v)
    kubeadm_v = Version(C.kubeadm_version())
    out("[upgrade/versions] kubeadm version: %s" % kubeadm_v)
    mandatory, skippable = enforce_version_policies(
        cluster_v, kubeadm_v, new_text, ctx.kubelet_versions(), flags.get("allow-experimental-upgrades", False),
        flags.get("allow-release-candidate-upgrades", False))
    if mandatory:
        raise KubeadmError("the version argument is invalid due to these fatal errors:\n\n%s\nPlease fix the "
                           "misalignments highlighted above and try upgrading again" % format_errors(mandatory),
                           phase="preflight")
    if skippable:
        if not force:
            raise KubeadmError("the version argument is invalid due to these errors:\n\n%s\nCan be bypassed if you "
                               "pass the --force flag" % format_errors(skippable), phase="preflight")
        out("[upgrade/preflight] Found %d potential version compatibility errors but skipping since the --force flag "
            "is set: \n\n%s" % (len(skippable), format_errors(skippable)))


# ---------------------------------------------------------------- cluster access

class Context:
    """What the upgrade commands read from the cluster and the host."""

    def __init__(self, kubeconfig):
        if not os.path.exists(kubeconfig):
            raise KubeadmError("couldn't create a Kubernetes client from file \"%s\": failed to load admin "
                               "kubeconfig: open %s: no such file or directory" % (kubeconfig, kubeconfig))
        self.client = Client.from_kubeconfig(kubeconfig)
        self.node_name = node_name()

    def fetch_config(self, tag="upgrade"):
        out('[%s] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...' % tag)
        out("[%s] Use 'kubeadm init phase upload-config kubeadm --config your-config-file' to re-upload it." % tag)
        try:
            cm = self.client.get("/api/v1/namespaces/kube-system/configmaps/kubeadm-config")
        except ApiError as e:
            if e.status == 404:
                raise KubeadmError('unable to fetch the kubeadm-config ConfigMap: configmaps "kubeadm-config" not '
                                   'found')
            raise KubeadmError("unable to fetch the kubeadm-config ConfigMap: %s" % e.message)
        self.cluster = yaml.safe_load(cm["data"]["ClusterConfiguration"])
        return self.cluster

    def cluster_version(self):
        try:
            info = self.client.get("/version")
        except ApiError as e:
            raise KubeadmError("Unable to fetch cluster version: Couldn't fetch cluster version from the API Server: "
                               "%s" % e.message, phase="preflight")
        return Version(info["gitVersion"])

    def nodes(self, selector=None):
        return self.client.list("/api/v1/nodes", label_selector=selector).get("items", [])

    def kubelet_versions(self):
        return sorted({(n.get("status") or {}).get("nodeInfo", {}).get("kubeletVersion", "") for n in self.nodes()}
                      - {""})

    def is_control_plane(self):
        return os.path.exists(os.path.join(C.MANIFESTS_DIR, "kube-apiserver.yaml"))


def node_name():
    """The node's name, as kubeadm reads it from kubelet.conf's client certificate (system:node:<name>)."""
    try:
        import base64
        from cryptography import x509
        from kubesim import pki
        kc = pki.read_kubeconfig(os.path.join(C.KUBERNETES_DIR, C.KUBELET_CONF))
        user = kc["users"][0]["user"]
        if user.get("client-certificate-data"):
            pem = base64.b64decode(user["client-certificate-data"])
        else:
            with open(user["client-certificate"], "rb") as f:
                pem = f.read()
        cert = x509.load_pem_x509_certificate(pem[pem.index(b"-----BEGIN CERTIFICATE"):])
        cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
        if cn.startswith("system:node:"):
            return cn[len("system:node:"):]
    except Exception:  # noqa: BLE001 - fall back to the host name like kubeadm's default
        pass
    import socket
    return socket.gethostname().lower()


def not_ready(nodes):
    names = []
    for n in nodes:
        for c in (n.get("status") or {}).get("conditions") or []:
            if c.get("type") == "Ready" and c.get("status") != "True":
                names.append(n["metadata"]["name"])
    return names


def health_checks(ctx, ignored, control_plane=True):
    """health.go CheckClusterHealth (ControlPlaneNodesReady, StaticPodManifest)."""
    out("[upgrade] Running cluster health checks")
    errors = []
    ignore_all = "all" in {i.lower() for i in ignored}
    if "controlplanenodesready" not in {i.lower() for i in ignored} and not ignore_all:
        try:
            bad = not_ready(ctx.nodes(C.LABEL_CONTROL_PLANE + "="))
        except ApiError as e:
            errors.append(("ControlPlaneNodesReady", 'could not list nodes labeled with "%s": %s'
                           % (C.LABEL_CONTROL_PLANE, e.message)))
        else:
            if bad:
                errors.append(("ControlPlaneNodesReady", "there are NotReady control-planes in the cluster: [%s]"
                               % " ".join(bad)))
    if control_plane and "staticpodmanifest" not in {i.lower() for i in ignored} and not ignore_all:
        missing = [os.path.join(C.MANIFESTS_DIR, c + ".yaml") for c in COMPONENTS
                   if not os.path.exists(os.path.join(C.MANIFESTS_DIR, c + ".yaml"))]
        if missing:
            errors.append(("StaticPodManifest", "The control plane seems to be Static Pod-hosted, but some of the "
                           "manifests don't seem to exist on disk. This probably means you're running 'kubeadm "
                           "upgrade' on a remote machine, which is not supported for a Static Pod-hosted cluster. "
                           "Manifest files not found: [%s]" % " ".join(missing)))
    if errors:
        raise PreflightError(errors, phase=True)


def confirm(question):
    interactively_confirm("upgrade", question)


# ---------------------------------------------------------------- static pods

def local_endpoint():
    """advertise address and port of this control plane (the kube-apiserver manifest's annotation)."""
    with open(os.path.join(C.MANIFESTS_DIR, "kube-apiserver.yaml")) as f:
        pod = yaml.safe_load(f)
    ep = (pod["metadata"].get("annotations") or {}).get(C.ANNOTATION_APISERVER_ENDPOINT, "")
    host, _, port = ep.rpartition(":")
    return host.strip("[]"), int(port or C.API_SERVER_PORT)


def manifest_digest(raw):
    """The kubelet's config hash of a static pod file (what the mirror pod's kubernetes.io/config.hash shows)."""
    return hashlib.sha256(raw).hexdigest()[:32]


def render(pod):
    return yaml.safe_dump(pod, default_flow_style=False, sort_keys=True).encode()


def wait_mirror_hash(client, component, node, digest, timeout_s):
    deadline = time.time() + timeout_s
    path = "/api/v1/namespaces/kube-system/pods/%s-%s" % (component, node)
    while time.time() < deadline:
        try:
            pod = client.get(path)
            ann = pod["metadata"].get("annotations") or {}
            running = any("running" in (s.get("state") or {}) for s in
                          (pod.get("status") or {}).get("containerStatuses") or [])
            if ann.get("kubernetes.io/config.hash") == digest and running:
                return True
        except Exception:  # noqa: BLE001 - the API server restarts during its own upgrade
            pass
        time.sleep(1)
    return False


def upgrade_static_pods(ctx, cluster, version, etcd_upgrade):
    """staticpods.go StaticPodControlPlane: one component at a time, backups, wait, rollback on failure."""
    advertise, port = local_endpoint()
    stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H-%M-%S")
    tmp = os.path.join(C.KUBERNETES_DIR, "tmp")
    new_dir = os.path.join(tmp, "kubeadm-upgraded-manifests%s" % stamp)
    backup_dir = os.path.join(tmp, "kubeadm-backup-manifests-%s" % stamp)
    os.makedirs(new_dir, mode=0o700, exist_ok=True)
    os.makedirs(backup_dir, mode=0o700, exist_ok=True)
    wanted = {"kube-apiserver": P.apiserver_manifest(cluster, advertise, port, version),
              "kube-controller-manager": P.controller_manager_manifest(cluster, version),
              "kube-scheduler": P.scheduler_manifest(cluster, version)}
    order = list(COMPONENTS)
    etcd_path = os.path.join(C.MANIFESTS_DIR, "etcd.yaml")
    if etcd_upgrade and "external" not in (cluster.get("etcd") or {}) and os.path.exists(etcd_path):
        with open(etcd_path) as f:
            etcd = yaml.safe_load(f)
        # etcd keeps its member flags; only the image follows kubeadm's pin for the new version
        etcd["spec"]["containers"][0]["image"] = P.etcd_image(cluster, version)
        wanted["etcd"] = etcd
        order.insert(0, "etcd")
    out('[upgrade/staticpods] Writing new Static Pod manifests to "%s"' % new_dir)
    for comp in order:
        with open(os.path.join(new_dir, comp + ".yaml"), "wb") as f:
            f.write(render(wanted[comp]))
    for comp in order:
        out('[upgrade/staticpods] Preparing for "%s" upgrade' % comp)
        cur_path = os.path.join(C.MANIFESTS_DIR, comp + ".yaml")
        with open(cur_path, "rb") as f:
            current = f.read()
        new = render(wanted[comp])
        if yaml.safe_load(current) == wanted[comp]:
            out("[upgrade/staticpods] Current and new manifests of %s are equal, skipping upgrade" % comp)
            continue
        out('[upgrade/staticpods] Moving new manifest to "%s" and backing up old manifest to "%s"'
            % (cur_path, os.path.join(backup_dir, comp + ".yaml")))
        shutil.copy2(cur_path, os.path.join(backup_dir, comp + ".yaml"))
        with open(cur_path + ".kubesim-new", "wb") as f:
            f.write(new)
        os.chmod(cur_path + ".kubesim-new", 0o600)
        os.replace(cur_path + ".kubesim-new", cur_path)
        out("[upgrade/staticpods] Waiting for the kubelet to restart the component")
        out("[upgrade/staticpods] This can take up to %dm0s" % (UPGRADE_MANIFESTS_TIMEOUT // 60))
        if not wait_mirror_hash(ctx.client, comp, ctx.node_name, manifest_digest(new), UPGRADE_MANIFESTS_TIMEOUT):
            shutil.copy2(os.path.join(backup_dir, comp + ".yaml"), cur_path)
            raise KubeadmError("couldn't complete the static pod upgrade: couldn't upgrade control plane. kubeadm has "
                               "tried to recover everything into the earlier state. Errors faced: static Pod hash for "
                               'component %s on Node %s did not change after %dm0s: timed out waiting for the '
                               "condition" % (comp, ctx.node_name, UPGRADE_MANIFESTS_TIMEOUT // 60),
                               phase="control-plane")
        out('[apiclient] Found 1 Pods for label selector component=%s' % comp)
        out('[upgrade/staticpods] Component "%s" upgraded successfully!' % comp)
    shutil.rmtree(new_dir, ignore_errors=True)


# ---------------------------------------------------------------- config, kubelet, addons

def upload_config(ctx, cluster):
    from .app import apply as apply_obj
    out('[upgrade/upload-config] Uploading the kubeadm ClusterConfiguration to a ConfigMap')
    out('[upload-config] Storing the configuration used in ConfigMap "kubeadm-config" in the "kube-system" Namespace')
    apply_obj(ctx.client, "configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                         "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
                                         "data": {"ClusterConfiguration": yaml.safe_dump(
                                             cluster, default_flow_style=False, sort_keys=True)}})
    cm = ctx.client.get("/api/v1/namespaces/kube-system/configmaps/kubelet-config")
    text = cm["data"]["kubelet"]
    out('[upgrade/upload-config] Uploading the kubelet component config to a ConfigMap')
    out('[kubelet] Creating a ConfigMap "kubelet-config" in namespace kube-system with the configuration for the '
        'kubelets in the cluster')
    cm["metadata"].setdefault("annotations", {})["kubeadm.kubernetes.io/component-config.hash"] = P.config_hash(text)
    ctx.client.update("/api/v1/namespaces/kube-system/configmaps/kubelet-config", cm)


def kubelet_config_phase(ctx):
    """kubeletconfig.go: back up and rewrite /var/lib/kubelet/config.yaml from the kubelet-config ConfigMap."""
    cm = ctx.client.get("/api/v1/namespaces/kube-system/configmaps/kubelet-config")
    cfg = yaml.safe_load(cm["data"]["kubelet"])
    path = os.path.join(C.KUBELET_DIR, "config.yaml")
    local = {}
    if os.path.exists(path):
        with open(path) as f:
            local = yaml.safe_load(f) or {}
        stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H-%M-%S")
        backup = os.path.join(C.KUBERNETES_DIR, "tmp", "kubeadm-kubelet-config%s" % stamp)
        os.makedirs(backup, mode=0o700, exist_ok=True)
        out("[upgrade] Backing up kubelet config file to %s/config.yaml" % backup)
        shutil.copy2(path, os.path.join(backup, "config.yaml"))
    # instance-specific field kept from the node (nodeRegistration.criSocket)
    cfg["containerRuntimeEndpoint"] = local.get("containerRuntimeEndpoint") or C.DEFAULT_CRI_SOCKET
    out('[kubelet-start] Writing kubelet configuration to file "%s"' % path)
    from kubesim import pki
    pki.write_file(path, yaml.safe_dump(cfg, default_flow_style=False, sort_keys=True), 0o644)
    out("[upgrade/kubelet-config] The kubelet configuration for this node was successfully upgraded!")


def unupgraded_control_planes(ctx, version):
    """postupgrade.go UnupgradedControlPlaneInstances: kube-apiserver mirror pods not at the version."""
    pods = ctx.client.list("/api/v1/namespaces/kube-system/pods",
                           label_selector="component=kube-apiserver,tier=control-plane").get("items", [])
    behind = []
    for n in ctx.nodes(C.LABEL_CONTROL_PLANE + "="):
        name = n["metadata"]["name"]
        images = [c.get("image", "") for p in pods if (p.get("spec") or {}).get("nodeName") == name
                  for c in (p.get("spec") or {}).get("containers") or []]
        if not images or any(i.rsplit(":", 1)[-1] != version for i in images):
            behind.append(name)
    return behind


def addons(ctx, cluster, version, tag):
    from .app import apply as apply_obj
    behind = [n for n in unupgraded_control_planes(ctx, version) if n != ctx.node_name]
    if behind:
        out("[%s] Skipping upgrade of addons because control plane instances [%s] have not been upgraded"
            % (tag, " ".join(behind)))
        return
    if not (cluster.get("dns") or {}).get("disabled"):
        try:
            ctx.client.get("/apis/apps/v1/namespaces/kube-system/deployments/coredns")
            for plural, obj in P.coredns_objects(cluster, version):
                apply_obj(ctx.client, plural, obj)
            out("[addons] Applied essential addon: CoreDNS")
        except ApiError as e:
            if e.status != 404:
                raise
    if not (cluster.get("proxy") or {}).get("disabled"):
        try:
            cm = ctx.client.get("/api/v1/namespaces/kube-system/configmaps/kube-proxy")
        except ApiError as e:
            if e.status != 404:
                raise
            return
        conf = yaml.safe_load(cm["data"].get("config.conf") or "{}") or {}
        server = yaml.safe_load(cm["data"]["kubeconfig.conf"])["clusters"][0]["cluster"]["server"]
        for plural, obj in P.kube_proxy_objects(cluster, version, server, conf):
            apply_obj(ctx.client, plural, obj)
        out("[addons] Applied essential addon: kube-proxy")


# ---------------------------------------------------------------- commands

def cmd_plan(argv):
    flags, args = parse(argv, COMMON_FLAGS)
    if len(args) > 1:
        raise KubeadmError("unexpected arguments: %s" % args[1:])
    ctx = Context(flags.get("kubeconfig", os.path.join(C.KUBERNETES_DIR, C.ADMIN_CONF)))
    cluster = ctx.fetch_config()
    out("[upgrade/preflight] Running preflight checks")
    health_checks(ctx, flags.get("ignore-preflight-errors", []), control_plane=True)
    out("[upgrade] Fetching available versions to upgrade to")
    cluster_v = ctx.cluster_version()
    kubeadm_v = Version(C.kubeadm_version())
    out("[upgrade/versions] Cluster version: %s" % cluster_v)
    out("[upgrade/versions] kubeadm version: %s" % kubeadm_v)
    if args:
        target = Version(args[0])
    else:
        out("[upgrade/versions] WARNING: Couldn't fetch latest stable version from the internet: unable to get URL "
            '"https://dl.k8s.io/release/stable.txt": Get "https://dl.k8s.io/release/stable.txt": dial tcp: lookup '
            "dl.k8s.io: no such host")
        out("[upgrade/versions] WARNING: Falling back to current kubeadm version as latest stable version")
        target = kubeadm_v
    out("[upgrade/versions] Target version: %s" % target)
    if not cluster_v.less_than(target):
        out("")
        out("Awesome, you're up-to-date! Enjoy!")
        return 0
    nodes = ctx.nodes()
    out("")
    out("Components that must be upgraded manually after you have upgraded the control plane with 'kubeadm upgrade "
        "apply':")
    rows = [("COMPONENT", "NODE", "CURRENT", "TARGET")]
    for n in nodes:
        rows.append(("kubelet", n["metadata"]["name"], n["status"]["nodeInfo"]["kubeletVersion"], str(target)))
    table(rows)
    out("")
    out("Upgrade to the latest stable version:")
    out("")
    rows = [("COMPONENT", "NODE", "CURRENT", "TARGET")]
    pods = ctx.client.list("/api/v1/namespaces/kube-system/pods", label_selector="tier=control-plane").get("items", [])
    for comp in COMPONENTS + ("etcd",):
        for p in sorted(pods, key=lambda x: x["spec"].get("nodeName", "")):
            if (p["metadata"].get("labels") or {}).get("component") == comp:
                cur = p["spec"]["containers"][0]["image"].rsplit(":", 1)[-1]
                tgt = str(target) if comp != "etcd" else P.etcd_image(cluster, str(target)).rsplit(":", 1)[-1]
                rows.append((comp, p["spec"].get("nodeName", ""), cur, tgt))
    rows.append(("kube-proxy", "", str(cluster_v), str(target)))
    rows.append(("CoreDNS", "", C.pins(str(cluster_v))["coredns"], C.pins(str(target))["coredns"]))
    table(rows)
    out("")
    out("You can now apply the upgrade by executing the following command:")
    out("")
    out("\tkubeadm upgrade apply %s" % target)
    out("")
    out("_____________________________________________________________________")
    out("")
    return 0


def table(rows):
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        out("   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def cmd_apply(argv):
    flags, args = parse(argv, APPLY_FLAGS)
    if not args:
        raise KubeadmError("missing one or more required arguments. Required arguments: [version]")
    if len(args) > 1:
        raise KubeadmError("unexpected arguments: %s" % args[1:])
    for unsupported in ("dry-run", "config", "patches"):
        if flags.get(unsupported):
            raise KubeadmError("kubesim: 'kubeadm upgrade apply --%s' is not implemented by the stand-in" % unsupported)
    force = flags.get("force") or flags.get("f")
    yes = flags.get("yes") or flags.get("y") or force
    new = Version(args[0])
    ctx = Context(flags.get("kubeconfig", os.path.join(C.KUBERNETES_DIR, C.ADMIN_CONF)))
    cluster = ctx.fetch_config()
    out("[upgrade/preflight] Running preflight checks")
    if os.geteuid() != 0:
        raise PreflightError([("IsPrivilegedUser", "user is not running as root")], phase=True)
    health_checks(ctx, flags.get("ignore-preflight-errors", []), control_plane=True)
    check_policies(ctx, str(new), flags, force)
    if not yes:
        confirm("Are you sure you want to proceed?")
    out("[upgrade/preflight] Pulling images required for setting up a Kubernetes cluster")
    out("[upgrade/preflight] This might take a minute or two, depending on the speed of your internet connection")
    out("[upgrade/preflight] You can also perform this action beforehand using 'kubeadm config images pull'")
    cluster["kubernetesVersion"] = str(new)
    out('[upgrade/control-plane] Upgrading your static Pod-hosted control plane to version "%s" (timeout: %dm0s)...'
        % (new, UPGRADE_MANIFESTS_TIMEOUT // 60))
    upgrade_static_pods(ctx, cluster, str(new), flags.get("etcd-upgrade", True))
    out("[upgrade/control-plane] The control plane instance for this node was successfully upgraded!")
    try:
        upload_config(ctx, cluster)
        kubelet_config_phase(ctx)
        out("[upgrade/bootstrap-token] Configuring bootstrap token and cluster-info RBAC rules")
        from .app import apply as apply_obj
        for obj in P.bootstrap_rbac() + P.cluster_info_rbac():
            apply_obj(ctx.client, obj["kind"].lower() + "s", obj)
        addons(ctx, cluster, str(new), "upgrade/addons")
    except ApiError as e:
        raise KubeadmError(e.message, phase="addon")
    out("")
    out('[upgrade] SUCCESS! A control plane node of your cluster was upgraded to "%s".' % new)
    out("")
    out("[upgrade] Now please proceed with upgrading the rest of the nodes by following the right order.")
    return 0


def cmd_node(argv):
    flags, args = parse(argv, NODE_FLAGS)
    if args:
        raise KubeadmError('unknown command "%s" for "kubeadm upgrade node"' % args[0])
    for unsupported in ("dry-run", "config", "patches"):
        if flags.get(unsupported):
            raise KubeadmError("kubesim: 'kubeadm upgrade node --%s' is not implemented by the stand-in" % unsupported)
    cp_node = os.path.exists(os.path.join(C.MANIFESTS_DIR, "kube-apiserver.yaml"))
    # node.go: a control plane talks to the cluster with admin.conf, a worker with kubelet.conf
    default_kc = os.path.join(C.KUBERNETES_DIR, C.ADMIN_CONF if cp_node else C.KUBELET_CONF)
    ctx = Context(flags.get("kubeconfig", default_kc))
    out("[upgrade/preflight] Running pre-flight checks")
    if os.geteuid() != 0:
        raise PreflightError([("IsPrivilegedUser", "user is not running as root")], phase=True)
    try:
        cluster = ctx.fetch_config()
    except KubeadmError as e:
        raise KubeadmError(e.message, phase="preflight")
    target = Version(cluster.get("kubernetesVersion", "v" + C.kubeadm_version()))
    if cp_node:
        out("[upgrade/preflight] Pulling images required for setting up a Kubernetes cluster")
        out("[upgrade/preflight] This might take a minute or two, depending on the speed of your internet connection")
        out("[upgrade/preflight] You can also perform this action beforehand using 'kubeadm config images pull'")
        out('[upgrade/control-plane] Upgrading your Static Pod-hosted control plane instance to version "%s"...'
            % target)
        upgrade_static_pods(ctx, cluster, str(target), flags.get("etcd-upgrade", True))
        out("[upgrade/control-plane] The control plane instance for this node was successfully upgraded!")
    else:
        out("[upgrade/control-plane] Skipping phase. Not a control plane node.")
    try:
        kubelet_config_phase(ctx)
        if cp_node:
            addons(ctx, cluster, str(target), "upgrade/addon")
        else:
            out("[upgrade/addon] Skipping the addon/coredns phase. Not a control plane node.")
            out("[upgrade/addon] Skipping the addon/kube-proxy phase. Not a control plane node.")
    except ApiError as e:
        raise KubeadmError(e.message, phase="kubelet-config")
    out("[upgrade] The configuration for this node was successfully upgraded!")
    out("[upgrade] Now you should go ahead and upgrade the kubelet package using your package manager.")
    return 0


def cmd_upgrade(argv):
    sub = argv[0] if argv else ""
    if sub == "plan":
        return cmd_plan(argv[1:])
    if sub == "apply":
        return cmd_apply(argv[1:])
    if sub == "node":
        return cmd_node(argv[1:])
    if sub == "diff":
        raise KubeadmError("kubesim: 'kubeadm upgrade diff' is not implemented by the stand-in")
    if sub in ("", "-h", "--help"):
        out("Upgrade your cluster smoothly to a newer version with this command\n\nUsage:\n  kubeadm upgrade "
            "[command]\n\nAvailable Commands:\n  apply       Upgrade your Kubernetes cluster to the specified "
            "version\n  diff        Show what differences would be applied to existing static pod manifests. See "
            "also: kubeadm upgrade apply --dry-run\n  node        Upgrade commands for a node in the cluster\n  "
            "plan        Check which versions are available to upgrade to and validate whether your current "
            "cluster is upgradeable.")
        return 0
    raise KubeadmError('unknown command "%s" for "kubeadm upgrade"' % sub)

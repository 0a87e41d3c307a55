"""kubeadm configuration files: decoding (v1beta4), defaulting and validation, with kubeadm's messages.

Follows cmd/kubeadm/app/util/config (documentMapTo*Configuration, validateSupportedVersion,
VerifyUnmarshalStrict) and apis/kubeadm/validation.  Unknown fields are only warned about (as
kubeadm does); unknown/removed API versions are errors; validation errors are aggregated in
apimachinery's field.ErrorList format.
"""

import copy
import ipaddress
import re
import sys

import yaml

from . import constants as C
from .errors import KubeadmError, aggregate
from .klog import warning

KUBEADM_GROUP = "kubeadm.k8s.io"
KUBEADM_V1BETA4 = "kubeadm.k8s.io/v1beta4"
KUBELET_GV = "kubelet.config.k8s.io/v1beta1"
KUBEPROXY_GV = "kubeproxy.config.k8s.io/v1alpha1"

TOKEN_RE = re.compile(r"\A([a-z0-9]{6})\.([a-z0-9]{16})\Z")
TOKEN_ID_RE = re.compile(r"\A([a-z0-9]{6})\Z")
GROUP_RE = re.compile(r"\Asystem:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]\Z")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

# ---------------------------------------------------------------- schema (v1beta4 field names)
ARG = {"name": None, "value": None}
ENV = {"name": None, "value": None, "valueFrom": None}
VOLUME = {"name": None, "hostPath": None, "mountPath": None, "readOnly": None, "pathType": None}
TAINT = {"key": None, "value": None, "effect": None, "timeAdded": None}
NODE_REGISTRATION = {"name": None, "criSocket": None, "taints": [TAINT], "kubeletExtraArgs": [ARG],
                     "ignorePreflightErrors": None, "imagePullPolicy": None, "imagePullSerial": None}
ENDPOINT = {"advertiseAddress": None, "bindPort": None}
TIMEOUTS = {"controlPlaneComponentHealthCheck": None, "kubeletHealthCheck": None, "kubernetesAPICall": None,
            "etcdAPICall": None, "tlsBootstrap": None, "discovery": None, "upgradeManifests": None}
BOOTSTRAP_TOKEN = {"token": None, "description": None, "ttl": None, "expires": None, "usages": None,
                   "groups": None}
PATCHES = {"directory": None}
CONTROL_PLANE_COMPONENT = {"extraArgs": [ARG], "extraVolumes": [VOLUME], "extraEnvs": [ENV]}
SCHEMA = {
    "InitConfiguration": {"apiVersion": None, "kind": None, "bootstrapTokens": [BOOTSTRAP_TOKEN],
                          "dryRun": None, "nodeRegistration": NODE_REGISTRATION, "localAPIEndpoint": ENDPOINT,
                          "certificateKey": None, "skipPhases": None, "patches": PATCHES, "timeouts": TIMEOUTS},
    "ClusterConfiguration": {
        "apiVersion": None, "kind": None,
        "etcd": {"local": {"imageRepository": None, "imageTag": None, "dataDir": None, "extraArgs": [ARG],
                           "extraEnvs": [ENV], "serverCertSANs": None, "peerCertSANs": None},
                 "external": {"endpoints": None, "caFile": None, "certFile": None, "keyFile": None}},
        "networking": {"serviceSubnet": None, "podSubnet": None, "dnsDomain": None},
        "kubernetesVersion": None, "controlPlaneEndpoint": None,
        "apiServer": dict(CONTROL_PLANE_COMPONENT, certSANs=None),
        "controllerManager": CONTROL_PLANE_COMPONENT, "scheduler": CONTROL_PLANE_COMPONENT,
        "dns": {"imageRepository": None, "imageTag": None, "disabled": None},
        "proxy": {"disabled": None},
        "certificatesDir": None, "imageRepository": None, "featureGates": None, "clusterName": None,
        "encryptionAlgorithm": None, "certificateValidityPeriod": None, "caCertificateValidityPeriod": None,
    },
    "JoinConfiguration": {
        "apiVersion": None, "kind": None, "dryRun": None, "nodeRegistration": NODE_REGISTRATION,
        "caCertPath": None,
        "discovery": {"bootstrapToken": {"token": None, "apiServerEndpoint": None, "caCertHashes": None,
                                         "unsafeSkipCAVerification": None},
                      "file": {"kubeConfigPath": None}, "tlsBootstrapToken": None},
        "controlPlane": {"localAPIEndpoint": ENDPOINT, "certificateKey": None},
        "skipPhases": None, "patches": PATCHES, "timeouts": TIMEOUTS,
    },
    "ResetConfiguration": {"apiVersion": None, "kind": None, "cleanupTmpDir": None, "certificatesDir": None,
                           "criSocket": None, "dryRun": None, "force": None, "ignorePreflightErrors": None,
                           "skipPhases": None, "unmountFlags": None},
    "UpgradeConfiguration": None,
}
GO_TYPES = {"InitConfiguration": "v1beta4.InitConfiguration", "ClusterConfiguration": "v1beta4.ClusterConfiguration",
            "JoinConfiguration": "v1beta4.JoinConfiguration"}


def _unknown_fields(obj, schema, prefix=""):
    out = []
    if schema is None or not isinstance(obj, dict):
        return out
    for k, v in obj.items():
        if k not in schema:
            out.append(prefix + k)
            continue
        sub = schema[k]
        if isinstance(sub, list):
            if isinstance(v, list):
                for i, item in enumerate(v):
                    out += _unknown_fields(item, sub[0], "%s%s[%d]." % (prefix, k, i))
        elif isinstance(sub, dict):
            out += _unknown_fields(v, sub, prefix + k + ".")
    return out


def _type_errors(obj, schema, kind, path=""):
    """The decoding errors kubeadm (encoding/json) reports for list fields given as maps (v1beta3 style)."""
    errs = []
    if not isinstance(obj, dict) or schema is None:
        return errs
    for k, v in obj.items():
        sub = schema.get(k)
        if isinstance(sub, list) and v is not None and not isinstance(v, list):
            got = "object" if isinstance(v, dict) else ("string" if isinstance(v, str) else "number")
            errs.append("json: cannot unmarshal %s into Go struct field %s of type []v1beta4.%s"
                        % (got, path + k if path else k, "Arg" if "Args" in k else "BootstrapToken" if k == "bootstrapTokens" else "Taint" if k == "taints" else "HostPathMount" if k == "extraVolumes" else "EnvVar"))  # noqa: E501 -- kubeadm's message, kept on one line to compare with upstream
        elif isinstance(sub, dict) and isinstance(v, dict):
            errs += _type_errors(v, sub, kind, path + k + ".")
    return errs


# ---------------------------------------------------------------- Go durations

_DUR_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DUR_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parse_duration(text):
    """time.ParseDuration -> seconds (float); ValueError with Go's message."""
    s = str(text).strip()
    orig = s
    if s in ("0", "+0", "-0"):
        return 0.0
    sign = 1
    if s[:1] in "+-":
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if not s:
        raise ValueError('time: invalid duration "%s"' % orig)
    total, pos = 0.0, 0
    while pos < len(s):
        m = _DUR_RE.match(s, pos)
        if not m:
            if re.match(r"(\d+(?:\.\d*)?|\.\d+)", s[pos:]):
                num = re.match(r"(\d+(?:\.\d*)?|\.\d+)", s[pos:]).group(0)
                if pos + len(num) == len(s):
                    raise ValueError('time: missing unit in duration "%s"' % orig)
                unit = re.match(r"[^\d.]+", s[pos + len(num):]).group(0)
                raise ValueError('time: unknown unit "%s" in duration "%s"' % (unit, orig))
            raise ValueError('time: invalid duration "%s"' % orig)
        total += float(m.group(1)) * _DUR_UNITS[m.group(2)]
        pos = m.end()
    return sign * total


def format_duration(seconds):
    """time.Duration.String() for whole seconds."""
    seconds = int(round(seconds))
    if seconds == 0:
        return "0s"
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    if h:
        return "%dh%dm%ds" % (h, m, s)
    if m:
        return "%dm%ds" % (m, s)
    return "%ds" % s


# ---------------------------------------------------------------- loading

def load_documents(path):
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise KubeadmError('unable to read config from "%s" : %s' % (path, _os_err(e, path)))
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        raise KubeadmError("error converting YAML to JSON: %s" % str(e).replace("\n", " "))
    return docs


def _os_err(e, path):
    return "open %s: %s" % (path, (e.strerror or str(e)).lower())


def split_documents(path, version, allowed_kinds):
    """-> {kind: doc} for the kubeadm kinds, plus "KubeletConfiguration"/"KubeProxyConfiguration"."""
    docs = load_documents(path)
    out = {}
    for doc in docs:
        if not isinstance(doc, dict):
            raise KubeadmError("couldn't get version/kind; json parse error: json: cannot unmarshal string into Go value of type struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }")  # noqa: E501 -- kubeadm's message, kept on one line to compare with upstream
        api, kind = doc.get("apiVersion", ""), doc.get("kind", "")
        if not kind:
            raise KubeadmError("Object 'Kind' is missing in '%s'" % yaml.safe_dump(doc, default_flow_style=True).strip())
        if api.startswith(KUBEADM_GROUP + "/"):
            if api in C.CONFIG_API_REMOVED:
                raise KubeadmError(
                    "your configuration file uses an old API spec: %q (kind: %q). Please use kubeadm %s instead and run "
                    "'kubeadm config migrate --old-config old-config-file --new-config new-config-file', which will write "
                    "the new, similar spec using a newer API version."
                    .replace("%q", '"%s"') % (api, kind, C.CONFIG_API_REMOVED[api]))
            if api != KUBEADM_V1BETA4:
                raise KubeadmError('no kind "%s" is registered for version "%s" in scheme '
                                   '"k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm/scheme/scheme.go:31"' % (kind, api))
            if kind not in SCHEMA:
                warning("[config] WARNING: Ignored configuration document with GroupVersionKind %s, Kind=%s" % (api, kind))
                continue
            if kind not in allowed_kinds:
                continue
            if kind in out:
                raise KubeadmError('duplicate GroupVersionKind %s, Kind=%s' % (api, kind))
            errs = _type_errors(doc, SCHEMA[kind], kind)
            if errs:
                raise KubeadmError("error unmarshaling JSON: while decoding JSON: " + errs[0])
            for field in _unknown_fields(doc, SCHEMA[kind]):
                warning('error unmarshaling configuration schema.GroupVersionKind{Group:"kubeadm.k8s.io", '
                        'Version:"v1beta4", Kind:"%s"}: strict decoding error: unknown field "%s"' % (kind, field))
            out[kind] = doc
        elif kind == "KubeletConfiguration" and api == KUBELET_GV:
            out[kind] = doc
        elif kind == "KubeProxyConfiguration" and api == KUBEPROXY_GV:
            out[kind] = doc
        elif kind in ("KubeletConfiguration", "KubeProxyConfiguration"):
            raise KubeadmError('no kind "%s" is registered for version "%s" in scheme '
                               '"k8s.io/kubernetes/cmd/kubeadm/app/componentconfigs/scheme.go:28"' % (kind, api))
        else:
            warning("[config] WARNING: Ignored configuration document with GroupVersionKind %s, Kind=%s" % (api, kind))
    return out


# ---------------------------------------------------------------- defaults

def args_to_dict(args):
    """v1beta4 []Arg -> ordered list of (name, value)."""
    return [(a.get("name", ""), str(a.get("value", ""))) for a in (args or [])]


def default_init(init, cluster, version):
    init = copy.deepcopy(init or {"apiVersion": KUBEADM_V1BETA4, "kind": "InitConfiguration"})
    cluster = copy.deepcopy(cluster or {"apiVersion": KUBEADM_V1BETA4, "kind": "ClusterConfiguration"})
    nr = init.setdefault("nodeRegistration", {})
    nr.setdefault("criSocket", C.DEFAULT_CRI_SOCKET)
    nr.setdefault("imagePullPolicy", "IfNotPresent")
    nr.setdefault("imagePullSerial", True)
    ep = init.setdefault("localAPIEndpoint", {})
    ep.setdefault("bindPort", C.API_SERVER_PORT)
    t = init.setdefault("timeouts", {})
    for k, v in [("controlPlaneComponentHealthCheck", "4m0s"), ("discovery", "5m0s"), ("etcdAPICall", "2m0s"),
                 ("kubeletHealthCheck", "4m0s"), ("kubernetesAPICall", "1m0s"), ("tlsBootstrap", "5m0s"),
                 ("upgradeManifests", "5m0s")]:
        t.setdefault(k, v)
    for bt in init.get("bootstrapTokens") or []:
        bt.setdefault("ttl", "24h0m0s")
        bt.setdefault("usages", ["signing", "authentication"])
        bt.setdefault("groups", [C.NODE_BOOTSTRAP_GROUP])
    cluster.setdefault("imageRepository", "registry.k8s.io")
    cluster.setdefault("certificatesDir", C.PKI_DIR)
    cluster.setdefault("clusterName", "kubernetes")
    cluster.setdefault("encryptionAlgorithm", "RSA-2048")
    cluster.setdefault("certificateValidityPeriod", "8760h0m0s")
    cluster.setdefault("caCertificateValidityPeriod", "87600h0m0s")
    net = cluster.setdefault("networking", {})
    net.setdefault("serviceSubnet", "10.96.0.0/12")
    net.setdefault("dnsDomain", "cluster.local")
    etcd = cluster.setdefault("etcd", {})
    if "external" not in etcd:
        etcd.setdefault("local", {}).setdefault("dataDir", "/var/lib/etcd")
    for comp in ("apiServer", "controllerManager", "scheduler", "dns", "proxy"):
        cluster.setdefault(comp, {})
    return init, cluster


def default_join(join):
    join = copy.deepcopy(join)
    nr = join.setdefault("nodeRegistration", {})
    nr.setdefault("criSocket", C.DEFAULT_CRI_SOCKET)
    nr.setdefault("imagePullPolicy", "IfNotPresent")
    nr.setdefault("imagePullSerial", True)
    join.setdefault("caCertPath", C.PKI_DIR + "/ca.crt")
    d = join.setdefault("discovery", {})
    bt = d.get("bootstrapToken")
    if bt is not None and not d.get("tlsBootstrapToken"):
        d["tlsBootstrapToken"] = bt.get("token", "")
    if join.get("controlPlane") is not None:
        join["controlPlane"].setdefault("localAPIEndpoint", {}).setdefault("bindPort", C.API_SERVER_PORT)
    t = join.setdefault("timeouts", {})
    for k, v in [("controlPlaneComponentHealthCheck", "4m0s"), ("discovery", "5m0s"), ("etcdAPICall", "2m0s"),
                 ("kubeletHealthCheck", "4m0s"), ("kubernetesAPICall", "1m0s"), ("tlsBootstrap", "5m0s"),
                 ("upgradeManifests", "5m0s")]:
        t.setdefault(k, v)
    return join


# ---------------------------------------------------------------- validation

def _invalid(path, value, msg):
    if isinstance(value, str):
        v = '"%s"' % value
    elif isinstance(value, bool):
        v = "true" if value else "false"
    else:
        v = str(value)
    return "%s: Invalid value: %s: %s" % (path, v, msg)


def _required(path, msg=""):
    return "%s: Required value%s" % (path, (": " + msg) if msg else "")


def valid_ip(text):
    try:
        ipaddress.ip_address(str(text))
        return True
    except ValueError:
        return False


def _validate_node_registration(nr, path, errs):
    name = nr.get("name", "")
    if name and (len(name) > 253 or not DNS1123_SUBDOMAIN.match(name)):
        errs.append(_invalid(path + ".name", name,
                             "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
                             "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
                             "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"))
    sock = nr.get("criSocket", "")
    if sock and not sock.startswith(("unix://", "npipe://")) and not sock.startswith("/"):
        errs.append(_invalid(path + ".criSocket", sock, "path is not absolute"))
    for i, a in enumerate(nr.get("kubeletExtraArgs") or []):
        if not a.get("name"):
            errs.append(_required("%s.kubeletExtraArgs[%d].name" % (path, i)))


def _validate_extra_args(args, path, errs):
    for i, a in enumerate(args or []):
        if not isinstance(a, dict) or not a.get("name"):
            errs.append(_required("%s[%d].name" % (path, i)))


def _validate_duration(value, path, errs):
    try:
        if parse_duration(value) < 0:
            errs.append(_invalid(path, value, "duration must be positive"))
    except ValueError as e:
        errs.append(_invalid(path, value, str(e)))


# cmd/kubeadm/app/constants: MinimumAddressesInServiceSubnet, MinimumAddressesInPodSubnet,
# MaximumBitsForServiceSubnet, PodSubnetNodeMaskMaxDiff
MIN_ADDRESSES_SERVICE_SUBNET = 10
MIN_ADDRESSES_POD_SUBNET = 254
MAX_BITS_SERVICE_SUBNET = 20
POD_SUBNET_NODE_MASK_MAX_DIFF = 16
DUAL_STACK_MSG = "expected one (IPv4 or IPv6) CIDR or two CIDRs from each family for dual-stack networking"


def _parse_cidrs(value):
    nets = []
    for s in str(value).split(","):
        if "/" not in s:
            return None
        try:
            nets.append(ipaddress.ip_network(s.strip(), strict=False))
        except ValueError:
            return None
    return nets


def _range_size(net):
    """k8s.io/utils/net RangeSize (its /0 and /1 quirk included)."""
    host_bits = net.max_prefixlen - net.prefixlen
    if host_bits >= net.max_prefixlen - 1:
        return 0
    if host_bits >= 63:
        return 2 ** 63 - 1
    return 1 << host_bits


def _validate_subnet(value, path, errs, min_addresses=0):
    """validation.go ValidateIPNetFromString."""
    nets = _parse_cidrs(value)
    if nets is None:
        errs.append(_invalid(path, value, "couldn't parse subnet"))
        return None
    if len(nets) > 2 or (len(nets) == 2 and nets[0].version == nets[1].version):
        errs.append(_invalid(path, value, DUAL_STACK_MSG))
    for net in nets:
        size = _range_size(net)
        if size < min_addresses:
            errs.append(_invalid(path, str(net), "subnet with %d address(es) is too small, the minimum is %d"
                                 % (size, min_addresses)))
    return nets


def _arg_value(args, name):
    """kubeadm.GetArgValue(args, name, -1): the last occurrence wins."""
    found = None
    for a in args or []:
        if isinstance(a, dict) and a.get("name") == name:
            found = str(a.get("value", ""))
    return found


def _validate_service_subnet_size(nets, path, errs):
    for net in nets:
        if net.max_prefixlen - net.prefixlen > MAX_BITS_SERVICE_SUBNET:
            errs.append(_invalid(path, str(net), "specified service subnet is too large; for %d-bit addresses, the "
                                 "mask must be >= %d" % (net.max_prefixlen, net.max_prefixlen - MAX_BITS_SERVICE_SUBNET)))


def _validate_pod_subnet_node_mask(nets, cluster, path, errs):
    cm_args = (cluster.get("controllerManager") or {}).get("extraArgs")
    for net in nets:
        arg = "node-cidr-mask-size-ipv6" if net.version == 6 else "node-cidr-mask-size-ipv4"
        value = _arg_value(cm_args, arg)
        if value:
            try:
                node_mask = int(value)
            except ValueError:
                errs.append(_invalid(path, str(net), 'could not parse the value of the kube-controller-manager flag %s '
                                     'as an integer: strconv.Atoi: parsing "%s": invalid syntax' % (arg, value)))
                continue
        else:
            node_mask = 64 if net.version == 6 else 24
        if net.prefixlen > node_mask:
            errs.append(_invalid(path, str(net), "the size of pod subnet with mask %d is smaller than the size of node "
                                 "subnet with mask %d" % (net.prefixlen, node_mask)))
        elif node_mask - net.prefixlen > POD_SUBNET_NODE_MASK_MAX_DIFF:
            errs.append(_invalid(path, str(net), "pod subnet mask (%d) and node-mask (%d) difference is greater than %d"
                                 % (net.prefixlen, node_mask, POD_SUBNET_NODE_MASK_MAX_DIFF)))


def validate_token(token, path):
    if not TOKEN_RE.match(token or ""):
        return [_invalid(path, token or "", "the bootstrap token is invalid")]
    return []


def validate_init(init, cluster, kubeadm_ver):
    errs = []
    for i, bt in enumerate(init.get("bootstrapTokens") or []):
        p = "bootstrapTokens[%d]" % i
        errs += validate_token(bt.get("token", ""), p + ".token")
        if "ttl" in bt:
            _validate_duration(bt["ttl"], p + ".ttl", errs) if bt["ttl"] not in (0, "0") else None
        for u in bt.get("usages") or []:
            if u not in ("signing", "authentication"):
                errs.append(_invalid(p + ".usages", u, "usages must be one or more of [authentication signing]"
                                     .replace("usages must be one or more of [authentication signing]",
                                              'invalid bootstrap token usage string: %s, valid usage options: authentication, signing' % u)))
        for g in bt.get("groups") or []:
            if not GROUP_RE.match(g):
                errs.append(_invalid(p + ".groups", g, 'group name must match ^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$'))
    _validate_node_registration(init.get("nodeRegistration", {}), "nodeRegistration", errs)
    ep = init.get("localAPIEndpoint", {})
    if ep.get("advertiseAddress") and not valid_ip(ep["advertiseAddress"]):
        errs.append(_invalid("localAPIEndpoint.advertiseAddress", ep["advertiseAddress"], "ip address is not valid"))
    port = ep.get("bindPort", C.API_SERVER_PORT)
    if not isinstance(port, int) or not 0 < port < 65536:
        errs.append(_invalid("localAPIEndpoint.bindPort", port, "port number is not valid"))
    ck = init.get("certificateKey", "")
    if ck and not re.fullmatch(r"[0-9a-fA-F]{64}", ck):
        errs.append(_invalid("certificateKey", ck, "certificate key size must be 32"))
    for k, v in (init.get("timeouts") or {}).items():
        _validate_duration(v, "timeouts." + k, errs)
    errs += validate_cluster(cluster)
    return errs


def validate_cluster(cluster):
    errs = []
    net = cluster.get("networking", {})
    # validation.go ValidateNetworking
    if net.get("serviceSubnet"):
        nets = _validate_subnet(net["serviceSubnet"], "networking.serviceSubnet", errs, MIN_ADDRESSES_SERVICE_SUBNET)
        _validate_service_subnet_size(nets or [], "networking.serviceSubnet", errs)
    if net.get("podSubnet"):
        nets = _validate_subnet(net["podSubnet"], "networking.podSubnet", errs, MIN_ADDRESSES_POD_SUBNET)
        if _arg_value((cluster.get("controllerManager") or {}).get("extraArgs"), "allocate-node-cidrs") != "false":
            _validate_pod_subnet_node_mask(nets or [], cluster, "networking.podSubnet", errs)
    dom = net.get("dnsDomain", "")
    if dom and not DNS1123_SUBDOMAIN.match(dom):
        errs.append(_invalid("networking.dnsDomain", dom, "a lowercase RFC 1123 subdomain must consist of lower case "
                             "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"))
    cpe = cluster.get("controlPlaneEndpoint", "")
    if cpe:
        host, port = split_host_port(cpe)
        if port is not None and (not port.isdigit() or not 0 < int(port) < 65536):
            errs.append(_invalid("controlPlaneEndpoint", port, "port must be a valid number between 1 and 65535, inclusive"))
    for i, san in enumerate((cluster.get("apiServer") or {}).get("certSANs") or []):
        if not valid_ip(san) and not re.match(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", str(san)):
            errs.append(_invalid("apiServer.certSANs[%d]" % i, san, "altname is not a valid IP address, DNS label or a DNS label with subdomain wildcards"))
    for comp in ("apiServer", "controllerManager", "scheduler"):
        _validate_extra_args((cluster.get(comp) or {}).get("extraArgs"), comp + ".extraArgs", errs)
    enc = cluster.get("encryptionAlgorithm", "RSA-2048")
    if enc not in ("RSA-2048", "RSA-3072", "RSA-4096", "ECDSA-P256", "ECDSA-P384"):
        errs.append(_invalid("encryptionAlgorithm", enc, "Invalid encryption algorithm. Must be one of "
                             "[ECDSA-P256 ECDSA-P384 RSA-2048 RSA-3072 RSA-4096]".replace("Invalid", "invalid")))
    for k in ("certificateValidityPeriod", "caCertificateValidityPeriod"):
        if k in cluster:
            _validate_duration(cluster[k], k, errs)
    return errs


def validate_join(join):
    errs = []
    d = join.get("discovery", {})
    bt, f = d.get("bootstrapToken"), d.get("file")
    if bt is None and f is None:
        errs.append(_invalid("discovery", "", "bootstrapToken or file must be set"))
    if bt is not None and f is not None:
        errs.append(_invalid("discovery", "", "bootstrapToken and file cannot both be set"))
    if bt is not None:
        errs += validate_token(bt.get("token", ""), "discovery.bootstrapToken.token")
        errs += validate_token(d.get("tlsBootstrapToken", ""), "discovery.tlsBootstrapToken")
        if not bt.get("caCertHashes") and not bt.get("unsafeSkipCAVerification"):
            errs.append(_invalid("discovery.bootstrapToken.caCertHashes", "",
                                 "using token-based discovery without caCertHashes can be unsafe. Set "
                                 "unsafeSkipCAVerification as true in your kubeadm config file or pass "
                                 "--discovery-token-unsafe-skip-ca-verification flag to continue"))
        ep = bt.get("apiServerEndpoint", "")
        if not ep:
            errs.append(_required("discovery.bootstrapToken.apiServerEndpoint"))
        else:
            host, port = split_host_port(ep)
            if port is None:
                errs.append(_invalid("discovery.bootstrapToken.apiServerEndpoint", ep,
                                     "address %s: missing port in address" % ep))
    _validate_node_registration(join.get("nodeRegistration", {}), "nodeRegistration", errs)
    cp = join.get("controlPlane")
    if cp is not None:
        ep = cp.get("localAPIEndpoint", {})
        if ep.get("advertiseAddress") and not valid_ip(ep["advertiseAddress"]):
            errs.append(_invalid("controlPlane.localAPIEndpoint.advertiseAddress", ep["advertiseAddress"],
                                 "ip address is not valid"))
        ck = cp.get("certificateKey", "")
        if ck and not re.fullmatch(r"[0-9a-fA-F]{64}", ck):
            errs.append(_invalid("controlPlane.certificateKey", ck, "certificate key size must be 32"))
    for k, v in (join.get("timeouts") or {}).items():
        _validate_duration(v, "timeouts." + k, errs)
    return errs


def raise_if(errs):
    if errs:
        raise KubeadmError(aggregate(errs))


def split_host_port(text):
    """-> (host, port or None); IPv6 in brackets."""
    text = str(text)
    if text.startswith("["):
        end = text.find("]")
        host = text[1:end]
        rest = text[end + 1:]
        return host, rest[1:] if rest.startswith(":") else None
    if text.count(":") == 1:
        h, p = text.split(":")
        return h, p
    return text, None


def normalize_version(text, kubeadm_ver):
    v = str(text).strip()
    if not re.fullmatch(r"v?\d+\.\d+\.\d+(-[0-9A-Za-z.+-]+)?", v):
        raise KubeadmError('couldn\'t parse Kubernetes version "%s": could not parse "%s" as version' % (v, v))
    v = "v" + v.lstrip("v")
    return v


def check_version_skew(k8s_version, kubeadm_ver):
    """kubeadm refuses control planes older than its minor - 1; warns for newer ones."""
    km = C.minor_of(kubeadm_ver)
    m = C.minor_of(k8s_version)
    if m < (km[0], km[1] - 1):
        raise KubeadmError("this version of kubeadm only supports deploying clusters with the control plane version "
                           ">= %d.%d.0. Current version: %s" % (km[0], km[1] - 1, k8s_version))
    if m > km:
        raise KubeadmError("this version of kubeadm only supports deploying clusters with the control plane version "
                           "<= %d.%d. Current version: %s" % (km[0], km[1], k8s_version))


def dump(doc):
    return yaml.safe_dump(doc, default_flow_style=False, sort_keys=True)


def stderr(text):
    sys.stderr.write(text)
    sys.stderr.flush()

"""What kubeadm writes and creates: certificates, kubeconfigs, static pod manifests, kubelet files,
and the API objects of init (upload-config, mark-control-plane, bootstrap-token, addons, upload-certs).

Sources: cmd/kubeadm/app/phases/{certs,kubeconfig,controlplane,etcd,kubelet,markcontrolplane,
bootstraptoken,uploadconfig,copycerts,addons/dns,addons/proxy}.
"""

import base64
import datetime
import hashlib
import ipaddress
import os
import secrets
import string

import yaml
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kubesim import pki
from . import config as K
from . import constants as C

TOKEN_CHARS = string.ascii_lowercase + string.digits


# ---------------------------------------------------------------- tokens / keys

def new_token():
    pick = lambda n: "".join(secrets.choice(TOKEN_CHARS) for _ in range(n))  # noqa: E731
    return pick(6) + "." + pick(16)


def new_certificate_key():
    return secrets.token_bytes(C.CERTIFICATE_KEY_SIZE).hex()


def rfc3339(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def token_secret(token, ttl_seconds=C.DEFAULT_TOKEN_TTL, description="", usages=("signing", "authentication"),
                 groups=(C.NODE_BOOTSTRAP_GROUP,), expires=None):
    """kube-system/bootstrap-token-<id> as kubeadm's BootstrapToken.ToSecret() makes it."""
    tid, tsec = token.split(".")
    data = {"token-id": tid, "token-secret": tsec}
    if description:
        data["description"] = description
    if expires is None and ttl_seconds and ttl_seconds > 0:
        expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=ttl_seconds)
    if expires is not None:
        data["expiration"] = rfc3339(expires)
    for u in usages or []:
        data["usage-bootstrap-%s" % u] = "true"
    if groups:
        data["auth-extra-groups"] = ",".join(groups)
    return {"apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
            "metadata": {"name": "bootstrap-token-" + tid, "namespace": "kube-system"},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def secret_to_token(sec):
    d = {k: base64.b64decode(v).decode() for k, v in (sec.get("data") or {}).items()}
    if "token-id" not in d or "token-secret" not in d:
        return None
    expires = None
    if d.get("expiration"):
        expires = datetime.datetime.strptime(d["expiration"].replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z")
    usages = sorted(k[len("usage-bootstrap-"):] for k, v in d.items() if k.startswith("usage-bootstrap-") and v == "true")
    groups = [g for g in d.get("auth-extra-groups", "").split(",") if g]
    return {"token": d["token-id"] + "." + d["token-secret"], "description": d.get("description", ""),
            "expires": expires, "usages": usages, "groups": groups}


# ---------------------------------------------------------------- addresses

def default_route_ip():
    """The IPv4 address of the interface holding the default route (kubeadm's ChooseHostInterface)."""
    try:
        with open("/proc/net/route") as f:
            rows = [line.split() for line in f.read().splitlines()[1:]]
    except OSError:
        rows = []
    ifaces = [r[0] for r in rows if len(r) > 2 and r[1] == "00000000"]
    if not ifaces:
        return None
    import fcntl
    import socket
    import struct
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        res = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", ifaces[0][:15].encode()))
        return socket.inet_ntoa(res[20:24])
    except OSError:
        return None
    finally:
        s.close()


def service_ip(subnet, index):
    net = ipaddress.ip_network(subnet.split(",")[0].strip(), strict=False)
    return str(net.network_address + index)


def endpoint_of(cluster, advertise, port):
    """The control-plane endpoint (host:port) written into kubeconfigs."""
    cpe = cluster.get("controlPlaneEndpoint")
    if cpe:
        host, p = K.split_host_port(cpe)
        return "%s:%s" % (fmt_host(host), p or port)
    return "%s:%s" % (fmt_host(advertise), port)


def fmt_host(host):
    return "[%s]" % host if ":" in host else host


# ---------------------------------------------------------------- certificates

def _validity(cluster, key, default):
    try:
        return datetime.timedelta(seconds=K.parse_duration(cluster.get(key, default)))
    except ValueError:
        return datetime.timedelta(seconds=K.parse_duration(default))


def cert_specs(cluster, node_name, advertise):
    """(base, ca base, cn, orgs, dns, ips, server, client) for every certificate kubeadm makes."""
    net = cluster.get("networking", {})
    dom = net.get("dnsDomain", "cluster.local")
    svc = service_ip(net.get("serviceSubnet", "10.96.0.0/12"), 1)
    api_dns = [node_name, "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + dom]
    api_ips = [svc, advertise]
    cpe = cluster.get("controlPlaneEndpoint")
    if cpe:
        host, _ = K.split_host_port(cpe)
        (api_ips if K.valid_ip(host) else api_dns).append(host)
    for san in (cluster.get("apiServer") or {}).get("certSANs") or []:
        (api_ips if K.valid_ip(san) else api_dns).append(san)
    local = (cluster.get("etcd") or {}).get("local") or {}
    etcd_dns, etcd_ips = [node_name, "localhost"], [advertise, "127.0.0.1", "::1"]
    srv_dns, srv_ips, peer_dns, peer_ips = list(etcd_dns), list(etcd_ips), list(etcd_dns), list(etcd_ips)
    for san in local.get("serverCertSANs") or []:
        (srv_ips if K.valid_ip(san) else srv_dns).append(san)
    for san in local.get("peerCertSANs") or []:
        (peer_ips if K.valid_ip(san) else peer_dns).append(san)
    return [
        ("apiserver", "ca", "kube-apiserver", [], api_dns, api_ips, True, False),
        ("apiserver-kubelet-client", "ca", "kube-apiserver-kubelet-client", ["kubeadm:cluster-admins"], [], [], False, True),
        ("front-proxy-client", "front-proxy-ca", "front-proxy-client", [], [], [], False, True),
        ("etcd/server", "etcd/ca", node_name, [], srv_dns, srv_ips, True, True),
        ("etcd/peer", "etcd/ca", node_name, [], peer_dns, peer_ips, True, True),
        ("etcd/healthcheck-client", "etcd/ca", "kube-etcd-healthcheck-client", [], [], [], False, True),
        ("apiserver-etcd-client", "etcd/ca", "kube-apiserver-etcd-client", [], [], [], False, True),
    ]


CA_SPECS = [("ca", "kubernetes"), ("front-proxy-ca", "front-proxy-ca"), ("etcd/ca", "etcd-ca")]
SHARED_CERTS = ["ca.crt", "ca.key", "sa.key", "sa.pub", "front-proxy-ca.crt", "front-proxy-ca.key",
                "etcd/ca.crt", "etcd/ca.key"]


def make_certs(cluster, node_name, advertise, out, external_etcd=False):
    """Create missing CAs and certificates in certificatesDir, printing kubeadm's [certs] lines."""
    pki_dir = cluster.get("certificatesDir", C.PKI_DIR)
    algo = cluster.get("encryptionAlgorithm", "RSA-2048")
    ca_valid = _validity(cluster, "caCertificateValidityPeriod", "87600h")
    valid = _validity(cluster, "certificateValidityPeriod", "8760h")
    out('[certs] Using certificateDir folder "%s"' % pki_dir)
    cas = {}
    specs = cert_specs(cluster, node_name, advertise)
    order = ["ca", "apiserver", "apiserver-kubelet-client", "front-proxy-ca", "front-proxy-client",
             "etcd/ca", "etcd/server", "etcd/peer", "etcd/healthcheck-client", "apiserver-etcd-client"]
    by_base = {s[0]: s for s in specs}
    ca_cn = dict(CA_SPECS)
    for base in order:
        if external_etcd and base.startswith("etcd/") or (external_etcd and base == "apiserver-etcd-client"):
            continue
        crt = os.path.join(pki_dir, base + ".crt")
        if base in ca_cn:
            if os.path.exists(crt):
                cas[base] = pki.read_pair(pki_dir, base)
                out('[certs] Using existing %s certificate authority' % base)
                continue
            out('[certs] Generating "%s" certificate and key' % base)
            cert, key = pki.new_ca(ca_cn[base], validity=ca_valid, algorithm=algo)
            pki.write_pair(pki_dir, base, cert, key)
            cas[base] = (cert, key)
            continue
        _, ca_base, cn, orgs, dns, ips, server, client = by_base[base]
        if os.path.exists(crt):
            out('[certs] Using existing %s certificate and key on disk' % base)
            continue
        out('[certs] Generating "%s" certificate and key' % base)
        ca_cert, ca_key = cas[ca_base]
        cert, key = pki.new_cert(ca_cert, ca_key, cn, orgs, dns, ips, server=server, client=client,
                                 validity=valid, algorithm=algo)
        if server:
            out("[certs] %s serving cert is signed for DNS names [%s] and IPs [%s]"
                % (base, " ".join(pki._dedup(dns)), " ".join(pki._dedup(str(ipaddress.ip_address(i)) for i in ips))))
        pki.write_pair(pki_dir, base, cert, key)
    if os.path.exists(os.path.join(pki_dir, "sa.key")):
        out('[certs] Using the existing "sa" key')
    else:
        out('[certs] Generating "sa" key and public key')
        key = pki.new_key(algo)
        pki.write_file(os.path.join(pki_dir, "sa.key"), pki.key_pem(key), 0o600)
        pki.write_file(os.path.join(pki_dir, "sa.pub"), pki.public_key_pem(key), 0o644)


# ---------------------------------------------------------------- kubeconfigs

def client_kubeconfig(pki_dir, server, cluster_name, user, cn, orgs, algo="RSA-2048", validity=None):
    ca_cert, ca_key = pki.read_pair(pki_dir, "ca")
    cert, key = pki.new_cert(ca_cert, ca_key, cn, orgs, client=True, algorithm=algo,
                             validity=validity or pki.CERT_VALIDITY)
    return pki.kubeconfig(server, pki.cert_pem(ca_cert), cluster_name, user, pki.cert_pem(cert), pki.key_pem(key))


def make_kubeconfigs(cluster, node_name, advertise, bind_port, out, files=None):
    pki_dir = cluster.get("certificatesDir", C.PKI_DIR)
    name = cluster.get("clusterName", "kubernetes")
    algo = cluster.get("encryptionAlgorithm", "RSA-2048")
    valid = _validity(cluster, "certificateValidityPeriod", "8760h")
    endpoint = "https://" + endpoint_of(cluster, advertise, bind_port)
    local = "https://%s:%s" % (fmt_host(advertise), bind_port)
    specs = [
        (C.ADMIN_CONF, endpoint, "kubernetes-admin", "kubernetes-admin", [C.CLUSTER_ADMINS_GROUP]),
        (C.SUPER_ADMIN_CONF, endpoint, "kubernetes-super-admin", "kubernetes-super-admin", ["system:masters"]),
        (C.KUBELET_CONF, local, "system:node:" + node_name, "system:node:" + node_name, ["system:nodes"]),
        (C.CONTROLLER_MANAGER_CONF, local, "system:kube-controller-manager", "system:kube-controller-manager", []),
        (C.SCHEDULER_CONF, local, "system:kube-scheduler", "system:kube-scheduler", []),
    ]
    out('[kubeconfig] Using kubeconfig folder "%s"' % C.KUBERNETES_DIR)
    for fname, server, user, cn, orgs in specs:
        if files is not None and fname not in files:
            continue
        path = os.path.join(C.KUBERNETES_DIR, fname)
        if os.path.exists(path):
            out('[kubeconfig] Using existing kubeconfig file: "%s"' % path)
            continue
        out('[kubeconfig] Writing "%s" kubeconfig file' % fname)
        pki.write_kubeconfig(path, client_kubeconfig(pki_dir, server, name, user, cn, orgs, algo, valid))


# ---------------------------------------------------------------- static pods

def _probe(host, port, path, scheme="HTTPS", delay=10, failure=8, timeout=15, period=10):
    return {"failureThreshold": failure, "httpGet": {"host": host, "path": path, "port": port, "scheme": scheme},
            "initialDelaySeconds": delay, "periodSeconds": period, "timeoutSeconds": timeout}


def _merge_args(defaults, extra):
    """kubeadm's BuildArgumentListFromMap: defaults overridden by extraArgs (by name), sorted by name."""
    args = dict(defaults)
    overridden = {}
    for name, value in K.args_to_dict(extra):
        overridden.setdefault(name, []).append(value)
    out = []
    for name in sorted(set(args) | set(overridden)):
        if name in overridden:
            out += ["--%s=%s" % (name, v) for v in overridden[name]]
        else:
            out.append("--%s=%s" % (name, args[name]))
    return out


def _hostpath_volumes(mounts):
    vols, vms = [], []
    for name, path, ro, ptype in mounts:
        vols.append({"hostPath": {"path": path, "type": ptype}, "name": name})
        vms.append({"mountPath": path, "name": name, "readOnly": ro} if ro else {"mountPath": path, "name": name})
    return sorted(vols, key=lambda v: v["name"]), sorted(vms, key=lambda v: v["name"])


def static_pod(name, image, command, probes, mounts, resources_cpu, annotations=None, extra_vols=None, extra_envs=None):
    vols, vms = _hostpath_volumes(mounts)
    for v in extra_vols or []:
        vols.append({"hostPath": {"path": v.get("hostPath"), "type": v.get("pathType", "")}, "name": v.get("name")})
        vm = {"mountPath": v.get("mountPath"), "name": v.get("name")}
        if v.get("readOnly"):
            vm["readOnly"] = True
        vms.append(vm)
    container = {"command": command, "image": image, "imagePullPolicy": "IfNotPresent", "name": name,
                 "resources": {"requests": {"cpu": resources_cpu}}, "volumeMounts": vms}
    if name == "etcd":
        container["resources"]["requests"]["memory"] = "100Mi"
    container.update(probes)
    if extra_envs:
        container["env"] = extra_envs
    meta = {"labels": {"component": name, "tier": "control-plane"}, "name": name, "namespace": "kube-system"}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": [container], "hostNetwork": True, "priority": 2000001000,
                     "priorityClassName": "system-node-critical",
                     "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}, "volumes": vols},
            "status": {}}


def image(cluster, name, version):
    return "%s/%s:%s" % (cluster.get("imageRepository", "registry.k8s.io"), name, version)


def etcd_image(cluster, version):
    local = (cluster.get("etcd") or {}).get("local") or {}
    repo = local.get("imageRepository") or cluster.get("imageRepository", "registry.k8s.io")
    return "%s/etcd:%s" % (repo, local.get("imageTag") or C.pins(version)["etcd"])


CA_MOUNTS = [("ca-certs", "/etc/ssl/certs", True, "DirectoryOrCreate"),
             ("etc-ca-certificates", "/etc/ca-certificates", True, "DirectoryOrCreate"),
             ("usr-local-share-ca-certificates", "/usr/local/share/ca-certificates", True, "DirectoryOrCreate"),
             ("usr-share-ca-certificates", "/usr/share/ca-certificates", True, "DirectoryOrCreate")]


def apiserver_manifest(cluster, advertise, bind_port, k8s_version):
    pki_dir = cluster.get("certificatesDir", C.PKI_DIR)
    net = cluster.get("networking", {})
    etcd = cluster.get("etcd") or {}
    defaults = {
        "advertise-address": advertise, "allow-privileged": "true", "authorization-mode": "Node,RBAC",
        "client-ca-file": pki_dir + "/ca.crt", "enable-admission-plugins": "NodeRestriction",
        "enable-bootstrap-token-auth": "true",
        "kubelet-client-certificate": pki_dir + "/apiserver-kubelet-client.crt",
        "kubelet-client-key": pki_dir + "/apiserver-kubelet-client.key",
        "kubelet-preferred-address-types": "InternalIP,ExternalIP,Hostname",
        "proxy-client-cert-file": pki_dir + "/front-proxy-client.crt",
        "proxy-client-key-file": pki_dir + "/front-proxy-client.key",
        "requestheader-allowed-names": "front-proxy-client",
        "requestheader-client-ca-file": pki_dir + "/front-proxy-ca.crt",
        "requestheader-extra-headers-prefix": "X-Remote-Extra-", "requestheader-group-headers": "X-Remote-Group",
        "requestheader-username-headers": "X-Remote-User", "secure-port": str(bind_port),
        "service-account-issuer": "https://kubernetes.default.svc." + net.get("dnsDomain", "cluster.local"),
        "service-account-key-file": pki_dir + "/sa.pub",
        "service-account-signing-key-file": pki_dir + "/sa.key",
        "service-cluster-ip-range": net.get("serviceSubnet", "10.96.0.0/12"),
        "tls-cert-file": pki_dir + "/apiserver.crt", "tls-private-key-file": pki_dir + "/apiserver.key",
    }
    if "external" in etcd:
        ext = etcd["external"]
        defaults["etcd-servers"] = ",".join(ext.get("endpoints") or [])
        for flag, key in (("etcd-cafile", "caFile"), ("etcd-certfile", "certFile"), ("etcd-keyfile", "keyFile")):
            if ext.get(key):
                defaults[flag] = ext[key]
    else:
        defaults.update({"etcd-cafile": pki_dir + "/etcd/ca.crt",
                         "etcd-certfile": pki_dir + "/apiserver-etcd-client.crt",
                         "etcd-keyfile": pki_dir + "/apiserver-etcd-client.key",
                         "etcd-servers": "https://127.0.0.1:2379"})
    comp = cluster.get("apiServer") or {}
    cmd = ["kube-apiserver"] + _merge_args(defaults, comp.get("extraArgs"))
    probes = {"livenessProbe": _probe(advertise, bind_port, "/livez"),
              "readinessProbe": _probe(advertise, bind_port, "/readyz", failure=3, delay=0, timeout=15, period=1),
              "startupProbe": _probe(advertise, bind_port, "/livez", failure=24)}
    mounts = CA_MOUNTS + [("k8s-certs", pki_dir, True, "DirectoryOrCreate")]
    ann = {C.ANNOTATION_APISERVER_ENDPOINT: "%s:%s" % (advertise, bind_port)}
    return static_pod("kube-apiserver", image(cluster, "kube-apiserver", k8s_version), cmd, probes, mounts, "250m",
                      ann, comp.get("extraVolumes"), comp.get("extraEnvs"))


def controller_manager_manifest(cluster, k8s_version):
    pki_dir = cluster.get("certificatesDir", C.PKI_DIR)
    net = cluster.get("networking", {})
    kc = C.KUBERNETES_DIR + "/" + C.CONTROLLER_MANAGER_CONF
    defaults = {
        "authentication-kubeconfig": kc, "authorization-kubeconfig": kc, "bind-address": "127.0.0.1",
        "client-ca-file": pki_dir + "/ca.crt", "cluster-name": cluster.get("clusterName", "kubernetes"),
        "cluster-signing-cert-file": pki_dir + "/ca.crt", "cluster-signing-key-file": pki_dir + "/ca.key",
        "controllers": "*,bootstrapsigner,tokencleaner", "kubeconfig": kc, "leader-elect": "true",
        "requestheader-client-ca-file": pki_dir + "/front-proxy-ca.crt",
        "root-ca-file": pki_dir + "/ca.crt", "service-account-private-key-file": pki_dir + "/sa.key",
        "use-service-account-credentials": "true",
    }
    if net.get("podSubnet"):
        defaults["allocate-node-cidrs"] = "true"
        defaults["cluster-cidr"] = net["podSubnet"]
        defaults["service-cluster-ip-range"] = net.get("serviceSubnet", "10.96.0.0/12")
    comp = cluster.get("controllerManager") or {}
    cmd = ["kube-controller-manager"] + _merge_args(defaults, comp.get("extraArgs"))
    probes = {"livenessProbe": _probe("127.0.0.1", C.CONTROLLER_MANAGER_PORT, "/healthz"),
              "startupProbe": _probe("127.0.0.1", C.CONTROLLER_MANAGER_PORT, "/healthz", failure=24)}
    mounts = CA_MOUNTS + [("k8s-certs", pki_dir, True, "DirectoryOrCreate"),
                          ("kubeconfig", kc, True, "FileOrCreate"),
                          ("flexvolume-dir", "/usr/libexec/kubernetes/kubelet-plugins/volume/exec", False,
                           "DirectoryOrCreate")]
    return static_pod("kube-controller-manager", image(cluster, "kube-controller-manager", k8s_version), cmd,
                      probes, mounts, "200m", None, comp.get("extraVolumes"), comp.get("extraEnvs"))


def scheduler_manifest(cluster, k8s_version):
    kc = C.KUBERNETES_DIR + "/" + C.SCHEDULER_CONF
    defaults = {"authentication-kubeconfig": kc, "authorization-kubeconfig": kc, "bind-address": "127.0.0.1",
                "kubeconfig": kc, "leader-elect": "true"}
    comp = cluster.get("scheduler") or {}
    cmd = ["kube-scheduler"] + _merge_args(defaults, comp.get("extraArgs"))
    probes = {"livenessProbe": _probe("127.0.0.1", C.SCHEDULER_PORT, "/livez"),
              "readinessProbe": _probe("127.0.0.1", C.SCHEDULER_PORT, "/readyz", failure=3, delay=0, period=1),
              "startupProbe": _probe("127.0.0.1", C.SCHEDULER_PORT, "/livez", failure=24)}
    mounts = [("kubeconfig", kc, True, "FileOrCreate")]
    return static_pod("kube-scheduler", image(cluster, "kube-scheduler", k8s_version), cmd, probes, mounts, "100m",
                      None, comp.get("extraVolumes"), comp.get("extraEnvs"))


def etcd_manifest(cluster, node_name, advertise, version, initial_cluster=None):
    pki_dir = cluster.get("certificatesDir", C.PKI_DIR)
    local = (cluster.get("etcd") or {}).get("local") or {}
    data_dir = local.get("dataDir", "/var/lib/etcd")
    h = fmt_host(advertise)
    defaults = {
        "advertise-client-urls": "https://%s:2379" % h, "cert-file": pki_dir + "/etcd/server.crt",
        "client-cert-auth": "true", "data-dir": data_dir,
        "initial-advertise-peer-urls": "https://%s:2380" % h,
        "initial-cluster": "%s=https://%s:2380" % (node_name, h),
        "key-file": pki_dir + "/etcd/server.key",
        "listen-client-urls": "https://127.0.0.1:2379,https://%s:2379" % h,
        "listen-metrics-urls": "http://127.0.0.1:2381", "listen-peer-urls": "https://%s:2380" % h,
        "name": node_name, "peer-cert-file": pki_dir + "/etcd/peer.crt", "peer-client-cert-auth": "true",
        "peer-key-file": pki_dir + "/etcd/peer.key", "peer-trusted-ca-file": pki_dir + "/etcd/ca.crt",
        "snapshot-count": "10000", "trusted-ca-file": pki_dir + "/etcd/ca.crt",
    }
    # local.go: etcd < 3.6 (by the image tag) takes the experimental flags, 3.6+ the feature gate
    tag = etcd_image(cluster, version).rsplit(":", 1)[-1].lstrip("v")
    try:
        old = tuple(int(x) for x in tag.split("-")[0].split(".")[:2]) < (3, 6)
    except ValueError:
        old = False
    if old:
        defaults["experimental-initial-corrupt-check"] = "true"
        defaults["experimental-watch-progress-notify-interval"] = "5s"
    else:
        defaults["feature-gates"] = "InitialCorruptCheck=true"
        defaults["watch-progress-notify-interval"] = "5s"
    if initial_cluster:
        defaults["initial-cluster"] = ",".join("%s=%s" % (n, u) for n, u in initial_cluster)
        defaults["initial-cluster-state"] = "existing"
    cmd = ["etcd"] + _merge_args(defaults, local.get("extraArgs"))
    probes = {"livenessProbe": _probe("127.0.0.1", C.ETCD_METRICS_PORT, "/livez", scheme="HTTP"),
              "readinessProbe": _probe("127.0.0.1", C.ETCD_METRICS_PORT, "/readyz", scheme="HTTP", failure=3,
                                       delay=0, period=1),
              "startupProbe": _probe("127.0.0.1", C.ETCD_METRICS_PORT, "/readyz", scheme="HTTP", failure=24)}
    mounts = [("etcd-certs", pki_dir + "/etcd", False, "DirectoryOrCreate"),
              ("etcd-data", data_dir, False, "DirectoryOrCreate")]
    ann = {C.ANNOTATION_ETCD_URLS: "https://%s:2379" % h}
    return static_pod("etcd", etcd_image(cluster, version), cmd, probes, mounts, "100m", ann, None,
                      local.get("extraEnvs"))


def write_manifest(pod, name):
    pki.write_file(os.path.join(C.MANIFESTS_DIR, name + ".yaml"),
                   yaml.safe_dump(pod, default_flow_style=False, sort_keys=True), 0o600)


# ---------------------------------------------------------------- kubelet

KUBELET_DEFAULTS = {
    "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
    "authentication": {"anonymous": {"enabled": False}, "webhook": {"cacheTTL": "0s", "enabled": True},
                       "x509": {"clientCAFile": C.PKI_DIR + "/ca.crt"}},
    "authorization": {"mode": "Webhook", "webhook": {"cacheAuthorizedTTL": "0s", "cacheUnauthorizedTTL": "0s"}},
    "cgroupDriver": "systemd", "clusterDomain": "cluster.local", "containerRuntimeEndpoint": "",
    "cpuManagerReconcilePeriod": "0s", "crashLoopBackOff": {}, "evictionPressureTransitionPeriod": "0s",
    "fileCheckFrequency": "0s", "healthzBindAddress": "127.0.0.1", "healthzPort": 10248,
    "httpCheckFrequency": "0s", "imageMaximumGCAge": "0s", "imageMinimumGCAge": "0s",
    "logging": {"flushFrequency": 0, "options": {"json": {"infoBufferSize": "0"}, "text": {"infoBufferSize": "0"}},
                "verbosity": 0},
    "memorySwap": {}, "nodeStatusReportFrequency": "0s", "nodeStatusUpdateFrequency": "0s",
    "rotateCertificates": True, "runtimeRequestTimeout": "0s", "shutdownGracePeriod": "0s",
    "shutdownGracePeriodCriticalPods": "0s", "staticPodPath": C.MANIFESTS_DIR,
    "streamingConnectionIdleTimeout": "0s", "syncFrequency": "0s", "volumeStatsAggPeriod": "0s",
}



def write_control_plane_manifests(cluster, advertise, port, k8s, out):
    """The control-plane phase of init and of a control-plane join: the three static Pod manifests."""
    out('[control-plane] Using manifest folder "%s"' % C.MANIFESTS_DIR)
    for comp, pod in (("kube-apiserver", apiserver_manifest(cluster, advertise, port, k8s)),
                      ("kube-controller-manager", controller_manager_manifest(cluster, k8s)),
                      ("kube-scheduler", scheduler_manifest(cluster, k8s))):
        out('[control-plane] Creating static Pod manifest for "%s"' % comp)
        write_manifest(pod, comp)


def kubelet_config(cluster, user_doc):
    """The cluster-wide KubeletConfiguration (kubelet-config ConfigMap), defaulted as kubeadm does."""
    cfg = yaml.safe_load(yaml.safe_dump(KUBELET_DEFAULTS))
    net = cluster.get("networking", {})
    cfg["clusterDNS"] = [service_ip(net.get("serviceSubnet", "10.96.0.0/12"), 10)]
    cfg["clusterDomain"] = net.get("dnsDomain", "cluster.local")
    cfg["authentication"]["x509"]["clientCAFile"] = cluster.get("certificatesDir", C.PKI_DIR) + "/ca.crt"
    for k, v in (user_doc or {}).items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            merged = dict(cfg[k])
            merged.update(v)
            cfg[k] = merged
        else:
            cfg[k] = v
    if not cfg.get("cgroupDriver"):
        cfg["cgroupDriver"] = "systemd"
    return cfg


def write_kubelet_files(kcfg, node_reg, out):
    """/var/lib/kubelet/config.yaml + kubeadm-flags.env, as the kubelet-start phase writes them."""
    import socket
    flags = []
    name = node_reg.get("name")
    if name and name != socket.gethostname().lower():
        flags.append(("hostname-override", name))
    for n, v in K.args_to_dict(node_reg.get("kubeletExtraArgs")):
        flags = [(a, b) for a, b in flags if a != n] + [(n, v)]
    local = dict(kcfg)
    local["containerRuntimeEndpoint"] = node_reg.get("criSocket", C.DEFAULT_CRI_SOCKET)
    os.makedirs(C.KUBELET_DIR, exist_ok=True)
    out('[kubelet-start] Writing kubelet environment file with flags to file "%s/kubeadm-flags.env"' % C.KUBELET_DIR)
    text = 'KUBELET_KUBEADM_ARGS="%s"\n' % " ".join("--%s=%s" % (n, v) for n, v in flags)
    pki.write_file(C.KUBELET_DIR + "/kubeadm-flags.env", text, 0o644)
    out('[kubelet-start] Writing kubelet configuration to file "%s/config.yaml"' % C.KUBELET_DIR)
    pki.write_file(C.KUBELET_DIR + "/config.yaml", yaml.safe_dump(local, default_flow_style=False, sort_keys=True),
                   0o644)


# ---------------------------------------------------------------- upload-certs (copycerts)

def encrypt(data, key_hex):
    key = bytes.fromhex(key_hex)
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(key).encrypt(nonce, data, None)


def decrypt(data, key_hex):
    key = bytes.fromhex(key_hex)
    return AESGCM(key).decrypt(data[:12], data[12:], None)


def secret_key_name(path):
    return path.replace("/", "-")


def certs_secret(pki_dir, key_hex, owner=None, external_etcd=False):
    data = {}
    for rel in SHARED_CERTS:
        if external_etcd and rel.startswith("etcd/"):
            continue
        p = os.path.join(pki_dir, rel)
        if os.path.exists(p):
            with open(p, "rb") as f:
                data[secret_key_name(rel)] = base64.b64encode(encrypt(f.read(), key_hex)).decode()
    meta = {"name": "kubeadm-certs", "namespace": "kube-system"}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Secret", "name": owner["metadata"]["name"],
                                    "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": meta, "data": data}


# ---------------------------------------------------------------- API objects

def rbac(kind, name, namespace=None, rules=None, role_ref=None, subjects=None):
    meta = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    obj = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta}
    if rules is not None:
        obj["rules"] = rules
    if role_ref is not None:
        obj["roleRef"] = {"apiGroup": "rbac.authorization.k8s.io", "kind": role_ref[0], "name": role_ref[1]}
        obj["subjects"] = [{"apiGroup": "rbac.authorization.k8s.io" if k != "ServiceAccount" else "",
                            "kind": k, "name": n, **({"namespace": ns} if ns else {})}
                           for k, n, ns in subjects]
        for s in obj["subjects"]:
            if not s["apiGroup"]:
                del s["apiGroup"]
    return obj


def group(name):
    return ("Group", name, None)


def bootstrap_rbac():
    g = group(C.NODE_BOOTSTRAP_GROUP)
    return [
        rbac("ClusterRole", "kubeadm:get-nodes", rules=[{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]),
        rbac("ClusterRoleBinding", "kubeadm:get-nodes", role_ref=("ClusterRole", "kubeadm:get-nodes"), subjects=[g]),
        rbac("ClusterRoleBinding", "kubeadm:kubelet-bootstrap", role_ref=("ClusterRole", "system:node-bootstrapper"),
             subjects=[g]),
        rbac("ClusterRoleBinding", "kubeadm:node-autoapprove-bootstrap",
             role_ref=("ClusterRole", "system:certificates.k8s.io:certificatesigningrequests:nodeclient"), subjects=[g]),
        rbac("ClusterRoleBinding", "kubeadm:node-autoapprove-certificate-rotation",
             role_ref=("ClusterRole", "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"),
             subjects=[group("system:nodes")]),
    ]


def cluster_info_rbac():
    return [
        rbac("Role", "kubeadm:bootstrap-signer-clusterinfo", "kube-public",
             rules=[{"apiGroups": [""], "resourceNames": ["cluster-info"], "resources": ["configmaps"],
                     "verbs": ["get"]}]),
        rbac("RoleBinding", "kubeadm:bootstrap-signer-clusterinfo", "kube-public",
             role_ref=("Role", "kubeadm:bootstrap-signer-clusterinfo"), subjects=[("User", "system:anonymous", None)]),
    ]


def upload_config_rbac():
    subj = [group(C.NODE_BOOTSTRAP_GROUP), group("system:nodes")]
    return [
        rbac("Role", "kubeadm:nodes-kubeadm-config", "kube-system",
             rules=[{"apiGroups": [""], "resourceNames": ["kubeadm-config"], "resources": ["configmaps"],
                     "verbs": ["get"]}]),
        rbac("RoleBinding", "kubeadm:nodes-kubeadm-config", "kube-system",
             role_ref=("Role", "kubeadm:nodes-kubeadm-config"), subjects=subj),
        rbac("Role", "kubeadm:kubelet-config", "kube-system",
             rules=[{"apiGroups": [""], "resourceNames": ["kubelet-config"], "resources": ["configmaps"],
                     "verbs": ["get"]}]),
        rbac("RoleBinding", "kubeadm:kubelet-config", "kube-system", role_ref=("Role", "kubeadm:kubelet-config"),
             subjects=subj),
    ]


def certs_rbac():
    return [
        rbac("Role", "kubeadm:kubeadm-certs", "kube-system",
             rules=[{"apiGroups": [""], "resourceNames": ["kubeadm-certs"], "resources": ["secrets"],
                     "verbs": ["get"]}]),
        rbac("RoleBinding", "kubeadm:kubeadm-certs", "kube-system", role_ref=("Role", "kubeadm:kubeadm-certs"),
             subjects=[group(C.NODE_BOOTSTRAP_GROUP)]),
    ]


def cluster_info_configmap(server, ca_pem):
    kc = {"apiVersion": "v1",
          "clusters": [{"cluster": {"certificate-authority-data": base64.b64encode(ca_pem).decode(),
                                    "server": server}, "name": ""}],
          "contexts": None, "current-context": "", "kind": "Config", "preferences": {}, "users": None}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cluster-info", "namespace": "kube-public"},
            "data": {"kubeconfig": yaml.safe_dump(kc, default_flow_style=False, sort_keys=True)}}


COREFILE = """.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes %s in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30 {
       disable success %s
       disable denial %s
    }
    loop
    reload
    loadbalance
}
"""


def coredns_objects(cluster, version):
    dns = cluster.get("dns") or {}
    repo = dns.get("imageRepository") or cluster.get("imageRepository", "registry.k8s.io")
    tag = dns.get("imageTag") or C.pins(version)["coredns"]
    img = "%s/coredns/coredns:%s" % (repo, tag) if repo == "registry.k8s.io" else "%s/coredns:%s" % (repo, tag)
    domain = cluster.get("networking", {}).get("dnsDomain", "cluster.local")
    labels = {"k8s-app": "kube-dns"}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", "namespace": "kube-system"},
          "data": {"Corefile": COREFILE % (domain, domain, domain)}}
    cr = rbac("ClusterRole", "system:coredns", rules=[
        {"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"], "verbs": ["list", "watch"]},
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]}])
    crb = rbac("ClusterRoleBinding", "system:coredns", role_ref=("ClusterRole", "system:coredns"),
               subjects=[("ServiceAccount", "coredns", "kube-system")])
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "coredns", "namespace": "kube-system"}}
    port_specs = [{"containerPort": 53, "name": "dns", "protocol": "UDP"},
                  {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"},
                  {"containerPort": 9153, "name": "metrics", "protocol": "TCP"},
                  {"containerPort": 8080, "name": "liveness-probe", "protocol": "TCP"},
                  {"containerPort": 8181, "name": "readiness-probe", "protocol": "TCP"}]
    deploy = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"labels": labels, "name": "coredns", "namespace": "kube-system"},
        "spec": {
            "replicas": 2, "selector": {"matchLabels": labels},
            "strategy": {"rollingUpdate": {"maxUnavailable": 1}, "type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                        {"podAffinityTerm": {"labelSelector": {"matchExpressions": [
                            {"key": "k8s-app", "operator": "In", "values": ["kube-dns"]}]},
                            "topologyKey": "kubernetes.io/hostname"}, "weight": 100}]}},
                    "containers": [{
                        "args": ["-conf", "/etc/coredns/Corefile"], "image": img, "imagePullPolicy": "IfNotPresent",
                        "livenessProbe": {"failureThreshold": 5, "httpGet": {"path": "/health", "port": "liveness-probe",
                                                                            "scheme": "HTTP"},
                                          "initialDelaySeconds": 60, "successThreshold": 1, "timeoutSeconds": 5},
                        "name": "coredns", "ports": port_specs,
                        "readinessProbe": {"httpGet": {"path": "/ready", "port": "readiness-probe", "scheme": "HTTP"}},
                        "resources": {"limits": {"memory": "170Mi"}, "requests": {"cpu": "100m", "memory": "70Mi"}},
                        "securityContext": {"allowPrivilegeEscalation": False,
                                            "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]},
                                            "readOnlyRootFilesystem": True},
                        "volumeMounts": [{"mountPath": "/etc/coredns", "name": "config-volume", "readOnly": True}]}],
                    "dnsPolicy": "Default", "nodeSelector": {"kubernetes.io/os": "linux"},
                    "priorityClassName": "system-cluster-critical", "serviceAccountName": "coredns",
                    "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"},
                                    {"effect": "NoSchedule", "key": C.LABEL_CONTROL_PLANE}],
                    "volumes": [{"configMap": {"items": [{"key": "Corefile", "path": "Corefile"}], "name": "coredns"},
                                 "name": "config-volume"}]}}}}
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"},
                        "labels": {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true",
                                   "kubernetes.io/name": "CoreDNS"},
                        "name": "kube-dns", "namespace": "kube-system"},
           "spec": {"clusterIP": service_ip(cluster["networking"].get("serviceSubnet", "10.96.0.0/12"), 10),
                    "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                              {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                              {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}],
                    "selector": {"k8s-app": "kube-dns"}}}
    return [("configmaps", cm), ("clusterroles", cr), ("clusterrolebindings", crb), ("serviceaccounts", sa),
            ("deployments", deploy), ("services", svc)]


def kube_proxy_objects(cluster, version, server, user_doc):
    net = cluster.get("networking", {})
    conf = {"apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
            "bindAddress": "0.0.0.0", "clientConnection": {"kubeconfig": "/var/lib/kube-proxy/kubeconfig.conf"},
            "clusterCIDR": net.get("podSubnet", ""), "mode": ""}
    conf.update(user_doc or {})
    kubeconfig = {"apiVersion": "v1", "kind": "Config",
                  "clusters": [{"cluster": {"certificate-authority": "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
                                            "server": server}, "name": "default"}],
                  "contexts": [{"context": {"cluster": "default", "namespace": "default", "user": "default"},
                                "name": "default"}],
                  "current-context": "default",
                  "users": [{"name": "default", "user": {"tokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token"}}]}
    labels = {"k8s-app": "kube-proxy"}
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"labels": {"app": "kube-proxy"}, "name": "kube-proxy", "namespace": "kube-system"},
          "data": {"config.conf": yaml.safe_dump(conf, default_flow_style=False, sort_keys=True),
                   "kubeconfig.conf": yaml.safe_dump(kubeconfig, default_flow_style=False, sort_keys=False)}}
    ds = {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"labels": labels, "name": "kube-proxy", "namespace": "kube-system"},
        "spec": {"selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{
                                  "command": ["/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf",
                                              "--hostname-override=$(NODE_NAME)"],
                                  "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                                  "image": image(cluster, "kube-proxy", version_tag(version)),
                                  "imagePullPolicy": "IfNotPresent", "name": "kube-proxy",
                                  "securityContext": {"privileged": True},
                                  "volumeMounts": [{"mountPath": "/var/lib/kube-proxy", "name": "kube-proxy"},
                                                   {"mountPath": "/run/xtables.lock", "name": "xtables-lock"},
                                                   {"mountPath": "/lib/modules", "name": "lib-modules",
                                                    "readOnly": True}]}],
                                  "hostNetwork": True, "nodeSelector": {"kubernetes.io/os": "linux"},
                                  "priorityClassName": "system-node-critical", "serviceAccountName": "kube-proxy",
                                  "tolerations": [{"operator": "Exists"}],
                                  "volumes": [{"configMap": {"name": "kube-proxy"}, "name": "kube-proxy"},
                                              {"hostPath": {"path": "/run/xtables.lock", "type": "FileOrCreate"},
                                               "name": "xtables-lock"},
                                              {"hostPath": {"path": "/lib/modules"}, "name": "lib-modules"}]}},
                 "updateStrategy": {"type": "RollingUpdate"}}}
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "kube-proxy", "namespace": "kube-system"}}
    crb = rbac("ClusterRoleBinding", "kubeadm:node-proxier", role_ref=("ClusterRole", "system:node-proxier"),
               subjects=[("ServiceAccount", "kube-proxy", "kube-system")])
    role = rbac("Role", "kube-proxy", "kube-system",
                rules=[{"apiGroups": [""], "resourceNames": ["kube-proxy"], "resources": ["configmaps"],
                        "verbs": ["get"]}])
    rb = rbac("RoleBinding", "kube-proxy", "kube-system", role_ref=("Role", "kube-proxy"),
              subjects=[group(C.NODE_BOOTSTRAP_GROUP)])
    return [("serviceaccounts", sa), ("clusterrolebindings", crb), ("roles", role), ("rolebindings", rb),
            ("configmaps", cm), ("daemonsets", ds)]


def version_tag(version):
    return "v" + version.lstrip("v")


def config_hash(text):
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

"""kube-apiserver's command line, as kubeadm writes it into the static pod manifest.

Every flag kube-apiserver 1.36/1.37 knows (the ones kubeadm writes and the common ones users put in
``apiServer.extraArgs``) is accepted; an unknown one fails as kube-apiserver (cobra/pflag) does:
``Error: unknown flag: --x`` and exit status 1.  Only a few are modelled (see MODELLED)."""

import sys

# flags whose value is used by the stand-in
MODELLED = {
    "advertise-address", "bind-address", "secure-port", "etcd-servers", "etcd-cafile", "etcd-certfile",
    "etcd-keyfile", "etcd-prefix", "client-ca-file", "tls-cert-file", "tls-private-key-file",
    "service-cluster-ip-range", "service-node-port-range", "enable-bootstrap-token-auth",
    "authorization-mode", "anonymous-auth", "kubesim-version", "etcd-compaction-interval",
    "v",
    "service-account-issuer", "service-account-key-file", "service-account-signing-key-file", "api-audiences",
}

BOOL_FLAGS = {
    "allow-privileged", "enable-bootstrap-token-auth", "anonymous-auth", "profiling", "enable-aggregator-routing",
    "enable-priority-and-fairness", "enable-logs-handler", "endpoint-reconciler-type-unused",
    "storage-media-type-unused", "strict-transport-security-directives-unused", "enable-garbage-collector",
    "watch-cache", "permit-port-sharing", "permit-address-sharing", "service-account-lookup",
    "service-account-extend-token-expiration", "kubelet-https", "contention-profiling", "debug-socket-path-unused",
    "allow-metric-labels-manifest-unused", "v-unused", "logtostderr", "alsologtostderr", "one-output",
    "skip-headers", "skip-log-headers", "add-dir-header", "help", "version-unused", "cors-allowed-origins-unused",
    "emulated-version-unused", "enable-admission-plugins-unused", "authentication-config-unused",
    "delete-collection-workers-unused", "requestheader-uid-headers-unused",
    "disable-http2-serving", "goaway-chance-unused", "livez-grace-period-unused", "enable-debugging-handlers-unused",
}

# kube-apiserver flags accepted and ignored (not modelled by the stand-in)
IGNORED = {
    "admission-control-config-file", "allow-privileged", "audit-log-path", "audit-log-maxage", "audit-log-maxbackup",
    "audit-log-maxsize", "audit-log-format", "audit-policy-file", "audit-webhook-config-file", "audit-log-mode",
    "audit-log-compress", "audit-log-batch-max-size", "audit-webhook-mode",
    "authentication-config", "authentication-token-webhook-config-file", "authentication-token-webhook-cache-ttl",
    "authorization-config", "authorization-webhook-config-file", "authorization-webhook-cache-authorized-ttl",
    "authorization-webhook-cache-unauthorized-ttl", "authorization-webhook-version",
    "api-audiences", "apiserver-count", "cert-dir", "cloud-provider", "cloud-config", "cors-allowed-origins",
    "default-not-ready-toleration-seconds", "default-unreachable-toleration-seconds", "default-watch-cache-size",
    "delete-collection-workers", "disable-admission-plugins", "egress-selector-config-file", "emulated-version",
    "enable-admission-plugins", "enable-aggregator-routing", "enable-garbage-collector", "enable-logs-handler",
    "enable-priority-and-fairness", "encryption-provider-config", "encryption-provider-config-automatic-reload",
    "endpoint-reconciler-type", "etcd-compaction-interval", "etcd-count-metric-poll-period", "etcd-db-metric-poll-interval",
    "etcd-healthcheck-timeout", "etcd-readycheck-timeout", "etcd-servers-overrides", "event-ttl", "external-hostname",
    "feature-gates", "goaway-chance", "http2-max-streams-per-connection", "kubelet-certificate-authority",
    "kubelet-client-certificate", "kubelet-client-key", "kubelet-port", "kubelet-preferred-address-types",
    "kubelet-read-only-port", "kubelet-timeout", "lease-reuse-duration-seconds", "livez-grace-period",
    "log-flush-frequency", "logging-format", "max-connection-bytes-per-sec", "max-mutating-requests-inflight",
    "max-requests-inflight", "min-request-timeout", "oidc-ca-file", "oidc-client-id", "oidc-groups-claim",
    "oidc-groups-prefix", "oidc-issuer-url", "oidc-required-claim", "oidc-signing-algs", "oidc-username-claim",
    "oidc-username-prefix", "permit-address-sharing", "permit-port-sharing", "profiling", "proxy-client-cert-file",
    "proxy-client-key-file", "request-timeout", "requestheader-allowed-names", "requestheader-client-ca-file",
    "requestheader-extra-headers-prefix", "requestheader-group-headers", "requestheader-username-headers",
    "requestheader-uid-headers", "runtime-config", "service-account-issuer", "service-account-jwks-uri",
    "service-account-key-file", "service-account-lookup", "service-account-max-token-expiration",
    "service-account-signing-key-file", "service-account-extend-token-expiration", "shutdown-delay-duration",
    "shutdown-send-retry-after", "shutdown-watch-termination-grace-period", "storage-backend", "storage-media-type",
    "strict-transport-security-directives", "tls-cipher-suites", "tls-min-version", "tls-sni-cert-key",
    "token-auth-file", "tracing-config-file", "v", "vmodule", "watch-cache", "watch-cache-sizes",
    "advertise-address", "etcd-prefix", "contention-profiling", "debug-socket-path",
    "allow-metric-labels", "allow-metric-labels-manifest", "disabled-metrics", "show-hidden-metrics-for-version",
    "kubernetes-service-node-port", "peer-advertise-ip", "peer-advertise-port",
    "peer-ca-file", "service-account-signing-endpoint", "coordinated-leadership-lease-duration",
    "coordinated-leadership-renew-deadline", "coordinated-leadership-retry-period", "disable-http2-serving",
    "log-text-info-buffer-size", "log-text-split-stream", "log-json-info-buffer-size", "log-json-split-stream",
    "enable-contention-profiling", "storage-initialization-timeout", "audit-log-truncate-enabled",
    "audit-webhook-batch-max-size", "audit-webhook-initial-backoff", "audit-log-version", "audit-webhook-version",
    "aggregator-reject-forwarding-redirect", "enable-debugging-handlers",
}

KNOWN = MODELLED | IGNORED | BOOL_FLAGS | {"help"}

DEFAULTS = {
    "bind-address": "0.0.0.0",
    "secure-port": "6443",
    "service-cluster-ip-range": "10.0.0.0/24",
    "service-node-port-range": "30000-32767",
    "authorization-mode": "AlwaysAllow",
    "anonymous-auth": "true",
    "enable-bootstrap-token-auth": "false",
    "etcd-prefix": "/registry",
}


# flags kube-apiserver accepts several times (all values kept in opts["<name>[]"])
REPEATABLE = {"service-account-issuer", "service-account-key-file", "api-audiences", "tls-sni-cert-key"}


class FlagError(Exception):
    pass


def parse(argv):
    opts = dict(DEFAULTS)
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("--") or arg == "--":
            if arg.startswith("-") and len(arg) > 1:
                raise FlagError("unknown shorthand flag: '%s' in %s" % (arg[1], arg))
            continue  # kube-apiserver ignores positional arguments
        name, eq, value = arg[2:].partition("=")
        if name not in KNOWN:
            raise FlagError("unknown flag: --%s" % name)
        if not eq:
            if name in BOOL_FLAGS:
                value = "true"
            else:
                if i >= len(argv):
                    raise FlagError("flag needs an argument: --%s" % name)
                value = argv[i]
                i += 1
        if name in REPEATABLE:
            opts.setdefault(name + "[]", []).extend(v for v in value.split(",") if v)
            opts[name] = (opts[name + "[]"] or [""])[0]
            continue
        opts[name] = value
    return opts


def main_parse(argv):
    try:
        return parse(argv)
    except FlagError as e:
        sys.stderr.write("Error: %s\n" % e)
        sys.exit(1)

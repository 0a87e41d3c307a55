"""What the kube-controller-manager and kube-scheduler stand-ins share: the command-line start-up
(flags, --version/--help, logging, the secure /healthz listener, the API client) and the
leader-elected run loop.

``start`` returns an exit code when the component must stop there (a flag error, --version,
--help, a listener or kubeconfig error), with the component's own wording on stderr; otherwise the
parsed options. ``connect`` serves /healthz and builds the API client, or returns an exit code.
"""

import logging
import sys
import time

from ..apiclient import ApiError, Client
from . import flags as F
from . import serving


def flag_spec(own):
    """The flags both components take (generic, leader election, secure serving, delegated
    authentication/authorization, client connection) plus the component's ``own``."""
    spec = dict(F.COMMON)
    for group in (F.LEADER, F.SECURE_SERVING, F.AUTH_DELEGATION, F.CLIENT, own):
        spec.update(group)
    return spec


def start(name, argv, spec, check=None):
    """Parse the command line; an int return is the exit code, else the options dict.
    ``check(opts)`` may return an exit code for component-specific flag validation."""
    usage = f"Usage:\n  {name} [flags]\n"
    argv = sys.argv[1:] if argv is None else argv
    try:
        opts, positional = F.parse_flags(argv, spec)
    except F.FlagError as exc:
        sys.stderr.write(f"Error: {exc}\n{usage}")
        return 1
    if "version" in opts:
        from ..kubelet.host import kubelet_version
        sys.stdout.write(f"Kubernetes {kubelet_version()}\n")
        return 0
    if opts.get("help"):
        sys.stdout.write(usage)
        return 0
    if positional:
        sys.stderr.write(f'Error: unknown command "{positional[0]}" for "{name}"\n')
        return 1
    if check is not None:
        rc = check(opts)
        if rc is not None:
            return rc
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(levelname).1s%(asctime)s %(name)s] %(message)s",
                        datefmt="%m%d %H:%M:%S")
    return opts


def connect(name, opts, kubeconfig, default_port):
    """Serve /healthz on the secure port and return an API client for ``kubeconfig``;
    an int return is the exit code."""
    if not kubeconfig:
        sys.stderr.write("Error: --kubeconfig is required (in-cluster configuration is not modelled)\n")
        return 1
    port = opts.get("secure-port", default_port)
    try:
        serving.serve(name, opts.get("bind-address"), port,
                      opts.get("tls-cert-file"), opts.get("tls-private-key-file"))
    except OSError as exc:
        addr = f"{opts.get('bind-address') or '0.0.0.0'}:{port}"
        sys.stderr.write(f"Error: failed to create listener: failed to listen on {addr}: listen tcp {addr}: "
                         f"bind: {(exc.strerror or str(exc)).lower()}\n")
        return 1
    try:
        return Client.from_kubeconfig(kubeconfig, user_agent=f"{name}/kubesim")
    except FileNotFoundError:
        sys.stderr.write(f"Error: invalid configuration: stat {kubeconfig}: no such file or directory\n")
        return 1
    except (ValueError, KeyError, OSError) as exc:
        sys.stderr.write(f"Error: invalid configuration: {exc}\n")
        return 1


def run(loop):
    """Run the component's endless loop; Ctrl-C ends it with exit code 0."""
    try:
        loop()
    except KeyboardInterrupt:
        return 0
    return 0


def leader_loop(leader, work, period, log, what, catch_all=False):
    """Every ``period`` seconds: when ``leader`` (a LeaderElector, or None without leader
    election) holds or wins the lease, do one pass of ``work``. API errors (an API server
    restarting) are logged and retried on the next pass; with ``catch_all`` any other error too."""
    while True:
        started = time.monotonic()
        if leader is None or leader.try_acquire_or_renew():
            try:
                work()
            except ApiError as exc:
                log.warning("%s: %s", what, exc)
            except Exception:
                if not catch_all:
                    raise
                log.exception("%s failed", what)
        time.sleep(max(0.1, period - (time.monotonic() - started)))

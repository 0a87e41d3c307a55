"""python3 -m kubesim.apiserver <kube-apiserver flags>"""

import signal
import sys
import threading
import time

from . import flags


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "--help" in argv or "-h" in argv:
        sys.stdout.write("The Kubernetes API server (kubesim stand-in) validates and configures data\n"
                         "for the api objects which include pods, services, and others.\n\n"
                         "Usage:\n  kube-apiserver [flags]\n")
        return 0
    opts = flags.main_parse(argv)
    for required in ("etcd-servers",):
        if not opts.get(required):
            sys.stderr.write("Error: [--etcd-servers must be specified]\n")
            return 1
    if not opts.get("tls-cert-file") or not opts.get("tls-private-key-file"):
        sys.stderr.write("Error: the stand-in serves HTTPS only: --tls-cert-file and --tls-private-key-file "
                         "are required\n")
        return 1
    from . import bootstrap, controllers, server
    from .. import etcd as etcdlib
    api = server.APIServer(opts)
    # Like kube-apiserver, wait for etcd before serving (it retries its storage connection).
    deadline = time.time() + 60
    while True:
        try:
            bootstrap.ensure_defaults(api)
            break
        except etcdlib.EtcdError as e:
            if time.time() > deadline:
                sys.stderr.write("Error: error creating storage factory: %s\n" % e)
                return 1
            time.sleep(1)
    api.refresh_crds()
    srv = server.make_server(api, opts["tls-cert-file"], opts["tls-private-key-file"],
                             opts.get("client-ca-file"), opts.get("bind-address") or "0.0.0.0")
    ctl = controllers.Controllers(api)
    ctl.start()

    def stop(signum, frame):
        ctl.stop.set()

        def shutdown():
            bootstrap.remove_own_endpoint(api)
            srv.shutdown()
        threading.Thread(target=shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stderr.write("kubesim-apiserver %s serving on %s:%s\n" % (api.version, opts.get("bind-address"),
                                                                   opts["secure-port"]))
    sys.stderr.flush()
    srv.serve_forever(poll_interval=0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())

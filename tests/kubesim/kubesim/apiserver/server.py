"""The HTTPS front: routing, authentication/authorization, discovery, openapi, CRUD, watch."""

import http.server
import ipaddress
import json
import os
import socket
import ssl
import sys
import threading
import time
import urllib.parse

import yaml

from .. import etcd as etcdlib
from . import auth, proto
from .resources import Registry
from .store import APIError, Store, bad_request, qualified

JSON = "application/json"
TABLE_CT = "application/json;as=Table;v=v1;g=meta.k8s.io"


def read_version(opts):
    # the flag, else the version the kubelet derived from the manifest's image tag (KUBESIM_VERSION),
    # else the installed kubelet package's
    v = opts.get("kubesim-version") or os.environ.get("KUBESIM_VERSION")
    if not v:
        try:
            with open("/usr/lib/kubesim-kubelet/VERSION") as f:
                v = f.read().strip()
        except OSError:
            v = "v1.37.1"
    if not v.startswith("v"):
        v = "v" + v
    return v


class APIServer:
    def __init__(self, opts):
        self.opts = opts
        self.version = read_version(opts)
        self.registry = Registry()
        self.etcd = etcdlib.Client(opts["etcd-servers"], opts.get("etcd-cafile"), opts.get("etcd-certfile"),
                                   opts.get("etcd-keyfile"))
        self.store = Store(self.etcd, self.registry)
        self.authorizer = auth.Authorizer(opts.get("authorization-mode"), self.store, self.registry)
        self.anonymous = opts.get("anonymous-auth", "true") == "true"
        self.bootstrap_tokens = opts.get("enable-bootstrap-token-auth") == "true"
        self.service_net = ipaddress.ip_network(opts["service-cluster-ip-range"].split(",")[0], strict=False)
        lo, _, hi = opts.get("service-node-port-range", "30000-32767").partition("-")
        self.node_ports = (int(lo), int(hi or lo))
        self.alloc_lock = threading.Lock()
        self.advertise = opts.get("advertise-address") or "127.0.0.1"
        self.port = int(opts["secure-port"])
        self.started = time.time()
        try:
            level = int(opts.get("v") or 0)
        except ValueError:
            level = 0
        # --v>=4 (or KUBESIM_APISERVER_DEBUG) logs every request to stderr
        self.verbose = level >= 4 or bool(os.environ.get("KUBESIM_APISERVER_DEBUG"))
        self.crd_rev = None
        self.tokens = None
        try:
            from . import satoken
            self.tokens = satoken.TokenAuthority(
                opts.get("service-account-signing-key-file"), opts.get("service-account-key-file[]") or [],
                opts.get("service-account-issuer[]") or [], opts.get("api-audiences[]") or [])
        except (OSError, ValueError, ImportError) as e:
            sys.stderr.write("kubesim-apiserver: service account tokens disabled: %s\n" % e)

    # --- helpers ----------------------------------------------------------------------------
    def res(self, group, plural, version="v1"):
        return self.registry.lookup(group, version, plural)

    def etcd_ok(self):
        try:
            self.etcd.get("/registry/health")
            return True
        except etcdlib.EtcdError:
            return False

    def refresh_crds(self):
        crd_res = self.res("apiextensions.k8s.io", "customresourcedefinitions")
        try:
            crds, _ = self.store.list(crd_res)
        except etcdlib.EtcdError:
            return
        self.registry.set_custom(crds)


def _bool(v):
    return str(v).lower() in ("1", "true")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-apiserver"
    sys_version = ""
    api = None  # APIServer, set by make_server
    timeout = 900  # idle keep-alive connections are closed after 15 minutes

    def setup(self):
        try:  # responses are header + body writes: no Nagle delay against the client's delayed ACK
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self.request.settimeout(30)
        try:
            self.request.do_handshake()
        except (ssl.SSLError, OSError):
            self._hs_failed = True
        else:
            self._hs_failed = False
        self.request.settimeout(None)
        http.server.BaseHTTPRequestHandler.setup(self)

    def handle(self):
        if self._hs_failed:
            return
        try:
            http.server.BaseHTTPRequestHandler.handle(self)
        except (ConnectionError, ssl.SSLError, socket.timeout):
            pass

    def log_message(self, fmt, *args):
        if self.api.verbose:
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    # --- responses --------------------------------------------------------------------------
    def send_json(self, code, obj, ctype=JSON, headers=None):
        body = json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Audit-Id", self.audit_id)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_text(self, code, text, ctype="text/plain; charset=utf-8"):
        body = text.encode() if isinstance(text, str) else text
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error_status(self, err):
        self.send_json(err.code, err.status())

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    # --- request plumbing -------------------------------------------------------------------
    def read_body(self):
        if self._body is not None:
            return self._body
        n = int(self.headers.get("Content-Length") or 0)
        out = b""
        if n:
            out = self.rfile.read(n)
        elif self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if not size:
                    self.rfile.readline()
                    break
                out += self.rfile.read(size)
                self.rfile.readline()
        self._body = out
        return out

    def body_obj(self, allow_yaml=False):
        raw = self.read_body()
        if not raw:
            return {}
        if raw.startswith(proto.MAGIC):
            try:
                return proto.decode(raw)
            except proto.ProtoError as e:
                raise APIError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                               "accepted media types include: application/json, application/yaml (%s)" % e)
        try:
            return json.loads(raw)
        except ValueError:
            if allow_yaml:
                try:
                    return yaml.safe_load(raw) or {}
                except yaml.YAMLError as e:
                    raise bad_request("error decoding YAML: %s" % e)
            raise bad_request("the object provided is unrecognized: invalid JSON")

    def authenticate(self):
        api = self.api
        h = self.headers.get("Authorization", "")
        if h[:7].lower() == "bearer ":
            token = h[7:].strip()
            user = None
            if api.bootstrap_tokens and auth.BOOTSTRAP_TOKEN_RE.match(token):
                user = auth.bootstrap_user(api.store, api.registry, token)
            elif api.tokens is not None and token.count(".") == 2:
                user = self.service_account_user(token)
            if user is None:
                raise auth.Unauthorized()
            return user
        if api.cert_verifier is not None:
            from . import tlsauth
            der = tlsauth.peer_der(self.connection)
            if der:
                who = api.cert_verifier.verify(der)
                if who is None:
                    raise auth.Unauthorized()
                return auth.User(who[0], who[1] + ["system:authenticated"])
        else:
            try:
                cert = self.connection.getpeercert()
            except (ValueError, AttributeError):
                cert = None
            if cert:
                u = auth.user_from_peercert(cert)
                if u:
                    return u
        if not api.anonymous:
            raise auth.Unauthorized()
        return auth.ANONYMOUS

    def service_account_user(self, token):
        claims = self.api.tokens.verify(token)
        if claims is None:
            return None
        _, _, ns, name = claims["sub"].split(":", 3)
        sa_ref = ((claims.get("kubernetes.io") or {}).get("serviceaccount") or {})
        try:  # --service-account-lookup (default true): the account must still exist
            sa = self.api.store.get(self.api.res("", "serviceaccounts"), ns, name)
        except APIError:
            return None
        if sa_ref.get("uid") and sa["metadata"].get("uid") != sa_ref["uid"]:
            return None
        return auth.User(claims["sub"], ["system:serviceaccounts", "system:serviceaccounts:" + ns,
                                         "system:authenticated"], uid=sa["metadata"].get("uid", ""))

    def dispatch(self):
        self.audit_id = os.urandom(16).hex()
        self._body = None
        if self.command in ("POST", "PUT", "PATCH", "DELETE"):
            self.read_body()  # always consume the body, so keep-alive stays in sync on early errors
        url = urllib.parse.urlsplit(self.path)
        self.q = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        path = url.path
        try:
            try:
                self.user = self.authenticate()
            except auth.Unauthorized:
                self.send_json(401, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                     "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
                return
            self.impersonate()
            self.route(path)
        except APIError as e:
            self.send_error_status(e)
        except etcdlib.EtcdError as e:
            self.send_error_status(APIError(500, "InternalError", "Internal error occurred: %s" % e))
        except (BrokenPipeError, ConnectionResetError):
            pass

    def impersonate(self):
        """Impersonate-User / Impersonate-Group headers (kubectl --as/--as-group), authorized with the
        "impersonate" verb on users/groups as kube-apiserver does."""
        name = self.headers.get("Impersonate-User")
        groups = self.headers.get_all("Impersonate-Group") or []
        if not name:
            if groups:
                raise APIError(500, "InternalError", "Internal error occurred: requested %s without "
                               "impersonating a user" % groups)
            return
        self.authorize(auth.Attributes("impersonate", self.user, "users", "", "", "", name))
        for g in groups:
            self.authorize(auth.Attributes("impersonate", self.user, "groups", "", "", "", g))
        if name.startswith("system:serviceaccount:"):
            groups = groups + ["system:serviceaccounts", "system:serviceaccounts:" + name.split(":")[2]]
        if name != "system:anonymous" and "system:authenticated" not in groups:
            groups = groups + ["system:authenticated"]
        self.user = auth.User(name, groups)

    def authorize(self, a):
        ok, reason = self.api.authorizer.authorize(a)
        if not ok:
            details = {"name": a.name, "group": a.group, "kind": a.resource} if a.is_resource else None
            if details and not a.name:
                details.pop("name")
            raise APIError(403, "Forbidden", auth.forbidden_message(a, reason), details)

    # --- routing ----------------------------------------------------------------------------
    def route(self, path):
        # Segments are percent-decoded as kube-apiserver does (clients escape names such as "kubeadm:kubeadm-certs").
        parts = [urllib.parse.unquote(p) for p in path.split("/") if p]
        method = self.command
        if parts[:1] == ["api"] and len(parts) >= 2 and parts[1] == "v1" and len(parts) > 2:
            return self.resource_request("", "v1", parts[2:])
        if parts[:1] == ["apis"] and len(parts) > 3:
            return self.resource_request(parts[1], parts[2], parts[3:])
        # non-resource
        verb = method.lower() if method != "HEAD" else "get"
        self.authorize(auth.Attributes(verb, self.user, path=path if path else "/"))
        if method not in ("GET", "HEAD"):
            raise APIError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        p = "/" + "/".join(parts)
        if p in ("/healthz", "/livez", "/readyz") or p.startswith(("/healthz/", "/livez/", "/readyz/")):
            return self.health(p)
        if p == "/version":
            return self.send_json(200, self.version_info())
        if p == "/api":
            return self.discovery_core()
        if p == "/apis":
            return self.discovery_groups()
        if p == "/api/v1":
            return self.send_json(200, self.resource_list("", "v1"))
        if len(parts) == 2 and parts[0] == "apis":
            g = dict(self.api.registry.groups()).get(parts[1])
            if g is None:
                raise self.page_not_found()
            return self.send_json(200, self.group_obj(parts[1], g) | {"kind": "APIGroup", "apiVersion": "v1"})
        if len(parts) == 3 and parts[0] == "apis":
            rl = self.resource_list(parts[1], parts[2])
            if not rl["resources"]:
                raise self.page_not_found()
            return self.send_json(200, rl)
        if p == "/openapi/v2":
            return self.openapi_v2()
        if p == "/openapi/v3":
            return self.openapi_v3_index()
        if p.startswith("/openapi/v3/"):
            return self.openapi_v3_doc(p[len("/openapi/v3/"):])
        if p == "/":
            paths = sorted({"/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version", "/openapi/v2",
                            "/openapi/v3"} | {"/apis/%s/%s" % (g, v) for g, vs in self.api.registry.groups() if g
                                              for v in vs})
            return self.send_json(200, {"paths": paths})
        raise self.page_not_found()

    def page_not_found(self):
        return APIError(404, "NotFound", "the server could not find the requested resource",
                        {"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]})

    # --- health and version -----------------------------------------------------------------
    def health(self, p):
        ok = self.api.etcd_ok()
        verbose = "verbose" in self.q
        # as upstream's AddHealthChecks: the etcd check is in healthz, livez and readyz alike
        ok_checks = [("ping", True), ("log", True), ("etcd", ok)]
        if p.startswith("/readyz"):
            ok_checks += [("etcd-readiness", ok), ("informer-sync", True), ("shutdown", True)]
        name = p.split("/")[1]
        sub = p.split("/")[2] if p.count("/") >= 2 else None
        if sub:
            found = dict(ok_checks).get(sub)
            if found is None:
                return self.send_text(404, "404 page not found\n")
            return self.send_text(200 if found else 500, "ok" if found else
                                  "[-]%s failed: reason withheld\n%s check failed\n" % (sub, name))
        good = all(v for _, v in ok_checks)
        if good and not verbose:
            return self.send_text(200, "ok")
        lines = []
        for n, v in ok_checks:
            lines.append("[+]%s ok" % n if v else "[-]%s failed: reason withheld" % n)
        text = "\n".join(lines) + "\n"
        text += ("%s check passed\n" % name) if good else ("%s check failed\n" % name)
        return self.send_text(200 if good else 500, text)

    def version_info(self):
        v = self.api.version
        core = v.lstrip("v").split("-")[0].split(".")
        return {"major": core[0], "minor": core[1], "emulationMajor": core[0], "emulationMinor": core[1],
                "minCompatibilityMajor": core[0], "minCompatibilityMinor": str(max(int(core[1]) - 1, 0)),
                "gitVersion": v, "gitCommit": "0000000000000000000000000000000000000000",
                "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25.5",
                "compiler": "gc", "platform": "linux/amd64"}

    # --- discovery ---------------------------------------------------------------------------
    def wants_aggregated(self):
        acc = self.headers.get("Accept", "")
        for part in acc.split(","):
            if "as=APIGroupDiscoveryList" in part and "g=apidiscovery.k8s.io" in part and "json" in part:
                if "v=v2beta1" in part:
                    return "v2beta1"
                if "v=v2" in part:
                    return "v2"
        return None

    def resource_entries(self, group, version):
        out = []
        for r in self.api.registry.all():
            if r.group == group and r.version == version:
                out.append(r)
        return out

    def resource_list(self, group, version):
        res = []
        for r in self.resource_entries(group, version):
            e = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
                 "verbs": r.verbs}
            if r.short:
                e["shortNames"] = r.short
            if r.categories:
                e["categories"] = r.categories
            res.append(e)
            for s in r.subresources:
                kind = {"scale": "Scale", "binding": "Binding", "eviction": "Eviction",
                        "token": "TokenRequest"}.get(s, r.kind)
                verbs = {"binding": ["create"], "eviction": ["create"], "approval": ["get", "patch", "update"],
                         "finalize": ["update"], "token": ["create"]}.get(s, ["get", "patch", "update"])
                sg = {"scale": "autoscaling", "eviction": "policy", "token": "authentication.k8s.io"}.get(s)
                e = {"name": "%s/%s" % (r.plural, s), "singularName": "", "namespaced": r.namespaced,
                     "kind": kind, "verbs": verbs}
                if sg:
                    e["group"] = sg
                    e["version"] = "v1"
                res.append(e)
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "%s/%s" % (group, version)
                if group else version, "resources": res}

    def group_obj(self, group, versions):
        vs = [{"groupVersion": "%s/%s" % (group, v), "version": v} for v in versions]
        return {"name": group, "versions": vs, "preferredVersion": vs[0]}

    def aggregated(self, groups, dv):
        items = []
        for g, versions in groups:
            vlist = []
            for v in versions:
                rs = []
                for r in self.resource_entries(g, v):
                    e = {"resource": r.plural, "responseKind": {"group": r.group, "version": r.version,
                                                                "kind": r.kind},
                         "scope": "Namespaced" if r.namespaced else "Cluster", "singularResource": r.singular,
                         "verbs": r.verbs}
                    if r.short:
                        e["shortNames"] = r.short
                    if r.categories:
                        e["categories"] = r.categories
                    subs = []
                    for s in r.subresources:
                        kind = {"scale": "Scale", "binding": "Binding", "eviction": "Eviction",
                                "token": "TokenRequest"}.get(s, r.kind)
                        sg = {"scale": "autoscaling", "eviction": "policy", "token": "authentication.k8s.io"}.get(
                            s, r.group)
                        subs.append({"subresource": s, "responseKind": {"group": sg, "version": "v1" if sg != r.group
                                                                        else r.version, "kind": kind},
                                     "verbs": ["create"] if s in ("binding", "eviction", "token")
                                     else ["get", "patch", "update"]})
                    if subs:
                        e["subresources"] = subs
                    rs.append(e)
                vlist.append({"version": v, "resources": rs, "freshness": "Current"})
            meta = {"creationTimestamp": None}
            if g:
                meta["name"] = g
            items.append({"metadata": meta, "versions": vlist})
        body = {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/" + dv, "metadata": {},
                "items": items}
        self.send_json(200, body, "application/json;g=apidiscovery.k8s.io;v=%s;as=APIGroupDiscoveryList" % dv)

    def discovery_core(self):
        dv = self.wants_aggregated()
        if dv:
            return self.aggregated([("", ["v1"])], dv)
        self.send_json(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": "%s:%d" % (self.api.advertise, self.api.port)}]})

    def discovery_groups(self):
        self.api.refresh_crds()
        groups = [(g, vs) for g, vs in self.api.registry.groups() if g]
        dv = self.wants_aggregated()
        if dv:
            return self.aggregated(groups, dv)
        self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1",
                             "groups": [self.group_obj(g, vs) for g, vs in groups]})

    # --- openapi -----------------------------------------------------------------------------
    def openapi_v2(self):
        acc = self.headers.get("Accept", "")
        if "protobuf" in acc and "json" not in acc:
            # gnostic openapi_v2.Document{swagger: "2.0", info: {title, version}}: no definitions, so
            # kubectl falls back to its compiled-in types for strategic merge patch metadata.
            def field(num, data):
                data = data.encode() if isinstance(data, str) else data
                return bytes([num << 3 | 2, len(data)]) + data
            info = field(1, "Kubernetes") + field(2, self.api.version)
            body = field(1, "2.0") + field(2, info)
            return self.send_text(200, body, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
        self.send_json(200, {"swagger": "2.0", "info": {"title": "Kubernetes", "version": self.api.version},
                             "paths": {}, "definitions": {}})

    def gv_paths(self):
        self.api.refresh_crds()
        out = []
        for g, vs in self.api.registry.groups():
            for v in vs:
                out.append((g, v, "api/v1" if not g else "apis/%s/%s" % (g, v)))
        return out

    def openapi_v3_index(self):
        paths = {}
        for _, _, p in self.gv_paths():
            paths[p] = {"serverRelativeURL": "/openapi/v3/%s?hash=%s" % (p, self.api.version.replace(".", ""))}
        self.send_json(200, {"paths": paths})

    def openapi_v3_doc(self, gvpath):
        for g, v, p in self.gv_paths():  # noqa: B007 -- g and v are used after the loop breaks
            if p == gvpath:
                break
        else:
            raise self.page_not_found()
        paths = {}
        params = [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
                  for n in ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")]
        for r in self.resource_entries(g, v):
            gvk = {"group": g, "version": v, "kind": r.kind}
            base = "/" + p + ("/namespaces/{namespace}" if r.namespaced else "") + "/" + r.plural
            ops = {}
            for verb in ("get", "put", "patch", "delete", "post"):
                ops[verb] = {"operationId": verb + r.kind, "x-kubernetes-group-version-kind": gvk,
                             "x-kubernetes-action": verb, "parameters": params,
                             "responses": {"200": {"description": "OK"}}}
            paths[base + "/{name}"] = {k: ops[k] for k in ("get", "put", "patch", "delete")}
            paths[base] = {"post": ops["post"], "get": ops["get"]}
        doc = {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": self.api.version},
               "paths": paths, "components": {"schemas": {}}}
        self.send_json(200, doc, headers={"Cache-Control": "public, immutable"})

    # --- resources ---------------------------------------------------------------------------
    def resource_request(self, group, version, parts):
        api = self.api
        if group and not any(g == group and version in vs for g, vs in api.registry.groups()):
            api.refresh_crds()
        ns = ""
        if parts[0] == "namespaces" and len(parts) >= 3:
            r = api.registry.lookup(group, version, parts[2])
            if r is not None and r.namespaced:
                ns = parts[1]
                parts = parts[2:]
        if parts[0] == "namespaces" and group == "" and len(parts) >= 2 and not ns:
            pass
        r = api.registry.lookup(group, version, parts[0])
        if r is None:
            if group and api.registry.lookup(group, version, parts[0]) is None:
                api.refresh_crds()
                r = api.registry.lookup(group, version, parts[0])
            if r is None:
                raise self.page_not_found()
        name = parts[1] if len(parts) > 1 else ""
        sub = parts[2] if len(parts) > 2 else ""
        if len(parts) > 3 or (sub and sub not in r.subresources):
            raise self.page_not_found()
        m = self.command
        watch = _bool(self.q.get("watch", ""))
        if m in ("GET", "HEAD"):
            verb = "get" if name else ("watch" if watch else "list")
        elif m == "POST":
            verb = "create"
        elif m == "PUT":
            verb = "update"
        elif m == "PATCH":
            verb = "patch"
        elif m == "DELETE":
            verb = "delete" if name else "deletecollection"
        else:
            raise APIError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if m == "GET" and name and watch:
            verb = "watch"
        a = auth.Attributes(verb, self.user, r.plural, group, sub, ns, name, api_version=version)
        if m == "POST" and name and not sub:
            raise APIError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        self.authorize(a)
        if r.virtual:
            return self.review(r)
        if ns and verb in ("create",) and r.kind != "Namespace":
            try:
                nso = api.store.get(api.res("", "namespaces"), "", ns)
            except APIError:
                raise APIError(404, "NotFound", 'namespaces "%s" not found' % ns,
                               {"name": ns, "kind": "namespaces"})
            if (nso.get("metadata") or {}).get("deletionTimestamp"):
                raise APIError(403, "Forbidden", '%s "%s" is forbidden: unable to create new content in namespace %s '
                               'because it is being terminated' % (qualified(r), (self.body_obj().get("metadata") or {})
                                                                  .get("name", ""), ns),
                               {"name": ns, "kind": "namespaces",
                                "causes": [{"reason": "NamespaceTerminating", "field": "metadata.namespace",
                                            "message": "namespace %s is being terminated" % ns}]})
        from . import handlers
        h = handlers.Ops(self, r, ns, name, sub)
        if verb == "get":
            return h.get()
        if verb == "list":
            return h.list()
        if verb == "watch":
            return h.watch()
        if verb == "create":
            return h.create()
        if verb == "update":
            return h.update()
        if verb == "patch":
            return h.patch()
        if verb == "delete":
            return h.delete()
        if verb == "deletecollection":
            return h.delete_collection()

    def review(self, r):
        body = self.body_obj()
        if r.kind == "SelfSubjectReview":
            body["status"] = {"userInfo": self.user.info()}
            return self.send_json(201, body)
        spec = body.get("spec") or {}
        if r.kind == "SelfSubjectAccessReview":
            u = self.user
        else:
            u = auth.User(spec.get("user", ""), spec.get("groups") or [], spec.get("extra"), spec.get("uid", ""))
        ra = spec.get("resourceAttributes")
        if ra is not None:
            a = auth.Attributes(ra.get("verb", ""), u, ra.get("resource", ""), ra.get("group", ""),
                                ra.get("subresource", ""), ra.get("namespace", ""), ra.get("name", ""))
        else:
            nra = spec.get("nonResourceAttributes") or {}
            a = auth.Attributes(nra.get("verb", ""), u, path=nra.get("path", ""))
        ok, reason = self.api.authorizer.authorize(a)
        body["status"] = {"allowed": ok}
        if ok:
            body["status"]["reason"] = "RBAC: allowed"
        elif reason:
            body["status"]["reason"] = reason
        body.setdefault("metadata", {})["creationTimestamp"] = None
        return self.send_json(201, body)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True


def make_server(api, certfile, keyfile, client_ca=None, bind="0.0.0.0"):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile, keyfile)
    api.cert_verifier = None
    if client_ca:
        ctx.load_verify_locations(client_ca)  # also the acceptable-CA list sent to clients
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.verify_flags &= ~getattr(ssl, "VERIFY_X509_STRICT", 0)
        from . import tlsauth
        try:
            ok = tlsauth.request_any_client_cert(ctx)
        except Exception:
            ok = False
        if ok:
            # like kube-apiserver: any certificate passes the handshake, the authenticator
            # verifies it against --client-ca-file and answers 401 Unauthorized otherwise
            api.cert_verifier = tlsauth.Verifier(client_ca)
        # else: the handshake verifies (an unknown CA then fails the handshake instead of 401)
    ctx.set_alpn_protocols(["http/1.1"])
    handler = type("BoundHandler", (Handler,), {"api": api})
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    Server.address_family = family
    srv = Server((bind, api.port), handler, bind_and_activate=False)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
    srv.server_bind()
    srv.server_activate()
    return srv

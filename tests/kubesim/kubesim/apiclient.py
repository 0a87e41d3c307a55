"""A small Kubernetes REST client (standard library + PyYAML only).

Used by the stand-in kubelet, controllers, scheduler and kubeadm. It speaks the
real Kubernetes API over HTTPS; nothing in here knows about the stand-in.

    from kubesim.apiclient import Client, ApiError, resource_path
    c = Client.from_kubeconfig("/etc/kubernetes/admin.conf")
    node = c.get("/api/v1/nodes/node1")
    pods = c.list("/api/v1/namespaces/kube-system/pods", label_selector="k8s-app=kube-dns")
    c.patch("/api/v1/nodes/node1", {"spec": {"podCIDR": "10.244.1.0/24"}})
    for ev in c.watch("/api/v1/pods", field_selector="spec.nodeName=node1"):
        print(ev["type"], ev["object"]["metadata"]["name"])

Interface (stable):
  Client(server, *, ca_file=None, ca_data=None, cert_file=None, cert_data=None,
         key_file=None, key_data=None, token=None, insecure=False, timeout=30,
         user_agent=None)
  Client.from_kubeconfig(path, context=None, timeout=30) -> Client
  Client.from_kubeconfig_dict(cfg, context=None, base_dir=None, timeout=30) -> Client
  client.request(method, path, body=None, params=None, content_type=None, raw=False)
  client.get(path, **params) / list(path, label_selector=None, field_selector=None, **params)
  client.create(path, obj) / update(path, obj) / delete(path, body=None, **params)
  client.patch(path, patch, content_type="application/merge-patch+json")
  client.watch(path, resource_version=None, timeout_seconds=None, label_selector=None,
               field_selector=None, allow_bookmarks=False) -> iterator of {"type", "object"}
  client.get_or_none(path) -> dict or None (404 -> None)
  ApiError(status, reason, message) with .body (parsed Status, if any)
  resource_path(api_version, plural, namespace=None, name=None, subresource=None) -> str
  *_data arguments accept bytes/str of PEM (not base64); kubeconfig *-data fields are
  base64 and decoded by from_kubeconfig.
"""

import base64
import http.client
import json
import os
import socket
import ssl
import tempfile
import threading
import urllib.parse

import yaml

__all__ = ["ApiError", "Client", "resource_path", "MERGE_PATCH", "STRATEGIC_MERGE_PATCH",
           "JSON_PATCH", "APPLY_PATCH"]

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


class ApiError(Exception):
    """An HTTP error answer (or a transport failure, status 0) from the API server."""

    def __init__(self, status, reason, message, body=None):
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body

    @property
    def not_found(self):
        return self.status == 404

    @property
    def conflict(self):
        return self.status == 409


def resource_path(api_version, plural, namespace=None, name=None, subresource=None):
    """Build a REST path: resource_path("apps/v1", "daemonsets", "kube-system", "x")."""
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    parts = [base]
    if namespace:
        parts.append(f"namespaces/{urllib.parse.quote(namespace, safe='')}")
    parts.append(plural)
    if name:
        parts.append(urllib.parse.quote(name, safe=":"))  # as Go's url.PathEscape: "kubeadm:get-nodes" stays
        if subresource:
            parts.append(subresource)
    return "/".join(parts)


def _as_bytes(data):
    if data is None:
        return None
    return data.encode() if isinstance(data, str) else bytes(data)


def _b64(value):
    if value is None:
        return None
    return base64.b64decode(value)


# What a kept-alive connection that the other side closed meanwhile raises on its next request.
_STALE = (http.client.RemoteDisconnected, http.client.CannotSendRequest, BrokenPipeError, ConnectionResetError,
          ConnectionAbortedError, ssl.SSLEOFError, ssl.SSLZeroReturnError)


class Client:
    def __init__(self, server, *, ca_file=None, ca_data=None, cert_file=None, cert_data=None,
                 key_file=None, key_data=None, token=None, insecure=False, timeout=30,
                 user_agent=None):
        parsed = urllib.parse.urlsplit(server)
        if parsed.scheme not in ("https", "http") or not parsed.hostname:
            raise ValueError(f"invalid server URL {server!r}")
        self.server = server.rstrip("/")
        self.scheme = parsed.scheme
        self.host = parsed.hostname
        self.port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self.base_path = parsed.path.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.user_agent = user_agent or "kubesim/apiclient"
        # One kept-alive connection per thread, as client-go keeps its connections: a TLS handshake (and an API
        # server thread with its etcd connection) per request made the idle stand-in cluster busy.
        self._local = threading.local()
        self.ssl_context = None
        if self.scheme == "https":
            self.ssl_context = self._make_context(ca_file, _as_bytes(ca_data), cert_file,
                                                  _as_bytes(cert_data), key_file,
                                                  _as_bytes(key_data), insecure)

    # ----------------------------------------------------------------- setup
    @staticmethod
    def _make_context(ca_file, ca_data, cert_file, cert_data, key_file, key_data, insecure):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            if ca_file:
                ctx.load_verify_locations(cafile=ca_file)
            elif ca_data:
                ctx.load_verify_locations(cadata=ca_data.decode())
            else:
                ctx.load_default_certs()
        if cert_file or cert_data:
            if cert_data is not None or key_data is not None:
                # ssl can only load client credentials from files: write them to a
                # private temporary directory and remove it immediately.
                with tempfile.TemporaryDirectory(prefix="kubesim-apiclient-") as tmp:
                    if cert_data is not None:
                        cert_file = os.path.join(tmp, "cert.pem")
                        with open(os.open(cert_file, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as fh:
                            fh.write(cert_data)
                    if key_data is not None:
                        key_file = os.path.join(tmp, "key.pem")
                        with open(os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as fh:
                            fh.write(key_data)
                    ctx.load_cert_chain(cert_file, key_file)
            else:
                ctx.load_cert_chain(cert_file, key_file)
        return ctx

    @classmethod
    def from_kubeconfig(cls, path, context=None, timeout=30, user_agent=None):
        with open(path, encoding="utf-8") as fh:
            cfg = yaml.safe_load(fh) or {}
        return cls.from_kubeconfig_dict(cfg, context=context,
                                        base_dir=os.path.dirname(os.path.abspath(path)),
                                        timeout=timeout, user_agent=user_agent)

    @classmethod
    def from_kubeconfig_dict(cls, cfg, context=None, base_dir=None, timeout=30, user_agent=None):
        def find(kind, name):
            for item in cfg.get(kind) or []:
                if item.get("name") == name:
                    return item
            raise ValueError(f"kubeconfig: {kind[:-1]} {name!r} not found")

        def rel(p):
            if p and base_dir and not os.path.isabs(p):
                return os.path.join(base_dir, p)
            return p

        ctx_name = context or cfg.get("current-context")
        if not ctx_name:
            contexts = cfg.get("contexts") or []
            if len(contexts) != 1:
                raise ValueError("kubeconfig: no current-context")
            ctx_name = contexts[0]["name"]
        ctx = find("contexts", ctx_name).get("context") or {}
        cluster = find("clusters", ctx["cluster"]).get("cluster") or {}
        user = {}
        if ctx.get("user"):
            user = find("users", ctx["user"]).get("user") or {}
        token = user.get("token")
        if not token and user.get("tokenFile"):
            with open(rel(user["tokenFile"]), encoding="utf-8") as fh:
                token = fh.read().strip()
        return cls(
            cluster["server"],
            ca_file=rel(cluster.get("certificate-authority")),
            ca_data=_b64(cluster.get("certificate-authority-data")),
            cert_file=rel(user.get("client-certificate")),
            cert_data=_b64(user.get("client-certificate-data")),
            key_file=rel(user.get("client-key")),
            key_data=_b64(user.get("client-key-data")),
            token=token,
            insecure=bool(cluster.get("insecure-skip-tls-verify")),
            timeout=timeout,
            user_agent=user_agent,
        )

    # ------------------------------------------------------------- transport
    def _connect(self, timeout):
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                               context=self.ssl_context)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def _url(self, path, params):
        url = self.base_path + path
        if params:
            clean = {k: ("true" if v is True else "false" if v is False else v)
                     for k, v in params.items() if v is not None}
            if clean:
                url += ("&" if "?" in url else "?") + urllib.parse.urlencode(clean)
        return url

    def _headers(self, content_type=None, accept="application/json"):
        headers = {"Accept": accept, "User-Agent": self.user_agent}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    @staticmethod
    def _error(status, reason, data):
        body = None
        message = data.decode("utf-8", "replace").strip() if data else ""
        try:
            body = json.loads(data) if data else None
        except ValueError:
            body = None
        if isinstance(body, dict):
            message = body.get("message", message)
            reason = body.get("reason", reason) or reason
        return ApiError(status, reason, message, body)

    def request(self, method, path, body=None, params=None, content_type=None, raw=False,
                timeout=None):
        """Send one request; return the parsed JSON answer (or bytes when raw=True)."""
        payload = None
        if body is not None:
            if isinstance(body, (bytes, bytearray)):
                payload = bytes(body)
            elif isinstance(body, str):
                payload = body.encode()
            else:
                payload = json.dumps(body).encode()
            content_type = content_type or "application/json"
        kept = timeout is None or timeout == self.timeout
        for attempt in (0, 1):
            conn = getattr(self._local, "conn", None) if kept else None
            reused = conn is not None
            if conn is None:
                conn = self._connect(timeout or self.timeout)
            try:
                conn.request(method, self._url(path, params), body=payload,
                             headers=self._headers(content_type))
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
                conn.close()
                if kept:
                    self._local.conn = None
                if reused and attempt == 0 and isinstance(exc, _STALE):
                    continue  # the server (or a load balancer) closed the idle connection: once more, fresh
                raise ApiError(0, "ConnectionError", f"{method} {self.server}{path}: {exc}") from exc
            if kept and not resp.will_close:
                self._local.conn = conn
            else:
                conn.close()
                if kept:
                    self._local.conn = None
            break
        if resp.status >= 400:
            raise self._error(resp.status, resp.reason, data)
        if raw:
            return data
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return data.decode("utf-8", "replace")

    # ------------------------------------------------------------------ verbs
    def get(self, path, **params):
        return self.request("GET", path, params=params)

    def get_or_none(self, path, **params):
        try:
            return self.get(path, **params)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, path, label_selector=None, field_selector=None, **params):
        params = dict(params)
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        return self.request("GET", path, params=params)

    def create(self, path, obj, **params):
        return self.request("POST", path, body=obj, params=params)

    def update(self, path, obj, **params):
        return self.request("PUT", path, body=obj, params=params)

    def patch(self, path, patch, content_type=MERGE_PATCH, **params):
        return self.request("PATCH", path, body=patch, params=params, content_type=content_type)

    def delete(self, path, body=None, **params):
        return self.request("DELETE", path, body=body, params=params)

    def watch(self, path, resource_version=None, timeout_seconds=None, label_selector=None,
              field_selector=None, allow_bookmarks=False):
        """Yield watch events ({"type": ..., "object": ...}) until the server ends the stream.

        An ERROR event is yielded as it comes (e.g. 410 Gone: the caller re-lists).
        """
        params = {"watch": "true"}
        if resource_version:
            params["resourceVersion"] = resource_version
        if timeout_seconds:
            params["timeoutSeconds"] = int(timeout_seconds)
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        if allow_bookmarks:
            params["allowWatchBookmarks"] = "true"
        read_timeout = (timeout_seconds + 30) if timeout_seconds else None
        conn = self._connect(read_timeout or 3600)
        try:
            try:
                conn.request("GET", self._url(path, params), headers=self._headers())
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
                raise ApiError(0, "ConnectionError", f"WATCH {self.server}{path}: {exc}") from exc
            if resp.status >= 400:
                raise self._error(resp.status, resp.reason, resp.read())
            while True:
                try:
                    line = resp.readline()
                except (OSError, http.client.HTTPException, socket.timeout):
                    return
                if not line:
                    return
                line = line.strip()
                if not line:
                    continue
                try:
                    yield json.loads(line)
                except ValueError:
                    continue
        finally:
            conn.close()

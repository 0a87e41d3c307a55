"""etcd v3 client over etcd's JSON gRPC gateway (``/v3/...``), standard library only.

Works with etcd 3.4 (Debian 12) and 3.5/3.6 (Debian 13): both serve the gateway under ``/v3/``
(3.4 also under ``/v3beta``, which 3.5 dropped, so only ``/v3/`` is used).  Keys and values travel
base64-encoded; int64 fields come back as JSON strings.  TLS with client certificates, as kubeadm's
stacked etcd requires (``--client-cert-auth``).
"""

import base64
import http.client
import json

import socket
import ssl
import threading
import urllib.parse


class EtcdError(Exception):
    """etcd answered with an error, or no endpoint could be reached."""


class EtcdUnavailable(EtcdError):
    """No endpoint could be reached."""


def _b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def _unb64(text):
    return base64.b64decode(text or "")


def _f(d, name, default=None):
    """A field of a gateway answer: etcd 3.4/3.5 use proto names (mod_revision); a protojson
    gateway (newer etcd) may use lowerCamelCase JSON names (modRevision).  Accept both."""
    if name in d:
        return d[name]
    parts = name.split("_")
    camel = parts[0] + "".join(p.title() for p in parts[1:])
    return d.get(camel, default)


def prefix_end(prefix):
    """range_end that selects every key starting with ``prefix`` (clientv3.GetPrefixRangeEnd)."""
    if isinstance(prefix, str):
        prefix = prefix.encode()
    b = bytearray(prefix)
    for i in range(len(b) - 1, -1, -1):
        if b[i] < 0xFF:
            b[i] += 1
            return bytes(b[: i + 1])
    return b"\0"


class KV:
    """One key-value as etcd returns it."""

    __slots__ = ("key", "value", "create_revision", "mod_revision", "version")

    def __init__(self, raw):
        self.key = _unb64(raw.get("key")).decode()
        self.value = _unb64(raw.get("value"))
        self.create_revision = int(_f(raw, "create_revision", 0))
        self.mod_revision = int(_f(raw, "mod_revision", 0))
        self.version = int(raw.get("version", 0))

    def __repr__(self):
        return "KV(%r, mod_revision=%d)" % (self.key, self.mod_revision)


class Client:
    def __init__(self, endpoints, cafile=None, certfile=None, keyfile=None, timeout=5.0):
        if isinstance(endpoints, str):
            endpoints = [e for e in endpoints.split(",") if e]
        if not endpoints:
            raise ValueError("no etcd endpoints")
        self.endpoints = [urllib.parse.urlsplit(e) for e in endpoints]
        self.timeout = timeout
        self._ctx = None
        if any(e.scheme == "https" for e in self.endpoints):
            ctx = ssl.create_default_context(cafile=cafile)
            if certfile:
                ctx.load_cert_chain(certfile, keyfile)
            # Python 3.13 turns on VERIFY_X509_STRICT (requires e.g. Authority Key Identifier);
            # etcd's Go clients do not: be as lenient as Go's crypto/x509.
            ctx.verify_flags &= ~getattr(ssl, "VERIFY_X509_STRICT", 0)
            # etcd serving certificates made by kubeadm carry IP SANs; hostname check stays on.
            self._ctx = ctx
        self._local = threading.local()
        self._preferred = 0

    # -- transport ---------------------------------------------------------------------------
    def _connect(self, ep, timeout):
        port = ep.port or (2379)
        if ep.scheme == "https":
            return http.client.HTTPSConnection(ep.hostname, port, timeout=timeout, context=self._ctx)
        return http.client.HTTPConnection(ep.hostname, port, timeout=timeout)

    def _order(self):
        n = len(self.endpoints)
        start = self._preferred % n
        return [(start + i) % n for i in range(n)]

    def call(self, path, body):
        """POST ``body`` (dict) to ``/v3/<path>``; return the decoded answer."""
        data = json.dumps(body).encode()
        last = None
        conns = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        for idx in self._order():
            for attempt in (0, 1):
                conn = conns.get(idx)
                if conn is None:
                    conn = conns[idx] = self._connect(self.endpoints[idx], self.timeout)
                try:
                    conn.request("POST", "/v3/" + path, body=data,
                                 headers={"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    payload = resp.read()
                except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
                    last = exc
                    conn.close()
                    conns.pop(idx, None)
                    if attempt == 0 and isinstance(exc, (http.client.RemoteDisconnected,
                                                         BrokenPipeError, ConnectionResetError,
                                                         http.client.CannotSendRequest)):
                        continue  # stale keep-alive connection: retry once on a fresh one
                    break
                self._preferred = idx
                try:
                    answer = json.loads(payload or b"{}")
                except ValueError:
                    raise EtcdError("etcd: bad answer (%d): %r" % (resp.status, payload[:200]))
                if resp.status != 200:
                    msg = answer.get("message") or answer.get("error") or payload.decode(errors="replace")
                    raise EtcdError("etcd: %s" % msg)
                return answer
        raise EtcdUnavailable("etcd unreachable: %s" % last)

    # -- KV ----------------------------------------------------------------------------------
    def get(self, key):
        """Return (KV or None, header revision)."""
        ans = self.call("kv/range", {"key": _b64(key)})
        kvs = ans.get("kvs") or []
        return (KV(kvs[0]) if kvs else None), int(ans["header"].get("revision", 0))

    def range_prefix(self, prefix, limit=0, revision=0, keys_only=False, count_only=False):
        """Return ([KV], header revision) for every key under ``prefix``."""
        body = {"key": _b64(prefix), "range_end": _b64(prefix_end(prefix))}
        if limit:
            body["limit"] = limit
        if revision:
            body["revision"] = revision
        if keys_only:
            body["keys_only"] = True
        if count_only:
            body["count_only"] = True
        ans = self.call("kv/range", body)
        return [KV(k) for k in ans.get("kvs") or []], int(ans["header"].get("revision", 0))

    def count_prefix(self, prefix):
        ans = self.call("kv/range", {"key": _b64(prefix), "range_end": _b64(prefix_end(prefix)),
                                     "count_only": True})
        return int(ans.get("count", 0))

    def put(self, key, value):
        """Unconditional put; returns the new revision."""
        ans = self.call("kv/put", {"key": _b64(key), "value": _b64(value)})
        return int(ans["header"]["revision"])

    def delete(self, key):
        ans = self.call("kv/deleterange", {"key": _b64(key)})
        return int(ans.get("deleted", 0)), int(ans["header"]["revision"])

    def txn(self, compare, success, failure=()):
        return self.call("kv/txn", {"compare": list(compare), "success": list(success),
                                    "failure": list(failure)})

    def compact(self, revision):
        """Compact history up to ``revision`` (what kube-apiserver does every --etcd-compaction-interval)."""
        return self.call("kv/compaction", {"revision": str(revision)})

    def status(self):
        """Maintenance status of the preferred endpoint (used by readiness checks)."""
        return self.call("maintenance/status", {})

    # -- compare-and-swap helpers (what kube-apiserver's etcd3 store does) -------------------
    def create(self, key, value):
        """Put only if the key does not exist. Returns new revision, or None if it exists."""
        ans = self.txn(
            [{"key": _b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": "0"}],
            [{"request_put": {"key": _b64(key), "value": _b64(value)}}],
            [{"request_range": {"key": _b64(key)}}],
        )
        if ans.get("succeeded"):
            return int(ans["header"]["revision"])
        return None

    def update(self, key, value, mod_revision):
        """Put only if the key's mod_revision is still ``mod_revision``.

        Returns (True, new revision) or (False, current KV or None)."""
        ans = self.txn(
            [{"key": _b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": str(mod_revision)}],
            [{"request_put": {"key": _b64(key), "value": _b64(value)}}],
            [{"request_range": {"key": _b64(key)}}],
        )
        if ans.get("succeeded"):
            return True, int(ans["header"]["revision"])
        return False, self._txn_kv(ans)

    def delete_if(self, key, mod_revision):
        """Delete only if mod_revision matches. Returns (True, revision) or (False, current KV)."""
        ans = self.txn(
            [{"key": _b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": str(mod_revision)}],
            [{"request_delete_range": {"key": _b64(key), "prev_kv": True}}],
            [{"request_range": {"key": _b64(key)}}],
        )
        if ans.get("succeeded"):
            return True, int(ans["header"]["revision"])
        return False, self._txn_kv(ans)

    @staticmethod
    def _txn_kv(ans):
        for r in ans.get("responses") or []:
            rr = _f(r, "response_range")
            if rr is not None:
                kvs = rr.get("kvs") or []
                return KV(kvs[0]) if kvs else None
        return None

    # -- watch -------------------------------------------------------------------------------
    def watch(self, prefix, start_revision=0, timeout=None):
        """Return a Watch over every key under ``prefix`` from ``start_revision`` (inclusive)."""
        return Watch(self, prefix, start_revision, timeout)


class Watch:
    """A streaming watch on the gateway's ``/v3/watch``.

    Iterate to get lists of events: (type 'PUT'|'DELETE', KV, prev KV or None).  ``close()`` from
    another thread ends the iteration.  Raises EtcdError('compacted', revision) when the start
    revision was compacted away."""

    def __init__(self, client, prefix, start_revision, timeout):
        self.client = client
        self.closed = False
        body = {"create_request": {"key": _b64(prefix), "range_end": _b64(prefix_end(prefix)),
                                   "prev_kv": True}}
        if start_revision:
            body["create_request"]["start_revision"] = str(start_revision)
        last = None
        self.conn = None
        for idx in client._order():
            ep = client.endpoints[idx]
            try:
                conn = client._connect(ep, timeout)
                conn.request("POST", "/v3/watch", body=json.dumps(body).encode(),
                             headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                last = exc
                continue
            if resp.status != 200:
                raise EtcdError("etcd watch: HTTP %d %s" % (resp.status, resp.read()[:200]))
            self.conn, self.resp = conn, resp
            break
        if self.conn is None:
            raise EtcdUnavailable("etcd unreachable: %s" % last)

    def close(self):
        self.closed = True
        try:
            sock = self.conn.sock
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.conn.close()
        except OSError:
            pass

    def __iter__(self):
        dec = json.JSONDecoder()
        buf = ""
        while not self.closed:
            try:
                chunk = self.resp.read1(65536)
            except (OSError, ValueError, http.client.HTTPException, AttributeError):
                return
            if not chunk:
                return
            buf += chunk.decode()
            while True:
                buf = buf.lstrip()
                if not buf:
                    break
                try:
                    msg, end = dec.raw_decode(buf)
                except ValueError:
                    break
                buf = buf[end:]
                res = msg.get("result") or {}
                if "error" in msg:
                    raise EtcdError("etcd watch: %s" % msg["error"].get("message"))
                if int(_f(res, "compact_revision", 0) or 0):
                    err = EtcdError("compacted")
                    err.revision = int(_f(res, "compact_revision"))
                    raise err
                evs = []
                for ev in res.get("events") or []:
                    prev = _f(ev, "prev_kv")
                    evs.append((ev.get("type", "PUT"), KV(ev.get("kv") or {}),
                                KV(prev) if prev else None))
                if evs:
                    yield evs
                else:
                    yield []  # progress / creation notice: lets callers check timeouts


def _selftest():  # pragma: no cover - manual helper
    import sys
    c = Client(sys.argv[1], *sys.argv[2:5])
    print(c.put("/kf/a", "1"), c.get("/kf/a"), c.range_prefix("/kf/"))


if __name__ == "__main__":  # pragma: no cover
    _selftest()


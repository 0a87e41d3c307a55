"""kube-controller-manager's bootstrap-token controllers (pkg/controller/bootstrap), both off by
default and switched on by kubeadm's ``--controllers=*,bootstrapsigner,tokencleaner``:

- bootstrap signer (``bootstrap-signer-controller``, alias ``bootstrapsigner``): keeps one
  ``jws-kubeconfig-<token-id>`` detached JWS in ``kube-public/cluster-info`` per bootstrap token
  that is valid for signing (name ``bootstrap-token-<id>`` matching ``token-id``, not expired,
  ``usage-bootstrap-signing: "true"``); signatures of other tokens are removed; nothing is done
  while the ConfigMap or its ``kubeconfig`` key is missing (bootstrapsigner.go signConfigMap,
  util.go validateSecretForSigning).
- token cleaner (``token-cleaner-controller``, alias ``tokencleaner``): deletes expired
  ``bootstrap.kubernetes.io/token`` Secrets of kube-system, with a UID precondition
  (tokencleaner.go evalSecret). An unparseable expiration counts as expired (secretutil
  GetExpiration).
"""

import base64
import datetime
import hashlib
import hmac
import json
import logging
import re

from ..apiclient import ApiError, resource_path

log = logging.getLogger("kube-controller-manager")

JWS_PREFIX = "jws-kubeconfig-"
TOKEN_TYPE = "bootstrap.kubernetes.io/token"
TOKEN_NAMESPACE = "kube-system"
SECRET_PREFIX = "bootstrap-token-"
_TOKEN_ID = re.compile(r"^[a-z0-9]{6}$")


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def detached_jws(content, token_id, token_secret):
    """k8s.io/cluster-bootstrap/token/jws.ComputeDetachedSignature: HS256, key = token secret,
    protected header {"alg":"HS256","kid":<token id>} (go-jose marshals it with sorted keys),
    payload dropped from the compact serialization ("header..signature")."""
    header = json.dumps({"alg": "HS256", "kid": token_id}, separators=(",", ":"), sort_keys=True).encode()
    signing_input = _b64url(header) + "." + _b64url(content.encode() if isinstance(content, str) else content)
    sig = hmac.new(token_secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return _b64url(header) + ".." + _b64url(sig)


def secret_data(secret, key):
    """bootstrapsecretutil.GetData: the decoded value, "" when absent or undecodable."""
    value = (secret.get("data") or {}).get(key)
    if value is None:
        return ""
    try:
        return base64.b64decode(value).decode()
    except (ValueError, UnicodeDecodeError):
        return ""


def _parse_rfc3339(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def has_expired(secret, now=None):
    """bootstrapsecretutil.GetExpiration: no expiration = never; unparseable = expired."""
    text = secret_data(secret, "expiration")
    if not text:
        return False
    try:
        when = _parse_rfc3339(text)
    except ValueError:
        return True
    if when.tzinfo is None:
        return True  # time.RFC3339 requires a zone
    return when <= (now or datetime.datetime.now(datetime.timezone.utc))


def token_for_signing(secret, now=None):
    """util.go validateSecretForSigning: (token id, token secret) or None."""
    name = (secret.get("metadata") or {}).get("name") or ""
    if not name.startswith(SECRET_PREFIX) or not _TOKEN_ID.match(name[len(SECRET_PREFIX):]):
        return None
    tid = secret_data(secret, "token-id")
    if not tid or tid != name[len(SECRET_PREFIX):]:
        return None
    tsec = secret_data(secret, "token-secret")
    if not tsec:
        return None
    if has_expired(secret, now):
        return None
    if secret_data(secret, "usage-bootstrap-signing") != "true":
        return None
    return tid, tsec


def _token_secrets(client):
    path = resource_path("v1", "secrets", TOKEN_NAMESPACE)
    items = (client.list(path, field_selector="type=" + TOKEN_TYPE) or {}).get("items") or []
    return [s for s in items if s.get("type") == TOKEN_TYPE]


def sign_cluster_info(client, now=None):
    """One pass of the bootstrap signer; returns True when the ConfigMap was updated."""
    path = resource_path("v1", "configmaps", "kube-public", "cluster-info")
    cm = client.get_or_none(path)
    if cm is None:
        return False
    data = dict(cm.get("data") or {})
    content = data.get("kubeconfig")
    if content is None:
        return False
    old = {k[len(JWS_PREFIX):]: data.pop(k) for k in list(data) if k.startswith(JWS_PREFIX)}
    tokens = {}
    for secret in _token_secrets(client):
        valid = token_for_signing(secret, now)
        if valid and valid[0] not in tokens:
            tokens[valid[0]] = valid[1]
    new = {tid: detached_jws(content, tid, tsec) for tid, tsec in tokens.items()}
    if new == old:
        return False
    data.update({JWS_PREFIX + tid: sig for tid, sig in new.items()})
    cm["data"] = data
    try:
        client.update(path, cm)
    except ApiError as exc:
        if exc.status not in (404, 409):
            raise
        return False  # retried on the next pass, as the informer-driven signer would
    return True


def clean_tokens(client, now=None):
    """One pass of the token cleaner; returns the names of the Secrets it deleted."""
    deleted = []
    for secret in _token_secrets(client):
        if not has_expired(secret, now):
            continue
        meta = secret["metadata"]
        log.info('"Deleting expired secret" secret="%s/%s"', meta.get("namespace"), meta["name"])
        body = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if meta.get("uid"):
            body["preconditions"] = {"uid": meta["uid"]}
        try:
            client.delete(resource_path("v1", "secrets", meta.get("namespace") or TOKEN_NAMESPACE, meta["name"]), body)
        except ApiError as exc:
            if exc.status not in (404, 409):
                raise
            continue
        deleted.append(meta["name"])
    return deleted

"""Leader election through a coordination.k8s.io/v1 Lease, as client-go's leaderelection does.

The holder renews spec.renewTime; another candidate takes over only when
renewTime + leaseDurationSeconds is in the past. Updates carry the resourceVersion
read, so two candidates racing for the lease cannot both win (409 for the loser).
"""

import datetime
import socket
import uuid

from ..apiclient import ApiError, resource_path


def now_micro(now=None):
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text):
    if not text:
        return None
    text = text.replace("Z", "+00:00")
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        return None


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def default_identity():
    return f"{socket.gethostname()}_{uuid.uuid4()}"


class LeaderElector:
    def __init__(self, client, name, namespace="kube-system", identity=None,
                 lease_duration=15.0, log=None):
        self.client = client
        self.name = name
        self.namespace = namespace
        self.identity = identity or default_identity()
        self.lease_duration = lease_duration
        self.log = log or (lambda msg: None)
        self.is_leader = False
        self.path = resource_path("coordination.k8s.io/v1", "leases", namespace, name)
        self.collection = resource_path("coordination.k8s.io/v1", "leases", namespace)

    def try_acquire_or_renew(self, now=None):
        """One attempt; returns True when this candidate holds the lease afterwards."""
        now = now or utcnow()
        stamp = now_micro(now)
        try:
            lease = self.client.get_or_none(self.path)
        except ApiError as exc:
            self.log(f"error retrieving resource lock {self.namespace}/{self.name}: {exc.message}")
            return self._lost()
        if lease is None:
            body = {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": {"holderIdentity": self.identity,
                         "leaseDurationSeconds": int(self.lease_duration),
                         "acquireTime": stamp, "renewTime": stamp, "leaseTransitions": 0},
            }
            try:
                self.client.create(self.collection, body)
            except ApiError:
                return self._lost()
            return self._won()
        spec = lease.setdefault("spec", {})
        holder = spec.get("holderIdentity") or ""
        if holder and holder != self.identity:
            renew = parse_time(spec.get("renewTime") or spec.get("acquireTime"))
            duration = spec.get("leaseDurationSeconds") or self.lease_duration
            if renew is not None and (now - renew).total_seconds() < duration:
                return self._lost()
        if holder != self.identity:
            spec["acquireTime"] = stamp
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if holder else 0)
        spec["holderIdentity"] = self.identity
        spec["leaseDurationSeconds"] = int(self.lease_duration)
        spec["renewTime"] = stamp
        try:
            self.client.update(self.path, lease)
        except ApiError:
            return self._lost()
        return self._won()

    def _won(self):
        if not self.is_leader:
            self.log(f'successfully acquired lease {self.namespace}/{self.name}')
        self.is_leader = True
        return True

    def _lost(self):
        if self.is_leader:
            self.log(f"failed to renew lease {self.namespace}/{self.name}: lost leadership")
        self.is_leader = False
        return False

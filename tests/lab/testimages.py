"""Container images for the lab, built from Debian packages without any registry (issue 14).

No image can be pulled on our machines, so the images a cluster needs to run real pods are made here:
the packages' files (``apt-get download`` + ``dpkg-deb --fsys-tarfile``) become one gzip layer of an OCI
image layout, written as a tarball that ``ctr -n k8s.io images import`` reads (the ``io.containerd.image.name``
annotation names the image). Everything is deterministic (sorted entries, mtime 0, owner root), so the same
inputs give the same digests.

- pause: ``<kubernetes_image_repository>/pause:<tag>`` for every tag of ``kubernetes_pause_image_tags``; catatonit
  (static) run as ``catatonit -P`` (pause mode: sleeps, reaps zombies).
- nginx: ``docker.io/library/nginx:latest`` and the smoke test's ``docker.io/library/nginx:1.29-alpine``; Debian's
  nginx with its libraries and busybox-static, ``nginx -g 'daemon off;'`` on port 80 serving "Welcome to nginx!".
  (Debian 12's ``nginx-light`` is only a transitional package depending on ``nginx``.)
- busybox: ``docker.io/library/busybox:latest``; busybox-static with its applet links, ``sh``.

Cache (``.cache/test-images/``): ``<image>.oci.tar`` plus ``<image>.json`` holding the key it was built from
(this file's text, the image's spec and names, the candidate versions of its packages as the host's apt sees
them). A matching key means nothing is done; ``--force`` rebuilds. The debs stay in ``debs/``.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import posixpath
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
CACHE = ROOT / ".cache" / "test-images"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NGINX_LIBS = ["libc6", "libgcc-s1", "libcrypt1", "libpcre2-8-0", "libssl3", "zlib1g"]
# Left out of every layer: documentation and what a container never reads.
SKIP = ("usr/share/doc/", "usr/share/man/", "usr/share/info/", "usr/share/lintian/", "usr/share/locale/",
        "usr/lib/x86_64-linux-gnu/gconv/", "usr/share/bug/")
# Debian 12 packages still ship /bin, /lib, /lib64, /sbin: merged into /usr as on an installed system.
MERGED = ("bin", "sbin", "lib", "lib64")

NGINX_CONF = """\
user www-data;
worker_processes 1;
pid /run/nginx.pid;
error_log /dev/stderr;
events { worker_connections 64; }
http {
    types { text/html html; text/plain txt; }
    default_type application/octet-stream;
    access_log /dev/stdout;
    server {
        listen 80 default_server;
        root /usr/share/nginx/html;
        index index.html;
    }
}
"""
NGINX_PAGE = """\
<!DOCTYPE html>
<html><head><title>Welcome to nginx!</title></head>
<body><h1>Welcome to nginx!</h1><p>kubeforge lab test image (Debian nginx).</p></body></html>
"""
PASSWD = "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n" \
         "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
GROUP = "root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n"


def specs(image_repository: str, pause_tags: list[str]) -> dict[str, dict]:
    """What each image contains and runs."""
    etc = {"etc/passwd": PASSWD, "etc/group": GROUP}
    return {
        "pause": {
            "names": [f"{image_repository}/pause:{tag}" for tag in pause_tags],
            "packages": ["catatonit"],
            "files": {},
            "dirs": [],
            "config": {"Entrypoint": ["/usr/bin/catatonit", "-P"]},
        },
        "nginx": {
            "names": ["docker.io/library/nginx:latest", "docker.io/library/nginx:1.29-alpine"],
            "packages": ["nginx", *NGINX_LIBS, "busybox-static"],
            "busybox": True,
            "files": {**etc, "etc/nginx/nginx.conf": NGINX_CONF, "usr/share/nginx/html/index.html": NGINX_PAGE},
            "dirs": ["run", "tmp", "var/log/nginx", "var/lib/nginx", "var/www"],
            "config": {"Cmd": ["nginx", "-g", "daemon off;"], "ExposedPorts": {"80/tcp": {}},
                       "StopSignal": "SIGQUIT"},
        },
        "busybox": {
            "names": ["docker.io/library/busybox:latest"],
            "packages": ["busybox-static"],
            "busybox": True,
            "files": etc,
            "dirs": ["tmp", "root"],
            "config": {"Cmd": ["sh"]},
        },
    }


def product_names() -> tuple[str, list[str]]:
    """kubernetes_image_repository's default and the pause tags, from the kubernetes role (the product's pins)."""
    defaults = yaml.safe_load((ROOT / "roles/kubernetes/defaults/main.yml").read_text())
    pins = yaml.safe_load((ROOT / "roles/kubernetes/vars/main.yml").read_text())
    return defaults["kubernetes_image_repository"], sorted(set(pins["kubernetes_pause_image_tags"].values()))


def say(msg: str) -> None:
    print(f"[test-images] {msg}", flush=True)


def candidate_versions(packages: list[str]) -> dict[str, str]:
    out = subprocess.run(["apt-cache", "policy", *packages], text=True, capture_output=True, check=True).stdout
    versions, current = {}, None
    for line in out.splitlines():
        if line and not line[0].isspace():
            current = line.rstrip(":")
        elif current and line.strip().startswith("Candidate:"):
            versions[current] = line.split(":", 1)[1].strip()
    missing = [p for p in packages if versions.get(p) in (None, "(none)")]
    if missing:
        raise SystemExit(f"test-images: no candidate for {missing} in the host's apt lists (apt-get update?)")
    return versions


def deb_path(package: str, version: str) -> Path:
    return CACHE / "debs" / f"{package}_{version.replace(':', '%3a')}_amd64.deb"


def fetch(versions: dict[str, str]) -> None:
    wanted = [f"{p}={v}" for p, v in versions.items() if not deb_path(p, v).exists()]
    if wanted:
        say(f"apt-get download {' '.join(wanted)}")
        (CACHE / "debs").mkdir(parents=True, exist_ok=True)
        # the debs directory belongs to root: apt's _apt sandbox user cannot write it (harmless warning)
        subprocess.run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", *wanted],
                       cwd=CACHE / "debs", check=True, stdout=subprocess.DEVNULL)


def normalise(name: str) -> str | None:
    name = name[2:] if name.startswith("./") else name.lstrip("/")
    name = name.rstrip("/")
    if not name:
        return None
    top = name.split("/", 1)[0]
    if top in MERGED:
        name = "usr/" + name
    if any((name + "/").startswith(s) for s in SKIP):
        return None
    return name


class Layer:
    """Tar entries by path (a later package's entry replaces an earlier one), written sorted."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[tarfile.TarInfo, bytes | None]] = {}

    def add(self, info: tarfile.TarInfo, data: bytes | None = None) -> None:
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "root", "root"
        parts = info.name.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent not in self.entries:
                self.dir(parent)
        if info.isdir() and info.name in self.entries:
            return
        self.entries[info.name] = (info, data)

    def dir(self, name: str, mode: int = 0o755) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.mode = tarfile.DIRTYPE, mode
        self.add(info)

    def file(self, name: str, text: str | bytes, mode: int = 0o644) -> None:
        data = text.encode() if isinstance(text, str) else text
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), mode
        self.add(info, data)

    def symlink(self, name: str, target: str) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
        self.add(info)

    def add_deb(self, deb: Path) -> None:
        raw = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            for member in tar.getmembers():
                name = normalise(member.name)
                if name is None:
                    continue
                member.name = name
                if member.islnk():  # hard links inside a package: rename their target the same way
                    member.linkname = normalise(member.linkname) or member.linkname
                data = tar.extractfile(member).read() if member.isfile() else None
                self.add(member, data)

    def tar(self) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in sorted(self.entries):
                info, data = self.entries[name]
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
        return buf.getvalue()


def busybox_applets(deb: Path) -> list[str]:
    """The applets busybox-static was built with (`busybox --list-full`), from the binary itself."""
    raw = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        binary = tar.extractfile("./bin/busybox").read()
    tmp = CACHE / "busybox.tmp"
    tmp.write_bytes(binary)
    tmp.chmod(0o755)
    try:
        out = subprocess.run([str(tmp), "--list-full"], text=True, capture_output=True, check=True).stdout
    finally:
        tmp.unlink()
    return [a.strip() for a in out.splitlines() if a.strip()]


def build_layer(spec: dict, versions: dict[str, str]) -> bytes:
    layer = Layer()
    for top in MERGED:
        layer.symlink(top, f"usr/{top}")
    for package in spec["packages"]:
        layer.add_deb(deb_path(package, versions[package]))
    if spec.get("busybox"):
        for applet in busybox_applets(deb_path("busybox-static", versions["busybox-static"])):
            name = normalise(applet)
            if name and "/" in name and name not in layer.entries:  # not /linuxrc
                layer.symlink(name, posixpath.relpath("usr/bin/busybox", posixpath.dirname(name)))
    for d in spec["dirs"]:
        layer.dir(d, 0o1777 if d == "tmp" else 0o755)
    for name, text in spec["files"].items():
        layer.file(name, text)
    return layer.tar()


def blob(blobs: dict[str, bytes], data: bytes) -> dict:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return {"digest": digest, "size": len(data)}


def oci_archive(spec: dict, layer_tar: bytes) -> tuple[bytes, str]:
    """An OCI image layout as one tar; returns it and the manifest digest."""
    blobs: dict[str, bytes] = {}
    layer_gz = gzip.compress(layer_tar, compresslevel=6, mtime=0)
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **blob(blobs, layer_gz)}
    config = {
        "created": "1970-01-01T00:00:00Z", "architecture": "amd64", "os": "linux",
        "config": {"Env": [PATH_ENV], "WorkingDir": "/", **spec["config"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer_tar).hexdigest()]},
        "history": [{"created": "1970-01-01T00:00:00Z",
                     "created_by": "tests/lab/build-test-images: " + " ".join(spec["packages"])}],
    }
    cfg = {"mediaType": "application/vnd.oci.image.config.v1+json",
           **blob(blobs, json.dumps(config, sort_keys=True).encode())}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cfg, "layers": [layer]}
    man = blob(blobs, json.dumps(manifest, sort_keys=True).encode())
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", **man,
         "platform": {"architecture": "amd64", "os": "linux"},
         "annotations": {"io.containerd.image.name": name,
                         "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]}}
        for name in spec["names"]]}
    out = Layer()
    out.file("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}))
    out.file("index.json", json.dumps(index, sort_keys=True))
    for digest, data in sorted(blobs.items()):
        out.file(f"blobs/sha256/{digest.split(':')[1]}", data)
    return out.tar(), man["digest"]


def build(force: bool = False, image_repository: str | None = None) -> dict[str, dict]:
    """Build what is missing or stale; returns {image: {"path", "names", "digest", "key"}}."""
    repo_default, pause_tags = product_names()
    all_specs = specs(image_repository or repo_default, pause_tags)
    versions = candidate_versions(sorted({p for s in all_specs.values() for p in s["packages"]}))
    source = Path(__file__).read_text()
    CACHE.mkdir(parents=True, exist_ok=True)
    result = {}
    for image, spec in all_specs.items():
        key = hashlib.sha256(json.dumps([source, spec, {p: versions[p] for p in spec["packages"]}],
                                        sort_keys=True).encode()).hexdigest()[:16]
        path, meta_path = CACHE / f"{image}.oci.tar", CACHE / f"{image}.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        if not force and path.exists() and meta.get("key") == key:
            say(f"{image} is up to date ({key})")
        else:
            t0 = time.monotonic()
            fetch({p: versions[p] for p in spec["packages"]})
            archive, digest = oci_archive(spec, build_layer(spec, versions))
            path.write_bytes(archive)
            meta = {"key": key, "digest": digest, "names": spec["names"], "size": len(archive),
                    "packages": {p: versions[p] for p in spec["packages"]}}
            meta_path.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
            say(f"{image}: {path.relative_to(ROOT)} ({len(archive) // 1024} KiB, {digest[:19]}) "
                f"in {time.monotonic() - t0:.1f} s")
        result[image] = {"path": path, **meta}
    return result


def import_into(container: str, images: dict[str, dict]) -> float:
    """ctr -n k8s.io images import of every image inside a lab host (a running container); returns seconds."""
    t0 = time.monotonic()
    for info in images.values():
        with open(info["path"], "rb") as fh:
            subprocess.run(["docker", "exec", "-i", container, "ctr", "-n", "k8s.io", "images", "import", "-"], stdin=fh, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="build-test-images", description=__doc__.split("\n\n")[0])
    ap.add_argument("--force", action="store_true", help="rebuild even when the cache key matches")
    ap.add_argument("--image-repository", help="registry of the pause image (default: the kubernetes role's)")
    ap.add_argument("--import-into", nargs="+", metavar="CONTAINER", default=[],
                    help="then import the images into containerd's k8s.io namespace of these lab hosts")
    args = ap.parse_args(argv)
    images = build(args.force, args.image_repository)
    for container in args.import_into:
        say(f"imported into {container} in {import_into(container, images):.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

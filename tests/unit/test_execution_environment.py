# -*- coding: utf-8 -*-
"""The execution environment definitions (execution-environment.yml, meta/execution-environment.yml) are well formed.

ansible-builder cannot build images here (no registry), and it is not in the dev venv: these tests check what
ansible-builder v3 reads (its keys, the files it copies into the build context) and that the EE carries every
collection of requirements.yml and what the collection needs on the controller.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

import yaml

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The keys of ansible-builder's version 3 schema (ansible_builder/ee_schema.py).
TOP_LEVEL_KEYS = {"version", "build_arg_defaults", "dependencies", "images", "additional_build_files",
                  "additional_build_steps", "options"}
DEPENDENCY_KEYS = {"python", "system", "galaxy", "python_interpreter", "ansible_core", "ansible_runner", "exclude"}
BINDEP_LINE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+._-]*( \[[a-z0-9:! _-]+\])?$")


def _load(*parts):
    with open(os.path.join(COLLECTION_ROOT, *parts)) as handle:
        return yaml.safe_load(handle)


def _bindep_packages(relative):
    with open(os.path.join(COLLECTION_ROOT, relative)) as handle:
        lines = [line.split("#", 1)[0].strip() for line in handle]
    lines = [line for line in lines if line]
    for line in lines:
        assert BINDEP_LINE.match(line), "not a bindep line: %r" % line
    return lines


def test_root_definition_is_ansible_builder_v3():
    ee = _load("execution-environment.yml")
    assert ee["version"] == 3
    assert set(ee) <= TOP_LEVEL_KEYS, set(ee) - TOP_LEVEL_KEYS
    assert ee["images"]["base_image"]["name"]
    deps = ee["dependencies"]
    assert set(deps) <= DEPENDENCY_KEYS, set(deps) - DEPENDENCY_KEYS
    assert {"ansible_core", "ansible_runner", "galaxy", "system"} <= set(deps)
    assert deps["ansible_core"]["package_pip"].startswith("ansible-core")
    assert deps["ansible_runner"]["package_pip"].startswith("ansible-runner")
    assert os.path.isabs(deps["python_interpreter"]["python_path"])
    # files are relative to the definition (the repository root) and exist
    for key in ("galaxy", "system"):
        assert not os.path.isabs(deps[key]) and os.path.isfile(os.path.join(COLLECTION_ROOT, deps[key])), key


def test_every_collection_of_requirements_yml_is_in_the_ee():
    ee = _load("execution-environment.yml")
    galaxy = _load(ee["dependencies"]["galaxy"])
    required = {entry["name"] for entry in _load("requirements.yml")["collections"]}
    in_ee = {entry["name"] if isinstance(entry, dict) else entry for entry in galaxy["collections"]}
    assert required and required <= in_ee
    # and the collections galaxy.yml depends on
    assert set(_load("galaxy.yml")["dependencies"]) <= in_ee


def test_ee_ansible_core_matches_the_collection():
    ee = _load("execution-environment.yml")
    pin = ee["dependencies"]["ansible_core"]["package_pip"]
    lowest = re.search(r">=\s*([0-9.]+)", pin).group(1)
    required = re.search(r">=\s*([0-9.]+)", _load("meta", "runtime.yml")["requires_ansible"]).group(1)
    assert tuple(int(p) for p in lowest.split(".")) >= tuple(int(p) for p in required.split("."))


def test_collection_metadata_for_ansible_builder():
    """meta/execution-environment.yml: what ansible-builder's introspection reads from an installed collection."""
    meta = _load("meta", "execution-environment.yml")
    assert meta["version"] == 1  # the collection metadata format (the EE definition itself is version 3)
    assert set(meta) == {"version", "dependencies"}
    assert set(meta["dependencies"]) <= {"python", "system"}
    for relative in meta["dependencies"].values():
        assert not os.path.isabs(relative), "ansible-builder refuses absolute paths here"
        assert os.path.isfile(os.path.join(COLLECTION_ROOT, relative)), relative
    packages = _bindep_packages(meta["dependencies"]["system"])
    # ssh to the hosts, on both package families
    assert "openssh-clients [platform:rpm]" in packages and "openssh-client [platform:dpkg]" in packages
    # the root EE installs the same system packages (the collection comes from the project checkout there)
    assert _load("execution-environment.yml")["dependencies"]["system"] == meta["dependencies"]["system"]


def test_controller_side_python_needs_nothing_beyond_ansible_core():
    """No python entry in the metadata: the controller-side plugins import only the standard library and Ansible."""
    allowed = {"__future__", "ipaddress", "re", "ansible"}
    for name in sorted(os.listdir(os.path.join(COLLECTION_ROOT, "plugins", "filter"))):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(COLLECTION_ROOT, "plugins", "filter", name)) as handle:
            imports = re.findall(r"^(?:from|import) ([A-Za-z_][A-Za-z0-9_]*)", handle.read(), re.MULTILINE)
        assert set(imports) <= allowed, (name, set(imports) - allowed)
    assert "python" not in _load("meta", "execution-environment.yml")["dependencies"]

# -*- coding: utf-8 -*-
# Copyright: kubeforge maintainers
# Apache License 2.0 (see LICENSE)
"""TOML filter: containerd's configuration files rendered from data.

The logic lives in plugins/module_utils/toml_text.py (pure, unit tested); documentation in to_toml.yml.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.kubeforge.kubeadm.plugins.module_utils.toml_text import to_toml as _to_toml


def to_toml(data):
    """TOML text of a mapping (nested non-empty mappings become [a.b] tables)."""
    try:
        return _to_toml(data)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("to_toml: %s" % exc)


class FilterModule(object):
    """TOML filter of kubeforge.kubeadm."""

    def filters(self):
        return {"to_toml": to_toml}

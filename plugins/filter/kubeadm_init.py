# -*- coding: utf-8 -*-
# Copyright: kubeforge maintainers
# Apache License 2.0 (see LICENSE)
"""The kubeadm init phases an interrupted ``kubeadm init`` left undone (control_plane init_repair.yml).

The logic lives in plugins/module_utils/kubeadm.py (unit tested); documentation in kubeadm_init_unfinished.yml
beside this file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.kubeforge.kubeadm.plugins.module_utils.kubeadm import init_phases_unfinished


def kubeadm_init_unfinished(lines, skip_phases=None):
    """The kubeadm init phases whose objects are missing (each a list of words), skipped phases left out."""
    for name, value in (("the input", lines), ("skip_phases", skip_phases)):
        if value is not None and (isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple))):
            raise AnsibleFilterError("kubeadm_init_unfinished: %s must be a list, got %s" % (name, type(value).__name__))
    return init_phases_unfinished(lines, skip_phases or [])


class FilterModule(object):
    """kubeadm init filters of kubeforge.kubeadm."""

    def filters(self):
        return {"kubeadm_init_unfinished": kubeadm_init_unfinished}

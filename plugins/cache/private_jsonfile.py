# -*- coding: utf-8 -*-
# Copyright (c) kubeforge.kubeadm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: private_jsonfile
short_description: JSON fact cache readable by its owner only
version_added: "0.1.0"
author: kubeforge.kubeadm contributors (@kubeforge)
description:
  - The same per-host JSON files as C(ansible.builtin.jsonfile), but private to the user running Ansible.
  - Gathered facts hold the nodes' addresses, mounts, environment and package state; C(ansible.builtin.jsonfile)
    leaves its files group-readable and its directory as the umask makes it.
  - This plugin creates the cache directory with mode C(0700) (and tightens an existing directory it owns to
    C(0700)) and leaves every cache file with mode C(0600).
options:
  _uri:
    required: true
    description:
      - Directory the JSON files are written to. Created with mode C(0700) if missing.
    env:
      - name: ANSIBLE_CACHE_PLUGIN_CONNECTION
    ini:
      - key: fact_caching_connection
        section: defaults
    type: path
  _prefix:
    description:
      - Prefix for the names of the JSON files.
    env:
      - name: ANSIBLE_CACHE_PLUGIN_PREFIX
    ini:
      - key: fact_caching_prefix
        section: defaults
    type: string
  _timeout:
    default: 86400
    description:
      - Seconds a host's cached facts stay valid. V(0) means they never expire.
    env:
      - name: ANSIBLE_CACHE_PLUGIN_TIMEOUT
    ini:
      - key: fact_caching_timeout
        section: defaults
    type: integer
"""

import os
import stat

from ansible.errors import AnsibleError
from ansible.plugins.cache.jsonfile import CacheModule as JsonFileCacheModule

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


class CacheModule(JsonFileCacheModule):
    """ansible.builtin.jsonfile with a 0700 directory and 0600 files."""

    def validate_cache_connection(self):
        if not self._cache_dir:
            raise AnsibleError("the 'private_jsonfile' cache plugin requires the 'fact_caching_connection' "
                               "configuration option (a directory path)")
        try:
            # exist_ok: created with 0700 when missing (mode is applied under the umask, which only narrows it).
            os.makedirs(self._cache_dir, mode=PRIVATE_DIR_MODE, exist_ok=True)
            info = os.stat(self._cache_dir)
            if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) != PRIVATE_DIR_MODE:
                os.chmod(self._cache_dir, PRIVATE_DIR_MODE)
        except OSError as ex:
            raise AnsibleError(f"the 'private_jsonfile' cache plugin cannot create or secure its directory "
                               f"{self._cache_dir!r}: {ex}") from ex
        super().validate_cache_connection()

    def set(self, key, value):
        # The base class writes a 0600 temporary file, renames it and then widens it to 0640: narrow it again.
        super().set(key, value)
        cachefile = self._get_cache_file_name(key)
        try:
            os.chmod(cachefile, PRIVATE_FILE_MODE)
        except FileNotFoundError:
            pass

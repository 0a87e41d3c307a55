# kubeforge.kubeadm — developer entry points.
#   make lab        build a local lab (systemd containers + test stand-in cluster), run site.yml, then smoke_test.yml
#   make lab-down   remove everything `make lab` started
#   make test       every test layer (lint, sanity, units, validate, stand-in, Molecule); prints its total time
#   make bench      timings on the lab (docs/performance.md)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_FORCE_COLOR := 0
export PY_COLORS := 0
# pytest under make: no cache directory, skips count as failures (tests/pytest_noskip.py)
PYTEST := PYTHONPATH=$(CURDIR)/tests pytest -q -p no:cacheprovider -p pytest_noskip -rs

# lab shape: make lab CONTROL_PLANES=3 WORKERS=1 LOADBALANCERS=2 DISTRO=trixie
# make lab HA=1: the highly available topology in one variable (3 control planes, 1 worker, 2 load balancers,
# VIP .5 as the control-plane endpoint: tests/lab/labcore.py lab_ha_group_vars); the counts can still be overridden.
HA ?= 0
ifeq ($(HA),1)
CONTROL_PLANES ?= 3
WORKERS ?= 1
LOADBALANCERS ?= 2
endif
LAB_NAME ?= lab
CONTROL_PLANES ?= 1
WORKERS ?= 2
LOADBALANCERS ?= 0
DISTRO ?= bookworm

.PHONY: help venv lint sanity units validate kubesim-test lab-test lb-test molecule test lab lab-down bench clean

help:
	@echo "make lab | lab-down | test | bench | lint | sanity | units | validate | kubesim-test | lab-test | molecule"

venv:
	@tests/bin/venv

lint: venv
	@echo "==> yamllint"; yamllint -s .
	@echo "==> ansible-lint (production profile)"; ansible-lint
	@echo "==> changelog fragments"; antsibull-changelog lint
	@echo "==> ruff (test harness Python)"; ruff check tests/kubesim tests/lab tests/validate tests/loadbalancer tests/molecule tests/molecule_ha molecule bench

sanity: venv
	@echo "==> ansible-test sanity"; tests/bin/ansible-test sanity

units: venv
	@echo "==> unit tests (pytest)"; $(PYTEST) tests/unit
	@echo "==> ansible-test units"; tests/bin/ansible-test units

validate: venv
	@echo "==> validate-play tests (bad inputs, no host contacted)"; $(PYTEST) tests/validate

kubesim-test: venv
	@echo "==> stand-in cluster tests"; tests/lab/docker-engine ensure && tests/lab/build-images bookworm && tests/kubesim/build && $(PYTEST) tests/kubesim/tests

lb-test: venv
	@echo "==> load balancer tests (haproxy + keepalived on lab hosts)"; $(PYTEST) tests/loadbalancer

# Lab tests that watch the whole machine (its sysctls, its Docker images) run alone first. The others each bring up
# labs of their own (distinct names and subnets) and mostly wait on their hosts, so they run two files at a time
# (three saturate the 2-core CI machine: a 3 + 1 HA converge then stalled past its 30-minute limit).
# Longest file first, next file only when a worker is down to its last test: tests/lab/tests/conftest.py.
LAB_ALONE := tests/lab/tests/test_lab.py tests/lab/tests/test_sysctl_fresh.py tests/lab/tests/test_molecule.py
lab-test: venv
	@echo "==> lab harness tests (alone)"; $(PYTEST) $(LAB_ALONE)
	@echo "==> lab tests with labs of their own (2 files at a time)"; \
		$(PYTEST) -n 2 --dist loadfile --durations=25 --durations-min=60 $(addprefix --ignore=,$(LAB_ALONE)) tests/lab/tests

# Scenarios `make test` runs (every scenario; tests/bin/molecule-all takes a selection too).
MOLECULE_SCENARIOS ?= prereqs container_runtime check_mode default firewall debian13 ha upgrade
molecule: venv
	@echo "==> molecule scenarios: $(MOLECULE_SCENARIOS)"; tests/bin/molecule-all $(MOLECULE_SCENARIOS)

test: venv
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory lint sanity units validate kubesim-test lab-test lb-test molecule; \
	echo "make test: total $$(( $$(date +%s) - start )) s"

lab: venv
	@tests/lab/lab up --name $(LAB_NAME) --control-planes $(CONTROL_PLANES) --workers $(WORKERS) \
		--loadbalancers $(LOADBALANCERS) --distro $(DISTRO) --converge

lab-down: venv
	@tests/lab/lab down --name $(LAB_NAME)

bench: venv
	@bench/run

clean: lab-down
	rm -rf .cache/facts

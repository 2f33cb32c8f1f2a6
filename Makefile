# Minsheng (民声). `make up` runs everything; `make test` runs the tests. See README.md.
SHELL := /bin/bash
ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(ROOT):$(ROOT)/proto
export PYTHON := $(PY)
# `make up CLUSTER=3`: three Kafka brokers (KRaft, a controller quorum of three) and two
# replicas of every service; `make down` stops whichever runs (deploy/local, docs/scaling.md)
ifneq ($(CLUSTER),)
export MINSHENG_LOCAL_CLUSTER := $(CLUSTER)
endif
# The services `make up` starts use the secured Kafka listener, each as its own SCRAM
# principal held to its ACLs (docs/security.md), when the broker has one (SECURE_BUS unset:
# auto); SECURE_BUS=1 insists, SECURE_BUS=0 keeps them on the development PLAINTEXT listener.
# Only the services: tests, benchmarks, the demo loader and the simulator use PLAINTEXT.
SECURE_BUS ?= auto
# Everything started from here is a development platform (development keys, the SMS log
# instead of a gateway). A service started without MINSHENG_ENVIRONMENT runs as production.
export MINSHENG_ENVIRONMENT ?= development

.PHONY: help install infra up where down status services demo test test-unit test-integration \
        test-e2e lint proto proto-lint proto-check docs bench chaos token logs clean wipe

help:
	@echo "make up      install, start Kafka + PostgreSQL + all services, load a demo month"
	@echo "make test    install, start Kafka + PostgreSQL, run unit, integration and e2e tests"
	@echo "make down | status | logs | lint | proto | bench | demo | token ROLE=unit UNIT=yingzhou"
	@echo "make infra     start Kafka + PostgreSQL only;  make services  start what is not running"
	@echo "make where     print the addresses, demo accounts and tokens again"
	@echo "make test-unit | test-integration | chaos (the full fault suite) | docs | clean | wipe (delete .data)"
	@echo "one service:   .venv/bin/python deploy/local/services.py stop intake && make services"

# --- setting up -------------------------------------------------------------------------
$(VENV)/.installed: pyproject.toml
	@command -v java >/dev/null || { echo "Java 17+ is needed for Kafka (apt-get install openjdk-17-jre-headless)"; exit 1; }
	@command -v mvn >/dev/null || { echo "Maven is needed to fetch Kafka's jars (apt-get install maven)"; exit 1; }
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

# Front-end files the pages and /docs serve locally (no CDN at run time): backbone/web_assets.py
WEB_ASSETS := $(ROOT)/.data/tools/node_modules/echarts/dist/echarts.min.js
$(WEB_ASSETS):
	@command -v npm >/dev/null || { echo "npm is needed for the vendored front-end files (apt-get install npm)"; exit 1; }
	npm install --silent --no-audit --no-fund --prefix $(ROOT)/.data/tools echarts@6.1.0 swagger-ui-dist@5.35.0

install: $(VENV)/.installed $(WEB_ASSETS)

infra: install
	$(PY) -m backbone.auth dev-keys >/dev/null
	$(PY) deploy/local/infra.py up
	-$(PY) -m tools.bus_security provision  # SCRAM users + ACLs on the secured listener (19094)

# --- running ----------------------------------------------------------------------------
# The demo city's own places (the simulated estates), loaded as an operator loads a real city's
# landmarks: dispatch finds the county from an estate's name (MINSHENG_DISPATCH_PLACES_EXTRA).
DEMO_PLACES := $(ROOT)/.data/demo/places_extra.json
$(DEMO_PLACES): | install
	mkdir -p $(dir $@) && $(PY) -m tools.recognition simulator-landmarks > $@.tmp && mv $@.tmp $@

services: infra $(DEMO_PLACES)
	MINSHENG_DISPATCH_PLACES_EXTRA=$${MINSHENG_DISPATCH_PLACES_EXTRA:-$(DEMO_PLACES)} \
	  MINSHENG_LOCAL_SECURE_BUS=$(SECURE_BUS) $(PY) deploy/local/services.py start

up: services
	$(PY) -m tools.demo load
	@$(PY) -m tools.demo where

where: install
	@$(PY) -m tools.demo where

down:
	-$(PY) deploy/local/services.py stop
	-$(PY) deploy/local/infra.py down

status:
	@$(PY) deploy/local/infra.py status; $(PY) deploy/local/services.py status

logs:
	tail -n 20 -F .data/logs/*.log

demo: services
	$(PY) -m tools.simulator live --rate $${RATE:-5}

token: install
	@$(PY) -m backbone.auth mint --role $${ROLE:-dispatcher} --unit "$${UNIT:-}" --sub "$${SUB:-}"

# --- checking ---------------------------------------------------------------------------
# The unit tests (all CPU, no shared broker or database) run on several cores (pytest-xdist):
# one worker a core, at most 4 (each holds a few hundred MB); UNIT_WORKERS=0 for no workers (pytest's own process).
# The integration and e2e tests share Kafka and PostgreSQL, kill processes and time recoveries:
# they run one at a time, after the unit tests. `make test` fails if either part fails.
UNIT_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n < 4 ? n : 4 )))

test: infra
	@command -v chromium >/dev/null || echo "note: no chromium here: the browser journeys will be skipped (apt-get install chromium)"
	$(PY) -m pytest tests/unit -q -n $(UNIT_WORKERS); unit=$$?; \
	  $(PY) -m pytest tests/integration tests/e2e -q; rest=$$?; \
	  exit $$(( unit ? unit : rest ))

test-unit: install
	$(PY) -m pytest tests/unit -q -n $(UNIT_WORKERS)

test-integration: infra
	$(PY) -m pytest tests/integration -q

test-e2e: infra
	$(PY) -m pytest tests/e2e -q

lint: install proto-lint
	$(PY) -m ruff check backbone services tools tests deploy bench
	$(PY) -m mypy backbone services
	$(PY) deploy/k8s/generate.py --check
	$(PY) deploy/k8s/validate.py

BUF := $(ROOT)/.data/tools/node_modules/.bin/buf
$(BUF):
	@command -v npm >/dev/null || { echo "npm is needed for buf (apt-get install npm)"; exit 1; }
	npm install --silent --no-audit --no-fund --prefix $(ROOT)/.data/tools @bufbuild/buf@1.75.0

proto-lint: $(BUF)
	cd proto && $(BUF) lint

proto: install
	$(PY) tools/gen_proto.py
	$(PY) tools/event_catalogue.py

docs: install
	$(PY) tools/event_catalogue.py

proto-check: install
	$(PY) tools/gen_proto.py --check

bench: infra
	$(PY) -m bench.run

# The fault suite on a cluster of its own (3 brokers behind a TCP proxy, its own PostgreSQL, two
# replicas of every process, own ports and folders): report in docs/reliability.md.
# SHORT=1: six faults on the same platform; MODE=ci: the version `make test` runs
# (tests/e2e/test_chaos_short.py). Needs the machine to itself: not beside `make test`.
# Disk faults need root (ext4 loop disks). A run that was killed: `make chaos CLEANUP=1`.
chaos: install
	$(PY) -m tests.chaos.run $(if $(SHORT),--short) $(if $(MODE),--mode $(MODE)) \
		$(if $(CLEANUP),--cleanup) --report docs/reliability.md

clean:
	find . -name __pycache__ -prune -exec rm -rf {} +

wipe: down
	rm -rf .data

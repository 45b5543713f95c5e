# Entry points for developers and CI. `make test` is the README's test command.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: deps test test-web test-ffmpeg71 demo lint fmt clean deb bench bench-quick soak vm-deps vm-test screenshots

deps:
	bash .ci/deps.sh

# The dashboard's component tests (Vitest), then the Python suite, whose browser test
# drives the built dashboard in Chromium.
test: deps test-web
	$(PY) -m pytest $(PYTEST_ARGS)

test-web: deps
	cd web && npm test --silent

# The dashboard's pictures in docs/screenshots/, taken by its browser tests (~3 min);
# discovery.png comes from the discovery LAN's, which needs root (network namespaces).
screenshots: deps
	UCVD_SCREENSHOTS=$(CURDIR)/docs/screenshots $(PY) -m pytest \
		tests/integration/test_dashboard.py::test_an_operator_logs_in_watches_and_acts_live \
		tests/integration/test_discovery.py::test_the_dashboard_discovers_adds_and_starts_a_camera \
		$(PYTEST_ARGS)

# The relay's integration tests again, with Debian 13's FFmpeg 7.1 as the FFmpeg ucvd runs
# (the harness's cameras keep this machine's). The first run bootstraps a trixie root with
# ffmpeg (~2 min, cached in ~/.cache/ucvd/); see tests/harness/foreign_ffmpeg.py.
# (test_runner.py is not among them: its children are Python stand-ins, not FFmpeg.)
FFMPEG71_TESTS := tests/integration/test_relay.py tests/integration/test_daemon.py \
	tests/integration/test_rtsps.py tests/integration/test_srt.py \
	tests/integration/test_first_picture.py tests/integration/test_timestamps.py \
	tests/unit/test_ffmpeg_version.py
test-ffmpeg71: deps
	wrappers=$$($(PY) -m tests.harness.foreign_ffmpeg trixie) && \
	UCVD_TEST_FFMPEG=$$wrappers/ffmpeg UCVD_TEST_FFMPEG_RELEASE=7.1 \
		$(PY) -m pytest $(FFMPEG71_TESTS) $(PYTEST_ARGS)

demo: deps
	$(PY) -m tests.demo

lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	cd web && npm run --silent typecheck

# Benchmarks, not part of `make test`: figures go to tests/bench/results/.
# `make bench` is the full run (~30 min); `make bench-quick` or `make bench ARGS=--quick`
# the quick one (< 5 min); ARGS passes options, e.g. ARGS="--only scale --sizes 100".
ARGS ?=
bench: deps
	$(PY) -m tests.bench.suite $(ARGS)

bench-quick: deps
	$(PY) -m tests.bench.suite --quick $(ARGS)

# The chaos soak: 20 cameras for 10 minutes under a seeded fault schedule; exits 1
# on any violation; summary in tests/soak/results/. SOAK_ARGS="--seed 5 --minutes 30" etc.
# Its short variant (every fault once, 3 cameras) is part of `make test`.
SOAK_ARGS ?=
soak: deps
	$(PY) -m tests.soak.chaos --cameras 20 --minutes 10 $(SOAK_ARGS)

fmt: deps
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The Debian package, amd64, for this machine's distribution or DIST=bookworm|trixie|noble:
# dist/ucvd_<version>+<deb12|deb13|ubuntu24.04>_amd64.deb. See packaging/build-deb.sh.
DIST ?=
deb: deps
	bash packaging/build-deb.sh $(if $(DIST),--dist $(DIST))

# The boot test: the package installed with apt on a booted Debian under QEMU,
# checked from inside across a reboot. Root. Results in tests/vm/results/<dist>.{json,md}.
# DIST=bookworm or DIST=trixie for one; both unless DIST is given (whatever default DIST
# has for other targets).
VM_DISTS = $(if $(filter command line environment,$(origin DIST)),$(DIST),bookworm trixie)
vm-deps:
	bash .ci/vm-deps.sh

vm-test: deps vm-deps
	@rc=0; for dist in $(VM_DISTS); do $(PY) -m tests.vm.run --dist $$dist || rc=1; done; exit $$rc

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis web/node_modules web/dist

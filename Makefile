# Concord — every command a user or CI needs. `make demo` plays a full round on a local anvil chain;
# `make test` runs every test. Both install what they need from the repo's lockfiles first.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

FOUNDRY := $(CURDIR)/node_modules/@foundry-rs
# The native binaries, never the npm launcher script in node_modules/.bin: it always exits 0 and hides failures.
export PATH := $(FOUNDRY)/forge-linux-amd64/bin:$(FOUNDRY)/anvil-linux-amd64/bin:$(FOUNDRY)/cast-linux-amd64/bin:$(CURDIR)/target/release:$(PATH)
export FOUNDRY_DISABLE_NIGHTLY_WARNING := 1
CARGO ?= cargo
NODE_STAMP := node_modules/.concord-installed

.PHONY: test-halmos test-slither test-web test-crowdkit help deps release contracts test test-contracts test-rust lint gas-check bindings bindings-check \
        bench-gas bench demo coverage mutants clean

help:
	@echo "make demo        full labeling round on a local anvil chain (requester + 10 annotators)"
	@echo "make test        every test: forge (unit, fuzz, invariant), gas snapshot, bindings, cargo"
	@echo "make bench-gas   gas per accepted label vs a naive one-tx-per-label design"
	@echo "make bench       end-to-end throughput benchmark (writes target/bench/bench.json)"
	@echo "make coverage    forge coverage summary"
	@echo "make mutants     mutation check of the core contract"

# Install from the lockfile only when it changed since the last install (idempotent). Not `npm ci`: npm 11
# records only this platform's optional @foundry-rs/*-<os>-<arch> packages in the lock and then `npm ci`
# refuses the lock as out of sync; `npm install --no-save` installs the locked versions and never rewrites it.
$(NODE_STAMP): package.json package-lock.json
	npm install --no-audit --no-fund --no-save --loglevel=error
	@test -x $(FOUNDRY)/forge-linux-amd64/bin/forge || { echo "native forge missing after npm ci"; exit 1; }
	@touch $@

deps: $(NODE_STAMP)

contracts: deps
	forge build

test: test-contracts test-slither test-halmos bindings-check test-rust test-crowdkit test-web
	@echo "all tests passed"

# Browser end-to-end test of `concord-annotator serve`: Debian's Chromium (installed here if missing) driven
# by playwright-core from package-lock.json, against a real devnet. Screenshot in target/web/annotator.png.
CHROMIUM ?= /usr/bin/chromium
test-web: deps
	@test -x $(CHROMIUM) || { echo "installing Debian chromium for the browser test"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q chromium >/dev/null 2>&1 || { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q chromium >/dev/null; }; }
	$(CARGO) build --locked --bins
	CHROMIUM=$(CHROMIUM) node tests/web/annotator.e2e.mjs

# Python tools, each in its own venv from its pinned requirements: target/<tool>-venv from tests/<tool>/.
target/%-venv/.installed: tests/%/requirements.txt
	python3 -m venv target/$*-venv
	target/$*-venv/bin/pip install --quiet --disable-pip-version-check -r $<
	@touch $@

# Slither static analysis of the contracts (not tests, bench or scripts): any high or medium finding fails the
# run; lower ones are printed. Each suppressed finding is a `slither-disable-next-line` with its reason in the
# source, listed in SECURITY.md. Own out/cache folders: crytic-compile runs `forge clean` on the ones it uses.
SLITHER_VENV := target/slither-venv

test-slither: deps $(SLITHER_VENV)/.installed
	FOUNDRY_OUT=out-slither FOUNDRY_CACHE_PATH=cache-slither $(SLITHER_VENV)/bin/slither . \
	  --compile-force-framework foundry --filter-paths "contracts/test|contracts/bench|node_modules|script" \
	  --fail-medium

# Halmos symbolic checks (contracts/test/symbolic: packing, tally, consensus, payout arithmetic).
# A solver query that runs out of time is a failure (TIMEOUT), not a pass: the per-query limit is 10 minutes, not
# halmos' 60 s, because on a loaded 2-core machine one query of check_payoutWithinEscrowAndStake took longer than 60 s.
HALMOS_VENV := target/halmos-venv

test-halmos: deps $(HALMOS_VENV)/.installed
	FOUNDRY_PROFILE=halmos $(HALMOS_VENV)/bin/halmos --forge-build-out out-halmos --contract PackingSymbolicTest --loop 8 \
		--solver-timeout-assertion 10m

# Cross-check of majority vote and Dawid-Skene against crowd-kit (PyPI), pinned in tests/crowdkit.
CROWDKIT_VENV := target/crowdkit-venv

test-crowdkit: $(CROWDKIT_VENV)/.installed
	$(CARGO) build --locked -p concord-requester
	$(CROWDKIT_VENV)/bin/python tests/crowdkit/crosscheck.py target/debug/concord-requester target/crowdkit

test-contracts: deps
	forge test
	$(MAKE) gas-check

# Gas snapshot of the fixed-input gas tests; fails when a change moves gas (re-run `make gas-snapshot`).
gas-check: deps
	forge snapshot --match-contract GasTest --check

gas-snapshot: deps
	forge snapshot --match-contract GasTest

# The Rust bindings compile from committed ABI + bytecode (no node needed to build the crates);
# `bindings-check` fails when they differ from a fresh `forge build`.
bindings: contracts
	scripts/export-artifacts.sh write

bindings-check: contracts
	scripts/export-artifacts.sh check

test-rust: deps
	@# tests/tests/hosts.rs puts chain, requester and annotators in network namespaces: `ip` from Debian's iproute2.
	@command -v ip >/dev/null || { echo "installing Debian iproute2 for the multi-host test"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q iproute2 >/dev/null 2>&1 || { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q iproute2 >/dev/null; }; }
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	# The layering the README's layout table describes: crate stack, pure crates, no module cycle.
	python3 scripts/check-layers.py
	# The end-to-end tests run the real CLI binaries: build them first.
	$(CARGO) build --workspace --bins --locked
	$(CARGO) test --workspace --locked

# Release binaries of the CLIs (used by the demo and benchmarks).
release: deps
	$(CARGO) build --release --locked --bins

demo: release
	target/release/concord-devnet demo

# Gas per accepted label (every transaction counted, accepted labels from chain events, ~10% wrong labels),
# Concord vs a naive one-tx-per-label market, same anvil, same run; shapes 10x3 and 32x4.
# Every shape settled on-chain and optimistically (annotators for about 4 rounds), then the target shapes with twice
# the items and annotators staying for about 8 rounds (their approve, stake, first join and collect spread wider).
bench-gas: release
	target/release/concord-bench gas --out target/bench/gas.json
	target/release/concord-bench gas --shapes 32x4x8,32x4x1 --items 6144 --rounds 8 --out target/bench/gas-long.json

# Mutation check: one-line mutants of the v2 market, its settlement module and its libraries, each against the
# forge suite (>= 95 % must be killed; survivors are explained in the script).
mutants: deps
	python3 scripts/mutants.py

# End-to-end throughput (client vs cast loop vs raw flood, same run) and gas; JSON in target/bench/.
bench: release
	target/release/concord-bench gas --out target/bench/gas.json
	target/release/concord-bench throughput --sizes 1000,3000,10000,30000,100000,300000 --out target/bench/bench.json

coverage: deps
	forge coverage --report summary --ir-minimum

clean:
	rm -rf out cache target

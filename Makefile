# Berth's two commands: `make run` opens the app, `make test` proves it. Both install what is
# missing first (scripts/setup-debian), so a new Debian/Ubuntu machine needs nothing else.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := run

TOOLS := $(CURDIR)/target/tools
TAURI_DRIVER := $(TOOLS)/bin/tauri-driver
APP := target/debug/berth-app

# CI builds from scratch once: incremental artifacts would only cost time and disk there.
ifeq ($(CI),true)
export CARGO_INCREMENTAL := 0
endif
export CARGO_TERM_COLOR ?= never

.PHONY: run test setup setup-test npm ui build bindings check-bindings fmt-check clippy check-domain-crates \
        test-rust test-ui test-e2e doctor figures clean-e2e cross-check test-windows dist test-dist

## make run: install what is missing, build, and open Berth on the local engine.
run: setup build
	./$(APP)

## make test: the same setup, then every check CI runs.
test: setup-test
	@echo "== Backend.AI peer (starts in the background; the Rust tests wait for it)"
	scripts/backendai-peer start
	@echo "== rustfmt";        $(MAKE) --no-print-directory fmt-check
	@echo "== domain crates free of Tauri"; $(MAKE) --no-print-directory check-domain-crates
	@echo "== frontend";       $(MAKE) --no-print-directory ui test-ui
	@echo "== clippy";         $(MAKE) --no-print-directory clippy
	@echo "== cross-check: Windows and macOS compile, lint-clean"; $(MAKE) --no-print-directory cross-check
	@echo "== the Windows build's portable tests, under Wine"; $(MAKE) --no-print-directory test-windows
	@echo "== build";          $(MAKE) --no-print-directory build
	@echo "== rust tests (incl. the TypeScript binding drift check)"; $(MAKE) --no-print-directory test-rust
	@echo "== end to end";     $(MAKE) --no-print-directory test-e2e
	@echo "== the .deb: built, installed with apt, run, removed (the AppImage needs GitHub: not here)"
	APPIMAGE=0 PROFILE=debug scripts/dist
	PROFILE=debug tests/dist/install-deb
	scripts/backendai-peer stop

setup:
	scripts/setup-debian
	$(MAKE) --no-print-directory npm

setup-test:
	scripts/setup-debian --test
	$(MAKE) --no-print-directory npm $(TAURI_DRIVER)
	@command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest

npm: node_modules/.package-lock.json

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

$(TAURI_DRIVER):
	cargo install --locked tauri-driver --version '^2.0.4' --root $(TOOLS)

## The UI is embedded in the app binary, so it is built first.
ui: npm
	npm run build

build: ui
	cargo build

bindings:
	BERTH_UPDATE_BINDINGS=1 cargo test -p berth-app --lib typescript_bindings_are_up_to_date

check-bindings:
	cargo test -p berth-app --lib typescript_bindings_are_up_to_date

fmt-check:
	cargo fmt --all --check

## The domain crates must build and test without Tauri or WebKit.
check-domain-crates:
	@for crate in berth-core berth-forward berth-local berth-transfer berth-backendai berth-sync berth-cli; do \
	  if cargo tree -q -p $$crate -e normal,build | grep -iE '(^|[^a-z])(tauri|wry|webkit)'; then \
	    echo "$$crate depends on Tauri/WebKit (see above)"; exit 1; fi; done; \
	echo "berth-core, berth-forward, berth-local, berth-transfer, berth-backendai, berth-sync, berth-cli: no tauri, wry or webkit"

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

## The other two systems Berth ships for: every crate, the app and the CLI, tests included,
## type-checked and linted for them from here (scripts/cross-check installs its compilers).
cross-check:
	scripts/cross-check

## The portable tests as Windows programs under Wine (scripts/windows-tests says which); the
## CLI's cluster round trip among them needs the Backend.AI peer.
test-windows:
	scripts/backendai-peer wait
	scripts/windows-tests

test-rust:
	scripts/backendai-peer wait
	cargo nextest run --workspace --no-fail-fast

test-ui: npm
	npm run check
	npm run test:unit

test-e2e: build $(TAURI_DRIVER)
	rm -rf target/e2e-screenshots
	npm run test:e2e

doctor:
	cargo run -q -p berth-cli -- doctor

## Prints the foundation's figures (start-up, memory, rebuild time) as ratios to baselines.
figures: build
	scripts/measure-foundation

## make dist: the Linux packages users install instead of building: the .deb (app, `berth` CLI,
## berth-supervisor; apt brings bubblewrap, slirp4netns, WebKitGTK) and, where Tauri's AppImage
## tools can be had, the AppImage. PROFILE=release by default (scripts/dist says the rest).
dist: setup
	scripts/dist

## make test-dist: a debug .deb, installed here with apt and run: `berth doctor`, a real session,
## the window (tests/dist/install-deb); the package is removed again at the end.
test-dist: setup
	PROFILE=debug scripts/dist
	PROFILE=debug tests/dist/install-deb

# Thin wrapper over Meson. `make demo` and `make test` do all set-up on a
# fresh Debian machine (as root): they install missing packages first.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
RELEASE_BUILD ?= build-release
FUZZ_SECONDS ?= 10

.PHONY: all deps build build-asan build-fuzz build-release test test-fast test-unit test-asan test-e2e-asan test-e2e demo bench chaos fuzz fuzz-smoke clean

all: build

deps:
	@./scripts/deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) -Dwerror=true >/dev/null

build: deps $(BUILD)/build.ninja
	@ninja -C $(BUILD) >/dev/null || ninja -C $(BUILD)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false >/dev/null

build-asan: deps $(ASAN_BUILD)/build.ninja
	@ninja -C $(ASAN_BUILD) >/dev/null || ninja -C $(ASAN_BUILD)

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Dwerror=true \
	  -Db_sanitize=address,undefined -Db_lundef=false \
	  -Dc_args=-fsanitize=fuzzer-no-link >/dev/null

build-fuzz: deps $(FUZZ_BUILD)/build.ninja
	@ninja -C $(FUZZ_BUILD) >/dev/null || ninja -C $(FUZZ_BUILD)

# What a packager runs: release flags (-O3), no -Werror from us; the test
# run checks that it builds without a warning.
$(RELEASE_BUILD)/build.ninja:
	meson setup $(RELEASE_BUILD) -Dbuildtype=release >/dev/null

# (scripts/test.sh builds it and fails on any warning it prints)
build-release: deps $(RELEASE_BUILD)/build.ninja

# Everything: unit tests, end-to-end tests, unit tests again under
# ASan+UBSan, a short run of every fuzz target; one summary line at the end.
test: build build-asan build-fuzz build-release
	@./scripts/test.sh all

# The loop while working: checks, unit and e2e tests, no sanitizer or
# fuzz builds (about half of `make test`).
test-fast: build
	@./scripts/test.sh fast

test-unit: build
	@./scripts/test.sh unit

test-e2e: build
	@./scripts/test.sh e2e

test-asan: build-asan
	@./scripts/test.sh asan

test-e2e-asan: build build-asan
	@./scripts/test.sh e2e-asan

fuzz-smoke: build-fuzz
	@./scripts/test.sh fuzz

# Long fuzzing session of one target: make fuzz TARGET=spec FUZZ_SECONDS=600
fuzz: build-fuzz
	@./scripts/fuzz.sh $(or $(TARGET),all) $(FUZZ_SECONDS)

demo: build
	@./scripts/demo.sh

bench: build
	@./bench/run.sh

# The full chaos run: 30 kill -9 of serve and 5 of the proxy mid-rollout
# (make test runs 12 of serve); CHAOS_SEED=N reproduces a run.
chaos: build
	@SLIPWAY_BIN=$(BUILD)/slipway HELLO_BIN=$(BUILD)/hello ./tests/chaos/chaos.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(RELEASE_BUILD)

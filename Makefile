# duet — the commands a person types.  CMake does the building; this file only
# sequences it.  `make demo` and `make check` work on a fresh machine: both start
# by installing whatever is missing (scripts/install-deps.sh, idempotent).
#
#   make            build build/bin/duet (and duetd)
#   make demo       the main job on the embedded default
#   make check      every test: unit tests under ASan+UBSan, CLI and end-to-end tests
#   make fuzz       libFuzzer targets in build/fuzz/bin (clang)
#   make bench      the benchmarks in bench/, printing their figures
#   make install    binaries, library, headers, pkg-config file, man pages (PREFIX=/usr/local)

BUILD      ?= build
ASAN_BUILD ?= build/asan
FUZZ_BUILD ?= build/fuzz
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_GEN  := -G "Unix Makefiles"

.PHONY: all build deps demo check unit e2e fuzz fuzz-smoke bench install clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/Makefile:
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX) -DDUET_UNIT_TESTS=OFF

build: $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

$(ASAN_BUILD)/Makefile:
	cmake -S . -B $(ASAN_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DDUET_SANITIZE=ON

unit: $(ASAN_BUILD)/Makefile
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	   ctest --output-on-failure -j $(JOBS)

e2e: build
	cd $(BUILD) && ctest --output-on-failure -L e2e

check: deps
	$(MAKE) build
	$(MAKE) unit
	$(MAKE) e2e

demo: deps
	$(MAKE) build
	@bash scripts/demo.sh

$(FUZZ_BUILD)/Makefile:
	CC=clang cmake -S . -B $(FUZZ_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DDUET_FUZZ=ON -DDUET_UNIT_TESTS=OFF -DDUET_E2E_TESTS=OFF

fuzz: deps $(FUZZ_BUILD)/Makefile
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@echo "fuzz targets: $$(ls $(FUZZ_BUILD)/bin/fuzz_* 2>/dev/null | tr '\n' ' ')"

bench: build
	@bash scripts/bench.sh

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD)

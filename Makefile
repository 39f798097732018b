# Makefile - the commands a user types. CMake does the building; this file only picks the
# build directories, compilers and options, and installs missing Debian packages.
#
#   make demo       build build/ (gcc, RelWithDebInfo) and run build/examples/demo
#   make test       (a) build/asan: gcc, ASan+UBSan, every test
#                   (b) build/tsan: clang, TSan, the tests labelled "threaded"
#                   (c) build/release: gcc, Release (the optimised code bench/ measures: no
#                       sanitizers, the inline raw system calls), every test
#                   (d) build/clang: clang, warnings-as-errors build of everything, not a
#                       unity build (so an include missing from one file shows), not run
#                   stopping at the first failure; each test program runs in every cell of
#                   {epoll, io_uring, poll} x {concurrency_hint 0, 1} (tests/CMakeLists.txt)
#   make valgrind   build/valgrind: gcc, every test under valgrind memcheck (slow)
#   make bench      cio against libuv, Asio and hand-written epoll/io_uring loops (bench/)
#   make fuzz       build/fuzz: clang, libFuzzer + ASan+UBSan, each tests/fuzz/ target for
#                   FUZZ_TIME seconds (default 60); the suite runs them on generated inputs
#   make install PREFIX=/usr/local
#   make clean      remove build/ (every build tree)
#   make deps       check the Debian packages the build needs; install them when root
#
# Variables: PREFIX (install prefix, default /usr/local), JOBS (parallel build jobs,
# default: number of CPUs), CTEST_JOBS (parallel test programs, default 2), CMAKE_ARGS (extra
# cmake configure arguments for every tree, e.g. CMAKE_ARGS=-DCIO_WERROR=OFF).

SHELL := /bin/bash
.DEFAULT_GOAL := all

PREFIX ?= /usr/local
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_JOBS ?= 2
CMAKE_ARGS ?=

# Debian packages the build and the tests need.
DEPS := cmake gcc libc6-dev clang libclang-rt-dev pkg-config libcriterion-dev libpcre2-dev \
        liburing-dev libc-ares-dev netbase valgrind

# Ninja when installed, else CMake's default (Unix Makefiles). Only given to a new build tree:
# an existing tree keeps the generator it was made with.
GENERATOR := $(if $(shell command -v ninja 2>/dev/null),-G Ninja,)

# clang 14's TSan cannot start when the kernel randomises mmap with more than 28 bits; running
# with ASLR disabled avoids that. Used when this system allows it.
NO_ASLR := $(shell setarch -R true >/dev/null 2>&1 && echo setarch -R)

# $(call configure,<dir>,<compiler>,<build type>,<extra cmake args>): configure and build all.
# $(call configure,...,<target>) builds that target only.
define configure
	@mkdir -p $(1)
	cmake -S . -B $(1) $(if $(wildcard $(1)/CMakeCache.txt),,$(GENERATOR)) \
		-DCMAKE_C_COMPILER=$(2) -DCMAKE_BUILD_TYPE=$(3) $(4) $(CMAKE_ARGS)
	cmake --build $(1) --parallel $(JOBS) $(if $(5),--target $(5))
endef

.PHONY: all build demo test test-asan test-tsan test-release test-clang valgrind bench fuzz install \
	clean deps help

all: build

help:
	@sed -n '1,/^$$/s/^# \{0,1\}//p' $(firstword $(MAKEFILE_LIST))

# --- Build and run ---------------------------------------------------------------------------

build: deps
	$(call configure,build,gcc,RelWithDebInfo,)

demo: deps
	@test -f examples/demo.c || { \
		echo "make demo: examples/demo.c does not exist yet, so there is no demo to run." >&2; \
		exit 1; }
	$(call configure,build,gcc,RelWithDebInfo,,$(patsubst examples/%.c,example_%,$(wildcard examples/*.c)))
	./build/examples/demo

# --- Tests -----------------------------------------------------------------------------------

# Sub-makes run one after another and stop at the first failure, even under make -j.
test: deps
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory test-tsan
	$(MAKE) --no-print-directory test-release
	$(MAKE) --no-print-directory test-clang
	@echo "make test: all passed (asan, tsan, release, clang)"

test-asan:
	$(call configure,build/asan,gcc,Debug,-DCIO_SANITIZE=address)
	ctest --test-dir build/asan --output-on-failure -j$(CTEST_JOBS)

# Criterion aborts at start under TSan (both compilers) unless the test programs carry
# cmake/criterion_tsan_shim.c, which the CMake build links in; clang builds this tree so that
# clang's sanitizers are exercised too.
test-tsan:
	$(call configure,build/tsan,clang,Debug,-DCIO_SANITIZE=thread)
	$(NO_ASLR) ctest --test-dir build/tsan -L threaded --output-on-failure -j$(CTEST_JOBS)

# The code as it ships: optimised, no sanitizers, so the inline raw system calls
# (src/core/sys.h) that the sanitizer trees compile out are the ones tested. bench/run.sh
# builds in this tree too, without tests and -Werror: both are asked for again here, and
# ctest fails if it finds no tests.
test-release:
	$(call configure,build/release,gcc,Release,-DCIO_BUILD_TESTS=ON -DCIO_WERROR=ON)
	ctest --test-dir build/release --output-on-failure --no-tests=error -j$(CTEST_JOBS)

# Not a unity build: each library source compiles alone, so a missing include shows here.
test-clang:
	$(call configure,build/clang,clang,RelWithDebInfo,-DCIO_UNITY=OFF)

# --- Benchmarks ------------------------------------------------------------------------------

# Builds cio (Release) and the peers, measures them side by side, writes bench/RESULTS.md and
# bench/echo.png. bench/run.sh installs what it needs itself; see bench/README.md.
bench:
	bash bench/run.sh

# libFuzzer targets (tests/fuzz/*.c) with ASan+UBSan, each for FUZZ_TIME seconds, from the
# corpus in build/fuzz/corpus-<name> (kept between runs).
FUZZ_TIME ?= 60
fuzz: deps
	$(call configure,build/fuzz,clang,Debug,-DCIO_SANITIZE=address -DCIO_FUZZ=ON -DCIO_BUILD_TESTS=OFF -DCIO_BUILD_EXAMPLES=OFF)
	@for t in build/fuzz/*_fuzz; do \
		name=$$(basename $$t); mkdir -p build/fuzz/corpus-$$name; \
		echo "fuzz: $$name for $(FUZZ_TIME) s"; \
		$$t -max_total_time=$(FUZZ_TIME) -print_final_stats=1 build/fuzz/corpus-$$name || exit 1; \
	done

valgrind: deps
	$(call configure,build/valgrind,gcc,Debug,-DCIO_VALGRIND=ON)
	ctest --test-dir build/valgrind --output-on-failure -j$(CTEST_JOBS)

# --- Install and clean -----------------------------------------------------------------------

install: build
	cmake --install build --prefix "$(PREFIX)"

clean:
	rm -rf build

# --- Dependencies ----------------------------------------------------------------------------

# Fast when everything is present (one dpkg-query per package). When something is missing:
# installs it as root, otherwise prints the command to run and fails.
deps:
	@if ! command -v dpkg-query >/dev/null 2>&1; then \
		echo "make deps: not a Debian system; not checking packages ($(DEPS))" >&2; \
		exit 0; \
	fi; \
	missing=""; \
	for p in $(DEPS); do \
		dpkg-query -W -f='$${db:Status-Abbrev}' "$$p" 2>/dev/null | grep -q '^ii' \
			|| missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	cmd="apt-get update && apt-get install -y --no-install-recommends$$missing"; \
	if [ "$$(id -u)" -eq 0 ]; then \
		echo "make deps: installing$$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		eval "$$cmd"; \
	else \
		echo "make deps: missing packages:$$missing" >&2; \
		echo "Install them with:" >&2; \
		echo "  sudo sh -c '$$cmd'" >&2; \
		exit 1; \
	fi

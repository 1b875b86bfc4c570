# Thin wrapper over CMake presets. `make run` and `make test` install dependencies first, so
# both work on a fresh Debian 12 machine.
JOBS ?= $(shell nproc)
CONFIG ?= examples/config.yaml
CTEST_ARGS ?=

.PHONY: all build deps deps-build run test unit e2e asan debug release fuzz fuzz-run valgrind \
	bench bench-micro format format-check lint clean

all: build

deps:
	@scripts/deps.sh all
	@scripts/npm-deps.sh

deps-build:
	@scripts/deps.sh build

build/CMakeCache.txt:
	cmake --preset release >/dev/null

build: build/CMakeCache.txt
	cmake --build build -j $(JOBS)

run: deps-build build
	@scripts/run.sh $(CONFIG)

test: deps build
	cd build && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

unit: build
	cd build && ctest --output-on-failure -j $(JOBS) -L 'unit|fuzz'

e2e: deps build
	cd build && ctest --output-on-failure -j $(JOBS) -L e2e

# The whole suite (unit, fuzz replays, end-to-end) under ASan+UBSan with leak detection.
asan: deps
	cmake --preset asan >/dev/null
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

debug:
	cmake --preset debug >/dev/null
	cmake --build build-debug -j $(JOBS)

fuzz: deps
	cmake --preset fuzz >/dev/null
	cmake --build build-fuzz -j $(JOBS)

# Fuzz every target for FUZZ_SECONDS each (default 60).
fuzz-run: fuzz
	@scripts/fuzz.sh build-fuzz $${FUZZ_SECONDS:-60}

# The end-to-end suite with every sluice process under Valgrind memcheck (the mock runs bare;
# e2e/mock tests only the mock). Fails on any memcheck error or definite leak; "still reachable"
# is expected (workers park at exit, h2o keeps thread-local caches). One log per process in
# build/valgrind/. Pick files with VALGRIND_CTEST_ARGS, e.g. VALGRIND_CTEST_ARGS='-R streaming'.
VALGRIND_CTEST_ARGS ?= -E '^e2e/mock$$'
VALGRIND = valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite --show-leak-kinds=definite --num-callers=30 \
	--suppressions=$(CURDIR)/tests/valgrind.supp --log-file=$(CURDIR)/build/valgrind/%p.log

valgrind: deps build
	rm -rf build/valgrind && mkdir -p build/valgrind
	cd build && SL_TEST_WRAPPER="$(VALGRIND)" ctest --output-on-failure -j $(JOBS) -L e2e \
		$(VALGRIND_CTEST_ARGS)
	@scripts/valgrind-check.sh build/valgrind

bench: deps build
	@bench/run

bench-micro: deps build
	@bench/micro.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

lint: build
	@scripts/lint.sh

clean:
	rm -rf build build-debug build-asan build-fuzz

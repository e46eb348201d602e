# The README's two commands: `make demo` and `make test`. CMake does the
# real work; this file only sequences it.
BUILD_DIR    ?= build
TEST_DIR     ?= build-test
FUZZ_DIR     ?= build-fuzz
FUZZ_SECONDS ?= 20
JOBS         ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build test unit fuzz demo bench install clean

all: build

deps:
	./scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD_DIR) -j$(JOBS)

# The tested build is the sanitizer build with warnings as errors.
unit: deps
	cmake -S . -B $(TEST_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSP_SANITIZE=ON -DSP_WERROR=ON
	cmake --build $(TEST_DIR) -j$(JOBS)
	ctest --test-dir $(TEST_DIR) --output-on-failure -j$(JOBS)

fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) ./scripts/run-fuzzers.sh $(FUZZ_DIR)

test: unit fuzz

demo: build
	./scripts/demo.sh $(BUILD_DIR)

bench: build
	$(BUILD_DIR)/bench/proto_bench
	$(BUILD_DIR)/bench/ledger_bench

install: build
	cmake --install $(BUILD_DIR) $(if $(PREFIX),--prefix $(PREFIX))

clean:
	rm -rf $(BUILD_DIR) $(TEST_DIR) $(FUZZ_DIR)

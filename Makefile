# eqat: the two set-up commands of the README.
#   make run   installs Debian packages, builds, and quantizes the bundled model
#   make test  installs Debian packages, builds, and runs every test with ctest
#   make conformance  (optional) reads eqat's output with the Hugging Face libraries
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: deps configure build run test conformance clean

deps:
	bash scripts/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

run: build
	bash scripts/run-main-job.sh $(BUILD)

test: build
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure --timeout 900

# Reads eqat's compressed-tensors output with transformers + compressed-tensors,
# and compares eqat's forward with transformers' on tiny checkpoints of every
# architecture (results: tests/conformance/results/forward.txt). torch comes
# from PyPI (several GB, in build/venv-ct); not part of `make test`.
conformance: build
	bash tests/conformance/hf_forward_test.sh $(BUILD)/tests/eqat_forward_dump $(CURDIR) $(CURDIR)/$(BUILD) \
	  --record --eqat $(BUILD)/client/eqat
	bash tests/conformance/hf_conformance.sh $(BUILD)/client/eqat $(CURDIR) $(CURDIR)/$(BUILD)

clean:
	rm -rf $(BUILD)

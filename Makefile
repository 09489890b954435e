# eqat: the two set-up commands of the README.
#   make run   installs Debian packages, builds, and quantizes the bundled model
#   make test  installs Debian packages, builds, and runs every test with ctest
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: deps configure build run test clean

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

clean:
	rm -rf $(BUILD)

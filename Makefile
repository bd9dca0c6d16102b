# A thin front for CMake: `make` installs missing Debian packages and builds
# build/liboml.so; `make test` also lints the Lua code (luacheck) and runs the
# specs under LuaJIT.
# SANITIZE=1 builds with AddressSanitizer and UBSan (in build-sanitize/).

SANITIZE ?= 0
OML_CUDA ?= AUTO
DEPS := luajit libluajit-5.1-dev libopenblas-dev libturbojpeg0-dev libjpeg62-turbo-dev lua-cjson lua-busted lua-check cmake gcc curl dataset-fashion-mnist

ifeq ($(SANITIZE),1)
BUILD := build-sanitize
ASAN_LIB = $(shell gcc -print-file-name=libasan.so)
RUN_ENV = OML_LIBRARY=$(CURDIR)/$(BUILD)/liboml.so LD_PRELOAD=$(ASAN_LIB) \
          ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
SANITIZE_FLAG := ON
else
BUILD := build
RUN_ENV =
SANITIZE_FLAG := OFF
endif

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build test demo bench clean install

all: deps build

deps:
	@missing=$$(for p in $(DEPS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

build:
	cmake -S . -B $(BUILD) -DOML_CUDA=$(OML_CUDA) -DOML_SANITIZE=$(SANITIZE_FLAG) >/dev/null
	cmake --build $(BUILD) -j 2

test: all
	luacheck --no-color -q lua spec bench recipes zoo $(wildcard bin/oml)
	$(RUN_ENV) busted --lua=luajit

# The demo: converts Fashion-MNIST (Debian's dataset-fashion-mnist) and trains a small ViT on it.
demo: all
	luajit recipes/train_fashion_mnist.lua

# bench/gpu.lua needs a GPU: bench/gpu.sh runs it on the lent machine.
bench: all
	@for b in $(filter-out bench/gpu.lua,$(wildcard bench/*.lua)); do echo "== $$b"; luajit $$b || exit 1; done

# Called by `luarocks make` (see the rockspec): the library, the header the
# FFI reads, the Lua modules, and the zoo's registry (oml.zoo finds it in oml/zoo/).
install:
	mkdir -p "$(INST_LIBDIR)" "$(INST_LUADIR)/oml"
	cp $(BUILD)/liboml.so "$(INST_LIBDIR)/"
	cp -R lua/oml/. "$(INST_LUADIR)/oml/"
	cp engine/include/oml.h "$(INST_LUADIR)/oml/oml.h"
	cp -R zoo "$(INST_LUADIR)/oml/"

clean:
	rm -rf build build-sanitize

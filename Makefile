# scalekit-lua: every src/*.c goes into one Lua C module, scalekit/core.so.
# GNU make; every variable below can be overridden on the command line.

LUA_VERSION ?= 5.4

# Debian's names for each interpreter and its headers. LuaJIT speaks the 5.1
# ABI, so it shares the 5.1 install directories.
ifeq ($(LUA_VERSION),luajit)
LUA_ABI    := 5.1
LUA        ?= luajit
LUA_INCDIR ?= /usr/include/luajit-2.1
else
LUA_ABI    := $(LUA_VERSION)
LUA        ?= lua$(LUA_VERSION)
LUA_INCDIR ?= /usr/include/lua$(LUA_VERSION)
endif

# libcurl's flags from pkg-config; without pkg-config, plain -lcurl (the
# compiler finds Debian's multiarch curl/curl.h by itself). Evaluated once.
PKG_CONFIG  ?= pkg-config
CURL_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags libcurl 2>/dev/null)
CURL_LIBS   ?= $(or $(shell $(PKG_CONFIG) --libs libcurl 2>/dev/null),-lcurl)
CURL_CFLAGS := $(CURL_CFLAGS)
CURL_LIBS   := $(CURL_LIBS)

# LuaRocks (build.type = "make") passes the rock's own install dirs as INST_*;
# they win over the PREFIX-derived defaults.
PREFIX ?= /usr/local
LUADIR ?= $(or $(INST_LUADIR),$(PREFIX)/share/lua/$(LUA_ABI))
LIBDIR ?= $(or $(INST_LIBDIR),$(PREFIX)/lib/lua/$(LUA_ABI))

CC      ?= cc
CFLAGS  ?= -O2 -g
LDFLAGS ?=
# LuaRocks passes its own LIBFLAG; same meaning.
LIBFLAG ?= -shared

# liblua is deliberately not linked: the module resolves lua_* symbols from
# the host (interpreter, LuaJIT or nginx), and linking a second copy breaks that.
ALL_CFLAGS = $(CFLAGS) -fPIC -Wall -Wextra -std=gnu99 -I$(LUA_INCDIR) $(CURL_CFLAGS) $(CPPFLAGS)
LIBS       = $(CURL_LIBS) -lcrypto

# One build dir per Lua version, so builds for several versions coexist.
BUILD_DIR ?= build/$(LUA_VERSION)
SRCS      := $(wildcard src/*.c)
OBJS      := $(SRCS:src/%.c=$(BUILD_DIR)/%.o)
CORE_SO   := $(BUILD_DIR)/scalekit/core.so
LUA_SRCS  := $(wildcard lua/scalekit/*.lua)
ROCKSPEC  := scalekit-0.2.0-1.rockspec

# Holds the compile command line; rewritten (forcing a rebuild) only when it
# changes, e.g. other CFLAGS, or LuaRocks reusing BUILD_DIR for another Lua.
FLAGS_STAMP := $(BUILD_DIR)/.cflags

# Module search paths for running specs and examples from the work tree.
TEST_LUA_PATH  := lua/?.lua;lua/?/init.lua;./?.lua;;
TEST_LUA_CPATH := $(BUILD_DIR)/?.so;;

# /usr/bin/busted starts with `#!/usr/bin/env lua`, which is Lua 5.1 once
# busted is installed; run it through the chosen interpreter instead.
# --ignore-lua: .busted re-runs plain `busted` on lua5.4; here LUA decides.
BUSTED      ?= /usr/bin/busted --ignore-lua
BUSTED_ARGS ?=

# What `make test` needs on Debian 12. node comes separately (see deps).
DEB_PACKAGES := lua5.4 liblua5.4-dev libcurl4-openssl-dev libssl-dev lua-cjson \
                lua-busted lua-socket luarocks
# ... and what test-all and test-nginx need too. Not Debian's `luajit`: it
# conflicts with libluajit2-5.1-2, which nginx's Lua module needs; luajit2
# has /usr/bin/luajit as well.
ALL_DEB_PACKAGES := lua5.3 liblua5.3-dev lua5.1 liblua5.1-0-dev luajit2 libluajit2-5.1-dev \
                    nginx libnginx-mod-http-lua lua-resty-core chromium

# The Lua versions of test-all.
TEST_ALL_VERSIONS := 5.4 5.3 5.1 luajit

.PHONY: all deps deps-all test test-all test-nginx test-contract demo examples install uninstall \
        clean check-luarocks FORCE

all: $(CORE_SO)

$(CORE_SO): $(OBJS)
	$(if $(OBJS),,$(error no C sources in src/))
	@mkdir -p $(@D)
	$(CC) $(LIBFLAG) $(LDFLAGS) -o $@ $(OBJS) $(LIBS)

$(BUILD_DIR)/%.o: src/%.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

# Every object waits for this stamp, so a missing Lua is reported in one
# line before any compiler error.
$(FLAGS_STAMP): FORCE
	$(if $(wildcard $(LUA_INCDIR)/lua.h),,$(error no Lua $(LUA_VERSION) headers ($(LUA_INCDIR)/lua.h): \
	  run 'make deps-all' to install them, or set LUA_INCDIR))
	@mkdir -p $(@D)
	@printf '%s\n' '$(CC) $(ALL_CFLAGS)' | cmp -s - $@ || \
	  printf '%s\n' '$(CC) $(ALL_CFLAGS)' > $@

FORCE:

-include $(OBJS:.o=.d)

# Installs only what is missing, so it is a no-op (and needs no root) on a
# ready machine. node v20 may come from outside Debian: only fall back to
# Debian's nodejs when there is no node at all. apt-get update is run only if
# the first install attempt fails (e.g. empty package lists on a fresh box).
deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${db:Status-Abbrev}' $$p 2>/dev/null | grep -q '^ii' || missing="$$missing $$p"; \
	done; \
	command -v cc >/dev/null 2>&1 || missing="$$missing build-essential"; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -z "$$missing" ]; then echo "deps: all present"; exit 0; fi; \
	echo "deps: installing$$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get install -y --no-install-recommends $$missing || \
	  { apt-get update && apt-get install -y --no-install-recommends $$missing; }

deps-all:
	$(MAKE) deps DEB_PACKAGES='$(DEB_PACKAGES) $(ALL_DEB_PACKAGES)'

test: all
	LUA_PATH='$(TEST_LUA_PATH)' LUA_CPATH='$(TEST_LUA_CPATH)' \
	  $(LUA) $(BUSTED) --cpath='$(BUILD_DIR)/?.so' $(BUSTED_ARGS)

# The whole suite under each interpreter (LuaJIT uses the 5.1 module
# paths); goes on after a failure and names the versions that failed.
test-all:
	@failed=""; for v in $(TEST_ALL_VERSIONS); do \
	  echo "===== make test LUA_VERSION=$$v"; \
	  $(MAKE) --no-print-directory test LUA_VERSION=$$v || failed="$$failed $$v"; \
	done; \
	if [ -n "$$failed" ]; then echo "test-all: failed for$$failed"; exit 1; fi

# Integration specs in a real nginx (spec/nginx/, outside the _spec
# pattern): nginx loads the LuaJIT build, busted drives it from $(LUA).
test-nginx: all
	$(MAKE) --no-print-directory all LUA_VERSION=luajit
	LUA_PATH='$(TEST_LUA_PATH)' LUA_CPATH='$(TEST_LUA_CPATH)' \
	  $(LUA) $(BUSTED) --cpath='$(BUILD_DIR)/?.so' $(BUSTED_ARGS) spec/nginx/nginx_test.lua

# The SSO gate (examples/openresty/sso) in headless Chromium (Debian's
# chromium, driven by puppeteer-core pinned in spec/browser/package-lock.json)
# through real nginx against the fake identity provider. Its last line is
# "N passed, M failed".
.PHONY: test-browser
BROWSER_DEPS := spec/browser/node_modules/puppeteer-core/package.json

$(BROWSER_DEPS): spec/browser/package.json spec/browser/package-lock.json
	npm ci --prefix spec/browser --ignore-scripts --no-audit --no-fund
	@touch $@

test-browser: $(BROWSER_DEPS)
	$(MAKE) --no-print-directory all LUA_VERSION=luajit
	node spec/browser/run.js

# Contract specs (spec/contract/*_contract.lua, outside `make test`'s _spec
# pattern): every operation through Prism, the OpenAPI validator, pinned in
# spec/contract/package-lock.json. npm ci runs only when Prism is missing or
# the lock file changed; --ignore-scripts skips a telemetry postinstall.
PRISM_CLI := spec/contract/node_modules/@stoplight/prism-cli/dist/index.js

$(PRISM_CLI): spec/contract/package.json spec/contract/package-lock.json
	@command -v npm >/dev/null 2>&1 || \
	  { echo "test-contract: npm not found (Debian: apt-get install npm)" >&2; exit 1; }
	npm ci --prefix spec/contract --ignore-scripts --no-audit --no-fund
	@touch $@

test-contract: all $(PRISM_CLI)
	LUA_PATH='$(TEST_LUA_PATH)' LUA_CPATH='$(TEST_LUA_CPATH)' \
	  $(LUA) $(BUSTED) --cpath='$(BUILD_DIR)/?.so' --pattern=_contract $(BUSTED_ARGS) spec/contract

# ---- memory safety: ASan+UBSan, valgrind, libFuzzer (see fuzz/README.md) ----
.PHONY: deps-sanitizers test-asan test-valgrind fuzz-build fuzz fuzz-smoke

# gcc's ASan/UBSan runtimes, clang 14 with libFuzzer and its ASan runtime
# (libclang-rt-14-dev), valgrind: on top of what `make test` needs.
SAN_DEB_PACKAGES := libasan8 libubsan1 clang libclang-rt-14-dev valgrind

deps-sanitizers:
	$(MAKE) deps DEB_PACKAGES='$(DEB_PACKAGES) $(SAN_DEB_PACKAGES)'

# The module is instrumented, lua5.4 is not: the runtimes are preloaded into
# it (and so into the lua children some specs start); node, the fake server,
# is started without them through fuzz/node-no-preload. -z nodelete keeps
# core.so mapped after lua_close, so leak reports at exit name our code.
# ASAN_CC must be gcc-compatible: the runtimes preloaded are its libasan/ubsan.
ASAN_CC    ?= gcc
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer
ASAN_ENV = LD_PRELOAD="$$($(ASAN_CC) -print-file-name=libasan.so) $$($(ASAN_CC) -print-file-name=libubsan.so)" \
  ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1 \
  LSAN_OPTIONS=suppressions='$(CURDIR)/fuzz/lsan.supp' \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  REAL_NODE="$${NODE:-node}" NODE='$(CURDIR)/fuzz/node-no-preload'

test-asan: deps-sanitizers
	$(MAKE) all BUILD_DIR=build/asan CC=$(ASAN_CC) CFLAGS='$(ASAN_FLAGS) -g -O1' \
	  LDFLAGS='-fsanitize=address,undefined -Wl,-z,nodelete'
	$(ASAN_ENV) LUA_PATH='$(TEST_LUA_PATH)' LUA_CPATH='build/asan/?.so;;' \
	  $(LUA) $(BUSTED) --cpath='build/asan/?.so' $(BUSTED_ARGS)

# At the shipped optimisation level; only -z nodelete differs (see above).
VALGRIND ?= valgrind --leak-check=full --errors-for-leak-kinds=definite \
  --error-exitcode=99 --trace-children=no --num-callers=30 \
  --suppressions=fuzz/valgrind.supp

test-valgrind: deps-sanitizers
	$(MAKE) all BUILD_DIR=build/valgrind CFLAGS='-O2 -g' LDFLAGS='-Wl,-z,nodelete'
	LUA_PATH='$(TEST_LUA_PATH)' LUA_CPATH='build/valgrind/?.so;;' \
	  $(VALGRIND) $(LUA) $(BUSTED) --cpath='build/valgrind/?.so' $(BUSTED_ARGS)

# One libFuzzer binary per fuzz/fuzz_*.c, run FUZZ_SECONDS each on a work
# corpus in build/fuzz/corpus/<target> seeded from fuzz/corpus/<target>
# (which is only read). Crashes land in build/fuzz/artifacts/.
FUZZ_SECONDS ?= 60
FUZZ_FLAGS ?=
FUZZ_CC      ?= clang
FUZZ_TARGETS := $(patsubst fuzz/%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_OBJS    := $(SRCS:src/%.c=build/fuzz/obj/%.o)
FUZZ_CFLAGS  := -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=all -I/usr/include/lua5.4 -Isrc $(CURL_CFLAGS)

build/fuzz/obj/%.o: src/%.c $(wildcard src/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

# The whole core is linked in; liblua5.4 stands in for the host interpreter.
$(FUZZ_TARGETS:%=build/fuzz/%): build/fuzz/%: fuzz/%.c fuzz/fuzz.h $(FUZZ_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_OBJS) -llua5.4 $(LIBS)

fuzz-build: deps-sanitizers
	$(MAKE) $(FUZZ_TARGETS:%=build/fuzz/%)

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	  mkdir -p build/fuzz/corpus/$$t build/fuzz/artifacts; \
	  build/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 $(FUZZ_FLAGS) \
	    -artifact_prefix=build/fuzz/artifacts/$$t- \
	    $$(test -f fuzz/$$t.dict && echo -dict=fuzz/$$t.dict) \
	    build/fuzz/corpus/$$t fuzz/corpus/$$t > build/fuzz/$$t.log 2>&1 || \
	    { grep -m3 -E 'invariant failed|ERROR:|runtime error:' build/fuzz/$$t.log; \
	      tail -n 9 build/fuzz/$$t.log; echo "fuzz: $$t FAILED, see build/fuzz/$$t.log"; exit 1; }; \
	  grep -E '^#[0-9]+.*DONE|^stat::number_of_executed_units' build/fuzz/$$t.log; \
	done

# A fixed seed: CI replays the same exploration (plus every corpus file)
# for a given code base, so a red run is reproducible; `make fuzz` explores.
fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=10 FUZZ_FLAGS=-seed=1

# ---- benchmarks (bench/, writes BENCHMARKS.md; not part of `make test`) ----
.PHONY: deps-bench bench bench-smoke

# nginx serves the canned JSON (its Lua module only for the 20 ms endpoint);
# valgrind's callgrind makes the profile. The floor is a plain libcurl program.
# bench/sso_gate.sh: wrk, curl and the LuaJIT build for nginx.
BENCH_DEB_PACKAGES := nginx libnginx-mod-http-lua valgrind wrk curl libluajit2-5.1-dev lua-resty-core
BENCH_FLOOR := build/bench/floor
BENCH_ENV = LUA='$(LUA)' BENCH_CORE='$(CORE_SO)' BENCH_FLOOR='$(BENCH_FLOOR)'

deps-bench:
	$(MAKE) deps DEB_PACKAGES='$(DEB_PACKAGES) $(BENCH_DEB_PACKAGES)'

$(BENCH_FLOOR): bench/floor.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Wall -Wextra -std=gnu99 $(CURL_CFLAGS) -o $@ $< $(LIBS)

# BENCH_ROUNDS, BENCH_PROFILE=0 and friends: see bench/run.sh.
bench: deps-bench
	$(MAKE) all $(BENCH_FLOOR)
	$(BENCH_ENV) bash bench/run.sh

# Every workload with tiny counts, in seconds: that it runs, not how fast.
bench-smoke: deps-bench
	$(MAKE) all $(BENCH_FLOOR)
	$(BENCH_ENV) BENCH_SMOKE=1 bash bench/run.sh

# The fake server with the demo data (scripts/demo_data.lua), then
# examples/quickstart.lua (or DEMO=other/script.lua); `make examples` runs
# every examples/*.lua and fails if any fails. deps must finish before
# compiling, even under -j: hence the sub-make.
DEMO ?= examples/quickstart.lua
DEMO_ENV = LUA='$(LUA)' LUA_PATH='$(TEST_LUA_PATH)' LUA_CPATH='$(TEST_LUA_CPATH)'

demo: deps
	$(MAKE) all
	$(DEMO_ENV) bash scripts/demo.sh $(DEMO)

examples: deps
	$(MAKE) all
	$(DEMO_ENV) bash scripts/demo.sh --all

install: all
	$(if $(LUA_SRCS),,$(error no Lua modules in lua/scalekit/))
	install -d $(DESTDIR)$(LUADIR)/scalekit $(DESTDIR)$(LIBDIR)/scalekit
	install -m 644 $(LUA_SRCS) $(DESTDIR)$(LUADIR)/scalekit/
	install -m 755 $(CORE_SO) $(DESTDIR)$(LIBDIR)/scalekit/core.so

uninstall:
	rm -f $(addprefix $(DESTDIR)$(LUADIR)/scalekit/,$(notdir $(LUA_SRCS))) \
	  $(DESTDIR)$(LIBDIR)/scalekit/core.so
	rmdir $(DESTDIR)$(LUADIR)/scalekit $(DESTDIR)$(LIBDIR)/scalekit 2>/dev/null || true

# build/, and what `luarocks make` leaves in the work tree (it builds in place).
clean:
	rm -rf build scalekit
	rm -f src/*.o

# README's LuaRocks lines as written (offline `luarocks make`, then `luarocks
# test`: the suite against the installed rock), into a throwaway tree.
check-luarocks:
	bash scripts/check_luarocks.sh

# ---- generated from api/ by scripts/generate.lua (see api/README.md) ----
.PHONY: generate check-generated api-json

# The generator needs Lua 5.3+ and lua-cjson, nothing else.
GENERATE_LUA ?= lua5.4

generate:
	$(GENERATE_LUA) scripts/generate.lua

# CI: the committed output is what the documents and the overlay give.
check-generated:
	$(MAKE) --no-print-directory generate
	git diff --exit-code -- src/operations.c types README.md

# Once, when api/scalekit-openapi.yaml changes (needs python3-yaml, which a
# fresh CI box may lack: the JSON is committed and generate only reads it).
api-json:
	python3 -c 'import sys, json, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout, indent=2, sort_keys=True, ensure_ascii=False); print()' \
	  api/scalekit-openapi.yaml > api/scalekit-openapi.json

# ---- static checks: luacheck on the Lua, cppcheck on the C ----
.PHONY: lint

lint:
	@command -v luacheck >/dev/null 2>&1 && command -v cppcheck >/dev/null 2>&1 && \
	  command -v clang-format >/dev/null 2>&1 || \
	  $(MAKE) --no-print-directory deps DEB_PACKAGES='lua-check cppcheck clang-format'
	$(LUA) scripts/check_rockspec.lua $(ROCKSPEC)
	$(LUA) scripts/check_includes.lua src
	clang-format --dry-run --Werror src/*.c src/*.h fuzz/*.c fuzz/*.h bench/*.c
	luacheck --formatter plain lua spec bench fuzz examples
	cppcheck --enable=warning,style,performance --error-exitcode=1 -q \
	  --suppress=toomanyconfigs -I src -I $(LUA_INCDIR) src/*.c

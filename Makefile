# mod_socketio + siod: one plain Makefile.
#   make            build shared/ codecs, siod and mod_socketio.so (into build/)
#   make SAN=1      the same with AddressSanitizer + UBSan (into build-san/)
#   make test       set up what is missing, build, run unit + integration tests
#   make unit       layer check + unit tests    make fuzz   every fuzz target, bounded
#   make serve      private httpd + siod in the foreground (see README;
#                   ALLOW_EIO3=1 serves Socket.IO 2 clients too)
#   make run        the demo: chat app + demo site (conf/demo) on PORT
#   make cluster    the demo on two nodes behind a round-robin front (Redis)
#   make e2e        browser check of the demo (chromium; not in make test)
#   make bench      ours (mpm_event, mpm_worker) beside Node.js socket.io,
#                   about 18 min; QUICK=1 for small, short runs (not in make test)
#   make bench-cluster  broadcasts across two nodes joined by Redis, ours
#                   beside two Node.js socket.io nodes (the Redis adapter)
#   make bench-php  event -> PHP (HTTP callbacks, php-fpm) -> ack round
#                   trips beside the C bench application
#   make bench-restart  10,000 clients' recovery across a clean restart of
#                   siod, played by siobench (CLIENT=node: the official
#                   Node.js client; QUICK=1: 200 clients; not in make test)
#   make install    module via apxs, siod and its applications under PREFIX
#   make deb        Debian packages into DEB_OUT (default build/deb), lintian
#   make deb-test   make deb, then the packages' files run in a private httpd

CC       ?= cc
SAN      ?= 0
WERROR   ?= 1
APXS     ?= apxs
PORT     ?= 8080
FUZZ_SECONDS ?= 20

ifeq ($(SAN),1)
BUILD    ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
# The module's fault-injection points (tests only, never in a plain build).
MODFAULTS := -DSOCKETIO_FAULT_INJECTION
else
BUILD    ?= build
SANFLAGS :=
MODFAULTS :=
endif

WARN     := -Wall -Wextra -Wstrict-prototypes -Wwrite-strings -Wshadow -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN     += -Werror
endif
CFLAGS   ?= -O2 -g
# CPPFLAGS and LDFLAGS (empty here) carry a distribution's hardening flags
# (dpkg-buildflags in debian/rules).
ALLCFLAGS := $(CPPFLAGS) $(CFLAGS) $(WARN) $(SANFLAGS) -std=gnu11 -D_GNU_SOURCE -fPIC -Ishared
# link flags: the sanitizers' and the caller's (LDFLAGS)
LDSAN    := $(SANFLAGS) $(LDFLAGS)

# httpd module flags come from apxs and apr-1-config
APXS_INC  := $(shell $(APXS) -q INCLUDEDIR 2>/dev/null)
APR_FLAGS := $(shell apr-1-config --cflags --cppflags --includes 2>/dev/null) \
             $(shell apu-1-config --includes 2>/dev/null)
MODCFLAGS := $(ALLCFLAGS) $(MODFAULTS) -I$(APXS_INC) $(APR_FLAGS) -Wno-strict-prototypes
# Where `make install` puts siod, its applications and their header
# (DESTDIR prefixes them all; the Debian packages use PREFIX=/usr).
PREFIX     ?= /usr/local
INCLUDEDIR ?= $(PREFIX)/include
# An installed siod finds its applications in <its directory>/../lib/siod/apps
# (siod/app/siod_app_loader.c), so these two move together, with PREFIX.
SBINDIR     = $(PREFIX)/sbin
SIOD_APPDIR = $(PREFIX)/lib/siod/apps
# the siod a managed daemon runs when SocketIODaemonPath is not set: where
# `make install` puts it
SIOD_PATH ?= $(SBINDIR)/siod
MODCFLAGS += -DSOCKETIO_SIOD_PATH='"$(SIOD_PATH)"'

# siod's cluster layer speaks to Redis with hiredis (async, on libevent)
# and msgpack-c; its callback layer POSTs with libcurl. Debian's packages
# ship pkg-config files for all.
SIOD_PKGS := libevent json-c hiredis msgpack libcurl
SIOD_LIBS := $(shell pkg-config --libs $(SIOD_PKGS) 2>/dev/null) -lm
SIOD_INC  := $(shell pkg-config --cflags $(SIOD_PKGS) 2>/dev/null)

SHARED_SRC := $(wildcard shared/*.c)
# siod's layers, one folder each (docs/siod.md): core, guard, relay, engine,
# adapter, cluster, sio, app, callback, with siod_main.c and the built-in
# echo-engine on top.
# Files include another layer's public header as "layer/header.h" (-Isiod)
# and their own layer's headers by bare name.
SIOD_LAYERS := core guard relay engine adapter cluster sio app callback
SIOD_SRC   := $(wildcard siod/*.c $(SIOD_LAYERS:%=siod/%/*.c))
SIOD_HDR   := $(wildcard siod/*.h $(SIOD_LAYERS:%=siod/%/*.h))
# The application ABI, the headers applications include (installed):
# siod_app.h, and siod_app_observe.h for those that watch every namespace.
SIOD_APP_H := siod/sio/siod_app.h siod/sio/siod_app_observe.h
# The module is one folder per layer (mod_socketio.c on top, then http/,
# ws/, link/, core/); its sources are found per folder.
MOD_LAYERS := http ws link core
MOD_SRC    := $(wildcard mod_socketio/*.c $(MOD_LAYERS:%=mod_socketio/%/*.c))
MOD_HDR    := $(wildcard $(MOD_LAYERS:%=mod_socketio/%/*.h))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
# A tool is one file (tests/tools/NAME.c) or a folder of files making one
# program (tests/tools/NAME/*.c, as siobench).
TOOL_SRC   := $(wildcard tests/tools/*.c)
TOOL_DIRS  := $(sort $(patsubst tests/tools/%/,%,$(dir $(wildcard tests/tools/*/*.c))))
APP_SRC    := $(wildcard siod/apps/*.c)
TESTAPP_SRC := $(wildcard tests/apps/*.c)

SHARED_OBJ := $(SHARED_SRC:%.c=$(BUILD)/obj/%.o)
SIOD_OBJ   := $(SIOD_SRC:%.c=$(BUILD)/obj/%.o)
MOD_OBJ    := $(MOD_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_BIN   := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
TOOL_BIN   := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%) $(TOOL_DIRS:%=$(BUILD)/tools/%)
APP_SO     := $(APP_SRC:siod/apps/%.c=$(BUILD)/apps/%.so)
TESTAPP_SO := $(TESTAPP_SRC:tests/apps/%.c=$(BUILD)/apps/%.so)
# siod's own objects that its unit tests (tests/unit/test_siod_*.c) link;
# never siod_main.o, the tests have their own main.
SIOD_UNIT_OBJ := $(BUILD)/obj/siod/core/siod_hash.o $(BUILD)/obj/siod/core/siod_sid.o \
                 $(BUILD)/obj/siod/engine/siod_closed.o

.PHONY: all clean setup test unit layers integration fuzz serve run cluster e2e install conformance bench \
        bench-cluster bench-php bench-restart soak programs install-siod deb deb-test

all: $(BUILD)/libsio.a $(BUILD)/siod $(BUILD)/mod_socketio.so $(TOOL_BIN) $(APP_SO) \
     $(TESTAPP_SO)

$(BUILD)/obj/shared/%.o: shared/%.c $(wildcard shared/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -c -o $@ $<

$(BUILD)/obj/siod/%.o: siod/%.c $(SIOD_HDR) $(wildcard shared/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(SIOD_INC) -Isiod -c -o $@ $<

# A module file sees the headers of its own folder and of the layers below
# it only, so an include that runs upward fails to build.
MOD_INC_core := -Imod_socketio/core
MOD_INC_link := -Imod_socketio/link $(MOD_INC_core)
MOD_INC_ws   := -Imod_socketio/ws $(MOD_INC_link)
MOD_INC_http := -Imod_socketio/http $(MOD_INC_ws)
MOD_INC_mod_socketio := $(MOD_INC_http)

$(BUILD)/obj/mod_socketio/%.o: mod_socketio/%.c $(MOD_HDR) $(wildcard shared/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(MODCFLAGS) $(MOD_INC_$(firstword $(subst /, ,$*))) -c -o $@ $<

$(BUILD)/libsio.a: $(SHARED_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/siod: $(SIOD_OBJ) $(BUILD)/libsio.a
	$(CC) $(LDSAN) -o $@ $(SIOD_OBJ) $(BUILD)/libsio.a $(SIOD_LIBS) -ldl -rdynamic

# What is installed (make install, the Debian packages): no tools, no
# test applications.
programs: $(BUILD)/siod $(BUILD)/mod_socketio.so $(APP_SO)

# Applications siod loads (dlopen): they call back into siod, which exports
# its symbols (-rdynamic), so they link nothing of siod's.
$(BUILD)/apps/%.so: siod/apps/%.c $(SIOD_APP_H)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -Isiod/sio -shared -o $@ $<

# Test-only applications (tests/apps, used by the integration tests) build
# beside the shipped ones; make install leaves them out.
$(BUILD)/apps/%.so: tests/apps/%.c $(SIOD_APP_H)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -Isiod/sio -shared -o $@ $<

# The module links the codecs in; httpd provides APR and its own symbols.
$(BUILD)/mod_socketio.so: $(MOD_OBJ) $(SHARED_OBJ)
	$(CC) $(LDSAN) -shared -o $@ $(MOD_OBJ) $(SHARED_OBJ) -lz

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libsio.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -o $@ $< $(BUILD)/libsio.a

# Unit tests of siod's internals link the siod objects they exercise.
$(BUILD)/tests/test_siod_%: tests/unit/test_siod_%.c $(SIOD_UNIT_OBJ) $(BUILD)/libsio.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(SIOD_INC) -Isiod -o $@ $< $(SIOD_UNIT_OBJ) $(BUILD)/libsio.a

# Recovery's store is tested on its own, on the test's clock.
SIOD_STORE_UNIT_OBJ := $(addprefix $(BUILD)/obj/siod/, sio/siod_sio_store.o \
    core/siod_buf.o core/siod_hash.o)
$(BUILD)/tests/test_siod_store: tests/unit/test_siod_store.c \
                                $(SIOD_STORE_UNIT_OBJ) $(BUILD)/libsio.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(SIOD_INC) -Isiod -o $@ $< $(SIOD_STORE_UNIT_OBJ) \
	  $(BUILD)/libsio.a

# Recovery's state file, with the store it writes and reads.
SIOD_STATE_UNIT_OBJ := $(SIOD_STORE_UNIT_OBJ) \
    $(addprefix $(BUILD)/obj/siod/, sio/siod_sio_state.o core/siod_err.o)
$(BUILD)/tests/test_siod_state: tests/unit/test_siod_state.c \
                                $(SIOD_STATE_UNIT_OBJ) $(BUILD)/libsio.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(SIOD_INC) -Isiod -o $@ $< $(SIOD_STATE_UNIT_OBJ) \
	  $(BUILD)/libsio.a

# The Redis recovery store's bytes, pure.
SIOD_BLOB_UNIT_OBJ := $(addprefix $(BUILD)/obj/siod/, sio/siod_sio_store_blob.o \
    sio/siod_sio_store.o core/siod_buf.o core/siod_hash.o)
$(BUILD)/tests/test_siod_store_blob: tests/unit/test_siod_store_blob.c \
                                     $(SIOD_BLOB_UNIT_OBJ) $(BUILD)/libsio.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(SIOD_INC) -Isiod -o $@ $< $(SIOD_BLOB_UNIT_OBJ) \
	  $(BUILD)/libsio.a

# The Redis layer's unit test links its pure codecs and the connection's
# URL parser (the connection's object, with hiredis and libevent).
SIOD_CLUSTER_UNIT_OBJ := $(addprefix $(BUILD)/obj/siod/, cluster/siod_redis.o \
    cluster/siod_redis_cmd.o \
    cluster/siod_redis_ssub.o cluster/siod_cluster_decode.o \
    cluster/siod_cluster_encode.o cluster/siod_cluster_request.o \
    cluster/siod_cluster_shard.o core/siod_err.o core/siod_hash.o \
    core/siod_log.o)
$(BUILD)/tests/test_siod_cluster: tests/unit/test_siod_cluster.c \
                                  $(SIOD_CLUSTER_UNIT_OBJ) $(BUILD)/libsio.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(SIOD_INC) -Isiod -o $@ $< $(SIOD_CLUSTER_UNIT_OBJ) \
	  $(BUILD)/libsio.a $(SIOD_LIBS)

# The guard layer's unit tests link its objects (pure but for the clock
# and the directory read) and the core they use, with json-c.
SIOD_GUARD_UNIT_OBJ := $(patsubst siod/%.c,$(BUILD)/obj/siod/%.o,$(wildcard siod/guard/*.c)) \
    $(addprefix $(BUILD)/obj/siod/, core/siod_hash.o core/siod_err.o core/siod_log.o)
$(BUILD)/tests/test_siod_schema $(BUILD)/tests/test_siod_guard: $(BUILD)/tests/test_siod_%: \
    tests/unit/test_siod_%.c $(SIOD_GUARD_UNIT_OBJ) $(BUILD)/libsio.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(SIOD_INC) -Isiod -o $@ $< $(SIOD_GUARD_UNIT_OBJ) \
	  $(BUILD)/libsio.a $(SIOD_LIBS)

# The callback layer's unit test links its pure JSON file.
SIOD_CALLBACK_UNIT_OBJ := $(addprefix $(BUILD)/obj/siod/, \
    callback/siod_cb_json.o core/siod_err.o)
$(BUILD)/tests/test_siod_callback: tests/unit/test_siod_callback.c \
                                   $(SIOD_CALLBACK_UNIT_OBJ) $(BUILD)/libsio.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(SIOD_INC) -Isiod -o $@ $< $(SIOD_CALLBACK_UNIT_OBJ) \
	  $(BUILD)/libsio.a $(SIOD_LIBS)

$(BUILD)/tools/%: tests/tools/%.c $(BUILD)/libsio.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -o $@ $< $(BUILD)/libsio.a $(SIOD_LIBS)

# A folder tool: all its files in one compile, rebuilt when any changes.
define TOOL_DIR_RULE
$(BUILD)/tools/$(1): $(wildcard tests/tools/$(1)/*.c tests/tools/$(1)/*.h) $(BUILD)/libsio.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALLCFLAGS) -o $$@ $(wildcard tests/tools/$(1)/*.c) $(BUILD)/libsio.a $$(SIOD_LIBS)
endef
$(foreach d,$(TOOL_DIRS),$(eval $(call TOOL_DIR_RULE,$(d))))

# libFuzzer targets always build with clang + ASan/UBSan.
FUZZ_FLAGS := -g -O1 -Ishared -fsanitize=address,undefined
$(BUILD)/fuzz/%: tests/fuzz/%.c $(SHARED_SRC) $(wildcard shared/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(SHARED_SRC)

# fuzz_siod runs siod whole: every siod object but siod_main.c, built with
# clang for the fuzzer, and two applications linked in under their own
# module names (tests/apps/testkit.c, siod/apps/chat.c).
FUZZ_SIOD_SRC := $(filter-out siod/siod_main.c,$(SIOD_SRC))
FUZZ_SIOD_OBJ := $(FUZZ_SIOD_SRC:%.c=$(BUILD)/fuzz/obj/%.o) \
                 $(SHARED_SRC:%.c=$(BUILD)/fuzz/obj/%.o) \
                 $(BUILD)/fuzz/obj/app_testkit.o $(BUILD)/fuzz/obj/app_chat.o
$(BUILD)/fuzz/obj/%.o: %.c $(SIOD_HDR) $(wildcard shared/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -D_GNU_SOURCE $(SIOD_INC) \
	  -Isiod -c -o $@ $<
$(BUILD)/fuzz/obj/app_testkit.o: tests/apps/testkit.c $(SIOD_APP_H)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -Isiod/sio \
	  -Dsiod_app_module_v1=siod_fuzz_app_testkit -c -o $@ $<
$(BUILD)/fuzz/obj/app_chat.o: siod/apps/chat.c $(SIOD_APP_H)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -Isiod/sio \
	  -Dsiod_app_module_v1=siod_fuzz_app_chat -c -o $@ $<
$(BUILD)/fuzz/fuzz_siod: tests/fuzz/fuzz_siod.c $(FUZZ_SIOD_OBJ)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer -D_GNU_SOURCE $(SIOD_INC) -Isiod \
	  -o $@ $< $(FUZZ_SIOD_OBJ) $(SIOD_LIBS) -ldl

# fuzz_cluster runs siod's Redis wire codec alone (pure files, no loop).
FUZZ_CLUSTER_SRC := siod/cluster/siod_cluster_decode.c \
                    siod/cluster/siod_cluster_encode.c \
                    siod/cluster/siod_cluster_request.c \
                    siod/cluster/siod_cluster_shard.c siod/core/siod_err.c
$(BUILD)/fuzz/fuzz_cluster: tests/fuzz/fuzz_cluster.c $(FUZZ_CLUSTER_SRC) \
                            $(SHARED_SRC) $(SIOD_HDR) $(wildcard shared/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer -D_GNU_SOURCE $(SIOD_INC) -Isiod \
	  -o $@ $< $(FUZZ_CLUSTER_SRC) $(SHARED_SRC) $(SIOD_LIBS)

# fuzz_store_blob runs the Redis recovery store's bytes alone (a pure
# file, and the in-process store for the saved state's free).
FUZZ_BLOB_SRC := siod/sio/siod_sio_store_blob.c siod/sio/siod_sio_store.c \
                 siod/core/siod_buf.c siod/core/siod_hash.c
$(BUILD)/fuzz/fuzz_store_blob: tests/fuzz/fuzz_store_blob.c $(FUZZ_BLOB_SRC) \
                               $(SHARED_SRC) $(SIOD_HDR) $(wildcard shared/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer -D_GNU_SOURCE $(SIOD_INC) -Isiod \
	  -o $@ $< $(FUZZ_BLOB_SRC) $(SHARED_SRC) $(SIOD_LIBS)

# fuzz_schema runs the payload schemas alone (the guard layer's schema
# files and the core they use, with json-c).
FUZZ_SCHEMA_SRC := siod/guard/siod_schema_compile.c siod/guard/siod_schema_check.c \
                   siod/guard/siod_schema_dir.c siod/core/siod_err.c \
                   siod/core/siod_hash.c siod/core/siod_log.c
$(BUILD)/fuzz/fuzz_schema: tests/fuzz/fuzz_schema.c $(FUZZ_SCHEMA_SRC) \
                           $(SHARED_SRC) $(SIOD_HDR) $(wildcard shared/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer -D_GNU_SOURCE $(SIOD_INC) -Isiod \
	  -o $@ $< $(FUZZ_SCHEMA_SRC) $(SHARED_SRC) $(SIOD_LIBS)

# fuzz_callback runs the callback layer's JSON alone (a pure file).
FUZZ_CALLBACK_SRC := siod/callback/siod_cb_json.c siod/core/siod_err.c
$(BUILD)/fuzz/fuzz_callback: tests/fuzz/fuzz_callback.c $(FUZZ_CALLBACK_SRC) \
                             $(SHARED_SRC) $(SIOD_HDR) $(wildcard shared/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer -D_GNU_SOURCE $(SIOD_INC) -Isiod \
	  -o $@ $< $(FUZZ_CALLBACK_SRC) $(SHARED_SRC) $(SIOD_LIBS)

# fuzz_state runs recovery's state file reader alone, with the store it
# fills (pure but for the file it reads).
FUZZ_STATE_SRC := siod/sio/siod_sio_state.c siod/sio/siod_sio_store.c \
                  siod/core/siod_buf.c siod/core/siod_hash.c siod/core/siod_err.c
$(BUILD)/fuzz/fuzz_state: tests/fuzz/fuzz_state.c $(FUZZ_STATE_SRC) \
                          $(SHARED_SRC) $(SIOD_HDR) $(wildcard shared/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer -D_GNU_SOURCE $(SIOD_INC) -Isiod \
	  -o $@ $< $(FUZZ_STATE_SRC) $(SHARED_SRC) $(SIOD_LIBS)

setup:
	scripts/setup.sh

unit: layers $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

# The layout rules and docs/architecture.md against the tree (includes go
# down the layers, no file over 800 lines, every file and cited function
# where the document says), so a move or rename that leaves them behind
# fails make unit and make test. The shell scripts pass shellcheck's
# warnings (a comment inside a continued command, an assignment that never
# reaches the command it was meant for), each with the files it sources
# (scripts/bench-lib.sh) read along.
layers:
	@scripts/check-layers.sh
	@shellcheck -x -S warning .ci/run $$(git ls-files 'scripts/*.sh' 2>/dev/null || ls scripts/*.sh)

# New inputs go to $(BUILD)/fuzz/corpus-NAME; tests/fuzz/corpus/NAME (kept
# in the repository, minimized) seeds it. A crash fails the run (its log is
# $(BUILD)/fuzz/NAME.log, the input crash-* in the current directory).
fuzz: $(FUZZ_BIN)
	@set -e; for f in $(FUZZ_BIN); do n=$$(basename $$f); \
	  echo "== $$f ($(FUZZ_SECONDS)s)"; mkdir -p $(BUILD)/fuzz/corpus-$$n; \
	  seeds=; [ -d tests/fuzz/corpus/$$n ] && seeds=tests/fuzz/corpus/$$n; \
	  opts=; [ $$n = fuzz_siod ] && opts=-max_len=65536; \
	  if ! $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 $$opts \
	      $(BUILD)/fuzz/corpus-$$n $$seeds > $(BUILD)/fuzz/$$n.log 2>&1; then \
	    tail -n 40 $(BUILD)/fuzz/$$n.log; exit 1; fi; \
	  tail -n 3 $(BUILD)/fuzz/$$n.log; \
	done

# The README's test command: installs what is missing, builds, runs all.
test:
	scripts/setup.sh
	$(MAKE) all unit
	$(MAKE) integration

integration: all
	BUILD=$(abspath $(BUILD)) scripts/integration.sh

serve: all
	BUILD=$(abspath $(BUILD)) PORT=$(PORT) APP="$(APP)" PING_INTERVAL="$(PING_INTERVAL)" \
	PING_TIMEOUT="$(PING_TIMEOUT)" MAX_PAYLOAD="$(MAX_PAYLOAD)" \
	CLOSED_BYTES="$(CLOSED_BYTES)" RECOVERY="$(RECOVERY)" EVENT_RATE="$(EVENT_RATE)" EVENT_BURST="$(EVENT_BURST)" \
	HANDSHAKE_RATE="$(HANDSHAKE_RATE)" HANDSHAKE_BURST="$(HANDSHAKE_BURST)" \
	SCHEMAS="$(if $(SCHEMAS),$(abspath $(SCHEMAS)))" \
	CONNECT_TIMEOUT="$(CONNECT_TIMEOUT)" CORS="$(CORS)" MPM="$(MPM)" SAN=$(SAN) \
	ALLOW_EIO3="$(ALLOW_EIO3)" PIN_CHILDREN="$(PIN_CHILDREN)" REDIS="$(REDIS)" REDIS_MODE="$(REDIS_MODE)" REDIS_PREFIX="$(REDIS_PREFIX)" \
	NODE="$(NODE)" NODE_URL="$(NODE_URL)" NODE_TTL="$(NODE_TTL)" PEERS="$(PEERS)" \
	SIOD_ARGS="$(SIOD_ARGS)" HANDLERS="$(HANDLERS)" CALLBACKS="$(CALLBACKS)" \
	scripts/serve.sh

# The demo: siod's chat application, the pages of conf/demo (copied into
# the document root), the socket.io.js bundle setup.sh installs served at
# /socket.io/socket.io.js, and PHP through php-cgi; configuration and logs
# in $(BUILD)/demo (make serve uses $(BUILD)/serve). HANDLERS=php: the chat
# answered by conf/php/chat.php (HTTP callbacks), PHP through php-fpm.
# Ctrl-C stops it.
DEMO_CLIENT := tests/node_modules/socket.io-client/dist/socket.io.js
run:
	scripts/setup.sh
	$(MAKE) all
	BUILD=$(abspath $(BUILD)) RUNDIR=$(abspath $(BUILD))/demo PORT=$(PORT) \
	APP=$(or $(APP),chat) CGI=1 HANDLERS="$(HANDLERS)" \
	SITE_DIR=$(abspath conf/demo):$(abspath conf/php/public) \
	CLIENT_SCRIPT=$(abspath $(DEMO_CLIENT)) \
	MPM="$(MPM)" SAN=$(SAN) \
	READY_MSG="demo: open http://$(or $(BIND_ADDR),127.0.0.1):$(PORT)/ in two browser tabs" \
	scripts/serve.sh

# A cluster on one machine (scripts/cluster.sh, docs/cluster.md): a private
# redis-server, two nodes (httpd + siod, tags n1 and n2, on PORT+1 and
# PORT+2) serving what make run serves, and a front httpd on PORT
# balancing round-robin with no stickiness; LEARN=0 lists the peers
# instead of learning them through Redis. Ctrl-C stops everything.
cluster:
	scripts/setup.sh
	$(MAKE) all
	BUILD=$(abspath $(BUILD)) RUNDIR=$(abspath $(BUILD))/cluster PORT=$(PORT) \
	APP=$(or $(APP),chat) CGI=1 LEARN=$(or $(LEARN),1) REDIS_MODE="$(REDIS_MODE)" \
	NODE_TTL="$(NODE_TTL)" \
	SITE_DIR=$(abspath conf/demo) CLIENT_SCRIPT=$(abspath $(DEMO_CLIENT)) \
	MPM="$(MPM)" SAN=$(SAN) \
	READY_MSG="demo: open http://127.0.0.1:$(PORT)/ in two browser tabs: each request may reach either node" \
	scripts/cluster.sh

# Two headless chromium tabs chat through the demo (tests/e2e/demo.mjs);
# screenshot in $(BUILD)/e2e/demo.png. HANDLERS=php: the demo as `make run
# HANDLERS=php` serves it. Then the Socket.IO Admin UI
# (tests/e2e/admin-ui.mjs, make serve ADMIN_UI=1): $(BUILD)/e2e/admin-ui.png.
# Then WebSockets over HTTP/2 (tests/e2e/ws-h2.mjs: mod_http2 with
# H2WebSockets On; skipped under MPM=prefork, where mod_http2 is inactive).
e2e:
	scripts/setup.sh --browser
	$(MAKE) all
	BUILD=$(abspath $(BUILD)) MPM="$(MPM)" HANDLERS="$(HANDLERS)" node tests/e2e/demo.mjs
	BUILD=$(abspath $(BUILD)) MPM="$(MPM)" node tests/e2e/admin-ui.mjs
	BUILD=$(abspath $(BUILD)) MPM="$(MPM)" node tests/e2e/ws-h2.mjs

# Hold ladder, memory per client, broadcasts, acks, server CPU per ack and
# per delivery, open-loop ack latency, long-polling sessions and a polling
# crowd of our stack under mpm_event and mpm_worker and of the Node.js
# reference server, in one run
# with build/tools/siobench (scripts/bench.sh, docs/benchmarks.md): results
# in $(BUILD)/bench/<time>/, plots in docs/bench/. Variables such as QUICK=1,
# TARGETS or HOLD_STEPS pass through the environment.
bench: all
	BUILD=$(abspath $(BUILD)) scripts/bench.sh

# Broadcast deliveries per second across two nodes joined by a private
# redis-server, the Redis hop's latency and CPU per delivery, ours beside
# two Node.js socket.io nodes (scripts/bench-cluster.sh,
# docs/benchmarks.md); results in $(BUILD)/bench-cluster/<time>/.
bench-cluster: all
	BUILD=$(abspath $(BUILD)) scripts/bench-cluster.sh

# Acked events answered by PHP through HTTP callbacks (php-fpm) at fixed
# rates beside siod's C bench application (scripts/bench-php.sh,
# docs/benchmarks.md); results in $(BUILD)/bench-php/<time>/.
bench-php: all
	BUILD=$(abspath $(BUILD)) scripts/bench-php.sh

# The chaos test for CHAOS_SECONDS (300) instead of CI's short variant:
# clients with recovery through graceful restarts, recycled children and
# siod restarts, and with Redis through siod killed and Redis restarted
# (tests/integration/chaos.test.mjs); MPMS as for integration.
chaos: all
	CHAOS_SECONDS=$(or $(CHAOS_SECONDS),300) MPMS="$(or $(MPMS),event)" \
	TESTS=tests/integration/chaos.test.mjs BUILD=$(abspath $(BUILD)) scripts/integration.sh

# An hour of a held crowd with broadcasts, churn and polling sessions; RSS
# and descriptors of httpd and siod must stay flat (scripts/soak.sh,
# docs/soak.md). Not in CI; SOAK_SECONDS and SOAK_CLIENTS make it shorter.
soak: all
	BUILD=$(abspath $(BUILD)) scripts/soak.sh

# Clients' recovery across a clean restart of siod (scripts/bench-restart.sh,
# docs/benchmarks.md): 10,000 by default, QUICK=1 for 200; siobench plays
# them, CLIENT=node the official socket.io-client in Node.js.
bench-restart: all
	BUILD=$(abspath $(BUILD)) scripts/bench-restart.sh

install: programs install-siod
	$(APXS) -i -n socketio $(BUILD)/mod_socketio.so

# siod, its applications and their header, under DESTDIR.
install-siod: programs
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(SIOD_APPDIR) $(DESTDIR)$(INCLUDEDIR)
	install -m 0755 $(BUILD)/siod $(DESTDIR)$(SBINDIR)/siod
	install -m 0644 $(APP_SO) $(DESTDIR)$(SIOD_APPDIR)/
	install -m 0644 $(SIOD_APP_H) $(DESTDIR)$(INCLUDEDIR)/

# The Debian packages libapache2-mod-socketio and siod (debian/), built
# from a copy of the tree under DEB_OUT, checked with lintian; what the
# build needs is installed first when missing (docs/packaging.md).
DEB_OUT ?= build/deb
deb:
	DEB_OUT=$(abspath $(DEB_OUT)) scripts/deb.sh

# The packages' files, extracted into a scratch root, run in a private
# httpd (managed siod), with their configuration and maintainer scripts
# checked: scripts/deb-test.sh. Not in make test (it builds the packages).
deb-test: deb
	DEB_OUT=$(abspath $(DEB_OUT)) scripts/deb-test.sh

clean:
	rm -rf build build-san

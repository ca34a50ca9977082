# mod_socketio + siod: one plain Makefile.
#   make            build shared/ codecs, siod and mod_socketio.so (into build/)
#   make SAN=1      the same with AddressSanitizer + UBSan (into build-san/)
#   make test       set up what is missing, build, run unit + integration tests
#   make unit       unit tests only        make fuzz   every fuzz target, bounded
#   make serve      private httpd + siod in the foreground (see README)
#   make run        the demo (make serve with the demo app)

CC       ?= cc
SAN      ?= 0
WERROR   ?= 1
APXS     ?= apxs
PORT     ?= 8080
FUZZ_SECONDS ?= 20

ifeq ($(SAN),1)
BUILD    ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD    ?= build
SANFLAGS :=
endif

WARN     := -Wall -Wextra -Wstrict-prototypes -Wwrite-strings -Wshadow -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN     += -Werror
endif
CFLAGS   ?= -O2 -g
ALLCFLAGS := $(CFLAGS) $(WARN) $(SANFLAGS) -std=gnu11 -D_GNU_SOURCE -fPIC -Ishared
LDSAN    := $(SANFLAGS)

# httpd module flags come from apxs and apr-1-config
APXS_INC  := $(shell $(APXS) -q INCLUDEDIR 2>/dev/null)
APR_FLAGS := $(shell apr-1-config --cflags --cppflags --includes 2>/dev/null) \
             $(shell apu-1-config --includes 2>/dev/null)
MODCFLAGS := $(ALLCFLAGS) -I$(APXS_INC) $(APR_FLAGS) -Wno-strict-prototypes

SIOD_LIBS := $(shell pkg-config --libs libevent json-c 2>/dev/null) -lm
SIOD_INC  := $(shell pkg-config --cflags libevent json-c 2>/dev/null)

SHARED_SRC := $(wildcard shared/*.c)
SIOD_SRC   := $(wildcard siod/*.c)
MOD_SRC    := $(wildcard mod_socketio/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
TOOL_SRC   := $(wildcard tests/tools/*.c)

SHARED_OBJ := $(SHARED_SRC:%.c=$(BUILD)/obj/%.o)
SIOD_OBJ   := $(SIOD_SRC:%.c=$(BUILD)/obj/%.o)
MOD_OBJ    := $(MOD_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_BIN   := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
TOOL_BIN   := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)

.PHONY: all clean setup test unit integration fuzz serve run install conformance

all: $(BUILD)/libsio.a $(BUILD)/siod $(BUILD)/mod_socketio.so $(TOOL_BIN)

$(BUILD)/obj/shared/%.o: shared/%.c $(wildcard shared/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -c -o $@ $<

$(BUILD)/obj/siod/%.o: siod/%.c $(wildcard siod/*.h shared/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(SIOD_INC) -Isiod -c -o $@ $<

$(BUILD)/obj/mod_socketio/%.o: mod_socketio/%.c $(wildcard mod_socketio/*.h shared/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(MODCFLAGS) -Imod_socketio -c -o $@ $<

$(BUILD)/libsio.a: $(SHARED_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/siod: $(SIOD_OBJ) $(BUILD)/libsio.a
	$(CC) $(LDSAN) -o $@ $(SIOD_OBJ) $(BUILD)/libsio.a $(SIOD_LIBS) -ldl -rdynamic

# The module links the codecs in; httpd provides APR and its own symbols.
$(BUILD)/mod_socketio.so: $(MOD_OBJ) $(SHARED_OBJ)
	$(CC) $(LDSAN) -shared -o $@ $(MOD_OBJ) $(SHARED_OBJ)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libsio.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -o $@ $< $(BUILD)/libsio.a

$(BUILD)/tools/%: tests/tools/%.c $(BUILD)/libsio.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -o $@ $< $(BUILD)/libsio.a $(SIOD_LIBS)

# libFuzzer targets always build with clang + ASan/UBSan.
$(BUILD)/fuzz/%: tests/fuzz/%.c $(SHARED_SRC) $(wildcard shared/*.h)
	@mkdir -p $(dir $@)
	clang -g -O1 -Ishared -fsanitize=fuzzer,address,undefined -o $@ $< $(SHARED_SRC)

setup:
	scripts/setup.sh

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

fuzz: $(FUZZ_BIN)
	@set -e; for f in $(FUZZ_BIN); do echo "== $$f ($(FUZZ_SECONDS)s)"; \
	  mkdir -p $(BUILD)/fuzz/corpus-$$(basename $$f); \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 $(BUILD)/fuzz/corpus-$$(basename $$f) 2>&1 | tail -n 3; done

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
	CONNECT_TIMEOUT="$(CONNECT_TIMEOUT)" CORS="$(CORS)" MPM="$(MPM)" SAN=$(SAN) \
	scripts/serve.sh

run:
	scripts/setup.sh
	$(MAKE) serve APP=$(or $(APP),demo)

install: all
	$(APXS) -i -n socketio $(BUILD)/mod_socketio.so
	install -m 0755 $(BUILD)/siod /usr/local/sbin/siod

clean:
	rm -rf build build-san

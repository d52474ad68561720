# moat: build of libmoat.a, libmoat.so, the moat command and the tests;
# make install and make uninstall (PREFIX, DESTDIR).
CC      ?= cc
CFLAGS  ?= -O2 -g
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude -Isrc -fno-strict-aliasing
# libidn2 (Debian: libidn2-dev): moat get's international host names.
IDN2_CFLAGS := $(shell pkg-config --cflags libidn2 2>/dev/null)
IDN2_LIBS   := $(shell pkg-config --libs libidn2 2>/dev/null || echo -lidn2)
override CFLAGS += $(IDN2_CFLAGS)
# jansson (Debian: libjansson-dev): the JSON of ACME (src/acme/).
JANSSON_CFLAGS := $(shell pkg-config --cflags jansson 2>/dev/null)
JANSSON_LIBS   := $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson)
override CFLAGS += $(JANSSON_CFLAGS)
# libnghttp2 (Debian: libnghttp2-dev): HTTP/2 framing, HPACK and flow
# control, driven through its callback API (no I/O of its own). 1.52 or
# later: Debian 12's carries the fixes for CVE-2023-44487 and
# CVE-2024-28182 (src/server/h2.c refuses older headers).
NGHTTP2_CFLAGS := $(shell pkg-config --cflags libnghttp2 2>/dev/null)
NGHTTP2_LIBS   := $(shell pkg-config --libs libnghttp2 2>/dev/null || echo -lnghttp2)
override CFLAGS += $(NGHTTP2_CFLAGS)
# zlib and libbrotli's decoder (Debian: zlib1g-dev, libbrotli-dev): the
# bodies of moat get --compressed.
ZBR_CFLAGS := $(shell pkg-config --cflags zlib libbrotlidec 2>/dev/null)
ZBR_LIBS   := $(shell pkg-config --libs zlib libbrotlidec 2>/dev/null || echo -lz -lbrotlidec)
override CFLAGS += $(ZBR_CFLAGS)
LDLIBS  = -lcrypto $(IDN2_LIBS) $(JANSSON_LIBS) $(NGHTTP2_LIBS) $(ZBR_LIBS)

# ML-KEM-768: libcrypto's when its headers have ML-KEM (OpenSSL 3.5 and
# later), moat's own (src/crypto/mlkem.c) otherwise; `moat version` says
# which. `make MLKEM=own` keeps ours (after `make clean`).
ifeq ($(origin MLKEM),undefined)
MLKEM := $(shell printf '\043include <openssl/core_names.h>\n\043ifndef OSSL_PKEY_PARAM_ML_KEM_SEED\n\043error none\n\043endif\n' | \
           $(CC) $(CFLAGS) -E -x c - >/dev/null 2>&1 && echo libcrypto || echo own)
endif
ifeq ($(MLKEM),libcrypto)
override CFLAGS += -DMOAT_MLKEM_LIBCRYPTO
endif

B       ?= build
SRC     := $(wildcard src/core/*.c src/crypto/*.c src/tls/*.c src/tlsfile/*.c src/http/*.c src/server/*.c \
                      src/client/*.c src/ca/*.c src/acme/*.c)
OBJ     := $(SRC:%.c=$(B)/%.o)
CLI_SRC := $(wildcard src/cli/*.c)
CLI_OBJ := $(CLI_SRC:%.c=$(B)/%.o)
# The commands without main(), for the unit tests that run them (test_ca).
CLI_LIB_OBJ := $(filter-out $(B)/src/cli/main.o,$(CLI_OBJ))
TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(B)/tests/%)
TEST_COMMON := $(filter-out $(TEST_SRC),$(wildcard tests/unit/*.c))
HDR     := $(wildcard include/moat/*.h src/*/*.h tests/unit/*.h)
PUB_HDR := $(wildcard include/moat/*.h)

# The version (src/cli/main.c) and the shared library's ABI number: the
# soname is libmoat.so.$(SOVERSION).
VERSION   := $(shell sed -n 's/^\#define MOAT_VERSION "\(.*\)"$$/\1/p' src/cli/main.c)
SOVERSION := 0

.PHONY: all run test unit asan clean bench fmt install uninstall deps
all: $(B)/moat $(B)/libmoat.so $(TEST_BIN) $(B)/tests/onebyte.so $(B)/bench/hold \
     $(B)/tests/ct_mlkem $(B)/tests/mlkem_tool $(B)/tests/tools/trickle $(B)/tests/tools/ppdump

# The library's objects are compiled once, position-independent, for both
# libmoat.a and libmoat.so (measured: 0.3% more of moat's own instructions
# in a handshake, none in the record layer). Hidden by default: only what
# include/moat/ declares (#pragma GCC visibility there) is exported.
$(OBJ): override CFLAGS += -fPIC -fvisibility=hidden -fno-semantic-interposition

$(B)/libmoat.a: $(OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

# The exported functions, from the declarations in include/moat/.
$(B)/libmoat.map: $(PUB_HDR) mk/exports.sh
	@mkdir -p $(@D)
	sh mk/exports.sh $(PUB_HDR) >$@.tmp && mv $@.tmp $@

$(B)/libmoat.so: $(OBJ) $(B)/libmoat.map
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -Wl,-soname,libmoat.so.$(SOVERSION) \
		-Wl,--version-script=$(B)/libmoat.map -o $@ $(OBJ) $(LDLIBS)

$(B)/moat: $(CLI_OBJ) $(B)/libmoat.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(B)/libmoat.a $(LDLIBS)

$(B)/%.o: %.c $(HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/libmoatcli.a: $(CLI_LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(B)/tests/%: tests/unit/%.c $(TEST_COMMON) $(B)/libmoatcli.a $(B)/libmoat.a $(HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(TEST_COMMON) $(B)/libmoatcli.a $(B)/libmoat.a $(LDLIBS)

# An LD_PRELOAD shim that cuts socket reads and writes to one byte
# (tests/interop/52-one-byte.sh).
$(B)/tests/onebyte.so: tests/shim/onebyte.c
	@mkdir -p $(@D)
	$(CC) -O2 -std=c11 -Wall -Wextra -Werror -fPIC -shared -o $@ $< -ldl

# ML-KEM tools of interop scripts: ct_mlkem (45-mlkem-ct: constant time
# under memcheck, a timing report) carries its own mlkem.o, built with
# MOAT_CT_VALGRIND; mlkem_tool (46-mlkem-noble: the moat side against
# @noble/post-quantum).
$(B)/tests/ct_mlkem: tests/tools/ct_mlkem.c src/crypto/mlkem.c $(B)/libmoat.a $(HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DMOAT_CT_VALGRIND -o $@ tests/tools/ct_mlkem.c src/crypto/mlkem.c \
		$(B)/libmoat.a $(LDLIBS) -lm

$(B)/tests/mlkem_tool: tests/tools/mlkem_tool.c $(B)/libmoat.a $(HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(B)/libmoat.a $(LDLIBS)

# Helpers the interop scripts run: small clients built on libmoat.
$(B)/tests/tools/%: tests/tools/%.c $(B)/libmoat.a $(HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(B)/libmoat.a $(LDLIBS)

# test_faults fails allocations in turn: moat's own through --wrap in this
# one program's link (libcrypto's through its own hook).
$(B)/tests/test_faults: private override CFLAGS += -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free

# The same code built with AddressSanitizer and UndefinedBehaviorSanitizer.
asan:
	$(MAKE) B=build/asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" LDFLAGS="-fsanitize=address,undefined" all

run: all
	./tests/make-run.sh

test:
	./tests/run.sh

# make deps: the file-level dependency graph of src/ (calls read from the
# objects, #include lines) and its layer and cycle rules (tests/deps.py;
# make test runs it as interop/41-deps.sh).
deps: $(OBJ) $(CLI_OBJ)
	python3 tests/deps.py $(B)

fmt:
	clang-format -i $(SRC) $(CLI_SRC) $(TEST_SRC) tests/tools/*.c include/moat/*.h src/*/*.h examples/*.c

# make bench: moat against nginx and h2o on loopback, and the in-memory
# engine benchmark under callgrind (bench/run.py; docs/bench.md). It reports,
# it asserts nothing; make test runs it once in quick mode
# (tests/interop/95-bench-quick.sh: BENCH_ARGS="--quick --out FILE").
BENCH_BIN := $(B)/bench/hsload $(B)/bench/hold $(B)/bench/inmem $(B)/bench/bare
BENCH_ARGS ?=
bench:
	python3 bench/run.py --install-only
	$(MAKE) $(B)/moat $(BENCH_BIN)
	python3 bench/run.py --build $(B) $(BENCH_ARGS)

$(B)/bench/%: bench/%.c $(B)/libmoat.a $(HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(B)/libmoat.a $(LDLIBS)

# make fuzz: every libFuzzer target fuzz/fuzz_*.c, built with clang,
# ASan and UBSan into build/fuzz/, run one after another for FUZZ_SECONDS
# each from the seeds in fuzz/corpus/<target>/ (fuzz/run.sh; docs/testing.md).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(patsubst fuzz/%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_CFLAGS  := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
.PHONY: fuzz fuzz-build fuzz-bins
fuzz: fuzz-build
	./fuzz/run.sh build/fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-build:
	$(MAKE) B=build/fuzz CC=clang CFLAGS="$(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link" fuzz-bins

fuzz-bins: $(FUZZ_TARGETS:%=$(B)/%)

# The layers the targets reach (the server without its master, serve.o; acme/'s JSON
# reading; of moat get, the URL, cookie and -K parsers, h2 and the streamed
# bodies it reads; no other command line).
FUZZ_OBJ := $(filter-out $(B)/src/server/serve.o,$(filter $(B)/src/core/% $(B)/src/crypto/% \
                     $(B)/src/tls/% $(B)/src/tlsfile/% $(B)/src/http/% $(B)/src/client/url.o $(B)/src/client/h2.o $(B)/src/client/explain.o $(B)/src/server/% \
                     $(B)/src/client/decode.o $(B)/src/client/retry.o $(B)/src/client/pace.o \
                     $(B)/src/client/proxy.o $(B)/src/client/net.o \
                     $(B)/src/client/cookies.o $(B)/src/client/body.o $(B)/src/acme/json.o,$(OBJ))) $(B)/src/cli/getconf.o
$(B)/libmoatfuzz.a: $(FUZZ_OBJ)
	rm -f $@ && ar rcs $@ $^

$(B)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz.h $(B)/libmoatfuzz.a $(HDR)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(B)/libmoatfuzz.a $(LDLIBS)

# make install: the command, both libraries, the headers, moat.pc and the
# man page under $(DESTDIR)$(PREFIX); make uninstall removes exactly those.
PREFIX       ?= /usr/local
BINDIR       ?= $(PREFIX)/bin
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
MANDIR       ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
# moat.pc names its directories from ${prefix} where they lie beneath it.
pcdir = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))

install: $(B)/moat $(B)/libmoat.a $(B)/libmoat.so
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(INCLUDEDIR)/moat $(DESTDIR)$(MANDIR)/man1
	install -m 755 $(B)/moat $(DESTDIR)$(BINDIR)/moat
	install -m 644 $(B)/libmoat.a $(DESTDIR)$(LIBDIR)/libmoat.a
	install -m 755 $(B)/libmoat.so $(DESTDIR)$(LIBDIR)/libmoat.so.$(VERSION)
	ln -sf libmoat.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libmoat.so.$(SOVERSION)
	ln -sf libmoat.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libmoat.so
	install -m 644 $(PUB_HDR) $(DESTDIR)$(INCLUDEDIR)/moat/
	install -m 644 docs/moat.1 $(DESTDIR)$(MANDIR)/man1/moat.1
	sed -e 's|@prefix@|$(PREFIX)|' -e 's|@libdir@|$(call pcdir,$(LIBDIR))|' \
		-e 's|@includedir@|$(call pcdir,$(INCLUDEDIR))|' -e 's|@version@|$(VERSION)|' \
		-e 's|@libs_private@|$(LDLIBS)|' mk/moat.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/moat.pc

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/moat $(DESTDIR)$(LIBDIR)/libmoat.a \
		$(DESTDIR)$(LIBDIR)/libmoat.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libmoat.so.$(SOVERSION) \
		$(DESTDIR)$(LIBDIR)/libmoat.so $(DESTDIR)$(PKGCONFIGDIR)/moat.pc \
		$(DESTDIR)$(MANDIR)/man1/moat.1 $(PUB_HDR:include/%=$(DESTDIR)$(INCLUDEDIR)/%)
	-rmdir $(DESTDIR)$(INCLUDEDIR)/moat

clean:
	rm -rf build

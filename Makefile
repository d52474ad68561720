# moat: build of libmoat.a, the moat command and the tests.
CC      ?= cc
CFLAGS  ?= -O2 -g
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude -Isrc -fno-strict-aliasing
LDLIBS  = -lcrypto

B       ?= build
SRC     := $(wildcard src/core/*.c src/crypto/*.c src/tls/*.c src/http/*.c src/server/*.c \
                      src/client/*.c src/ca/*.c)
OBJ     := $(SRC:%.c=$(B)/%.o)
CLI_SRC := $(wildcard src/cli/*.c)
CLI_OBJ := $(CLI_SRC:%.c=$(B)/%.o)
TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(B)/tests/%)
TEST_COMMON := $(filter-out $(TEST_SRC),$(wildcard tests/unit/*.c))
HDR     := $(wildcard include/moat/*.h src/*/*.h tests/unit/*.h)

.PHONY: all run test unit asan clean bench fmt
all: $(B)/moat $(TEST_BIN) $(B)/tests/onebyte.so $(B)/bench/hold $(B)/tests/tools/trickle

$(B)/libmoat.a: $(OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(B)/moat: $(CLI_OBJ) $(B)/libmoat.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(B)/libmoat.a $(LDLIBS)

$(B)/%.o: %.c $(HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/tests/%: tests/unit/%.c $(TEST_COMMON) $(B)/libmoat.a $(HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(TEST_COMMON) $(B)/libmoat.a $(LDLIBS)

# An LD_PRELOAD shim that cuts socket reads and writes to one byte
# (tests/interop/52-one-byte.sh).
$(B)/tests/onebyte.so: tests/shim/onebyte.c
	@mkdir -p $(@D)
	$(CC) -O2 -std=c11 -Wall -Wextra -Werror -fPIC -shared -o $@ $< -ldl

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

fmt:
	clang-format -i $(SRC) $(CLI_SRC) $(TEST_SRC) include/moat/*.h src/*/*.h

# make bench: moat against nginx and h2o on loopback, and the in-memory
# engine benchmark under callgrind (bench/run.py; docs/bench.md). It reports,
# it asserts nothing; make test runs it once in quick mode
# (tests/interop/95-bench-quick.sh: BENCH_ARGS="--quick --out FILE").
BENCH_BIN := $(B)/bench/hsload $(B)/bench/hold $(B)/bench/inmem
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

# The layers the targets reach (the server without its master, serve.o; no command line).
FUZZ_OBJ := $(filter-out $(B)/src/server/serve.o,$(filter $(B)/src/core/% $(B)/src/crypto/% \
                     $(B)/src/tls/% $(B)/src/http/% $(B)/src/client/url.o $(B)/src/server/%,$(OBJ)))
$(B)/libmoatfuzz.a: $(FUZZ_OBJ)
	rm -f $@ && ar rcs $@ $^

$(B)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz.h $(B)/libmoatfuzz.a $(HDR)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(B)/libmoatfuzz.a $(LDLIBS)

clean:
	rm -rf build

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
all: $(B)/moat $(TEST_BIN)

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
# engine benchmark under callgrind (bench/run.py; docs/bench.md). Not a test.
BENCH_BIN := $(B)/bench/hsload $(B)/bench/hold $(B)/bench/inmem
bench:
	python3 bench/run.py --install-only
	$(MAKE) $(B)/moat $(BENCH_BIN)
	python3 bench/run.py --build $(B)

$(B)/bench/%: bench/%.c $(B)/libmoat.a $(HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(B)/libmoat.a $(LDLIBS)

clean:
	rm -rf build

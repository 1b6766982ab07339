# drink — build, run and test.  See README.md.
#
#   make            build drinkd, drink and drink-machine into $(BUILD)/
#   make run        dev certificates, demo database, server + simulated machines
#   make check      unit tests, then integration tests over real TLS
#   make install    PREFIX=/usr/local DESTDIR=

BUILD   ?= build
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
CC      ?= cc

PKGS     = openssl sqlite3 libcjson libargon2
DEB_PKGS = libssl-dev libsqlite3-dev libcjson-dev check libargon2-dev pkg-config sqlite3 openssl

WARN     = -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes -Wshadow \
           -Wpointer-arith -Wcast-qual -Wsign-compare
ifdef CI
WARN    += -Werror
endif
OPT     ?= -O2 -g
SAN     ?=
ifneq ($(SAN),)
SANFLAGS = -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

# Recursive (=) so pkg-config runs after the bootstrap step has installed it.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))
CHECK_CFLAGS = $(shell pkg-config --cflags check)
CHECK_LIBS   = $(shell pkg-config --libs check)

CPPFLAGS_ALL = -D_GNU_SOURCE -Icommon -Idb -Iserver -I$(BUILD)/gen
CFLAGS_ALL   = -std=c11 -pthread $(OPT) $(WARN) $(SANFLAGS) $(CPPFLAGS_ALL) $(PKG_CFLAGS) $(CFLAGS)
LDFLAGS_ALL  = -pthread $(SANFLAGS) $(LDFLAGS)

COMMON_SRC = $(wildcard common/*.c)
DB_SRC     = $(wildcard db/*.c)
SERVER_SRC = $(filter-out server/main.c,$(wildcard server/*.c))
CLIENT_SRC = $(wildcard client/*.c)
CTRL_SRC   = $(wildcard controller/*.c)
UNIT_SRC   = $(wildcard tests/check_*.c)
HARNESS_SRC = $(filter-out $(UNIT_SRC),$(wildcard tests/*.c))

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

PROGS = $(BUILD)/drinkd $(BUILD)/drink $(BUILD)/drink-machine
UNIT_TESTS = $(patsubst tests/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

.PHONY: all deps run check check-unit check-asan check-tsan certs install clean bench
all: $(PROGS)

# Bootstrap: install the Debian packages when a dependency is missing.
$(BUILD)/.deps:
	@mkdir -p $(BUILD)
	@if ! command -v pkg-config >/dev/null 2>&1 || \
	    ! pkg-config --exists $(PKGS) check; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing build dependencies: $(DEB_PKGS)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			    apt-get install -y -qq $(DEB_PKGS) >/dev/null || exit 1; \
		else \
			echo "missing dependencies; run:"; \
			echo "  sudo apt-get install $(DEB_PKGS)"; exit 1; \
		fi; \
	fi
	@touch $@

deps: $(BUILD)/.deps

$(BUILD)/gen/schema.h: db/schema.sql | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	@{ echo '/* generated from db/schema.sql */'; \
	   echo 'static const char db_schema_sql[] ='; \
	   sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/.*/"&\\n"/' $<; \
	   echo ';'; } > $@

$(BUILD)/%.o: %.c | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(CHECK_CFLAGS) -MMD -MP -c -o $@ $<

$(call obj,$(DB_SRC)): $(BUILD)/gen/schema.h

$(BUILD)/libdrink.a: $(call obj,$(COMMON_SRC) $(DB_SRC) $(SERVER_SRC))
	rm -f $@
	ar rcs $@ $^

$(BUILD)/drinkd: $(BUILD)/server/main.o $(BUILD)/libdrink.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

$(BUILD)/drink: $(call obj,$(CLIENT_SRC)) $(BUILD)/libdrink.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

$(BUILD)/drink-machine: $(call obj,$(CTRL_SRC)) $(BUILD)/libdrink.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(call obj,$(HARNESS_SRC)) $(BUILD)/libdrink.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(CHECK_LIBS)

# Unit tests first (fast, no network), then the integration suites, which
# start real drinkd processes on ephemeral loopback ports.
check: $(PROGS) $(UNIT_TESTS)
	@BUILD=$(BUILD) tests/run-tests $(UNIT_TESTS)

check-asan:
	$(MAKE) BUILD=build-asan SAN=address,undefined OPT="-O1 -g" check

check-tsan:
	$(MAKE) BUILD=build-tsan SAN=thread OPT="-O1 -g" check

certs: run/certs/ca.crt
run/certs/ca.crt: certs/mkcerts
	certs/mkcerts run/certs
	certs/mkcerts run/certs member admin

run: all
	@scripts/run-demo $(BUILD)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8
	install -m 755 $(PROGS) certs/mkcerts $(DESTDIR)$(BINDIR)/
	install -m 644 docs/drink.1 docs/drink-machine.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 docs/drinkd.8 $(DESTDIR)$(MANDIR)/man8/

clean:
	rm -rf $(BUILD) build-asan build-tsan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# drink — build, run and test.  See README.md.
#
#   make            build drinkd, drink and drink-machine into $(BUILD)/
#   make run        dev certificates, demo database, server + simulated machines
#   make check      unit tests, then integration tests over real TLS
#   make install    PREFIX=/usr/local DESTDIR= (drinkd in sbin, units, docs)
#   make uninstall  the same PREFIX and DESTDIR: removes what install put there

BUILD   ?= build
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR  ?= $(PREFIX)/share/man
DOCDIR  ?= $(PREFIX)/share/doc/drink
# Configuration lives in /etc whatever the prefix (FHS); drinkd reads
# $(SYSCONFDIR)/drink/drinkd.conf when started without -f.
SYSCONFDIR ?= /etc
CC      ?= cc

# The web port parses HTTP/1.1 with http-parser and frames WebSockets with
# wslay; neither ships a .pc file in Debian, so both are linked by name
# and their headers checked for by the bootstrap.
PKGS     = openssl sqlite3 libcjson libargon2
# libedit: line editing, history and completion in drink's shell.
CLI_PKGS = libedit
DEB_PKGS = libssl-dev libsqlite3-dev libcjson-dev check libargon2-dev \
           libedit-dev pkg-config sqlite3 openssl libwslay-dev \
           libhttp-parser-dev socat

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
PKG_LIBS   = $(shell pkg-config --libs $(PKGS)) -lwslay -lhttp_parser
CLI_LIBS   = $(shell pkg-config --libs $(CLI_PKGS))
CHECK_CFLAGS = $(shell pkg-config --cflags check)
CHECK_LIBS   = $(shell pkg-config --libs check)

CPPFLAGS_ALL = -D_GNU_SOURCE -DDRINKD_CONF='"$(SYSCONFDIR)/drink/drinkd.conf"' -Icommon -Idb -Iserver -I$(BUILD)/gen
CFLAGS_ALL   = -std=c11 -pthread $(OPT) $(WARN) $(SANFLAGS) $(CPPFLAGS_ALL) $(PKG_CFLAGS) $(CFLAGS)
LDFLAGS_ALL  = -pthread $(SANFLAGS) $(LDFLAGS)

COMMON_SRC = $(wildcard common/*.c)
DB_SRC     = $(wildcard db/*.c)
SERVER_SRC = $(filter-out server/main.c,$(wildcard server/*.c))
CLIENT_SRC = $(wildcard client/*.c)
CTRL_SRC   = $(wildcard controller/*.c)
# Unit suites need no network; integration suites start real drinkd
# processes (tests/harness.c) on ephemeral loopback ports.
INTEG_NAMES = member admin machine lock fault stress crash hostile card ops web \
              browser identity sunday tini client controller
INTEG_SRC  = $(patsubst %,tests/check_%.c,$(INTEG_NAMES))
UNIT_SRC   = $(filter-out $(INTEG_SRC),$(wildcard tests/check_*.c))
CHECK_SRC  = $(UNIT_SRC) $(INTEG_SRC)
HARNESS_SRC = $(filter-out $(CHECK_SRC),$(wildcard tests/*.c))

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

PROGS = $(BUILD)/drinkd $(BUILD)/drink $(BUILD)/drink-machine
TESTS = $(patsubst tests/%.c,$(BUILD)/tests/%,$(CHECK_SRC))

.PHONY: all deps run check check-asan check-tsan check-valgrind fuzz certs install \
    uninstall clean \
    browser-deps bench
all: $(PROGS)

# Keep test objects between runs (they are intermediate to make).
.SECONDARY:

# Bootstrap: install the Debian packages when a dependency is missing.
$(BUILD)/.deps:
	@mkdir -p $(BUILD)
	@if ! command -v pkg-config >/dev/null 2>&1 || \
	    ! pkg-config --exists $(PKGS) $(CLI_PKGS) check || \
	    [ ! -f /usr/include/http_parser.h ] || \
	    [ ! -f /usr/include/wslay/wslay.h ]; then \
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

# Each later migration script becomes db_<name>_sql in <name>-sql.h.
$(BUILD)/gen/%-sql.h: db/%.sql | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	@{ echo '/* generated from $< */'; \
	   echo 'static const char db_$*_sql[] ='; \
	   sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/.*/"&\\n"/' $<; \
	   echo ';'; } > $@

$(call obj,$(DB_SRC)): $(BUILD)/gen/schema.h $(BUILD)/gen/cards-sql.h \
    $(BUILD)/gen/tokens-sql.h $(BUILD)/gen/entries-sql.h \
    $(BUILD)/gen/idem-sql.h $(BUILD)/gen/txcheck-sql.h \
    $(BUILD)/gen/ids-sql.h

# The web app, built into drinkd as byte arrays.
WEB_FILES = $(wildcard web/*)
$(BUILD)/gen/web_assets.h: $(WEB_FILES) scripts/web-embed | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	@scripts/web-embed web > $@.tmp && mv $@.tmp $@
$(BUILD)/server/web.o: $(BUILD)/gen/web_assets.h

$(BUILD)/libdrink.a: $(call obj,$(COMMON_SRC) $(DB_SRC) $(SERVER_SRC))
	rm -f $@
	ar rcs $@ $^

$(BUILD)/drinkd: $(BUILD)/server/main.o $(BUILD)/libdrink.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

$(BUILD)/drink: $(call obj,$(CLIENT_SRC)) $(BUILD)/libdrink.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(CLI_LIBS)

$(BUILD)/drink-machine: $(call obj,$(CTRL_SRC)) $(BUILD)/libdrink.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(call obj,$(HARNESS_SRC)) $(BUILD)/libdrink.a
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(PKG_LIBS) $(CHECK_LIBS)

# The storage-fault shim check_fault, check_browser, check_member and
# check_sunday preload into drinkd: plain, never sanitized (it must not
# bring a second sanitizer runtime along).
$(BUILD)/tests/fault.so: tests/shim/fault.c | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -g -fPIC -shared $(WARN) -o $@ $< -ldl

$(BUILD)/tests/check_fault $(BUILD)/tests/check_browser \
    $(BUILD)/tests/check_member $(BUILD)/tests/check_sunday: \
    $(BUILD)/tests/fault.so

# The fuzz targets, renamed so both link into the corpus replay test.
FUZZ_TARGETS = request machine
$(BUILD)/tests/fuzz/replay_%.o: tests/fuzz/fuzz_%.c | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DLLVMFuzzerTestOneInput=fuzz_$*_input -MMD -MP -c -o $@ $<

$(BUILD)/tests/check_corpus: $(patsubst %,$(BUILD)/tests/fuzz/replay_%.o,$(FUZZ_TARGETS))

# Unit tests first (fast, no network), then the integration suites, which
# start real drinkd processes on ephemeral loopback ports.
# check_tini runs a simulated board behind socat, as boards are deployed.
check: $(PROGS) $(TESTS) browser-deps
	@command -v socat >/dev/null || { [ "$$(id -u)" = 0 ] && \
	    apt-get install -y -qq socat >/dev/null; } || \
	    { echo "check_tini needs socat: apt-get install socat"; exit 1; }
	@BUILD=$(BUILD) tests/run-tests $(TESTS)

# check_browser drives Debian's chromium from a node script (node's own
# modules only): install both when missing.
BROWSER_DEB_PKGS = chromium nodejs
browser-deps:
	@if ! command -v node >/dev/null 2>&1 || \
	    ! command -v chromium >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing browser test dependencies: $(BROWSER_DEB_PKGS)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			    apt-get install -y -qq $(BROWSER_DEB_PKGS) >/dev/null || exit 1; \
		else \
			echo "the browser test needs: sudo apt-get install $(BROWSER_DEB_PKGS)"; \
			exit 1; \
		fi; \
	fi

check-asan:
	$(MAKE) BUILD=build-asan SAN=address,undefined,float-cast-overflow \
	    OPT="-O1 -g" check

check-tsan:
	TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp halt_on_error=1" \
	    $(MAKE) BUILD=build-tsan SAN=thread OPT="-O1 -g" check

# The integration suites with every drinkd under valgrind's memcheck.  The
# load suites (stress, crash) and cases tagged "load" are left out: their
# timing bounds are meaningless at valgrind's speed, and they exercise no
# code path the others do not.
VALGRIND_TESTS = $(UNIT_SRC:tests/%.c=$(BUILD)/tests/%) \
    $(patsubst %,$(BUILD)/tests/check_%,member admin machine hostile)
check-valgrind: all $(VALGRIND_TESTS)
	@command -v valgrind >/dev/null || apt-get install -y -qq valgrind
	@CK_EXCLUDE_TAGS=load \
	    DRINKD_WRAPPER="valgrind --quiet --error-exitcode=99 --leak-check=full \
	    --errors-for-leak-kinds=definite --log-file=%s.valgrind" \
	    BUILD=$(BUILD) tests/run-tests $(VALGRIND_TESTS)

# libFuzzer (clang) on the request dispatcher and the controller message
# handler, FUZZ_SECONDS each, starting from the seed corpus in the repo.
FUZZ_SECONDS ?= 60
fuzz:
	@command -v clang >/dev/null || apt-get install -y -qq clang libclang-rt-14-dev
	$(MAKE) BUILD=build-fuzz CC=clang SAN=address,undefined \
	    OPT="-O1 -g -fsanitize=fuzzer-no-link" \
	    $(patsubst %,build-fuzz/fuzz_%,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p build-fuzz/corpus-$$t build-fuzz/crash-$$t; \
		echo "== fuzzing $$t for $(FUZZ_SECONDS) s"; \
		build-fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
		    -artifact_prefix=build-fuzz/crash-$$t/ -print_final_stats=1 \
		    build-fuzz/corpus-$$t tests/fuzz/corpus-$$t || exit 1; \
	done

$(BUILD)/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/libdrink.a
	$(CC) $(LDFLAGS_ALL) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)

# drinkd against nginx (same certificate, same load generator) and raw
# SQLite, interleaved, medians of 3 rounds; about 6 minutes, or about 2
# with BENCH_QUICK=1; BENCH_ONLY=db measures the database figures alone
# (drops, balance, ping).  Never part of check.  nginx runs under its own
# configuration in $(BUILD)/bench/; installing it must not start the
# system service, hence the policy-rc.d for the duration of apt-get.
BENCH_QUICK ?= 0
BENCH_ONLY ?=
BENCH_DEB = nginx libnginx-mod-stream
bench: $(PROGS) $(BUILD)/loadgen
	@if ! command -v nginx >/dev/null || \
	    [ ! -f /usr/lib/nginx/modules/ngx_stream_module.so ]; then \
		if [ "$$(id -u)" != 0 ]; then \
			echo "bench needs: sudo apt-get install $(BENCH_DEB)"; \
			exit 1; \
		fi; \
		p=/usr/sbin/policy-rc.d; own=0; \
		if [ ! -e $$p ]; then \
			printf '#!/bin/sh\nexit 101\n' >$$p; chmod 755 $$p; \
			own=1; \
		fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		    apt-get install -y -qq $(BENCH_DEB) >/dev/null; rc=$$?; \
		[ $$own = 1 ] && rm -f $$p; [ $$rc = 0 ] || exit 1; \
	fi
	@BENCH_QUICK=$(BENCH_QUICK) BENCH_ONLY=$(BENCH_ONLY) bench/run $(BUILD)

$(BUILD)/loadgen: bench/loadgen.c | $(BUILD)/.deps
	$(CC) $(CFLAGS_ALL) -o $@ $< $(LDFLAGS_ALL) $(PKG_LIBS)

# The whole demo set as make run makes it (two CAs: one for the server and
# members, one for the controllers); either may come first.
certs:
	@scripts/run-demo $(BUILD) certs

run: all
	@scripts/run-demo $(BUILD)

# The Debian daemon layout: drinkd in sbin, the units and the sysusers.d
# entry under lib, docs and an annotated example configuration under
# share/doc/drink.  /etc/drink/drinkd.conf is installed only when there is
# none, so a reinstall never overwrites the operator's file.
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  ?= $(PREFIX)/share/zsh/site-functions
UNIT_SED = -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@BINDIR@|$(BINDIR)|g' \
    -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g'
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(SYSCONFDIR)/drink \
	    $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	install -m 755 $(BUILD)/drinkd $(DESTDIR)$(SBINDIR)/
	install -m 755 $(BUILD)/drink $(BUILD)/drink-machine $(DESTDIR)$(BINDIR)/
	install -m 644 completions/drink.bash $(DESTDIR)$(BASHCOMPDIR)/drink
	install -m 644 completions/_drink $(DESTDIR)$(ZSHCOMPDIR)/_drink
	install -m 755 certs/mkcerts $(DESTDIR)$(BINDIR)/drink-mkcerts
	install -m 644 docs/drink.1 docs/drink-machine.1 docs/drink-mkcerts.1 \
	    $(DESTDIR)$(MANDIR)/man1/
	install -m 644 docs/drinkd.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 644 README.md docs/protocol.md docs/legacy.md $(DESTDIR)$(DOCDIR)/
	install -m 644 dist/drinkd.conf $(DESTDIR)$(DOCDIR)/examples/
	install -m 644 dist/drinkd.sysusers $(DESTDIR)$(SYSUSERSDIR)/drink.conf
	sed $(UNIT_SED) dist/drinkd.service.in > $(DESTDIR)$(UNITDIR)/drinkd.service
	sed $(UNIT_SED) dist/drink-machine@.service.in \
	    > '$(DESTDIR)$(UNITDIR)/drink-machine@.service'
	chmod 644 $(DESTDIR)$(UNITDIR)/drinkd.service \
	    '$(DESTDIR)$(UNITDIR)/drink-machine@.service'
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/drink/drinkd.conf ]; then \
		echo "kept $(DESTDIR)$(SYSCONFDIR)/drink/drinkd.conf (example: $(DOCDIR)/examples/drinkd.conf)"; \
	else \
		install -m 644 dist/drinkd.conf $(DESTDIR)$(SYSCONFDIR)/drink/drinkd.conf; \
	fi

# Removes every file install wrote, and the directories that were drink's
# own once empty.  /etc/drink/drinkd.conf goes only while it is the example
# as installed; the operator's edits, the certificates, the drinkd user and
# the database in /var/lib/drink stay.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/drinkd $(DESTDIR)$(BINDIR)/drink \
	    $(DESTDIR)$(BINDIR)/drink-machine $(DESTDIR)$(BINDIR)/drink-mkcerts \
	    $(DESTDIR)$(BASHCOMPDIR)/drink $(DESTDIR)$(ZSHCOMPDIR)/_drink \
	    $(DESTDIR)$(MANDIR)/man1/drink.1 $(DESTDIR)$(MANDIR)/man1/drink-machine.1 \
	    $(DESTDIR)$(MANDIR)/man1/drink-mkcerts.1 $(DESTDIR)$(MANDIR)/man8/drinkd.8 \
	    $(DESTDIR)$(DOCDIR)/README.md $(DESTDIR)$(DOCDIR)/protocol.md \
	    $(DESTDIR)$(DOCDIR)/legacy.md $(DESTDIR)$(DOCDIR)/examples/drinkd.conf \
	    $(DESTDIR)$(SYSUSERSDIR)/drink.conf $(DESTDIR)$(UNITDIR)/drinkd.service \
	    '$(DESTDIR)$(UNITDIR)/drink-machine@.service'
	rmdir $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null || :
	@if cmp -s dist/drinkd.conf $(DESTDIR)$(SYSCONFDIR)/drink/drinkd.conf; then \
		rm -f $(DESTDIR)$(SYSCONFDIR)/drink/drinkd.conf; \
		rmdir $(DESTDIR)$(SYSCONFDIR)/drink 2>/dev/null || :; \
	elif [ -e $(DESTDIR)$(SYSCONFDIR)/drink/drinkd.conf ]; then \
		echo "kept $(DESTDIR)$(SYSCONFDIR)/drink/drinkd.conf (not the example as installed; remove it by hand)"; \
	fi

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

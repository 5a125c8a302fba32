# Makefile for the EPS TLS-passthrough proxy.
#
#   make            build proxyd, privproxyd, epsd and the demo's internal server
#   make demo       install missing Debian packages, build, run the demo
#   make regress    run every test (SANITIZE=1: under ASan and UBSan)
#   make bench      benchmarks, printed as a table
#   make fuzz       build the libFuzzer targets (clang) and run each for
#                   FUZZ_SECONDS (600) seconds
#   make install    PREFIX=/usr/local DESTDIR= (make uninstall undoes it)
#   make deb        the Debian package, in build/deb/ (debian/deb.sh)
#   make deb-check  build it, lintian, install, check, purge, check (root)
#
# Programs go to build/ (build/san/ with SANITIZE=1), objects below obj/.

PREFIX	?= /usr/local
SBINDIR	?= $(PREFIX)/sbin
MANDIR	?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
DESTDIR	?=
# systemd's directories below PREFIX: /usr/local/lib/... and /usr/lib/...
# are both on its search paths.  The Debian package (debian/rules) sets
# SYSTEMDUNITDIR=/lib/systemd/system, where Debian 12's debhelper looks.
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
INITDIR	?= $(SYSCONFDIR)/init.d

CC	?= cc
ifeq ($(origin YACC),default)
YACC	 = byacc
endif
PKG_CONFIG ?= pkg-config
PKGS	 = libevent libtls msgpack libbsd-overlay libseccomp

CFLAGS	?= -O2 -g
WARNINGS = -Wall -Wextra -Werror -Wshadow -Wpointer-arith \
	   -Wmissing-prototypes -Wstrict-prototypes -Wno-unused-parameter
CPPFLAGS += -D_GNU_SOURCE -Icommon
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
LDLIBS	+= $(PKG_LIBS)

# Probe for what the compat layer must supply (common/compat.c).
HAVE_TIMINGSAFE_BCMP := $(shell printf '#include <string.h>\nint main(void){return timingsafe_bcmp("a","b",1);}\n' | \
	$(CC) $(PKG_CFLAGS) -Werror=implicit-function-declaration -x c -o /dev/null - $(PKG_LIBS) >/dev/null 2>&1 && echo yes)
ifneq ($(HAVE_TIMINGSAFE_BCMP),yes)
CPPFLAGS += -DNEED_TIMINGSAFE_BCMP
endif

ifeq ($(SANITIZE),1)
B	 = build/san
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=undefined
CFLAGS	+= $(SANFLAGS)
LDFLAGS	+= $(SANFLAGS)
else
B	 = build
endif

O	 = $(B)/obj
ALL_CFLAGS = $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) $(WARNINGS)

COMMON_SRCS = common/compat.c common/log.c common/frame.c common/chan.c common/proc.c \
	common/mp.c common/rpc.c common/epsclient.c common/clienthello.c \
	common/splice.c common/net.c common/tlsutil.c common/lex.c \
	common/dname.c common/settings.c common/control.c common/metrics.c \
	common/sandbox.c common/proxyproto.c
PROXYD_SRCS = proxyd/proxyd.c proxyd/listener.c proxyd/matcher.c \
	proxyd/token.c proxyd/eps.c proxyd/config.c proxyd/parse.y
PRIVPROXYD_SRCS = privproxyd/privproxyd.c privproxyd/connector.c \
	privproxyd/eps.c privproxyd/config.c privproxyd/parse.y
EPSD_SRCS = epsd/epsd.c epsd/session.c epsd/router.c epsd/config.c \
	epsd/parse.y
EPSCTL_SRCS = epsctl/epsctl.c
ISERVER_SRCS = examples/internal-server/internal-server.c

UNIT_TESTS = $(basename $(notdir $(wildcard regress/unit/test_*.c)))
FUZZ_TARGETS = fuzz_clienthello fuzz_frame fuzz_rpc fuzz_conf_proxyd \
	fuzz_conf_privproxyd fuzz_conf_epsd fuzz_control fuzz_proxyproto

objs = $(patsubst %.y,$(O)/%.o,$(patsubst %.c,$(O)/%.o,$(1)))

COMMON_OBJS = $(call objs,$(COMMON_SRCS))
PROGS = $(B)/proxyd $(B)/privproxyd $(B)/epsd $(B)/epsctl \
	$(B)/internal-server

.PHONY: all deps demo regress regress-run unit bench soak fuzz install uninstall clean lint \
	check-deps
.SUFFIXES:
.SECONDARY:

all: check-deps $(PROGS)

check-deps:
	@$(PKG_CONFIG) --exists $(PKGS) || { \
	    echo "missing build dependencies: run 'make deps' as root" \
	        "(or see etc/deps.sh)" >&2; exit 1; }

deps:
	@sh etc/deps.sh

$(B)/libcommon.a: $(COMMON_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(B)/proxyd: $(call objs,$(PROXYD_SRCS)) $(B)/libcommon.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/privproxyd: $(call objs,$(PRIVPROXYD_SRCS)) $(B)/libcommon.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/epsd: $(call objs,$(EPSD_SRCS)) $(B)/libcommon.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/epsctl: $(call objs,$(EPSCTL_SRCS)) $(B)/libcommon.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/internal-server: $(call objs,$(ISERVER_SRCS)) $(B)/libcommon.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/%.o: %.c $(wildcard common/*.h */*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -I$(dir $<) -c -o $@ $<

# The grammar: byacc's output is compiled like any other file.
$(O)/%.c: %.y
	@mkdir -p $(dir $@)
	$(YACC) -o $@ $<
$(O)/%.o: $(O)/%.c $(wildcard common/*.h */*.h)
	$(CC) $(ALL_CFLAGS) -I$(patsubst $(O)/%,%,$(dir $<)) -c -o $@ $<

# Unit tests: one program per regress/unit/test_*.c, linked with the
# library and with the daemon objects named in UNIT_OBJS_test_NAME.
UNIT_OBJS_test_token = $(O)/proxyd/token.o
UNIT_INCS_test_token = -Iproxyd

.SECONDEXPANSION:
$(B)/unit/%: regress/unit/%.c $(B)/libcommon.a $(wildcard regress/unit/*.h) \
    $$(UNIT_OBJS_$$*)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Iregress/unit $(UNIT_INCS_$*) $(LDFLAGS) -o $@ \
	    $< $(UNIT_OBJS_$*) $(B)/libcommon.a $(LDLIBS)

unit: check-deps $(addprefix $(B)/unit/,$(UNIT_TESTS))

# test_control runs epsctl against its server.
$(B)/unit/test_control: $(B)/epsctl

# Like demo, regress first installs what is missing (etc/deps.sh), then
# builds in a fresh make, which sees the libraries pkg-config now finds.
regress: deps
	@$(MAKE) --no-print-directory regress-run

regress-run: all unit fuzz-if-clang
	@B=$(B) sh regress/run.sh

# libFuzzer targets need clang; regress runs each one briefly.
FUZZ_CC	?= clang
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined
build/fuzz/%: regress/fuzz/%.c regress/fuzz/fuzz.h $(COMMON_SRCS) $(wildcard common/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(PKG_CFLAGS) $(FUZZ_FLAGS) -o $@ $< \
	    $(COMMON_SRCS) $(LDLIBS)

# One grammar target per daemon, from one source with the daemon's header.
build/fuzz/fuzz_conf_%: regress/fuzz/fuzz_conf.c $(O)/%/parse.c %/config.c \
    $(COMMON_SRCS) $(wildcard common/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) -I$* -include $*.h $(PKG_CFLAGS) \
	    $(FUZZ_FLAGS) -o $@ $< $(O)/$*/parse.c $*/config.c \
	    $(COMMON_SRCS) $(LDLIBS)

fuzz-build: check-deps $(addprefix build/fuzz/,$(FUZZ_TARGETS))

# Each target for a bounded time, from its seeds, into a scratch corpus;
# a crash is kept as build/fuzz/NAME-crash-*.
fuzz: fuzz-build
	@FUZZ_SECONDS=$${FUZZ_SECONDS:-600} sh regress/run.sh --fuzz

.PHONY: fuzz-if-clang fuzz-build
fuzz-if-clang:
	@if command -v $(FUZZ_CC) >/dev/null 2>&1; then \
	    $(MAKE) --no-print-directory fuzz-build; fi

demo: deps
	@$(MAKE) --no-print-directory all
	@B=$(B) sh etc/demo/demo.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@B=$(B) sh regress/bench.sh

# The soak test, not part of regress (SOAK_REQUESTS=5000 for a short run).
soak: deps
	@$(MAKE) --no-print-directory all
	@B=$(B) sh regress/soak.sh

lint:
	mandoc -Tlint -Wwarning man/*.[1-9]

# What install writes.  epsctl is installed once the build makes it;
# uninstall removes it whether or not, and takes the pages by the names
# in man/.  An example configuration never replaces a file that is
# there, and uninstall removes one only if it is still the example; the
# units and init scripts are etc/systemd/*.in and etc/rc.d/*.in with the
# installed paths for their placeholders.
SBIN_PROGS = proxyd privproxyd epsd $(if $(wildcard $(B)/epsctl),epsctl)
SBIN_ALL = proxyd privproxyd epsd epsctl
MAN_PAGES = $(wildcard man/*.[1-9])
CONF_FILES = proxyd.conf privproxyd.conf epsd.conf
UNITS	= proxyd.service privproxyd.service epsd.service epsd@.service
INIT_SCRIPTS = proxyd privproxyd epsd
SUBST	= sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g'

install: all
	install -d $(DESTDIR)$(SBINDIR)
	install -m 0755 $(addprefix $(B)/,$(SBIN_PROGS)) $(DESTDIR)$(SBINDIR)
	@set -e; for f in $(MAN_PAGES); do \
	    d=$(DESTDIR)$(MANDIR)/man$${f##*.}; \
	    echo "install -m 0644 $$f $$d"; \
	    install -d $$d; install -m 0644 $$f $$d; \
	done
	install -d $(DESTDIR)$(SYSCONFDIR)
	@set -e; for f in $(CONF_FILES); do \
	    if [ -e $(DESTDIR)$(SYSCONFDIR)/$$f ]; then \
	        echo "keeping $(DESTDIR)$(SYSCONFDIR)/$$f"; \
	    else \
	        echo "install -m 0644 etc/$$f $(DESTDIR)$(SYSCONFDIR)"; \
	        install -m 0644 etc/$$f $(DESTDIR)$(SYSCONFDIR); \
	    fi; \
	done
	install -d $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(INITDIR) \
	    $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	@set -e; for u in $(UNITS); do \
	    echo "$(SUBST) etc/systemd/$$u.in >$(DESTDIR)$(SYSTEMDUNITDIR)/$$u"; \
	    $(SUBST) etc/systemd/$$u.in >$(DESTDIR)$(SYSTEMDUNITDIR)/$$u; \
	    chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$$u; \
	done
	@set -e; for r in $(INIT_SCRIPTS); do \
	    echo "$(SUBST) etc/rc.d/$$r.in >$(DESTDIR)$(INITDIR)/$$r"; \
	    $(SUBST) etc/rc.d/$$r.in >$(DESTDIR)$(INITDIR)/$$r; \
	    chmod 0755 $(DESTDIR)$(INITDIR)/$$r; \
	done
	install -m 0644 etc/sysusers.d/eps-proxy.conf $(DESTDIR)$(SYSUSERSDIR)
	install -m 0644 etc/tmpfiles.d/eps-proxy.conf $(DESTDIR)$(TMPFILESDIR)
	@[ -n "$(DESTDIR)" ] || echo "now: systemd-sysusers;" \
	    "systemd-tmpfiles --create; systemctl daemon-reload"

uninstall:
	rm -f $(addprefix $(DESTDIR)$(SBINDIR)/,$(SBIN_ALL))
	@for f in $(MAN_PAGES); do \
	    echo "rm -f $(DESTDIR)$(MANDIR)/man$${f##*.}/$${f##*/}"; \
	    rm -f $(DESTDIR)$(MANDIR)/man$${f##*.}/$${f##*/}; \
	done
	@for f in $(CONF_FILES); do \
	    t=$(DESTDIR)$(SYSCONFDIR)/$$f; \
	    if cmp -s etc/$$f $$t; then echo "rm -f $$t"; rm -f $$t; \
	    elif [ -e $$t ]; then echo "keeping $$t: not the example"; fi; \
	done
	rm -f $(addprefix $(DESTDIR)$(SYSTEMDUNITDIR)/,$(UNITS)) \
	    $(addprefix $(DESTDIR)$(INITDIR)/,$(INIT_SCRIPTS)) \
	    $(DESTDIR)$(SYSUSERSDIR)/eps-proxy.conf \
	    $(DESTDIR)$(TMPFILESDIR)/eps-proxy.conf

.PHONY: deb deb-check
deb:
	@sh debian/deb.sh build

deb-check:
	@sh debian/deb.sh check

clean:
	rm -rf build

# isolab: `make demo` shows a full isolated launch; `make test` builds and runs every test.
# Both work as root on a fresh Debian 12 machine with Rust: missing packages are installed here.

PREFIX ?= /usr/local
CARGO ?= cargo
TOOLS := nsexec nsenter-lite cgexec-rs idmap cgstat
# What the tests and the demo run besides our own binaries.
PACKAGES := iproute2 procps busybox-static util-linux mount uidmap cgroup-tools passwd perl strace \
  prometheus python3-prometheus-client
BIN := target/debug

.PHONY: all build release deps test test-host demo install clean

all: build

deps:
	@scripts/ensure-packages $(PACKAGES)

build:
	@$(CARGO) build --workspace --quiet

# STATIC=1: glibc static-pie binaries (smaller peak RSS, faster start-up; see bench/RESULTS-static.md).
TRIPLE := x86_64-unknown-linux-gnu
RELEASE_DIR := $(if $(STATIC),target/$(TRIPLE)/release,target/release)

release:
	@$(if $(STATIC),RUSTFLAGS="-C target-feature=+crt-static") $(CARGO) build --release --quiet \
	  $(if $(STATIC),--target $(TRIPLE)) $(addprefix -p ,$(TOOLS))

# Every test: unit and property tests, kernel tests on this host (the hybrid layout), then the
# layout-dependent tests again in the test VM (pure v2, pure v1), then the labs as a student
# runs them, and once more with stand-ins for the tools to prove that every lab's checks bite.
test: deps build test-host test-vm lab lab-noop

test-host:
	$(CARGO) test --workspace --quiet

# Through labs/no-leftovers, as the labs: /, /etc and the mount table as they were.
demo: deps build
	@labs/no-leftovers scripts/demo $(BIN)

install: release
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions \
	  $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 0755 $(addprefix $(RELEASE_DIR)/,$(TOOLS)) $(DESTDIR)$(PREFIX)/bin/
	$(CARGO) run --quiet --release -p xtask -- man $(DESTDIR)$(PREFIX)/share/man/man1
	$(CARGO) run --quiet --release -p xtask -- completions \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions \
	  $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d

clean:
	$(CARGO) clean

include tests/vm/vm.mk
include labs/lab.mk
include fuzz/fuzz.mk
include bench/bench.mk

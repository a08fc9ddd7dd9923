# isolab: `make demo` shows a full isolated launch; `make test` builds and runs every test.
# Both work as root on a fresh Debian 12 machine with Rust: missing packages are installed here.

PREFIX ?= /usr/local
CARGO ?= cargo
TOOLS := nsexec nsenter-lite cgexec-rs netexec idmap cgstat
# What the tests and the demo run besides our own binaries.
PACKAGES := iproute2 procps busybox-static util-linux mount uidmap cgroup-tools passwd perl strace \
  containernetworking-plugins iptables passt slirp4netns prometheus python3-prometheus-client \
  gcc libc6-dev runc

.PHONY: all build release deps test test-host test-user demo install clean

all: build

# /dev/net/tun at Debian's mode 0666 (scripts/ensure-tun): netexec's rootless network needs it.
deps:
	@scripts/ensure-packages $(PACKAGES)
	@scripts/ensure-tun

build:
	@$(CARGO) build --workspace --quiet

# What `make release` builds, `make install` installs and `make test`, the labs and the demo run:
# glibc static-pie by default (bench/RESULTS.md: it starts faster and stays under 2 MB peak RSS;
# a dynamically linked tool pays ld.so's relocations and libgcc_s' page faults at every launch),
# in target/x86_64-unknown-linux-gnu/release. DYNAMIC=1 builds, installs and tests the
# dynamically linked one in target/release instead. Both need only glibc's libc.a (libc6-dev,
# installed here) and the host's own target: no rustup target to add. A static glibc program
# still loads the running system's NSS modules for user and group names (idmap, --user NAME).
TRIPLE := x86_64-unknown-linux-gnu
RELEASE_DIR := $(if $(DYNAMIC),target/release,target/$(TRIPLE)/release)
BIN := $(RELEASE_DIR)

release:
	@scripts/ensure-packages libc6-dev
	@$(if $(DYNAMIC),,RUSTFLAGS="-C target-feature=+crt-static") $(CARGO) build --release --quiet \
	  $(if $(DYNAMIC),,--target $(TRIPLE)) $(addprefix -p ,$(TOOLS))

# Every test, against the release build: unit and property tests, kernel tests on this host
# (the hybrid layout), then the layout-dependent tests again in the test VM (pure v2, pure v1),
# then the labs as a student runs them, once more with stand-ins for the tools to prove that every lab's checks bite, and
# as an unprivileged user (what runs without root, and one line for each lab that cannot).
test: deps release test-host test-vm lab lab-noop lab-user

# The kernel tests run the binaries `make release` built (ISOLAB_BIN, tests/src/lib.rs): the
# shipped build is the tested one.
test-host: release
	ISOLAB_BIN=$(abspath $(BIN)) $(CARGO) test --workspace --quiet

# The unprivileged user the tests run as: isolab-test, a system user, with the subordinate ranges
# isolab-test:1200000:65536 and UID:1265536:100 in /etc/subuid and /etc/subgid. Idempotent; the
# tests call scripts/test-user themselves; it is the one thing they leave on the machine.
test-user:
	@scripts/test-user >/dev/null

# Through labs/no-leftovers, as the labs: /, /etc and the mount table as they were.
demo: deps release
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

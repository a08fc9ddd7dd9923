# isolab: `make demo` shows a full isolated launch; `make test` builds and runs every test.
# Both work as root on a fresh Debian 12 machine with Rust: missing packages are installed here.

PREFIX ?= /usr/local
CARGO ?= cargo
TOOLS := nsexec nsenter-lite cgexec-rs netexec idmap cgstat isolab-oci
# What the tests and the demo run besides our own binaries.
PACKAGES := iproute2 procps busybox-static util-linux mount uidmap cgroup-tools passwd perl strace \
  containernetworking-plugins iptables passt slirp4netns prometheus python3-prometheus-client \
  gcc libc6-dev runc podman

.PHONY: all build release deps test test-host test-user demo install clean oci-validation

all: build

# /dev/net/tun at Debian's mode 0666 (scripts/ensure-tun): netexec's rootless network needs it.
deps:
	@scripts/ensure-packages $(PACKAGES)
	@scripts/ensure-tun

build:
	@$(CARGO) build --workspace --quiet

# What `make release` builds, `make install` installs and `make test`, the labs and the demo run:
# static-pie binaries, gathered in target/ship; each tool linked with the C library that made it
# fastest in bench/RESULTS.md. musl for the launchers: glibc, static or not, runs its cache-size
# probe at every exec (dozens of CPUID instructions, each a VM exit under a hypervisor), and a
# dynamically linked program pays ld.so's relocations too. glibc for cgstat, whose time goes into
# allocating and copying while it reads thousands of files, where glibc's malloc and memcpy win.
# rustup adds the musl standard library once (scripts/ensure-rust-target; Rust ships musl's C
# library with it); glibc's static libc.a comes with libc6-dev. DYNAMIC=1 builds, installs and
# tests the dynamically linked glibc build in target/release instead.
MUSL := x86_64-unknown-linux-musl
GLIBC := x86_64-unknown-linux-gnu
GLIBC_TOOLS := cgstat
MUSL_TOOLS := $(filter-out $(GLIBC_TOOLS),$(TOOLS))
RELEASE_DIR := $(if $(DYNAMIC),target/release,target/ship)
BIN := $(RELEASE_DIR)

release:
ifeq ($(DYNAMIC),)
	@scripts/ensure-rust-target $(MUSL)
	@scripts/ensure-packages libc6-dev
	@$(CARGO) build --release --quiet --target $(MUSL) $(addprefix -p ,$(MUSL_TOOLS))
	@RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release --quiet --target $(GLIBC) \
	  $(addprefix -p ,$(GLIBC_TOOLS))
	@mkdir -p target/ship
	@for t in $(MUSL_TOOLS); do ln -f target/$(MUSL)/release/$$t target/ship/$$t || exit 1; done
	@for t in $(GLIBC_TOOLS); do ln -f target/$(GLIBC)/release/$$t target/ship/$$t || exit 1; done
else
	@$(CARGO) build --release --quiet $(addprefix -p ,$(TOOLS))
endif

# Every test, against the release build: unit and property tests, kernel tests on this host
# (the hybrid layout), then the layout-dependent tests again in the test VM (pure v2, pure v1),
# then the labs as a student runs them, once more with stand-ins for the tools to prove that
# every lab's checks bite, and as an unprivileged user (what runs without root, and one line for
# each lab that cannot).
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

# opencontainers/runtime-tools' validation suite against isolab-oci (about 70 s to build offline,
# 3 minutes to run). Debian's golang-github-opencontainers-runtime-tools-dev has the
# library, not validation/ or cmd/runtimetest: give RUNTIME_TOOLS_SRC, a tree of runtime-tools at
# the packaged commit (g0105384). Results: $(OCI_VALIDATION_OUT)/SUMMARY and tap/NAME.tap.
VALIDATION_PACKAGES := golang-go golang-github-opencontainers-runtime-tools-dev golang-github-google-uuid-dev
OCI_VALIDATION_OUT ?= target/oci-validation
oci-validation: build
	@test -n "$(RUNTIME_TOOLS_SRC)" || { echo "make oci-validation: set RUNTIME_TOOLS_SRC=DIR (runtime-tools at g0105384)"; exit 2; }
	@scripts/ensure-packages $(VALIDATION_PACKAGES)
	tests/oci-validation/run $(RUNTIME_TOOLS_SRC) $(OCI_VALIDATION_OUT)

include tests/vm/vm.mk
include labs/lab.mk
include fuzz/fuzz.mk
include bench/bench.mk

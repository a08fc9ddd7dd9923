# isolab: `make demo` shows a full isolated launch; `make test` builds and runs every test.
# Both work as root on a fresh Debian 12 machine with Rust: missing packages are installed here.

PREFIX ?= /usr/local
CARGO ?= cargo
TOOLS := nsexec nsenter-lite cgexec-rs netexec idmap cgstat isolab-oci
# What the tests and the demo run besides our own binaries.
PACKAGES := iproute2 procps busybox-static util-linux mount uidmap cgroup-tools passwd perl strace \
  containernetworking-plugins iptables passt slirp4netns prometheus python3-prometheus-client \
  gcc libc6-dev runc podman
BIN := target/debug

.PHONY: all build release deps test test-host test-user demo install clean oci-validation

all: build

# /dev/net/tun at Debian's mode 0666 (scripts/ensure-tun): netexec's rootless network needs it.
deps:
	@scripts/ensure-packages $(PACKAGES)
	@scripts/ensure-tun

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
# runs them, once more with stand-ins for the tools to prove that every lab's checks bite, and
# as an unprivileged user (what runs without root, and one line for each lab that cannot).
test: deps build test-host test-vm lab lab-noop lab-user

test-host:
	$(CARGO) test --workspace --quiet

# The unprivileged user the tests run as: isolab-test, a system user, with the subordinate ranges
# isolab-test:1200000:65536 and UID:1265536:100 in /etc/subuid and /etc/subgid. Idempotent; the
# tests call scripts/test-user themselves; it is the one thing they leave on the machine.
test-user:
	@scripts/test-user >/dev/null

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

# make bench [QUICK=1] [STATIC=1]: each isolab path against util-linux, libcgroup, bubblewrap and
# runc and the bare-syscall floor, interleaved, as ratios; rewrites bench/RESULTS.md. As root.
# Full run <= 5 minutes, QUICK=1 <= 1 minute (after the release build). STATIC=1 measures the
# tools linked statically (glibc static-pie, built in target/x86_64-unknown-linux-gnu) and
# writes bench/RESULTS-static.md.
# Included by the Makefile, which defines CARGO; `rootfs` comes from labs/lab.mk.

BENCH_PACKAGES := util-linux cgroup-tools bubblewrap runc hyperfine gcc busybox-static podman
BENCH_C := nsbase nsjoin cgbase cgread
BENCH_TOOLS := -p nsexec -p nsenter-lite -p cgexec-rs -p netexec -p cgstat
BENCH_TRIPLE := x86_64-unknown-linux-gnu
BENCH_BIN := $(if $(STATIC),target/$(BENCH_TRIPLE)/release,target/release)

.PHONY: bench

bench: rootfs
	@scripts/ensure-packages $(BENCH_PACKAGES)
	@$(if $(STATIC),RUSTFLAGS="-C target-feature=+crt-static") $(or $(CARGO),cargo) build --release --quiet \
	  $(if $(STATIC),--target $(BENCH_TRIPLE)) $(BENCH_TOOLS)
	@$(or $(CARGO),cargo) build --release --quiet -p isolab-bench
	@mkdir -p target/bench
	@for p in $(BENCH_C); do gcc -O2 -Wall -o target/bench/$$p bench/c/$$p.c || exit 1; done
	target/release/isolab-bench --bin $(BENCH_BIN) $(if $(QUICK),--quick) $(if $(STATIC),--results bench/RESULTS-static.md)

# make bench [QUICK=1] [DYNAMIC=1]: each isolab path against util-linux, libcgroup, bubblewrap and
# runc and the bare-syscall floor, interleaved, as ratios; rewrites bench/RESULTS.md. As root.
# Full run <= 5 minutes, QUICK=1 <= 1 minute (after the release build). It measures what
# `make release` builds and `make install` installs (BIN: target/ship, static-pie by default);
# DYNAMIC=1 measures the dynamically linked build and writes bench/RESULTS-dynamic.md.
# Included by the Makefile, which defines CARGO, BIN and `release`; `rootfs` comes from labs/lab.mk.

BENCH_PACKAGES := util-linux cgroup-tools bubblewrap runc hyperfine gcc busybox-static podman
BENCH_C := nsbase nsjoin cgbase cgread

.PHONY: bench

bench: rootfs release
	@scripts/ensure-packages $(BENCH_PACKAGES)
	@$(or $(CARGO),cargo) build --release --quiet -p isolab-bench
	@mkdir -p target/bench
	@for p in $(BENCH_C); do gcc -O2 -Wall -o target/bench/$$p bench/c/$$p.c || exit 1; done
	target/release/isolab-bench --bin $(BIN) $(if $(QUICK),--quick) $(if $(DYNAMIC),--results bench/RESULTS-dynamic.md)

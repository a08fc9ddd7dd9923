# make bench [QUICK=1]: each isolab path against util-linux, libcgroup, bubblewrap and runc and
# the bare-syscall floor, interleaved, as ratios; rewrites bench/RESULTS.md. As root.
# Full run <= 5 minutes, QUICK=1 <= 1 minute (after the release build). Included by the Makefile,
# which defines CARGO; `rootfs` comes from labs/lab.mk.

BENCH_PACKAGES := util-linux cgroup-tools bubblewrap runc hyperfine gcc busybox-static
BENCH_C := nsbase nsjoin cgbase cgread

.PHONY: bench

bench: rootfs
	@scripts/ensure-packages $(BENCH_PACKAGES)
	@$(or $(CARGO),cargo) build --release --quiet -p nsexec -p nsenter-lite -p cgexec-rs -p cgstat -p isolab-bench
	@mkdir -p target/bench
	@for p in $(BENCH_C); do gcc -O2 -Wall -o target/bench/$$p bench/c/$$p.c || exit 1; done
	target/release/isolab-bench $(if $(QUICK),--quick)

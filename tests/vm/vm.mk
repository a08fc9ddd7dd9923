# The test VM (tests/vm/): the layout-dependent kernel tests on a pure cgroup-v2 and a pure v1
# guest kernel, one boot per layout. Included by the Makefile.
.PHONY: test-vm vm-deps vm-shell

# qemu 7.2, busybox-static and the guest kernel (cached in $ISOLAB_VM_CACHE, default
# /var/cache/isolab-vm), idempotent; run-vm does this itself, this target does it ahead of time.
vm-deps:
	@tests/vm/run-vm --prepare

# The guest's tests run the host's release build in place, as `make test-host` does.
test-vm: release
	@ISOLAB_BIN=$(abspath $(BIN)) tests/vm/test-vm

# An interactive shell in a guest: make vm-shell [VM_LAYOUT=v1]; leave with `exit`.
VM_LAYOUT ?= v2
vm-shell: release
	@ISOLAB_BIN=$(abspath $(BIN)) tests/vm/run-vm --interactive --layout $(VM_LAYOUT) --disk --timeout 3600 -- setsid --ctty /bin/bash -i

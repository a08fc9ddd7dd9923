# The labs: the article's experiments, step by step, self-checking (labs/*/README.md).
# Included by the top-level Makefile, which defines `build` and `deps`.
#   make lab        every lab in order, then `N passed, M failed`
#   make lab-03     one lab
#   make rootfs     ./rootfs, a busybox root file system (lab 11, `make demo ROOTFS=rootfs`)
#   make lab-user   every lab as the unprivileged test user (make test-user): what runs
#                   without root passes; each lab that cannot says in one line what it needs

LAB_IDS := $(sort $(shell ls -d labs/[0-9][0-9]-* 2>/dev/null | sed 's|labs/\([0-9][0-9]\)-.*|\1|'))
LAB_BIN := $(CURDIR)/$(or $(BIN),target/debug)

.PHONY: lab lab-user rootfs $(addprefix lab-,$(LAB_IDS))

lab: deps build rootfs
	@PATH="$(LAB_BIN):$$PATH" labs/run-all

$(addprefix lab-,$(LAB_IDS)): lab-%: deps build rootfs
	@PATH="$(LAB_BIN):$$PATH" labs/run-all $*

lab-user: deps build rootfs test-user
	@setpriv --reuid $$(id -u isolab-test) --regid $$(id -g isolab-test) --init-groups \
	  env HOME=/ PATH="$(LAB_BIN):$$PATH" labs/run-all

rootfs:
	@scripts/ensure-packages busybox-static
	@labs/mkrootfs rootfs

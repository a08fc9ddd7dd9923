# The labs: the article's experiments, step by step, self-checking (labs/*/README.md).
# Included by the top-level Makefile, which defines `release`, `BIN` and `deps`.
#   make lab        every lab in order, then `N passed, M failed`
#   make lab-03     one lab
#   make lab-noop   every lab again with stand-ins for the tools that only run the command
#                   (labs/stand-ins): every lab must fail, and the summary names the checks
#                   that caught it
#   make rootfs     ./rootfs, a busybox root file system (lab 11, `make demo ROOTFS=rootfs`)
#   make lab-user   every lab as the unprivileged test user (make test-user): what runs
#                   without root passes; each lab that cannot says in one line what it needs
# Each run goes through labs/no-leftovers: /, /etc and the mounts a lab could leave are compared
# before and after, and a difference fails the run.

LAB_IDS := $(sort $(shell ls -d labs/[0-9][0-9]-* 2>/dev/null | sed 's|labs/\([0-9][0-9]\)-.*|\1|'))
LAB_BIN := $(CURDIR)/$(or $(BIN),target/debug)

.PHONY: lab lab-noop lab-user rootfs $(addprefix lab-,$(LAB_IDS))

lab: deps release rootfs
	@PATH="$(LAB_BIN):$$PATH" labs/no-leftovers labs/run-all

lab-noop: deps rootfs
	@env -u ISOLAB_BIN PATH="$(CURDIR)/labs/stand-ins:$$PATH" labs/no-leftovers labs/run-all --expect-fail

$(addprefix lab-,$(LAB_IDS)): lab-%: deps release rootfs
	@PATH="$(LAB_BIN):$$PATH" labs/no-leftovers labs/run-all $*

lab-user: deps release rootfs test-user
	@setpriv --reuid $$(id -u isolab-test) --regid $$(id -g isolab-test) --init-groups \
	  env HOME=/ PATH="$(LAB_BIN):$$PATH" labs/no-leftovers labs/run-all

rootfs:
	@scripts/ensure-packages busybox-static
	@labs/mkrootfs rootfs

# labs/lib.sh: what every lab's `run` script shares. Source it, then:
#
#   lab_begin TITLE          scratch dir $S (0755), cleanup trap, tools from PATH
#   lab_needs WHAT WHY       as a user who is not root: stop with "CANNOT RUN ... needs ..."
#                            (exit 3) unless WHAT works here: root, userns, subids, cgroups
#   $USERNS, $SUBIDS         nsexec flags for a user (--map-root, --map-auto); empty for root
#   need TOOL...             fail the lab now when a tool is missing or not built yet
#   step TEXT                a heading: what the next commands are about
#   x CMD [ARGS...]          print `+ CMD ARGS`, run it (output shown live and kept in $OUT),
#                            its exit status in $RC; never stops the lab on failure
#   x_bg NAME CMD [ARGS...]  print `+ CMD ARGS &`, start it in the background with its output in
#                            $S/NAME.log, its PID in $BG; killed at exit if still running
#   x_wait NAME PID SECS     wait up to SECS for the background command NAME (PID) to end, print
#                            its log; then $RC is its exit status (`none` if it did not end) and
#                            $OUT its log, so checks read it as they read an `x` command's
#   check STATUS REASON TEST...
#                            about the last command: `PASS: REASON` when it exited STATUS (a
#                            number, or `fail` for any non-zero status) and TEST passes, else
#                            `FAIL: REASON` and why. A check can never pass on a command that
#                            did not do what the lab expects of it, however its output looks.
#   not TEST...              TEST helper: TEST fails
#   has PATTERN              TEST helper: the last command's output contains PATTERN (grep -E)
#   payload                  the last command's output without the tools' --explain lines
#   at_exit CMD              run CMD (a string) when the lab ends, last registered first
#   wait_for SECS TEST...    poll TEST every 50 ms for up to SECS seconds
#   in_range N LO HI         TEST helper: LO <= N <= HI (integers)
#   no_group NAME            TEST helper: no cgroup directory NAME in any hierarchy
#   lab_rootfs DIR           a busybox root file system in DIR (labs/mkrootfs), quietly
#   lab_end                  summary line; exit 0 only when every check passed
#
# Everything a lab makes lives in $S (or in the new namespaces it starts), never on the host's /.
# Binaries come from PATH (labs/lab.mk puts target/debug first); ISOLAB_BIN=DIR goes first.
# ISOLAB_LAB_REPORT=FILE (set by labs/run-all): each failed check, what a lab that cannot run
# needs, and the end of the lab are appended to FILE, one tab-separated line each, for the summary.

set -eu

if [ -n "${ISOLAB_BIN:-}" ]; then
    PATH=$ISOLAB_BIN:$PATH
fi
# The labs pass --explain themselves; an inherited ISOLAB_EXPLAIN=json would garble the output.
unset ISOLAB_EXPLAIN
LABS_DIR=$(cd "$(dirname "$0")/.." && pwd)
LAB_NAME=$(basename "$(cd "$(dirname "$0")" && pwd)")
_passed=0
_failed=0
RC=none
_cleanup=""

# Root needs nothing more. A user gets namespaces through a user namespace of its own (the
# caller as its root, or the user's /etc/subuid range through the setuid helper) and cgroups
# beneath a delegated cgroup-v2 subtree (README "Without root").
#   USERNS   nsexec: a user namespace whose root is the caller (root: none needed)
#   SUBIDS   nsexec: a user namespace mapping the user's /etc/subuid range from 0
#   REMAP    nsexec: the article's remap, 0-65535 -> 100000-165535 (a user: its own range)
#   OUTSIDE  the host uid that root inside a REMAP namespace is
#   JOIN_USERNS  nsenter-lite: the container's user namespace too (a user's rights are there)
if [ "$(id -u)" = 0 ]; then
    USERNS="" SUBIDS="" REMAP="--map-users 0:100000:65536 --map-groups 0:100000:65536" OUTSIDE=100000 JOIN_USERNS=""
else
    USERNS=--map-root SUBIDS=--map-auto REMAP=--map-auto JOIN_USERNS=--user
    OUTSIDE=$(awk -F: -v u="$(id -un)" -v i="$(id -u)" '$1 == u || $1 == i { print $2; exit }' /etc/subuid 2>/dev/null)
fi

lab_begin() {
    echo "=== lab $LAB_NAME: $1"
    trap _lab_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    S=$(mktemp -d "/tmp/isolab-lab-$LAB_NAME.XXXXXX")
    # Mapped users (host uid 100000, uid 1000) must be able to walk into the scratch dir.
    chmod 0755 "$S"
    OUT=$S/.out
    at_exit "rm -rf '$S'"
}

# As a user who is not root, end the lab here (status 3: it cannot run, which labs/run-all counts
# apart from a failure) unless WHAT works, probed with the tools themselves:
#   root     only root can show it (WHY says why)
#   userns   a user namespace of the user's own (nsexec --map-root)
#   subids   the user's /etc/subuid and /etc/subgid range, through the setuid helper (--map-auto)
#   cgroups  groups of the user's own: a delegated cgroup-v2 subtree (cgexec-rs)
lab_needs() {
    [ "$(id -u)" = 0 ] && return 0
    case "$1" in
        root) _why="root: $2" ;;
        userns) _probe=$(nsexec --map-root -- true 2>&1) && return 0 ;;
        subids) _probe=$(nsexec --map-auto -- true 2>&1) && return 0 ;;
        cgroups) _probe=$(cgexec-rs -- true 2>&1) && return 0 ;;
        *) echo "lab_needs: unknown requirement '$1'" >&2; exit 2 ;;
    esac
    [ "$1" = root ] || _why="$2: $(echo "$_probe" | tail -n 1 | sed 's/^[a-z-]*: //')"
    echo "CANNOT RUN as $(id -un): lab $LAB_NAME needs $_why"
    if [ -n "${ISOLAB_LAB_REPORT:-}" ]; then
        printf 'needs\t%s\t%s\n' "$LAB_NAME" "$_why" >>"$ISOLAB_LAB_REPORT"
    fi
    exit 3
}

need() {
    for tool in "$@"; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            echo "FAIL: $tool is not on PATH (build it: cargo build --workspace; or set ISOLAB_BIN)"
            exit 1
        fi
        # The test VM runs what the host just built and checked; a start costs it 0.3 s there.
        if [ -z "${ISOLAB_VM_LAYOUT:-}" ] && "$tool" --version 2>&1 | grep -q "not built yet"; then
            echo "FAIL: $tool is not built yet: this lab waits for it"
            exit 1
        fi
    done
}

step() {
    echo
    echo "## $*"
}

# Quote arguments the way a shell would need them, so the printed line can be pasted.
_quote() {
    _q=""
    for a in "$@"; do
        case "$a" in
            "" | *[!A-Za-z0-9_./:=,+@%^-]*)
                a="'$(printf '%s' "$a" | sed "s/'/'\\\\''/g")'" ;;
        esac
        _q="$_q${_q:+ }$a"
    done
    printf '%s' "$_q"
}

x() {
    echo "+ $(_quote "$@")"
    # stdout and stderr share one pipe, so the kernel steps and the output stay in order.
    { "$@" </dev/null 2>&1 && echo 0 >"$S/.rc" || echo $? >"$S/.rc"; } | tee "$OUT"
    RC=$(cat "$S/.rc")
    if [ "$RC" != 0 ]; then
        echo "(exit status $RC)"
    fi
}

x_bg() {
    _name=$1
    shift
    echo "+ $(_quote "$@") >$_name.log 2>&1 &"
    "$@" </dev/null >"$S/$_name.log" 2>&1 &
    BG=$!
    at_exit "_stop $BG"
}

x_wait() {
    _name=$1
    _pid=$2
    wait_for "$3" _gone "$_pid" || true
    RC=none
    if _gone "$_pid"; then
        wait "$_pid" && RC=0 || RC=$?
    fi
    echo "+ cat $_name.log    # the background command's output; it exited: $RC"
    cat "$S/$_name.log"
    cp "$S/$_name.log" "$OUT"
}

# Stop a background command of ours, by PID: TERM, then KILL if it lingers.
_stop() {
    kill -0 "$1" 2>/dev/null || return 0
    kill -TERM "$1" 2>/dev/null || true
    wait_for 2 _gone "$1" || kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# Gone: no such process, or a zombie waiting for us to reap it.
_gone() {
    ! kill -0 "$1" 2>/dev/null || [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" = Z ]
}

check() {
    _want=$1
    _reason=$2
    shift 2
    case "$_want" in
        fail) _status_ok=$([ "$RC" != 0 ] && [ "$RC" != none ] && echo yes || echo no) ;;
        *[!0-9]* | "") echo "lib.sh: check: STATUS must be a number or fail, not '$_want'" >&2; exit 2 ;;
        *) _status_ok=$([ "$RC" = "$_want" ] && echo yes || echo no) ;;
    esac
    if [ "$_status_ok" = no ]; then
        _fail "$_reason" "exit status $RC, expected $_want"
    elif "$@" >/dev/null 2>&1; then
        echo "PASS: $_reason"
        _passed=$((_passed + 1))
    else
        _fail "$_reason" ""
    fi
}

_fail() {
    echo "FAIL: $1${2:+ ($2)}"
    _failed=$((_failed + 1))
    if [ -n "${ISOLAB_LAB_REPORT:-}" ]; then
        printf 'check\t%s\t%s%s\n' "$LAB_NAME" "$1" "${2:+ ($2)}" >>"$ISOLAB_LAB_REPORT"
    fi
}

not() {
    ! "$@"
}

has() {
    grep -qE -- "$1" "$OUT"
}

payload() {
    grep -vE '^(nsexec|nsenter-lite|cgexec-rs|netexec|idmap|cgstat): ' "$OUT" || true
}

at_exit() {
    _cleanup="$1
$_cleanup"
}

wait_for() {
    _tries=$(($1 * 20))
    shift
    while ! "$@" >/dev/null 2>&1; do
        _tries=$((_tries - 1))
        [ "$_tries" -gt 0 ] || return 1
        sleep 0.05
    done
}

_lab_cleanup() {
    _rc=$?
    set +e
    _ifs=$IFS
    IFS='
'
    set -f
    for _c in $_cleanup; do
        IFS=$_ifs
        eval "$_c" >/dev/null 2>&1
    done
    set +f
    IFS=$_ifs
    exit "$_rc"
}

in_range() {
    [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]
}

no_group() {
    [ -z "$(find /sys/fs/cgroup -maxdepth 8 -type d -name "$1" 2>/dev/null)" ]
}

lab_rootfs() {
    "$LABS_DIR/mkrootfs" "$1" >/dev/null
}

lab_end() {
    echo
    if [ -n "${ISOLAB_LAB_REPORT:-}" ]; then
        printf 'end\t%s\t%s\t%s\n' "$LAB_NAME" "$_passed" "$_failed" >>"$ISOLAB_LAB_REPORT"
    fi
    if [ "$_failed" = 0 ] && [ "$_passed" -gt 0 ]; then
        echo "lab $LAB_NAME: PASS ($_passed checks)"
        exit 0
    fi
    echo "lab $LAB_NAME: FAIL ($_failed of $((_passed + _failed)) checks failed)"
    exit 1
}

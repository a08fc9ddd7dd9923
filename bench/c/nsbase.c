/* nsbase: the bare-syscall floor for creating namespaces, as util-linux unshare -r does it as root.
 * nsbase KINDS CMD...: KINDS are letters of U m p n u i C T (user mount pid net uts ipc cgroup
 * time) and P (fresh /proc). One unshare(KINDS); with U, setgroups deny and "0 0 1" written to its
 * own uid_map and gid_map; fork; the child (PID 1 with p) makes / private and mounts /proc with P,
 * and execs CMD; the parent waits and exits with the child's status. */
#include "floor.h"
#include <sched.h>
#include <sys/mount.h>

int main(int argc, char **argv) {
    static const struct { char letter; int flag; } kinds[] = {
        {'U', CLONE_NEWUSER}, {'m', CLONE_NEWNS}, {'p', CLONE_NEWPID}, {'n', CLONE_NEWNET},
        {'u', CLONE_NEWUTS}, {'i', CLONE_NEWIPC}, {'C', CLONE_NEWCGROUP}, {'T', CLONE_NEWTIME}};
    if (argc < 3) { fprintf(stderr, "usage: nsbase KINDS CMD...\n"); return 125; }
    int flags = 0, i = 2;
    for (const char *c = argv[1]; *c; c++)
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
            if (kinds[k].letter == *c) flags |= kinds[k].flag;
    int user = !!strchr(argv[1], 'U'), proc = !!strchr(argv[1], 'P');
    if (unshare(flags) < 0) die("unshare");
    if (user) {
        put("/proc/self/setgroups", "deny");
        put("/proc/self/uid_map", "0 0 1");
        put("/proc/self/gid_map", "0 0 1");
    }
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        if (proc) {
            if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) die("mount /");
            if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) die("mount /proc");
        }
        execvp(argv[i], argv + i);
        die(argv[i]);
    }
    return wait_child(pid);
}

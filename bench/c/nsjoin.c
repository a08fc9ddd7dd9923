/* nsjoin: the bare-syscall floor for joining namespaces, as nsenter -a does it.
 * nsjoin PID FLAGS CMD...: pidfd_open(PID), one setns(pidfd, FLAGS) (FLAGS: letters of
 * U m p n u i C T), with U become root inside (setgroups, setgid, setuid 0), fork, exec CMD
 * in the child, wait, exit with its status. */
#include "floor.h"
#include <grp.h>
#include <sched.h>
#include <sys/syscall.h>

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: nsjoin PID FLAGS CMD...\n"); return 125; }
    static const struct { char letter; int flag; } kinds[] = {
        {'U', CLONE_NEWUSER}, {'m', CLONE_NEWNS}, {'p', CLONE_NEWPID}, {'n', CLONE_NEWNET},
        {'u', CLONE_NEWUTS}, {'i', CLONE_NEWIPC}, {'C', CLONE_NEWCGROUP}, {'T', CLONE_NEWTIME}};
    int flags = 0;
    for (const char *c = argv[2]; *c; c++)
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
            if (kinds[k].letter == *c) flags |= kinds[k].flag;
    int pidfd = syscall(SYS_pidfd_open, atoi(argv[1]), 0);
    if (pidfd < 0) die("pidfd_open");
    if (setns(pidfd, flags) < 0) die("setns");
    close(pidfd);
    if (flags & CLONE_NEWUSER) {
        setgroups(0, NULL); /* refused where the target's setgroups is "deny": nsenter goes on too */
        if (setgid(0) < 0 || setuid(0) < 0) die("setuid");
    }
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        execvp(argv[3], argv + 3);
        die(argv[3]);
    }
    return wait_child(pid);
}

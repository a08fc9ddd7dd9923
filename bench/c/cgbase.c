/* cgbase: the bare-syscall floor for a cgroup cycle, one process doing what cgexec-rs does.
 * cgbase [-j] ITEM... -- CMD...: ITEM is a group DIR, or DIR/FILE=VALUE to write after the
 * mkdirs. mkdir every DIR, write every limit, fork; the child writes "0" to each DIR/tasks (v1:
 * it moves its one thread, without the kernel's global threadgroup lock and the RCU grace period
 * its first writer waits for), or to DIR/cgroup.procs where there is no tasks file (v2), and
 * execs CMD; the parent waits and removes every DIR. With -j the DIRs exist already: only join
 * and exec (cgexec -g), nothing is made or removed. */
#include "floor.h"
#include <sys/stat.h>

int main(int argc, char **argv) {
    char *dirs[64], path[4096];
    int ndirs = 0, join_only = 0, i = 1;
    if (i < argc && !strcmp(argv[i], "-j")) join_only = 1, i++;
    int first = i;
    for (; i < argc && strcmp(argv[i], "--"); i++)
        if (!strchr(argv[i], '=') && ndirs < 64) dirs[ndirs++] = argv[i];
    if (i + 1 >= argc) { fprintf(stderr, "usage: cgbase [-j] ITEM... -- CMD...\n"); return 125; }
    for (int d = 0; d < ndirs && !join_only; d++)
        if (mkdir(dirs[d], 0755) < 0) die(dirs[d]);
    for (int k = first; k < i; k++) {
        char *eq = strchr(argv[k], '=');
        if (!eq) continue;
        snprintf(path, sizeof path, "%.*s", (int)(eq - argv[k]), argv[k]);
        put(path, eq + 1);
    }
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        for (int d = 0; d < ndirs; d++) {
            snprintf(path, sizeof path, "%s/tasks", dirs[d]);
            int fd = open(path, O_WRONLY | O_CLOEXEC);
            if (fd < 0) {
                snprintf(path, sizeof path, "%s/cgroup.procs", dirs[d]);
                fd = open(path, O_WRONLY | O_CLOEXEC);
            }
            if (fd < 0 || write(fd, "0", 1) != 1) die(path);
            close(fd);
        }
        execvp(argv[i + 1], argv + i + 1);
        die(argv[i + 1]);
    }
    int status = wait_child(pid);
    for (int d = ndirs - 1; d >= 0 && !join_only; d--)
        if (rmdir(dirs[d]) < 0) die(dirs[d]);
    return status;
}

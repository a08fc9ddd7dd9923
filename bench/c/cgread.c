/* cgread: a minimal stats reader, the floor for cgstat.
 * cgread PARENT:FILE,FILE... [-- PARENT:FILE,FILE...]...: each `--`-separated section is one
 * reading, 1 ms after the previous one (cgstat --interval 0.001): /proc/stat, then every FILE
 * (open, read to EOF, close) of every subdirectory of each PARENT. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char buf[65536];

static void slurp(const char *file) {
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    while (read(fd, buf, sizeof buf) > 0) {}
    close(fd);
}

static int read_groups(const char *arg) {
    char spec[4096], list[4096], path[8192];
    snprintf(spec, sizeof spec, "%s", arg);
    char *files = strchr(spec, ':');
    if (!files) return 0;
    *files++ = 0;
    DIR *dir = opendir(spec);
    if (!dir) { perror(spec); return -1; }
    for (struct dirent *e; (e = readdir(dir));) {
        if (e->d_type != DT_DIR || e->d_name[0] == '.') continue;
        snprintf(list, sizeof list, "%s", files);
        for (char *save, *f = strtok_r(list, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
            snprintf(path, sizeof path, "%s/%s/%s", spec, e->d_name, f);
            slurp(path);
        }
    }
    closedir(dir);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: cgread PARENT:FILE,FILE... [-- ...]\n"); return 125; }
    slurp("/proc/stat");
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--")) {
            usleep(1000);
            slurp("/proc/stat");
        } else if (read_groups(argv[a]) < 0) {
            return 125;
        }
    }
    return 0;
}

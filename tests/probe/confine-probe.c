/* What a container may do: one probe per line, `name result`, for tests/tests/confine.rs and
 * the table in README.md ("What a container gets"). Built static at test time (tests/build.rs)
 * so it runs in a busybox root file system and under runc alike.
 *
 * Every probe is read-only or harmless, and every call that could change the system is made
 * with an invalid argument: a call the confinement stops answers EPERM, one that reaches the
 * kernel answers EINVAL, EFAULT, ENODEV or ENOEXEC, and nothing is ever mounted or loaded.
 * The exceptions change only the probe's own container: the host name is written back with
 * its own value (in the container's UTS namespace), a node is made in the container's /dev,
 * and the read-only bind at $PROBE_RO (a scratch directory) may be remounted read-write.
 * Results: "ok" (the call succeeded), an errno name, or a value. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <dirent.h>

static const char *errname(int e)
{
	switch (e) {
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EINVAL: return "EINVAL";
	case EROFS: return "EROFS";
	case ENOSYS: return "ENOSYS";
	case ENODEV: return "ENODEV";
	case ENOEXEC: return "ENOEXEC";
	case EBUSY: return "EBUSY";
	case EBADF: return "EBADF";
	case ENXIO: return "ENXIO";
	case ENOTTY: return "ENOTTY";
	case EAFNOSUPPORT: return "EAFNOSUPPORT";
	default: {
		static char buf[16];
		snprintf(buf, sizeof buf, "E%d", e);
		return buf;
	}
	}
}

static void result(const char *name, long r)
{
	printf("%s %s\n", name, r < 0 ? errname(errno) : "ok");
}

static void status_field(const char *field, const char *name)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");
	size_t n = strlen(field);
	if (!f) {
		printf("%s %s\n", name, errname(errno));
		return;
	}
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, field, n) == 0 && line[n] == ':') {
			char *v = line + n + 1;
			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = 0;
			printf("%s %s\n", name, v);
			fclose(f);
			return;
		}
	}
	fclose(f);
	printf("%s absent\n", name);
}

/* How many bytes the first read of a file gives (masked files read as empty). */
static void read_size(const char *path, const char *name)
{
	char buf[64];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		printf("%s %s\n", name, errname(errno));
		return;
	}
	ssize_t r = read(fd, buf, sizeof buf);
	if (r < 0)
		printf("%s %s\n", name, errname(errno));
	else
		printf("%s %s\n", name, r == 0 ? "empty" : "data");
	close(fd);
}

static void dir_entries(const char *path, const char *name)
{
	DIR *d = opendir(path);
	int n = 0;
	struct dirent *e;
	if (!d) {
		printf("%s %s\n", name, errname(errno));
		return;
	}
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	printf("%s %s\n", name, n ? "entries" : "empty");
}

/* "ro" or "rw": the options of the mount at `point` (the last one listed wins); with `below`,
 * of the cgroup file systems at or under it ("rw" if any is writable), not of a tmpfs holding them. */
static void mount_mode(const char *point, const char *name, int below)
{
	char line[1024], mp[512], opts[256], fstype[64], found[8] = "absent";
	size_t n = strlen(point);
	FILE *f = fopen("/proc/self/mountinfo", "r");
	if (!f) {
		printf("%s %s\n", name, errname(errno));
		return;
	}
	while (fgets(line, sizeof line, f)) {
		char *dash = strstr(line, " - ");
		if (!dash || sscanf(line, "%*s %*s %*s %*s %511s %255s", mp, opts) != 2 || sscanf(dash, " - %63s", fstype) != 1)
			continue;
		if (!below && strcmp(mp, point) == 0)
			snprintf(found, sizeof found, "%.2s", opts);
		if (below && strncmp(mp, point, n) == 0 && (mp[n] == 0 || mp[n] == '/') && strncmp(fstype, "cgroup", 6) == 0
		    && strcmp(found, "rw") != 0)
			snprintf(found, sizeof found, "%.2s", opts);
	}
	fclose(f);
	printf("%s %s\n", name, found);
}

/* Whether any release_agent (which runs a host program as root) is visible under /sys/fs/cgroup. */
static void release_agent(void)
{
	char path[512];
	DIR *d = opendir("/sys/fs/cgroup");
	struct dirent *e;
	char seen[300] = "hidden";
	if (d) {
		while ((e = readdir(d))) {
			snprintf(path, sizeof path, "/sys/fs/cgroup/%s/release_agent", e->d_name);
			if (e->d_name[0] != '.' && access(path, F_OK) == 0 && strcmp(seen, "hidden") == 0)
				snprintf(seen, sizeof seen, "visible (%s)", e->d_name);
		}
		closedir(d);
	}
	printf("release_agent %s\n", seen);
}

static void hostname_write(void)
{
	char name[128];
	int fd = open("/proc/sys/kernel/hostname", O_RDWR | O_CLOEXEC);
	ssize_t n;
	if (fd < 0) {
		printf("proc_sys_write %s\n", errname(errno));
		return;
	}
	n = read(fd, name, sizeof name);
	/* The same value back: a change that changes nothing, in the container's own UTS namespace. */
	if (n > 0 && lseek(fd, 0, SEEK_SET) == 0)
		n = write(fd, name, (size_t)n);
	printf("proc_sys_write %s\n", n < 0 ? errname(errno) : "ok");
	close(fd);
}

static void device_node(void)
{
	/* /dev/kmsg's numbers: opening it write-only needs no capability; not in Docker's allowlist.
	 * Made in $PROBE_DEV (default /dev: the container's own). */
	char node[256];
	const char *dir = getenv("PROBE_DEV");
	snprintf(node, sizeof node, "%s/isolab-probe-kmsg", dir ? dir : "/dev");
	unlink(node);
	if (mknod(node, S_IFCHR | 0600, makedev(1, 11)) < 0) {
		printf("mknod %s\ndevice_open skipped\n", errname(errno));
		return;
	}
	printf("mknod ok\n");
	int fd = open(node, O_WRONLY | O_CLOEXEC);
	printf("device_open %s\n", fd < 0 ? errname(errno) : "ok");
	if (fd >= 0)
		close(fd);
	unlink(node);
}

static void read_only_bind(void)
{
	const char *ro = getenv("PROBE_RO");
	char file[512];
	if (!ro) {
		printf("ro_remount skipped\nro_write skipped\n");
		return;
	}
	snprintf(file, sizeof file, "%s/probe-write", ro);
	/* Read-write with every other flag kept: the kernel refuses to clear a locked nosuid or
	 * nodev too, which would hide whether the read-only flag itself holds. */
	struct statvfs st;
	unsigned long keep = 0;
	if (statvfs(ro, &st) == 0) {
		keep |= st.f_flag & ST_NOSUID ? MS_NOSUID : 0;
		keep |= st.f_flag & ST_NODEV ? MS_NODEV : 0;
		keep |= st.f_flag & ST_NOEXEC ? MS_NOEXEC : 0;
		keep |= st.f_flag & ST_NOATIME ? MS_NOATIME : 0;
		keep |= st.f_flag & ST_NODIRATIME ? MS_NODIRATIME : 0;
		keep |= st.f_flag & ST_RELATIME ? MS_RELATIME : 0;
	}
	result("ro_remount", mount(NULL, ro, NULL, MS_REMOUNT | MS_BIND | keep, NULL));
	int fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	printf("ro_write %s\n", fd < 0 ? errname(errno) : "ok");
	if (fd >= 0) {
		close(fd);
		unlink(file);
	}
}

static void leave(int sig)
{
	(void)sig;
	_exit(0);
}

int main(int argc, char **argv)
{
	/* `probe sleep`: a container's long-running process for a later `nsenter-lite` to join;
	 * SIGTERM ends it (as PID 1 a signal without a handler would be ignored). */
	if (argc > 1 && strcmp(argv[1], "sleep") == 0) {
		signal(SIGTERM, leave);
		for (;;)
			pause();
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* $PROBE_TTY: the terminal on stdin, if any (`-t`: a pty of the container's own devpts). */
	if (getenv("PROBE_TTY")) {
		const char *name = ttyname(0);
		printf("tty %s\n", name ? name : errname(errno));
	}
	status_field("CapEff", "cap_eff");
	status_field("CapPrm", "cap_prm");
	status_field("CapBnd", "cap_bnd");
	status_field("CapInh", "cap_inh");
	status_field("CapAmb", "cap_amb");
	status_field("Seccomp", "seccomp");
	status_field("NoNewPrivs", "no_new_privs");
	/* An unknown file system type: ENODEV once permitted, nothing mounted. */
	result("mount", mount("none", "/", "isolab-no-such-fs", 0, NULL));
	/* CLONE_PARENT is not a flag unshare takes: EINVAL once permitted. */
	result("unshare_user", syscall(SYS_unshare, CLONE_NEWUSER | CLONE_PARENT));
	/* KEYCTL_GET_KEYRING_ID of a special id that does not exist: EINVAL. */
	result("keyctl", syscall(SYS_keyctl, 0, -1000, 0, 0, 0));
	/* A type that is not a readable string: EFAULT. */
	result("add_key", syscall(SYS_add_key, (char *)-1, "x", NULL, 0, 0));
	/* More segments than KEXEC_SEGMENT_MAX and an unknown architecture: EINVAL, nothing loaded. */
	result("kexec_load", syscall(SYS_kexec_load, 0UL, 1000UL, NULL, 0x7f7f0000UL));
	/* An empty image: ENOEXEC (or EFAULT), nothing loaded. */
	result("init_module", syscall(SYS_init_module, NULL, 0UL, ""));
	/* Docker's profile answers ENOSYS so that libc falls back to clone(2). */
	result("clone3", syscall(SYS_clone3, NULL, 0UL));
	hostname_write();
	read_size("/proc/kcore", "proc_kcore");
	read_size("/proc/keys", "proc_keys");
	read_size("/proc/timer_list", "proc_timer_list");
	dir_entries("/sys/firmware", "sys_firmware");
	mount_mode("/sys", "sys_mount", 0);
	mount_mode("/sys/fs/cgroup", "cgroup_mount", 1);
	release_agent();
	device_node();
	if (getenv("PROBE_NODE")) {
		/* A node nsexec --device made: opened write-only, nothing written. */
		int fd = open(getenv("PROBE_NODE"), O_WRONLY | O_CLOEXEC);
		printf("node_open %s\n", fd < 0 ? errname(errno) : "ok");
		if (fd >= 0)
			close(fd);
	}
	read_only_bind();
	return 0;
}

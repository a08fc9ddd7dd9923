//! Device access of a group: Docker's default allowlist, `--device` and `--device-cgroup-rule`.
//! cgroup v1 has the devices controller (devices.deny, devices.allow); cgroup v2 has none, and
//! takes a BPF_PROG_TYPE_CGROUP_DEVICE program attached to the group, as runc does. See
//! Documentation/admin-guide/cgroup-v1/devices.rst, cgroup-v2.rst ("Device controller"), bpf(2).
//!
//! Rules that bite:
//! - A rule gates the use of a device node (open, and mknod with `m`), not its existence: with
//!   Docker's `c *:* m` and `b *:* m`, mknod works and opening the node is refused (EPERM).
//! - v1: a group starts with its parent's list; `a` written to devices.deny empties it, then
//!   each devices.allow line adds one rule (a child can never allow what its parent denies).
//! - v2: every program attached on the way from the group to the root runs (BPF_F_ALLOW_MULTI)
//!   and all must allow; the program lives as long as the group that holds it.
//! - The program sees `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`,
//!   access_type = (access << 16) | type (BPF_DEVCG_DEV_BLOCK 1, _CHAR 2; ACC_MKNOD 1, _READ 2,
//!   _WRITE 4), and returns 1 to allow, 0 to deny.

use std::fmt;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

use crate::trace::{self, Step};

const ACC_MKNOD: u32 = 1;
const ACC_READ: u32 = 2;
const ACC_WRITE: u32 = 4;
const DEV_BLOCK: u32 = 1;
const DEV_CHAR: u32 = 2;

/// `c 1:3 rwm`: a type (`a` all, `b` block, `c` char), numbers (None for `*`) and access bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub kind: char,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// ACC_MKNOD | ACC_READ | ACC_WRITE.
    pub access: u32,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
        write!(f, "{} {}:{} {}", self.kind, num(self.major), num(self.minor), access_string(self.access))
    }
}

fn access_string(a: u32) -> String {
    [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')].iter().filter(|(b, _)| a & b != 0).map(|(_, c)| c).collect()
}

/// `rwm`, each letter at most once (Docker's validDeviceMode).
pub fn parse_access(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 3 {
        return None;
    }
    s.chars().try_fold(0, |acc, c| {
        let bit = match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => return None,
        };
        (acc & bit == 0).then_some(acc | bit)
    })
}

impl Rule {
    const fn chr(major: u32, minor: Option<u32>) -> Rule {
        Rule { kind: 'c', major: Some(major), minor, access: ACC_READ | ACC_WRITE | ACC_MKNOD }
    }

    /// `--device-cgroup-rule 'c 1:3 rwm'` (Docker's syntax: `a|b|c MAJOR|*:MINOR|* [rwm]`).
    pub fn parse(s: &str) -> anyhow::Result<Rule> {
        let bad =
            || anyhow::anyhow!("invalid device rule {s:?} (TYPE MAJOR:MINOR ACCESS, e.g. 'c 1:3 rwm' or 'b 7:* rw')");
        let parts: Vec<&str> = s.split(' ').collect();
        let [kind, numbers, access] = parts.as_slice() else { return Err(bad()) };
        let kind = match *kind {
            "a" | "b" | "c" => kind.chars().next().unwrap_or('a'),
            _ => return Err(bad()),
        };
        let (major, minor) = numbers.split_once(':').ok_or_else(bad)?;
        let number = |n: &str| -> anyhow::Result<Option<u32>> {
            match n {
                "*" => Ok(None),
                n if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(n.parse().map_err(|_| bad())?)),
                _ => Err(bad()),
            }
        };
        let access = parse_access(access).ok_or_else(bad)?;
        Ok(Rule { kind, major: number(major)?, minor: number(minor)?, access })
    }
}

/// Docker's (runc's) default allowlist: mknod of any node; use of null, zero, full, random,
/// urandom, tty, console, ptmx, the pts and tun.
pub const DOCKER_DEFAULT: [Rule; 12] = [
    Rule { kind: 'c', major: None, minor: None, access: ACC_MKNOD },
    Rule { kind: 'b', major: None, minor: None, access: ACC_MKNOD },
    Rule::chr(1, Some(3)),
    Rule::chr(1, Some(5)),
    Rule::chr(1, Some(7)),
    Rule::chr(1, Some(8)),
    Rule::chr(1, Some(9)),
    Rule::chr(5, Some(0)),
    Rule::chr(5, Some(1)),
    Rule::chr(5, Some(2)),
    Rule::chr(136, None),
    Rule::chr(10, Some(200)),
];

/// A group's device policy: every device denied but what `rules` allow (`nodes`, the
/// `--device` nodes, become rules by stat(2) before the group is made).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub rules: Vec<Rule>,
    pub nodes: Vec<DeviceArg>,
}

impl Policy {
    /// Docker's default allowlist plus `--device-cgroup-rule` rules and `--device` nodes.
    pub fn docker(extra: Vec<Rule>, nodes: Vec<DeviceArg>) -> Policy {
        Policy { rules: DOCKER_DEFAULT.iter().copied().chain(extra).collect(), nodes }
    }

    /// Turn the nodes into rules (the host's type and numbers).
    pub fn resolve(&mut self) -> anyhow::Result<()> {
        for node in std::mem::take(&mut self.nodes) {
            self.rules.push(node.rule().map_err(|e| anyhow::anyhow!("--device {}: {e:#}", node.host))?);
        }
        Ok(())
    }

    /// `c *:* m, b *:* m, c 1:3 rwm, ...` for `--explain`.
    pub fn describe(&self) -> String {
        let rules: Vec<String> = self.rules.iter().map(|r| r.to_string()).collect();
        format!("devices: all denied but {}", rules.join(", "))
    }
}

/// cgroup v2 (no devices controller on v1 here): attach the policy's program to the group.
pub fn attach_where_v2(group: &super::Group, policy: &Policy) -> anyhow::Result<()> {
    if group.dir("devices").is_some() {
        return Ok(()); // v1: the plan wrote devices.deny and devices.allow
    }
    let Some(place) = group.places().iter().find(|p| p.v2) else {
        crate::exit::warn("--device: no devices controller and no cgroup v2 here: device access is not restricted");
        return Ok(());
    };
    if !nix::unistd::geteuid().is_root() {
        trace::note("not root: no device program can be attached (device access is not restricted)");
        return Ok(());
    }
    attach_v2(&place.dir, &policy.rules)
}

/// `--device HOST[:CONTAINER][:rwm]` (Docker's parseDevice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceArg {
    pub host: String,
    pub container: String,
    pub access: u32,
}

impl DeviceArg {
    pub fn parse(s: &str) -> anyhow::Result<DeviceArg> {
        let parts: Vec<&str> = s.split(':').collect();
        let (host, mut container, mut access) = (parts[0], None, ACC_READ | ACC_WRITE | ACC_MKNOD);
        match parts.as_slice() {
            [_] => {}
            [_, second] => match parse_access(second) {
                Some(a) => access = a,
                None => container = Some(*second),
            },
            [_, second, third] => {
                container = Some(*second);
                access = parse_access(third)
                    .ok_or_else(|| anyhow::anyhow!("invalid device {s:?}: {third:?} is not a mode (r, w, m)"))?;
            }
            _ => bail!("invalid device {s:?} (HOST[:CONTAINER][:rwm])"),
        }
        let container = container.unwrap_or(host);
        for (what, p) in [("host", host), ("container", container)] {
            if !p.starts_with('/') || p.contains(['\n', '\0']) || p.split('/').any(|c| c == "..") {
                bail!("invalid device {s:?}: the {what} path {p:?} must be absolute, without '..'");
            }
        }
        Ok(DeviceArg { host: host.into(), container: container.into(), access })
    }

    /// The rule that lets the group use the host node (stat(2) for its type and numbers).
    pub fn rule(&self) -> anyhow::Result<Rule> {
        let (kind, major, minor, _) = node(Path::new(&self.host))?;
        Ok(Rule { kind, major: Some(major), minor: Some(minor), access: self.access })
    }

    pub fn access_string(&self) -> String {
        access_string(self.access)
    }
}

/// A device node's type (`b` or `c`), numbers and permission bits; an error if it is none.
pub fn node(path: &Path) -> anyhow::Result<(char, u32, u32, u32)> {
    let st = nix::sys::stat::stat(path).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.desc()))?;
    let kind = match st.st_mode & libc::S_IFMT {
        libc::S_IFCHR => 'c',
        libc::S_IFBLK => 'b',
        _ => bail!("{} is not a device node", path.display()),
    };
    Ok((kind, libc::major(st.st_rdev), libc::minor(st.st_rdev), st.st_mode & 0o7777))
}

/// A host device node of `kind` ('c' or 'b') with these numbers: udev's /dev/char/MAJ:MIN or
/// /dev/block/MAJ:MIN link resolved, else the first node of /dev itself (the tools take device
/// paths, as Docker does; an OCI config gives numbers).
pub fn find_node(kind: char, major: u32, minor: u32) -> Option<PathBuf> {
    let same = |p: &Path| node(p).is_ok_and(|(k, maj, min, _)| (k, maj, min) == (kind, major, minor));
    let dir = if kind == 'b' { "/dev/block" } else { "/dev/char" };
    let linked = std::fs::canonicalize(Path::new(dir).join(format!("{major}:{minor}"))).ok().filter(|p| same(p));
    // Nodes themselves, not links to them (/dev/stdin leads wherever descriptor 0 does).
    linked.or_else(|| {
        let entries = std::fs::read_dir("/dev").ok()?.flatten();
        entries.filter(|e| e.file_type().is_ok_and(|t| !t.is_symlink())).map(|e| e.path()).find(|p| same(p))
    })
}

/// v1: empty the list, then allow each rule.
pub fn v1_writes(rules: &[Rule]) -> Vec<(&'static str, String)> {
    std::iter::once(("devices.deny", "a".to_string()))
        .chain(rules.iter().map(|r| ("devices.allow", r.to_string())))
        .collect()
}

// eBPF opcodes (linux/bpf.h).
const LDX_MEM_W: u8 = 0x61;
const ALU_AND_K: u8 = 0x54;
const ALU_RSH_K: u8 = 0x74;
const ALU_MOV_X: u8 = 0xbc;
const ALU64_MOV_K: u8 = 0xb7;
const JMP_JNE_K: u8 = 0x55;
const JMP_JNE_X: u8 = 0x5d;
const JMP_EXIT: u8 = 0x95;

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

const fn ins(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn { code, dst, src, off, imm }
}

/// The device program for an allowlist (deny what no rule allows), as runc's devicefilter
/// builds it: r2 = type, r3 = access, r4 = major, r5 = minor; one block per rule that jumps
/// to the next rule on any mismatch and returns 1 at its end.
pub fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut p = vec![
        ins(LDX_MEM_W, 2, 1, 0, 0),
        ins(ALU_AND_K, 2, 0, 0, 0xffff),
        ins(LDX_MEM_W, 3, 1, 0, 0),
        ins(ALU_RSH_K, 3, 0, 0, 16),
        ins(LDX_MEM_W, 4, 1, 4, 0),
        ins(LDX_MEM_W, 5, 1, 8, 0),
    ];
    for r in rules {
        let mut block = Vec::new();
        match r.kind {
            'b' => block.push(ins(JMP_JNE_K, 2, 0, 0, DEV_BLOCK as i32)),
            'c' => block.push(ins(JMP_JNE_K, 2, 0, 0, DEV_CHAR as i32)),
            _ => {}
        }
        if r.access != ACC_READ | ACC_WRITE | ACC_MKNOD {
            // Deny unless the access asked for is within the rule's: (access & rule) != access.
            block.push(ins(ALU_MOV_X, 1, 3, 0, 0));
            block.push(ins(ALU_AND_K, 1, 0, 0, r.access as i32));
            block.push(ins(JMP_JNE_X, 1, 3, 0, 0));
        }
        if let Some(m) = r.major {
            block.push(ins(JMP_JNE_K, 4, 0, 0, m as i32));
        }
        if let Some(m) = r.minor {
            block.push(ins(JMP_JNE_K, 5, 0, 0, m as i32));
        }
        block.push(ins(ALU64_MOV_K, 0, 0, 0, 1));
        block.push(ins(JMP_EXIT, 0, 0, 0, 0));
        // Every jump in the block goes to the first instruction after it.
        let len = block.len();
        for (i, b) in block.iter_mut().enumerate() {
            if b.code == JMP_JNE_K || b.code == JMP_JNE_X {
                b.off = (len - i - 1) as i16;
            }
        }
        p.extend(block);
    }
    p.push(ins(ALU64_MOV_K, 0, 0, 0, 0));
    p.push(ins(JMP_EXIT, 0, 0, 0, 0));
    p
}

/// What `program` answers for one access (for tests: the kernel runs the real one).
pub fn allows(rules: &[Rule], kind: char, major: u32, minor: u32, access: u32) -> bool {
    let ty = if kind == 'b' { DEV_BLOCK } else { DEV_CHAR };
    let prog = program(rules);
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    loop {
        let i = prog[pc];
        pc += 1;
        let (d, s) = (i.dst as usize, i.src as usize);
        let jump = |cond: bool| if cond { i.off as usize } else { 0 };
        match i.code {
            LDX_MEM_W => r[d] = u64::from([(access << 16) | ty, major, minor][(i.off / 4) as usize]),
            ALU_AND_K => r[d] = (r[d] as u32 & i.imm as u32) as u64,
            ALU_RSH_K => r[d] = ((r[d] as u32) >> i.imm) as u64,
            ALU_MOV_X => r[d] = r[s] as u32 as u64,
            ALU64_MOV_K => r[d] = i.imm as i64 as u64,
            JMP_JNE_K => pc += jump(r[d] != i.imm as u32 as u64),
            JMP_JNE_X => pc += jump(r[d] != r[s]),
            JMP_EXIT => return r[0] == 1,
            c => panic!("opcode {c:#x}"),
        }
    }
}

const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

fn bpf<T>(cmd: libc::c_int, attr: &T) -> nix::Result<libc::c_long> {
    // SAFETY: attr is the bpf_attr layout for `cmd`, of the size passed; the kernel zero-checks the rest.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *const T, std::mem::size_of::<T>()) };
    nix::errno::Errno::result(r)
}

/// v2: load the allowlist program and attach it to the group directory `dir`.
pub fn attach_v2(dir: &Path, rules: &[Rule]) -> anyhow::Result<()> {
    let prog = program(rules);
    let raw: Vec<u64> = prog
        .iter()
        .map(|i| {
            u64::from(i.code)
                | u64::from(i.dst & 0xf | (i.src & 0xf) << 4) << 8
                | u64::from(i.off as u16) << 16
                | u64::from(i.imm as u32) << 32
        })
        .collect();
    let license = c"Apache";
    let mut name = [0u8; 16];
    name[..11].copy_from_slice(b"isolab_devs");
    let attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: raw.len() as u32,
        insns: raw.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        expected_attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    let step =
        Step::BpfProgLoad { prog_type: "BPF_PROG_TYPE_CGROUP_DEVICE", instructions: raw.len(), license: "Apache" };
    let prog_fd = trace::run(step, || {
        // SAFETY: on success bpf returns a new fd that we own.
        bpf(BPF_PROG_LOAD, &attr).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as i32) })
    })?;
    let group = std::fs::File::open(dir).with_context(|| format!("cannot open {}", dir.display()))?;
    let attach = ProgAttachAttr {
        target_fd: group.as_raw_fd() as u32,
        attach_bpf_fd: prog_fd.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    let step =
        Step::BpfProgAttach { target: dir.to_path_buf(), attach_type: "BPF_CGROUP_DEVICE", flags: "BPF_F_ALLOW_MULTI" };
    // The attachment holds the program: our fd can close.
    trace::run(step, || bpf(BPF_PROG_ATTACH, &attach).map(drop))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_print_like_docker() {
        assert_eq!(Rule::parse("c 1:3 rwm").unwrap(), Rule::chr(1, Some(3)));
        assert_eq!(Rule::parse("b 7:* rw").unwrap().to_string(), "b 7:* rw");
        assert_eq!(Rule::parse("a *:* m").unwrap().to_string(), "a *:* m");
        for bad in ["c 1:3", "x 1:3 r", "c 1 r", "c 1:3 rr", "c 1:3 rwx", "c -1:3 r", "c 1:3  r", ""] {
            assert!(Rule::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            DOCKER_DEFAULT.iter().map(|r| r.to_string()).collect::<Vec<_>>()[..3],
            ["c *:* m", "b *:* m", "c 1:3 rwm"]
        );
    }

    #[test]
    fn device_args_like_docker() {
        let d = DeviceArg::parse("/dev/loop0").unwrap();
        assert_eq!((d.container.as_str(), d.access_string().as_str()), ("/dev/loop0", "rwm"));
        let d = DeviceArg::parse("/dev/loop0:r").unwrap();
        assert_eq!((d.container.as_str(), d.access), ("/dev/loop0", ACC_READ));
        let d = DeviceArg::parse("/dev/loop0:/dev/xvdc").unwrap();
        assert_eq!(d.container, "/dev/xvdc");
        let d = DeviceArg::parse("/dev/loop0:/dev/xvdc:rw").unwrap();
        assert_eq!(d.access, ACC_READ | ACC_WRITE);
        for bad in ["dev/x", "/dev/x:rel", "/dev/x:/dev/y:q", "/a:/b:r:w", "/dev/../etc/x"] {
            assert!(DeviceArg::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_program_allows_what_docker_allows() {
        let d = &DOCKER_DEFAULT;
        assert!(allows(d, 'c', 1, 3, ACC_READ | ACC_WRITE), "/dev/null");
        assert!(allows(d, 'c', 136, 7, ACC_READ), "a pts");
        assert!(allows(d, 'c', 1, 11, ACC_MKNOD), "mknod of kmsg");
        assert!(!allows(d, 'c', 1, 11, ACC_READ), "reading kmsg");
        assert!(allows(d, 'b', 7, 0, ACC_MKNOD));
        assert!(!allows(d, 'b', 7, 0, ACC_READ), "a loop device");
        assert!(!allows(d, 'c', 1, 1, ACC_READ | ACC_MKNOD), "mem: mknod and read at once");
        let ro = [Rule { kind: 'b', major: Some(7), minor: Some(0), access: ACC_READ }];
        assert!(allows(&ro, 'b', 7, 0, ACC_READ));
        assert!(!allows(&ro, 'b', 7, 0, ACC_READ | ACC_WRITE));
        assert!(!allows(&ro, 'c', 7, 0, ACC_READ), "type must match");
        assert!(allows(&[Rule::parse("a *:* rwm").unwrap()], 'b', 8, 0, ACC_WRITE));
        assert_eq!(v1_writes(&ro), [("devices.deny", "a".into()), ("devices.allow", "b 7:0 r".into())]);
        assert_eq!(program(d).len(), 69, "the count README's --explain excerpt shows");
    }

    #[test]
    fn host_nodes_are_found_by_their_numbers() {
        assert_eq!(find_node('c', 1, 3).as_deref(), Some(Path::new("/dev/null")));
        assert_eq!(find_node('b', 1, 3), None, "a block device 1:3 is not /dev/null");
        assert_eq!(find_node('c', 4095, 4095), None);
    }
}

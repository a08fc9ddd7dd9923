//! The compiled program against a direct reading of the rules, on Docker's default profile and
//! on random profiles, through the BPF interpreter (no kernel: the kernel tests load the real
//! thing in tests/tests/confine.rs).

use proptest::prelude::*;

use super::bpf::{run, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};
use super::profile::{Arg, Op, Rule};
use super::*;

const EPERM: Action = Action::Errno(1);
const ENOSYS: Action = Action::Errno(38);

fn ctx(caps: &[&str]) -> Context {
    Context { caps: caps.iter().map(|c| c.to_string()).collect(), kernel: (6, 18), native: "amd64" }
}

fn nr(name: &str) -> u32 {
    lookup(syscalls::X86_64, name).unwrap()
}

fn docker(caps: &[&str]) -> Filter {
    compile(&Profile::parse(DEFAULT_PROFILE).unwrap(), &ctx(caps), "default").unwrap()
}

fn check(f: &Filter, arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    run(&f.program, nr, arch, &args)
}

#[test]
fn docker_default_as_docker_applies_it() {
    let f = docker(&["CAP_CHOWN", "CAP_SETUID"]);
    let x = |name: &str, args: [u64; 6]| check(&f, AUDIT_ARCH_X86_64, nr(name), args);
    assert_eq!(x("read", [0; 6]), Action::Allow.ret());
    assert_eq!(x("execve", [0; 6]), Action::Allow.ret());
    for denied in ["mount", "unshare", "keyctl", "add_key", "kexec_load", "init_module", "bpf", "setns", "umount2"] {
        assert_eq!(x(denied, [0; 6]), EPERM.ret(), "{denied}");
    }
    assert_eq!(x("clone3", [0; 6]), ENOSYS.ret(), "clone3 is ENOSYS so glibc falls back to clone");
    // clone: without CAP_SYS_ADMIN, namespace flags are refused (mask 0x7E020000).
    assert_eq!(x("clone", [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]), Action::Allow.ret());
    assert_eq!(x("clone", [libc::CLONE_NEWUSER as u64, 0, 0, 0, 0, 0]), EPERM.ret());
    // socket: every family but AF_VSOCK (40).
    assert_eq!(x("socket", [libc::AF_INET as u64, 0, 0, 0, 0, 0]), Action::Allow.ret());
    assert_eq!(x("socket", [40, 0, 0, 0, 0, 0]), EPERM.ret());
    assert_eq!(x("socket", [39, 0, 0, 0, 0, 0]), Action::Allow.ret());
    assert_eq!(x("socket", [1 << 32, 0, 0, 0, 0, 0]), Action::Allow.ret(), "64-bit comparison: above 40");
    // personality: only the listed personas.
    assert_eq!(x("personality", [0xffff_ffff, 0, 0, 0, 0, 0]), Action::Allow.ret());
    assert_eq!(x("personality", [0x0040_0000, 0, 0, 0, 0, 0]), EPERM.ret());
    // Above every number the profile names: ENOSYS (runc's stub), not EPERM.
    assert_eq!(check(&f, AUDIT_ARCH_X86_64, 1000, [0; 6]), ENOSYS.ret());
    // i386: its own numbers (read is 3) and only the low 32 bits of arguments.
    assert_eq!(check(&f, AUDIT_ARCH_I386, 3, [0; 6]), Action::Allow.ret());
    assert_eq!(check(&f, AUDIT_ARCH_I386, lookup(syscalls::I386, "mount").unwrap(), [0; 6]), EPERM.ret());
    assert_eq!(
        check(&f, AUDIT_ARCH_I386, lookup(syscalls::I386, "socket").unwrap(), [40 | 1 << 32, 0, 0, 0, 0, 0]),
        EPERM.ret()
    );
    // x32: the x32 bit with x32's numbers.
    assert_eq!(check(&f, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT, [0; 6]), Action::Allow.ret(), "x32 read");
    // Another architecture: the process is killed.
    assert_eq!(check(&f, 0xC000_00B7, 63, [0; 6]), Action::KillProcess.ret(), "aarch64");
    assert_eq!(f.arches, ["x86_64", "x86", "x32"]);
    assert!(f.program.len() < 1024, "{} instructions", f.program.len());
}

#[test]
fn capabilities_open_what_docker_opens() {
    let f = docker(&["CAP_SYS_ADMIN"]);
    let x = |name: &str, args: [u64; 6]| check(&f, AUDIT_ARCH_X86_64, nr(name), args);
    assert_eq!(x("mount", [0; 6]), Action::Allow.ret());
    assert_eq!(x("clone", [libc::CLONE_NEWUSER as u64, 0, 0, 0, 0, 0]), Action::Allow.ret());
    assert_eq!(x("clone3", [0; 6]), Action::Allow.ret());
    assert_eq!(x("init_module", [0; 6]), EPERM.ret(), "needs CAP_SYS_MODULE");
    let f = docker(&["CAP_SYS_MODULE"]);
    assert_eq!(check(&f, AUDIT_ARCH_X86_64, nr("init_module"), [0; 6]), Action::Allow.ret());
}

/// The rules read directly: what the filter should answer.
fn reference(profile: &Profile, ctx: &Context, arch: u32, nr: u32, args: &[u64; 6]) -> Action {
    let (table, base, bits32): (&[(&str, u32)], u32, bool) = match arch {
        AUDIT_ARCH_X86_64 if nr & X32_SYSCALL_BIT == 0 => (syscalls::X86_64, 0, false),
        AUDIT_ARCH_X86_64 => (syscalls::X32, X32_SYSCALL_BIT, false),
        AUDIT_ARCH_I386 => (syscalls::I386, 0, true),
        _ => return Action::KillProcess,
    };
    let arches = resolve::architectures(profile, "SCMP_ARCH_X86_64");
    let abi = match (arch, base) {
        (AUDIT_ARCH_I386, _) => "SCMP_ARCH_X86",
        (_, 0) => "SCMP_ARCH_X86_64",
        _ => "SCMP_ARCH_X32",
    };
    if !arches.iter().any(|a| a == abi) {
        return Action::KillProcess;
    }
    let rules = resolve::applicable(profile, ctx);
    let number = |name: &String| lookup(table, name).map(|n| n | base);
    let max = rules.iter().flat_map(|r| r.names.iter().filter_map(number)).max();
    let stub = !matches!(profile.default_action, Action::Allow | Action::Errno(38));
    if stub && max.is_some_and(|m| nr > m) {
        return ENOSYS;
    }
    let mine: Vec<&&Rule> = rules
        .iter()
        .filter(|r| r.action != profile.default_action && r.names.iter().any(|n| number(n) == Some(nr)))
        .collect();
    let holds = |a: &Arg| {
        let (v, x) = if bits32 {
            (a.value as u32 as u64, args[a.index as usize] as u32 as u64)
        } else {
            (a.value, args[a.index as usize])
        };
        let d = if bits32 { a.value_two as u32 as u64 } else { a.value_two };
        a.op.test(x, v, d)
    };
    for r in mine.iter().filter(|r| !r.args.is_empty()) {
        let repeated = (0..6).any(|i| r.args.iter().filter(|a| a.index == i).count() > 1);
        let hit = if repeated { r.args.iter().any(holds) } else { r.args.iter().all(holds) };
        if hit {
            return r.action;
        }
    }
    mine.iter().find(|r| r.args.is_empty()).map_or(profile.default_action, |r| r.action)
}

#[test]
fn the_default_profile_matches_the_reference_on_every_call() {
    let profile = Profile::parse(DEFAULT_PROFILE).unwrap();
    for caps in [&[][..], &["CAP_SYS_ADMIN"], &["CAP_SYS_PTRACE", "CAP_SYS_NICE"]] {
        let c = ctx(caps);
        let f = compile(&profile, &c, "default").unwrap();
        for arch in [AUDIT_ARCH_X86_64, AUDIT_ARCH_I386] {
            for nr in (0..600).chain(X32_SYSCALL_BIT..X32_SYSCALL_BIT + 600) {
                for args in [[0u64; 6], [40, 0, 0, 0, 0, 0], [0x7E02_0000, 1, 0, 0, 0, 0], [0xffff_ffff, 8, 0, 0, 0, 0]]
                {
                    let want = reference(&profile, &c, arch, nr, &args).ret();
                    assert_eq!(
                        run(&f.program, nr, arch, &args),
                        want,
                        "caps {caps:?} arch {arch:#x} nr {nr} args {args:?}"
                    );
                }
            }
        }
    }
}

const NAMES: [&str; 8] = ["read", "write", "open", "close", "mount", "socket", "personality", "clone"];

fn arb_action() -> impl Strategy<Value = Action> {
    prop_oneof![
        Just(Action::Allow),
        (1u16..50).prop_map(Action::Errno),
        Just(Action::KillProcess),
        Just(Action::Trap),
        Just(Action::Log)
    ]
}

fn arb_arg() -> impl Strategy<Value = Arg> {
    let values = prop_oneof![0u64..4, Just(u32::MAX as u64), Just(1u64 << 32), Just(u64::MAX), any::<u64>()];
    let ops = prop_oneof![
        Just(Op::Ne),
        Just(Op::Lt),
        Just(Op::Le),
        Just(Op::Eq),
        Just(Op::Ge),
        Just(Op::Gt),
        Just(Op::MaskedEq)
    ];
    (0u8..3, values.clone(), values, ops).prop_map(|(index, value, value_two, op)| Arg { index, value, value_two, op })
}

fn arb_rule() -> impl Strategy<Value = Rule> {
    (proptest::sample::subsequence(NAMES.to_vec(), 1..3), arb_action(), proptest::collection::vec(arb_arg(), 0..3))
        .prop_map(|(names, action, args)| Rule {
            names: names.into_iter().map(String::from).collect(),
            action,
            args,
            includes: Default::default(),
            excludes: Default::default(),
        })
}

fn arb_profile() -> impl Strategy<Value = Profile> {
    let arches = prop_oneof![
        Just(vec![]),
        Just(vec!["SCMP_ARCH_X86_64".to_string()]),
        Just(vec!["SCMP_ARCH_X86_64".to_string(), "SCMP_ARCH_X86".to_string(), "SCMP_ARCH_X32".to_string()]),
    ];
    (arb_action(), arches, proptest::collection::vec(arb_rule(), 0..12)).prop_map(
        |(default_action, architectures, rules)| Profile {
            default_action,
            arch_map: vec![],
            architectures,
            flags: 0,
            rules,
        },
    )
}

fn arb_args() -> impl Strategy<Value = [u64; 6]> {
    let v = prop_oneof![0u64..4, Just(u32::MAX as u64), Just(1u64 << 32), Just(u64::MAX), any::<u64>()];
    proptest::array::uniform6(v)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    #[test]
    fn random_profiles_compile_to_what_the_rules_say(profile in arb_profile(), args in arb_args(), pick in 0usize..12) {
        let c = ctx(&[]);
        let f = compile(&profile, &c, "random").unwrap();
        let (arch, number) = match pick % 3 {
            0 => (AUDIT_ARCH_X86_64, lookup(syscalls::X86_64, NAMES[pick % NAMES.len()]).unwrap()),
            1 => (AUDIT_ARCH_I386, lookup(syscalls::I386, NAMES[pick % NAMES.len()]).unwrap()),
            _ => (AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | lookup(syscalls::X32, NAMES[pick % NAMES.len()]).unwrap()),
        };
        for nr in [number, number + 1, 0, 999] {
            let nr = if nr == 999 || nr == 0 { nr | (number & X32_SYSCALL_BIT) } else { nr };
            prop_assert_eq!(run(&f.program, nr, arch, &args), reference(&profile, &c, arch, nr, &args).ret(), "nr {}", nr);
        }
    }
}

#[test]
fn a_profile_file_is_read_and_a_bad_one_named() {
    let dir = std::env::temp_dir().join(format!("isolab-seccomp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.json");
    std::fs::write(
        &good,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let f = filter_from_file(&good, &[]).unwrap();
    assert_eq!(run(&f.program, nr("mkdir"), AUDIT_ARCH_X86_64, &[0; 6]), EPERM.ret());
    assert_eq!(
        run(&f.program, 1000, AUDIT_ARCH_X86_64, &[0; 6]),
        Action::Allow.ret(),
        "no stub when the default allows"
    );
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"]}]}"#).unwrap();
    let e = format!("{:#}", filter_from_file(&bad, &[]).unwrap_err());
    assert!(e.contains("bad.json") && e.contains("syscalls[0].action: missing"), "{e}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn syscall_tables_are_sorted_and_unique() {
    for table in [syscalls::X86_64, syscalls::I386, syscalls::X32] {
        assert!(table.windows(2).all(|w| w[0].0 < w[1].0), "sorted by name, no duplicates");
    }
    assert_eq!(lookup(syscalls::X86_64, "read"), Some(0));
    assert_eq!(lookup(syscalls::I386, "read"), Some(3));
    assert_eq!(lookup(syscalls::X32, "rt_sigaction"), Some(512));
    assert_eq!(lookup(syscalls::X86_64, "mseal"), Some(462));
}

#[test]
fn the_precompiled_default_filter_is_current() {
    // default_filter.rs is this compile, written out: regenerate it with
    // ISOLAB_REGENERATE=1 cargo test -p isolab-core --lib precompiled
    let profile = Profile::parse(DEFAULT_PROFILE).unwrap();
    let docker: Vec<String> = crate::capabilities::DOCKER_DEFAULT.iter().map(|c| c.to_string()).collect();
    let ctx = Context { caps: docker, kernel: precompiled::KERNEL_FLOOR, native: "amd64" };
    let fresh = compile(&profile, &ctx, "Docker's default profile").unwrap();
    let text = precompiled::render(&fresh);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/seccomp/default_filter.rs");
    if std::env::var_os("ISOLAB_REGENERATE").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "stale: ISOLAB_REGENERATE=1 cargo test -p isolab-core --lib precompiled"
    );
    assert_eq!(precompiled::filter(), fresh);
    // The kernel floor decides nothing in this profile: every minKernel is below it.
    assert!(profile
        .rules
        .iter()
        .flat_map(|r| [r.includes.min_kernel, r.excludes.min_kernel])
        .flatten()
        .all(|k| k <= precompiled::KERNEL_FLOOR));
}

// Issue 20: what `isolab-oci features` says the filter supports is what the parser and compiler take.
#[test]
fn the_advertised_actions_operators_arches_and_flags_compile() {
    for action in ACTIONS {
        let text =
            format!(r#"{{"defaultAction":"{action}","syscalls":[{{"names":["getpid"],"action":"SCMP_ACT_ALLOW"}}]}}"#);
        let p = Profile::parse(&text).unwrap_or_else(|e| panic!("{action}: {e:#}"));
        compile(&p, &ctx(&[]), action).unwrap();
    }
    for op in OPERATORS {
        let text = format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{{"index":0,"value":8,"op":"{op}"}}]}}]}}"#
        );
        compile(&Profile::parse(&text).unwrap_or_else(|e| panic!("{op}: {e:#}")), &ctx(&[]), op).unwrap();
    }
    let text = format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW","architectures":{:?},"flags":{:?},"syscalls":[]}}"#,
        ARCHES, FLAGS
    );
    let f = compile(&Profile::parse(&text).unwrap(), &ctx(&[]), "all").unwrap();
    assert_eq!(f.arches.len(), ARCHES.len(), "{:?}", f.arches);
}

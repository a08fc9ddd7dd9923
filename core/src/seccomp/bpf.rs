//! The classic-BPF program a seccomp filter is: an emitter with labels and an assembler that
//! resolves them. See seccomp(2) ("Filters"), Documentation/userspace-api/seccomp_filter.rst.
//!
//! Rules that bite:
//! - A program sees `struct seccomp_data { int nr; u32 arch; u64 ip; u64 args[6]; }` and may
//!   only load 32-bit words of it: a 64-bit argument is compared as its high then low word.
//! - Check `arch` first: the same number means another call on another ABI (x86_64 read is 0,
//!   i386's 0 is restart_syscall). x32 shares x86_64's AUDIT_ARCH and sets bit 30 of `nr`.
//! - Jumps go forward only; a conditional jump reaches at most 255 instructions (longer ones go
//!   through an unconditional `ja`); a program has at most 4096 instructions (BPF_MAXINSNS).
//! - A 32-bit ABI's system calls see only the low 32 bits of each argument (libseccomp compares
//!   only those on 32-bit architectures, and so does this emitter).
//!
//! Shape of the program: load `arch`, jump to its section (else the bad-architecture action);
//! in a section load `nr`, return ENOSYS above the highest call the profile names (runc's
//! stub, so that a libc probing a newer call falls back instead of seeing EPERM), then a
//! binary search over ranges of numbers that share one outcome: a few comparisons per system
//! call where libseccomp's default is a linear chain.

use std::collections::BTreeMap;

use super::profile::{Action, Arg, Op};

pub const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// The kernel's limit on a classic BPF program's length.
pub const BPF_MAXINSNS: usize = 4096;

// Opcodes (linux/bpf_common.h).
const LD_W_ABS: u16 = 0x20;
const ALU_AND_K: u16 = 0x54;
const JMP_JA: u16 = 0x05;
const JMP_JEQ_K: u16 = 0x15;
const JMP_JGT_K: u16 = 0x25;
const JMP_JGE_K: u16 = 0x35;
const JMP_JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;

// Offsets in struct seccomp_data.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARGS: u32 = 16;

/// One instruction as the kernel takes it (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// The rules for one system call number: conditional groups first, in the profile's order
/// (the first whose conditions all hold decides), then the unconditional action, else the
/// default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Call {
    pub groups: Vec<(Vec<Arg>, Action)>,
    pub unconditional: Option<Action>,
}

/// One ABI's part of a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: &'static str,
    /// The smallest `nr` this section can see (0x40000000 for x32).
    pub base: u32,
    pub bits32: bool,
    pub calls: BTreeMap<u32, Call>,
    /// Numbers above this get ENOSYS (None: no stub, numbers above fall to the default).
    pub enosys_above: Option<u32>,
}

/// Everything the emitter needs.
#[derive(Debug, Clone)]
pub struct Spec {
    pub default: Action,
    pub bad_arch: Action,
    pub x86_64: Option<Section>,
    pub x32: Option<Section>,
    pub i386: Option<Section>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Label(usize);

#[derive(Debug, Clone, Copy)]
enum Ins {
    Ld(u32),
    And(u32),
    Jmp { code: u16, k: u32, t: Label, f: Label },
    Ja(Label),
    Ret(u32),
    Here(Label),
}

#[derive(Default)]
struct Asm {
    ins: Vec<Ins>,
    labels: usize,
}

impl Asm {
    fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }
    fn here(&mut self, l: Label) {
        self.ins.push(Ins::Here(l));
    }
    fn push(&mut self, i: Ins) {
        self.ins.push(i);
    }
    fn jmp(&mut self, code: u16, k: u32, t: Label, f: Label) {
        self.ins.push(Ins::Jmp { code, k, t, f });
    }
    fn ret(&mut self, a: Action) {
        self.ins.push(Ins::Ret(a.ret()));
    }

    /// Resolve labels. A conditional jump whose target is beyond 255 instructions becomes
    /// `jcc k, 0, 1; ja t; ja f`; lengths only grow, so the loop ends.
    fn assemble(&self) -> anyhow::Result<Vec<Insn>> {
        let mut long = vec![false; self.ins.len()];
        loop {
            let (pos, at) = self.layout(&long);
            let mut changed = false;
            for (i, ins) in self.ins.iter().enumerate() {
                if let Ins::Jmp { t, f, .. } = ins {
                    let far = |l: &Label| at[l.0] - (pos[i] + 1) > 255;
                    if !long[i] && (far(t) || far(f)) {
                        long[i] = true;
                        changed = true;
                    }
                }
            }
            if changed {
                continue;
            }
            let mut out = Vec::with_capacity(pos.last().copied().unwrap_or(0));
            for (i, ins) in self.ins.iter().enumerate() {
                let off = |l: Label, from: usize| -> u32 {
                    let d = at[l.0] as i64 - from as i64;
                    assert!(d >= 0, "backward jump in a seccomp program");
                    d as u32
                };
                match *ins {
                    Ins::Ld(k) => out.push(Insn { code: LD_W_ABS, jt: 0, jf: 0, k }),
                    Ins::And(k) => out.push(Insn { code: ALU_AND_K, jt: 0, jf: 0, k }),
                    Ins::Ret(k) => out.push(Insn { code: RET_K, jt: 0, jf: 0, k }),
                    Ins::Ja(l) => out.push(Insn { code: JMP_JA, jt: 0, jf: 0, k: off(l, pos[i] + 1) }),
                    Ins::Jmp { code, k, t, f } if long[i] => {
                        out.push(Insn { code, jt: 0, jf: 1, k });
                        out.push(Insn { code: JMP_JA, jt: 0, jf: 0, k: off(t, pos[i] + 2) });
                        out.push(Insn { code: JMP_JA, jt: 0, jf: 0, k: off(f, pos[i] + 3) });
                    }
                    Ins::Jmp { code, k, t, f } => {
                        out.push(Insn { code, jt: off(t, pos[i] + 1) as u8, jf: off(f, pos[i] + 1) as u8, k })
                    }
                    Ins::Here(_) => {}
                }
            }
            if out.len() > BPF_MAXINSNS {
                anyhow::bail!(
                    "the profile compiles to {} BPF instructions, more than the kernel's {BPF_MAXINSNS}",
                    out.len()
                );
            }
            return Ok(out);
        }
    }

    /// Each instruction's position and each label's address for the given long-jump choices.
    fn layout(&self, long: &[bool]) -> (Vec<usize>, Vec<usize>) {
        let mut pos = Vec::with_capacity(self.ins.len() + 1);
        let mut at = vec![0; self.labels];
        let mut n = 0;
        for (i, ins) in self.ins.iter().enumerate() {
            pos.push(n);
            n += match ins {
                Ins::Here(l) => {
                    at[l.0] = n;
                    0
                }
                Ins::Jmp { .. } if long[i] => 3,
                _ => 1,
            };
        }
        pos.push(n);
        (pos, at)
    }
}

/// Compile `spec` into a program.
pub fn emit(spec: &Spec) -> anyhow::Result<Vec<Insn>> {
    let mut a = Asm::default();
    let bad = a.label();
    let (l64, l386) = (a.label(), a.label());
    a.push(Ins::Ld(OFF_ARCH));
    let after_64 = a.label();
    if spec.x86_64.is_some() || spec.x32.is_some() {
        a.jmp(JMP_JEQ_K, AUDIT_ARCH_X86_64, l64, after_64);
    } else {
        a.push(Ins::Ja(after_64));
    }
    a.here(after_64);
    if spec.i386.is_some() {
        a.jmp(JMP_JEQ_K, AUDIT_ARCH_I386, l386, bad);
    } else {
        a.push(Ins::Ja(bad));
    }
    a.here(bad);
    a.ret(spec.bad_arch);
    if spec.x86_64.is_some() || spec.x32.is_some() {
        a.here(l64);
        a.push(Ins::Ld(OFF_NR));
        let (native, x32) = (a.label(), a.label());
        a.jmp(JMP_JSET_K, X32_SYSCALL_BIT, x32, native);
        a.here(native);
        match &spec.x86_64 {
            Some(s) => section(&mut a, s, spec.default),
            None => a.ret(spec.bad_arch),
        }
        a.here(x32);
        match &spec.x32 {
            Some(s) => section(&mut a, s, spec.default),
            None => a.ret(spec.bad_arch),
        }
    }
    if let Some(s) = &spec.i386 {
        a.here(l386);
        a.push(Ins::Ld(OFF_NR));
        section(&mut a, s, spec.default);
    }
    a.assemble()
}

/// What one range of numbers leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ret(Action),
    Call(u32),
}

/// A section's body; `nr` is in A on entry.
fn section(a: &mut Asm, s: &Section, default: Action) {
    if let Some(max) = s.enosys_above {
        let (enosys, body) = (a.label(), a.label());
        a.jmp(JMP_JGT_K, max, enosys, body);
        a.here(enosys);
        a.ret(Action::Errno(libc::ENOSYS as u16));
        a.here(body);
    }
    let ranges = ranges(s, default);
    tree(a, s, &ranges, default);
}

/// The numbers from `s.base` up as (first number, outcome) ranges, neighbours with one plain
/// outcome merged.
fn ranges(s: &Section, default: Action) -> Vec<(u32, Outcome)> {
    let mut out: Vec<(u32, Outcome)> = vec![(s.base, Outcome::Ret(default))];
    for (&nr, call) in &s.calls {
        let outcome = match (call.groups.is_empty(), call.unconditional) {
            (true, Some(a)) => Outcome::Ret(a),
            (true, None) => Outcome::Ret(default),
            (false, _) => Outcome::Call(nr),
        };
        let last = out.last_mut().expect("non-empty");
        if last.0 == nr {
            last.1 = outcome;
        } else {
            out.push((nr, outcome));
        }
        if nr < u32::MAX {
            out.push((nr + 1, Outcome::Ret(default)));
        }
    }
    let mut merged: Vec<(u32, Outcome)> = Vec::with_capacity(out.len());
    for r in out {
        match merged.last() {
            Some(prev) if prev.1 == r.1 && matches!(r.1, Outcome::Ret(_)) => {}
            _ => merged.push(r),
        }
    }
    merged
}

/// A binary search over `ranges` (A holds nr and lies in the first range's start or above).
fn tree(a: &mut Asm, s: &Section, ranges: &[(u32, Outcome)], default: Action) {
    if let [(_, outcome)] = ranges {
        match *outcome {
            Outcome::Ret(act) => a.ret(act),
            Outcome::Call(nr) => call(a, s, &s.calls[&nr], default),
        }
        return;
    }
    let mid = ranges.len() / 2;
    let (left, right) = (a.label(), a.label());
    a.jmp(JMP_JGE_K, ranges[mid].0, right, left);
    a.here(left);
    tree(a, s, &ranges[..mid], default);
    a.here(right);
    tree(a, s, &ranges[mid..], default);
}

/// The conditional rules of one number, then its unconditional action or the default.
fn call(a: &mut Asm, s: &Section, c: &Call, default: Action) {
    for (args, action) in &c.groups {
        let next = a.label();
        for arg in args {
            let pass = a.label();
            condition(a, arg, s.bits32, pass, next);
            a.here(pass);
        }
        a.ret(*action);
        a.here(next);
    }
    a.ret(c.unconditional.unwrap_or(default));
}

/// Jump to `pass` when `arg` holds, else to `fail`.
fn condition(a: &mut Asm, arg: &Arg, bits32: bool, pass: Label, fail: Label) {
    let lo_off = OFF_ARGS + 8 * u32::from(arg.index);
    let hi_off = lo_off + 4;
    let (v_hi, v_lo) = ((arg.value >> 32) as u32, arg.value as u32);
    let (d_hi, d_lo) = ((arg.value_two >> 32) as u32, arg.value_two as u32);
    // The low word alone: the last comparison of every operator.
    let low = |a: &mut Asm| {
        a.push(Ins::Ld(lo_off));
        match arg.op {
            Op::Eq => a.jmp(JMP_JEQ_K, v_lo, pass, fail),
            Op::Ne => a.jmp(JMP_JEQ_K, v_lo, fail, pass),
            Op::Gt => a.jmp(JMP_JGT_K, v_lo, pass, fail),
            Op::Ge => a.jmp(JMP_JGE_K, v_lo, pass, fail),
            Op::Lt => a.jmp(JMP_JGE_K, v_lo, fail, pass),
            Op::Le => a.jmp(JMP_JGT_K, v_lo, fail, pass),
            Op::MaskedEq => {
                a.push(Ins::And(v_lo));
                a.jmp(JMP_JEQ_K, d_lo, pass, fail)
            }
        }
    };
    if bits32 {
        return low(a);
    }
    let check_low = a.label();
    a.push(Ins::Ld(hi_off));
    match arg.op {
        Op::Eq => a.jmp(JMP_JEQ_K, v_hi, check_low, fail),
        Op::Ne => a.jmp(JMP_JEQ_K, v_hi, check_low, pass),
        Op::Gt | Op::Ge => {
            let eq = a.label();
            a.jmp(JMP_JGT_K, v_hi, pass, eq);
            a.here(eq);
            a.jmp(JMP_JEQ_K, v_hi, check_low, fail);
        }
        Op::Lt | Op::Le => {
            let eq = a.label();
            a.jmp(JMP_JGT_K, v_hi, fail, eq);
            a.here(eq);
            a.jmp(JMP_JEQ_K, v_hi, check_low, pass);
        }
        Op::MaskedEq => {
            a.push(Ins::And(v_hi));
            a.jmp(JMP_JEQ_K, d_hi, check_low, fail);
        }
    }
    a.here(check_low);
    low(a);
}

/// Run a program on one `seccomp_data`, as the kernel would (for tests and `--explain` checks).
pub fn run(prog: &[Insn], nr: u32, arch: u32, args: &[u64; 6]) -> u32 {
    let word = |off: u32| -> u32 {
        match off {
            OFF_NR => nr,
            OFF_ARCH => arch,
            o if (OFF_ARGS..OFF_ARGS + 48).contains(&o) && o % 4 == 0 => {
                let i = ((o - OFF_ARGS) / 8) as usize;
                if (o - OFF_ARGS) % 8 == 0 {
                    args[i] as u32
                } else {
                    (args[i] >> 32) as u32
                }
            }
            o => panic!("load of seccomp_data offset {o}"),
        }
    };
    let (mut pc, mut acc) = (0usize, 0u32);
    loop {
        let i = prog[pc];
        pc += 1;
        let jump = |cond: bool| if cond { i.jt as usize } else { i.jf as usize };
        match i.code {
            LD_W_ABS => acc = word(i.k),
            ALU_AND_K => acc &= i.k,
            RET_K => return i.k,
            JMP_JA => pc += i.k as usize,
            JMP_JEQ_K => pc += jump(acc == i.k),
            JMP_JGT_K => pc += jump(acc > i.k),
            JMP_JGE_K => pc += jump(acc >= i.k),
            JMP_JSET_K => pc += jump(acc & i.k != 0),
            c => panic!("unknown opcode {c:#x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(calls: &[(u32, Call)], enosys: Option<u32>) -> Spec {
        Spec {
            default: Action::Errno(1),
            bad_arch: Action::KillProcess,
            x86_64: Some(Section {
                name: "x86_64",
                base: 0,
                bits32: false,
                calls: calls.iter().cloned().collect(),
                enosys_above: enosys,
            }),
            x32: None,
            i386: None,
        }
    }

    #[test]
    fn ranges_merge_neighbours() {
        let allow = Call { groups: vec![], unconditional: Some(Action::Allow) };
        let spec = one(&[(0, allow.clone()), (1, allow.clone()), (2, allow.clone()), (5, allow)], None);
        let r = ranges(spec.x86_64.as_ref().unwrap(), Action::Errno(1));
        assert_eq!(
            r,
            vec![
                (0, Outcome::Ret(Action::Allow)),
                (3, Outcome::Ret(Action::Errno(1))),
                (5, Outcome::Ret(Action::Allow)),
                (6, Outcome::Ret(Action::Errno(1)))
            ]
        );
    }

    #[test]
    fn long_jumps_are_relaxed() {
        // Many conditional calls make the top of the search tree jump far.
        let calls: Vec<(u32, Call)> = (0..400)
            .map(|nr| {
                let arg = Arg { index: 0, value: nr as u64, value_two: 0, op: Op::Eq };
                (nr * 2, Call { groups: vec![(vec![arg], Action::Allow)], unconditional: None })
            })
            .collect();
        let prog = emit(&one(&calls, Some(900))).unwrap();
        assert!(prog.len() > 255 * 2);
        for nr in [0u32, 2, 398, 798] {
            let mut args = [u64::MAX; 6];
            assert_eq!(run(&prog, nr, AUDIT_ARCH_X86_64, &args), Action::Errno(1).ret(), "nr {nr} other arg");
            args[0] = (nr / 2) as u64;
            assert_eq!(run(&prog, nr, AUDIT_ARCH_X86_64, &args), Action::Allow.ret(), "nr {nr}");
        }
        assert_eq!(run(&prog, 901, AUDIT_ARCH_X86_64, &[0; 6]), Action::Errno(38).ret());
        assert_eq!(run(&prog, 1, AUDIT_ARCH_I386, &[0; 6]), Action::KillProcess.ret());
        assert_eq!(run(&prog, X32_SYSCALL_BIT | 1, AUDIT_ARCH_X86_64, &[0; 6]), Action::KillProcess.ret());
    }
}

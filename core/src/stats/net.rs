//! NET I/O of a group: the byte counters of a member process's network namespace.
//! See proc(5) (/proc/PID/net/dev) and network_namespaces(7).
//!
//! - /proc/PID/net/dev lists the interfaces of PID's network namespace, not the reader's, so
//!   no setns is needed (and none could be done in a threaded reader anyway).
//! - `lo` is left out: Docker counts the interfaces libnetwork placed in the sandbox, and
//!   loopback is never one of them.
//! - A namespace is identified by the inode of /proc/PID/ns/net. A group whose member shares
//!   cgstat's own namespace would show the host's traffic, so it prints `--`, as does a group
//!   with no process; `--json` says which.
//! - Groups often share one namespace; within a sample each namespace is read once.

use std::collections::HashMap;

use crate::ns;

/// What NET I/O is for one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net {
    /// Bytes received and sent over the non-loopback interfaces of the group's own namespace.
    Private { rx: u64, tx: u64 },
    /// The member shares cgstat's network namespace: its counters are the host's.
    Host,
    /// The group has no process to look through.
    NoProcess,
    /// The member's namespace could not be read (it exited between listing and reading).
    Unreadable,
}

impl Net {
    /// The `net_namespace` value of `--json`.
    pub fn label(&self) -> &'static str {
        match self {
            Net::Private { .. } => "private",
            Net::Host => "host",
            Net::NoProcess => "no-process",
            Net::Unreadable => "unreadable",
        }
    }

    pub fn bytes(&self) -> Option<(u64, u64)> {
        match *self {
            Net::Private { rx, tx } => Some((rx, tx)),
            _ => None,
        }
    }
}

/// Sum received and transmitted bytes over the interfaces of /proc/net/dev, `lo` excluded.
pub fn parse_net_dev(text: &str) -> Option<(u64, u64)> {
    Some(sum(&parse_net_dev_interfaces(text)?))
}

/// Bytes received and sent per interface, `lo` excluded, in the file's order.
pub type InterfaceBytes = Vec<(String, u64, u64)>;

/// [`parse_net_dev`] per interface.
pub fn parse_net_dev_interfaces(text: &str) -> Option<InterfaceBytes> {
    let mut interfaces = Vec::new();
    // Two header lines, then `  name: rx_bytes packets errs drop fifo frame compressed multicast tx_bytes ...`.
    for line in text.lines().skip(2) {
        let (name, counters) = line.split_once(':')?;
        if name.trim() == "lo" {
            continue;
        }
        let fields: Vec<&str> = counters.split_whitespace().collect();
        let (r, t) = (fields.first()?.parse::<u64>().ok()?, fields.get(8)?.parse::<u64>().ok()?);
        interfaces.push((name.trim().to_string(), r, t));
    }
    Some(interfaces)
}

fn sum(interfaces: &InterfaceBytes) -> (u64, u64) {
    interfaces.iter().fold((0u64, 0u64), |(rx, tx), i| (rx.saturating_add(i.1), tx.saturating_add(i.2)))
}

/// Reads network namespaces for one sample, each namespace once.
pub struct NetReader {
    own_inode: Option<u64>,
    seen: HashMap<u64, Option<InterfaceBytes>>,
}

impl NetReader {
    /// `own_inode`: cgstat's own network namespace (read once per run).
    pub fn new(own_inode: Option<u64>) -> NetReader {
        NetReader { own_inode, seen: HashMap::new() }
    }

    /// cgstat's own network namespace inode.
    pub fn own_inode() -> Option<u64> {
        ns::kind_by_name("net").and_then(|k| ns::inode("self", k).ok())
    }

    /// NET I/O of a group whose members are `pids`: the first member still alive in a namespace
    /// other than cgstat's decides. A supervisor that stays on the host's network while its
    /// command runs in the container's (netexec, as Docker's shim) does not make it the host's.
    pub fn read(&mut self, pids: &[i32]) -> Net {
        self.read_interfaces(pids).0
    }

    /// [`NetReader::read`], and the bytes of each interface when the namespace is the group's own.
    pub fn read_interfaces(&mut self, pids: &[i32]) -> (Net, InterfaceBytes) {
        if pids.is_empty() {
            return (Net::NoProcess, Vec::new());
        }
        let kind = ns::kind_by_name("net").expect("the namespace table has net");
        let mut host = false;
        for pid in pids {
            let pid = pid.to_string();
            let Ok(inode) = ns::inode(&pid, kind) else { continue }; // exited: try the next member
            if Some(inode) == self.own_inode {
                host = true;
                continue;
            }
            let interfaces = self.seen.entry(inode).or_insert_with(|| {
                crate::trace::read_file(format!("/proc/{pid}/net/dev"))
                    .ok()
                    .as_deref()
                    .and_then(parse_net_dev_interfaces)
            });
            return match interfaces {
                Some(list) => {
                    let (rx, tx) = sum(list);
                    (Net::Private { rx, tx }, list.clone())
                }
                None => (Net::Unreadable, Vec::new()),
            };
        }
        if host {
            (Net::Host, Vec::new())
        } else {
            (Net::Unreadable, Vec::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_of_this_machine_without_lo() {
        // lo 3193/3193, ifb0 and ifb1 0, eth0 29194858 rx / 198157 tx.
        assert_eq!(parse_net_dev(include_str!("../../testdata/proc-net-dev")), Some((29194858, 198157)));
    }

    #[test]
    fn interfaces_one_by_one() {
        let want = vec![("ifb0".into(), 0, 0), ("ifb1".into(), 0, 0), ("eth0".into(), 29194858, 198157)];
        assert_eq!(parse_net_dev_interfaces(include_str!("../../testdata/proc-net-dev")), Some(want));
    }

    #[test]
    fn only_lo_is_zero() {
        let text = "Inter-|   Receive\n face |bytes\n    lo:    3193      29    0    0    0     0          0         0     3193      29    0    0    0     0       0          0\n";
        assert_eq!(parse_net_dev(text), Some((0, 0)));
    }

    #[test]
    fn a_member_on_the_hosts_network_decides_only_when_no_other_does() {
        // Our own process is on "the host's" network as the reader sees it (own_inode = ours):
        // alone it makes the group Host; a member that is gone is skipped, not decisive.
        let own = NetReader::own_inode();
        let me = std::process::id() as i32;
        assert_eq!(NetReader::new(own).read(&[me]), Net::Host);
        assert_eq!(NetReader::new(own).read(&[i32::MAX, me]), Net::Host);
        assert_eq!(NetReader::new(own).read(&[]), Net::NoProcess);
        // Seen from a reader in another namespace, the same member is a private one.
        assert!(matches!(NetReader::new(Some(1)).read(&[me, i32::MAX]), Net::Private { .. }));
    }

    #[test]
    fn wide_counters_touch_the_colon() {
        // The kernel prints `%6s:%8llu`: a long name and a big counter leave no space between.
        let text = "h1\nh2\nveth-isolab1:123456789012 1 0 0 0 0 0 0 42 1 0 0 0 0 0 0\n";
        assert_eq!(parse_net_dev(text), Some((123456789012, 42)));
    }

    #[test]
    fn malformed_is_none() {
        assert_eq!(parse_net_dev("h1\nh2\neth0 1 2 3\n"), None);
        assert_eq!(parse_net_dev("h1\nh2\neth0: 1 2 3\n"), None);
    }

    #[test]
    fn no_member_no_traffic() {
        assert_eq!(NetReader::new(None).read(&[]), Net::NoProcess);
    }

    #[test]
    fn own_process_is_the_host() {
        let mut reader = NetReader::new(NetReader::own_inode());
        assert_eq!(reader.read(&[std::process::id() as i32]), Net::Host);
    }

    proptest::proptest! {
        #[test]
        fn sums_every_interface_but_lo(rows in proptest::collection::vec(("[a-z]{1,8}[0-9]?", 0u64..1u64 << 40, 0u64..1u64 << 40), 0..6)) {
            let mut text = String::from("Inter-|\n face |\n");
            let (mut rx, mut tx) = (0, 0);
            for (name, r, t) in &rows {
                text += &format!("{name:>6}: {r} 0 0 0 0 0 0 0 {t} 0 0 0 0 0 0 0\n");
                if name != "lo" { rx += r; tx += t; }
            }
            proptest::prop_assert_eq!(parse_net_dev(&text), Some((rx, tx)));
        }
    }
}

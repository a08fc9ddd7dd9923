//! One sample of one group as Docker prints it: the table of `docker stats` and a JSON line
//! with the raw numbers beside the formatted ones.
//!
//! The table is laid out as docker/cli's `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)` does it:
//! every column but the last is as wide as its widest cell plus 3 spaces, at least 10.

use serde_json::json;

use isolab_core::stats::format::{bytes_size, human_size, pair, percent, MISSING};
use isolab_core::stats::net::Net;

/// One group at one sample, computed and ready to print.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    /// Cumulative CPU time of the group, nanoseconds.
    pub cpu_ns: Option<u64>,
    /// CPU time used since the previous sample, nanoseconds.
    pub cpu_delta_ns: Option<u64>,
    /// The host's time since the previous sample (Docker's system delta), nanoseconds.
    pub system_delta_ns: Option<u64>,
    pub online_cpus: Option<u32>,
    pub cpu_percent: Option<f64>,
    /// Docker's MEM USAGE (usage less inactive file pages) and LIMIT, bytes.
    pub mem_usage: Option<u64>,
    pub mem_limit: Option<u64>,
    pub mem_percent: Option<f64>,
    pub net: Net,
    /// Bytes read and written.
    pub block: Option<(u64, u64)>,
    pub pids: Option<u64>,
}

/// The header of Docker's default table, with NAME in place of CONTAINER ID and NAME.
pub const HEADER: [&str; 7] = ["NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"];

/// Longest NAME shown whole without `--no-trunc`; longer ones keep their informative tail.
const NAME_WIDTH: usize = 40;

impl Sample {
    /// The formatted cells, in [`HEADER`] order.
    pub fn cells(&self) -> [String; 7] {
        let bytes = |v: Option<u64>| v.map(|b| bytes_size(b as f64));
        let human2 = |v: Option<(u64, u64)>| {
            v.map_or(MISSING.to_string(), |(a, b)| format!("{} / {}", human_size(a as f64), human_size(b as f64)))
        };
        let pct = |v: Option<f64>| v.map_or(MISSING.to_string(), percent);
        [
            self.name.clone(),
            pct(self.cpu_percent),
            pair(bytes(self.mem_usage), bytes(self.mem_limit)),
            pct(self.mem_percent),
            human2(self.net.bytes()),
            human2(self.block),
            self.pids.map_or(MISSING.to_string(), |p| p.to_string()),
        ]
    }

    /// One JSON object: Docker's `{{json .}}` keys for the formatted values, raw numbers beside.
    pub fn json(&self, sample: u64) -> serde_json::Value {
        let [name, cpu, mem, mem_pct, net, block, pids] = self.cells();
        let (rx, tx) = self.net.bytes().unzip();
        let (read, write) = self.block.unzip();
        json!({
            "sample": sample,
            "Name": name, "CPUPerc": cpu, "MemUsage": mem, "MemPerc": mem_pct,
            "NetIO": net, "BlockIO": block, "PIDs": pids,
            "cpu_percent": self.cpu_percent,
            "cpu_usage_ns": self.cpu_ns,
            "cpu_delta_ns": self.cpu_delta_ns,
            "system_delta_ns": self.system_delta_ns,
            "online_cpus": self.online_cpus,
            "mem_usage_bytes": self.mem_usage,
            "mem_limit_bytes": self.mem_limit,
            "mem_percent": self.mem_percent,
            "net_rx_bytes": rx,
            "net_tx_bytes": tx,
            "net_namespace": self.net.label(),
            "block_read_bytes": read,
            "block_write_bytes": write,
            "pids": self.pids,
        })
    }
}

/// A name cut to `NAME_WIDTH` characters, keeping the end (`...ice/web.service`).
pub fn truncate_name(name: &str) -> String {
    let n = name.chars().count();
    if n <= NAME_WIDTH {
        return name.to_string();
    }
    let tail: String = name.chars().skip(n - (NAME_WIDTH - 3)).collect();
    format!("...{tail}")
}

/// The table of one sample, header first, each line ending in `\n`.
pub fn table(samples: &[Sample], no_trunc: bool) -> String {
    let mut t = Table::new(no_trunc);
    samples.iter().for_each(|s| t.push(s));
    t.text()
}

/// A table being filled row by row: what it holds per group is its seven cells' text, one
/// after the other in one string, and where each ends (the widths need every row first).
pub struct Table {
    no_trunc: bool,
    text: String,
    ends: Vec<u32>,
}

impl Table {
    pub fn new(no_trunc: bool) -> Table {
        let mut t = Table { no_trunc, text: String::new(), ends: Vec::new() };
        t.push_cells(HEADER.map(String::from));
        t
    }

    pub fn push(&mut self, sample: &Sample) {
        let mut cells = sample.cells();
        if !self.no_trunc {
            cells[0] = truncate_name(&cells[0]);
        }
        self.push_cells(cells);
    }

    fn push_cells(&mut self, cells: [String; 7]) {
        for cell in cells {
            self.text.push_str(&cell);
            self.ends.push(self.text.len() as u32);
        }
    }

    /// The rows laid out, and the table emptied to its header for the next sample.
    pub fn text(&mut self) -> String {
        let mut out = String::new();
        self.write(&mut out, |_| Ok(())).expect("a flush that cannot fail");
        out
    }

    /// The rows laid out into `out`, line after line, `flush` called after each line to let
    /// the text go out in chunks (what is held is the cells, never the whole table); the table
    /// is emptied to its header for the next sample.
    pub fn write(
        &mut self,
        out: &mut String,
        mut flush: impl FnMut(&mut String) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let columns = HEADER.len();
        let cell = |k: usize| &self.text[if k == 0 { 0 } else { self.ends[k - 1] as usize }..self.ends[k] as usize];
        let rows = self.ends.len() / columns;
        let mut widths = [10usize; HEADER.len() - 1];
        for (c, width) in widths.iter_mut().enumerate() {
            *width = (0..rows).map(|r| cell(r * columns + c).chars().count() + 3).fold(*width, usize::max);
        }
        for r in 0..rows {
            for (c, width) in widths.iter().enumerate() {
                let text = cell(r * columns + c);
                out.push_str(text);
                out.extend(std::iter::repeat_n(' ', width.saturating_sub(text.chars().count())));
            }
            out.push_str(cell(r * columns + columns - 1));
            out.push('\n');
            flush(out)?;
        }
        *self = Table::new(self.no_trunc);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web() -> Sample {
        crate::fixtures::sample("web")
    }

    #[test]
    fn table_is_dockers_layout() {
        let gone = Sample {
            name: "gone".into(),
            cpu_percent: None,
            mem_usage: None,
            mem_limit: None,
            mem_percent: None,
            net: Net::NoProcess,
            block: None,
            pids: None,
            ..web()
        };
        let want = "\
NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O        BLOCK I/O     PIDS
web       0.50%     440KiB / 100MiB     0.43%     6.21kB / 90B   4.19MB / 0B   3
gone      --        -- / --             --        --             --            --
";
        assert_eq!(table(&[web(), gone], false), want);
    }

    // Issue 21: the laid-out table goes out line by line (each line offered to `flush`), the
    // same bytes as the whole text.
    #[test]
    fn table_is_written_line_by_line() {
        let samples = [web(), Sample { name: "a-longer-name".into(), ..web() }];
        let mut t = Table::new(false);
        samples.iter().for_each(|s| t.push(s));
        let (mut out, mut lines) = (String::new(), Vec::new());
        t.write(&mut out, |text| {
            lines.push(std::mem::take(text));
            Ok(())
        })
        .unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines.concat(), table(&samples, false));
        assert!(lines.iter().all(|l| l.ends_with('\n') && l.matches('\n').count() == 1));
    }

    #[test]
    fn long_names_keep_their_tail_unless_no_trunc() {
        let long = "/system.slice/a-very-long-unit-name-for-testing.service";
        let cut = truncate_name(long);
        assert_eq!(cut.chars().count(), NAME_WIDTH);
        assert!(cut.starts_with("...") && cut.ends_with("testing.service"), "{cut}");
        let s = Sample { name: long.into(), ..web() };
        assert!(table(std::slice::from_ref(&s), true).contains(long));
        assert!(!table(&[s], false).contains(long));
    }

    #[test]
    fn json_has_raw_and_formatted() {
        let v = web().json(4);
        assert_eq!(v["sample"], 4);
        assert_eq!(v["MemUsage"], "440KiB / 100MiB");
        assert_eq!(v["mem_usage_bytes"], 450560);
        assert_eq!(v["mem_limit_bytes"], 104857600);
        assert_eq!(v["net_rx_bytes"], 6210);
        assert_eq!(v["net_namespace"], "private");
        assert_eq!(v["NetIO"], "6.21kB / 90B");
        assert_eq!(v["PIDs"], "3");
        let host = Sample { net: Net::Host, ..web() }.json(0);
        assert_eq!(
            (host["NetIO"].as_str(), host["net_rx_bytes"].is_null(), host["net_namespace"].as_str()),
            (Some("--"), true, Some("host"))
        );
    }
}

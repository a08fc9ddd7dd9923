//! `--format TEMPLATE`: docker stats' samples through a Go template (crate::template).
//!
//! The fields beyond the table's: `.ID` is the group's cgroup path (the same string as the
//! `id` label of the metrics), and `.Container` is what named the group on the command line
//! (NAME or --path), or its ID when every group is listed, as docker stats does.

use isolab_core::stats::sample::GroupFiles;

use crate::metrics::CgroupIds;
use crate::render::{truncate_name, Sample};
use crate::run::{self, Spec};
use crate::select::{self, Groups, Selection};
use crate::template::{Entry, Field, Template};

/// One group at one sample, as the template sees it.
struct Row {
    cells: [String; 7],
    id: String,
    container: String,
}

impl Entry for Row {
    fn field(&self, field: Field) -> String {
        let cell = |i: usize| self.cells[i].clone();
        match field {
            Field::Name => cell(0),
            Field::CpuPerc => cell(1),
            Field::MemUsage => cell(2),
            Field::MemPerc => cell(3),
            Field::NetIo => cell(4),
            Field::BlockIo => cell(5),
            Field::Pids => cell(6),
            Field::Id => self.id.clone(),
            Field::Container => self.container.clone(),
        }
    }
}

/// Sample as `cgstat` does, printing each sample through `template`.
pub fn run(spec: Spec, template: Template) -> anyhow::Result<u8> {
    let ids = CgroupIds::detect()?;
    let named = !select::relists(&spec.selection) || matches!(spec.selection, Selection::Paths(_));
    let no_trunc = spec.no_trunc;
    run::run_with(spec, Formatted { template, ids, named, no_trunc, rows: Vec::new() })
}

/// The rows of one sample, for the template (a `table` template lays them out together).
struct Formatted {
    template: Template,
    ids: CgroupIds,
    named: bool,
    no_trunc: bool,
    rows: Vec<Row>,
}

impl run::Render for Formatted {
    fn row(&mut self, groups: &Groups, i: usize, sample: Sample, _: u64, _: &mut String) {
        self.rows.push(row(&groups.files(i), &sample, &self.ids, self.named, self.no_trunc));
    }

    fn end(
        &mut self,
        _: u64,
        out: &mut String,
        flush: &mut dyn FnMut(&mut String) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let entries: Vec<&dyn Entry> = self.rows.iter().map(|r| r as &dyn Entry).collect();
        out.push_str(&self.template.render(&entries));
        self.rows.clear();
        flush(out)
    }
}

fn row(target: &GroupFiles, sample: &Sample, ids: &CgroupIds, named: bool, no_trunc: bool) -> Row {
    let mut cells = sample.cells();
    if !no_trunc {
        cells[0] = truncate_name(&cells[0]);
    }
    let id = ids.id(target);
    let container = if named { target.name.clone() } else { id.clone() };
    Row { cells, id, container }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render;
    use isolab_core::stats::net::Net;

    use crate::fixtures::{memory_target as target, sample};

    fn ids() -> CgroupIds {
        CgroupIds::new(vec!["/sys/fs/cgroup/memory".into(), "/sys/fs/cgroup/unified".into()])
    }

    /// Every placeholder against cgstat's own table and JSON line of the same sample.
    #[test]
    fn every_placeholder_matches_the_table_and_json_of_the_same_sample() {
        let samples = [sample("web"), Sample { net: Net::Host, block: None, cpu_percent: None, ..sample("db") }];
        let targets = [target("web"), target("db")];
        let rows: Vec<Row> = targets.iter().zip(&samples).map(|(t, s)| row(t, s, &ids(), true, false)).collect();
        let entries: Vec<&dyn Entry> = rows.iter().map(|r| r as &dyn Entry).collect();

        // `--format table` is cgstat's table, byte for byte.
        let table = Template::parse("table").unwrap().render(&entries);
        assert_eq!(table, render::table(&samples, false));

        let keys = ["Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs"];
        for (i, key) in keys.iter().enumerate() {
            let one = Template::parse(&format!("{{{{.{key}}}}}")).unwrap().render(&entries);
            let want: String = samples.iter().map(|s| format!("{}\n", s.cells()[i])).collect();
            assert_eq!(one, want, ".{key} is the table's cell");
            let from_json: String = samples.iter().map(|s| format!("{}\n", s.json(0)[key].as_str().unwrap())).collect();
            assert_eq!(one, from_json, ".{key} is the JSON line's {key}");
        }
        let json = Template::parse("{{json .}}").unwrap().render(&entries);
        let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
        let own = samples[0].json(0);
        for key in keys {
            assert_eq!(first[key], own[key], "{{{{json .}}}}'s {key} is --json's {key}");
        }
        assert_eq!(first["ID"], "/a/isolab/web");
        assert_eq!(first["Container"], "web");
        let id = Template::parse("{{.ID}} {{.Container}}").unwrap().render(&entries);
        assert_eq!(id, "/a/isolab/web web\n/a/isolab/db db\n");
    }

    #[test]
    fn listed_groups_are_their_id_and_long_names_follow_no_trunc() {
        let long = "a".repeat(60);
        let s = sample(&long);
        let t = target("web");
        assert_eq!(row(&t, &s, &ids(), false, false).container, "/a/isolab/web");
        assert_eq!(row(&t, &s, &ids(), false, false).cells[0].len(), 40);
        assert_eq!(row(&t, &s, &ids(), false, true).cells[0], long);
    }
}

//! `--format`: docker stats' Go templates, the subset scripts use (docker/cli
//! `cli/command/formatter/formatter.go`, `formatter_stats.go`, `templates/templates.go`).
//!
//! What Docker does, and so what this does:
//! - `\t` and `\n` typed as two characters become a tab and a newline, in the whole string,
//!   before parsing; then the string is trimmed of spaces (`strings.Trim(f, " ")`).
//! - A string starting with `table` is a table: the rest is one row, printed under a header made
//!   by the same template over the column titles, aligned by Go's tabwriter (min width 10,
//!   padding 3, spaces). `table` alone is the default table; `json` alone is `{{json .}}`.
//! - Text outside `{{ }}` is copied; `{{- ` and ` -}}` trim the blanks beside them; `{{/* */}}`
//!   is a comment. Each row ends with a newline.
//! - Placeholders are the entry's fields (`.Name`, `.CPUPerc`, ...); `json` prints a field as a
//!   JSON string or `.` as an object of every field, keys sorted, `<>&` escaped as Go does.
//!   `lower`, `upper`, `title`, `pad S L R`, `truncate S N` and pipelines (`.Name | upper`)
//!   work as in docker/cli; in the header they leave the titles alone, except `pad`.
//!
//! Everything is checked when parsed, so a wrong template is refused (exit 125) before any group
//! is read; an unknown placeholder names itself and lists the valid ones.

use std::fmt::Write as _;

use anyhow::bail;

/// The fields of an entry, docker stats' names, in the order the errors list them.
pub const FIELDS: [Field; 9] = [
    Field::Name,
    Field::Id,
    Field::CpuPerc,
    Field::MemUsage,
    Field::MemPerc,
    Field::NetIo,
    Field::BlockIo,
    Field::Pids,
    Field::Container,
];

/// One placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    Id,
    CpuPerc,
    MemUsage,
    MemPerc,
    NetIo,
    BlockIo,
    Pids,
    Container,
}

impl Field {
    /// The name after the dot, as Docker spells it.
    pub fn key(self) -> &'static str {
        match self {
            Field::Name => "Name",
            Field::Id => "ID",
            Field::CpuPerc => "CPUPerc",
            Field::MemUsage => "MemUsage",
            Field::MemPerc => "MemPerc",
            Field::NetIo => "NetIO",
            Field::BlockIo => "BlockIO",
            Field::Pids => "PIDs",
            Field::Container => "Container",
        }
    }

    /// The column title in a table's header (docker/cli's, with ID for the cgroup path).
    pub fn title(self) -> &'static str {
        match self {
            Field::Name => "NAME",
            Field::Id => "ID",
            Field::CpuPerc => "CPU %",
            Field::MemUsage => "MEM USAGE / LIMIT",
            Field::MemPerc => "MEM %",
            Field::NetIo => "NET I/O",
            Field::BlockIo => "BLOCK I/O",
            Field::Pids => "PIDS",
            Field::Container => "CONTAINER",
        }
    }
}

/// What one entry (one group at one sample) shows for each field.
pub trait Entry {
    fn field(&self, field: Field) -> String;
}

/// cgstat's default table, as a template: what `--format table` means.
pub const DEFAULT_TABLE: &str =
    "table {{.Name}}\\t{{.CPUPerc}}\\t{{.MemUsage}}\\t{{.MemPerc}}\\t{{.NetIO}}\\t{{.BlockIO}}\\t{{.PIDs}}";

/// A parsed `--format`.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    table: bool,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    /// A pipeline: the first command's value passed on as the last argument of each next one.
    Action(Vec<Command>),
}

#[derive(Debug, Clone, PartialEq)]
enum Command {
    Value(Arg),
    Call(Func, Vec<Arg>),
}

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Field(Field),
    /// `.`: the whole entry.
    Dot,
    Int(i64),
    Str(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Json,
    Lower,
    Upper,
    Title,
    Pad,
    Truncate,
}

const FUNCS: [(&str, Func); 6] = [
    ("json", Func::Json),
    ("lower", Func::Lower),
    ("upper", Func::Upper),
    ("title", Func::Title),
    ("pad", Func::Pad),
    ("truncate", Func::Truncate),
];

/// A value while a pipeline runs.
enum Val {
    Str(String),
    Int(i64),
    Entry,
}

/// The argument types each function takes (the piped value, when there is one, comes last).
fn signature(func: Func) -> &'static [Kind] {
    match func {
        Func::Json => &[Kind::Any],
        Func::Lower | Func::Upper | Func::Title => &[Kind::Str],
        Func::Pad => &[Kind::Str, Kind::Int, Kind::Int],
        Func::Truncate => &[Kind::Str, Kind::Int],
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Int,
    Any,
}

impl Template {
    /// Parse a `--format` value as docker stats does.
    pub fn parse(format: &str) -> anyhow::Result<Template> {
        let table = format.starts_with("table");
        let source = match format {
            "table" => &DEFAULT_TABLE["table".len()..],
            "json" => "{{json .}}",
            f if table => &f["table".len()..],
            f => f,
        };
        let source = source.replace("\\t", "\t").replace("\\n", "\n");
        let parts = parse_parts(source.trim_matches(' '))?;
        Ok(Template { table, parts })
    }

    pub fn is_table(&self) -> bool {
        self.table
    }

    /// One sample's output: the rows, each ending in a newline, under a header for a table.
    pub fn render(&self, entries: &[&dyn Entry]) -> String {
        let mut out = String::new();
        if self.table {
            out += &self.execute(None);
            out.push('\n');
        }
        for e in entries {
            out += &self.execute(Some(*e));
            out.push('\n');
        }
        if self.table {
            tabwriter(&out, 10, 3)
        } else {
            out
        }
    }

    /// The template over one entry, or over the column titles (`None`, the header).
    fn execute(&self, entry: Option<&dyn Entry>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out += t,
                Part::Action(pipeline) => out += &run_pipeline(pipeline, entry),
            }
        }
        out
    }
}

fn run_pipeline(pipeline: &[Command], entry: Option<&dyn Entry>) -> String {
    let mut piped: Option<Val> = None;
    for command in pipeline {
        piped = Some(match command {
            Command::Value(arg) => value(arg, entry),
            Command::Call(func, args) => {
                let mut vals: Vec<Val> = args.iter().map(|a| value(a, entry)).collect();
                vals.extend(piped.take());
                call(*func, vals, entry)
            }
        });
    }
    match piped {
        Some(Val::Str(s)) => s,
        Some(Val::Int(i)) => i.to_string(),
        // `{{.}}` alone is refused when parsed; in a header it prints nothing.
        Some(Val::Entry) | None => String::new(),
    }
}

fn value(arg: &Arg, entry: Option<&dyn Entry>) -> Val {
    match arg {
        Arg::Field(f) => Val::Str(entry.map_or_else(|| f.title().to_string(), |e| e.field(*f))),
        Arg::Dot => Val::Entry,
        Arg::Int(i) => Val::Int(*i),
        Arg::Str(s) => Val::Str(s.clone()),
    }
}

/// Apply a function to checked arguments. In the header (`entry` is `None`) every function but
/// `pad` returns the title unchanged (docker/cli `HeaderFunctions`).
fn call(func: Func, args: Vec<Val>, entry: Option<&dyn Entry>) -> Val {
    let s = |i: usize| match &args[i] {
        Val::Str(s) => s.clone(),
        Val::Int(n) => n.to_string(),
        Val::Entry => String::new(),
    };
    let n = |i: usize| match args[i] {
        Val::Int(n) => n.max(0) as usize,
        _ => 0,
    };
    if entry.is_none() && func != Func::Pad {
        return Val::Str(s(0));
    }
    Val::Str(match func {
        Func::Json => match (&args[0], entry) {
            (Val::Entry, Some(e)) => json_object(e),
            (Val::Int(i), _) => i.to_string(),
            _ => json_string(&s(0)),
        },
        Func::Lower => s(0).to_lowercase(),
        Func::Upper => s(0).to_uppercase(),
        Func::Title => title_case(&s(0)),
        Func::Pad if s(0).is_empty() => String::new(),
        Func::Pad => format!("{}{}{}", " ".repeat(n(1)), s(0), " ".repeat(n(2))),
        // Go slices bytes: a cut inside a character is moved back to its start here.
        Func::Truncate => {
            let text = s(0);
            let mut at = n(1).min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text[..at].to_string()
        }
    })
}

/// Go's deprecated `strings.Title`: the first letter of each word upper-cased.
fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !(c.is_alphanumeric() || c == '_' || c == '\'');
    }
    out
}

/// A JSON string as Go's encoding/json writes it: `<`, `>`, `&`, U+2028 and U+2029 escaped.
pub fn json_string(s: &str) -> String {
    let plain = serde_json::to_string(s).expect("a string always serializes");
    let mut out = String::with_capacity(plain.len());
    for c in plain.chars() {
        match c {
            '<' => out += "\\u003c",
            '>' => out += "\\u003e",
            '&' => out += "\\u0026",
            '\u{2028}' => out += "\\u2028",
            '\u{2029}' => out += "\\u2029",
            c => out.push(c),
        }
    }
    out
}

/// `{{json .}}`: every field, keys sorted as Go sorts a map's keys (byte order).
fn json_object(entry: &dyn Entry) -> String {
    let mut fields = FIELDS;
    fields.sort_by_key(|f| f.key());
    let mut out = String::from("{");
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{}:{}", json_string(f.key()), json_string(&entry.field(*f)));
    }
    out + "}"
}

fn parse_parts(source: &str) -> anyhow::Result<Vec<Part>> {
    let mut parts = Vec::new();
    let mut rest = source;
    let mut trim_next = false;
    while let Some(open) = rest.find("{{") {
        let mut text = &rest[..open];
        if trim_next {
            text = text.trim_start();
        }
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            bail!("invalid --format: an action opened with {{{{ is never closed with }}}}");
        };
        let mut inner = &after[..close];
        if let Some(stripped) = inner.strip_prefix('-').filter(|s| s.starts_with([' ', '\t', '\n', '\r'])) {
            text = text.trim_end();
            inner = stripped;
        }
        trim_next = false;
        if let Some(stripped) = inner.strip_suffix('-').filter(|s| s.ends_with([' ', '\t', '\n', '\r'])) {
            trim_next = true;
            inner = stripped;
        }
        if !text.is_empty() {
            parts.push(Part::Text(text.to_string()));
        }
        let inner = inner.trim();
        if !(inner.starts_with("/*") && inner.ends_with("*/")) {
            parts.push(Part::Action(parse_pipeline(inner)?));
        }
        rest = &after[close + 2..];
    }
    let text = if trim_next { rest.trim_start() } else { rest };
    if !text.is_empty() {
        parts.push(Part::Text(text.to_string()));
    }
    Ok(parts)
}

fn valid_fields() -> String {
    FIELDS.iter().map(|f| format!(".{}", f.key())).collect::<Vec<_>>().join(", ")
}

fn parse_pipeline(inner: &str) -> anyhow::Result<Vec<Command>> {
    if inner.is_empty() {
        bail!("invalid --format: empty action {{{{}}}}: valid placeholders are {}", valid_fields());
    }
    let mut pipeline = Vec::new();
    for (i, segment) in split_outside_quotes(inner, '|').iter().enumerate() {
        let words = words(segment)?;
        let Some((first, args)) = words.split_first() else {
            bail!("invalid --format: missing command in {{{{{inner}}}}}");
        };
        let command = if first.starts_with('.') || first.starts_with('"') || first.parse::<i64>().is_ok() {
            if !args.is_empty() || i > 0 {
                bail!("invalid --format: {{{{{inner}}}}}: {first} is a value, not a function");
            }
            Command::Value(parse_arg(first)?)
        } else {
            let func = FUNCS.iter().find(|(n, _)| n == first).map(|(_, f)| *f).ok_or_else(|| {
                let names: Vec<&str> = FUNCS.iter().map(|(n, _)| *n).collect();
                anyhow::anyhow!(
                    "invalid --format: unknown function {first:?} in {{{{{inner}}}}}: valid functions are {}",
                    names.join(", ")
                )
            })?;
            let args = args.iter().map(|a| parse_arg(a)).collect::<anyhow::Result<Vec<_>>>()?;
            check_call(first, func, &args, i > 0)?;
            Command::Call(func, args)
        };
        pipeline.push(command);
    }
    if let [Command::Value(Arg::Dot)] = pipeline[..] {
        bail!("invalid --format: {{{{.}}}} prints no field: use {{{{json .}}}} or one of {}", valid_fields());
    }
    Ok(pipeline)
}

/// Check a call's arguments against the function's signature (a piped value counts last).
fn check_call(name: &str, func: Func, args: &[Arg], piped: bool) -> anyhow::Result<()> {
    let want = signature(func);
    let given = args.len() + usize::from(piped);
    if given != want.len() {
        bail!("invalid --format: {name} takes {} argument(s), {given} given", want.len());
    }
    for (arg, kind) in args.iter().zip(want) {
        let ok =
            matches!((arg, kind), (_, Kind::Any) | (Arg::Int(_), Kind::Int) | (Arg::Field(_) | Arg::Str(_), Kind::Str));
        if !ok {
            bail!("invalid --format: wrong argument type for {name}: {arg:?}");
        }
    }
    if piped && want.last() == Some(&Kind::Int) {
        bail!("invalid --format: a piped value is text, and {name} wants a number last");
    }
    Ok(())
}

fn parse_arg(word: &str) -> anyhow::Result<Arg> {
    if word == "." {
        return Ok(Arg::Dot);
    }
    if let Some(key) = word.strip_prefix('.') {
        return FIELDS.iter().find(|f| f.key() == key).map(|f| Arg::Field(*f)).ok_or_else(|| {
            anyhow::anyhow!("invalid --format: unknown placeholder {word}: valid placeholders are {}", valid_fields())
        });
    }
    if word.starts_with('"') {
        return serde_json::from_str::<String>(word)
            .map(Arg::Str)
            .map_err(|_| anyhow::anyhow!("invalid --format: bad string literal {word}"));
    }
    word.parse()
        .map(Arg::Int)
        .map_err(|_| anyhow::anyhow!("invalid --format: {word:?} is not a placeholder, a number or a string"))
}

/// Split on `sep` where it is not inside a double-quoted string.
fn split_outside_quotes(s: &str, sep: char) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut escaped) = (Vec::new(), String::new(), false, false);
    for c in s.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

/// The words of one command: blanks separate them, a double-quoted string is one word.
fn words(s: &str) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for chunk in split_outside_quotes(s, ' ') {
        for w in split_outside_quotes(&chunk, '\t') {
            if !w.trim().is_empty() {
                out.push(w.trim().to_string());
            }
        }
    }
    if out.iter().any(|w| w.starts_with('"') && (w.len() < 2 || !w.ends_with('"'))) {
        bail!("invalid --format: unterminated string in {s:?}");
    }
    Ok(out)
}

/// Go's text/tabwriter with docker/cli's settings (`NewWriter(out, minwidth, 1, padding, ' ', 0)`):
/// tab-terminated cells of adjacent lines form a column as wide as its widest cell plus
/// `padding`, at least `minwidth`; the text after a line's last tab belongs to no column.
pub fn tabwriter(text: &str, minwidth: usize, padding: usize) -> String {
    let mut lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    // Go keeps the text after the last newline as a last line, printed without a newline.
    let ends_in_newline = lines.last().is_some_and(|l| l.len() == 1 && l[0].is_empty());
    if ends_in_newline {
        lines.pop();
    }
    let mut out = String::new();
    format_block(&lines, &mut Vec::new(), minwidth, padding, &mut out);
    if !ends_in_newline {
        out.pop();
    }
    out
}

fn format_block(lines: &[Vec<&str>], widths: &mut Vec<usize>, minwidth: usize, padding: usize, out: &mut String) {
    let column = widths.len();
    let mut start = 0;
    let mut this = 0;
    while this < lines.len() {
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        write_lines(&lines[start..this], widths, out);
        start = this;
        let mut width = minwidth;
        while this < lines.len() && column + 1 < lines[this].len() {
            width = width.max(lines[this][column].chars().count() + padding);
            this += 1;
        }
        widths.push(width);
        format_block(&lines[start..this], widths, minwidth, padding, out);
        widths.pop();
        start = this;
    }
    write_lines(&lines[start..], widths, out);
}

fn write_lines(lines: &[Vec<&str>], widths: &[usize], out: &mut String) {
    for line in lines {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if let Some(w) = widths.get(j) {
                let pad = w.saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake;
    impl Entry for Fake {
        fn field(&self, f: Field) -> String {
            match f {
                Field::Name => "web".into(),
                Field::Id => "/isolab/web".into(),
                Field::CpuPerc => "0.50%".into(),
                Field::MemUsage => "440KiB / 100MiB".into(),
                Field::MemPerc => "0.43%".into(),
                Field::NetIo => "6.21kB / 90B".into(),
                Field::BlockIo => "4.19MB / 0B".into(),
                Field::Pids => "3".into(),
                Field::Container => "<web&co>".into(),
            }
        }
    }

    fn render(format: &str) -> String {
        Template::parse(format).unwrap().render(&[&Fake])
    }

    fn refused(format: &str) -> String {
        Template::parse(format).unwrap_err().to_string()
    }

    #[test]
    fn text_outside_actions_is_copied_and_escapes_become_tabs() {
        assert_eq!(render("{{.Name}}: {{.CPUPerc}}"), "web: 0.50%\n");
        assert_eq!(render("{{.Name}}\\t{{.PIDs}}\\n"), "web\t3\n\n");
        assert_eq!(render("  {{.Name}}  "), "web\n", "spaces around are trimmed, as Docker trims them");
        assert_eq!(render("id={{ .ID }} pids={{.PIDs}}!"), "id=/isolab/web pids=3!\n");
    }

    #[test]
    fn table_has_a_header_and_docker_columns() {
        assert_eq!(
            render("table {{.Name}}\\t{{.CPUPerc}}\\t{{.MemUsage}}"),
            "NAME      CPU %     MEM USAGE / LIMIT\nweb       0.50%     440KiB / 100MiB\n"
        );
        let default = render("table");
        assert!(default.starts_with("NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O"), "{default}");
        assert_eq!(render("table {{.Container}}: {{.Name | upper}}"), "CONTAINER: NAME\n<web&co>: WEB\n");
    }

    #[test]
    fn json_of_everything_is_sorted_and_go_escaped() {
        assert_eq!(
            render("{{json .}}"),
            "{\"BlockIO\":\"4.19MB / 0B\",\"CPUPerc\":\"0.50%\",\"Container\":\"\\u003cweb\\u0026co\\u003e\",\
             \"ID\":\"/isolab/web\",\"MemPerc\":\"0.43%\",\"MemUsage\":\"440KiB / 100MiB\",\"Name\":\"web\",\
             \"NetIO\":\"6.21kB / 90B\",\"PIDs\":\"3\"}\n"
        );
        assert_eq!(render("json"), render("{{json .}}"));
        assert_eq!(render("{{json .Name}}"), "\"web\"\n");
        assert_eq!(render("{{.Name | json}}"), "\"web\"\n");
    }

    #[test]
    fn functions_and_trim_markers() {
        assert_eq!(render("{{upper .Name}} {{lower \"AB\"}} {{title \"a-b c\"}}"), "WEB ab A-B C\n");
        assert_eq!(render("[{{pad .Name 1 2}}][{{truncate .ID 4}}]"), "[ web  ][/iso]\n");
        assert_eq!(render("a  {{- .Name -}}  b"), "awebb\n");
        assert_eq!(render("a{{/* a comment */}}b"), "ab\n");
        assert_eq!(render("table {{pad .Name 1 1}}"), " NAME \n web \n", "pad also pads the header");
    }

    #[test]
    fn unknown_placeholders_are_named_with_the_valid_ones() {
        let err = refused("{{.Nmae}}");
        assert!(err.contains("unknown placeholder .Nmae"), "{err}");
        assert!(
            err.contains(".Name, .ID, .CPUPerc, .MemUsage, .MemPerc, .NetIO, .BlockIO, .PIDs, .Container"),
            "{err}"
        );
        assert!(refused("{{.name}}").contains(".name"), "fields are case-sensitive, as in Go");
        assert!(refused("{{json .Foo}}").contains(".Foo"));
    }

    #[test]
    fn malformed_templates_are_refused() {
        assert!(refused("{{.Name").contains("never closed"));
        assert!(refused("{{if .Name}}x{{end}}").contains("unknown function \"if\""));
        assert!(refused("{{split .Name \",\"}}").contains("valid functions are json"));
        assert!(refused("{{}}").contains("empty action"));
        assert!(refused("{{.}}").contains("json ."));
        assert!(refused("{{pad .Name}}").contains("takes 3"));
        assert!(refused("{{.Name | truncate 3}}").contains("wrong argument type"));
        assert!(refused("{{.Name | pad .ID 1}}").contains("number last"));
        assert!(refused("{{truncate .Name .PIDs}}").contains("wrong argument type"));
        assert!(refused("{{.Name .ID}}").contains("not a function"));
        assert!(refused("{{upper \"a}}").contains("unterminated"));
    }

    #[test]
    fn tabwriter_is_gos() {
        // Cells of a column align only across adjacent lines that have them (Go's doc example).
        let text = "aaaa\tbbb\td\naa\tb\tdd\na\t\naa\tcccc\teee\n";
        assert_eq!(tabwriter(text, 0, 1), "aaaa bbb d\naa   b   dd\na    \naa   cccc eee\n");
        assert_eq!(tabwriter("a\tb\n", 10, 3), "a         b\n");
        assert_eq!(tabwriter("no tabs", 10, 3), "no tabs");
    }

    proptest::proptest! {
        #[test]
        fn any_text_without_braces_is_copied(text in "[^{}\\\\]{0,40}") {
            let t = Template::parse(&text).unwrap();
            let want = format!("{}\n", text.trim_matches(' '));
            proptest::prop_assert_eq!(t.render(&[&Fake]), want);
        }

        #[test]
        fn parse_never_panics(text in "(\\{\\{|\\}\\}|[ .a-zA-Z|\"0-9-]|/\\*|\\*/){0,30}") {
            let _ = Template::parse(&text).map(|t| t.render(&[&Fake]));
        }
    }
}

//! Docker's output formatting: `--format` values (`table`, `table TEMPLATE`, `json`, a raw
//! template), header rows made by running the template over a row of column titles, and the
//! tabwriter docker uses (minimum width 10, padding 3, spaces).

use std::io::Write;

use crate::error::{Error, Result};
use crate::template::Template;
use crate::value::V;

/// Where the rows go, as parsed from `--format`.
pub struct Format {
    template: Template,
    table: bool,
}

impl Format {
    /// `default_table` is the command's `table …` template, used for "" and "table".
    pub fn new(format: &str, default_table: &str) -> Result<Format> {
        let format = if format.is_empty() || format == "table" {
            default_table
        } else {
            format
        };
        let format = if format == "json" {
            "{{json .}}"
        } else {
            format
        };
        let (table, body) = match format.strip_prefix("table") {
            Some(rest) => (true, rest),
            None => (false, format),
        };
        let body = body
            .trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n");
        let template = Template::parse(&body).map_err(Error::client)?;
        Ok(Format { template, table })
    }

    /// Renders rows; a table gets its header from `header` (field name → column title).
    pub fn render(&self, rows: &[V], header: &V) -> Result<String> {
        let mut lines = Vec::new();
        if self.table {
            lines.push(self.template.execute(header).map_err(Error::client)?);
        }
        for row in rows {
            lines.push(self.template.execute(row).map_err(Error::client)?);
        }
        if self.table {
            Ok(tabwrite(&lines))
        } else {
            Ok(lines.into_iter().map(|l| l + "\n").collect())
        }
    }

    pub fn print(&self, rows: &[V], header: &V) -> Result<()> {
        let text = self.render(rows, header)?;
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|_| out.flush())
            .map_err(|e| Error::io("writing output", e))
    }
}

/// Go's `tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)`: each tab-terminated cell is padded to its
/// column's widest cell plus 3, at least 10; the text after a line's last tab is not aligned.
/// A column's width is shared only by the consecutive lines that have that column.
pub fn tabwrite(rendered: &[String]) -> String {
    // Split into lines of cells (a rendered row may itself contain newlines).
    let lines: Vec<Vec<&str>> = rendered
        .iter()
        .flat_map(|r| r.split('\n'))
        .map(|l| l.split('\t').collect())
        .collect();
    let mut widths: Vec<Vec<usize>> = lines
        .iter()
        .map(|l| vec![0; l.len().saturating_sub(1)])
        .collect();
    // For each column, find blocks of consecutive lines that have a cell there.
    let max_cols = lines.iter().map(|l| l.len()).max().unwrap_or(0);
    for col in 0..max_cols.saturating_sub(1) {
        let mut i = 0;
        while i < lines.len() {
            if lines[i].len() <= col + 1 {
                i += 1;
                continue;
            }
            let start = i;
            while i < lines.len() && lines[i].len() > col + 1 {
                i += 1;
            }
            let w = lines[start..i]
                .iter()
                .map(|l| l[col].chars().count() + 3)
                .max()
                .unwrap_or(0)
                .max(10);
            for row in &mut widths[start..i] {
                row[col] = w;
            }
        }
    }
    let mut out = String::new();
    for (cells, ws) in lines.iter().zip(&widths) {
        for (c, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if c < ws.len() {
                out.push_str(&" ".repeat(ws[c] - cell.chars().count()));
            }
        }
        out.push('\n');
    }
    // The final row's trailing newline came from the split; avoid doubling a blank line.
    if rendered.last().is_some_and(|l| l.ends_with('\n')) {
        out.pop();
    }
    out
}

/// docker's `Ellipsis`: at most `max` characters, the last one "…" when cut.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// docker's `TruncateID`: strips `sha256:` and keeps 12 characters.
pub fn short_id(id: &str) -> String {
    let id = id.split_once(':').map_or(id, |(_, h)| h);
    id.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::obj;

    #[test]
    fn tabwriter_pads_like_go() {
        let lines = vec![
            "CONTAINER ID\tIMAGE\tNAMES".to_string(),
            "abc\talpine:latest\tweb".to_string(),
        ];
        assert_eq!(
            tabwrite(&lines),
            "CONTAINER ID   IMAGE           NAMES\nabc            alpine:latest   web\n"
        );
    }

    #[test]
    fn formats() {
        let rows = vec![obj(vec![("ID", V::from("abc")), ("Names", V::from("web"))])];
        let header = obj(vec![
            ("ID", V::from("CONTAINER ID")),
            ("Names", V::from("NAMES")),
        ]);
        let f = Format::new("table {{.ID}}\\t{{.Names}}", "").unwrap();
        assert_eq!(
            f.render(&rows, &header).unwrap(),
            "CONTAINER ID   NAMES\nabc            web\n"
        );
        let f = Format::new("{{.Names}}: {{.ID}}", "").unwrap();
        assert_eq!(f.render(&rows, &header).unwrap(), "web: abc\n");
        let f = Format::new("json", "").unwrap();
        assert_eq!(
            f.render(&rows, &header).unwrap(),
            "{\"ID\":\"abc\",\"Names\":\"web\"}\n"
        );
        let f = Format::new("", "table {{.ID}}").unwrap();
        assert_eq!(f.render(&[], &header).unwrap(), "CONTAINER ID\n");
    }

    #[test]
    fn truncation() {
        assert_eq!(
            ellipsis("sh -c 'while true; do sleep 1; done'", 20),
            "sh -c 'while true; …"
        );
        assert_eq!(ellipsis("short", 20), "short");
        assert_eq!(short_id("sha256:0123456789abcdef0123"), "0123456789ab");
        assert_eq!(short_id("0123456789abcdef"), "0123456789ab");
    }
}

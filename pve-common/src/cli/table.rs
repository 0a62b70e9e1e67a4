//! The bordered text table upstream's CLI prints (`print_text_table`).

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::format::{data_to_text, property_schema, FormatError, FormatOptions, TableSort};
use crate::perl::{numify, scalar_to_string};
use crate::schema::{JsonType, Schema};

/// The table-relevant options, after the caller's adjustments (e.g. no header for
/// plain value lists).
pub(crate) struct TableLayout<'a> {
    pub opts: &'a FormatOptions,
    pub noheader: bool,
}

fn is_numeric(schema: Option<&Schema>) -> bool {
    matches!(
        schema.and_then(Schema::single_type),
        Some(JsonType::Integer | JsonType::Number)
    )
}

/// Perl's `split /\n/`: trailing empty fields are dropped.
fn split_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines
}

fn char_len(text: &str) -> usize {
    text.chars().count()
}

fn prefix_chars(text: &str, n: usize) -> &str {
    match text.char_indices().nth(n) {
        Some((idx, _)) => &text[..idx],
        None => text,
    }
}

fn pad(out: &mut String, text: &str, width: usize, right: bool) {
    let fill = width.saturating_sub(char_len(text));
    if right {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(text);
    } else {
        out.push_str(text);
        out.extend(std::iter::repeat_n(' ', fill));
    }
}

fn compare_cells(a: Option<&Value>, b: Option<&Value>, numeric: bool) -> Ordering {
    let a = a.filter(|v| !v.is_null());
    let b = b.filter(|v| !v.is_null());
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) if numeric => {
            numify(a).partial_cmp(&numify(b)).unwrap_or(Ordering::Equal)
        }
        (Some(a), Some(b)) => scalar_to_string(a).cmp(&scalar_to_string(b)),
    }
}

struct Cell {
    lines: Vec<String>,
    width: usize,
}

struct Column {
    title: String,
    cutoff: usize,
    right: bool,
}

struct Borders {
    top: String,
    header: String,
    middle: String,
    bottom: String,
}

/// Renders `rows` (sorted as the options say) with one column per entry of `props`.
pub(crate) fn render_table(
    rows: &mut [&Map<String, Value>],
    returnprops: Option<&crate::schema::Properties>,
    props: &[String],
    layout: &TableLayout<'_>,
) -> Result<String, FormatError> {
    let opts = layout.opts;
    let prop_schema = |name: &str| property_schema(returnprops, name);

    let sort_key = match &opts.sort {
        TableSort::FirstColumn => props.first().map(String::as_str),
        TableSort::By(key) => Some(key.as_str()),
        TableSort::Unsorted => None,
    };
    if let Some(key) = sort_key {
        let numeric = is_numeric(prop_schema(key));
        rows.sort_by(|a, b| compare_cells(a.get(key), b.get(key), numeric));
    }

    let mut table: Vec<(usize, Vec<Cell>)> = Vec::with_capacity(rows.len());
    for row in rows.iter() {
        let mut height = 1;
        let mut cells = Vec::with_capacity(props.len());
        for prop in props {
            let text = data_to_text(row.get(prop.as_str()), prop_schema(prop), opts)?;
            let lines = split_lines(&text);
            height = height.max(lines.len());
            let width = lines.iter().map(|l| char_len(l)).max().unwrap_or(0);
            cells.push(Cell { lines, width });
        }
        table.push((height, cells));
    }

    let columns: Vec<Column> = props
        .iter()
        .enumerate()
        .map(|(i, prop)| {
            let schema = prop_schema(prop);
            let title = schema
                .and_then(|s| s.title.clone())
                .unwrap_or_else(|| prop.clone());
            let longest = table
                .iter()
                .map(|(_, cells)| cells[i].width)
                .fold(char_len(&title), usize::max);
            let limit = schema.and_then(|s| {
                s.extra
                    .get("print_width")
                    .and_then(Value::as_u64)
                    .or(s.max_length)
            });
            let cutoff = match limit {
                Some(limit) if (limit as usize) < longest => limit as usize,
                _ => longest,
            };
            Column {
                title,
                cutoff,
                right: is_numeric(schema),
            }
        })
        .collect();

    let show_border = !opts.noborder;
    let borders = build_borders(&columns, opts.utf8);
    let format_row = |texts: &[&str]| -> String {
        let mut line = String::new();
        let count = columns.len();
        for (i, (col, text)) in columns.iter().zip(texts).enumerate() {
            if show_border {
                let bar = if opts.utf8 { "│" } else { "|" };
                line.push_str(bar);
                line.push(' ');
                pad(&mut line, text, col.cutoff, col.right);
                line.push(' ');
                if i == count - 1 {
                    line.push_str(bar);
                }
            } else if i == count - 1 {
                line.push_str(text);
            } else {
                pad(&mut line, text, col.cutoff, col.right);
                line.push(' ');
            }
        }
        line
    };

    let mut out = String::new();
    let mut writeln = |text: &str| {
        let text = match opts.columns {
            Some(width) if width > 0 => prefix_chars(text, width),
            _ => text,
        };
        if opts.ascii_only {
            out.extend(text.chars().map(|c| if c.is_ascii() { c } else { '?' }));
        } else {
            out.push_str(text);
        }
        out.push('\n');
    };

    if show_border {
        writeln(&borders.top);
    }
    let mut separator = if layout.noheader {
        &borders.middle
    } else {
        let titles: Vec<&str> = columns.iter().map(|c| c.title.as_str()).collect();
        writeln(&format_row(&titles));
        &borders.header
    };
    for (index, (height, cells)) in table.iter().enumerate() {
        if show_border && (index != 0 || !layout.noheader) {
            writeln(separator);
            separator = &borders.middle;
        }
        for line in 0..*height {
            let texts: Vec<&str> = columns
                .iter()
                .zip(cells)
                .map(|(col, cell)| {
                    let text = cell.lines.get(line).map(String::as_str).unwrap_or("");
                    prefix_chars(text, col.cutoff)
                })
                .collect();
            writeln(&format_row(&texts));
        }
    }
    if show_border {
        writeln(&borders.bottom);
    }
    Ok(out)
}

fn build_borders(columns: &[Column], utf8: bool) -> Borders {
    let mut b = Borders {
        top: String::new(),
        header: String::new(),
        middle: String::new(),
        bottom: String::new(),
    };
    let count = columns.len();
    for (i, col) in columns.iter().enumerate() {
        let first = i == 0;
        let last = i == count - 1;
        let w = col.cutoff + 2;
        if utf8 {
            let (t, h, m, bo) = if first {
                ("┌", "╞", "├", "└")
            } else {
                ("┬", "╪", "┼", "┴")
            };
            for (border, start, fill) in [
                (&mut b.top, t, '─'),
                (&mut b.header, h, '═'),
                (&mut b.middle, m, '─'),
                (&mut b.bottom, bo, '─'),
            ] {
                border.push_str(start);
                border.extend(std::iter::repeat_n(fill, w));
            }
            if last {
                b.top.push('┐');
                b.header.push('╡');
                b.middle.push('┤');
                b.bottom.push('┘');
            }
        } else {
            b.middle.push('+');
            b.middle.extend(std::iter::repeat_n('-', w));
            b.header.push('+');
            b.header.extend(std::iter::repeat_n('=', w));
            if last {
                b.middle.push('+');
                // Upstream leaves the closing corner off a one-column header rule.
                if !first {
                    b.header.push('+');
                }
            }
        }
    }
    if b.top.is_empty() {
        b.top = b.middle.clone();
    }
    if b.bottom.is_empty() {
        b.bottom = b.middle.clone();
    }
    b
}

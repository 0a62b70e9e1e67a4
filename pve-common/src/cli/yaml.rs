//! YAML as upstream's YAML::XS `Dump` writes it (libyaml's emitter with its defaults:
//! indent 2, line width 80, unicode output, sorted keys, `JSON::PP` booleans).
//!
//! Strings that would read back as something else are quoted: empty, `~`, `true`,
//! `false`, `null` and numeric-looking strings in single quotes; multi-line strings in
//! double quotes up to 30 bytes, as a literal block (`|`) beyond.

use serde_json::Value;

use crate::perl::{json_number_to_string, looks_like_number};

/// The whole document, starting with the `---` marker.
pub fn dump_yaml(value: &Value) -> String {
    let mut emitter = Emitter::default();
    emitter.indicator("---", true, false, false);
    emitter.node(value, -1, Context::Root);
    if emitter.column > 0 {
        emitter.put_break();
    }
    emitter.out
}

/// The document without its leading `---` marker, as upstream's `yaml` renderer prints
/// values.
pub fn render_yaml(value: &Value) -> String {
    let text = dump_yaml(value);
    match text.strip_prefix("---") {
        Some(rest) if rest.starts_with(|c: char| c.is_whitespace()) => {
            let mut chars = rest.chars();
            chars.next();
            chars.as_str().to_string()
        }
        _ => text,
    }
}

const BEST_INDENT: i64 = 2;
const BEST_WIDTH: usize = 80;

#[derive(Clone, Copy, PartialEq)]
enum Context {
    Root,
    SequenceItem,
    MappingKey,
    MappingValue,
}

#[derive(Clone, Copy, PartialEq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

struct Emitter {
    out: String,
    column: usize,
    whitespace: bool,
    indention: bool,
}

impl Default for Emitter {
    fn default() -> Self {
        Self {
            out: String::new(),
            column: 0,
            whitespace: true,
            indention: true,
        }
    }
}

impl Emitter {
    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn indicator(
        &mut self,
        text: &str,
        need_whitespace: bool,
        is_whitespace: bool,
        is_indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        for c in text.chars() {
            self.put(c);
        }
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
    }

    fn write_indent(&mut self, indent: i64) {
        let indent = indent.max(0) as usize;
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    /// `indent` is the indentation of the enclosing collection (-1 at the root).
    fn node(&mut self, value: &Value, indent: i64, context: Context) {
        match value {
            Value::Array(items) if !items.is_empty() => {
                let indentless = context == Context::MappingValue && !self.indention;
                let indent = if indent < 0 {
                    0
                } else if indentless {
                    indent
                } else {
                    indent + BEST_INDENT
                };
                for item in items {
                    self.write_indent(indent);
                    self.indicator("-", true, false, true);
                    self.node(item, indent, Context::SequenceItem);
                }
            }
            Value::Object(map) if !map.is_empty() => {
                let indent = if indent < 0 { 0 } else { indent + BEST_INDENT };
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                for key in keys {
                    self.write_indent(indent);
                    self.string(key, indent, Context::MappingKey);
                    self.indicator(":", false, false, false);
                    self.node(&map[key], indent, Context::MappingValue);
                }
            }
            Value::Array(_) => {
                self.indicator("[", true, true, false);
                self.indicator("]", false, false, false);
            }
            Value::Object(_) => {
                self.indicator("{", true, true, false);
                self.indicator("}", false, false, false);
            }
            Value::Null => self.scalar("~", Style::Plain, indent, context),
            Value::Bool(b) => self.scalar(
                if *b { "true" } else { "false" },
                Style::Plain,
                indent,
                context,
            ),
            Value::Number(n) => {
                self.scalar(&json_number_to_string(n), Style::Plain, indent, context)
            }
            Value::String(s) => self.string(s, indent, context),
        }
    }

    fn string(&mut self, text: &str, indent: i64, context: Context) {
        let requested = if text.is_empty()
            || matches!(text, "~" | "true" | "false" | "null")
            || looks_like_number(text)
        {
            Style::Single
        } else if text.contains('\n') {
            if text.len() > 30 {
                Style::Literal
            } else {
                Style::Double
            }
        } else {
            Style::Plain
        };
        self.scalar(text, requested, indent, context);
    }

    fn scalar(&mut self, text: &str, requested: Style, indent: i64, context: Context) {
        let analysis = Analysis::of(text);
        let simple_key = context == Context::MappingKey;
        let mut style = requested;
        if style == Style::Plain
            && (!analysis.block_plain_allowed
                || (simple_key && analysis.multiline)
                || (text.is_empty() && simple_key))
        {
            style = Style::Single;
        }
        if style == Style::Single && !analysis.single_quoted_allowed {
            style = Style::Double;
        }
        if style == Style::Literal && (!analysis.block_allowed || simple_key) {
            style = Style::Double;
        }
        let indent = if indent < 0 {
            BEST_INDENT
        } else {
            indent + BEST_INDENT
        };
        let allow_breaks = !simple_key;
        match style {
            Style::Plain => self.plain(text, indent, allow_breaks),
            Style::Single => self.single_quoted(text, indent, allow_breaks),
            Style::Double => self.double_quoted(text, indent, allow_breaks),
            Style::Literal => self.literal(text, indent),
        }
    }

    fn plain(&mut self, text: &str, indent: i64, allow_breaks: bool) {
        if !self.whitespace && !text.is_empty() {
            self.put(' ');
        }
        let chars: Vec<char> = text.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_is_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks && !spaces && self.column > BEST_WIDTH && !next_is_space {
                    self.write_indent(indent);
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                self.indention = false;
                spaces = false;
            }
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn single_quoted(&mut self, text: &str, indent: i64, allow_breaks: bool) {
        self.indicator("'", true, false, false);
        let chars: Vec<char> = text.chars().collect();
        let (mut spaces, mut breaks) = (false, false);
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_is_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i != 0
                    && i + 1 != chars.len()
                    && !next_is_space
                {
                    self.write_indent(indent);
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.put_break();
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                self.put(c);
                if c == '\'' {
                    self.put('\'');
                }
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        if breaks {
            self.write_indent(indent);
        }
        self.indicator("'", false, false, false);
    }

    fn double_quoted(&mut self, text: &str, indent: i64, allow_breaks: bool) {
        self.indicator("\"", true, false, false);
        let chars: Vec<char> = text.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if !is_printable(c) || c == '\u{feff}' || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                let escaped = match c {
                    '\0' => "0".to_string(),
                    '\x07' => "a".into(),
                    '\x08' => "b".into(),
                    '\t' => "t".into(),
                    '\n' => "n".into(),
                    '\x0b' => "v".into(),
                    '\x0c' => "f".into(),
                    '\r' => "r".into(),
                    '\x1b' => "e".into(),
                    '"' => "\"".into(),
                    '\\' => "\\".into(),
                    '\u{85}' => "N".into(),
                    '\u{a0}' => "_".into(),
                    '\u{2028}' => "L".into(),
                    '\u{2029}' => "P".into(),
                    c if (c as u32) <= 0xff => format!("x{:02X}", c as u32),
                    c if (c as u32) <= 0xffff => format!("u{:04X}", c as u32),
                    c => format!("U{:08X}", c as u32),
                };
                for e in escaped.chars() {
                    self.put(e);
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i != 0
                    && i + 1 != chars.len()
                {
                    self.write_indent(indent);
                    if chars.get(i + 1) == Some(&' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.indicator("\"", false, false, false);
    }

    fn literal(&mut self, text: &str, indent: i64) {
        self.indicator("|", true, false, false);
        let chars: Vec<char> = text.chars().collect();
        if chars.first().is_some_and(|&c| c == ' ' || is_break(c)) {
            self.put(char::from(b'0' + BEST_INDENT as u8));
        }
        match chars.as_slice() {
            [.., last] if !is_break(*last) => self.put('-'),
            [_] => self.put('+'),
            [.., before, _] if is_break(*before) => self.put('+'),
            _ => {}
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for &c in &chars {
            if is_break(c) {
                self.put_break();
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
        self.whitespace = false;
    }
}

fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_printable(c: char) -> bool {
    matches!(c as u32, 0x0a | 0x20..=0x7e | 0x85 | 0xa0..=0xd7ff | 0xe000..=0xfffd | 0x10000..=0x10ffff)
        && c != '\u{feff}'
}

fn is_blank_or_end(c: Option<char>) -> bool {
    matches!(c, None | Some(' ' | '\t')) || c.is_some_and(is_break)
}

/// What libyaml's scalar analysis allows for a text in block context.
struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

impl Analysis {
    fn of(text: &str) -> Self {
        let chars: Vec<char> = text.chars().collect();
        if chars.is_empty() {
            return Self {
                multiline: false,
                block_plain_allowed: true,
                single_quoted_allowed: true,
                block_allowed: false,
            };
        }
        let mut block_indicators = text.starts_with("---") || text.starts_with("...");
        let (mut special, mut line_breaks) = (false, false);
        let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
            (false, false, false, false);
        let (mut break_space, mut space_break) = (false, false);
        let (mut previous_space, mut previous_break) = (false, false);
        let mut preceded_by_whitespace = true;
        let last = chars.len() - 1;
        for (i, &c) in chars.iter().enumerate() {
            let followed_by_whitespace = is_blank_or_end(chars.get(i + 1).copied());
            if i == 0 {
                match c {
                    '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\''
                    | '"' | '%' | '@' | '`' => block_indicators = true,
                    '?' | ':' | '-' if followed_by_whitespace => block_indicators = true,
                    _ => {}
                }
            } else {
                match c {
                    ':' if followed_by_whitespace => block_indicators = true,
                    '#' if preceded_by_whitespace => block_indicators = true,
                    _ => {}
                }
            }
            if !is_printable(c) {
                special = true;
            }
            if is_break(c) {
                line_breaks = true;
            }
            if c == ' ' {
                leading_space |= i == 0;
                trailing_space |= i == last;
                break_space |= previous_break;
                previous_space = true;
                previous_break = false;
            } else if is_break(c) {
                leading_break |= i == 0;
                trailing_break |= i == last;
                space_break |= previous_space;
                previous_break = true;
                previous_space = false;
            } else {
                previous_space = false;
                previous_break = false;
            }
            preceded_by_whitespace = is_blank_or_end(Some(c));
        }
        let mut analysis = Self {
            multiline: line_breaks,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: true,
        };
        if leading_space || leading_break || trailing_space || trailing_break {
            analysis.block_plain_allowed = false;
        }
        if trailing_space {
            analysis.block_allowed = false;
        }
        if break_space {
            analysis.block_plain_allowed = false;
            analysis.single_quoted_allowed = false;
        }
        if space_break || special {
            analysis.block_plain_allowed = false;
            analysis.single_quoted_allowed = false;
            analysis.block_allowed = false;
        }
        if line_breaks || block_indicators {
            analysis.block_plain_allowed = false;
        }
        analysis
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nodes_list() {
        let v =
            json!([{"cpu": 0.5, "level": "", "id": "node/pveo", "maxcpu": 2, "fp": "87:C0:52"}]);
        assert_eq!(
            dump_yaml(&v),
            "---\n- cpu: 0.5\n  fp: 87:C0:52\n  id: node/pveo\n  level: ''\n  maxcpu: 2\n"
        );
    }

    #[test]
    fn nesting_and_empties() {
        let v = json!({"a": [1, [2, 3], {"x": null}], "b": {"c": true}, "d": [], "e": {}});
        assert_eq!(
            dump_yaml(&v),
            "---\na:\n- 1\n- - 2\n  - 3\n- x: ~\nb:\n  c: true\nd: []\ne: {}\n"
        );
        assert_eq!(dump_yaml(&json!("foo")), "--- foo\n");
        assert_eq!(dump_yaml(&json!([])), "--- []\n");
        assert_eq!(render_yaml(&json!({"k": "v"})), "k: v\n");
    }

    #[test]
    fn quoting() {
        let v = json!({"memory": "2048", "n": 2048, "t": "true", "ind": "- x", "colon": "a: b",
            "hash": "a #b", "multi": "a\nb", "tab": "a\tb", "sq": "it's"});
        assert_eq!(
            dump_yaml(&v),
            "---\ncolon: 'a: b'\nhash: 'a #b'\nind: '- x'\nmemory: '2048'\nmulti: \"a\\nb\"\nn: 2048\nsq: it's\nt: 'true'\ntab: \"a\\tb\"\n"
        );
        let long = json!({"d": "line one is long enough\nline two\n"});
        assert_eq!(
            dump_yaml(&long),
            "---\nd: |\n  line one is long enough\n  line two\n"
        );
        let keep = json!(["0123456789 0123456789 0123456789\n"]);
        assert_eq!(
            dump_yaml(&keep),
            "---\n- |\n  0123456789 0123456789 0123456789\n"
        );
    }

    #[test]
    fn folds_long_plain_text() {
        let words = vec!["word"; 30].join(" ");
        let out = dump_yaml(&json!({ "k": words }));
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines.len() > 2, "{out}");
        assert!(lines[2].starts_with("  word"));
    }
}

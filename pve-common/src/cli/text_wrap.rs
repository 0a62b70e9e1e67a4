//! Paragraph wrapping as Perl's `Text::Wrap::wrap` with its defaults (76 columns,
//! tab stops every 8, over-long words cut, runs of leading blanks turned back into
//! tabs). The usage texts depend on its exact line breaks and tabs.

const COLUMNS: usize = 76;
const TABSTOP: usize = 8;

/// Replaces tabs by spaces up to the next tab stop, line by line.
pub fn expand(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut col = 0;
    for c in text.chars() {
        match c {
            '\t' => {
                let n = TABSTOP - col % TABSTOP;
                out.extend(std::iter::repeat_n(' ', n));
                col += n;
            }
            '\n' => {
                out.push(c);
                col = 0;
            }
            _ => {
                out.push(c);
                col += 1;
            }
        }
    }
    out
}

/// Turns runs of two or more blanks ending at a tab stop into a tab, line by line.
pub fn unexpand(text: &str) -> String {
    let lines: Vec<String> = text.split('\n').map(unexpand_line).collect();
    lines.join("\n")
}

fn unexpand_line(line: &str) -> String {
    let chars: Vec<char> = expand(line).chars().collect();
    let mut out = String::new();
    let full = chars.len() / TABSTOP * TABSTOP;
    for chunk in chars[..full].chunks(TABSTOP) {
        let trailing = chunk.iter().rev().take_while(|c| **c == ' ').count();
        if trailing >= 2 {
            out.extend(&chunk[..TABSTOP - trailing]);
            out.push('\t');
        } else {
            out.extend(chunk);
        }
    }
    out.extend(&chars[full..]);
    out
}

fn width(s: &str) -> usize {
    expand(s).chars().count()
}

/// Wraps `text`: the first line starts with `initial`, the others with `subsequent`.
pub fn wrap(initial: &str, subsequent: &str, text: &str) -> String {
    let t: Vec<char> = expand(text).chars().collect();
    let mut ll = (COLUMNS - 1).saturating_sub(width(initial));
    let nll = (COLUMNS - 1).saturating_sub(width(subsequent)).max(1);
    let mut lead = initial;
    let mut nl = "";
    let mut remainder = String::new();
    let mut out = String::new();
    let mut pos = 0;

    while t[pos..].iter().any(|c| !c.is_whitespace()) {
        let line: String;
        match best_break(&t[pos..], ll) {
            Some((k, brk)) => {
                line = t[pos..pos + k].iter().collect();
                remainder = t[pos + k..pos + k + brk].iter().collect();
                pos += k + brk;
            }
            None => {
                let k = ll.max(1).min(t.len() - pos);
                line = t[pos..pos + k].iter().collect();
                remainder = "\n".into();
                pos += k;
            }
        }
        out.push_str(&unexpand(&format!("{nl}{lead}{line}")));
        lead = subsequent;
        ll = nll;
        nl = "\n";
    }
    out.push_str(&remainder);
    out
}

/// The longest run of at most `max` characters without a newline that is followed by
/// a whitespace character (a break, returned with its length) or the end of the text.
fn best_break(t: &[char], max: usize) -> Option<(usize, usize)> {
    let limit = t
        .iter()
        .take(max + 1)
        .position(|c| *c == '\n')
        .unwrap_or(max.min(t.len()));
    (0..=limit.min(max)).rev().find_map(|k| {
        if k == t.len() {
            Some((k, 0))
        } else if t[k].is_whitespace() {
            let len = if t[k] == '\r' && t.get(k + 1) == Some(&'\n') {
                2
            } else {
                1
            };
            Some((k, len))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unexpands_leading_and_inner_blanks() {
        assert_eq!(unexpand("             x"), "\t     x");
        assert_eq!(
            unexpand("  --acpi     <boolean>   (default=1)"),
            "  --acpi     <boolean>\t (default=1)"
        );
        assert_eq!(unexpand("a       "), "a\t");
    }

    #[test]
    fn wraps_like_text_wrap() {
        let ind = "             ";
        assert_eq!(wrap(ind, ind, "short"), "\t     short");
        assert_eq!(wrap("", ind, "a\n\nb"), "a\n\t     \n\t     b");
        let long = "word ".repeat(20);
        let w = wrap("", "  ", long.trim_end());
        assert!(w.lines().all(|l| l.chars().count() <= 75));
        assert_eq!(
            wrap("", "", &"x".repeat(80)),
            format!("{}\n{}", "x".repeat(75), "x".repeat(5))
        );
        assert_eq!(wrap("", "", "line\n"), "line\n");
        assert_eq!(wrap("", "", ""), "");
    }
}

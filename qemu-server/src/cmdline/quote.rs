//! `qm showcmd --pretty` output: shell quoting and one option per line.

/// Quotes one argv element the way upstream's shell quoting does: bare when made only
/// of `[A-Za-z0-9_!%+,./:@^-]`, else in single quotes.
pub fn shell_quote(arg: &str) -> String {
    let bare = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_!%+,./:@^-".contains(&b));
    if bare {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// The pretty form: quoted, space-joined, every ` -` starting a continued line.
pub fn pretty_command(argv: &[String]) -> String {
    let line = argv
        .iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ");
    format!("{}\n", line.replace(" -", " \\\n  -"))
}

/// The corpus comparison form: split on whitespace + optional `\` + newline +
/// whitespace, trailing empty pieces dropped, joined with `\n`.
pub fn normalize_pretty(text: &str) -> String {
    let mut pieces: Vec<&str> = Vec::new();
    let mut rest = text;
    loop {
        let Some(nl) = rest.find('\n') else {
            pieces.push(rest);
            break;
        };
        let before = rest[..nl].trim_end();
        let before = before
            .strip_suffix('\\')
            .map(str::trim_end)
            .unwrap_or(before);
        pieces.push(before);
        rest = rest[nl + 1..].trim_start();
    }
    while pieces.last().is_some_and(|p| p.is_empty()) {
        pieces.pop();
    }
    pieces.join("\n")
}

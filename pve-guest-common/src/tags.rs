//! Guest tags (upstream's `get_unique_tags`): split, de-duplicated and ordered by the
//! `tag-style` of datacenter.cfg.

/// The `tag-style` settings that change how tags are stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TagStyle {
    pub case_sensitive: bool,
    /// `ordering=config`: keep the given order instead of sorting.
    pub keep_order: bool,
}

impl TagStyle {
    /// From the `tag-style:` value of datacenter.cfg.
    pub fn parse(value: &str) -> Self {
        let mut s = TagStyle::default();
        for part in value.split(',') {
            match part.split_once('=') {
                Some(("case-sensitive", v)) => s.case_sensitive = v == "1",
                Some(("ordering", v)) => s.keep_order = v == "config",
                _ => {}
            }
        }
        s
    }

    /// The `tag-style` of a datacenter.cfg text.
    pub fn from_datacenter_cfg(text: &str) -> Self {
        text.lines()
            .find_map(|l| l.strip_prefix("tag-style:"))
            .map(|v| Self::parse(v.trim()))
            .unwrap_or_default()
    }
}

/// Tags split at `,`, `;` and blanks, de-duplicated (case-insensitively unless the
/// style says otherwise, then lower-cased), sorted unless `ordering=config`, joined by
/// `;`.
pub fn unique_tags(tags: &str, style: TagStyle) -> String {
    let mut list: Vec<String> = tags
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    if !style.keep_order {
        if style.case_sensitive {
            list.sort();
        } else {
            list.sort_by_key(|t| t.to_lowercase());
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for t in list {
        let t = if style.case_sensitive {
            t
        } else {
            t.to_lowercase()
        };
        if seen.insert(t.clone()) {
            out.push(t);
        }
    }
    out.join(";")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_and_sorted() {
        assert_eq!(unique_tags("web prod;Web", TagStyle::default()), "prod;web");
        let keep = TagStyle::parse("ordering=config,case-sensitive=1");
        assert_eq!(unique_tags("web prod;Web;web", keep), "web;prod;Web");
    }
}

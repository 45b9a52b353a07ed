//! What is wrong with a manifest, typed: each problem names its field (a path such as
//! `input.window.hop` or `golden[2].output`), says what is wrong, and gives the line and column
//! in `manifest.toml` where the TOML parser's spans locate it.
//!
//! Locations cost nothing on a good manifest: the text is parsed for spans (toml's
//! [`toml::de::DeTable`]) only once there is a problem to locate. A deserializer error (a
//! syntax error, an unknown key, a wrong type) carries its own span ([`toml::de::Error::span`]);
//! its field is the deepest key whose key or value holds that span, when the text parses.
//!
//! Display stays `field: message`, with ` (line L, column C)` after it when located, so a grep
//! for `field: message` finds the problem either way.

use std::fmt;
use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// A place in the manifest's text, both 1-based; the column counts characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl Location {
    /// The line and column of byte `offset` in `text` (clamped to the text).
    pub fn of(text: &str, offset: usize) -> Location {
        Location::all(text, &[offset])[0]
    }

    /// The locations of many byte offsets in one pass over `text` (a hostile manifest can have
    /// a problem per list entry, hundreds of thousands on one line: locating each on its own
    /// would scan the text once per problem).
    pub fn all(text: &str, offsets: &[usize]) -> Vec<Location> {
        let mut order: Vec<usize> = (0..offsets.len()).collect();
        order.sort_unstable_by_key(|&i| offsets[i]);
        let mut out = vec![Location { line: 1, column: 1 }; offsets.len()];
        let mut here = Location { line: 1, column: 1 };
        let mut chars = text.char_indices().peekable();
        for i in order {
            // Past every character that ends at or before the offset.
            while let Some(&(at, c)) = chars.peek() {
                if at + c.len_utf8() > offsets[i] {
                    break;
                }
                here = if c == '\n' {
                    Location {
                        line: here.line + 1,
                        column: 1,
                    }
                } else {
                    Location {
                        column: here.column + 1,
                        ..here
                    }
                };
                chars.next();
            }
            out[i] = here;
        }
        out
    }
}

/// One thing wrong with a manifest: the field (dotted path, e.g. `input.window.hop_secs`, with
/// `[i]` for the i-th entry of an array such as `golden[2].output`; empty when no field is
/// known, as for a TOML syntax error), what is wrong with it, and where it is in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestProblem {
    pub field: String,
    pub message: String,
    /// Where the field (or the deserializer's error) is; `None` when the text does not say
    /// (a missing field is located at its table, a missing table not at all).
    pub at: Option<Location>,
}

impl fmt::Display for ManifestProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)?;
        } else {
            write!(f, "{}: {}", self.field, self.message)?;
        }
        if let Some(at) = self.at {
            write!(f, " (line {}, column {})", at.line, at.column)?;
        }
        Ok(())
    }
}

/// Everything wrong with a manifest, each problem with its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct ManifestErrors(pub Vec<ManifestProblem>);

impl ManifestErrors {
    /// Whether some problem names `field` (exactly).
    pub fn has(&self, field: &str) -> bool {
        self.0.iter().any(|p| p.field == field)
    }

    /// One problem about the whole text (no field), e.g. its size.
    pub(super) fn whole(message: String) -> ManifestErrors {
        ManifestErrors(vec![ManifestProblem {
            field: String::new(),
            message,
            at: None,
        }])
    }

    /// The deserializer's error: its message, its line and column, and the field it is in.
    pub(super) fn from_toml(text: &str, e: &toml::de::Error) -> ManifestErrors {
        let span = e.span();
        let field = match (&span, DeTable::parse(text)) {
            (Some(span), Ok(doc)) => field_at(doc.get_ref(), span.start),
            _ => String::new(),
        };
        ManifestErrors(vec![ManifestProblem {
            field,
            message: e.message().trim().replace('\n', " "),
            at: span.map(|s| Location::of(text, s.start)),
        }])
    }
}

/// Collects problems with their fields; [`Problems::located`] adds where they are.
#[derive(Debug, Default)]
pub(crate) struct Problems(pub(super) Vec<ManifestProblem>);

impl Problems {
    pub(crate) fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(ManifestProblem {
            field: field.into(),
            message: message.into(),
            at: None,
        });
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every problem, located in `text` (which deserialized, so it parses).
    pub(super) fn located(self, text: &str) -> ManifestErrors {
        let mut problems = self.0;
        if let Ok(doc) = DeTable::parse(text) {
            let spans: Vec<Option<Range<usize>>> = problems
                .iter()
                .map(|p| span_of(doc.get_ref(), &p.field))
                .collect();
            let starts: Vec<usize> = spans.iter().flatten().map(|s| s.start).collect();
            let mut found = Location::all(text, &starts).into_iter();
            for (p, span) in problems.iter_mut().zip(&spans) {
                p.at = span.as_ref().and_then(|_| found.next());
            }
        }
        ManifestErrors(problems)
    }
}

/// One step of a field path: a key, or an index into an array.
#[derive(Debug, PartialEq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// `golden[2].output` → golden, 2, output. `None` for a path this module does not write.
fn steps(field: &str) -> Option<Vec<Step<'_>>> {
    let mut out = Vec::new();
    for part in field.split('.') {
        let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if key.is_empty() {
            return None;
        }
        out.push(Step::Key(key));
        while !rest.is_empty() {
            let (n, after) = rest.split_once(']')?;
            out.push(Step::Index(n.parse().ok()?));
            rest = after.strip_prefix('[').unwrap_or(after);
        }
    }
    Some(out)
}

/// The span of the deepest part of `field` the document has: the field's value when it is
/// there, else its table or array entry (a missing key is reported at its table).
fn span_of(doc: &DeTable<'_>, field: &str) -> Option<Range<usize>> {
    if field.is_empty() {
        return None;
    }
    let steps = steps(field)?;
    let mut found: Option<&Spanned<DeValue<'_>>> = None;
    let mut table = Some(doc);
    let mut array: Option<&[Spanned<DeValue<'_>>]> = None;
    for step in steps {
        let next = match step {
            Step::Key(k) => table.and_then(|t| {
                t.iter()
                    .find(|(key, _)| key.get_ref().as_ref() == k)
                    .map(|(_, v)| v)
            }),
            Step::Index(i) => array.and_then(|a| a.get(i)),
        };
        let Some(v) = next else { break };
        found = Some(v);
        (table, array) = match v.get_ref() {
            DeValue::Table(t) => (Some(t), None),
            DeValue::Array(a) => (None, Some(&a[..])),
            _ => (None, None),
        };
    }
    found.map(Spanned::span)
}

/// The path of the deepest key whose key or value holds byte `offset` (empty if none does).
/// Every entry is searched, not only those whose span holds the offset: a table's span need
/// not cover its body (a `[table]` header is apart from its keys).
fn field_at(doc: &DeTable<'_>, offset: usize) -> String {
    in_table(doc, offset).unwrap_or_default()
}

fn holds(s: Range<usize>, offset: usize) -> bool {
    s.start <= offset && offset < s.end.max(s.start + 1)
}

fn in_table(t: &DeTable<'_>, offset: usize) -> Option<String> {
    t.iter().find_map(|(k, v)| {
        let key: &str = k.get_ref();
        match in_value(v.get_ref(), offset) {
            Some(rest) if rest.starts_with('[') => Some(format!("{key}{rest}")),
            Some(rest) => Some(format!("{key}.{rest}")),
            None if holds(k.span(), offset) || holds(v.span(), offset) => Some(key.to_string()),
            None => None,
        }
    })
}

/// The path below `v` (`.key…` without the dot, or `[i]…`) that holds `offset`.
fn in_value(v: &DeValue<'_>, offset: usize) -> Option<String> {
    match v {
        DeValue::Table(t) => in_table(t, offset),
        DeValue::Array(a) => {
            a.iter()
                .enumerate()
                .find_map(|(i, e)| match in_value(e.get_ref(), offset) {
                    Some(rest) if rest.starts_with('[') => Some(format!("[{i}]{rest}")),
                    Some(rest) => Some(format!("[{i}].{rest}")),
                    None if holds(e.span(), offset) => Some(format!("[{i}]")),
                    None => None,
                })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_count_lines_and_characters_from_one() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(Location::of(text, 0), Location { line: 1, column: 1 });
        assert_eq!(Location::of(text, 6), Location { line: 2, column: 1 });
        // 'é' is two bytes, one column.
        assert_eq!(Location::of(text, 9), Location { line: 2, column: 3 });
        assert_eq!(Location::of(text, 8), Location { line: 2, column: 2 });
        assert_eq!(Location::of(text, 999), Location { line: 3, column: 1 });
        // Many at once, in any order, in one pass.
        assert_eq!(
            Location::all(text, &[9, 0, 6, 9]),
            vec![
                Location { line: 2, column: 3 },
                Location { line: 1, column: 1 },
                Location { line: 2, column: 1 },
                Location { line: 2, column: 3 },
            ]
        );
    }

    #[test]
    fn field_paths_split_into_keys_and_indices() {
        assert_eq!(
            steps("golden[2].output"),
            Some(vec![
                Step::Key("golden"),
                Step::Index(2),
                Step::Key("output")
            ])
        );
        assert_eq!(
            steps("input.window.hop"),
            Some(vec![
                Step::Key("input"),
                Step::Key("window"),
                Step::Key("hop")
            ])
        );
        assert_eq!(steps("a[x]"), None);
        assert_eq!(steps(".a"), None);
    }

    const DOC: &str = "[model]\nname = \"m\"\n\n[input]\nwindow = { samples = 8, hop = 4 }\n\n\
                       [[golden]]\noutput = [1.0]\n\n[[golden]]\noutput = [2.0, 3.0]\n";

    #[test]
    fn problems_are_located_at_their_field_or_its_table() {
        let doc = DeTable::parse(DOC).unwrap();
        let at = |f: &str| span_of(doc.get_ref(), f).map(|s| Location::of(DOC, s.start));
        assert_eq!(at("model.name"), Some(Location { line: 2, column: 8 }));
        assert_eq!(
            at("input.window.hop"),
            Some(Location {
                line: 5,
                column: 31
            })
        );
        assert_eq!(
            at("golden[1].output"),
            Some(Location {
                line: 11,
                column: 10
            })
        );
        // A missing key: its table.
        let table = at("input.window.secs").unwrap();
        assert_eq!(table.line, 5);
        assert_eq!(at("output.name"), None);
        assert_eq!(at(""), None);
    }

    #[test]
    fn a_deserializer_error_names_its_field_and_place() {
        let text = DOC.replace("hop = 4", "hop = \"four\"");
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Window {
            samples: usize,
            hop: usize,
        }
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Input {
            window: Window,
        }
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Doc {
            input: Input,
        }
        let e = toml::from_str::<Doc>(&text).err().unwrap();
        let errors = ManifestErrors::from_toml(&text, &e);
        let p = &errors.0[0];
        assert_eq!(p.field, "input.window.hop");
        assert_eq!(
            p.at,
            Some(Location {
                line: 5,
                column: 31
            })
        );
        assert!(p.to_string().starts_with("input.window.hop: "), "{p}");
        assert!(p.to_string().ends_with("(line 5, column 31)"), "{p}");

        let broken = "[model]\nname = \n";
        let e = toml::from_str::<Doc>(broken).err().unwrap();
        let p = &ManifestErrors::from_toml(broken, &e).0[0];
        assert_eq!(p.field, "");
        assert_eq!(p.at.map(|a| a.line), Some(2));
    }
}

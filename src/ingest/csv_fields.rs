//! One CSV line → its fields, for the replay source and serial's `csv` lines.
//!
//! A line without a quote splits at every comma. A line with quotes goes through the `csv`
//! crate (RFC 4180): a field that starts with `"` may hold commas, and `""` inside it is one
//! quote (`"pump, east"`, `"say ""hi"""`). A quote that opens a field must close it, with only
//! spaces before the next comma or the end of the line; otherwise (`"open`, `"a"b`) the line is
//! `malformed` (the crate would read on). A quote inside an unquoted field (`12"`) is an
//! ordinary character. Every field is trimmed of spaces. One line is one record: a line break
//! inside quotes cannot occur (the caller reads lines), and a carriage return inside a line
//! with quotes is `malformed`.

use std::borrow::Cow;

use super::Reject;

/// The trimmed fields of `line`.
pub fn split(line: &str) -> Result<Vec<Cow<'_, str>>, Reject> {
    if !line.contains('"') {
        return Ok(line.split(',').map(|f| Cow::Borrowed(f.trim())).collect());
    }
    if !quotes_closed(line) {
        return Err(Reject::Malformed);
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(line.as_bytes());
    let mut records = reader.records();
    match (records.next(), records.next()) {
        (Some(Ok(record)), None) => Ok(record.iter().map(|f| Cow::Owned(f.into())).collect()),
        _ => Err(Reject::Malformed),
    }
}

/// Whether every field that opens with a quote closes it, followed by nothing but spaces up to
/// the next comma or the end.
fn quotes_closed(line: &str) -> bool {
    let mut chars = line.chars().peekable();
    let (mut field_start, mut quoted, mut closed) = (true, false, false);
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                } else {
                    quoted = false;
                    closed = true;
                }
            }
            continue;
        }
        match c {
            ',' => (field_start, closed) = (true, false),
            '"' if field_start => (field_start, quoted) = (false, true),
            c if closed && !c.is_whitespace() => return false,
            _ => field_start = false,
        }
    }
    !quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> Result<Vec<String>, Reject> {
        split(line).map(|f| f.into_iter().map(Cow::into_owned).collect())
    }

    #[test]
    fn plain_lines_split_at_every_comma_and_trim() {
        assert_eq!(fields(" ts , a,,b ").unwrap(), ["ts", "a", "", "b"]);
        assert_eq!(fields("12\",x").unwrap(), ["12\"", "x"]);
    }

    #[test]
    fn quoted_fields_hold_commas_and_doubled_quotes() {
        assert_eq!(
            fields(r#""ts","pump, east",1.5"#).unwrap(),
            ["ts", "pump, east", "1.5"]
        );
        assert_eq!(
            fields(r#"a,"say ""hi""","""""#).unwrap(),
            ["a", r#"say "hi""#, r#"""#]
        );
        assert_eq!(fields(r#""a" ,"b"  "#).unwrap(), ["a", "b"]);
        assert_eq!(fields(r#""","x""#).unwrap(), ["", "x"]);
    }

    #[test]
    fn an_unclosed_or_misplaced_quote_is_malformed() {
        for bad in [r#""open,1"#, r#"a,"b"c,1"#, r#"a,"b"#, "\"a\",b\rc"] {
            assert_eq!(fields(bad), Err(Reject::Malformed), "{bad:?}");
        }
    }
}

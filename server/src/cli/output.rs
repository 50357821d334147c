//! How the client commands print: events and JSON for people (JSON
//! payloads pretty-printed, coloured when stdout is a terminal and
//! `NO_COLOR` is unset), one JSON object per line for scripts (`--json`),
//! timestamps as RFC 3339 UTC, and quiet handling of a closed pipe
//! (`strata read x | head`).
//!
//! Pretty-printing works on the JSON text itself, not on a parsed value,
//! so object keys keep their order and numbers their spelling.
//!
//! Not here: the event line format of `--json` (`jsonl`), progress bars
//! (`progress`).

use super::jsonl::is_json_content_type;
use serde::Serialize;
use std::io::{IsTerminal, Write};
use strata_client::RecordedEvent;

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const KEY: &str = "\x1b[1;34m";
const STRING: &str = "\x1b[32m";
const NUMBER: &str = "\x1b[33m";
const LITERAL: &str = "\x1b[35m";
const STREAM: &str = "\x1b[1;36m";
const TYPE: &str = "\x1b[1;33m";

/// Whether to colour what goes to stdout.
pub fn color_stdout() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Writes `text` and a newline to stdout.
pub fn line(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")
}

/// Writes `value` as one line of JSON to stdout.
pub fn json_line<T: Serialize>(value: &T) -> std::io::Result<()> {
    let text = serde_json::to_string(value).map_err(std::io::Error::other)?;
    line(&text)
}

/// Flushes stdout (before exiting).
pub fn flush() -> std::io::Result<()> {
    std::io::stdout().lock().flush()
}

fn paint(color: bool, code: &str, text: &str) -> String {
    if color {
        format!("{code}{text}{RESET}")
    } else {
        text.to_owned()
    }
}

/// Unix microseconds as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub fn format_micros(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Pretty-prints valid JSON `text` (two-space indents, keys in their
/// order), coloured if asked; `None` if it is not JSON.
pub fn pretty_json(text: &str, color: bool) -> Option<String> {
    serde_json::from_str::<serde::de::IgnoredAny>(text).ok()?;
    let tokens = tokenize(text);
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    for (i, t) in tokens.iter().enumerate() {
        let next = tokens.get(i + 1).copied();
        match t {
            Tok::Open(c) => {
                out.push(*c);
                if matches!(next, Some(Tok::Close(_))) {
                    continue;
                }
                depth += 1;
                newline(&mut out, depth);
            }
            Tok::Close(c) => {
                let empty = i > 0 && matches!(tokens[i - 1], Tok::Open(_));
                if !empty {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth);
                }
                out.push(*c);
            }
            Tok::Comma => {
                out.push(',');
                newline(&mut out, depth);
            }
            Tok::Colon => out.push_str(": "),
            Tok::Str(s) => {
                let code = if matches!(next, Some(Tok::Colon)) {
                    KEY
                } else {
                    STRING
                };
                out.push_str(&paint(color, code, s));
            }
            Tok::Atom(a) => {
                let code = if a.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
                    NUMBER
                } else {
                    LITERAL
                };
                out.push_str(&paint(color, code, a));
            }
        }
    }
    Some(out)
}

#[derive(Debug, Clone, Copy)]
enum Tok<'a> {
    Open(char),
    Close(char),
    Comma,
    Colon,
    Str(&'a str),
    Atom(&'a str),
}

/// Splits valid JSON into tokens (strings with their quotes and escapes).
fn tokenize(text: &str) -> Vec<Tok<'_>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'{' | b'[' => out.push(Tok::Open(b[i] as char)),
            b'}' | b']' => out.push(Tok::Close(b[i] as char)),
            b',' => out.push(Tok::Comma),
            b':' => out.push(Tok::Colon),
            b'"' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                out.push(Tok::Str(&text[start..=i.min(b.len() - 1)]));
            }
            c if c.is_ascii_whitespace() => {}
            _ => {
                let start = i;
                while i + 1 < b.len() && !b"{}[],: \t\r\n\"".contains(&b[i + 1]) {
                    i += 1;
                }
                out.push(Tok::Atom(&text[start..=i]));
            }
        }
        i += 1;
    }
    out
}

/// Bytes for people: pretty JSON when the content type says JSON and it
/// is; text when UTF-8 without control characters; else a size.
pub fn payload(bytes: &[u8], content_type: &str, color: bool) -> String {
    if let Ok(text) = std::str::from_utf8(bytes) {
        if is_json_content_type(content_type) {
            if let Some(p) = pretty_json(text, color) {
                return p;
            }
        }
        if !text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return text.to_owned();
        }
    }
    paint(
        color,
        DIM,
        &format!("({} bytes of {content_type})", bytes.len()),
    )
}

/// One event for people: a header line, the data, the metadata if any.
pub fn event_human(e: &RecordedEvent, color: bool) -> String {
    let dot = paint(color, DIM, "·");
    let mut s = format!(
        "{} {dot} position {} {dot} {} {dot} {} {dot} {}\n",
        paint(color, STREAM, &format!("{}@{}", e.stream, e.revision)),
        e.position,
        paint(color, DIM, &format_micros(e.created_micros)),
        paint(color, TYPE, &e.event_type),
        paint(color, DIM, &e.id.to_string()),
    );
    s.push_str(&payload(&e.data, &e.content_type, color));
    if !e.metadata.is_empty() {
        s.push('\n');
        s.push_str(&paint(color, BOLD, "metadata: "));
        s.push_str(&payload(&e.metadata, "application/json", color));
    }
    s
}

/// Columns for people: each cell padded to its column's widest.
pub fn table(header: &[&str], rows: &[Vec<String>], color: bool) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let fmt_row = |cells: Vec<String>| {
        let n = cells.len();
        let mut line = String::new();
        for (i, (c, w)) in cells.into_iter().zip(&widths).enumerate() {
            line.push_str(&c);
            if i + 1 < n {
                line.push_str(&" ".repeat(w - c.chars().count() + 2));
            }
        }
        line
    };
    let mut out = paint(
        color,
        BOLD,
        &fmt_row(header.iter().map(|h| h.to_string()).collect()),
    );
    for r in rows {
        out.push('\n');
        out.push_str(&fmt_row(r.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(format_micros(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            format_micros(1_767_225_600_123_456),
            "2026-01-01T00:00:00.123456Z"
        );
        assert_eq!(
            format_micros(951_782_400_000_001),
            "2000-02-29T00:00:00.000001Z"
        );
        assert_eq!(format_micros(-1), "1969-12-31T23:59:59.999999Z");
    }

    #[test]
    fn json_keeps_key_order_and_spelling() {
        let p = pretty_json(r#"{"z":1.50,"a":[],"s":"x\"y","o":{"n":null}}"#, false).unwrap();
        assert_eq!(
            p,
            "{\n  \"z\": 1.50,\n  \"a\": [],\n  \"s\": \"x\\\"y\",\n  \"o\": {\n    \"n\": null\n  }\n}"
        );
        assert!(pretty_json("{not json", false).is_none());
        let c = pretty_json(r#"{"k":"v"}"#, true).unwrap();
        assert!(c.contains("\x1b[1;34m\"k\"\x1b[0m") && c.contains("\x1b[32m\"v\"\x1b[0m"));
    }

    #[test]
    fn payloads_for_people() {
        assert_eq!(
            payload(b"{\"a\":1}", "application/json", false),
            "{\n  \"a\": 1\n}"
        );
        assert_eq!(payload(b"plain text", "text/plain", false), "plain text");
        assert_eq!(
            payload(&[0, 1, 2], "application/octet-stream", false),
            "(3 bytes of application/octet-stream)"
        );
    }
}

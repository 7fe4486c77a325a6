//! The fields of a span in JSON logs, written straight into the span's buffer.
//!
//! tracing-subscriber's own `JsonFields` collects a span's fields into a map of `serde_json`
//! values (one allocation per field, then the map, then the text) when the span opens. Every
//! HTTP request opens one span, so that was a measurable share of a `POST /v1/check`'s CPU
//! (docs/benchmarks.md). This writes the same JSON object (same keys, same values) directly.

use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FormatFields, FormattedFields};

/// Span fields as one JSON object, for the JSON log format.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonSpanFields;

impl<'writer> FormatFields<'writer> for JsonSpanFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut visitor = Visitor {
            writer: &mut writer,
            first: true,
            result: Ok(()),
        };
        visitor.result = visitor.writer.write_char('{');
        fields.record(&mut visitor);
        visitor.result?;
        writer.write_char('}')
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        // Reopen the object: drop its closing brace, append the new fields, close it again.
        let reopened = current.fields.ends_with('}') && current.fields.len() > 1;
        if current.fields.is_empty() || current.fields == "{}" {
            current.fields.clear();
            return self.format_fields(current.as_writer(), fields);
        }
        if !reopened {
            return Err(fmt::Error);
        }
        current.fields.pop();
        let mut writer = current.as_writer();
        let mut visitor = Visitor {
            writer: &mut writer,
            first: false,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result?;
        writer.write_char('}')
    }
}

struct Visitor<'a, 'writer> {
    writer: &'a mut Writer<'writer>,
    first: bool,
    result: fmt::Result,
}

impl Visitor<'_, '_> {
    /// Writes `"name":` (with the separator), or nothing for fields the JSON format skips.
    fn key(&mut self, field: &Field) -> bool {
        let name = field.name();
        if self.result.is_err() || name.starts_with("log.") {
            return false;
        }
        let name = name.strip_prefix("r#").unwrap_or(name);
        if !self.first {
            self.result = self.writer.write_char(',');
        }
        self.first = false;
        self.result = self
            .result
            .and_then(|()| string(self.writer, name))
            .and_then(|()| self.writer.write_char(':'));
        self.result.is_ok()
    }

    fn raw(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.key(field) {
            self.result = self.writer.write_fmt(value);
        }
    }
}

impl Visit for Visitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.key(field) {
            self.result = string(self.writer, value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.key(field) {
            self.result = debug_string(self.writer, value);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.raw(field, format_args!("{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.raw(field, format_args!("{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.raw(field, format_args!("{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // As serde_json does: a number when finite, else null.
        if value.is_finite() {
            match serde_json::Number::from_f64(value) {
                Some(number) => self.raw(field, format_args!("{number}")),
                None => self.raw(field, format_args!("null")),
            }
        } else {
            self.raw(field, format_args!("null"));
        }
    }
}

/// A JSON string literal of a `Debug` rendering.
fn debug_string(writer: &mut Writer<'_>, value: &dyn fmt::Debug) -> fmt::Result {
    writer.write_char('"')?;
    write!(Escaped(writer), "{value:?}")?;
    writer.write_char('"')
}

/// A JSON string literal.
fn string(writer: &mut Writer<'_>, value: &str) -> fmt::Result {
    writer.write_char('"')?;
    Escaped(writer).write_str(value)?;
    writer.write_char('"')
}

/// Escapes what it is given for the inside of a JSON string.
struct Escaped<'a, 'writer>(&'a mut Writer<'writer>);

impl Write for Escaped<'_, '_> {
    fn write_str(&mut self, value: &str) -> fmt::Result {
        let mut plain = 0;
        for (i, byte) in value.bytes().enumerate() {
            let escape = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0x08 => "\\b",
                0x0c => "\\f",
                0..=0x1f => "",
                _ => continue,
            };
            self.0.write_str(&value[plain..i])?;
            if escape.is_empty() {
                write!(self.0, "\\u{byte:04x}")?;
            } else {
                self.0.write_str(escape)?;
            }
            plain = i + 1;
        }
        self.0.write_str(&value[plain..])
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::{Value, json};
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    /// The span of each JSON line, as written with `fields` and as tracing-subscriber's own
    /// `JsonFields` writes it.
    fn lines(custom: bool) -> Vec<Value> {
        let buffer = Buffer::default();
        let builder = tracing_subscriber::fmt().json().with_writer(buffer.clone());
        let log = || {
            let span = tracing::info_span!(
                "request",
                method = "POST",
                path = "/v1/check\"\\\n\u{1}é",
                request_id = %"id-1",
                count = 3_u64,
                delta = -4_i64,
                ratio = 0.5_f64,
                nan = f64::NAN,
                ok = true,
                r#type = ?Some("debug \"quoted\""),
                later = tracing::field::Empty,
            );
            let _entered = span.enter();
            tracing::info!("inside");
            span.record("later", "recorded");
            span.record("count", 4_u64);
            tracing::info!("after record");
        };
        if custom {
            tracing::subscriber::with_default(builder.fmt_fields(JsonSpanFields).finish(), log);
        } else {
            tracing::subscriber::with_default(builder.finish(), log);
        }
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| serde_json::from_str::<Value>(line).expect("a JSON line"))
            .map(|line| line["span"].clone())
            .collect()
    }

    #[test]
    fn spans_are_written_as_tracing_subscribers_json_fields_write_them() {
        let custom = lines(true);
        assert_eq!(custom, lines(false));
        assert_eq!(custom.len(), 2);
        assert_eq!(
            custom[0],
            json!({"name": "request", "method": "POST", "path": "/v1/check\"\\\n\u{1}é",
                   "request_id": "id-1", "count": 3, "delta": -4, "ratio": 0.5, "nan": null,
                   "ok": true, "type": "Some(\"debug \\\"quoted\\\"\")"})
        );
        assert_eq!(custom[1]["later"], "recorded");
        assert_eq!(custom[1]["count"], 4);
    }
}

//! The one CSV writer behind every CSV download (the API's, the console's and the CLI's), so
//! the same data leaves every door as the same bytes.
//!
//! RFC 4180 through the `csv` crate: a cell is quoted only when it holds a comma, a quote or a
//! line break, and every record ends in CRLF. Every cell also passes the OWASP rule against
//! CSV injection: one starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a
//! leading `'`, so a spreadsheet shows what a user typed instead of evaluating it.
//!
//! Lives here rather than in core because it writes to an `io::Write` (stdout for the CLI);
//! the use cases' own exports (`billing::costs_csv`, `access_review::AccessMatrixCsv`) build on
//! it. It reads nothing and decides nothing.

use std::borrow::Cow;
use std::io;

/// Writes CSV records to `W`, every cell guarded against formula injection.
#[derive(Debug)]
pub struct CsvWriter<W: io::Write> {
    inner: csv::Writer<W>,
}

impl<W: io::Write> CsvWriter<W> {
    pub fn new(out: W) -> Self {
        let inner = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            // The exports' rows all have their header's width; `flexible` only means that
            // writing to memory cannot fail.
            .flexible(true)
            .from_writer(out);
        Self { inner }
    }

    /// Writes one record.
    pub fn row<I>(&mut self, cells: I) -> io::Result<()>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        for cell in cells {
            self.inner
                .write_field(defuse_formula(cell.as_ref()).as_bytes())?;
        }
        // An empty record ends the one the fields above began.
        self.inner.write_record(None::<&[u8]>)?;
        Ok(())
    }

    /// Flushes and hands back the destination.
    pub fn finish(self) -> io::Result<W> {
        self.inner.into_inner().map_err(|err| err.into_error())
    }
}

/// Rows as one CSV text, for a download built in memory.
pub fn csv_text<R>(rows: impl IntoIterator<Item = R>) -> String
where
    R: IntoIterator,
    R::Item: AsRef<str>,
{
    let mut writer = CsvWriter::new(Vec::new());
    // Writing to a `Vec` cannot fail, and every cell is a `str`, so the text is UTF-8.
    let written = rows
        .into_iter()
        .try_for_each(|row| writer.row(row))
        .and_then(|()| writer.finish());
    written
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_default()
}

/// The cell as a spreadsheet must show it: with a leading `'` when it would start a formula.
pub fn defuse_formula(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_that_would_start_a_formula_is_defused() {
        for (cell, shown) in [
            ("=SUM(A1:A2)", "'=SUM(A1:A2)"),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("@cmd", "'@cmd"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("a=b", "a=b"),
            ("'quoted", "'quoted"),
            ("", ""),
        ] {
            assert_eq!(defuse_formula(cell), shown, "{cell:?}");
        }
    }

    #[test]
    fn records_end_in_crlf_and_only_what_needs_quotes_is_quoted() {
        let text = csv_text([
            vec!["day", "model", "amount_cents"],
            vec!["2024-01-02", "=HYPERLINK(\"x\",\"y\")", "5"],
            vec!["2024-01-03", "a,b", ""],
            vec!["2024-01-04", "line\nbreak", "-3"],
        ]);
        assert_eq!(
            text,
            "day,model,amount_cents\r\n\
             2024-01-02,\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\",5\r\n\
             2024-01-03,\"a,b\",\r\n\
             2024-01-04,\"line\nbreak\",'-3\r\n"
        );
    }

    #[test]
    fn a_stream_gets_the_same_bytes_as_a_text() {
        let rows = [["a", "+b"], ["c", "d"]];
        let mut writer = CsvWriter::new(Vec::new());
        for row in rows {
            assert!(writer.row(row).is_ok());
        }
        assert_eq!(writer.finish().ok(), Some(csv_text(rows).into_bytes()));
    }
}

//! JSON-lines plumbing shared by every subcommand.

use std::fs::File;
use std::io::{self, BufRead, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;
use serde_json::Value;
use smsbatch::Error;

/// Reads JSON lines from `reader`. A line that is not JSON, a blank one included, yields an error
/// describing it, so the caller prints an error line in its place and output lines stay aligned
/// with input lines.
pub(crate) fn json_lines(reader: impl BufRead) -> impl Iterator<Item = Result<Value, Error>> {
    reader.lines().enumerate().map(|(i, line)| match line {
        Err(e) => Err(Error::invalid_input(format!(
            "line {}: cannot read: {e}",
            i + 1
        ))),
        Ok(line) if line.trim().is_empty() => {
            Err(Error::invalid_input(format!("line {} is empty", i + 1)))
        }
        Ok(line) => serde_json::from_str(&line)
            .map_err(|e| Error::invalid_input(format!("line {} is not JSON: {e}", i + 1))),
    })
}

/// `{"error": {...}}`, the error in its own field order (`kind`, `message`, then its details).
#[derive(Serialize)]
pub(crate) struct ErrorLine<'a> {
    pub(crate) error: &'a Error,
}

/// Opens the `what` file (named in the error: "the customers file ...").
pub(crate) fn open(path: &Path, what: &str) -> Result<File, Error> {
    File::open(path).map_err(|e| {
        Error::invalid_input(format!("cannot open the {what} {}: {e}", path.display()))
    })
}

/// Reads the whole `what` file as UTF-8 text.
pub(crate) fn read_text(path: &Path, what: &str) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| {
        Error::invalid_input(format!("cannot read the {what} {}: {e}", path.display()))
    })
}

/// Buffered stdout that writes one JSON value per line.
pub(crate) struct Output {
    out: BufWriter<io::StdoutLock<'static>>,
}

impl Output {
    pub(crate) fn stdout() -> Self {
        Self {
            out: BufWriter::with_capacity(1 << 16, io::stdout().lock()),
        }
    }

    /// Writes `value` as one line.
    pub(crate) fn line(&mut self, value: &impl Serialize) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, value).map_err(io::Error::other)?;
        self.out.write_all(b"\n")
    }

    /// Writes `{"error": {...}}` for `err`.
    pub(crate) fn error(&mut self, err: &Error) -> io::Result<()> {
        self.line(&ErrorLine { error: err })
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Maps the end of a run to an exit status: a closed stdout (`| head`) is a normal end, any other
/// I/O failure is reported on stderr.
pub(crate) fn finish(result: io::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("smsbatch: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reports a fatal error as one `{"error": ...}` line on stdout and returns exit status 2.
pub(crate) fn fatal(err: &Error) -> ExitCode {
    let mut out = Output::stdout();
    let _ = out.error(err).and_then(|()| out.flush());
    ExitCode::from(2)
}

/// Prints one JSON line on stdout (the whole output of a store subcommand).
pub(crate) fn print(value: &impl Serialize) -> Result<(), smsbatch::Error> {
    let mut out = Output::stdout();
    match out.line(value).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        // A closed stdout (`| head`) is a normal end.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(smsbatch::Error::invalid_input(format!(
            "cannot write the output: {e}"
        ))),
    }
}

/// The system clock as a [`smsbatch::Timestamp`] (clamped to its range, which a working clock
/// never leaves). The command line is the edge where the clock is read; the library takes the
/// time as a parameter.
pub(crate) fn clock_now() -> smsbatch::Timestamp {
    use smsbatch::Timestamp;
    use std::time::{SystemTime, UNIX_EPOCH};
    let micros = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_micros()).map_or(i64::MIN, |m| -m),
    };
    Timestamp::saturating_from_unix_micros(micros)
}

/// Prints text as it is on stdout (a table for people).
pub(crate) fn print_text(text: &str) -> Result<(), smsbatch::Error> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(smsbatch::Error::invalid_input(format!(
            "cannot write the output: {e}"
        ))),
    }
}

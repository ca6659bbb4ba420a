//! JSON-lines plumbing shared by every subcommand.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;
use serde_json::Value;
use smsbatch::Error;

/// Reads JSON lines from `reader`. A line that is not JSON, a blank one included, yields an error
/// describing it, so the caller prints an error line in its place and output lines stay aligned
/// with input lines. A leading byte order mark is skipped. A read error (a directory given as
/// standard input, a disk failing) ends the lines: the caller takes it from
/// [`JsonLines::read_error`] and stops with it (one error line, exit status 2), where retrying
/// would print the same error forever.
pub(crate) fn json_lines<R: BufRead>(mut reader: R) -> JsonLines<R> {
    let failed = ReadFailure::default();
    if let Err(e) = skip_bom(&mut reader) {
        failed.set(Error::invalid_input(format!("cannot read the input: {e}")));
    }
    JsonLines {
        lines: reader.lines(),
        number: 0,
        failed,
    }
}

/// The JSON lines of a reader; see [`json_lines`].
pub(crate) struct JsonLines<R> {
    lines: std::io::Lines<R>,
    number: usize,
    failed: ReadFailure,
}

impl<R> JsonLines<R> {
    /// The read error that ended the lines, if one did.
    pub(crate) fn read_error(&self) -> Option<Error> {
        self.failed.get()
    }

    /// A handle on the read error that outlives the iterator (moved into a boxed stream).
    pub(crate) fn failure(&self) -> ReadFailure {
        self.failed.clone()
    }
}

/// Where a stream records the read error that ended it.
#[derive(Clone, Default)]
pub(crate) struct ReadFailure(std::rc::Rc<std::cell::RefCell<Option<smsbatch::ErrorKind>>>);

impl ReadFailure {
    fn set(&self, e: Error) {
        *self.0.borrow_mut() = Some(e.into_kind());
    }

    /// The error, if the stream ended on one.
    pub(crate) fn get(&self) -> Option<Error> {
        self.0.borrow().clone().map(Error::from)
    }
}

impl<R: BufRead> Iterator for JsonLines<R> {
    type Item = Result<Value, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed.get().is_some() {
            return None;
        }
        let line = self.lines.next()?;
        self.number += 1;
        let i = self.number;
        Some(match line {
            Err(e) => {
                self.failed
                    .set(Error::invalid_input(format!("line {i}: cannot read: {e}")));
                return None;
            }
            Ok(line) if line.trim().is_empty() => {
                Err(Error::invalid_input(format!("line {i} is empty")))
            }
            Ok(line) => parse_json(&line)
                .map_err(|e| Error::invalid_input(format!("line {i} is not JSON: {e}"))),
        })
    }
}

/// Consumes a UTF-8 byte order mark at the start of `reader`, if there is one: editors on
/// Windows write it, and it is not part of the text.
pub(crate) fn skip_bom(reader: &mut impl BufRead) -> io::Result<()> {
    let buf = reader.fill_buf()?;
    if buf.starts_with(BOM.as_bytes()) {
        reader.consume(BOM.len());
    }
    Ok(())
}

const BOM: &str = "\u{feff}";

/// `{"error": {...}}`, the error in its own field order (`kind`, `message`, then its details).
#[derive(Serialize)]
pub(crate) struct ErrorLine<'a> {
    pub(crate) error: &'a Error,
}

/// Opens the `what` file (named in the error: "the customers file ...") for buffered reading,
/// past a leading byte order mark.
pub(crate) fn open(path: &Path, what: &str) -> Result<BufReader<File>, Error> {
    let failed = |e: io::Error| {
        Error::invalid_input(format!("cannot read the {what} {}: {e}", path.display()))
    };
    let file = File::open(path).map_err(|e| {
        Error::invalid_input(format!("cannot open the {what} {}: {e}", path.display()))
    })?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    skip_bom(&mut reader).map_err(failed)?;
    Ok(reader)
}

/// Reads the whole `what` file as UTF-8 text, without a leading byte order mark.
pub(crate) fn read_text(path: &Path, what: &str) -> Result<String, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::invalid_input(format!("cannot read the {what} {}: {e}", path.display()))
    })?;
    Ok(match text.strip_prefix(BOM) {
        Some(rest) => rest.to_owned(),
        None => text,
    })
}

/// Reads the `what` JSON file as text for a parser of the library, after checking that no object
/// in it has the same key twice (serde_json, which the library's `from_json` functions use, keeps
/// the last one silently). Other syntax errors are left to that parser, which names them in its
/// own terms.
pub(crate) fn read_json_text(path: &Path, what: &str) -> Result<String, Error> {
    let text = read_text(path, what)?;
    if let Err(e) = parse_json(&text)
        && e.classify() == serde_json::error::Category::Data
    {
        return Err(Error::invalid_input(format!(
            "the {what} {}: {e}",
            path.display()
        )));
    }
    Ok(text)
}

/// Parses a JSON array strictly (see [`parse_json`]); another document is serde's "invalid
/// type" error.
pub(crate) fn parse_json_array(text: &str) -> serde_json::Result<Vec<Value>> {
    let mut de = serde_json::Deserializer::from_str(text);
    let items: Vec<StrictValue> = serde::Deserialize::deserialize(&mut de)?;
    de.end()?;
    Ok(items.into_iter().map(|StrictValue(v)| v).collect())
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

    /// Ends the run on a fatal error: its line after every line already written, through this
    /// same writer (a second one would write into the middle of this one's buffer), then exit
    /// status 2.
    pub(crate) fn fatal(mut self, err: &Error) -> ExitCode {
        match self.error(err).and_then(|()| self.flush()) {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => finish(Err(e)),
            _ => ExitCode::from(2),
        }
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

/// User text for an error line: at most 64 characters (then `…`), quoted as a JSON string, as
/// the library quotes the values its errors repeat. Rust's debug quoting would show escapes
/// such as `\u{a0}`, and a 5,000 character value would make a 5,000 character line.
pub(crate) fn quote(s: &str) -> String {
    const MAX: usize = 64;
    let clipped = match s.char_indices().nth(MAX) {
        None => s.to_owned(),
        Some((end, _)) => format!("{}…", &s[..end]),
    };
    serde_json::to_string(&clipped).unwrap_or(clipped)
}

/// Parses one JSON document like `serde_json::from_str`, except that an object with the same key
/// twice is an error: serde_json keeps the last one silently, so `{"phone": "a", "phone": "b"}`
/// would be read as only one of the two.
pub(crate) fn parse_json(text: &str) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_str(text);
    let StrictValue(value) = serde::Deserialize::deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// A JSON value read without duplicate keys (see [`parse_json`]).
pub(crate) struct StrictValue(pub(crate) Value);

impl<'de> serde::Deserialize<'de> for StrictValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format!(
                    "the key {} appears twice in one object",
                    quote(&key)
                )));
            }
            let StrictValue(v) = map.next_value()?;
            object.insert(key, v);
        }
        Ok(Value::Object(object))
    }
}

/// The elements of a JSON array read one at a time from a buffered reader, so a large customers
/// file is never in memory: only the element being parsed is (its bytes, then its value). The
/// array's framing (`[`, `,`, `]`) is read here; each element's bytes are found by their nesting
/// (strings and escapes included) and parsed strictly. A malformed element ends the stream
/// (nothing after it can be found reliably): its error, or a read error, is recorded as the read
/// error.
pub(crate) struct ArrayElements<R> {
    reader: R,
    /// The current element's bytes.
    element: Vec<u8>,
    count: usize,
    done: bool,
    what: String,
    failed: ReadFailure,
}

impl<R: BufRead> ArrayElements<R> {
    /// Checks that `reader` opens a JSON array; `what` names the file in errors.
    pub(crate) fn new(reader: R, what: String) -> Result<Self, Error> {
        let mut elements = Self {
            reader,
            element: Vec::new(),
            count: 0,
            done: false,
            what,
            failed: ReadFailure::default(),
        };
        let first = elements
            .skip_space()
            .map_err(|e| Error::invalid_input(format!("cannot read {}: {e}", elements.what)))?;
        if first != Some(b'[') {
            return Err(Error::invalid_input(format!(
                "{} must hold a JSON array of objects",
                elements.what
            )));
        }
        elements.reader.consume(1);
        Ok(elements)
    }

    /// Where the error that ended the stream is recorded.
    pub(crate) fn failure(&self) -> ReadFailure {
        self.failed.clone()
    }

    /// Skips white space; the next byte (not consumed), or `None` at the end.
    fn skip_space(&mut self) -> io::Result<Option<u8>> {
        loop {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                return Ok(None);
            }
            let n = buf
                .iter()
                .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(buf.len());
            let next = buf.get(n).copied();
            self.reader.consume(n);
            if next.is_some() {
                return Ok(next);
            }
        }
    }

    /// Reads one element's bytes into `self.element`: up to the end of its outermost object,
    /// list or string, or, for a number or a literal, up to the next `,`, `]` or white space
    /// (not consumed). At the end of the input it stops with what it has, which the parser then
    /// reports as cut short.
    fn read_element(&mut self) -> io::Result<()> {
        self.element.clear();
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        loop {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                return Ok(());
            }
            let mut used = 0;
            let mut end = false;
            for &b in buf {
                if in_string {
                    used += 1;
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        in_string = false;
                        end = depth == 0;
                        if end {
                            break;
                        }
                    }
                    continue;
                }
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' if depth > 0 => {
                        depth -= 1;
                        if depth == 0 {
                            used += 1;
                            end = true;
                            break;
                        }
                    }
                    // The end of a number or a literal (or a stray closing bracket): not part of
                    // the element.
                    b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r' if depth == 0 => {
                        end = true;
                        break;
                    }
                    _ => {}
                }
                used += 1;
            }
            self.element.extend_from_slice(&buf[..used]);
            self.reader.consume(used);
            if end {
                return Ok(());
            }
        }
    }

    fn fail(&mut self, message: String) -> Option<Result<Value, Error>> {
        self.done = true;
        self.failed.set(Error::invalid_input(format!(
            "{} is not a JSON array: {message}",
            self.what
        )));
        None
    }

    fn read_failed(&mut self, e: &io::Error) -> Option<Result<Value, Error>> {
        self.done = true;
        self.failed.set(Error::invalid_input(format!(
            "cannot read {}: {e}",
            self.what
        )));
        None
    }
}

impl<R: BufRead> Iterator for ArrayElements<R> {
    type Item = Result<Value, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = match self.skip_space() {
            Ok(next) => next,
            Err(e) => return self.read_failed(&e),
        };
        match next {
            Some(b']') => {
                self.reader.consume(1);
                self.done = true;
                return match self.skip_space() {
                    Ok(None) => None,
                    Ok(Some(_)) => self.fail("text after the closing ]".to_owned()),
                    Err(e) => self.read_failed(&e),
                };
            }
            Some(b',') if self.count > 0 => {
                self.reader.consume(1);
                if let Err(e) = self.skip_space() {
                    return self.read_failed(&e);
                }
            }
            None => return self.fail("it ends before its closing ]".to_owned()),
            Some(_) if self.count > 0 => {
                return self.fail(format!("expected , or ] after element {}", self.count));
            }
            Some(_) => {}
        }
        if let Err(e) = self.read_element() {
            return self.read_failed(&e);
        }
        if self.element.is_empty() {
            return match self.skip_space() {
                Ok(None) => self.fail("it ends before its closing ]".to_owned()),
                Ok(Some(_)) => self.fail(format!("element {} is missing", self.count + 1)),
                Err(e) => self.read_failed(&e),
            };
        }
        match serde_json::from_slice::<StrictValue>(&self.element) {
            Ok(StrictValue(value)) => {
                self.count += 1;
                Some(Ok(value))
            }
            Err(e) => self.fail(format!("element {}: {e}", self.count + 1)),
        }
    }
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

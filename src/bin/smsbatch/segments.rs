//! `smsbatch segments`: encoding, segments and parts of each message.
//!
//! Input: JSON lines on stdin, each a JSON string or `{"text": "..."}`; or, with `--input FILE`, a
//! JSON array of strings. Output: one `Segmentation` object per message, or with `--summary` only
//! the totals `{"messages", "segments", "byEncoding": {"GSM-7": {...}, "UCS-2": {...}}}`.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::ValueEnum;
use serde::Serialize;
use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::Value;
use smsbatch::{Encoding, Error, NationalLanguage, SegmentConfig, Segmenter, SplitPolicy};

use crate::io::{Output, fatal, finish, json_lines, read_text};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Where UCS-2 text may be cut between parts.
    #[arg(long, value_enum, default_value_t = Split::Graphemes)]
    split: Split,
    /// Replace typographic look-alikes (curly quotes, dashes, ...) when that keeps a message GSM-7,
    /// and report each replacement.
    #[arg(long)]
    smart_encoding: bool,
    /// National language shift tables to allow, comma-separated: tr, es, pt.
    #[arg(long, value_delimiter = ',')]
    national_languages: Vec<NationalLanguage>,
    /// Use the 16-bit concatenation reference (152 septets / 66 units per part).
    #[arg(long)]
    ref16: bool,
    /// Read a JSON array of strings from FILE instead of JSON lines from stdin.
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Print only the totals.
    #[arg(long)]
    summary: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Split {
    Graphemes,
    CodePoints,
}

#[derive(Default, Serialize)]
struct Totals {
    messages: u64,
    segments: u64,
}

#[derive(Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    messages: u64,
    segments: u64,
    by_encoding: ByEncoding,
}

#[derive(Default, Serialize)]
struct ByEncoding {
    #[serde(rename = "GSM-7")]
    gsm7: Totals,
    #[serde(rename = "UCS-2")]
    ucs2: Totals,
}

impl Summary {
    fn add(&mut self, segmenter: &Segmenter, text: &str) {
        let count = segmenter.count(text);
        let segments = u64::from(count.segments);
        self.messages += 1;
        self.segments += segments;
        let bucket = match count.encoding {
            Encoding::Gsm7 => &mut self.by_encoding.gsm7,
            Encoding::Ucs2 => &mut self.by_encoding.ucs2,
        };
        bucket.messages += 1;
        bucket.segments += segments;
    }
}

pub(crate) fn run(args: Args) -> ExitCode {
    let segmenter = SegmentConfig::new()
        .split(match args.split {
            Split::Graphemes => SplitPolicy::Graphemes,
            Split::CodePoints => SplitPolicy::CodePoints,
        })
        .smart_encoding(args.smart_encoding)
        .national_languages(args.national_languages.iter().copied())
        .ref16(args.ref16)
        .build();
    match &args.input {
        Some(path) => from_file(&segmenter, path, args.summary),
        None => from_stdin(&segmenter, args.summary),
    }
}

/// The text of one input line: a JSON string, or an object with a string `text`.
fn text_of(value: &Value) -> Result<&str, Error> {
    match value {
        Value::String(s) => Ok(s),
        Value::Object(map) => match map.get("text") {
            Some(Value::String(s)) => Ok(s),
            Some(other) => Err(Error::invalid_input(format!(
                "\"text\" must be a string, found {}",
                shown(other)
            ))),
            None => Err(Error::invalid_input("the object has no \"text\" field")),
        },
        other => Err(Error::invalid_input(format!(
            "expected a JSON string or {{\"text\": ...}}, found {}",
            shown(other)
        ))),
    }
}

/// A JSON value as the input wrote it, cut short, for an error message.
fn shown(value: &Value) -> String {
    const MAX: usize = 40;
    let text = value.to_string();
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

fn from_stdin(segmenter: &Segmenter, summary_only: bool) -> ExitCode {
    let stdin = io::stdin();
    let mut out = Output::stdout();
    let mut summary = Summary::default();
    let mut lines = json_lines(BufReader::new(stdin.lock()));
    for line in &mut lines {
        let written = match line.and_then(|v| text_of(&v).map(str::to_owned)) {
            Ok(text) if summary_only => {
                summary.add(segmenter, &text);
                Ok(())
            }
            Ok(text) => out.line(&segmenter.segment(&text)),
            // Totals cannot stand in for a bad line, so a bad line ends the run.
            Err(e) if summary_only => return out.fatal(&e),
            Err(e) => out.error(&e),
        };
        if let Err(e) = written {
            return finish(Err(e));
        }
    }
    if let Some(e) = lines.read_error() {
        return out.fatal(&e);
    }
    end(out, summary_only.then_some(&summary))
}

fn from_file(segmenter: &Segmenter, path: &Path, summary_only: bool) -> ExitCode {
    let content = match read_text(path, "messages file") {
        Ok(c) => c,
        Err(e) => return fatal(&e),
    };
    let mut out = Output::stdout();
    let mut summary = Summary::default();
    let mut write_error = None;
    let mut de = serde_json::Deserializer::from_str(&content);
    // Stream the array: each string is counted as it is parsed, borrowed from the file's text when
    // it has no escapes, so a million messages never sit in memory twice.
    let parsed = EachString(|text: &str| {
        if summary_only {
            summary.add(segmenter, text);
        } else if write_error.is_none()
            && let Err(e) = out.line(&segmenter.segment(text))
        {
            write_error = Some(e);
        }
    })
    .deserialize(&mut de)
    .and_then(|()| de.end());
    if let Some(e) = write_error {
        return finish(Err(e));
    }
    if let Err(e) = parsed {
        // After the lines of the elements before it, through the same writer.
        return out.fatal(&Error::invalid_input(format!(
            "{}: expected a JSON array of strings: {e}",
            path.display()
        )));
    }
    end(out, summary_only.then_some(&summary))
}

/// Writes the totals when they are what was asked for, and flushes.
fn end(mut out: Output, summary: Option<&Summary>) -> ExitCode {
    let written = match summary {
        Some(summary) => out.line(summary),
        None => Ok(()),
    };
    finish(written.and_then(|()| out.flush()))
}

/// Deserialises a JSON array of strings, handing each to the callback.
struct EachString<F>(F);

impl<'de, F: FnMut(&str)> DeserializeSeed<'de> for EachString<F> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(&str)> Visitor<'de> for EachString<F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of strings")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(Text(text)) = seq.next_element::<Text<'de>>()? {
            (self.0)(&text);
        }
        Ok(())
    }
}

/// A string borrowed from the input when it has no escapes (serde's own `Cow<str>` always copies).
struct Text<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }

            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V)
    }
}

//! The nesting bound checked on a template's text before handlebars parses it.
//!
//! Handlebars' parser (a pest grammar, `handlebars-6.4.4/src/grammar.pest`) and the tree it builds
//! recurse once per level of blocks, subexpressions and array or object literals, so a body of a
//! few kilobytes nested a few thousand deep exhausts the stack (and in WebAssembly corrupts the
//! module for good) long before the finished tree could be counted. The count must therefore come
//! from the text, and it must read the text as that grammar does, or a template can hide its
//! nesting from the count: a `"` inside a bracketed path segment `[a"]` is not a string, a
//! `{{!-- x }}` without a closing `--}}` ends at the first `}}`, a `\{{` is text. This scanner
//! follows those lexical rules: raw text with its escapes, both comment forms, raw blocks
//! `{{{{raw}}}}...{{{{/raw}}}}`, and inside tags strings (JSON escapes), numbers, `null`/`true`/
//! `false`, paths with `[...]` segments, array and object literals and subexpressions. Where the
//! grammar tries two readings of the same text (an array literal, else a path segment), the scan
//! counts the levels the first attempt reaches and continues as the grammar commits.
//!
//! Every level the parser may enter is counted; where the scan is unsure it counts more, never
//! less, so a template it accepts cannot recurse deeper than [`Template::MAX_NESTING`] plus a
//! constant. The scan itself recurses only up to that limit.

use super::registry::{Template, syntax_error};
use crate::error::{Error, Result};

/// Checks that no block, subexpression or literal nests deeper than [`Template::MAX_NESTING`].
pub(super) fn check(body: &str) -> Result<()> {
    let mut scan = Scan {
        body,
        b: body.as_bytes(),
        blocks: Vec::new(),
    };
    scan.template()
}

struct Scan<'a> {
    body: &'a str,
    b: &'a [u8],
    /// One entry per open block: the links of its `{{else ...}}` chain (handlebars nests each
    /// link one level deeper, until the block closes).
    blocks: Vec<usize>,
}

/// A character the grammar allows in an identifier or a path segment (`symbol_char`): ASCII
/// letters and digits, `- _ $ :` and any non-ASCII character (every byte of one is >= 0x80).
fn symbol(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'$' | b':') || b >= 0x80
}

fn space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl Scan<'_> {
    fn at(&self, i: usize) -> u8 {
        self.b.get(i).copied().unwrap_or(0)
    }

    fn starts(&self, i: usize, s: &str) -> bool {
        self.b
            .get(i..)
            .is_some_and(|rest| rest.starts_with(s.as_bytes()))
    }

    fn find(&self, from: usize, s: &str) -> Option<usize> {
        self.body.get(from..)?.find(s).map(|k| from + k)
    }

    fn skip_space(&self, mut i: usize) -> usize {
        while space(self.at(i)) {
            i += 1;
        }
        i
    }

    fn block_depth(&self) -> usize {
        self.blocks.len() + self.blocks.iter().sum::<usize>()
    }

    fn too_deep(&self, at: usize) -> Error {
        let before = &self.body[..at.min(self.body.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        syntax_error(
            (line, column),
            format!(
                "blocks, subexpressions and literals are nested more than {} deep",
                Template::MAX_NESTING
            ),
        )
    }

    /// Fails when `depth` levels are more than the limit; `open` is the tag, for the position.
    fn level(&self, depth: usize, open: usize) -> Result<()> {
        if depth > Template::MAX_NESTING {
            Err(self.too_deep(open))
        } else {
            Ok(())
        }
    }

    /// Where a run of backslashes at `i` ends and whether it escapes a following `{{` (the
    /// grammar's `escape`: one backslash before `{{` makes it text, with a second `{{`; two or
    /// more are text and the `{{` still opens a tag).
    fn backslashes(&self, i: usize) -> (usize, bool) {
        let mut j = i;
        while self.at(j) == b'\\' {
            j += 1;
        }
        (j, j - i == 1 && self.starts(j, "{{"))
    }

    /// The template: raw text and tags, to the end of the body.
    fn template(&mut self) -> Result<()> {
        let mut i = 0;
        while i < self.b.len() {
            match self.b[i] {
                b'\\' => {
                    let (j, escaped) = self.backslashes(i);
                    i = if escaped {
                        let k = j + 2;
                        if self.starts(k, "{{") { k + 2 } else { k }
                    } else {
                        j
                    };
                }
                b'{' if self.starts(i, "{{") => match self.tag(i)? {
                    Some(next) => i = next,
                    // The grammar cannot go on from here: handlebars reports the error.
                    None => return Ok(()),
                },
                _ => i += 1,
            }
        }
        Ok(())
    }

    /// A tag starting at `open` (`{{`); returns where the text after it starts, or `None` when
    /// the rest cannot parse at all.
    fn tag(&mut self, open: usize) -> Result<Option<usize>> {
        if self.starts(open, "{{{{") {
            return self.raw_block(open);
        }
        if self.starts(open, "{{!--")
            && let Some(end) = self.find(open + 5, "--}}")
        {
            return Ok(Some(end + 4));
        }
        if self.starts(open, "{{!") {
            return Ok(self.find(open + 3, "}}").map(|end| end + 2));
        }
        let mut j = self.skip_space(open + 2);
        if self.at(j) == b'~' {
            j = self.skip_space(j + 1);
        }
        // `{{{x}}}`, `{{{x}}}` written `{{ {x} }}`, and `{{&x}}`.
        if matches!(self.at(j), b'{' | b'&') {
            j = self.skip_space(j + 1);
        }
        match self.at(j) {
            b'#' => {
                self.blocks.push(0);
                j += 1;
                if matches!(self.at(j), b'*' | b'>') {
                    j += 1;
                }
            }
            b'/' => {
                self.blocks.pop();
                j += 1;
            }
            b'^' => {
                j += 1;
                let k = self.skip_space(j);
                let k = if self.at(k) == b'~' { k + 1 } else { k };
                if !self.starts(k, "}}") {
                    self.link();
                }
            }
            b'>' => {
                j = self.skip_space(j + 1);
                if self.at(j) == b'\'' {
                    // A quoted partial name (`partial_identifier`) reads to the first quote that
                    // `\'` does not escape, whatever is inside.
                    let mut k = j + 1;
                    while k < self.b.len() && self.b[k] != b'\'' {
                        k += if self.starts(k, "\\'") { 2 } else { 1 };
                    }
                    j = k + 1;
                }
            }
            _ if self.starts(j, "else") => {
                let k = self.skip_space(j + 4);
                let k = if self.at(k) == b'~' { k + 1 } else { k };
                if !self.starts(k, "}}") {
                    // `{{else if x}}`, and also `{{elsewhere}}`: the grammar reads it as
                    // `else` + `where`.
                    self.link();
                }
                j += 4;
            }
            _ => {}
        }
        let depth = self.block_depth();
        self.level(depth, open)?;
        Ok(Some(self.tag_body(j, depth, open)?))
    }

    fn link(&mut self) {
        match self.blocks.last_mut() {
            Some(links) => *links += 1,
            // An inverse section outside a block does not parse; counting it is harmless.
            None => self.blocks.push(0),
        }
    }

    /// A raw block `{{{{helper args}}}}text{{{{/helper}}}}` (or its end tag) at `open`.
    fn raw_block(&mut self, open: usize) -> Result<Option<usize>> {
        let mut j = self.skip_space(open + 4);
        if self.at(j) == b'~' {
            j = self.skip_space(j + 1);
        }
        let closing = self.at(j) == b'/';
        let depth = self.block_depth();
        let end = self.tag_body(j, depth, open)?;
        // `tag_body` stops after the first `}}`; a raw tag closes with `}}}}`.
        if !self.starts(end, "}}") {
            return Ok(Some(end));
        }
        let mut i = end + 2;
        if closing {
            return Ok(Some(i));
        }
        // The text up to the next `{{{{`, with the same escapes as raw text.
        while i < self.b.len() {
            match self.b[i] {
                b'\\' => {
                    let (j, escaped) = self.backslashes(i);
                    i = if escaped {
                        let k = j + 2;
                        if self.starts(k, "{{") { k + 2 } else { k }
                    } else {
                        j
                    };
                }
                b'{' if self.starts(i, "{{{{") => return Ok(Some(i)),
                _ => i += 1,
            }
        }
        Ok(None)
    }

    /// The inside of a tag from `i` to its closing `}}`: names, parameters, subexpressions.
    /// Returns the position after the `}}` (or the end of the body).
    fn tag_body(&self, mut i: usize, base: usize, open: usize) -> Result<usize> {
        // Open subexpressions.
        let mut parens = 0usize;
        // At a name (the first thing in a tag or a subexpression) the grammar tries a path, not
        // a literal.
        let mut name = true;
        while i < self.b.len() {
            let c = self.b[i];
            match c {
                _ if space(c) => {
                    i += 1;
                    continue;
                }
                b'}' if self.at(i + 1) == b'}' => return Ok(i + 2),
                b'(' => {
                    parens += 1;
                    self.level(base + parens, open)?;
                    i += 1;
                    name = true;
                    continue;
                }
                b')' => {
                    parens = parens.saturating_sub(1);
                    i += 1;
                }
                b'"' | b'\'' if !name => {
                    // Not a valid string: the grammar fails here; go on reading as code.
                    i = self.string(i).unwrap_or(i + 1);
                }
                b'[' | b'{' if !name => {
                    // A literal first; if it does not parse the grammar reads `[` as a path.
                    match self.literal(i, base + parens, open)? {
                        Some(end) => i = end,
                        None if c == b'[' => i = self.path(i).unwrap_or(i + 1),
                        None => i += 1,
                    }
                }
                b'-' | b'0'..=b'9' if !name => {
                    i = self.number(i).or_else(|| self.path(i)).unwrap_or(i + 1);
                }
                _ => i = self.path(i).unwrap_or(i + 1),
            }
            name = false;
        }
        Ok(i)
    }

    /// A string literal at `i` (`"` or `'`, JSON escapes): the position after it.
    fn string(&self, i: usize) -> Option<usize> {
        let quote = self.b[i];
        let mut k = i + 1;
        loop {
            match *self.b.get(k)? {
                b if b == quote => return Some(k + 1),
                b'\\' => {
                    let e = *self.b.get(k + 1)?;
                    if e == quote || matches!(e, b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') {
                        k += 2;
                    } else if e == b'u'
                        && self
                            .b
                            .get(k + 2..k + 6)
                            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
                    {
                        k += 6;
                    } else {
                        return None;
                    }
                }
                _ => k += 1,
            }
        }
    }

    /// A number literal at `i`: `-`? digits (`.` digits?)? (`E` `-`? digits)?, not followed by
    /// an identifier character.
    fn number(&self, i: usize) -> Option<usize> {
        let digits = |mut k: usize| {
            let start = k;
            while self.at(k).is_ascii_digit() {
                k += 1;
            }
            (k > start).then_some(k)
        };
        let mut k = if self.at(i) == b'-' { i + 1 } else { i };
        k = digits(k)?;
        if self.at(k) == b'.' {
            k += 1;
            while self.at(k).is_ascii_digit() {
                k += 1;
            }
        }
        if self.at(k) == b'E' {
            let e = if self.at(k + 1) == b'-' { k + 2 } else { k + 1 };
            if let Some(end) = digits(e) {
                k = end;
            }
        }
        (!symbol(self.at(k))).then_some(k)
    }

    /// A path at `i` (`a.b`, `../x`, `@root.a`, `this.[a b].c`): the position after it.
    fn path(&self, i: usize) -> Option<usize> {
        let mut k = i;
        let sep = |k: usize| matches!(self.at(k), b'.' | b'/');
        if self.starts(k, "this") && sep(k + 4) {
            k += 5;
        } else if self.starts(k, "./") {
            k += 2;
        }
        if self.starts(k, "@root") && sep(k + 5) {
            k += 6;
        }
        if self.at(k) == b'@' {
            k += 1;
        }
        while self.starts(k, "..") && sep(k + 2) {
            k += 3;
        }
        k = self.path_item(k)?;
        while sep(k)
            && let Some(end) = self.path_item(k + 1)
        {
            k = end;
        }
        Some(k)
    }

    /// One path segment: identifier characters, or `[` anything but `]` `]`.
    fn path_item(&self, i: usize) -> Option<usize> {
        if self.at(i) == b'[' {
            return self.find(i + 1, "]").map(|end| end + 1);
        }
        let mut k = i;
        while symbol(self.at(k)) {
            k += 1;
        }
        (k > i).then_some(k)
    }

    /// A literal at `i`, nested inside `depth` levels: the position after it, or `None` when
    /// it does not parse. Errors when arrays and objects nest past the limit, as the grammar's
    /// attempt would recurse that far even if the literal then fails.
    fn literal(&self, i: usize, depth: usize, open: usize) -> Result<Option<usize>> {
        let i = self.skip_space(i);
        match self.at(i) {
            b'"' | b'\'' => Ok(self.string(i)),
            b'[' => {
                self.level(depth + 1, open)?;
                let mut k = self.skip_space(i + 1);
                let mut first = true;
                loop {
                    if self.at(k) == b']' {
                        return Ok(Some(k + 1));
                    }
                    if !first {
                        if self.at(k) != b',' {
                            return Ok(None);
                        }
                        k += 1;
                    }
                    match self.literal(k, depth + 1, open)? {
                        Some(end) => k = self.skip_space(end),
                        // `[` followed by no literal, then `,` or `]`.
                        None if first => {}
                        None => return Ok(None),
                    }
                    first = false;
                }
            }
            b'{' => {
                self.level(depth + 1, open)?;
                let mut k = self.skip_space(i + 1);
                let mut first = true;
                loop {
                    if self.at(k) == b'}' {
                        return Ok(Some(k + 1));
                    }
                    if !first {
                        if self.at(k) != b',' {
                            return Ok(None);
                        }
                        k = self.skip_space(k + 1);
                    }
                    first = false;
                    if !matches!(self.at(k), b'"' | b'\'') {
                        return Ok(None);
                    }
                    let Some(end) = self.string(k) else {
                        return Ok(None);
                    };
                    k = self.skip_space(end);
                    if self.at(k) != b':' {
                        return Ok(None);
                    }
                    match self.literal(k + 1, depth + 1, open)? {
                        Some(end) => k = self.skip_space(end),
                        None => return Ok(None),
                    }
                }
            }
            b'-' | b'0'..=b'9' => Ok(self.number(i)),
            _ => Ok(["null", "true", "false"]
                .iter()
                .find(|w| self.starts(i, w) && !symbol(self.at(i + w.len())))
                .map(|w| i + w.len())),
        }
    }
}

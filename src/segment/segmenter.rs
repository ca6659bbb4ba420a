//! The segmenter: its configuration, its results, and the packing of text into parts.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

use super::fast;
use super::gsm7::{Alphabet, default_cost};
use super::smart::{self, Replacement};
use super::ucs2::GraphemeCuts;
use crate::error::{Error, ErrorKind, Result};

/// How a message travels: 7-bit GSM septets or 16-bit UCS-2 (UTF-16) units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Encoding {
    /// The GSM 7-bit alphabet (3GPP TS 23.038 §6.2.1), possibly with national shift tables.
    #[serde(rename = "GSM-7")]
    Gsm7,
    /// UCS-2, counted in UTF-16 code units (a character outside the BMP takes two).
    #[serde(rename = "UCS-2")]
    Ucs2,
}

impl Encoding {
    /// The name providers and this crate's JSON use: `"GSM-7"` or `"UCS-2"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Gsm7 => "GSM-7",
            Self::Ucs2 => "UCS-2",
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a UCS-2 message may be cut between parts.
///
/// A cut never falls inside a surrogate pair (that would corrupt the character) nor, in GSM-7,
/// inside an escape pair. The policy decides whether user-perceived characters (grapheme
/// clusters: flags, skin-tone and family emoji, letters with combining marks) are kept whole too.
/// It applies to UCS-2 only: GSM-7 text splits anywhere but inside an escape pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SplitPolicy {
    /// Keep grapheme clusters whole (Unicode UAX #29 extended clusters); a cluster longer than a
    /// whole part falls back to code point splitting. What a reader sees is never torn apart.
    #[default]
    Graphemes,
    /// Cut at any code point boundary. Fewer segments in rare cases; a flag or an emoji sequence
    /// may arrive split across two parts.
    CodePoints,
}

/// A national language whose shift tables (3GPP TS 23.038 Annex A) may encode a message in 7 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum NationalLanguage {
    /// Turkish: locking shift table A.3.1 and single shift table A.2.1.
    #[serde(rename = "tr")]
    Turkish,
    /// Spanish: single shift table A.2.2 (there is no Spanish locking shift table).
    #[serde(rename = "es")]
    Spanish,
    /// Portuguese: locking shift table A.3.3 and single shift table A.2.3.
    #[serde(rename = "pt")]
    Portuguese,
}

impl NationalLanguage {
    /// The ISO 639-1 code this crate's JSON uses: `"tr"`, `"es"` or `"pt"`.
    pub const fn code(self) -> &'static str {
        match self {
            Self::Turkish => "tr",
            Self::Spanish => "es",
            Self::Portuguese => "pt",
        }
    }
}

impl FromStr for NationalLanguage {
    type Err = Error;

    /// Parses `tr`, `es` or `pt` (case-insensitive).
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tr" => Ok(Self::Turkish),
            "es" => Ok(Self::Spanish),
            "pt" => Ok(Self::Portuguese),
            _ => Err(Error::new(ErrorKind::InvalidInput {
                message: format!("unknown national language {s:?}: expected one of tr, es, pt"),
            })),
        }
    }
}

/// Options for counting and splitting; [`SegmentConfig::build`] turns them into a [`Segmenter`].
///
/// ```
/// use smsbatch::{NationalLanguage, SegmentConfig, SplitPolicy};
///
/// let segmenter = SegmentConfig::new()
///     .split(SplitPolicy::CodePoints)
///     .national_languages([NationalLanguage::Turkish])
///     .max_segments(4)
///     .build();
/// assert_eq!(segmenter.count("Şişli").segments, 1);
/// ```
// The fields are public to read; `non_exhaustive` keeps struct literals out of other crates, so a
// new option (set through the builder) is not a breaking change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SegmentConfig {
    /// Where UCS-2 text may be cut between parts.
    pub split: SplitPolicy,
    /// Use the 16-bit concatenation reference (a 7-octet header: 152 septets / 66 units per part)
    /// instead of the usual 8-bit one (153 / 67).
    pub ref16: bool,
    /// National languages whose shift tables may be used; empty (the default) uses only the
    /// default alphabet, which every handset supports.
    pub national_languages: Vec<NationalLanguage>,
    /// Replace typographic look-alikes (curly quotes, dashes, no-break spaces...) so the message
    /// stays GSM-7; see [`Segmenter::segment`] for when it applies.
    pub smart_encoding: bool,
    /// The most segments a message may take before [`Segmenter::validate`] rejects it.
    pub max_segments: u32,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        Self {
            split: SplitPolicy::default(),
            ref16: false,
            national_languages: Vec::new(),
            smart_encoding: false,
            max_segments: Self::DEFAULT_MAX_SEGMENTS,
        }
    }
}

impl SegmentConfig {
    /// The default maximum number of segments a message may take.
    pub const DEFAULT_MAX_SEGMENTS: u32 = 10;

    /// The defaults: grapheme-safe splitting, 8-bit reference, default alphabet only, no smart
    /// encoding, at most 10 segments.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets where UCS-2 text may be cut.
    pub fn split(mut self, policy: SplitPolicy) -> Self {
        self.split = policy;
        self
    }

    /// Uses the 16-bit concatenation reference when `yes`.
    pub fn ref16(mut self, yes: bool) -> Self {
        self.ref16 = yes;
        self
    }

    /// Allows the shift tables of these languages.
    pub fn national_languages(
        mut self,
        languages: impl IntoIterator<Item = NationalLanguage>,
    ) -> Self {
        self.national_languages = languages.into_iter().collect();
        self
    }

    /// Turns smart encoding on or off.
    pub fn smart_encoding(mut self, yes: bool) -> Self {
        self.smart_encoding = yes;
        self
    }

    /// Sets the most segments a valid message may take.
    pub fn max_segments(mut self, max: u32) -> Self {
        self.max_segments = max;
        self
    }

    /// Builds the segmenter, preparing the alphabets of the chosen national languages.
    pub fn build(self) -> Segmenter {
        let mut languages = self.national_languages.clone();
        // Keep the caller's order (it breaks ties) but drop repeats.
        let mut seen = Vec::new();
        languages.retain(|l| {
            let new = !seen.contains(l);
            seen.push(*l);
            new
        });
        let mut national: Vec<Alphabet> = Vec::new();
        for &single in &languages {
            national.extend(Alphabet::new(None, Some(single)));
        }
        for &locking in &languages {
            national.extend(Alphabet::new(Some(locking), None));
        }
        for &locking in &languages {
            for &single in &languages {
                national.extend(Alphabet::new(Some(locking), Some(single)));
            }
        }
        Segmenter {
            config: self,
            national,
        }
    }
}

/// Encoding, units and segments of a message: what the hot count-only path returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SegmentCount {
    /// How the message is encoded.
    pub encoding: Encoding,
    /// Septets (GSM-7, an extension character counting 2) or UTF-16 units (UCS-2).
    pub units: u32,
    /// Segments (parts) the provider sends and bills; 1 for the empty text.
    pub segments: u32,
}

/// A character that forced a message into UCS-2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonGsmChar {
    /// The character.
    #[serde(rename = "char")]
    pub ch: char,
    /// Its UTF-16 offset in the text (as JavaScript indexes strings).
    pub index: u32,
}

/// The national language shift tables a GSM-7 message uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NationalShift {
    /// The single shift table's language, if one is used.
    pub single_shift: Option<NationalLanguage>,
    /// The locking shift table's language, if one is used.
    pub locking_shift: Option<NationalLanguage>,
}

/// Everything about how a message is encoded and split, for display and billing.
///
/// Serialises to the command line's `segments` JSON (camelCase):
/// `{"encoding", "segments", "units", "segmentUnits", "capacity", "graphemes", "parts", "nonGsm"}`,
/// plus `"nationalLanguage"` when national languages are enabled and `"replacements"` when smart
/// encoding is.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Segmentation {
    /// How the message is encoded.
    pub encoding: Encoding,
    /// Segments the provider sends and bills.
    pub segments: u32,
    /// Septets (GSM-7) or UTF-16 units (UCS-2) in the whole message.
    pub units: u32,
    /// Units in each part, in order.
    pub segment_units: Vec<u32>,
    /// Units a part can hold for this message (160, 153, 70, 67, ... once headers are paid for).
    pub capacity: u32,
    /// User-perceived characters (extended grapheme clusters).
    pub graphemes: u32,
    /// The text of each part, in order; they concatenate to the text that is sent.
    pub parts: Vec<String>,
    /// The characters that forced UCS-2, with their UTF-16 offsets; empty for GSM-7.
    pub non_gsm: Vec<NonGsmChar>,
    /// The shift tables used, present when national languages are enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub national_language: Option<NationalShift>,
    /// Smart encoding's replacements, present when smart encoding is enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacements: Option<Vec<Replacement>>,
}

impl Segmentation {
    /// Units still free in the last part.
    pub fn remaining(&self) -> u32 {
        let last = self.segment_units.last().copied().unwrap_or(0);
        self.capacity.saturating_sub(last)
    }

    /// The text that is sent: the parts joined (it differs from the input only when smart
    /// encoding replaced something).
    pub fn text(&self) -> String {
        self.parts.concat()
    }

    /// The count-only view of this result.
    pub fn count(&self) -> SegmentCount {
        SegmentCount {
            encoding: self.encoding,
            units: self.units,
            segments: self.segments,
        }
    }
}

/// Counts and splits SMS text exactly as a provider bills it.
///
/// Build one with [`SegmentConfig`] (or take [`Segmenter::default`]) and reuse it: it is
/// immutable, cheap to clone and `Send + Sync`.
///
/// ```
/// use smsbatch::{Encoding, Segmenter};
///
/// let segmenter = Segmenter::default();
/// let count = segmenter.count("Hi Ana, your order is ready 🎉");
/// assert_eq!(count.encoding, Encoding::Ucs2);
/// assert_eq!(count.segments, 1);
///
/// // 81 × '€' is 162 septets: two parts, and an escape pair is never split.
/// let full = segmenter.segment(&"€".repeat(81));
/// assert_eq!(full.segment_units, vec![152, 10]);
/// ```
#[derive(Clone, Debug)]
pub struct Segmenter {
    config: SegmentConfig,
    /// 7-bit alphabets to try besides the default one, in tie-breaking order.
    national: Vec<Alphabet>,
}

impl Default for Segmenter {
    fn default() -> Self {
        SegmentConfig::default().build()
    }
}

/// Which alphabet a message is encoded with, and its count.
#[derive(Clone, Copy, Debug)]
struct Plan {
    count: SegmentCount,
    /// Index into `Segmenter::national` for a national 7-bit alphabet; `None` for the default
    /// alphabet or UCS-2.
    alphabet: Option<usize>,
}

/// A part of a message as a byte range of the text and its units.
struct Part {
    start: usize,
    end: usize,
    units: usize,
}

/// Units a part holds: 140 octets less the user data header (TS 23.040 §9.2.3.24), where the
/// header carries a concatenation element (5 octets, 6 with a 16-bit reference) and 3 octets per
/// national language shift element, plus its own length octet.
fn capacity(encoding: Encoding, shift_elements: u32, concatenated: bool, ref16: bool) -> usize {
    let mut elements = 3 * shift_elements;
    if concatenated {
        elements += if ref16 { 6 } else { 5 };
    }
    let header = if elements == 0 { 0 } else { elements + 1 };
    let free = (140 - header) as usize;
    match encoding {
        Encoding::Gsm7 => free * 8 / 7,
        Encoding::Ucs2 => free / 2,
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Segmenter {
    /// A segmenter with the default configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// The configuration this segmenter was built from.
    pub fn config(&self) -> &SegmentConfig {
        &self.config
    }

    /// Encoding, units and segments of `text`: the fast path for previews and billing.
    ///
    /// `""` counts as GSM-7, 0 units, 1 segment, which is what a provider would bill;
    /// [`validate`](Self::validate) rejects it.
    pub fn count(&self, text: &str) -> SegmentCount {
        self.plan_smart(text).0.count
    }

    /// Counts `text` and checks it is sendable: not empty (nor only whitespace) and within the
    /// configured maximum number of segments.
    ///
    /// ```
    /// use smsbatch::{ErrorKind, SegmentConfig};
    ///
    /// let segmenter = SegmentConfig::new().max_segments(1).build();
    /// assert!(segmenter.validate("hello").is_ok());
    /// let err = segmenter.validate(&"x".repeat(161)).unwrap_err();
    /// assert_eq!(err.kind(), &ErrorKind::TooManySegments { segments: 2, max: 1 });
    /// ```
    pub fn validate(&self, text: &str) -> Result<SegmentCount> {
        if text.trim().is_empty() {
            return Err(Error::new(ErrorKind::EmptyMessage));
        }
        let count = self.count(text);
        if count.segments > self.config.max_segments {
            return Err(Error::new(ErrorKind::TooManySegments {
                segments: count.segments,
                max: self.config.max_segments,
            }));
        }
        Ok(count)
    }

    /// The full result: parts, units per part, capacity, graphemes and the characters that
    /// forced UCS-2.
    ///
    /// With smart encoding on, replacements are made only when they let the whole message be
    /// sent in 7 bits; if other characters force UCS-2 anyway the text is left as written (in
    /// UCS-2 a replacement saves nothing and `…` → `...` would cost more), and `replacements` is
    /// empty.
    pub fn segment(&self, text: &str) -> Segmentation {
        let (plan, body, replacements) = self.plan_smart(text);
        let parts = self.pack(&body, plan);
        let encoding = plan.count.encoding;
        let cap = match plan.alphabet {
            Some(i) => self.alphabet_capacity(&self.national[i], plan.count.segments > 1),
            None => capacity(encoding, 0, plan.count.segments > 1, self.config.ref16),
        };
        let non_gsm = if encoding == Encoding::Ucs2 {
            self.non_gsm(&body)
        } else {
            Vec::new()
        };
        Segmentation {
            encoding,
            segments: plan.count.segments,
            units: plan.count.units,
            segment_units: parts.iter().map(|p| to_u32(p.units)).collect(),
            capacity: to_u32(cap),
            graphemes: to_u32(body.graphemes(true).count()),
            parts: parts
                .iter()
                .map(|p| body[p.start..p.end].to_owned())
                .collect(),
            non_gsm,
            national_language: (!self.config.national_languages.is_empty()).then(|| {
                match plan.alphabet {
                    Some(i) => NationalShift {
                        single_shift: self.national[i].single,
                        locking_shift: self.national[i].locking,
                    },
                    None => NationalShift::default(),
                }
            }),
            replacements: self.config.smart_encoding.then_some(replacements),
        }
    }

    /// The plan for `text` after smart encoding, with the text it applies to.
    fn plan_smart<'t>(&self, text: &'t str) -> (Plan, Cow<'t, str>, Vec<Replacement>) {
        let plan = self.plan(text);
        if self.config.smart_encoding && plan.count.encoding == Encoding::Ucs2 {
            let (replaced, replacements) = smart::apply(text);
            if !replacements.is_empty() {
                let smart_plan = self.plan(&replaced);
                if smart_plan.count.encoding == Encoding::Gsm7 {
                    return (smart_plan, replaced, replacements);
                }
            }
        }
        (plan, Cow::Borrowed(text), Vec::new())
    }

    /// Chooses the cheapest encoding for `text` and counts it.
    fn plan(&self, text: &str) -> Plan {
        let single_gsm = capacity(Encoding::Gsm7, 0, false, false);
        let concat_gsm = capacity(Encoding::Gsm7, 0, true, self.config.ref16);
        let graphemes = self.config.split == SplitPolicy::Graphemes;
        let count = match fast::scan_default(text, concat_gsm) {
            Some((units, parts)) => SegmentCount {
                encoding: Encoding::Gsm7,
                units: to_u32(units),
                segments: if units <= single_gsm {
                    1
                } else {
                    to_u32(parts)
                },
            },
            None => {
                let single = capacity(Encoding::Ucs2, 0, false, false);
                let concat = capacity(Encoding::Ucs2, 0, true, self.config.ref16);
                let (units, segments) = fast::ucs2_count(text, graphemes, single, concat);
                SegmentCount {
                    encoding: Encoding::Ucs2,
                    units: to_u32(units),
                    segments: to_u32(segments),
                }
            }
        };
        let mut best = Plan {
            count,
            alphabet: None,
        };
        // One GSM-7 segment with the default alphabet cannot be beaten.
        if self.national.is_empty() || (count.encoding == Encoding::Gsm7 && count.segments == 1) {
            return best;
        }
        // Cheapest first: fewer segments, then 7 bits over UCS-2 (what handsets with national
        // tables do), then fewer header elements, then fewer units; the order of `national`
        // (the caller's language order) settles the rest.
        let key = |p: &Plan, shifts: u32| {
            (
                p.count.segments,
                p.count.encoding == Encoding::Ucs2,
                shifts,
                p.count.units,
            )
        };
        let mut best_key = key(&best, 0);
        for (i, alphabet) in self.national.iter().enumerate() {
            let Some((units, segments)) = self.count_with(alphabet, text) else {
                continue;
            };
            let candidate = Plan {
                count: SegmentCount {
                    encoding: Encoding::Gsm7,
                    units: to_u32(units),
                    segments: to_u32(segments),
                },
                alphabet: Some(i),
            };
            let k = key(&candidate, alphabet.shift_elements());
            if k < best_key {
                best = candidate;
                best_key = k;
            }
        }
        best
    }

    fn alphabet_capacity(&self, alphabet: &Alphabet, concatenated: bool) -> usize {
        capacity(
            Encoding::Gsm7,
            alphabet.shift_elements(),
            concatenated,
            self.config.ref16,
        )
    }

    /// Septets and segments of `text` in a national alphabet, or `None` if it cannot encode it.
    fn count_with(&self, alphabet: &Alphabet, text: &str) -> Option<(usize, usize)> {
        let mut units = 0usize;
        for c in text.chars() {
            match alphabet.cost(c) {
                0 => return None,
                cost => units += usize::from(cost),
            }
        }
        if units <= self.alphabet_capacity(alphabet, false) {
            return Some((units, 1));
        }
        let cap = self.alphabet_capacity(alphabet, true);
        let mut segments = 1;
        let mut part = 0;
        for c in text.chars() {
            let cost = usize::from(alphabet.cost(c));
            if part + cost > cap {
                segments += 1;
                part = 0;
            }
            part += cost;
        }
        Some((units, segments))
    }

    /// Splits `text` into parts the way `plan` counted it, character by character.
    fn pack(&self, text: &str, plan: Plan) -> Vec<Part> {
        let concatenated = plan.count.segments > 1;
        let mut parts = Vec::with_capacity(plan.count.segments as usize);
        let mut start = 0;
        let mut units = 0;
        match (plan.count.encoding, plan.alphabet) {
            (Encoding::Gsm7, alphabet) => {
                let alphabet = alphabet.map(|i| &self.national[i]);
                let cap = match alphabet {
                    Some(a) => self.alphabet_capacity(a, concatenated),
                    None => capacity(Encoding::Gsm7, 0, concatenated, self.config.ref16),
                };
                for (i, c) in text.char_indices() {
                    let cost = usize::from(match alphabet {
                        Some(a) => a.cost(c),
                        None => default_cost(c),
                    });
                    if units + cost > cap {
                        parts.push(Part {
                            start,
                            end: i,
                            units,
                        });
                        start = i;
                        units = 0;
                    }
                    units += cost;
                }
            }
            (Encoding::Ucs2, _) => {
                let cap = capacity(Encoding::Ucs2, 0, concatenated, self.config.ref16);
                let graphemes = self.config.split == SplitPolicy::Graphemes;
                let mut cuts = GraphemeCuts::new(text);
                for (i, c) in text.char_indices() {
                    let cost = c.len_utf16();
                    if units + cost > cap {
                        let cut = if graphemes { cuts.cut(start, i) } else { i };
                        let carried = text[cut..i].encode_utf16().count();
                        parts.push(Part {
                            start,
                            end: cut,
                            units: units - carried,
                        });
                        start = cut;
                        units = carried;
                    }
                    units += cost;
                }
            }
        }
        parts.push(Part {
            start,
            end: text.len(),
            units,
        });
        parts
    }

    /// The characters of a UCS-2 text that no enabled 7-bit alphabet can encode; when every
    /// character is encodable by some alphabet but no single one covers them all, the characters
    /// outside the default alphabet.
    pub(crate) fn non_gsm(&self, text: &str) -> Vec<NonGsmChar> {
        let collect = |encodable: &dyn Fn(char) -> bool| {
            let mut out = Vec::new();
            let mut index = 0u32;
            for ch in text.chars() {
                if !encodable(ch) {
                    out.push(NonGsmChar { ch, index });
                }
                index = index.saturating_add(ch.len_utf16() as u32);
            }
            out
        };
        let in_any = |c: char| default_cost(c) > 0 || self.national.iter().any(|a| a.cost(c) > 0);
        let chars = collect(&in_any);
        if chars.is_empty() {
            collect(&|c| default_cost(c) > 0)
        } else {
            chars
        }
    }
}

/// Counts `text` with the default configuration; see [`Segmenter::count`].
///
/// ```
/// use smsbatch::Encoding;
///
/// let c = smsbatch::count("Ça va? ça va.");
/// assert_eq!((c.encoding, c.units, c.segments), (Encoding::Ucs2, 13, 1));
/// ```
pub fn count(text: &str) -> SegmentCount {
    Segmenter::default().count(text)
}

/// Splits `text` with the default configuration; see [`Segmenter::segment`].
pub fn segment(text: &str) -> Segmentation {
    Segmenter::default().segment(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacities_follow_the_header_arithmetic() {
        use Encoding::*;
        assert_eq!(capacity(Gsm7, 0, false, false), 160);
        assert_eq!(capacity(Gsm7, 0, true, false), 153);
        assert_eq!(capacity(Gsm7, 0, true, true), 152);
        assert_eq!(capacity(Ucs2, 0, false, false), 70);
        assert_eq!(capacity(Ucs2, 0, true, false), 67);
        assert_eq!(capacity(Ucs2, 0, true, true), 66);
        // TS 23.040 §9.2.3.24.15/16: each national language shift element is 3 octets.
        assert_eq!(capacity(Gsm7, 1, false, false), 155);
        assert_eq!(capacity(Gsm7, 2, false, false), 152);
        assert_eq!(capacity(Gsm7, 1, true, false), 149);
        assert_eq!(capacity(Gsm7, 2, true, false), 146);
    }

    #[test]
    fn empty_text_is_one_gsm_segment() {
        let s = segment("");
        assert_eq!(
            s.count(),
            SegmentCount {
                encoding: Encoding::Gsm7,
                units: 0,
                segments: 1
            }
        );
        assert_eq!(s.parts, vec![String::new()]);
        assert_eq!(s.segment_units, vec![0]);
        assert_eq!(s.remaining(), 160);
    }

    #[test]
    fn validate_rejects_empty_and_blank() {
        let seg = Segmenter::default();
        for text in ["", "   ", "\n"] {
            assert!(
                seg.validate(text).unwrap_err().is_empty_message(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn non_gsm_reports_utf16_offsets() {
        let s = segment("😀 ça`");
        let got: Vec<_> = s.non_gsm.iter().map(|n| (n.ch, n.index)).collect();
        assert_eq!(got, vec![('😀', 0), ('ç', 3), ('`', 5)]);
    }

    #[test]
    fn national_language_from_str() {
        assert_eq!(
            "TR".parse::<NationalLanguage>().unwrap(),
            NationalLanguage::Turkish
        );
        let err = "fr".parse::<NationalLanguage>().unwrap_err();
        assert!(err.to_string().contains("\"fr\""), "{err}");
    }

    #[test]
    fn config_deserializes_from_camel_case() {
        let config: SegmentConfig = serde_json::from_str(
            r#"{"split": "codePoints", "ref16": true, "nationalLanguages": ["tr"], "smartEncoding": true}"#,
        )
        .unwrap();
        assert_eq!(
            config,
            SegmentConfig::new()
                .split(SplitPolicy::CodePoints)
                .ref16(true)
                .national_languages([NationalLanguage::Turkish])
                .smart_encoding(true)
        );
        assert!(serde_json::from_str::<SegmentConfig>(r#"{"splitt": "x"}"#).is_err());
    }
}

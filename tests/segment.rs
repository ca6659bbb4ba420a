//! Segment counting against the vectors in `tests/data/segments/vectors.json`, hand-checked
//! national language and smart-encoding cases, and property tests of the packing invariants.

use proptest::prelude::*;
use serde::Deserialize;
use smsbatch::{
    Encoding, NationalLanguage, SegmentConfig, SegmentCount, Segmentation, Segmenter, SplitPolicy,
};
use unicode_segmentation::UnicodeSegmentation;

use crate::support::data;

#[derive(Debug, Deserialize)]
struct Vector {
    id: String,
    text: String,
    encoding: Encoding,
    segments: u32,
    units: u32,
    segment_units: Vec<u32>,
    segments_grapheme_safe: Option<u32>,
}

fn vectors() -> Vec<Vector> {
    serde_json::from_str(&data("segments/vectors.json")).expect("vectors.json parses")
}

#[test]
fn vectors_under_the_code_point_policy() {
    let segmenter = SegmentConfig::new().split(SplitPolicy::CodePoints).build();
    let vectors = vectors();
    assert_eq!(vectors.len(), 64);
    for v in &vectors {
        let full = segmenter.segment(&v.text);
        let expected = (v.encoding, v.units, v.segments, &v.segment_units);
        assert_eq!(
            (
                full.encoding,
                full.units,
                full.segments,
                &full.segment_units
            ),
            expected,
            "vector {} (segment)",
            v.id
        );
        assert_eq!(
            segmenter.count(&v.text),
            SegmentCount {
                encoding: v.encoding,
                units: v.units,
                segments: v.segments
            },
            "vector {} (count)",
            v.id
        );
        assert_eq!(full.text(), v.text, "vector {}: parts rejoin", v.id);
    }
}

#[test]
fn vectors_under_the_default_grapheme_policy() {
    let segmenter = Segmenter::default();
    for v in &vectors() {
        let expected = v.segments_grapheme_safe.unwrap_or(v.segments);
        let full = segmenter.segment(&v.text);
        assert_eq!(
            (full.encoding, full.units, full.segments),
            (v.encoding, v.units, expected),
            "vector {} (segment)",
            v.id
        );
        assert_eq!(
            segmenter.count(&v.text).segments,
            expected,
            "vector {} (count)",
            v.id
        );
        // `segment_units` in the vectors are the code-point policy's; moving a cluster to the
        // next part changes them (decomposed_70 packs 66 + 66 + 8) but never their sum.
        assert_eq!(
            full.segment_units.iter().sum::<u32>(),
            v.units,
            "vector {}",
            v.id
        );
        assert_eq!(full.text(), v.text, "vector {}: parts rejoin", v.id);
    }
}

#[test]
fn grapheme_policy_moves_the_flag_whole() {
    // 130 × 'a' + flag (4 units): the flag would straddle units 67/68 of the second part... the
    // vector `flag_boundary` puts it across the first cut. Under the grapheme policy the second
    // regional indicator never arrives without the first.
    let v = vectors()
        .into_iter()
        .find(|v| v.id == "flag_boundary")
        .unwrap();
    let full = Segmenter::default().segment(&v.text);
    assert_eq!(full.segments, 3);
    for part in &full.parts {
        for g in part.graphemes(true) {
            assert!(
                v.text.graphemes(true).any(|whole| whole == g),
                "part holds a torn cluster {g:?}"
            );
        }
    }
}

#[test]
fn cedilla_and_greek_traps() {
    let s = Segmenter::default();
    assert_eq!(s.count("Ça").encoding, Encoding::Gsm7);
    assert_eq!(s.count("ça").encoding, Encoding::Ucs2);
    assert_eq!(s.count("ΔΦΓΛΩΠΨΣΘΞ").encoding, Encoding::Gsm7);
    assert_eq!(s.count("Α").encoding, Encoding::Ucs2, "Greek capital alpha");
}

#[test]
fn ref16_capacities() {
    let s = SegmentConfig::new().ref16(true).build();
    let gsm = s.segment(&"a".repeat(161));
    assert_eq!(
        (gsm.capacity, gsm.segment_units.clone()),
        (152, vec![152, 9])
    );
    let ucs = s.segment(&"中".repeat(71));
    assert_eq!((ucs.capacity, ucs.segment_units.clone()), (66, vec![66, 5]));
    // A single part needs no concatenation header, so the reference size does not matter.
    assert_eq!(s.segment(&"a".repeat(160)).capacity, 160);
}

// National language shift tables: 3GPP TS 23.038 Annex A (A.2.1 Turkish single shift, A.2.2
// Spanish single shift, A.2.3 Portuguese single shift, A.3.1 Turkish locking shift, A.3.3
// Portuguese locking shift) and TS 23.040 §9.2.3.24.15–16 (a 3-octet header element per shift
// table: single part 155 septets with one, 152 with two; concatenated 149 and 146).

#[test]
fn turkish_single_shift_keeps_a_short_message_in_seven_bits() {
    let s = SegmentConfig::new()
        .national_languages([NationalLanguage::Turkish])
        .build();
    // "Şişli İstanbul ğ ı": Ş ş İ ğ ı are in both Turkish tables. Single shift: 13 basic + 5 × 2
    // = 23 septets; locking shift: 18 septets, one element each, so fewer units wins the tie.
    let r = s.segment("Şişli İstanbul ğ ı");
    assert_eq!(r.encoding, Encoding::Gsm7);
    assert_eq!(r.segments, 1);
    assert_eq!(r.units, 18);
    assert_eq!(r.capacity, 155);
    let shift = r.national_language.unwrap();
    assert_eq!(shift.locking_shift, Some(NationalLanguage::Turkish));
    assert_eq!(shift.single_shift, None);
    assert!(r.non_gsm.is_empty());
}

#[test]
fn spanish_single_shift_costs_two_septets_per_accent() {
    let s = SegmentConfig::new()
        .national_languages([NationalLanguage::Spanish])
        .build();
    // "Información: ¿Qué día?": ó and í are in the Spanish single shift table (2 septets each);
    // é, ¿ and the rest are in the default table: 22 characters, 24 septets.
    let r = s.segment("Información: ¿Qué día?");
    assert_eq!(
        (r.encoding, r.units, r.segments, r.capacity),
        (Encoding::Gsm7, 24, 1, 155)
    );
    assert_eq!(
        r.national_language.unwrap().single_shift,
        Some(NationalLanguage::Spanish)
    );
}

#[test]
fn portuguese_tables_and_concatenated_capacity() {
    let s = SegmentConfig::new()
        .national_languages([NationalLanguage::Portuguese])
        .build();
    // 'ç', 'ã', 'ê' are all in the Portuguese locking table (A.3.3 positions 0x09, 0x7B, 0x04).
    let text = "Atenção: você ".repeat(12); // 168 characters, all one septet when locked
    let r = s.segment(&text);
    assert_eq!(r.encoding, Encoding::Gsm7);
    assert_eq!(r.units, 168);
    assert_eq!(r.capacity, 149, "concatenated with one shift element");
    assert_eq!(r.segment_units, vec![149, 19]);
    assert_eq!(
        r.national_language.unwrap().locking_shift,
        Some(NationalLanguage::Portuguese)
    );
}

#[test]
fn national_tables_can_beat_the_default_alphabet() {
    // 160 × '|': 320 septets in the default alphabet (escape pairs, 76 per 152-septet part:
    // 3 segments). The Portuguese locking table has '|' at 0x1A: 160 septets, and with one shift
    // element a single part holds 155, so 2 segments of 149 + 11.
    let text = "|".repeat(160);
    assert_eq!(Segmenter::default().count(&text).segments, 3);
    let s = SegmentConfig::new()
        .national_languages([NationalLanguage::Portuguese])
        .build();
    let r = s.segment(&text);
    assert_eq!((r.units, r.segments), (160, 2));
    assert_eq!(r.segment_units, vec![149, 11]);
}

#[test]
fn national_languages_fall_back_to_ucs2_and_name_the_culprit() {
    let s = SegmentConfig::new()
        .national_languages([NationalLanguage::Turkish])
        .build();
    let r = s.segment("Şişli 😀");
    assert_eq!(r.encoding, Encoding::Ucs2);
    assert_eq!(r.national_language.unwrap(), Default::default());
    let culprits: Vec<_> = r.non_gsm.iter().map(|n| (n.ch, n.index)).collect();
    assert_eq!(culprits, vec![('😀', 6)]);
}

#[test]
fn without_national_languages_the_field_is_absent() {
    let json = serde_json::to_value(Segmenter::default().segment("hi")).unwrap();
    assert!(json.get("nationalLanguage").is_none());
    assert!(json.get("replacements").is_none());
    assert_eq!(
        json,
        serde_json::json!({
            "encoding": "GSM-7", "segments": 1, "units": 2, "segmentUnits": [2],
            "capacity": 160, "graphemes": 2, "parts": ["hi"], "nonGsm": []
        })
    );
}

#[test]
fn smart_encoding_replaces_and_reports() {
    let s = SegmentConfig::new().smart_encoding(true).build();
    let r = s.segment("“Hi” it’s… a\u{a0}b\tc");
    assert_eq!(r.encoding, Encoding::Gsm7);
    assert_eq!(r.text(), "\"Hi\" it's... a b c");
    assert_eq!(r.units, 18);
    let reps: Vec<_> = r
        .replacements
        .as_ref()
        .unwrap()
        .iter()
        .map(|x| (x.from, x.to.as_str(), x.index))
        .collect();
    assert_eq!(
        reps,
        vec![
            ('“', "\"", 0),
            ('”', "\"", 3),
            ('’', "'", 7),
            ('…', "...", 9),
            ('\u{a0}', " ", 12),
            ('\t', " ", 14)
        ]
    );
    assert_eq!(s.count("“Hi”").encoding, Encoding::Gsm7);
}

#[test]
fn smart_encoding_leaves_ucs2_text_alone() {
    // The emoji forces UCS-2 anyway; replacing … by ... would only cost two more units.
    let s = SegmentConfig::new().smart_encoding(true).build();
    let r = s.segment("Wait… 😀");
    assert_eq!(r.encoding, Encoding::Ucs2);
    assert_eq!(r.text(), "Wait… 😀");
    assert_eq!(r.replacements, Some(vec![]));
    assert_eq!(r.units, 8);
}

#[test]
fn smart_encoding_vectors_match_twilio() {
    // The vectors record Twilio's smart-encoding result where it differs from the plain one.
    #[derive(Deserialize)]
    struct V {
        id: String,
        text: String,
        twilio_smart_encoding: Option<(Encoding, u32)>,
    }
    let vs: Vec<V> = serde_json::from_str(&data("segments/vectors.json")).unwrap();
    let s = SegmentConfig::new().smart_encoding(true).build();
    let mut checked = 0;
    for v in vs {
        if let Some((encoding, segments)) = v.twilio_smart_encoding {
            let c = s.count(&v.text);
            assert_eq!(
                (c.encoding, c.segments),
                (encoding, segments),
                "vector {}",
                v.id
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 5);
}

#[test]
fn validation_errors_name_the_problem() {
    let s = SegmentConfig::new().max_segments(2).build();
    let err = s.validate("").unwrap_err();
    assert_eq!(err.to_string(), "the message body is empty");
    let err = s.validate(&"a".repeat(307)).unwrap_err();
    assert!(err.is_too_many_segments());
    assert_eq!(
        err.to_string(),
        "the message needs 3 segments, more than the maximum of 2"
    );
    assert_eq!(s.validate(&"a".repeat(306)).unwrap().segments, 2);
    // The default maximum is 10.
    let d = Segmenter::default();
    assert!(d.validate(&"a".repeat(153 * 10)).is_ok());
    assert!(d.validate(&"a".repeat(153 * 10 + 1)).is_err());
}

// --- Property tests -------------------------------------------------------------------------

/// Characters chosen to hit every rule: basic and extension GSM, UCS-2 BMP, surrogate pairs,
/// combining marks, ZWJ sequences, regional indicators, variation selectors, controls.
fn interesting_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::sample::select(vec!['a', 'Z', ' ', '0', '@', '£', 'é', 'Ç', 'Δ', '\n', '\r']),
        2 => prop::sample::select(vec!['€', '[', ']', '{', '}', '~', '^', '|', '\\', '\u{0C}']),
        1 => prop::sample::select(vec!['ç', 'á', '中', 'Ж', '…', '“', '\u{a0}', '\t', '`', '\u{1B}', '\u{0}']),
        1 => prop::sample::select(vec!['😀', '🇮', '🇹', '👨', '\u{200D}', '\u{FE0F}', '\u{301}', '🏽', '\u{94D}', 'क', 'ष']),
        1 => any::<char>(),
    ]
}

fn interesting_text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(interesting_char(), 0..400).prop_map(|v| v.into_iter().collect()),
        // Long runs around part boundaries.
        (
            0usize..200,
            prop::collection::vec(interesting_char(), 0..8),
            0usize..200
        )
            .prop_map(|(a, mid, b)| {
                let mut s = "a".repeat(a);
                s.extend(mid);
                s.push_str(&"中".repeat(b));
                s
            }),
        any::<String>(),
    ]
}

fn segmenters() -> Vec<Segmenter> {
    vec![
        Segmenter::default(),
        SegmentConfig::new().split(SplitPolicy::CodePoints).build(),
        SegmentConfig::new().ref16(true).build(),
        SegmentConfig::new()
            .national_languages([
                NationalLanguage::Turkish,
                NationalLanguage::Spanish,
                NationalLanguage::Portuguese,
            ])
            .build(),
        SegmentConfig::new().smart_encoding(true).build(),
    ]
}

fn check_invariants(s: &Segmenter, text: &str, r: &Segmentation) -> Result<(), TestCaseError> {
    // The parts rejoin to the text that is sent.
    let sent = r.text();
    if r.replacements.as_ref().is_none_or(|x| x.is_empty()) {
        prop_assert_eq!(&sent, text);
    }
    prop_assert_eq!(r.parts.len(), r.segments as usize);
    prop_assert_eq!(r.segment_units.len(), r.segments as usize);
    prop_assert_eq!(r.segment_units.iter().sum::<u32>(), r.units);
    // The fast path agrees with the full one.
    prop_assert_eq!(s.count(text), r.count());
    for (part, &units) in r.parts.iter().zip(&r.segment_units) {
        prop_assert!(
            units <= r.capacity,
            "part of {} units > capacity {}",
            units,
            r.capacity
        );
        if r.encoding == Encoding::Ucs2 {
            prop_assert_eq!(part.encode_utf16().count() as u32, units);
        }
    }
    // Never more than one part per unit, and not fewer than the units need.
    let ceil = r.units.div_ceil(r.capacity).max(1);
    prop_assert!(r.segments >= ceil);
    if r.segments == 1 {
        prop_assert!(r.units <= r.capacity);
    }
    // Parts are cut between characters, so an escape pair or a surrogate pair can only stay
    // whole; check the accounting agrees: each part's own count is what was charged to it.
    if r.encoding == Encoding::Gsm7 && r.national_language.is_none_or(|n| n == Default::default()) {
        for (part, &units) in r.parts.iter().zip(&r.segment_units) {
            prop_assert_eq!(smsbatch::count(part).units, units);
        }
    }
    // Under the grapheme policy no UCS-2 cluster shorter than a part is torn.
    if r.encoding == Encoding::Ucs2 && s.config().split == SplitPolicy::Graphemes {
        let mut offset = 0;
        let boundaries: Vec<usize> = r
            .parts
            .iter()
            .map(|p| {
                offset += p.len();
                offset
            })
            .collect();
        for (start, g) in sent.grapheme_indices(true) {
            let end = start + g.len();
            let torn = boundaries.iter().any(|&b| b > start && b < end);
            let fits = g.encode_utf16().count() as u32 <= r.capacity;
            prop_assert!(!(torn && fits), "cluster {:?} torn", g);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn packing_invariants_hold(text in interesting_text()) {
        for s in segmenters() {
            let r = s.segment(&text);
            check_invariants(&s, &text, &r)?;
        }
    }

    #[test]
    fn appending_never_lowers_the_count(text in interesting_text(), c in interesting_char()) {
        for s in segmenters() {
            let before = s.count(&text).segments;
            let after = s.count(&format!("{text}{c}")).segments;
            prop_assert!(after >= before, "{} -> {} after appending {:?}", before, after, c);
        }
    }

    #[test]
    fn graphemes_split_at_least_as_often_as_code_points(text in interesting_text()) {
        let g = Segmenter::default().count(&text).segments;
        let cp = SegmentConfig::new().split(SplitPolicy::CodePoints).build().count(&text).segments;
        prop_assert!(g >= cp);
    }
}

#[test]
fn no_input_panics_on_controls_and_lone_marks() {
    let nasty = [
        "\u{0}",
        "\u{1B}",
        "\u{301}",
        "\u{200D}",
        "\u{FE0F}",
        "\u{1F3FD}",
        "\u{E0001}",
        "\u{10FFFF}",
        "\r\n\r\n",
    ];
    for s in segmenters() {
        for text in nasty {
            let r = s.segment(&text.repeat(200));
            assert_eq!(s.count(&text.repeat(200)), r.count());
        }
    }
}

#[cfg(feature = "cli")]
mod cli {
    use serde_json::json;

    use crate::support::{json_lines, run_cli};

    #[test]
    fn lines_in_lines_out_with_errors_in_place() {
        let input = "\"Hello world\"\n{\"text\": \"ça 😀\"}\nnot json\n{\"text\": 5}\n[1]\n\"]\"\n";
        let (out, code) = run_cli(&["segments"], input);
        assert_eq!(code, 0);
        let lines = json_lines(&out);
        assert_eq!(lines.len(), 6);
        assert_eq!(
            lines[0],
            json!({"encoding": "GSM-7", "segments": 1, "units": 11, "segmentUnits": [11],
                   "capacity": 160, "graphemes": 11, "parts": ["Hello world"], "nonGsm": []})
        );
        assert_eq!(
            lines[1],
            json!({"encoding": "UCS-2", "segments": 1, "units": 5, "segmentUnits": [5],
                   "capacity": 70, "graphemes": 4, "parts": ["ça 😀"],
                   "nonGsm": [{"char": "ç", "index": 0}, {"char": "😀", "index": 3}]})
        );
        for bad in &lines[2..5] {
            assert_eq!(bad["error"]["kind"], "invalidInput", "{bad}");
            assert!(bad["error"]["message"].as_str().unwrap().len() > 10);
        }
        assert_eq!(lines[5]["units"], 2);
    }

    #[test]
    fn options_reach_the_segmenter() {
        let text = format!("\"{}\"\n", "a".repeat(161));
        let (out, _) = run_cli(&["segments", "--ref16"], &text);
        assert_eq!(json_lines(&out)[0]["segmentUnits"], json!([152, 9]));

        // The flag's two regional indicators straddle unit 67 (the `flag_boundary` vector).
        let flag = format!("\"{}🇮🇹{}\"\n", "a".repeat(65), "a".repeat(65));
        let (g, _) = run_cli(&["segments"], &flag);
        let (cp, _) = run_cli(&["segments", "--split", "code-points"], &flag);
        assert_eq!(json_lines(&g)[0]["segments"], 3);
        assert_eq!(json_lines(&cp)[0]["segments"], 2);

        let (out, _) = run_cli(
            &[
                "segments",
                "--national-languages",
                "tr,pt",
                "--smart-encoding",
            ],
            "\"Şişli “x”\"\n\"plain\"\n",
        );
        let lines = json_lines(&out);
        assert_eq!(lines[0]["encoding"], "GSM-7");
        assert_eq!(
            lines[0]["nationalLanguage"],
            json!({"singleShift": null, "lockingShift": "tr"})
        );
        assert_eq!(
            lines[0]["replacements"],
            json!([{"from": "“", "to": "\"", "index": 6}, {"from": "”", "to": "\"", "index": 8}])
        );
        assert_eq!(
            lines[1]["nationalLanguage"],
            json!({"singleShift": null, "lockingShift": null})
        );
        assert_eq!(lines[1]["replacements"], json!([]));
    }

    #[test]
    fn summary_of_a_file() {
        let dir = std::env::temp_dir().join(format!("smsbatch-seg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("messages.json");
        let long = "x".repeat(200);
        std::fs::write(&file, json!(["hi", "😀", long, "esc\"aped"]).to_string()).unwrap();
        let path = file.to_str().unwrap();
        let (out, code) = run_cli(&["segments", "--input", path, "--summary"], "");
        assert_eq!(code, 0);
        assert_eq!(
            json_lines(&out),
            vec![json!({"messages": 4, "segments": 5, "byEncoding": {
                "GSM-7": {"messages": 3, "segments": 4},
                "UCS-2": {"messages": 1, "segments": 1}}})]
        );
        let (out, _) = run_cli(&["segments", "--input", path], "");
        assert_eq!(json_lines(&out).len(), 4);

        std::fs::write(&file, "[\"ok\", 3]").unwrap();
        let (out, code) = run_cli(&["segments", "--input", path, "--summary"], "");
        assert_eq!(code, 2);
        assert_eq!(json_lines(&out)[0]["error"]["kind"], "invalidInput");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

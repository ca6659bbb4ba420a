//! Segment counting over a generated mixed corpus of 100,000 messages in six equal kinds:
//! plain GSM (20–150 chars), GSM with extension characters (20–300), short with emoji (20–120),
//! long plain GSM (300–900), long UCS-2 in Cyrillic, Japanese, Greek or Turkish (100–400), and long
//! GSM with extension characters plus one emoji at a random place (150–600).
//!
//! `count` is the hot count-only path (encoding, units, segments); `segment` the full result with
//! parts, graphemes and the characters that forced UCS-2. Each reports messages and bytes per
//! second. Per-kind groups show where the time goes.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use smsbatch::Segmenter;

/// splitmix64: a tiny deterministic generator, so every run counts the same corpus.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.next() as usize % items.len()]
    }
}

const WORDS: &[&str] = &[
    "hello",
    "your",
    "order",
    "is",
    "ready",
    "for",
    "pickup",
    "at",
    "the",
    "store",
    "thanks",
    "Ana",
    "reply",
    "STOP",
    "to",
    "opt",
    "out",
    "sale",
    "today",
    "only",
    "20%",
    "off",
    "code",
    "SAVE20",
    "visit",
    "www.example.com",
    "call",
    "+44",
    "7700",
    "900123",
    "Bonjour",
    "café",
    "über",
    "£5",
    "niño",
    "Çava",
    "@home",
    "$10",
    "(new)",
    "1,000",
    "points!",
    "Meet",
    "@",
];
const EXT: &[char] = &['€', '[', ']', '{', '}', '~', '^', '|', '\\'];
const EMOJI: &[&str] = &["😀", "🎉", "👍🏽", "🇬🇧", "❤️", "👨‍👩‍👧", "🔥", "✅"];
const SCRIPTS: &[&[&str]] = &[
    &[
        "Привет",
        "ваш",
        "заказ",
        "готов",
        "спасибо",
        "скидка",
        "сегодня",
        "магазин",
    ],
    &[
        "こんにちは",
        "ご注文",
        "の",
        "準備",
        "ができました",
        "ありがとう",
        "セール",
        "本日",
    ],
    &[
        "Γειά",
        "σας",
        "η",
        "παραγγελία",
        "σας",
        "είναι",
        "έτοιμη",
        "ευχαριστούμε",
    ],
    &[
        "Merhaba",
        "siparişiniz",
        "hazır",
        "teşekkürler",
        "İstanbul",
        "ğüşıöç",
        "indirim",
        "bugün",
    ],
];

fn words(rng: &mut Rng, pool: &[&str], min: usize, max: usize) -> String {
    let target = rng.range(min, max);
    let mut s = String::new();
    while s.chars().count() < target {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(rng.pick(pool));
    }
    s.chars().take(target).collect()
}

fn with_ext(rng: &mut Rng, mut s: String) -> String {
    let n = s.chars().count();
    let mut out = String::with_capacity(s.len() + 16);
    for (i, c) in s.drain(..).enumerate() {
        out.push(c);
        if i % 17 == 5 && i + 1 < n {
            out.push(rng.pick(EXT));
        }
    }
    out
}

fn insert_at_random(rng: &mut Rng, s: &str, piece: &str) -> String {
    let boundaries: Vec<usize> = s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
    let at = rng.pick(&boundaries);
    format!("{}{}{}", &s[..at], piece, &s[at..])
}

fn corpus(n: usize) -> Vec<String> {
    let mut rng = Rng(0x5EED_5EED);
    (0..n)
        .map(|i| match i % 6 {
            0 => words(&mut rng, WORDS, 20, 150),
            1 => {
                let base = words(&mut rng, WORDS, 20, 280);
                with_ext(&mut rng, base)
            }
            2 => {
                let base = words(&mut rng, WORDS, 18, 110);
                let e = rng.pick(EMOJI);
                insert_at_random(&mut rng, &base, e)
            }
            3 => words(&mut rng, WORDS, 300, 900),
            4 => {
                let script = rng.pick(SCRIPTS);
                words(&mut rng, script, 100, 400)
            }
            _ => {
                let base = words(&mut rng, WORDS, 150, 560);
                let base = with_ext(&mut rng, base);
                let e = rng.pick(EMOJI);
                insert_at_random(&mut rng, &base, e)
            }
        })
        .collect()
}

/// The messages laid out one after another in one buffer, as a batch pipeline keeps rendered
/// text: the bench then measures counting, not the allocator's scattering of 100k small strings
/// across a heap larger than the cache.
struct Packed {
    text: String,
    ends: Vec<usize>,
}

impl Packed {
    fn new(messages: &[String]) -> Self {
        let mut text = String::with_capacity(messages.iter().map(String::len).sum());
        let mut ends = Vec::with_capacity(messages.len());
        for m in messages {
            text.push_str(m);
            ends.push(text.len());
        }
        Self { text, ends }
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let m = &self.text[start..end];
            start = end;
            m
        })
    }

    fn len(&self) -> usize {
        self.ends.len()
    }
}

fn bench(c: &mut Criterion) {
    let messages = corpus(100_000);
    let corpus = Packed::new(&messages);
    let bytes = corpus.text.len();
    let segmenter = Segmenter::default();
    let segments: u64 = corpus
        .iter()
        .map(|m| u64::from(segmenter.count(m).segments))
        .sum();
    eprintln!(
        "corpus: {} messages, {} bytes ({:.0} bytes/message), {} segments",
        corpus.len(),
        bytes,
        bytes as f64 / corpus.len() as f64,
        segments
    );

    let mut group = c.benchmark_group("segment/mixed-100k");
    group.throughput(Throughput::ElementsAndBytes {
        elements: corpus.len() as u64,
        bytes: bytes as u64,
    });
    group.sample_size(20);
    group.bench_function("count", |b| {
        b.iter(|| {
            let mut total = 0u64;
            for m in corpus.iter() {
                total += u64::from(segmenter.count(black_box(m)).segments);
            }
            total
        })
    });
    group.sample_size(10);
    group.bench_function("segment", |b| {
        b.iter(|| {
            let mut total = 0usize;
            for m in corpus.iter() {
                total += segmenter.segment(black_box(m)).parts.len();
            }
            total
        })
    });
    group.finish();

    let mut kinds = c.benchmark_group("segment/count-by-kind");
    let names = [
        "plain-gsm",
        "gsm-extension",
        "short-emoji",
        "long-gsm",
        "long-ucs2",
        "long-gsm-ext-emoji",
    ];
    for (k, name) in names.iter().enumerate() {
        let kind: Vec<String> = messages.iter().skip(k).step_by(6).cloned().collect();
        let subset = Packed::new(&kind);
        let sub_bytes = subset.text.len();
        kinds.throughput(Throughput::ElementsAndBytes {
            elements: subset.len() as u64,
            bytes: sub_bytes as u64,
        });
        kinds.bench_function(*name, |b| {
            b.iter(|| {
                let mut total = 0u64;
                for m in subset.iter() {
                    total += u64::from(segmenter.count(black_box(m)).segments);
                }
                total
            })
        });
    }
    kinds.finish();
}

/// One long grapheme cluster against as many plain characters (issue 10, item 3): counting and
/// splitting are linear, so a cluster of N code points costs about what N plain characters do.
/// `SMSBATCH_BENCH_CLUSTER` sets N (default 1,000,000 code points).
fn long_clusters(c: &mut Criterion) {
    let n: usize = std::env::var("SMSBATCH_BENCH_CLUSTER")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let segmenter = Segmenter::default();
    let texts = [
        // Plain UCS-2 text (Cyrillic letters: every position is a boundary).
        ("plain", "ж".repeat(n)),
        // A man, joined to the next by a zero width joiner: one cluster.
        ("zwj-chain", "👨\u{200D}".repeat(n / 2)),
        // A letter with n - 1 combining accents: one cluster.
        ("combining", format!("a{}", "\u{301}".repeat(n - 1))),
        // Regional indicators: pairs whose pairing depends on where the run began.
        ("regional-indicators", "🇮".repeat(n)),
    ];
    let mut group = c.benchmark_group(format!("segment/cluster-{n}"));
    group.sample_size(10);
    for (name, text) in &texts {
        group.throughput(Throughput::Elements(text.chars().count() as u64));
        group.bench_function(format!("count/{name}"), |b| {
            b.iter(|| segmenter.count(black_box(text)).segments)
        });
        group.bench_function(format!("segment/{name}"), |b| {
            b.iter(|| segmenter.segment(black_box(text)).segments)
        });
    }
    group.finish();
}

criterion_group!(benches, bench, long_clusters);
criterion_main!(benches);

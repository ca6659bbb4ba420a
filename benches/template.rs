//! Batch preview throughput over 1,000,000 generated recipients, and its peak memory.
//!
//! The template has three variables and one helper. Benches:
//! - `preview_e164`: render + count + cost with phones already in E.164 (`e164_only`), the
//!   compiled fast path;
//! - `preview_parse_phones`: the whole preview, phones in national format parsed and validated
//!   with libphonenumber (default region GB);
//! - `preview_e164_handlebars`: as the first, with a no-op block that sends the template
//!   through handlebars' generic renderer, for comparison.
//!
//! Before criterion runs, each preview is run once over 100,000 and 1,000,000 recipients under a
//! counting allocator, and the peak heap (bytes live at once, above what was live before the run)
//! is printed, with the process's peak RSS (VmHWM) at the end. Rows are streamed: one pool of
//! 1,024 rows is reused, the phone number rewritten in place for each recipient, so the
//! generator itself allocates nothing per recipient.

#![allow(unsafe_code)] // the counting allocator; the library itself forbids unsafe code

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use smsbatch::{PreviewConfig, Previewer, PriceTable, Purpose, Template};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as `System.alloc`.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as `System.dealloc`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as `System.realloc`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let grow = new_size - layout.size();
                let live = LIVE.fetch_add(grow, Ordering::Relaxed) + grow;
                PEAK.fetch_max(live, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const RECIPIENTS: u64 = 1_000_000;
const POOL: usize = 1024;

/// Three variables (`first_name`, `order_id`, `store`) and one helper (`capitalize`).
const BODY: &str = "Hi {{capitalize first_name}}, your order #{{order_id}} is ready for \
                    pickup at {{store}}. Reply STOP to opt out.";

const NAMES: &[&str] = &[
    "ana",
    "bruno",
    "chloé",
    "dmitri",
    "eve",
    "françois",
    "grace",
    "hiro",
    "ines",
    "jun",
    "kofi",
    "lena",
    "mo",
    "nadia",
    "oscar",
    "priya",
    "quinn",
    "rosa",
    "sven",
    "tomás",
    "uma",
    "vik",
    "wen",
    "xavier",
    "yara",
    "zoë",
    "alexandra-katharina",
    "bo 😀",
];
const STORES: &[&str] = &["Camden", "Leeds Central", "Bristol Harbourside", "York"];

/// The reusable pool of rows; the phone of a row is rewritten for each recipient.
fn pool(national: bool) -> Vec<Value> {
    (0..POOL)
        .map(|i| {
            json!({
                "id": i,
                "phone": if national { "07400 000000" } else { "+447400000000" },
                "first_name": NAMES[i % NAMES.len()],
                "order_id": 100_000 + i,
                "store": STORES[i % STORES.len()],
                "opted_out": i % 97 == 0,
            })
        })
        .collect()
}

/// Writes recipient `n`'s unique phone number into `row` without allocating.
fn set_phone(row: &mut Value, n: u64, national: bool) {
    if let Some(Value::String(phone)) = row.get_mut("phone") {
        phone.clear();
        let _ = if national {
            write!(phone, "07400 {:06}", n % 1_000_000)
        } else {
            write!(phone, "+447400{:06}", n % 1_000_000)
        };
    }
    if let Some(id) = row.get_mut("id") {
        *id = Value::from(n);
    }
}

/// Previews `n` recipients, returning (included, segments) so nothing is optimised away.
fn run(previewer: &Previewer, rows: &mut [Value], n: u64, national: bool) -> (u64, u64) {
    let mut run = previewer.start();
    for i in 0..n {
        let row = &mut rows[(i as usize) % POOL];
        set_phone(row, i, national);
        let result = run.push(row).expect("the exclude policy never fails");
        black_box(&result);
    }
    let summary = run.finish();
    (summary.recipients, summary.segments)
}

struct Setup {
    name: &'static str,
    previewer: Previewer,
    national: bool,
}

fn setups() -> Vec<Setup> {
    let prices = PriceTable::from_json(
        r#"{"currency": "GBP", "default": {"GSM-7": 0.0079, "UCS-2": 0.0095},
            "byCountry": {"44": {"GSM-7": 0.0325, "UCS-2": 0.0325}}}"#,
    )
    .expect("valid price table");
    let fast = Template::compile(BODY).expect("valid template");
    assert!(fast.is_compiled());
    let generic =
        Template::compile(&format!("{{{{#if true}}}}{{{{/if}}}}{BODY}")).expect("valid template");
    assert!(!generic.is_compiled());
    let build = |template: &Template, e164_only: bool| {
        // "Your order is ready" is transactional: every row but the opted-out ones is rendered.
        let mut config = PreviewConfig::new()
            .purpose(Purpose::Transactional)
            .prices(prices.clone())
            .e164_only(e164_only);
        if !e164_only {
            config = config.region("GB");
        }
        config.build(template).expect("valid config")
    };
    vec![
        Setup {
            name: "preview_e164",
            previewer: build(&fast, true),
            national: false,
        },
        Setup {
            name: "preview_parse_phones",
            previewer: build(&fast, false),
            national: true,
        },
        Setup {
            name: "preview_e164_handlebars",
            previewer: build(&generic, true),
            national: false,
        },
    ]
}

fn vm_hwm_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One timed pass per preview and size under the counting allocator.
fn memory_report() {
    eprintln!("\npeak heap during one pass (bytes live at once above the start):");
    for setup in setups() {
        let mut rows = pool(setup.national);
        for n in [100_000, RECIPIENTS] {
            let before = LIVE.load(Ordering::Relaxed);
            PEAK.store(before, Ordering::Relaxed);
            let start = Instant::now();
            let (included, segments) = run(&setup.previewer, &mut rows, n, setup.national);
            let secs = start.elapsed().as_secs_f64();
            let peak = PEAK.load(Ordering::Relaxed) - before;
            eprintln!(
                "  {:<24} {:>9} recipients: {:>6.2} MiB peak, {:>5.2} M recipients/s \
                 ({included} included, {segments} segments)",
                setup.name,
                n,
                peak as f64 / (1024.0 * 1024.0),
                n as f64 / secs / 1e6,
            );
        }
    }
    if let Some(kb) = vm_hwm_kb() {
        eprintln!(
            "  process peak RSS (VmHWM): {:.1} MiB\n",
            kb as f64 / 1024.0
        );
    }
}

fn bench(c: &mut Criterion) {
    // Skippable for profiling one bench (`--profile-time`).
    if std::env::var_os("SMSBATCH_BENCH_NO_MEMORY").is_none() {
        memory_report();
    }
    let mut group = c.benchmark_group("preview_1m");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.throughput(Throughput::Elements(RECIPIENTS));
    for setup in setups() {
        let mut rows = pool(setup.national);
        group.bench_function(setup.name, |b| {
            b.iter(|| run(&setup.previewer, &mut rows, RECIPIENTS, setup.national));
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Export bench (not a test): a streaming export of 1,000,000 messages from the PostgreSQL store,
//! as CSV and as JSON lines, with the process's peak memory during each run, next to a
//! 10,000-message export (flat memory: both peaks should be about the same), and the analysis of
//! the same batch for comparison (that one keeps a small record per message for the exact
//! percentiles).
//!
//! `cargo bench --bench export --features postgres,export` (the database is `DATABASE_URL`,
//! default the local server; a database of its own is created and dropped). The rows are made
//! by SQL `generate_series`, so the client's memory holds none of them. Peak memory is Linux's
//! `VmHWM`, reset before each run through `/proc/self/clear_refs`.

#[path = "../tests/db.rs"]
mod db;

use std::io::Write;
use std::time::Instant;

use smsbatch::analytics::{BatchAnalyzer, ExportFormat, ExportKind, export};
use smsbatch::store::postgres::PgStore;
use smsbatch::store::{Actor, Backend, NewBatch, Store};
use smsbatch::{Purpose, Timestamp};

/// Counts what is written, and keeps nothing.
struct Count(u64);

impl Write for Count {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Resets the peak to the current resident size (Linux); returns the current size.
fn reset_peak() -> u64 {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    status_kb("VmRSS:")
}

fn now() -> Timestamp {
    "2025-05-02T00:00:00Z".parse().expect("a timestamp")
}

/// A batch of `n` delivered messages made by the database itself.
async fn batch_of(store: &Store, url: &str, n: u64) -> smsbatch::store::Uuid {
    let mut new = NewBatch::new(Purpose::Transactional);
    new.currency = Some("USD".into());
    let id = store
        .batches
        .create(&new, now())
        .await
        .expect("a batch")
        .batch
        .id;
    let url = url.to_owned();
    let sql = format!(
        "INSERT INTO sms_batch_messages (batch_id, customer_id, phone, country_code, body, \
         encoding, segments, estimated_cost, variant, status, attempts, run_at, claimed_at, \
         send_started_at, accepted_at, delivered_at, provider_id, provider_status, \
         provider_segments, price, price_currency, created_at, updated_at) \
         SELECT '{id}', g, '+4474' || lpad(g::text, 8, '0'), '44', \
           'Hello customer ' || g || ', your order is ready, \"thanks\"! =SUM(A1)', 'GSM-7', 1, \
           0.0079, CASE WHEN g % 2 = 0 THEN 'A' ELSE 'B' END, 'delivered', 1, t, t, t, \
           t + interval '250 milliseconds', t + interval '3 seconds', '{id}-' || g, 'delivered', \
           1, 0.0079, 'USD', t, t + interval '3 seconds' \
         FROM generate_series(1, {n}) AS g, \
           LATERAL (SELECT timestamptz '2025-05-01 10:00:00+00' + g * interval '1 millisecond' AS t) AS x"
    );
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        client.batch_execute(&sql).expect("generate the messages");
        client
            .batch_execute("ANALYZE sms_batch_messages")
            .expect("analyze");
    })
    .join()
    .expect("the generator finishes");
    id
}

fn main() {
    let Some(temp) = db::TempDb::create("bench_export", db::Locale::CUtf8) else {
        eprintln!("skipped: no PostgreSQL");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let pg = PgStore::connect(temp.url.clone()).await.expect("connect");
        pg.migrate().await.expect("migrate");
        let store = pg.store(Actor::Service).expect("a store");
        let started = Instant::now();
        let small = batch_of(&store, &temp.url, 10_000).await;
        let large = batch_of(&store, &temp.url, 1_000_000).await;
        println!(
            "generated 1,010,000 messages with generate_series in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        for (batch, n) in [(small, 10_000u64), (large, 1_000_000)] {
            for (format, name) in [(ExportFormat::Csv, "csv"), (ExportFormat::JsonLines, "jsonl")] {
                let before = reset_peak();
                let started = Instant::now();
                let (rows, out) = export(&store, batch, ExportKind::Messages, format, Count(0), None, now())
                    .await
                    .expect("export");
                let seconds = started.elapsed().as_secs_f64();
                let peak = status_kb("VmHWM:");
                assert_eq!(rows, n);
                println!(
                    "export {n:>9} messages as {name:<5}: {seconds:7.2} s, {:>9.0} rows/s, {:>6.1} MB written, \
                     RSS before {:>6.1} MB, peak {:>6.1} MB (+{:.1} MB)",
                    n as f64 / seconds,
                    out.0 as f64 / 1e6,
                    before as f64 / 1024.0,
                    peak as f64 / 1024.0,
                    peak.saturating_sub(before) as f64 / 1024.0,
                );
            }
        }
        let before = reset_peak();
        let started = Instant::now();
        let analysis = BatchAnalyzer::new(large).currency("USD").run(&store, now()).await.expect("analysis");
        let peak = status_kb("VmHWM:");
        println!(
            "analyse  1000000 messages: {:7.2} s, peak {:.1} MB (+{:.1} MB; exact percentiles keep one record per message); p99 claim->accepted {} s",
            started.elapsed().as_secs_f64(),
            peak as f64 / 1024.0,
            peak.saturating_sub(before) as f64 / 1024.0,
            analysis.report.latency.claim_to_accepted.map_or(0.0, |l| l.p99),
        );
        drop(pg);
    });
}

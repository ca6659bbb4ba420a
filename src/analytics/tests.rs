//! The maths on hand-computed batches.

use std::time::Duration;

use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::batch::Amount;
use crate::queue::{ErrorCategory, MessageStatus};
use crate::segment::Encoding;
use crate::store::Message;
use crate::time::Timestamp;

const BATCH: Uuid = Uuid::from_u128(0xB);

fn t0() -> Timestamp {
    "2025-05-01T10:00:00Z".parse().unwrap()
}

fn at(seconds: u64) -> Timestamp {
    t0().saturating_add(Duration::from_secs(seconds))
}

fn amount(s: &str) -> Amount {
    s.parse().unwrap()
}

fn message(id: i64, status: MessageStatus) -> Message {
    Message {
        id,
        batch_id: BATCH,
        customer_id: id,
        phone: format!("+4474001234{id:02}"),
        sender: None,
        country_code: Some("44".into()),
        body: "Hello".into(),
        encoding: Encoding::Gsm7,
        segments: 1,
        estimated_cost: amount("0.04"),
        variant: None,
        time_zone: None,
        status,
        claim_token: None,
        lease_expires_at: None,
        attempts: 1,
        max_attempts: None,
        run_at: t0(),
        claimed_at: None,
        send_started_at: None,
        accepted_at: None,
        delivered_at: None,
        provider_id: None,
        provider_status: None,
        provider_segments: None,
        error_category: None,
        error_code: None,
        error_message: None,
        price: None,
        price_currency: None,
        verified: 0,
        verified_at: None,
        check_after: None,
        created_at: t0(),
        updated_at: t0(),
    }
}

fn accepted(mut m: Message, claimed: u64, accepted: u64) -> Message {
    m.claimed_at = Some(at(claimed));
    m.send_started_at = Some(at(claimed));
    m.accepted_at = Some(at(accepted));
    m.provider_id = Some(format!("SM{}", m.id));
    m.updated_at = at(accepted);
    m
}

fn priced(mut m: Message, price: &str) -> Message {
    m.price = Some(amount(price));
    m.price_currency = Some("USD".into());
    m
}

/// Seven messages, every figure of the report worked out by hand in the comments.
fn batch() -> Vec<Message> {
    // 1: delivered; claim 0 s, accepted 1 s, delivered 5 s; variant A; 0.04 charged.
    let mut m1 = priced(accepted(message(1, MessageStatus::Delivered), 0, 1), "0.04");
    m1.delivered_at = Some(at(5));
    m1.updated_at = at(5);
    m1.variant = Some("A".into());
    // 2: delivered; 2 UCS-2 segments; claim 0, accepted 2, delivered 12; variant B; 0.08.
    let mut m2 = priced(accepted(message(2, MessageStatus::Delivered), 0, 2), "0.08");
    m2.delivered_at = Some(at(12));
    m2.updated_at = at(12);
    m2.encoding = Encoding::Ucs2;
    m2.segments = 2;
    m2.estimated_cost = amount("0.08");
    m2.variant = Some("B".into());
    // 3: sent, unconfirmed; claim 1, accepted 3; US; variant A; no price yet.
    let mut m3 = accepted(message(3, MessageStatus::Sent), 1, 3);
    m3.country_code = Some("1".into());
    m3.variant = Some("A".into());
    // 4: undelivered (unreachable) at 30 s; claim 1, accepted 4; US; variant B; charged 0.05.
    let mut m4 = priced(
        accepted(message(4, MessageStatus::Undelivered), 1, 4),
        "0.05",
    );
    m4.updated_at = at(30);
    m4.country_code = Some("1".into());
    m4.error_category = Some(ErrorCategory::Unreachable);
    m4.error_code = Some("30003".into());
    m4.variant = Some("B".into());
    // 5: failed (filtered) exactly on the edge of the second minute; variant A.
    let mut m5 = message(5, MessageStatus::Failed);
    m5.claimed_at = Some(at(2));
    m5.updated_at = at(60);
    m5.error_category = Some(ErrorCategory::Filtered);
    m5.error_code = Some("30007".into());
    m5.error_message = Some("Message filtered".into());
    m5.variant = Some("A".into());
    // 6: cancelled at 10 s. 7: still pending.
    let mut m6 = message(6, MessageStatus::Cancelled);
    m6.updated_at = at(10);
    let m7 = message(7, MessageStatus::Pending);
    vec![m1, m2, m3, m4, m5, m6, m7]
}

fn analyse(
    messages: &[Message],
    objectives: Option<SlaObjectives>,
    now: Timestamp,
) -> BatchAnalysis {
    let mut a = BatchAnalyzer::new(BATCH).currency("USD");
    if let Some(o) = objectives {
        a = a.objectives(o);
    }
    // Any order: the analyzer sorts what it needs.
    for m in messages.iter().rev() {
        a.message(m).unwrap();
    }
    a.finish(now).unwrap()
}

#[test]
fn report_of_a_hand_computed_batch() {
    let analysis = analyse(&batch(), None, at(100));
    let r = &analysis.report;
    assert_eq!(r.messages, 7);
    // Not cancelled: 1 + 2 + 1 + 1 + 1 + 1 (pending).
    assert_eq!(r.segments, 7);
    let s = r.by_state;
    assert_eq!(
        (
            s.delivered,
            s.sent,
            s.undelivered,
            s.failed,
            s.cancelled,
            s.pending
        ),
        (2, 1, 1, 1, 1, 1)
    );
    // (sent + delivered) / not cancelled = 3 / 6; delivered / (2 + 1 + 1).
    assert_eq!(r.success_rate, Some(0.5));
    assert_eq!(r.delivery_rate, Some(0.5));
    assert_eq!(analysis.unconfirmed, 1);
    assert_eq!(analysis.unfinished, 1);
    assert_eq!(analysis.done_at, None);
    // Four accepted (5 segments) between the first claim (0 s) and the last acceptance (4 s).
    let tp = r.throughput;
    assert_eq!(
        (tp.from, tp.to, tp.seconds),
        (Some(at(0)), Some(at(4)), 4.0)
    );
    assert_eq!((tp.messages, tp.segments), (4, 5));
    assert_eq!(tp.messages_per_second, Some(1.0));
    assert_eq!(tp.segments_per_second, Some(1.25));
    // Claim to accepted: 1, 2, 2, 3 s. p50 = rank 2, p90 = rank ⌈3.6⌉ = 4.
    let c = r.latency.claim_to_accepted.unwrap();
    assert_eq!(
        (c.count, c.min, c.p50, c.p90, c.p99, c.max, c.mean),
        (4, 1.0, 2.0, 3.0, 3.0, 3.0, 2.0)
    );
    // Accepted to delivered: 4 and 10 s.
    let d = r.latency.accepted_to_delivered.unwrap();
    assert_eq!((d.count, d.p50, d.p90, d.max), (2, 4.0, 10.0, 10.0));
    // Estimated: six messages not cancelled, 0.04 each but 0.08 for the two-segment one.
    assert_eq!(r.cost.estimated, amount("0.28"));
    assert_eq!(r.cost.actual, amount("0.17"));
    assert_eq!(r.cost.currency, "USD");
    // Errors: final failures only.
    let errors = r.errors.categories();
    assert_eq!(errors.len(), 2);
    assert_eq!(
        (errors[0].category, errors[0].count),
        (ErrorCategory::Unreachable, 1)
    );
    assert_eq!(
        (errors[1].category, errors[1].count),
        (ErrorCategory::Filtered, 1)
    );
    assert_eq!(errors[1].samples[0].message, "Message filtered");
    assert_eq!(errors[1].samples[0].code.as_deref(), Some("30007"));
    // Variants.
    let a = &r.variants["A"];
    assert_eq!((a.messages, a.segments), (3, 3));
    assert_eq!(a.success_rate, Some(2.0 / 3.0));
    assert_eq!(a.delivery_rate, Some(0.5));
    let b = &r.variants["B"];
    assert_eq!((b.messages, b.segments, b.success_rate), (2, 3, Some(0.5)));
    assert_eq!(
        (b.cost.estimated, b.cost.actual),
        (amount("0.12"), amount("0.13"))
    );
    assert_eq!(r.sla, None);
    // Credits by encoding, country and variant.
    let cr = &analysis.credits;
    assert_eq!(cr.by_encoding["UCS-2"].segments, 2);
    assert_eq!(cr.by_encoding["GSM-7"].messages, 5);
    assert_eq!(cr.by_encoding["GSM-7"].segments, 5);
    assert_eq!(cr.by_country["1"].actual_segments, 2);
    assert_eq!(cr.by_country["1"].actual_cost, amount("0.05"));
    assert_eq!(cr.by_country["44"].messages, 4);
    assert_eq!(cr.by_variant["none"].messages, 1);
    // The error trend in minutes: an event exactly on a window's edge opens the later window.
    let trend = &analysis.error_trend;
    assert_eq!(trend.window_seconds, 60);
    assert_eq!(trend.windows.len(), 2);
    let (w1, w2) = (&trend.windows[0], &trend.windows[1]);
    assert_eq!(
        (w1.start, w1.end, w1.messages, w1.errors),
        (at(0), at(60), 4, 1)
    );
    assert_eq!(w1.error_rate, 0.25);
    assert_eq!(w1.by_category[&ErrorCategory::Unreachable].rate, 0.25);
    assert_eq!(
        (w2.start, w2.messages, w2.errors, w2.error_rate),
        (at(60), 1, 1, 1.0)
    );
    assert_eq!(w2.by_category[&ErrorCategory::Filtered].count, 1);
    // The contract's fields, exactly.
    let json = serde_json::to_value(r).unwrap();
    let mut keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "batch",
            "byState",
            "cost",
            "deliveryRate",
            "errors",
            "latency",
            "messages",
            "segments",
            "sla",
            "successRate",
            "throughput",
            "variants"
        ]
    );
    assert_eq!(
        json["cost"],
        json!({"estimated": "0.28", "actual": "0.17", "currency": "USD"})
    );
    assert_eq!(json["errors"][1]["category"], "filtered");
    assert_eq!(json["byState"]["sent"], 1);
    let back: BatchReport = serde_json::from_value(json).unwrap();
    assert_eq!(&back, r);
}

#[test]
fn trend_windows_at_other_lengths_and_edges() {
    // 30-second windows: [0, 30) has 3 (m1, m2, m3), [30, 60) has m4, [60, 90) has m5.
    let mut a = BatchAnalyzer::new(BATCH).window(Duration::from_secs(30));
    for m in batch() {
        a.message(&m).unwrap();
    }
    let trend = a.finish(at(100)).unwrap().error_trend;
    let rows: Vec<_> = trend
        .windows
        .iter()
        .map(|w| (w.start, w.messages, w.errors))
        .collect();
    assert_eq!(rows, [(at(0), 3, 0), (at(30), 1, 1), (at(60), 1, 1)]);
    // One microsecond before the edge stays in the earlier window.
    let mut m = message(9, MessageStatus::Failed);
    m.updated_at = Timestamp::from_unix_micros(at(60).as_unix_micros() - 1).unwrap();
    let mut a = BatchAnalyzer::new(BATCH);
    a.message(&m).unwrap();
    let w = &a.finish(at(100)).unwrap().error_trend.windows[0];
    assert_eq!((w.start, w.end), (at(0), at(60)));
}

#[test]
fn series_of_throughput_and_cumulative_cost() {
    // One-second windows: m1..m4 accepted at 1, 2, 3 and 4 s, and m8 at 7 s; 5 s and 6 s are
    // empty windows, filled in with the running cost unchanged.
    let mut m8 = priced(accepted(message(8, MessageStatus::Delivered), 6, 7), "0.04");
    m8.delivered_at = Some(at(8));
    let mut messages = batch();
    messages.push(m8);
    let mut a = BatchAnalyzer::new(BATCH)
        .currency("USD")
        .window(Duration::from_secs(1));
    for m in messages.iter().rev() {
        a.message(m).unwrap();
    }
    let series = a.finish(at(100)).unwrap().series;
    assert_eq!(
        (series.window_seconds, series.currency.as_str()),
        (1, "USD")
    );
    let rows: Vec<_> = series
        .windows
        .iter()
        .map(|w| {
            (
                w.start,
                w.accepted,
                w.segments,
                w.estimated_cost.to_string(),
                w.actual_cost.to_string(),
            )
        })
        .collect();
    let row = |s, n, seg, est: &str, act: &str| (at(s), n, seg, est.to_owned(), act.to_owned());
    assert_eq!(
        rows,
        [
            row(1, 1, 1, "0.04", "0.04"),
            row(2, 1, 2, "0.12", "0.12"),
            row(3, 1, 1, "0.16", "0.12"),
            row(4, 1, 1, "0.2", "0.17"),
            row(5, 0, 0, "0.2", "0.17"),
            row(6, 0, 0, "0.2", "0.17"),
            row(7, 1, 1, "0.24", "0.21"),
        ]
    );
    assert_eq!(series.windows[6].end, at(8));
    // In the default minute windows: one window, the whole accepted cost; the JSON is camelCase.
    let analysis = analyse(&batch(), None, at(100));
    let json = serde_json::to_value(&analysis.series).unwrap();
    assert_eq!(json["windowSeconds"], 60);
    assert_eq!(json["windows"][0]["accepted"], 4);
    assert_eq!(json["windows"][0]["estimatedCost"], "0.2");
    assert_eq!(json["windows"][0]["actualCost"], "0.17");
    // An analysis serialised before the series existed still reads (an empty series).
    let mut old = serde_json::to_value(&analysis).unwrap();
    old.as_object_mut().unwrap().remove("series");
    let back: BatchAnalysis = serde_json::from_value(old).unwrap();
    assert!(back.series.windows.is_empty());
    // No acceptance, no window.
    let none = BatchAnalyzer::new(BATCH).finish(t0()).unwrap().series;
    assert!(none.windows.is_empty());
}

#[test]
fn empty_batch_and_wrong_batch() {
    let analysis = BatchAnalyzer::new(BATCH).finish(t0()).unwrap();
    let r = &analysis.report;
    assert_eq!(
        (r.messages, r.success_rate, r.delivery_rate),
        (0, None, None)
    );
    assert_eq!(r.throughput.messages_per_second, None);
    assert_eq!(r.latency.claim_to_accepted, None);
    assert_eq!(r.cost.currency, "credits");
    let mut other = message(1, MessageStatus::Pending);
    other.batch_id = Uuid::from_u128(1);
    let err = BatchAnalyzer::new(BATCH).message(&other).unwrap_err();
    assert!(err.to_string().contains("belongs to batch"), "{err}");
}

#[test]
fn prices_in_another_currency_are_kept_apart() {
    let mut m = priced(accepted(message(1, MessageStatus::Sent), 0, 1), "0.5");
    m.price_currency = Some("EUR".into());
    let mut a = BatchAnalyzer::new(BATCH).currency("USD");
    a.message(&m).unwrap();
    let analysis = a.finish(at(10)).unwrap();
    assert_eq!(analysis.report.cost.actual, Amount::ZERO);
    assert_eq!(analysis.credits.other_currencies["EUR"], amount("0.5"));
    // Without a currency, the first price's is the report's.
    let mut a = BatchAnalyzer::new(BATCH);
    a.message(&m).unwrap();
    let analysis = a.finish(at(10)).unwrap();
    assert_eq!(
        (
            analysis.report.cost.currency.as_str(),
            analysis.report.cost.actual
        ),
        ("EUR", amount("0.5"))
    );
}

fn objectives() -> SlaObjectives {
    SlaObjectives::from_json(
        r#"{"doneWithinSeconds": 30, "maxErrorRate": {"rate": 0.5, "windowSeconds": 60},
            "minDeliveryRate": 0.6, "maxCostOverEstimate": 0.05}"#,
    )
    .unwrap()
}

#[test]
fn sla_violations_with_when_they_began() {
    let analysis = analyse(&batch(), Some(objectives()), at(100));
    let sla = analysis.report.sla.unwrap();
    assert!(!sla.met);
    let v: Vec<_> = sla
        .violations
        .iter()
        .map(|v| (v.objective, v.began_at, v.ended_at, v.observed))
        .collect();
    assert_eq!(
        v,
        [
            // Not done 100 s after the first claim; the deadline was 30 s.
            (Objective::DoneWithinSeconds, at(30), None, 100.0),
            // The second minute: 1 failure in 1 message.
            (Objective::MaxErrorRate, at(60), None, 1.0),
            // Deliveries: 1/1, 2/2, 2/3, then 2/4 at 60 s, below 0.6.
            (Objective::MinDeliveryRate, at(60), None, 0.5),
            // Priced: 0.04/0.04, 0.12/0.12, then 0.17/0.16 at 30 s: 6.25% over.
            (
                Objective::MaxCostOverEstimate,
                at(30),
                None,
                0.17 / 0.16 - 1.0
            ),
        ]
    );
    let statuses: Vec<_> = sla.objectives.iter().map(|o| o.status).collect();
    assert_eq!(statuses, [ObjectiveStatus::Violated; 4]);
    // The worst error-rate window is reported even when nothing is violated.
    let lenient =
        SlaObjectives::from_json(r#"{"maxErrorRate": {"rate": 1, "windowSeconds": 60}}"#).unwrap();
    let sla = analyse(&batch(), Some(lenient), at(100))
        .report
        .sla
        .unwrap();
    assert!(sla.met);
    assert_eq!(sla.objectives[0].observed, Some(1.0));
    // A window with fewer messages than minMessages is not judged.
    let min = SlaObjectives::from_json(
        r#"{"maxErrorRate": {"rate": 0.5, "windowSeconds": 60, "minMessages": 2}}"#,
    )
    .unwrap();
    assert!(
        analyse(&batch(), Some(min), at(100))
            .report
            .sla
            .unwrap()
            .met
    );
    // Nothing started: doneWithin is pending.
    let pending = SlaObjectives::from_json(r#"{"doneWithinSeconds": 5}"#).unwrap();
    let sla = analyse(
        &[message(1, MessageStatus::Pending)],
        Some(pending),
        at(100),
    )
    .report
    .sla
    .unwrap();
    assert_eq!(sla.objectives[0].status, ObjectiveStatus::Pending);
    assert!(sla.met);
}

#[test]
fn sla_objectives_are_checked() {
    for (json, field) in [
        (r#"{"minDeliveryRate": 1.5}"#, "minDeliveryRate"),
        (
            r#"{"maxErrorRate": {"rate": -0.1, "windowSeconds": 60}}"#,
            "maxErrorRate.rate",
        ),
        (
            r#"{"maxErrorRate": {"rate": 0.1, "windowSeconds": 0}}"#,
            "maxErrorRate.windowSeconds",
        ),
        (r#"{"maxErrorRate": {"rate": 0.1}}"#, "maxErrorRate"),
        (r#"{"doneWithinSeconds": 0}"#, "doneWithinSeconds"),
        (r#"{"maxCostOverEstimate": -1}"#, "maxCostOverEstimate"),
        (r#"{"doneWithin": 5}"#, "doneWithin"),
        (r#"{"minDeliveryRate": "high"}"#, "minDeliveryRate"),
    ] {
        let err = SlaObjectives::from_json(json).unwrap_err();
        assert_eq!(err.kind().code(), "invalidInput");
        assert!(err.to_string().contains(field), "{json}: {err}");
    }
    assert!(SlaObjectives::from_json("{} x").is_err());
    assert_eq!(
        SlaObjectives::from_json("{}").unwrap(),
        SlaObjectives::default()
    );
}

#[test]
fn alerts_fire_once_per_violation_and_once_per_recovery() {
    let mut alerts = Vec::new();
    let mut monitor = SlaMonitor::new(|a: &Alert| alerts.push((a.kind, a.objective, a.at)));
    let mut messages = batch();
    let report = analyse(&messages, Some(objectives()), at(100))
        .report
        .sla
        .unwrap();
    assert_eq!(monitor.check(BATCH, &report, at(100)), 4);
    assert_eq!(monitor.check(BATCH, &report, at(110)), 0);
    // Another batch's violations are its own.
    assert_eq!(monitor.check(Uuid::from_u128(7), &report, at(110)), 4);
    // The last message is delivered (accepted 125 s, delivered 130 s, 0.04 charged): the batch is
    // done at 130 s; a good window opens at 120 s; delivery 3/5 = 0.6 and cost 0.21/0.20 = 5%
    // over are within their limits again.
    let mut m7 = priced(
        accepted(message(7, MessageStatus::Delivered), 120, 125),
        "0.04",
    );
    m7.delivered_at = Some(at(130));
    m7.updated_at = at(130);
    messages[6] = m7;
    let report = analyse(&messages, Some(objectives()), at(200))
        .report
        .sla
        .unwrap();
    let ended: Vec<_> = report
        .violations
        .iter()
        .map(|v| (v.objective, v.ended_at))
        .collect();
    assert_eq!(
        ended,
        [
            (Objective::DoneWithinSeconds, Some(at(130))),
            (Objective::MaxErrorRate, Some(at(120))),
        ]
    );
    assert_eq!(monitor.check(BATCH, &report, at(200)), 4);
    assert_eq!(monitor.check(BATCH, &report, at(210)), 0);
    drop(monitor);
    let mine: Vec<_> = alerts.iter().filter(|a| a.2 != at(0)).cloned().collect();
    let expected = vec![
        (AlertKind::Violated, Objective::DoneWithinSeconds, at(30)),
        (AlertKind::Violated, Objective::MaxErrorRate, at(60)),
        (AlertKind::Violated, Objective::MinDeliveryRate, at(60)),
        (AlertKind::Violated, Objective::MaxCostOverEstimate, at(30)),
        // The other batch.
        (AlertKind::Violated, Objective::DoneWithinSeconds, at(30)),
        (AlertKind::Violated, Objective::MaxErrorRate, at(60)),
        (AlertKind::Violated, Objective::MinDeliveryRate, at(60)),
        (AlertKind::Violated, Objective::MaxCostOverEstimate, at(30)),
        // Recoveries: the ended ones at their end, the vanished ones at the check's time.
        (AlertKind::Recovered, Objective::DoneWithinSeconds, at(130)),
        (AlertKind::Recovered, Objective::MaxErrorRate, at(120)),
        (AlertKind::Recovered, Objective::MinDeliveryRate, at(200)),
        (
            AlertKind::Recovered,
            Objective::MaxCostOverEstimate,
            at(200),
        ),
    ];
    assert_eq!(mine, expected);
}

#[test]
fn a_violation_that_returns_is_a_new_one() {
    // Deliveries: undelivered at 10 s (0/1), delivered at 20 s and 30 s (2/3), undelivered at 40
    // and 50 s (2/5): two separate breaches of a 0.5 minimum, at 10 s and at 50 s.
    let outcomes = [
        (10, false),
        (20, true),
        (30, true),
        (40, false),
        (50, false),
    ];
    let mut alerts = Vec::new();
    let mut monitor = SlaMonitor::new(|a: &Alert| alerts.push((a.kind, a.began_at, a.at)));
    let sla = SlaObjectives::from_json(r#"{"minDeliveryRate": 0.5}"#).unwrap();
    for n in 1..=outcomes.len() {
        let messages: Vec<_> = outcomes[..n]
            .iter()
            .enumerate()
            .map(|(i, &(s, ok))| {
                let status = if ok {
                    MessageStatus::Delivered
                } else {
                    MessageStatus::Undelivered
                };
                let mut m = accepted(message(i as i64 + 1, status), s - 5, s - 1);
                m.updated_at = at(s);
                if ok {
                    m.delivered_at = Some(at(s));
                }
                m
            })
            .collect();
        let report = analyse(&messages, Some(sla.clone()), at(outcomes[n - 1].0))
            .report
            .sla
            .unwrap();
        monitor.check(BATCH, &report, at(outcomes[n - 1].0));
    }
    drop(monitor);
    assert_eq!(
        alerts,
        [
            (AlertKind::Violated, at(10), at(10)),
            (AlertKind::Recovered, at(10), at(20)),
            (AlertKind::Violated, at(50), at(50)),
        ]
    );
}

#[test]
fn periods_across_batches() {
    let mut days = PeriodAnalyzer::new(Duration::from_secs(60), "USD");
    let mut other = priced(
        accepted(message(100, MessageStatus::Delivered), 70, 75),
        "0.04",
    );
    other.batch_id = Uuid::from_u128(0xC);
    other.delivered_at = Some(at(80));
    for m in batch().iter().chain([&other]) {
        days.message(m).unwrap();
    }
    let periods = days.finish();
    // Minute 0: m1..m4, m6 (cancelled at 10 s), m7 (pending, last changed at 0 s).
    // Minute 1: m5 (failed at 60 s) and the other batch's delivered message.
    assert_eq!(periods.len(), 2);
    let (p0, p1) = (&periods[0], &periods[1]);
    assert_eq!(
        (p0.start, p0.end, p0.batches, p0.messages),
        (at(0), at(60), 1, 6)
    );
    assert_eq!(p0.cost.estimated, amount("0.24"));
    assert_eq!(p0.cost.actual, amount("0.17"));
    assert_eq!(p0.success_rate, Some(3.0 / 5.0));
    assert_eq!(
        (p1.batches, p1.messages, p1.delivery_rate),
        (2, 2, Some(0.5))
    );
    assert_eq!(
        (p1.cost.estimated, p1.cost.actual),
        (amount("0.08"), amount("0.04"))
    );
    assert_eq!(serde_json::to_value(p1).unwrap()["cost"]["currency"], "USD");

    // Throughput: minute 0 accepted m1..m4 (at 1..4 s; 1 + 2 + 1 + 1 segments billed), the
    // first of them claimed at 0 s: 4 messages in 4 s. Minute 1: the other batch's, claimed at
    // 70 s and accepted at 75 s.
    let tp = p0.throughput;
    assert_eq!(
        (tp.from, tp.to, tp.seconds),
        (Some(at(0)), Some(at(4)), 4.0)
    );
    assert_eq!((tp.messages, tp.segments), (4, 5));
    assert_eq!(
        (tp.messages_per_second, tp.segments_per_second),
        (Some(1.0), Some(1.25))
    );
    let tp = p1.throughput;
    assert_eq!(
        (tp.from, tp.to, tp.messages),
        (Some(at(70)), Some(at(75)), 1)
    );
    assert_eq!(tp.messages_per_second, Some(0.2));
    // Latency: claim to acceptance 1, 2, 2, 3 s (nearest rank: p50 the 2nd, p90 the 4th);
    // acceptance to delivery 4 s (m1) and 10 s (m2).
    let c = p0.latency.claim_to_accepted.unwrap();
    assert_eq!(
        (c.count, c.min, c.p50, c.p90, c.p99, c.max, c.mean),
        (4, 1.0, 2.0, 3.0, 3.0, 3.0, 2.0)
    );
    let d = p0.latency.accepted_to_delivered.unwrap();
    assert_eq!((d.count, d.p50, d.p90, d.mean), (2, 4.0, 10.0, 7.0));
    let c = p1.latency.claim_to_accepted.unwrap();
    assert_eq!((c.count, c.p50), (1, 5.0));
    assert_eq!(p1.latency.accepted_to_delivered.unwrap().p99, 5.0);
    // Errors: minute 0 settled m1..m4 (m6 cancelled, m7 pending), m4 undelivered; minute 1
    // settled m5 (filtered) and the other batch's message.
    assert_eq!((p0.settled, p0.errors, p0.error_rate), (4, 1, Some(0.25)));
    assert_eq!(
        p0.errors_by_category[&ErrorCategory::Unreachable],
        CategoryRate {
            count: 1,
            rate: 0.25
        }
    );
    assert_eq!((p1.settled, p1.errors, p1.error_rate), (2, 1, Some(0.5)));
    assert_eq!(
        p1.errors_by_category.keys().collect::<Vec<_>>(),
        [&ErrorCategory::Filtered]
    );
    // Credits: minute 0 has m1, m3, m4, m7 in GSM-7 (m6 cancelled), m2 in UCS-2.
    let gsm = p0.credits.by_encoding["GSM-7"];
    assert_eq!((gsm.messages, gsm.segments, gsm.actual_segments), (4, 4, 3));
    assert_eq!(
        (gsm.estimated_cost, gsm.actual_cost),
        (amount("0.16"), amount("0.09"))
    );
    let ucs = p0.credits.by_encoding["UCS-2"];
    assert_eq!((ucs.messages, ucs.segments, ucs.actual_segments), (1, 2, 2));
    let uk = p0.credits.by_country["44"];
    assert_eq!((uk.messages, uk.segments, uk.actual_segments), (3, 4, 3));
    assert_eq!(
        (uk.estimated_cost, uk.actual_cost),
        (amount("0.16"), amount("0.12"))
    );
    let us = p0.credits.by_country["1"];
    assert_eq!((us.messages, us.actual_cost), (2, amount("0.05")));
    assert_eq!(
        p0.credits.by_variant.keys().collect::<Vec<_>>(),
        ["A", "B", "none"]
    );
    let json = serde_json::to_value(p0).unwrap();
    for key in [
        "throughput",
        "latency",
        "settled",
        "errors",
        "errorRate",
        "errorsByCategory",
        "credits",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }
    assert_eq!(json["errorsByCategory"]["unreachable"]["count"], 1);
}

#[test]
fn periods_within_a_range() {
    // From 3 s to 61 s: m7 (pending since 0 s) and the other batch's message (delivered at
    // 80 s) are out; of the acceptances only m3's (3 s) and m4's (4 s) are in. Deliveries in
    // the range count whenever the message was accepted.
    let mut range = PeriodAnalyzer::new(Duration::from_secs(60), "USD")
        .since(at(3))
        .until(at(61));
    let mut other = priced(
        accepted(message(100, MessageStatus::Delivered), 70, 75),
        "0.04",
    );
    other.batch_id = Uuid::from_u128(0xC);
    other.delivered_at = Some(at(80));
    for m in batch().iter().chain([&other]) {
        range.message(m).unwrap();
    }
    let periods = range.finish();
    assert_eq!(periods.len(), 2);
    let (p0, p1) = (&periods[0], &periods[1]);
    // Minute 0: m1..m4 and m6.
    assert_eq!(
        (p0.messages, p0.by_state.pending, p0.by_state.cancelled),
        (5, 0, 1)
    );
    // m3 and m4, both claimed at 1 s: the span starts at `since`, 3 s, and ends at 4 s.
    let tp = p0.throughput;
    assert_eq!((tp.from, tp.to, tp.messages), (Some(at(3)), Some(at(4)), 2));
    assert_eq!(tp.messages_per_second, Some(2.0));
    let c = p0.latency.claim_to_accepted.unwrap();
    assert_eq!((c.count, c.min, c.max), (2, 2.0, 3.0));
    assert_eq!(p0.latency.accepted_to_delivered.unwrap().count, 2);
    // Minute 1: m5 only (failed at 60 s), nothing accepted.
    assert_eq!((p1.start, p1.batches, p1.messages), (at(60), 1, 1));
    assert_eq!(p1.throughput.messages, 0);
    assert_eq!(p1.throughput.messages_per_second, None);
    assert!(p1.latency.claim_to_accepted.is_none());
    assert_eq!(p1.error_rate, Some(1.0));
}

#[test]
fn a_period_edge_splits_acceptance_and_delivery() {
    // Claimed at 58 s, accepted at 61 s, delivered at 125 s: the message counts (delivered) in
    // minute 2, its acceptance in minute 1, where its span starts at the minute's start.
    let mut m = accepted(message(1, MessageStatus::Delivered), 58, 61);
    m.delivered_at = Some(at(125));
    m.updated_at = at(125);
    let mut minutes = PeriodAnalyzer::new(Duration::from_secs(60), "credits");
    minutes.message(&m).unwrap();
    let periods = minutes.finish();
    assert_eq!(periods.len(), 2);
    let (accepting, delivering) = (&periods[0], &periods[1]);
    assert_eq!((accepting.start, accepting.messages), (at(60), 0));
    assert_eq!(accepting.success_rate, None);
    assert_eq!(accepting.throughput.from, Some(at(60)));
    assert_eq!(accepting.throughput.seconds, 1.0);
    assert_eq!(accepting.latency.claim_to_accepted.unwrap().p50, 3.0);
    assert!(accepting.latency.accepted_to_delivered.is_none());
    assert_eq!((delivering.start, delivering.messages), (at(120), 1));
    assert_eq!(delivering.by_state.delivered, 1);
    assert_eq!(delivering.throughput.messages, 0);
    assert_eq!(delivering.latency.accepted_to_delivered.unwrap().p50, 64.0);
    assert_eq!((delivering.settled, delivering.error_rate), (1, Some(0.0)));
    // Hourly and daily periods align to the epoch: 10:00 UTC and midnight UTC.
    let mut hours = PeriodAnalyzer::hourly();
    let mut days = PeriodAnalyzer::daily();
    hours.message(&m).unwrap();
    days.message(&m).unwrap();
    assert_eq!(hours.period_seconds(), 3_600);
    let hour = &hours.finish()[0];
    assert_eq!((hour.start, hour.end), (t0(), at(3_600)));
    assert_eq!(hour.throughput.from, Some(at(58)));
    let day = &days.finish()[0];
    assert_eq!(
        (day.start.to_string(), day.end.to_string()),
        ("2025-05-01T00:00:00Z".into(), "2025-05-02T00:00:00Z".into())
    );
    assert_eq!(day.cost.currency, "credits");
}

#[test]
fn period_names() {
    assert_eq!(period_length("hour").unwrap(), Duration::from_secs(3_600));
    assert_eq!(period_length("day").unwrap(), Duration::from_secs(86_400));
    let err = period_length("fortnight").unwrap_err();
    assert!(err.to_string().contains("\"fortnight\""), "{err}");
    assert!(err.to_string().contains("\"hour\" or \"day\""), "{err}");
}

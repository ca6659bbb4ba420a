//! Batch analytics over messages the page already holds (from the JSON API, Supabase or a file):
//! the report, credits, the error trend and SLA objectives, computed by the very code behind
//! `smsbatch report --json` and the web app's `/api/batches/{id}/report`.

use std::time::Duration;

use serde::Deserialize;
use smsbatch::analytics::{BatchAnalyzer, SlaObjectives};
use smsbatch::store::{BatchLog, Message, Uuid};
use smsbatch::{Error, Timestamp};
use wasm_bindgen::prelude::*;

use crate::{OrThrow, from_js_or_default, js_error, rows_from_js, to_js};

/// The options of [`analyze`]; every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AnalyzeOptions {
    /// The batch analysed; by default the first message's (then every message must be of it).
    batch: Option<Uuid>,
    /// The time the analysis is as of (what `doneWithinSeconds` compares with while the batch is
    /// not done), RFC 3339; by default the page's clock.
    now: Option<Timestamp>,
    /// The report's currency; by default the first price's (`"credits"` when none).
    currency: Option<String>,
    /// When the batch started sending (the batch row's `startedAt`); by default the first claim.
    started_at: Option<Timestamp>,
    /// The error trend's window in whole seconds (default 60).
    window_seconds: Option<u64>,
    /// SLA objectives to evaluate (the `--sla FILE` format).
    sla: Option<SlaObjectives>,
    /// The batch's log (`sms_batch_logs` rows), for the log summary.
    logs: Option<Vec<BatchLog>>,
}

fn invalid(message: String) -> JsValue {
    js_error(&Error::invalid_input(message))
}

/// Analyses one batch from its messages (rows of `sms_batch_messages` in their camelCase JSON, in
/// any order) and returns the `BatchAnalysis`: `{"report", "credits", "errorTrend",
/// "unconfirmed", "unfinished", "doneAt", "log"}`, where `report` is the command line's JSON
/// report. Throws `invalidInput` naming the message or option at fault.
#[wasm_bindgen(js_name = analyze, unchecked_return_type = "BatchAnalysis")]
pub fn analyze(
    #[wasm_bindgen(unchecked_param_type = "Message[]")] messages: JsValue,
    #[wasm_bindgen(unchecked_param_type = "AnalyzeOptions | undefined")] options: JsValue,
) -> Result<JsValue, JsValue> {
    let options: AnalyzeOptions = from_js_or_default(options, "analyze options")?;
    let rows = rows_from_js(messages, "messages")?;
    let messages = rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            Message::deserialize(row).map_err(|e| invalid(format!("invalid message {i}: {e}")))
        })
        .collect::<Result<Vec<Message>, JsValue>>()?;
    let batch = match (options.batch, messages.first()) {
        (Some(batch), _) => batch,
        (None, Some(first)) => first.batch_id,
        (None, None) => {
            return Err(invalid(
                "analyze: no messages and no `batch` option: there is no batch to analyse".into(),
            ));
        }
    };
    let mut analyzer = BatchAnalyzer::new(batch);
    if let Some(currency) = options.currency {
        analyzer = analyzer.currency(currency);
    }
    if let Some(at) = options.started_at {
        analyzer = analyzer.started_at(at);
    }
    match options.window_seconds {
        Some(0) => {
            return Err(invalid(
                "invalid analyze options: `windowSeconds` must be at least 1".into(),
            ));
        }
        Some(seconds) => analyzer = analyzer.window(Duration::from_secs(seconds)),
        None => {}
    }
    if let Some(sla) = options.sla {
        sla.check().or_throw()?;
        analyzer = analyzer.objectives(sla);
    }
    for m in &messages {
        analyzer.message(m).or_throw()?;
    }
    for log in options.logs.iter().flatten() {
        if log.batch_id != batch {
            return Err(invalid(format!(
                "log event {} belongs to batch {}, not to the analysed batch {batch}",
                log.id, log.batch_id
            )));
        }
        analyzer.log(log);
    }
    // The page's clock when the caller gives no time: milliseconds, as `Date.now()` has them.
    let now = options
        .now
        .unwrap_or_else(|| Timestamp::saturating_from_unix_millis(js_sys::Date::now() as i64));
    to_js(&analyzer.finish(now).or_throw()?)
}

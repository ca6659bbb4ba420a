//! The adapter over HTTP against the fake Twilio.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use smsbatch::queue::{
    ErrorCategory, FindQuery, LookupError, MessageStatus, OutboundMessage, ProviderStatus,
    SendOutcome, Sender,
};
use smsbatch::store::{
    Actor, Backend, Claim, Fence, MemoryStore, NewBatch, NewMessage, Transition, Uuid,
};
use smsbatch::twilio::TwilioConfig;
use smsbatch::{Encoding, Purpose, Timestamp};
use smsbatch_twilio_testserver::{Config, Reply};

use super::{config_for, sender_for, start};

const FROM: &str = "+15005550006";
const SERVICE: &str = "MG00000000000000000000000000000009";

fn wall_now() -> Timestamp {
    let micros = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_micros();
    Timestamp::from_unix_micros(i64::try_from(micros).unwrap()).unwrap()
}

fn message(id: i64, to: &str) -> OutboundMessage {
    OutboundMessage::new(id, to, FROM, format!("Hi {id}, your order ships today"))
}

#[tokio::test]
async fn create_sends_the_form_fields_and_basic_auth() {
    let server = start(Config::new().api_key("SK00000000000000000000000000000002", "key-secret"));
    let sender = sender_for(&server);
    let SendOutcome::Accepted(accepted) = sender.send(&message(7, "+447700900123")).await else {
        panic!("accepted")
    };
    let created = server.creates();
    assert_eq!(created.len(), 1);
    assert_eq!(accepted.provider_id, created[0].sid);
    assert_eq!(accepted.status, ProviderStatus::Queued);
    assert_eq!(accepted.segments, Some(1));
    assert_eq!(accepted.price, None, "Twilio prices later");
    assert_eq!(created[0].message_id.as_deref(), Some("7"));

    let request = &server.received()[0];
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.path,
        format!(
            "/2010-04-01/Accounts/{}/Messages.json",
            server.account_sid()
        )
    );
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        server.account_sid(),
        server.auth_token()
    ));
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("Basic {basic}").as_str())
    );
    assert!(
        request
            .user_agent
            .as_deref()
            .unwrap()
            .starts_with("smsbatch/")
    );
    let form: Vec<(&str, &str)> = request
        .form
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        form,
        [
            ("To", "+447700900123"),
            ("From", FROM),
            ("Body", "Hi 7, your order ships today"),
            (
                "StatusCallback",
                "https://hooks.example.com/twilio/status?mid=7"
            ),
        ]
    );

    // An API key pair authenticates as the key; a Messaging Service goes as its SID.
    let keyed = TwilioConfig::with_api_key(
        server.account_sid(),
        "SK00000000000000000000000000000002",
        "key-secret",
    )
    .base_url(server.url())
    .unwrap()
    .validity_period(3600)
    .unwrap()
    .build()
    .unwrap();
    let via_service = OutboundMessage::new(8_i64, "+447700900124", SERVICE, "Hello");
    let SendOutcome::Accepted(accepted) = keyed.send(&via_service).await else {
        panic!("accepted through the API key")
    };
    assert_eq!(accepted.status, ProviderStatus::Accepted);
    assert_eq!(accepted.segments, None, "a Messaging Service counts later");
    let request = &server.received()[1];
    let basic = base64::engine::general_purpose::STANDARD
        .encode("SK00000000000000000000000000000002:key-secret");
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("Basic {basic}").as_str())
    );
    let keys: Vec<&str> = request.form.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["To", "MessagingServiceSid", "Body", "ValidityPeriod"]
    );
    assert_eq!(request.form[1].1, SERVICE);
    assert_eq!(request.form[3].1, "3600");
}

/// What a failure must come out as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Retry,
    Failed,
    InDoubt,
    Halt,
}

/// A message, the outcome it must get, its category, code and HTTP status.
type Case = (
    OutboundMessage,
    Expect,
    ErrorCategory,
    Option<u32>,
    Option<u16>,
);

fn kind(outcome: &SendOutcome) -> Expect {
    match outcome {
        SendOutcome::Retry { .. } => Expect::Retry,
        SendOutcome::Failed(_) => Expect::Failed,
        SendOutcome::InDoubt(_) => Expect::InDoubt,
        SendOutcome::HaltBatch(_) => Expect::Halt,
        SendOutcome::Accepted(a) => panic!("accepted {a:?}"),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn every_documented_error_shape_maps_to_its_category() {
    use ErrorCategory as C;
    use Expect::*;
    let scripted = [
        (
            "+447700900201",
            Reply::error(
                400,
                21617,
                "The concatenated message body exceeds the 1600 character limit.",
            ),
            Failed,
            C::Content,
        ),
        (
            "+447700900202",
            Reply::error(503, 20503, "Service Unavailable"),
            Retry,
            C::ProviderError,
        ),
        (
            "+447700900203",
            Reply::ServerErrorAfterCreate,
            InDoubt,
            C::ProviderError,
        ),
        (
            "+447700900204",
            Reply::Raw {
                status: 502,
                content_type: "text/html".into(),
                body: "<html>Bad Gateway</html>".into(),
            },
            InDoubt,
            C::ProviderError,
        ),
        (
            "+447700900205",
            Reply::error(400, 21999, "A code this library does not know"),
            Failed,
            C::Unknown,
        ),
        (
            "+447700900206",
            Reply::Raw {
                status: 400,
                content_type: "text/plain".into(),
                body: String::new(),
            },
            Failed,
            C::Unknown,
        ),
        (
            "+447700900207",
            Reply::error(403, 63038, "Account exceeded the daily messages limit"),
            Halt,
            C::Account,
        ),
        (
            "+447700900208",
            Reply::error(400, 30007, "Message filtered"),
            Failed,
            C::Filtered,
        ),
        (
            "+447700900209",
            Reply::error(
                429,
                63017,
                "Account sending above 2,000 messages per second",
            ),
            Retry,
            C::RateLimited,
        ),
        (
            "+447700900210",
            Reply::Raw {
                status: 201,
                content_type: "application/json".into(),
                body: "{\"not\": \"a message\"}".into(),
            },
            InDoubt,
            C::InDoubt,
        ),
        (
            "+447700900211",
            Reply::Raw {
                status: 301,
                content_type: "text/plain".into(),
                body: "moved".into(),
            },
            Halt,
            C::Config,
        ),
        (
            "+447700900212",
            Reply::error(500, 30500, "Internal error; try again"),
            Retry,
            C::ProviderError,
        ),
    ];
    let mut config = Config::new();
    for (to, reply, _, _) in &scripted {
        config = config.script(*to, [reply.clone()]);
    }
    let server = start(config);
    let sender = sender_for(&server);
    let mut cases: Vec<Case> = vec![
        // Twilio's magic test numbers (its documented error bodies).
        (
            message(1, "+15005550001"),
            Failed,
            C::InvalidRecipient,
            Some(21211),
            Some(400),
        ),
        (
            message(2, "+15005550002"),
            Failed,
            C::Config,
            Some(21612),
            Some(400),
        ),
        (
            message(3, "+15005550003"),
            Halt,
            C::Config,
            Some(21408),
            Some(400),
        ),
        (
            message(4, "+15005550004"),
            Failed,
            C::OptedOut,
            Some(21610),
            Some(400),
        ),
        (
            message(5, "+15005550009"),
            Failed,
            C::InvalidRecipient,
            Some(21614),
            Some(400),
        ),
        (
            OutboundMessage::new(6_i64, "+447700900123", "+15005550001", "x"),
            Halt,
            C::Config,
            Some(21212),
            Some(400),
        ),
        (
            OutboundMessage::new(7_i64, "+447700900123", "+15005550007", "x"),
            Halt,
            C::Config,
            Some(21606),
            Some(400),
        ),
        (
            OutboundMessage::new(8_i64, "+447700900123", "+15005550008", "x"),
            Retry,
            C::Backpressure,
            Some(21611),
            Some(400),
        ),
        (
            message(9, "07700 900123"),
            Failed,
            C::InvalidRecipient,
            Some(21211),
            Some(400),
        ),
        (
            OutboundMessage::new(10_i64, "+447700900123", FROM, ""),
            Failed,
            C::Content,
            Some(21602),
            Some(400),
        ),
    ];
    for (i, (to, _, expect, category)) in scripted.iter().enumerate() {
        let status = match &scripted[i].1 {
            Reply::Error { status, .. } | Reply::Raw { status, .. } => *status,
            _ => 500,
        };
        let code = match &scripted[i].1 {
            Reply::Error { code, .. } => Some(*code),
            Reply::ServerErrorAfterCreate => Some(20500),
            _ => None,
        };
        let http = if *category == C::InDoubt {
            Some(201)
        } else {
            Some(status)
        };
        cases.push((message(100 + i as i64, to), *expect, *category, code, http));
    }
    for (m, expect, category, code, http) in cases {
        let outcome = sender.send(&m).await;
        let failure = outcome
            .failure()
            .unwrap_or_else(|| panic!("{}: {outcome:?}", m.to));
        assert_eq!(
            (
                kind(&outcome),
                failure.category,
                failure.code.as_deref().map(|c| c.parse::<u32>().unwrap()),
                failure.http_status
            ),
            (expect, category, code, http),
            "{} {:?}",
            m.to,
            failure.message
        );
        assert!(!failure.message.is_empty());
    }
    // 21611's floor: minutes, not the header's seconds.
    let full = OutboundMessage::new(11_i64, "+447700900123", "+15005550008", "x");
    let SendOutcome::Retry { retry_after, .. } = sender.send(&full).await else {
        panic!()
    };
    assert_eq!(retry_after, Some(Duration::from_secs(300)));
    // Only the 500-after-create case (and the unreadable 201, which the fake answers without
    // creating) reached the record: nothing else was created.
    let created: Vec<String> = server.creates().into_iter().map(|c| c.to).collect();
    assert_eq!(created, ["+447700900203"]);
}

#[tokio::test]
async fn wrong_credentials_wrong_account_and_no_server() {
    let server = start(Config::new());
    let wrong_token = TwilioConfig::new(server.account_sid(), "not-the-token")
        .base_url(server.url())
        .unwrap()
        .build()
        .unwrap();
    let outcome = wrong_token.send(&message(1, "+447700900123")).await;
    let SendOutcome::HaltBatch(f) = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        (f.category, f.code.as_deref(), f.http_status),
        (ErrorCategory::Account, Some("20003"), Some(401))
    );
    assert!(f.message.contains("Authenticate"), "{}", f.message);

    let other_account =
        TwilioConfig::new("AC00000000000000000000000000000099", server.auth_token())
            .base_url(server.url())
            .unwrap()
            .build()
            .unwrap();
    let outcome = other_account.send(&message(2, "+447700900123")).await;
    assert!(
        matches!(&outcome, SendOutcome::HaltBatch(f) if f.code.as_deref() == Some("20003")),
        "{outcome:?}"
    );

    // A listener that is gone: the request never left, so it retries.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nobody = TwilioConfig::new(server.account_sid(), server.auth_token())
        .base_url(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .build()
        .unwrap();
    let outcome = nobody.send(&message(3, "+447700900123")).await;
    let SendOutcome::Retry { failure, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(failure.category, ErrorCategory::Transient);
    assert!(matches!(
        nobody.lookup("SM1").await,
        Err(LookupError::Unavailable { .. })
    ));
    assert!(server.creates().is_empty());
}

#[tokio::test]
async fn a_create_without_an_answer_is_in_doubt() {
    let to = "+447700900300";
    let server = start(Config::new().script(to, [Reply::HangAfterCreate(Duration::from_secs(5))]));
    let sender = config_for(&server)
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let outcome = sender.send(&message(1, to)).await;
    let SendOutcome::InDoubt(failure) = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(failure.category, ErrorCategory::InDoubt);
    assert_eq!(
        server.creates().len(),
        1,
        "the fake created it before hanging"
    );
}

#[tokio::test]
async fn rate_limited_with_retry_after() {
    let server = start(
        Config::new()
            .rate_limit_one_in(1)
            .retry_after(Some("2"))
            .script(
                "+447700900401",
                [Reply::Error {
                    status: 429,
                    code: 20429,
                    message: "Too Many Requests".into(),
                    retry_after: Some("Fri, 01 Jan 2100 00:00:00 GMT".into()),
                }],
            )
            .script(
                "+447700900402",
                [Reply::Error {
                    status: 429,
                    code: 20429,
                    message: "Too Many Requests".into(),
                    retry_after: None,
                }],
            ),
    );
    let sender = sender_for(&server);
    let SendOutcome::Retry {
        failure,
        retry_after,
    } = sender.send(&message(1, "+447700900400")).await
    else {
        panic!("retry")
    };
    assert_eq!(
        (
            failure.category,
            failure.code.as_deref(),
            failure.http_status,
            retry_after
        ),
        (
            ErrorCategory::RateLimited,
            Some("20429"),
            Some(429),
            Some(Duration::from_secs(2))
        )
    );
    let SendOutcome::Retry { retry_after, .. } = sender.send(&message(2, "+447700900401")).await
    else {
        panic!("retry")
    };
    assert!(
        retry_after.unwrap() > Duration::from_secs(86_400),
        "an HTTP date"
    );
    let SendOutcome::Retry { retry_after, .. } = sender.send(&message(3, "+447700900402")).await
    else {
        panic!("retry")
    };
    assert_eq!(
        retry_after, None,
        "no header, no floor: the queue's backoff decides"
    );
    assert!(server.creates().is_empty(), "a 429 is never processed");
    assert_eq!(server.create_requests(), 3);
}

/// A 500 after Twilio created the message: the queue records it in doubt, and reconciliation
/// finds it through the list look-up, so it is recorded as sent and never created again.
#[tokio::test]
async fn a_500_after_creation_is_reconciled_and_never_sent_twice() {
    let to = "+447700900500";
    let limited = "+447700900501";
    let server = start(
        Config::new()
            .script(to, [Reply::ServerErrorAfterCreate])
            .script(limited, [Reply::error(429, 20429, "Too Many Requests")]),
    );
    let sender = sender_for(&server);
    let store = MemoryStore::new().store(Actor::Service).unwrap();
    let now = wall_now();
    let batch = store
        .batches
        .create(&NewBatch::new(Purpose::Transactional), now)
        .await
        .unwrap()
        .batch;
    let rows = [
        NewMessage::new(1, to, "Your code is 1234", Encoding::Gsm7),
        NewMessage::new(2, limited, "Your code is 5678", Encoding::Gsm7),
    ];
    store.messages.insert(batch.id, &rows, now).await.unwrap();
    store
        .batches
        .transition(batch.id, smsbatch::queue::BatchState::Sending, None, now)
        .await
        .unwrap();
    let token = Uuid::from_u128(7);
    let lease = Duration::from_secs(120);
    let claimed = store
        .messages
        .claim(&Claim::new(10, token, lease, now).batch(batch.id))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);

    let mut in_doubt = Vec::new();
    for m in &claimed {
        let started = store
            .messages
            .mark_send_started(m.id, token, now)
            .await
            .unwrap();
        let out = OutboundMessage::new(m.id, &m.phone, FROM, &m.body);
        match sender.send(&out).await {
            SendOutcome::InDoubt(f) => {
                assert_eq!(
                    (f.code.as_deref(), f.http_status),
                    (Some("20500"), Some(500))
                );
                let change = Transition::in_doubt().error_code("20500");
                store
                    .messages
                    .transition(m.id, Fence::Claim(token), &change, now)
                    .await
                    .unwrap();
                in_doubt.push((out, started.send_started_at.unwrap()));
            }
            SendOutcome::Retry { .. } => {
                let change = Transition::retry(now).category(ErrorCategory::RateLimited);
                store
                    .messages
                    .transition(m.id, Fence::Claim(token), &change, now)
                    .await
                    .unwrap();
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(in_doubt.len(), 1);

    // Reconciliation: the list look-up by To/From/DateSent finds the message Twilio created.
    let (out, started) = &in_doubt[0];
    let query = FindQuery::around(out, *started, lease);
    let found = sender.find(&query).await.unwrap();
    let best = query
        .best_match(&found)
        .expect("the created message is found");
    let created = server.creates();
    assert_eq!(created.len(), 1);
    assert_eq!(best.provider_id, created[0].sid);
    assert_eq!(best.status, ProviderStatus::Delivered);
    let change = Transition::sent(&best.provider_id).provider_status(best.status.as_str());
    let id = out.id.as_str().parse::<i64>().unwrap();
    let reconciled = store
        .messages
        .transition(id, Fence::Status(MessageStatus::InDoubt), &change, now)
        .await
        .unwrap();
    assert_eq!(reconciled.status, MessageStatus::Sent);
    assert_eq!(
        reconciled.provider_id.as_deref(),
        Some(created[0].sid.as_str())
    );

    // The rate-limited one was never created: the list finds nothing, and its retry sends it
    // once.
    let other = OutboundMessage::new(2_i64, limited, FROM, "Your code is 5678");
    let query = FindQuery::around(&other, now, lease);
    assert_eq!(sender.find(&query).await.unwrap(), []);
    let again = store
        .messages
        .claim(&Claim::new(10, Uuid::from_u128(8), lease, now).batch(batch.id))
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "only the retry is pending again");
    assert!(sender.send(&other).await.is_accepted());

    // Each phone was texted exactly once.
    let mut per_phone = std::collections::BTreeMap::<String, usize>::new();
    for c in server.creates() {
        *per_phone.entry(c.to).or_default() += 1;
    }
    assert_eq!(
        per_phone.into_iter().collect::<Vec<_>>(),
        [(to.to_owned(), 1), (limited.to_owned(), 1)]
    );
    assert_eq!(
        server.create_requests(),
        3,
        "two first attempts and one retry"
    );
}

#[tokio::test]
async fn lookups_and_paged_lists() {
    let server = start(Config::new());
    let sender = sender_for(&server);
    let to = "+447700900600";
    let started = wall_now();
    let body = "Same text every time";
    // Not the Messaging Service's pool number, which Twilio lists as the service's `From`.
    const FROM: &str = "+447700900999";
    // More than one page of Twilio's largest (1000).
    for i in 0..1010 {
        let m = OutboundMessage::new(i as i64, to, FROM, body);
        assert!(sender.send(&m).await.is_accepted());
    }
    // Someone else's text to the same number, and a message through a Messaging Service.
    assert!(
        sender
            .send(&OutboundMessage::new(5000_i64, to, FROM, "Other text"))
            .await
            .is_accepted()
    );
    assert!(
        sender
            .send(&OutboundMessage::new(5001_i64, to, SERVICE, body))
            .await
            .is_accepted()
    );

    let probe = OutboundMessage::new(0_i64, to, FROM, body);
    let query = FindQuery::around(&probe, started, Duration::from_secs(60));
    let found = sender.find(&query).await.unwrap();
    assert_eq!(
        found.len(),
        1010,
        "two pages of 1000, other texts and senders left out"
    );
    let lists = server
        .received()
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect::<Vec<_>>();
    assert_eq!(lists.len(), 2);
    let filters: Vec<(&str, &str)> = lists[0]
        .query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // No `DateSent`: Twilio leaves it empty while a message is queued, and a queued message is
    // what an in-doubt create may be.
    assert_eq!(filters, [("To", to), ("From", FROM), ("PageSize", "1000")]);
    assert!(lists[1].query.iter().any(|(k, _)| k == "PageToken"));

    // Outside the window (it ended before the messages were created): none of them.
    let earlier = FindQuery::around(
        &probe,
        started.saturating_sub(Duration::from_secs(3600)),
        Duration::from_secs(60),
    );
    assert_eq!(sender.find(&earlier).await.unwrap(), []);

    let via_service = OutboundMessage::new(5001_i64, to, SERVICE, body);
    let found = sender
        .find(&FindQuery::around(
            &via_service,
            started,
            Duration::from_secs(60),
        ))
        .await
        .unwrap();
    assert_eq!(
        found.len(),
        1011,
        "by service: every sender's number, same text"
    );
    assert!(found.iter().any(|m| m.from.as_deref() == Some(SERVICE)));

    // Fetch by SID: Twilio's later view, priced.
    let sid = server.creates()[0].sid.clone();
    let m = sender.lookup(&sid).await.unwrap();
    assert_eq!(m.status, ProviderStatus::Delivered);
    assert_eq!(m.to.as_deref(), Some(to));
    assert_eq!(m.segments, Some(1));
    assert_eq!(
        m.price.as_ref().map(|p| p.amount.to_string()),
        Some("0.0079".into())
    );
    assert!(m.created_at.is_some());
    assert_eq!(
        sender.lookup("SM0000000000000000000000000000dead").await,
        Err(LookupError::NotFound)
    );
    assert_eq!(
        sender.lookup("../../Calls").await,
        Err(LookupError::NotFound)
    );
}

#[tokio::test]
async fn failed_messages_read_back_with_their_error() {
    let server = start(Config::new().final_status("undelivered"));
    let sender = sender_for(&server);
    let SendOutcome::Accepted(a) = sender.send(&message(1, "+447700900700")).await else {
        panic!()
    };
    let m = sender.lookup(&a.provider_id).await.unwrap();
    assert_eq!(m.status, ProviderStatus::Undelivered);
    assert_eq!(m.status.message_status(), MessageStatus::Undelivered);
    assert_eq!(m.error_code.as_deref(), Some("30003"));
}

/// Regression: Twilio leaves `date_sent` empty while a message waits in its queue, so a list
/// filtered by `DateSent` (as `find` once was) did not show an in-doubt create that was still
/// queued, and the runner sent it a second time once the settle time had passed. Through the
/// worker: the create is answered 500 after Twilio took it, the message stays queued at
/// Twilio, and reconciliation finds it; nothing is sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_doubt_create_still_queued_at_twilio_is_found_and_not_resent() {
    use std::sync::Arc;

    use smsbatch::queue::BatchOptions;
    use smsbatch::send::{BatchRequest, Preparer, RunnerConfig, TemplateChoice, Worker};
    use smsbatch::store::{Customer, MessageQuery};

    let doubtful = "+447400900801";
    let server = start(
        Config::new()
            .queued_for(Duration::from_secs(3600))
            .script(doubtful, [Reply::ServerErrorAfterCreate]),
    );
    let sender = sender_for(&server);

    // The adapter alone: the queued message is listed (without a date sent) and matched.
    let probe = OutboundMessage::new(90_i64, "+447700900800", FROM, "Still queued");
    let started = wall_now();
    assert!(matches!(
        sender.send(&probe).await,
        SendOutcome::Accepted(_)
    ));
    let query = FindQuery::around(&probe, started, Duration::from_secs(60));
    let found = sender.find(&query).await.unwrap();
    let best = query
        .best_match(&found)
        .expect("the queued message is found");
    assert_eq!(best.status, ProviderStatus::Queued);
    assert_eq!(best.provider_id, server.creates()[0].sid);

    // Through the worker.
    let store = MemoryStore::new().store(Actor::Service).unwrap();
    let customers: Vec<Customer> = (1..=3)
        .map(|i| {
            let mut c = Customer::new(i);
            c.phone = Some(format!("+44740090080{i}"));
            c.opted_in = Some(true);
            c
        })
        .collect();
    store.customers.upsert(&customers).await.unwrap();
    let request = BatchRequest::new(
        TemplateChoice::Text("Your parcel is on its way".into()),
        serde_json::Value::Null,
        smsbatch::Purpose::Transactional,
    )
    .sender(FROM)
    .options(BatchOptions::from_json(r#"{"verifyAfterSeconds": 1}"#).unwrap());
    let batch = Preparer::new()
        .create(&store, &request, wall_now())
        .await
        .unwrap();
    assert_eq!(batch.messages, 3, "{batch:?}");
    let worker = Worker::new(store.clone(), Arc::new(sender_for(&server)))
        .config(RunnerConfig::new().poll(Duration::from_millis(50)));
    tokio::time::timeout(Duration::from_secs(60), worker.run_until_idle())
        .await
        .expect("the worker finishes within a minute")
        .unwrap();

    let messages = store
        .messages
        .list(&MessageQuery::new(batch.id, 10))
        .await
        .unwrap();
    assert_eq!(messages.len(), 3);
    let creates = server.creates();
    for m in &messages {
        let mine: Vec<_> = creates.iter().filter(|c| c.to == m.phone).collect();
        assert_eq!(mine.len(), 1, "{} was texted {} times", m.phone, mine.len());
        assert_eq!(m.status, MessageStatus::Sent, "{m:?}");
        assert_eq!(m.provider_id.as_deref(), Some(mine[0].sid.as_str()));
    }
    let doubtful_create = creates.iter().find(|c| c.to == doubtful).unwrap();
    assert_eq!(doubtful_create.answered, 500, "the create was in doubt");
    let status = smsbatch::send::BatchStatus::load(&store, batch.id)
        .await
        .unwrap();
    assert_eq!(status.state, smsbatch::queue::BatchState::Completed);
    assert_eq!(status.progress.counts.in_doubt, 0);
}

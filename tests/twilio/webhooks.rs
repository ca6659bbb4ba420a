//! The webhooks through the in-memory store: signatures, status callbacks, STOP and START.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use smsbatch::queue::{BatchState, ErrorCategory, MessageStatus};
use smsbatch::store::{
    Actor, Backend, Claim, Fence, MemoryStore, NewBatch, NewMessage, Store, Transition, Uuid,
};
use smsbatch::twilio::{
    EMPTY_TWIML, Inbound, StatusUpdate, WebhookRequest, Webhooks, http_status, signature,
};
use smsbatch::{Encoding, Purpose, Timestamp};

const TOKEN: &str = "12345";
const STATUS_URL: &str = "https://hooks.example.com/twilio/status";
const INBOUND_URL: &str = "https://hooks.example.com/twilio/inbound";

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_seconds(1_750_000_000 + seconds).unwrap()
}

/// A request signed as Twilio signs it (with `token`).
fn signed(token: &str, url: &str, params: &[(&str, &str)]) -> WebhookRequest {
    let sig = signature(token, url, params);
    WebhookRequest::from_params(
        url,
        Some(&sig),
        params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    )
}

/// Three claimed messages, their sends started.
async fn claimed(store: &Store) -> (Vec<i64>, Uuid) {
    let batch = store
        .batches
        .create(&NewBatch::new(Purpose::Marketing), at(0))
        .await
        .unwrap()
        .batch;
    let rows: Vec<NewMessage> = (1..=3)
        .map(|i| NewMessage::new(i, format!("+44770090080{i}"), "Hi", Encoding::Gsm7))
        .collect();
    store.messages.insert(batch.id, &rows, at(0)).await.unwrap();
    store
        .batches
        .transition(batch.id, BatchState::Sending, None, at(1))
        .await
        .unwrap();
    let token = Uuid::from_u128(1);
    let claimed = store
        .messages
        .claim(&Claim::new(10, token, Duration::from_secs(60), at(2)).batch(batch.id))
        .await
        .unwrap();
    let mut ids = Vec::new();
    for m in claimed {
        store
            .messages
            .mark_send_started(m.id, token, at(3))
            .await
            .unwrap();
        ids.push(m.id);
    }
    (ids, token)
}

#[test]
fn twilio_documented_signature_example() {
    // twilio.com/docs/usage/security: this URL, these POST parameters, auth token 12345.
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    let body = b"CallSid=CA1234567890ABCDE&Caller=%2B14158675310&Digits=1234&From=%2B14158675310&To=%2B18005551212";
    let hooks = Webhooks::new("12345");
    let genuine =
        WebhookRequest::from_form(url, Some("GvWf1cFY/Q7PnoempGyD5oXAezc="), body).unwrap();
    hooks.verify(&genuine).unwrap();
    // One digit changed in the body, the URL or the signature: refused.
    let tampered_body = body
        .to_vec()
        .iter()
        .map(|&b| if b == b'4' { b'5' } else { b })
        .collect::<Vec<_>>();
    for request in [
        WebhookRequest::from_form(url, Some("GvWf1cFY/Q7PnoempGyD5oXAezc="), &tampered_body)
            .unwrap(),
        WebhookRequest::from_form(
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            Some("GvWf1cFY/Q7PnoempGyD5oXAezc="),
            body,
        )
        .unwrap(),
        WebhookRequest::from_form(url, Some("GvWf1cFY/Q7PnoempGyD5oXAezd="), body).unwrap(),
        WebhookRequest::from_form(url, None, body).unwrap(),
    ] {
        let err = hooks.verify(&request).unwrap_err();
        assert_eq!(err.kind().code(), "invalidWebhook");
        assert_eq!(http_status(&err), 403);
    }
    let other_token = Webhooks::new("54321");
    assert!(other_token.verify(&genuine).is_err());
}

#[tokio::test]
async fn status_callbacks_move_forward_only() {
    let store = MemoryStore::new().store(Actor::Service).unwrap();
    let (ids, token) = claimed(&store).await;
    let hooks = Webhooks::new(TOKEN);
    let url = |id: i64| format!("{STATUS_URL}?mid={id}");

    // A callback while the worker still holds the message: not applied.
    let early = signed(
        TOKEN,
        &url(ids[0]),
        &[("MessageSid", "SMa"), ("MessageStatus", "sent")],
    );
    let update = hooks
        .status_callback(store.messages.as_ref(), &early, at(4))
        .await
        .unwrap();
    assert_eq!(update, StatusUpdate::Held { message_id: ids[0] });

    let change = Transition::sent("SMa").provider_status("queued");
    store
        .messages
        .transition(ids[0], Fence::Claim(token), &change, at(4))
        .await
        .unwrap();
    let delivered = signed(
        TOKEN,
        &url(ids[0]),
        &[
            ("AccountSid", "AC00000000000000000000000000000001"),
            ("MessageSid", "SMa"),
            ("MessageStatus", "delivered"),
            ("To", "+447700900801"),
            ("Price", "-0.00790"),
            ("PriceUnit", "USD"),
        ],
    );
    let update = hooks
        .status_callback(store.messages.as_ref(), &delivered, at(5))
        .await
        .unwrap();
    assert_eq!(
        update,
        StatusUpdate::Applied {
            message_id: ids[0],
            from: MessageStatus::Sent,
            to: MessageStatus::Delivered
        }
    );
    let m = store.messages.get(ids[0]).await.unwrap().unwrap();
    assert_eq!(m.provider_status.as_deref(), Some("delivered"));
    assert_eq!(m.price.map(|p| p.to_string()), Some("0.0079".into()));
    assert_eq!(m.price_currency.as_deref(), Some("USD"));
    assert_eq!(m.delivered_at, Some(at(5)));

    // Out of order: a late `sent` does not move it back; the same callback twice changes nothing.
    let late = signed(
        TOKEN,
        &url(ids[0]),
        &[("MessageSid", "SMa"), ("MessageStatus", "sent")],
    );
    for request in [&late, &delivered] {
        let update = hooks
            .status_callback(store.messages.as_ref(), request, at(6))
            .await
            .unwrap();
        assert_eq!(
            update,
            StatusUpdate::Unchanged {
                message_id: ids[0],
                status: MessageStatus::Delivered
            }
        );
    }

    // Without `mid` (a callback URL set elsewhere), by SID.
    let change = Transition::sent("SMb").provider_status("queued");
    store
        .messages
        .transition(ids[1], Fence::Claim(token), &change, at(4))
        .await
        .unwrap();
    let failed = signed(
        TOKEN,
        STATUS_URL,
        &[
            ("MessageSid", "SMb"),
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "30007"),
        ],
    );
    let update = hooks
        .status_callback(store.messages.as_ref(), &failed, at(7))
        .await
        .unwrap();
    assert_eq!(
        update,
        StatusUpdate::Applied {
            message_id: ids[1],
            from: MessageStatus::Sent,
            to: MessageStatus::Undelivered
        }
    );
    let m = store.messages.get(ids[1]).await.unwrap().unwrap();
    assert_eq!(m.error_code.as_deref(), Some("30007"));
    assert_eq!(m.error_category, Some(ErrorCategory::Filtered));
    assert!(m.error_message.as_deref().unwrap().contains("filtered"));

    // In doubt after a crash: the callback, mapped by `mid`, proves Twilio has it.
    store
        .messages
        .transition(ids[2], Fence::Claim(token), &Transition::in_doubt(), at(4))
        .await
        .unwrap();
    let proof = signed(
        TOKEN,
        &url(ids[2]),
        &[
            ("MessageSid", "SMc"),
            ("MessageStatus", "sent"),
            ("NumSegments", "2"),
        ],
    );
    let update = hooks
        .status_callback(store.messages.as_ref(), &proof, at(8))
        .await
        .unwrap();
    assert_eq!(
        update,
        StatusUpdate::Applied {
            message_id: ids[2],
            from: MessageStatus::InDoubt,
            to: MessageStatus::Sent
        }
    );
    let m = store.messages.get(ids[2]).await.unwrap().unwrap();
    assert_eq!(
        (m.provider_id.as_deref(), m.provider_segments),
        (Some("SMc"), Some(2))
    );

    // Another SID for a message that has one: a second create, reported, not recorded.
    let second = signed(
        TOKEN,
        &url(ids[2]),
        &[("MessageSid", "SMz"), ("MessageStatus", "delivered")],
    );
    let update = hooks
        .status_callback(store.messages.as_ref(), &second, at(9))
        .await
        .unwrap();
    assert_eq!(
        update,
        StatusUpdate::Conflict {
            message_id: ids[2],
            ours: "SMc".into(),
            theirs: "SMz".into()
        }
    );
    let unknown = signed(
        TOKEN,
        STATUS_URL,
        &[("MessageSid", "SMnobody"), ("MessageStatus", "delivered")],
    );
    let update = hooks
        .status_callback(store.messages.as_ref(), &unknown, at(9))
        .await
        .unwrap();
    assert_eq!(
        update,
        StatusUpdate::Unknown {
            provider_id: "SMnobody".into()
        }
    );

    // Tampered (the status changed on the way): refused, nothing changes.
    let mut params = vec![("MessageSid", "SMc"), ("MessageStatus", "sent")];
    let sig = signature(TOKEN, &url(ids[2]), &params);
    params[1].1 = "delivered";
    let tampered = WebhookRequest::from_params(
        url(ids[2]),
        Some(&sig),
        params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let err = hooks
        .status_callback(store.messages.as_ref(), &tampered, at(10))
        .await
        .unwrap_err();
    assert_eq!(http_status(&err), 403);
    assert_eq!(
        store.messages.get(ids[2]).await.unwrap().unwrap().status,
        MessageStatus::Sent
    );

    // Signed but incomplete: a clear error.
    let incomplete = signed(TOKEN, STATUS_URL, &[("MessageStatus", "sent")]);
    let err = hooks
        .status_callback(store.messages.as_ref(), &incomplete, at(10))
        .await
        .unwrap_err();
    assert_eq!(http_status(&err), 400);
    assert!(err.to_string().contains("MessageSid"), "{err}");
}

#[tokio::test]
async fn stop_and_start_change_the_suppression_list() {
    let store = MemoryStore::new().store(Actor::Service).unwrap();
    let replies = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&replies);
    let hooks = Webhooks::new(TOKEN).on_reply(move |m| log.lock().unwrap().push(m.body.clone()));
    let phone = "+447700900900";
    let inbound = |body: &str| {
        signed(
            TOKEN,
            INBOUND_URL,
            &[
                ("From", phone),
                ("To", "+15005550006"),
                ("Body", body),
                ("MessageSid", "SMin"),
            ],
        )
    };
    let s = store.suppressions.as_ref();

    let outcome = hooks.inbound(s, &inbound(" Stop "), at(1)).await.unwrap();
    assert_eq!(
        outcome,
        Inbound::OptedOut {
            phone: phone.into(),
            keyword: "STOP".into(),
            added: true
        }
    );
    assert!(s.contains(phone).await.unwrap());
    let listed = s.list(None, 10).await.unwrap();
    assert_eq!(listed[0].reason.as_deref(), Some("STOP reply"));
    let outcome = hooks
        .inbound(s, &inbound("unsubscribe"), at(2))
        .await
        .unwrap();
    assert!(
        matches!(outcome, Inbound::OptedOut { added: false, .. }),
        "already there"
    );

    let outcome = hooks.inbound(s, &inbound("START"), at(3)).await.unwrap();
    assert_eq!(
        outcome,
        Inbound::OptedIn {
            phone: phone.into(),
            keyword: "START".into(),
            removed: true
        }
    );
    assert!(!s.contains(phone).await.unwrap());
    let outcome = hooks.inbound(s, &inbound("yes"), at(4)).await.unwrap();
    assert!(matches!(outcome, Inbound::OptedIn { removed: false, .. }));

    for keyword in ["STOPALL", "cancel", "End", "QUIT"] {
        hooks.inbound(s, &inbound(keyword), at(5)).await.unwrap();
        assert!(s.contains(phone).await.unwrap(), "{keyword}");
        hooks.inbound(s, &inbound("UNSTOP"), at(5)).await.unwrap();
        assert!(!s.contains(phone).await.unwrap());
    }

    // Anything else is a reply for the log; the list does not change.
    let outcome = hooks
        .inbound(s, &inbound("Can I stop by tomorrow?"), at(6))
        .await
        .unwrap();
    let Inbound::Reply(reply) = outcome else {
        panic!()
    };
    assert_eq!(
        (reply.from.as_str(), reply.provider_id.as_deref()),
        (phone, Some("SMin"))
    );
    assert_eq!(*replies.lock().unwrap(), ["Can I stop by tomorrow?"]);
    assert!(!s.contains(phone).await.unwrap());

    // A forged STOP (signed with another token) is refused and changes nothing.
    let forged = signed(
        "not-the-token",
        INBOUND_URL,
        &[("From", phone), ("Body", "STOP")],
    );
    let err = hooks.inbound(s, &forged, at(7)).await.unwrap_err();
    assert_eq!(http_status(&err), 403);
    assert!(!s.contains(phone).await.unwrap());
    assert!(EMPTY_TWIML.contains("<Response></Response>"));
}

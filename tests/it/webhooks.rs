//! Outgoing webhooks end to end: endpoints added in chat, events written by the commands,
//! delivered over real HTTP to a receiver on 127.0.0.1 that checks every signature with the
//! same verifier a customer's receiver would use.

use crate::support::{command_request, text, Harness, START};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Duration, Utc};
use salesbot::domain::role::Role;
use salesbot::domain::webhook::Secret;
use salesbot::engine::Engine;
use salesbot::store::Store;
use salesbot::webhooks::{deliver_due, WebhookSender};
use serde_json::Value;
use sqlx::PgPool;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// What the receiver answers next: a status, or no answer at all.
#[derive(Clone, Copy)]
pub(crate) enum Answer {
    Status(u16),
    Hang,
}

/// One request as received.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) id: String,
    timestamp: String,
    signature: String,
    body: String,
}

#[derive(Clone, Default)]
pub(crate) struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    /// Answers in order; 200 once they run out.
    script: Arc<Mutex<VecDeque<Answer>>>,
}

impl Receiver {
    pub(crate) fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    r.got.lock().unwrap().push(Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let answer = r
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(Answer::Status(200));
    match answer {
        Answer::Status(s) => StatusCode::from_u16(s).unwrap(),
        Answer::Hang => std::future::pending().await,
    }
}

/// A receiver on 127.0.0.1 and its URL.
pub(crate) async fn receiver(script: &[Answer]) -> (Receiver, String) {
    let r = Receiver::default();
    r.script.lock().unwrap().extend(script.iter().copied());
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (r, format!("http://127.0.0.1:{port}/hook"))
}

/// A console session whose engine accepts private addresses (the operator's flag).
async fn harness(pool: PgPool) -> Harness {
    let engine = Engine::new(Store::from_pool(pool.clone()))
        .expect("manifests load")
        .allow_private_webhooks(true);
    Harness::with_engine(engine, pool).await
}

fn start() -> DateTime<Utc> {
    START.parse().unwrap()
}

/// Adds an endpoint; returns its secret, read from the one reply that shows it.
async fn add(h: &mut Harness, url: &str, events: &str) -> Secret {
    let reply = h
        .ok(&format!(
            r#"/settings webhook action:add url:{url} events:"{events}""#
        ))
        .await;
    assert_eq!(reply["ephemeral"], true, "the secret is shown privately");
    let content = text(&reply);
    let secret = content
        .split('`')
        .find(|s| s.starts_with("whsec_"))
        .unwrap_or_else(|| panic!("no secret in {content}"));
    Secret::parse(secret).unwrap()
}

fn store(h: &Harness) -> Store {
    Store::from_pool(h.pool.clone())
}

pub(crate) fn sender() -> WebhookSender {
    WebhookSender::new(true).unwrap()
}

/// Checks a request as a receiver would, at the clock the worker signed with.
pub(crate) fn verify(secret: &Secret, r: &Received, now: DateTime<Utc>) -> Value {
    secret
        .verify(
            &r.id,
            &r.timestamp,
            &r.signature,
            r.body.as_bytes(),
            now.timestamp(),
        )
        .unwrap_or_else(|e| panic!("signature refused ({e}): {r:?}"));
    serde_json::from_str(&r.body).unwrap()
}

#[sqlx::test(migrations = "./migrations")]
async fn a_won_deal_reaches_the_erp_signed_with_its_lines(pool: PgPool) {
    let mut h = harness(pool).await;
    let (r, url) = receiver(&[]).await;
    let secret = add(&mut h, &url, "deal.won").await;
    h.ok("/product add name:Widget price:125").await;
    h.ok("/product add name:Service price:1000").await;
    h.ok(r#"/deal new title:"Acme rollout" company:Acme products:"Widget x10; Service x2 @900""#)
        .await;
    h.ok("/deal won deal:D-1").await;
    // Only deal.won was asked for: the creation and the company wrote no event.
    assert_eq!(h.count("SELECT count(*) FROM webhook_events").await, 1);

    let pass = deliver_due(&store(&h), &sender(), start(), 10)
        .await
        .unwrap();
    assert_eq!(pass.delivered, 1);
    let got = r.got();
    assert_eq!(got.len(), 1);
    assert!(got[0].id.starts_with("msg_"));
    let body = verify(&secret, &got[0], start());
    assert_eq!(body["type"], "deal.won");
    let deal = &body["data"]["deal"];
    assert_eq!(deal["ref"], "D-1");
    assert_eq!(deal["status"], "won");
    assert_eq!(deal["currency"], "USD");
    assert_eq!(deal["amount_minor"], 10 * 12_500 + 2 * 90_000);
    assert_eq!(deal["company"]["name"], "Acme");
    assert_eq!(deal["owner"]["user_id"], 1);
    assert_eq!(body["data"]["from_stage"], "Lead");
    let lines = deal["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    let widget = lines.iter().find(|l| l["name"] == "Widget").unwrap();
    assert_eq!(widget["quantity"], 10);
    assert_eq!(widget["unit_price_minor"], 12_500);
    assert_eq!(widget["amount_minor"], 125_000);
    let service = lines.iter().find(|l| l["name"] == "Service").unwrap();
    assert_eq!(service["unit_price_minor"], 90_000);
    assert_eq!(service["list_price_minor"], 100_000);

    // Nothing left to send.
    let again = deliver_due(&store(&h), &sender(), start() + Duration::days(1), 10)
        .await
        .unwrap();
    assert_eq!(again.delivered + again.retried + again.failed, 0);
    assert_eq!(r.got().len(), 1);
}

#[sqlx::test(migrations = "./migrations")]
async fn every_event_type_is_written_by_its_command(pool: PgPool) {
    let mut h = harness(pool).await;
    let (r, url) = receiver(&[]).await;
    let secret = add(&mut h, &url, "all").await;
    h.join(&[2], ":as 1 admin").await;
    h.ok("/company add name:Acme").await;
    h.ok("/contact add name:Bo email:bo@acme.test company:Acme")
        .await;
    h.ok("/deal new title:Pilot amount:5000 contact:C-1").await;
    h.ok("/deal move deal:D-1 stage:Proposal").await;
    h.ok(r#"/contact log contact:C-1 kind:call summary:"Talked price" deal:D-1"#)
        .await;
    h.ok("/deal assign deal:D-1 owner:<@2>").await;
    h.ok(r#"/deal lost deal:D-1 reason:"Budget cut""#).await;
    deliver_due(&store(&h), &sender(), start(), 50)
        .await
        .unwrap();
    let kinds: Vec<String> = r
        .got()
        .iter()
        .map(|g| {
            verify(&secret, g, start())["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for want in [
        "company.created",
        "contact.created",
        "deal.created",
        "deal.stage_changed",
        "activity.logged",
        "deal.assigned",
        "deal.lost",
    ] {
        assert!(
            kinds.iter().any(|k| k == want),
            "{want} missing from {kinds:?}"
        );
    }
    // Proposal, then Lost: two stage changes.
    assert_eq!(
        kinds.iter().filter(|k| *k == "deal.stage_changed").count(),
        2
    );
    let assigned = r
        .got()
        .iter()
        .map(|g| verify(&secret, g, start()))
        .find(|b| b["type"] == "deal.assigned")
        .unwrap();
    assert_eq!(assigned["data"]["previous_owner"]["user_id"], 1);
    assert_eq!(assigned["data"]["deal"]["owner"]["user_id"], 2);
}

#[sqlx::test(migrations = "./migrations")]
async fn a_command_that_rolls_back_leaves_no_event(pool: PgPool) {
    let mut h = harness(pool).await;
    let (r, url) = receiver(&[]).await;
    add(&mut h, &url, "company.created, deal.created").await;
    // The company is created on the fly, then the unknown product fails the command.
    h.err(r#"/deal new title:Pilot company:Initech products:"Gizmo x2""#)
        .await;
    assert_eq!(
        h.count("SELECT count(*) FROM companies WHERE name = 'Initech'")
            .await,
        0
    );
    assert_eq!(h.count("SELECT count(*) FROM webhook_events").await, 0);
    deliver_due(&store(&h), &sender(), start(), 10)
        .await
        .unwrap();
    assert!(r.got().is_empty());
    // The same command that commits writes both.
    h.ok("/deal new title:Pilot company:Initech amount:100")
        .await;
    assert_eq!(h.count("SELECT count(*) FROM webhook_events").await, 2);
}

#[sqlx::test(migrations = "./migrations")]
async fn retries_after_errors_and_timeouts_keep_the_same_id(pool: PgPool) {
    let mut h = harness(pool).await;
    let (r, url) = receiver(&[Answer::Status(500), Answer::Hang, Answer::Status(503)]).await;
    let secret = add(&mut h, &url, "deal.created").await;
    h.ok("/deal new title:Pilot amount:100").await;
    let store = store(&h);
    // A short timeout so the receiver that never answers fails the attempt quickly.
    let sender = WebhookSender::with_timeout(true, std::time::Duration::from_millis(500)).unwrap();
    let mut now = start();
    // The schedule's first steps (5 s, 5 min, 30 min) with up to 10% jitter.
    let steps = [0, 6, 331, 1_981];
    let mut outcomes = Vec::new();
    for step in steps {
        now += Duration::seconds(step);
        // Too early for the next attempt: nothing is sent.
        if step > 0 {
            let early = deliver_due(&store, &sender, now - Duration::seconds(step / 2), 10)
                .await
                .unwrap();
            assert_eq!(early.delivered + early.retried, 0, "sent before its time");
        }
        outcomes.push(deliver_due(&store, &sender, now, 10).await.unwrap());
    }
    assert_eq!(
        outcomes
            .iter()
            .map(|p| (p.retried, p.delivered))
            .collect::<Vec<_>>(),
        [(1, 0), (1, 0), (1, 0), (0, 1)]
    );
    let got = r.got();
    assert_eq!(got.len(), 4);
    assert!(
        got.iter().all(|g| g.id == got[0].id),
        "one webhook-id: {got:?}"
    );
    assert!(got.iter().all(|g| g.body == got[0].body));
    // Each attempt is signed at its own time.
    let mut at = start();
    for (g, step) in got.iter().zip(steps) {
        at += Duration::seconds(step);
        verify(&secret, g, at);
    }
    let rows = store.webhook_deliveries(1).await.unwrap();
    assert_eq!(rows[0].status, "delivered");
    assert_eq!(rows[0].attempts, 4);
}

/// A delivery is sent only while its claim's lease leaves room for the attempt to finish and
/// be recorded; otherwise it is handed back unsent and uncounted, due at once, instead of being
/// sent while another worker may claim it too.
#[sqlx::test(migrations = "./migrations")]
async fn a_delivery_the_lease_cannot_cover_is_handed_back_unsent(pool: PgPool) {
    let mut h = harness(pool).await;
    let (r, url) = receiver(&[]).await;
    let secret = add(&mut h, &url, "deal.created").await;
    h.ok("/deal new title:Pilot amount:100").await;
    let store = store(&h);
    // An attempt that may take 56 s cannot finish inside a 60 s lease with time to record it.
    let slow = WebhookSender::with_timeout(true, std::time::Duration::from_secs(56)).unwrap();
    let pass = deliver_due(&store, &slow, start(), 10).await.unwrap();
    assert_eq!(pass.handed_back, 1, "{pass:?}");
    assert_eq!(pass.delivered + pass.retried + pass.failed, 0);
    assert!(r.got().is_empty(), "nothing sent");
    let rows = store.webhook_deliveries(1).await.unwrap();
    assert_eq!(rows[0].status, "pending");
    assert_eq!(
        rows[0].attempts, 0,
        "the claim is not counted as an attempt"
    );
    // Due again at once (a moment after the claim), not after the lease: the next pass
    // sends it.
    let pass = deliver_due(&store, &sender(), start() + Duration::seconds(1), 10)
        .await
        .unwrap();
    assert_eq!(pass.delivered, 1, "{pass:?}");
    verify(&secret, &r.got()[0], start());
    assert_eq!(store.webhook_deliveries(1).await.unwrap()[0].attempts, 1);
}

#[sqlx::test(migrations = "./migrations")]
async fn gone_disables_the_endpoint_and_tells_the_admins(pool: PgPool) {
    let mut h = harness(pool).await;
    let (r, url) = receiver(&[Answer::Status(410)]).await;
    add(&mut h, &url, "deal.created").await;
    // A second admin: each is told.
    h.run(":as 5 admin").await;
    h.ok("/tasks list").await;
    h.run(":as 1 admin").await;
    h.ok("/deal new title:One amount:100").await;
    h.ok("/deal new title:Two amount:100").await;
    let pass = deliver_due(&store(&h), &sender(), start(), 1)
        .await
        .unwrap();
    assert_eq!(pass.failed, 1);
    assert_eq!(
        h.count("SELECT count(*) FROM webhook_endpoints WHERE disabled_at IS NOT NULL")
            .await,
        1
    );
    // The other event waiting for it is not sent.
    deliver_due(&store(&h), &sender(), start(), 10)
        .await
        .unwrap();
    assert_eq!(r.got().len(), 1);
    // The admin's DM, through the outbox.
    let dm: String = sqlx::query_scalar(
        "SELECT payload->>'content' FROM outbox WHERE kind = 'webhook' AND user_id = 1",
    )
    .fetch_one(&h.pool)
    .await
    .unwrap();
    assert!(dm.contains("W-1") && dm.contains("410"), "{dm}");
    assert_eq!(
        h.count("SELECT count(DISTINCT user_id) FROM outbox WHERE kind = 'webhook'")
            .await,
        2
    );
    // New events no longer go to it, and the list says why.
    h.ok("/deal new title:Three amount:100").await;
    assert_eq!(
        h.count("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")
            .await,
        0
    );
    let list = text(&h.ok("/settings webhook action:list").await);
    assert!(list.contains("410"), "{list}");
    // Redelivering the endpoint turns it back on and sends what it missed.
    h.ok("/settings webhook action:redeliver endpoint:1").await;
    let pass = deliver_due(&store(&h), &sender(), start(), 10)
        .await
        .unwrap();
    assert_eq!(pass.delivered, 2);
}

#[sqlx::test(migrations = "./migrations")]
async fn private_addresses_are_refused_without_the_operators_flag(pool: PgPool) {
    // The plain harness: no WEBHOOK_ALLOW_PRIVATE.
    let mut plain = Harness::new(pool.clone()).await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.7/hook",
    ] {
        let e = plain
            .err(&format!(
                "/settings webhook action:add url:{url} events:all"
            ))
            .await;
        assert!(e.contains("private"), "{e}");
    }
    // Added while allowed, delivered by a worker that does not allow it: never sent, by
    // address or by a name that resolves to loopback.
    let mut h = harness(pool).await;
    let (r, url) = receiver(&[]).await;
    add(&mut h, &url, "deal.created").await;
    add(
        &mut h,
        &url.replace("127.0.0.1", "localhost"),
        "deal.created",
    )
    .await;
    h.ok("/deal new title:Pilot amount:100").await;
    let strict = WebhookSender::new(false).unwrap();
    let pass = deliver_due(&store(&h), &strict, start(), 10).await.unwrap();
    assert_eq!(pass.retried, 2);
    assert!(r.got().is_empty());
    let errors: Vec<String> = store(&h)
        .webhook_deliveries(1)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|d| d.last_error)
        .collect();
    assert!(
        errors.iter().any(|e| e.contains("not a public address")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("no public address")),
        "{errors:?}"
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn redeliver_sends_an_event_again_under_its_id(pool: PgPool) {
    let mut h = harness(pool).await;
    let (r, url) = receiver(&[]).await;
    let secret = add(&mut h, &url, "contact.created").await;
    h.ok("/contact add name:Bo").await;
    deliver_due(&store(&h), &sender(), start(), 10)
        .await
        .unwrap();
    let first = r.got()[0].clone();
    h.ok(&format!(
        "/settings webhook action:redeliver event:{}",
        first.id
    ))
    .await;
    deliver_due(&store(&h), &sender(), start(), 10)
        .await
        .unwrap();
    let got = r.got();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].id, first.id);
    assert_eq!(verify(&secret, &got[1], start())["data"]["name"], "Bo");
    let e = h
        .err("/settings webhook action:redeliver event:msg_nothing")
        .await;
    assert!(e.contains("nothing"), "{e}");
}

/// A redelivery of a delivery being sent this moment neither sends it twice at once nor is
/// lost when that attempt gives up: the attempt's claim is gone, and the event goes again
/// once the attempt's lease has ended.
#[sqlx::test(migrations = "./migrations")]
async fn a_redelivery_during_a_send_waits_for_its_lease_and_outlives_its_outcome(pool: PgPool) {
    use salesbot::store::FailedAttempt;
    let mut h = harness(pool).await;
    let (_r, url) = receiver(&[]).await;
    add(&mut h, &url, "contact.created").await;
    h.ok("/contact add name:Bo").await;
    let store = store(&h);
    let now = start();
    let lease = now + Duration::seconds(120);
    let jobs = store
        .claim_webhook_deliveries(now, lease, 10)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    // Twice: the second sees the first's claim, not an idle delivery.
    for _ in 0..2 {
        h.ok(&format!(
            "/settings webhook action:redeliver event:{}",
            jobs[0].msg_id
        ))
        .await;
    }
    assert!(
        store
            .claim_webhook_deliveries(now + Duration::seconds(1), lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "not sent twice at once"
    );
    // The attempt in flight gives up: the redelivery stands.
    let failed = FailedAttempt {
        status: Some(500),
        error: "answered 500",
        next_at: None,
    };
    store
        .webhook_attempt_failed(&jobs[0], failed, now)
        .await
        .unwrap();
    let later = lease + Duration::seconds(1);
    let again = store
        .claim_webhook_deliveries(later, later + Duration::seconds(120), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "sent again once the lease ended");
    assert_eq!(again[0].msg_id, jobs[0].msg_id);
    assert_eq!(again[0].attempts, 1, "counted afresh");
}

#[sqlx::test(migrations = "./migrations")]
async fn endpoints_are_for_admins_and_undo_takes_them_back(pool: PgPool) {
    let mut h = harness(pool).await;
    let (_r, url) = receiver(&[]).await;
    add(&mut h, &url, "deal.*").await;
    let list = text(&h.ok("/settings webhook action:list").await);
    assert!(list.contains("W-1") && list.contains("deal.won"), "{list}");
    assert!(
        !list.contains("whsec_"),
        "the secret is shown only once: {list}"
    );
    // Never in the audit log either.
    assert_eq!(
        h.count("SELECT count(*) FROM audit_log WHERE after::text LIKE '%whsec_%'")
            .await,
        0
    );
    let e = h
        .err("/settings webhook action:add url:nowhere events:all")
        .await;
    assert!(e.contains("url"), "{e}");
    let e = h
        .err(&format!(
            "/settings webhook action:add url:{url} events:deal.wonn"
        ))
        .await;
    assert!(e.contains("deal.wonn") && e.contains("deal.won"), "{e}");
    h.ok("/settings webhook action:remove endpoint:1").await;
    assert!(text(&h.ok("/settings webhook action:list").await).contains("/settings webhook"));
    h.ok("/undo").await;
    assert!(text(&h.ok("/settings webhook action:list").await).contains("W-1"));
    h.join(&[2], ":as 2 rep").await;
    h.err("/settings webhook action:list").await;
}

/// An undone removal brings an endpoint back, so it counts against the cap like an add: with
/// another admin's add filling the slot since, the undo is refused and writes nothing.
#[sqlx::test(migrations = "./migrations")]
async fn undo_of_a_removal_stops_at_the_endpoint_cap(pool: PgPool) {
    const MAX_ENDPOINTS: usize = 10;
    let mut h = harness(pool).await;
    let (_r, url) = receiver(&[]).await;
    h.join(&[2], ":as 1 admin").await;
    for _ in 0..MAX_ENDPOINTS {
        add(&mut h, &url, "deal.won").await;
    }
    h.ok("/settings webhook action:remove endpoint:1").await;
    h.run(":as 2 admin").await;
    add(&mut h, &url, "deal.won").await;
    h.run(":as 1 admin").await;
    let before = h.fingerprint().await;
    let e = h.err("/undo").await;
    assert!(e.contains(&MAX_ENDPOINTS.to_string()), "{e}");
    assert_eq!(
        h.fingerprint().await,
        before,
        "a refused undo writes nothing"
    );
    let live = "SELECT count(*) FROM webhook_endpoints WHERE removed_at IS NULL";
    assert_eq!(h.count(live).await, MAX_ENDPOINTS as i64);
    // Once the other admin's add is taken back, the same undo brings W-1 back.
    h.run(":as 2 admin").await;
    h.ok("/undo").await;
    h.run(":as 1 admin").await;
    h.ok("/undo").await;
    assert_eq!(h.count(live).await, MAX_ENDPOINTS as i64);
    let back = "SELECT count(*) FROM webhook_endpoints WHERE id = 1 AND removed_at IS NULL";
    assert_eq!(h.count(back).await, 1);
}

#[sqlx::test(migrations = "./migrations")]
async fn an_endpoint_failing_for_five_days_is_disabled_and_the_admin_told(pool: PgPool) {
    let mut h = harness(pool).await;
    // Answers 500 to everything.
    let (_r, url) = receiver(&[Answer::Status(500); 64]).await;
    add(&mut h, &url, "deal.created").await;
    h.ok("/deal new title:One amount:100").await;
    let t0 = start();
    let pass = deliver_due(&store(&h), &sender(), t0, 10).await.unwrap();
    assert_eq!(pass.retried, 1, "a first failure is retried, not fatal");
    assert_eq!(
        h.count("SELECT count(*) FROM webhook_endpoints WHERE disabled_at IS NOT NULL")
            .await,
        0
    );
    // Five days later it still fails: a new event's delivery fails too, and that ends it.
    let later = t0 + Duration::days(5) + Duration::minutes(1);
    h.run(&format!(":now {}", later.to_rfc3339())).await;
    h.ok("/deal new title:Two amount:100").await;
    deliver_due(&store(&h), &sender(), later, 10).await.unwrap();
    assert_eq!(
        h.count("SELECT count(*) FROM webhook_endpoints WHERE disabled_at IS NOT NULL")
            .await,
        1
    );
    let dms = h
        .count("SELECT count(*) FROM outbox WHERE kind = 'webhook' AND user_id = 1")
        .await;
    assert_eq!(dms, 1, "the admin is told once");
}

#[sqlx::test(migrations = "./migrations")]
async fn a_finished_import_is_an_event(pool: PgPool) {
    use salesbot::engine::import::{self, ImportRequest, Input};
    let mut h = harness(pool.clone()).await;
    let (r, url) = receiver(&[]).await;
    let secret = add(&mut h, &url, "import.finished").await;
    let req = ImportRequest {
        workspace: 1,
        actor: 1,
        default_owner: Some(1),
        inputs: vec![Input::Bytes {
            name: "people.csv".into(),
            bytes: b"name,email\nAnn,ann@acme.test\nBob,bob@acme.test\n".to_vec(),
        }],
        source: None,
        kind: None,
        overrides: Vec::new(),
        stage_map: Vec::new(),
        date_order: None,
        sheet: None,
        dry_run: false,
    };
    let summary = import::run(&store(&h), req, start(), |_| {}).await.unwrap();
    assert_eq!(summary.created, 2, "{summary:?}");
    deliver_due(&store(&h), &sender(), start(), 10)
        .await
        .unwrap();
    let got = r.got();
    assert_eq!(got.len(), 1);
    let body = verify(&secret, &got[0], start());
    assert_eq!(body["type"], "import.finished");
    assert_eq!(body["data"]["created"], 2, "{body}");
}

/// Adds that arrive together still stop at the cap: each counts the live endpoints under a
/// workspace lock, so two can never both see nine and make eleven.
#[sqlx::test(migrations = "./migrations")]
async fn adds_at_once_stop_at_the_endpoint_cap(pool: PgPool) {
    const MAX_ENDPOINTS: usize = 10;
    let mut h = harness(pool.clone()).await;
    let (_r, url) = receiver(&[]).await;
    add(&mut h, &url, "deal.won").await;
    let engine = Engine::new(Store::from_pool(pool.clone()))
        .expect("manifests load")
        .allow_private_webhooks(true);
    let add = |n: i64| {
        let options = [
            ("action", "add"),
            ("url", url.as_str()),
            ("events", "deal.won"),
        ];
        command_request(
            1,
            1,
            Role::Admin,
            10_000 + n,
            "settings",
            "webhook",
            &options,
        )
    };
    let replies = futures_util::future::join_all((0..3 * MAX_ENDPOINTS as i64).map(|n| {
        let (engine, request) = (engine.clone(), add(n));
        async move { engine.handle(request).await.expect("answered") }
    }))
    .await;
    let live = h
        .count("SELECT count(*) FROM webhook_endpoints WHERE removed_at IS NULL")
        .await;
    assert_eq!(live, MAX_ENDPOINTS as i64, "{replies:?}");
    let added = replies
        .iter()
        .filter(|r| r.content.contains("whsec_"))
        .count();
    assert_eq!(added, MAX_ENDPOINTS - 1, "{replies:?}");
}

//! The HTTP API served on a port of its own over a fresh database, driven with a real HTTP
//! client: tokens, the engine's writes, problem details, pagination, idempotency, rate limits,
//! body caps, workspace isolation on every route, reports, health and metrics.

use crate::support::{Harness, START};
use reqwest::{Client, Method, StatusCode};
use salesbot::domain::token::Scope;
use salesbot::engine::{tokens, Engine};
use salesbot::http::{router, HttpConfig, Readiness};
use salesbot::store::Store;
use serde_json::{json, Value};
use sqlx::PgPool;

struct Api {
    base: String,
    client: Client,
}

impl Api {
    async fn start(pool: &PgPool, rate: u32, burst: u32) -> Api {
        Api::start_with(pool, rate, burst, false).await
    }

    /// `allow_private`: the operator's WEBHOOK_ALLOW_PRIVATE, so a receiver on loopback works.
    async fn start_with(pool: &PgPool, rate: u32, burst: u32, allow_private: bool) -> Api {
        let engine = Engine::new(Store::from_pool(pool.clone()))
            .expect("engine")
            .allow_private_webhooks(allow_private);
        let config = HttpConfig {
            addr: "127.0.0.1:0".parse().expect("addr"),
            rate_per_second: rate,
            burst,
            // Twenty, refilled one a minute: nothing refills while a test runs.
            unknown_token_burst: 20,
            unknown_tokens_per_minute: 1,
        };
        let app = router(engine, &config, Readiness::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
            axum::serve(listener, app).await.expect("serve");
        });
        Api {
            base: format!("http://{addr}"),
            client: Client::new(),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, v)
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let (s, _, v) = self.call(Method::GET, path, token, None, None).await;
        (s, v)
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        let (s, _, v) = self.call(Method::POST, path, token, Some(body), None).await;
        (s, v)
    }

    async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        let (s, _, v) = self
            .call(Method::PATCH, path, token, Some(body), None)
            .await;
        (s, v)
    }
}

async fn token(pool: &PgPool, ws: i64, scope: Scope, name: &str) -> String {
    tokens::create(
        &Store::from_pool(pool.clone()),
        ws,
        name,
        scope,
        chrono::Utc::now(),
    )
    .await
    .expect("token")
    .text
}

/// Workspace 1 and 2, each with a member, a company, a contact, a deal and a task.
async fn two_workspaces(pool: &PgPool) -> Harness {
    let mut h = Harness::new(pool.clone()).await;
    for ws in [1, 2] {
        h.run(&format!(":workspace {ws}")).await;
        h.ok(&format!("/company add name:\"Acme {ws}\"")).await;
        h.ok(&format!(
            "/contact add name:\"Ann {ws}\" email:ann{ws}@acme.test company:\"Acme {ws}\""
        ))
        .await;
        h.ok(&format!("/deal new title:\"Deal of {ws}\" amount:1200 company:\"Acme {ws}\" contact:\"Ann {ws}\""))
            .await;
        h.ok(&format!("/contact log contact:\"Ann {ws}\" kind:call summary:hello deal:D-1 next_step:\"call back\" due:\"tomorrow 9am\""))
            .await;
        h.ok("/product add name:Widget price:10").await;
        h.ok("/settings webhook action:add url:https://erp.example.com/hook events:deal.created")
            .await;
        h.ok(&format!("/deal new title:\"Second of {ws}\" amount:10"))
            .await;
    }
    h.run(":workspace 1").await;
    h
}

#[sqlx::test]
async fn a_token_made_in_chat_writes_like_chat_and_is_audited_under_its_name(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    h.ok("/deal new title:Warmup amount:100").await;
    let reply = h
        .ok("/settings api action:create name:erp scope:write")
        .await;
    assert_eq!(
        reply["ephemeral"], true,
        "the token is shown to its maker only"
    );
    let content = reply["content"].as_str().unwrap_or_default();
    let token = content
        .split('`')
        .find(|p| p.starts_with("sbk_"))
        .expect("the token text")
        .to_string();
    let api = Api::start(&pool, 100, 100).await;

    // The same deal through chat and through the API.
    h.ok("/deal new title:\"Acme renewal\" amount:1200 stage:Qualified")
        .await;
    let (status, deal) = api
        .post(
            "/v1/deals",
            &token,
            json!({"title": "Acme renewal", "amount_minor": 120000, "stage": "Qualified"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{deal}");
    assert_eq!(deal["id"], 3);
    assert_eq!(deal["ref"], "D-3");
    assert_eq!(deal["amount_minor"], 120000);
    assert_eq!(
        deal["owner_id"], 1,
        "defaults to the admin who made the token"
    );
    let rows: Vec<(String, i64, String, String, i64, i32, i64)> = sqlx::query_as(
        "SELECT d.title, d.amount_minor, d.currency, d.status, d.owner_id, d.furthest_position,
                (SELECT count(*) FROM stage_changes sc WHERE sc.workspace_id = d.workspace_id AND sc.deal_id = d.id)
           FROM deals d WHERE d.workspace_id = 1 AND d.number IN (2, 3) ORDER BY d.number",
    )
    .fetch_all(&pool)
    .await
    .expect("deals");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0], rows[1], "chat and API leave the same rows");

    // Moving it through the API is audited under the token's name.
    let (status, moved) = api
        .post("/v1/deals/D-3/won", &token, json!({"note": "signed"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["status"], "won");
    let via: Vec<(Option<String>, i64)> = sqlx::query_as(
        "SELECT via, actor_id FROM audit_log WHERE workspace_id = 1 AND entity = 'deals' AND entity_key = to_jsonb(
            (SELECT id FROM deals WHERE workspace_id = 1 AND number = 3)) ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .expect("audit");
    assert!(!via.is_empty());
    assert!(
        via.iter()
            .all(|(v, a)| v.as_deref() == Some("erp") && *a < 0),
        "{via:?}"
    );

    // Its maker demoted (the server now shows them as a manager): the token acts with its
    // maker's authority, so it stops, and says why; made an admin again, it works again.
    h.run(":as 1 manager").await;
    h.ok("/tasks list").await;
    let (status, body) = api.get("/v1/deals", &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("erp") && d.contains("no longer an admin")),
        "{body}"
    );
    h.run(":as 1 admin").await;
    h.ok("/tasks list").await;
    let (status, body) = api.get("/v1/deals", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Listed in chat, then revoked: it stops working at once.
    let list = h.ok("/settings api action:list").await.to_string();
    assert!(list.contains("erp"));
    assert!(list.contains("made by <@1> on "), "its maker: {list}");
    assert!(!list.contains("sbk_"), "the list never shows a token");
    h.ok("/settings api action:revoke name:erp").await;
    let (status, body) = api.get("/v1/deals", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["status"], 401);
}

#[sqlx::test]
async fn problems_name_the_field_and_what_is_accepted(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    h.ok("/deal new title:Warmup amount:100").await;
    let t = token(&pool, 1, Scope::Write, "ops").await;
    let api = Api::start(&pool, 100, 100).await;
    let before = h.fingerprint_except(&["api_tokens"]).await;

    let (s, p) = api
        .post(
            "/v1/deals",
            &t,
            json!({"title": "X", "amount_minor": -5, "owner_id": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["field"], "amount_minor", "{p}");

    let (s, p) = api
        .post(
            "/v1/deals",
            &t,
            json!({"title": "X", "stage": "Nowhere", "owner_id": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["field"], "stage", "{p}");
    assert!(
        p["detail"].as_str().unwrap_or_default().contains("Nowhere"),
        "{p}"
    );

    let (s, p) = api
        .post("/v1/deals", &t, json!({"title": "X", "colour": "red"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert!(
        p["detail"].as_str().unwrap_or_default().contains("colour"),
        "{p}"
    );

    // A token made on the server belongs to no member: new records need an owner.
    let (s, p) = api.post("/v1/deals", &t, json!({"title": "X"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["field"], "owner_id");

    let (s, p) = api.get("/v1/deals?limit=501", &t).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["field"], "limit");

    // Chinese when asked for.
    let resp = api
        .client
        .post(format!("{}/v1/deals", api.base))
        .bearer_auth(&t)
        .header("Accept-Language", "zh-CN,zh;q=0.9")
        .json(&json!({"title": "X", "stage": "Nowhere", "owner_id": 1}))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    assert!(
        resp.headers().contains_key("ratelimit-limit"),
        "rendered again in Chinese, the answer keeps its headers"
    );
    let p: Value = resp.json().await.expect("json");
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "{p}"
    );

    // The API's own problems too.
    let p: Value = api
        .client
        .get(format!("{}/v1/deals?limit=0", api.base))
        .bearer_auth(&t)
        .header("Accept-Language", "zh-CN")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(p["field"], "limit");
    assert!(
        p["accepted"].as_str().unwrap_or_default().contains("整数"),
        "{p}"
    );

    // A known path asked with a method it does not take: a problem that names the methods.
    let resp = api
        .client
        .delete(format!("{}/v1/deals", api.base))
        .bearer_auth(&t)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let allow = resp.headers()["allow"].to_str().expect("allow").to_string();
    for kept in ["x-request-id", "ratelimit-limit", "ratelimit-remaining"] {
        assert!(resp.headers().contains_key(kept), "{kept} kept on the 405");
    }
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    let p: Value = resp.json().await.expect("json");
    assert_eq!(p["status"], 405);
    let detail = p["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("DELETE") && detail.contains("POST"), "{p}");
    // Under an Idempotency-Key the same: the refusal of the method is not kept as an answer.
    for _ in 0..2 {
        let resp = api
            .client
            .post(format!("{}/v1/tasks/1", api.base))
            .bearer_auth(&t)
            .header("Idempotency-Key", "wrong-method")
            .json(&json!({}))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert!(!resp.headers().contains_key("idempotent-replayed"));
        assert_eq!(resp.headers()["allow"], "GET,HEAD");
        let p: Value = resp.json().await.expect("json");
        assert!(
            p["detail"].as_str().is_some_and(|d| d.contains("GET")),
            "{p}"
        );
    }

    // Past 1 MB: 413, nothing read.
    let big = "x".repeat(1_100_000);
    let (s, p) = api.post("/v1/deals", &t, json!({ "title": big })).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{p}");

    assert_eq!(
        before,
        h.fingerprint_except(&["api_tokens"]).await,
        "no refused request wrote anything"
    );
}

#[sqlx::test]
async fn read_only_tokens_cannot_write_by_any_route(pool: PgPool) {
    let mut h = two_workspaces(&pool).await;
    let t = token(&pool, 1, Scope::Read, "bi").await;
    let api = Api::start(&pool, 100, 100).await;
    let before = h.fingerprint_except(&["api_tokens"]).await;
    for (path, body) in [
        ("/v1/deals", json!({"title": "X", "owner_id": 1})),
        ("/v1/deals/D-1/move", json!({"stage": "Qualified"})),
        ("/v1/deals/D-1/won", json!({})),
        ("/v1/deals/D-1/lost", json!({"reason": "price"})),
        ("/v1/contacts", json!({"name": "Bob", "owner_id": 1})),
        ("/v1/companies", json!({"name": "Bobco", "owner_id": 1})),
        (
            "/v1/activities",
            json!({"contact": "Ann 1", "kind": "call", "summary": "x"}),
        ),
        (
            "/v1/products",
            json!({"name": "Gadget", "price_minor": 100}),
        ),
        ("/v1/tasks/1/done", json!({})),
    ] {
        let (s, p) = api.post(path, &t, body).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}: {p}");
    }
    let (s, p) = api.patch("/v1/deals/D-1", &t, json!({"owner_id": 1})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{p}");
    let (s, _) = api.get("/v1/deals/D-1", &t).await;
    assert_eq!(s, StatusCode::OK);
    // Endpoint URLs may carry a receiver's secret: a read token does not list them either.
    let (s, p) = api.get("/v1/webhooks", &t).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{p}");
    assert!(!p.to_string().contains("erp.example.com"), "{p}");
    h.run(":workspace 1").await;
    assert_eq!(before, h.fingerprint_except(&["api_tokens"]).await);
}

#[sqlx::test]
async fn a_deal_reassigned_over_the_api_is_answered_with_the_deal(pool: PgPool) {
    let mut h = two_workspaces(&pool).await;
    h.run(":as 2 rep").await;
    h.ok("/help").await;
    h.run(":as 1 admin").await;
    let t = token(&pool, 1, Scope::Write, "erp").await;
    let api = Api::start(&pool, 100, 100).await;
    let (s, deal) = api.patch("/v1/deals/D-1", &t, json!({"owner_id": 2})).await;
    assert_eq!(s, StatusCode::OK, "{deal}");
    assert_eq!(deal["ref"], "D-1");
    assert_eq!(deal["owner_id"], 2);
    let owner: i64 =
        sqlx::query_scalar("SELECT owner_id FROM deals WHERE workspace_id = 1 AND number = 1")
            .fetch_one(&pool)
            .await
            .expect("owner");
    assert_eq!(owner, 2);
    // Asked again, the answer says it is already so and changes nothing.
    let (s, p) = api.patch("/v1/deals/D-1", &t, json!({"owner_id": 2})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{p}");
}

#[sqlx::test]
async fn a_token_cannot_see_or_touch_another_workspace_through_any_route(pool: PgPool) {
    let mut h = two_workspaces(&pool).await;
    let t = token(&pool, 1, Scope::Write, "a").await;
    let api = Api::start(&pool, 1000, 1000).await;
    // Every id workspace 2 has.
    let ids = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_all(&pool)
                .await
                .expect("ids")
        }
    };
    let contacts = ids("SELECT id FROM contacts WHERE workspace_id = 2").await;
    let companies = ids("SELECT id FROM companies WHERE workspace_id = 2").await;
    let activities = ids("SELECT id FROM activities WHERE workspace_id = 2").await;
    let products = ids("SELECT id FROM products WHERE workspace_id = 2").await;
    let tasks = ids("SELECT id FROM tasks WHERE workspace_id = 2").await;
    let members = ids("SELECT user_id FROM members WHERE workspace_id = 2 AND user_id NOT IN (SELECT user_id FROM members WHERE workspace_id = 1)").await;
    let endpoints = ids("SELECT id FROM webhook_endpoints WHERE workspace_id = 2").await;
    let events: Vec<String> =
        sqlx::query_scalar("SELECT msg_id FROM webhook_events WHERE workspace_id = 2")
            .fetch_all(&pool)
            .await
            .expect("events");
    assert!(!endpoints.is_empty() && !events.is_empty());
    assert!(!contacts.is_empty() && !companies.is_empty() && !tasks.is_empty());
    h.run(":workspace 2").await;
    let before = h.fingerprint_except(&["api_tokens"]).await;

    let mut gets = Vec::new();
    for id in &contacts {
        gets.push(format!("/v1/contacts/{id}"));
        gets.push(format!("/v1/contacts/C-{id}"));
    }
    for id in &companies {
        gets.push(format!("/v1/companies/CO-{id}"));
    }
    for id in &activities {
        gets.push(format!("/v1/activities/{id}"));
    }
    for id in &products {
        gets.push(format!("/v1/products/{id}"));
    }
    for id in &tasks {
        gets.push(format!("/v1/tasks/T-{id}"));
    }
    for path in &gets {
        let (s, p) = api.get(path, &t).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {p}");
    }
    // Writes naming workspace 2's records, or its members as owners.
    let mut posts = Vec::new();
    for id in &contacts {
        posts.push((
            "/v1/activities".to_string(),
            json!({"contact": format!("C-{id}"), "kind": "call", "summary": "x"}),
        ));
        posts.push((
            "/v1/deals".to_string(),
            json!({"title": "X", "contact": format!("C-{id}"), "owner_id": 1}),
        ));
    }
    for id in &companies {
        posts.push((
            "/v1/deals".to_string(),
            json!({"title": "X", "company": format!("CO-{id}"), "owner_id": 1}),
        ));
    }
    for id in &tasks {
        posts.push((format!("/v1/tasks/{id}/done"), json!({})));
    }
    for id in &endpoints {
        posts.push((format!("/v1/webhooks/{id}/redeliver"), json!({})));
    }
    for e in &events {
        posts.push((format!("/v1/webhook-events/{e}/redeliver"), json!({})));
    }
    for m in &members {
        posts.push((
            "/v1/contacts".to_string(),
            json!({"name": "Spy", "owner_id": m}),
        ));
    }
    for (path, body) in &posts {
        let (s, p) = api.post(path, &t, body.clone()).await;
        assert!(
            s == StatusCode::NOT_FOUND || s == StatusCode::UNPROCESSABLE_ENTITY,
            "{path} {body}: {s} {p}"
        );
    }
    // Ids no record can have are not found either, not refused as malformed input.
    for path in ["/v1/tasks/-5", "/v1/contacts/C--3", "/v1/companies/0"] {
        let (s, p) = api.get(path, &t).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {p}");
    }
    for path in ["/v1/tasks/-5/done", "/v1/webhooks/W-0/redeliver"] {
        let (s, p) = api.post(path, &t, json!({})).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {p}");
    }
    for id in &endpoints {
        let (s, _, p) = api
            .call(
                Method::DELETE,
                &format!("/v1/webhooks/{id}"),
                &t,
                None,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{p}");
    }
    let (_, hooks) = api.get("/v1/webhooks", &t).await;
    assert!(hooks.as_array().is_some_and(|a| a
        .iter()
        .all(|e| !endpoints.contains(&e["id"].as_i64().unwrap_or(0)))));
    let (s, p) = api
        .patch(
            &format!("/v1/contacts/{}", contacts[0]),
            &t,
            json!({"add_tags": "x"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{p}");
    // Lists never carry another workspace's rows, whatever the filter.
    for path in [
        "/v1/deals",
        "/v1/contacts",
        "/v1/companies",
        "/v1/activities",
        "/v1/products",
        "/v1/tasks",
    ] {
        let (s, page) = api.get(path, &t).await;
        assert_eq!(s, StatusCode::OK);
        let text = page.to_string();
        assert!(
            !text.contains("Acme 2") && !text.contains("Ann 2") && !text.contains("Deal of 2"),
            "{path}: {text}"
        );
    }
    // Workspace 2's deal number 1 is not workspace 1's deal 1: the token only ever sees its own.
    let (_, d) = api.get("/v1/deals/D-1", &t).await;
    assert_eq!(d["title"], "Deal of 1");
    // A cursor is bound to its list.
    let (s, p) = api.get("/v1/contacts?cursor=ZDow", &t).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(
        before,
        h.fingerprint_except(&["api_tokens"]).await,
        "workspace 2 is untouched"
    );
}

#[sqlx::test]
async fn lists_page_with_cursors_and_filters(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    for i in 0..250 {
        let stage = if i % 5 == 0 { " stage:Qualified" } else { "" };
        h.ok(&format!("/deal new title:\"Deal {i}\" amount:100{stage}"))
            .await;
    }
    let t = token(&pool, 1, Scope::Read, "bi").await;
    let api = Api::start(&pool, 1000, 1000).await;
    let mut seen = std::collections::BTreeSet::new();
    let mut path = "/v1/deals".to_string();
    let mut pages = 0;
    loop {
        let (s, page) = api.get(&path, &t).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        pages += 1;
        for d in page["data"].as_array().expect("data") {
            assert!(seen.insert(d["id"].as_i64().expect("id")), "no deal twice");
        }
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/deals?cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 250);
    assert_eq!(pages, 3, "100 + 100 + 50");
    let (_, page) = api.get("/v1/deals?stage=qualified&limit=500", &t).await;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(50));
    let (_, page) = api.get("/v1/deals?status=won", &t).await;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(0));
    let (_, page) = api
        .get("/v1/deals?updated_since=2100-01-01T00:00:00Z", &t)
        .await;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(0));
    let (s, p) = api.get("/v1/deals?stage=Nowhere", &t).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["field"], "stage");
    // A query string that does not parse is a problem document naming the parameter too.
    for (path, field) in [
        ("/v1/deals?limit=abc", "limit"),
        ("/v1/deals?updated_since=yesterday", "updated_since"),
        ("/v1/contacts?owner=me", "owner"),
    ] {
        let (s, p) = api.get(path, &t).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {p}");
        assert_eq!(p["field"], field, "{path}: {p}");
        assert!(p["detail"].as_str().is_some_and(|d| !d.is_empty()), "{p}");
    }
    // A filter the list does not take is refused with the ones it does, never ignored.
    for (path, field, names) in [
        ("/v1/contacts?stage=qualified", "stage", "`owner`"),
        ("/v1/tasks?stage=qualified", "stage", "`status`"),
        ("/v1/products?owner=1", "owner", "`limit`"),
        (
            "/v1/products?updated_since=2020-01-01T00:00:00Z",
            "updated_since",
            "`limit`",
        ),
    ] {
        let (s, p) = api.get(path, &t).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {p}");
        assert_eq!(p["field"], field, "{path}: {p}");
        assert!(
            p["accepted"].as_str().is_some_and(|a| a.contains(names)),
            "{path}: {p}"
        );
    }
    let (s, p) = api.get("/v1/deals?colour=red", &t).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert!(
        p["detail"].as_str().is_some_and(|d| d.contains("colour")),
        "{p}"
    );
}

#[sqlx::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    h.ok("/deal new title:Warmup amount:100").await;
    let t = token(&pool, 1, Scope::Write, "shop").await;
    let api = Api::start(&pool, 100, 100).await;
    let body = json!({"title": "Web order 17", "amount_minor": 5000, "owner_id": 1});
    let (s1, _, first) = api
        .call(
            Method::POST,
            "/v1/deals",
            &t,
            Some(body.clone()),
            Some("order-17"),
        )
        .await;
    assert_eq!(s1, StatusCode::CREATED, "{first}");
    let (s2, headers, second) = api
        .call(Method::POST, "/v1/deals", &t, Some(body), Some("order-17"))
        .await;
    assert_eq!(s2, StatusCode::CREATED);
    assert_eq!(first, second);
    assert_eq!(headers["idempotent-replayed"], "true");
    let (s3, _, p) = api
        .call(
            Method::POST,
            "/v1/deals",
            &t,
            Some(json!({"title": "Web order 18", "owner_id": 1})),
            Some("order-17"),
        )
        .await;
    assert_eq!(s3, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    // A refusal is kept and replayed as it was sent: a problem document, byte for byte.
    let raw = || async {
        let resp = api
            .client
            .post(format!("{}/v1/deals", api.base))
            .bearer_auth(&t)
            .header("Idempotency-Key", "order-19")
            .header("Accept-Language", "zh-CN")
            .json(&json!({"title": "", "owner_id": 1}))
            .send()
            .await
            .expect("request");
        let headers = resp.headers().clone();
        (resp.status(), headers, resp.bytes().await.expect("body"))
    };
    let (s4, h4, refused) = raw().await;
    assert_eq!(s4, StatusCode::UNPROCESSABLE_ENTITY, "{refused:?}");
    let (s5, h5, again) = raw().await;
    assert_eq!(s5, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(h5["idempotent-replayed"], "true");
    assert_eq!(h5["content-type"], "application/problem+json");
    assert_eq!(h5["content-type"], h4["content-type"]);
    assert_eq!(again, refused, "byte for byte");
    assert!(
        String::from_utf8_lossy(&again)
            .chars()
            .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "kept in the language it was sent in: {again:?}"
    );
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM deals WHERE title = 'Web order 17'")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(n, 1, "the replay created nothing");
}

/// A write that committed and then lost its answer (the read-back failed, or the process died
/// before the answer was kept) is not applied again by the retry: the command left a record
/// under the key in its own transaction, and the retry is answered from it.
#[sqlx::test]
async fn a_retry_after_a_lost_answer_is_answered_not_applied_again(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    h.ok("/deal new title:Warmup amount:100").await;
    let t = token(&pool, 1, Scope::Write, "shop").await;
    let api = Api::start(&pool, 100, 100).await;
    let body = json!({"title": "Web order 21", "amount_minor": 5000, "owner_id": 1});
    let post =
        |key: &'static str| api.call(Method::POST, "/v1/deals", &t, Some(body.clone()), Some(key));
    let (s1, _, first) = post("order-21").await;
    assert_eq!(s1, StatusCode::CREATED, "{first}");
    // The deal is in; its answer is not kept, as when the process dies right after the commit
    // (the key was claimed a moment ago, so it is not yet taken for a dead request's).
    sqlx::query("UPDATE idempotency_keys SET status = NULL, body = NULL WHERE key = 'order-21'")
        .execute(&pool)
        .await
        .expect("lose the answer");
    let (s2, headers, second) = post("order-21").await;
    assert_eq!(s2, StatusCode::CREATED, "{second}");
    assert_eq!(second, first, "the same deal, not a new one");
    assert!(
        !headers.contains_key("idempotent-replayed"),
        "answered afresh"
    );
    let (s3, headers, third) = post("order-21").await;
    assert_eq!(s3, StatusCode::CREATED);
    assert_eq!(third, first);
    assert_eq!(headers["idempotent-replayed"], "true", "kept this time");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM deals WHERE title = 'Web order 21'")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(n, 1, "applied once");

    // A command that was refused recorded nothing applied: its key, released or kept with the
    // refusal, never stands for a write.
    let (s, _, p) = api
        .call(
            Method::POST,
            "/v1/deals",
            &t,
            Some(json!({"title": "", "owner_id": 1})),
            Some("order-22"),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let applied: Option<Value> =
        sqlx::query_scalar("SELECT applied FROM idempotency_keys WHERE key = 'order-22'")
            .fetch_one(&pool)
            .await
            .expect("the refusal is kept");
    assert_eq!(applied, None);
}

/// A first request that stalled past the takeover, its key now held by the client's retry,
/// can neither run its command nor release or answer for the key: the retry's write is the
/// only one, and a third try is answered from it.
#[sqlx::test]
async fn a_request_that_lost_its_key_to_a_retry_neither_writes_nor_frees_it(pool: PgPool) {
    use salesbot::engine::{Action, IdempotencyKey, Invocation, OptionValue, Request, RoleSource};
    use salesbot::store::{Idempotency, KeyState};
    let mut h = Harness::new(pool.clone()).await;
    h.ok("/deal new title:Warmup amount:100").await;
    token(&pool, 1, Scope::Write, "shop").await;
    let token_id: i64 = sqlx::query_scalar("SELECT id FROM api_tokens WHERE name = 'shop'")
        .fetch_one(&pool)
        .await
        .expect("token id");
    let store = Store::from_pool(pool.clone());
    let t0 = chrono::Utc::now();
    let claim = |at: chrono::DateTime<chrono::Utc>| {
        let store = store.clone();
        async move {
            let mut tx = store.begin().await.expect("begin");
            let c = tx
                .claim_idempotency(1, token_id, "k", b"same request", at)
                .await
                .expect("claim");
            tx.commit().await.expect("commit");
            c
        }
    };
    let Idempotency::New(first) = claim(t0).await else {
        panic!("the first claim")
    };
    assert_eq!(
        claim(t0 + chrono::Duration::seconds(1)).await,
        Idempotency::InFlight
    );
    // Past the takeover the retry holds the key.
    let Idempotency::New(second) = claim(t0 + chrono::Duration::seconds(61)).await else {
        panic!("the takeover")
    };
    // The first fails now: its release leaves the retry's key where it is.
    let mut tx = store.begin().await.expect("begin");
    tx.release_idempotency(1, token_id, "k", first)
        .await
        .expect("release");
    assert_eq!(
        tx.idempotency_applied(1, token_id, "k", second)
            .await
            .expect("state"),
        KeyState::Held
    );
    drop(tx);
    let engine = Engine::new(store.clone()).expect("engine");
    let call = |claim: i64| {
        engine.call(Request {
            workspace_id: 1,
            user_id: -token_id,
            display_name: None,
            role: RoleSource::Api {
                name: "shop".into(),
                write: true,
            },
            locale: None,
            channel_id: None,
            interaction_id: None,
            idempotency: Some(IdempotencyKey {
                token_id,
                key: "k".into(),
                claim,
            }),
            now: chrono::Utc::now(),
            action: Action::Command(Invocation {
                command: "deal".into(),
                subcommand: Some("new".into()),
                options: vec![
                    ("title".into(), OptionValue::String("Order 9".into())),
                    ("amount".into(), OptionValue::String("50".into())),
                    ("owner".into(), OptionValue::User(1)),
                ],
            }),
            in_dm: false,
            guild_members: Vec::new(),
        })
    };
    // The stalled first request reaches its command: refused, nothing written.
    assert!(
        matches!(
            call(first).await,
            Err(salesbot::engine::EngineError::Conflict(_))
        ),
        "the first request must not run"
    );
    let n = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM deals WHERE title = 'Order 9'")
            .fetch_one(&pool)
            .await
            .expect("count")
    };
    assert_eq!(n().await, 0);
    // The retry runs, and a third call under its claim is answered from what it applied.
    let made = call(second).await.expect("the retry runs");
    let again = call(second).await.expect("answered again");
    assert_eq!(again.data, made.data);
    assert_eq!(n().await, 1, "applied once");
}

#[sqlx::test]
async fn each_token_is_rate_limited_with_the_headers_clients_read(pool: PgPool) {
    Harness::new(pool.clone())
        .await
        .ok("/deal new title:Warmup amount:100")
        .await;
    let t = token(&pool, 1, Scope::Read, "a").await;
    let other = token(&pool, 1, Scope::Read, "b").await;
    let api = Api::start(&pool, 1, 2).await;
    let (s, h, _) = api.call(Method::GET, "/v1/deals", &t, None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["ratelimit-limit"], "2");
    assert_eq!(h["ratelimit-remaining"], "1");
    // One request a second: the spent one is back within a second.
    assert_eq!(h["ratelimit-reset"], "1");
    let (_, h, _) = api.call(Method::GET, "/v1/deals", &t, None, None).await;
    assert_eq!(h["ratelimit-remaining"], "0");
    assert_eq!(
        h["ratelimit-reset"], "2",
        "both spent: two seconds to the full burst"
    );
    let (s, h, p) = api.call(Method::GET, "/v1/deals", &t, None, None).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{p}");
    assert_eq!(h["retry-after"], "1", "the next request's wait");
    assert_eq!(h["ratelimit-remaining"], "0");
    assert_eq!(h["ratelimit-reset"], "2", "the whole burst's");
    let (s, _, _) = api.call(Method::GET, "/v1/deals", &other, None, None).await;
    assert_eq!(s, StatusCode::OK, "another token has its own budget");
}

/// A token not seen lately spends from its address's budget before the database is asked:
/// made-up tokens cost a lookup each only until the budget is spent, then 429 with no lookup,
/// while a token that authenticated lately still passes and other addresses are not held.
#[sqlx::test]
async fn a_flood_of_made_up_tokens_is_held_back_by_its_address(pool: PgPool) {
    Harness::new(pool.clone())
        .await
        .ok("/deal new title:Warmup amount:100")
        .await;
    let known = token(&pool, 1, Scope::Read, "known").await;
    let fresh = token(&pool, 1, Scope::Read, "fresh").await;
    // A budget of 20, refilled one a minute: nothing refills while the test runs.
    let api = Api::start(&pool, 1000, 1000).await;
    assert_eq!(api.get("/v1/deals", &known).await.0, StatusCode::OK);
    let made_up = |i: usize| format!("sbk_{i:0>43}");
    let mut answers = Vec::new();
    for i in 0..30 {
        let (s, h, _) = api
            .call(Method::GET, "/v1/deals", &made_up(i), None, None)
            .await;
        answers.push(s);
        if s == StatusCode::TOO_MANY_REQUESTS {
            assert!(h.contains_key("retry-after"), "{h:?}");
            break;
        }
    }
    // The known token's first request spent one of the twenty.
    let mut want = vec![StatusCode::UNAUTHORIZED; 19];
    want.push(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answers, want);
    assert_eq!(
        api.get("/v1/deals", &known).await.0,
        StatusCode::OK,
        "a token that authenticated lately passes"
    );
    assert_eq!(
        api.get("/v1/deals", &fresh).await.0,
        StatusCode::TOO_MANY_REQUESTS,
        "a token not seen lately waits with its address"
    );
    let elsewhere = Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().ok())
        .build()
        .expect("client");
    let s = elsewhere
        .get(format!("{}/v1/deals", api.base))
        .bearer_auth(&fresh)
        .send()
        .await
        .expect("request")
        .status();
    assert_eq!(s, StatusCode::OK, "another address has its own budget");
}

#[sqlx::test]
async fn reports_are_the_json_of_salesbot_report(pool: PgPool) {
    let mut h = Harness::new(pool.clone()).await;
    h.ok("/deal new title:A amount:1000").await;
    h.ok("/deal new title:B amount:2500").await;
    h.ok("/deal won deal:D-1").await;
    h.ok("/deal lost deal:D-2 reason:price").await;
    let t = token(&pool, 1, Scope::Read, "bi").await;
    let api = Api::start(&pool, 100, 100).await;
    let engine = Engine::new(Store::from_pool(pool.clone())).expect("engine");
    for (kind, query) in [
        ("pipeline", "from=2026-11-01&to=2026-12-31"),
        ("kpi", "from=2026-11-01&to=2026-12-31"),
        ("products", "from=2026-11-01&to=2026-12-31"),
        ("customers", "from=2026-11-01&to=2026-12-31"),
        ("trends", "from=2026-01-01&to=2026-12-31&by=month"),
    ] {
        let (s, got) = api.get(&format!("/v1/reports/{kind}?{query}"), &t).await;
        assert_eq!(s, StatusCode::OK, "{kind}: {got}");
        let q = salesbot::console::ReportQuery {
            kind: match kind {
                "pipeline" => salesbot::console::ReportKind::Pipeline,
                "kpi" => salesbot::console::ReportKind::Kpi,
                "products" => salesbot::console::ReportKind::Products,
                "customers" => salesbot::console::ReportKind::Customers,
                _ => salesbot::console::ReportKind::Trends,
            },
            workspace: 1,
            period: None,
            from: Some(
                if kind == "trends" {
                    "2026-01-01"
                } else {
                    "2026-11-01"
                }
                .into(),
            ),
            to: Some("2026-12-31".into()),
            member: None,
            by: (kind == "trends").then(|| "month".to_string()),
        };
        let reply = engine
            .handle(salesbot::engine::Request {
                workspace_id: 1,
                user_id: 0,
                display_name: None,
                role: salesbot::engine::RoleSource::Operator,
                locale: None,
                channel_id: None,
                interaction_id: None,
                idempotency: None,
                now: chrono::Utc::now(),
                action: salesbot::engine::Action::Command(q.invocation()),
                in_dm: false,
                guild_members: Vec::new(),
            })
            .await
            .expect("reply");
        let strip = |mut v: Value| {
            // The moment the figures were read differs between the two calls.
            if let Some(o) = v.as_object_mut() {
                o.remove("as_of");
            }
            v
        };
        assert_eq!(Some(strip(got)), reply.data.map(strip), "{kind}");
    }
    let (s, p) = api.get("/v1/reports/pipeline?period=someday", &t).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let (s, _) = api.get("/v1/reports/horoscope", &t).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let _ = START;
}

#[sqlx::test]
async fn operators_get_health_readiness_metrics_and_the_openapi_document(pool: PgPool) {
    Harness::new(pool.clone())
        .await
        .ok("/deal new title:Warmup amount:100")
        .await;
    let t = token(&pool, 1, Scope::Read, "bi").await;
    let api = Api::start(&pool, 100, 100).await;
    api.get("/v1/deals", &t).await;
    let get = |path: &'static str| {
        let url = format!("{}{path}", api.base);
        let client = api.client.clone();
        async move {
            let r = client.get(url).send().await.expect("request");
            (r.status(), r.text().await.expect("text"))
        }
    };
    assert_eq!(get("/healthz").await.0, StatusCode::OK);
    assert_eq!(get("/readyz").await.0, StatusCode::OK);
    let (s, metrics) = get("/metrics").await;
    assert_eq!(s, StatusCode::OK);
    assert!(metrics.contains("salesbot_api_requests_total"), "{metrics}");
    assert!(metrics.contains("route=\"/v1/deals\""), "{metrics}");
    assert!(metrics.contains("salesbot_outbox_depth"), "{metrics}");
    assert!(
        metrics.contains("salesbot_outbox_oldest_due_seconds"),
        "{metrics}"
    );
    assert!(
        metrics.contains("salesbot_command_duration_seconds_bucket{command=\"deal new\",outcome=\"ok\",le=\"0.05\"}"),
        "command histograms with explicit buckets: {metrics}"
    );
    assert!(
        metrics.contains("salesbot_commands_total{command=\"deal new\",outcome=\"ok\"}"),
        "{metrics}"
    );
    assert!(!metrics.contains("sbk_"), "no token in metrics");
    let (s, doc) = get("/v1/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    let doc: Value = serde_json::from_str(&doc).expect("json");
    assert!(
        doc["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3.1"),
        "{doc}"
    );
    for path in [
        "/v1/deals",
        "/v1/deals/{id}/won",
        "/v1/reports/{kind}",
        "/v1/contacts",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} documented");
    }
    assert!(doc["components"]["schemas"].get("ApiDeal").is_some());
    let (s, _) = get("/v1/deals").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "no token, no data");
}

/// A log writer that keeps what it is given.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::ErrorKind::Other)?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[sqlx::test]
async fn tokens_never_reach_the_logs(pool: PgPool) {
    let captured = Captured::default();
    let writer = captured.clone();
    // Installed for the whole test binary (the server's tasks run on other threads); the
    // filter keeps it to our own and axum's events so other tests stay fast.
    let installed = tracing_subscriber::fmt()
        .json()
        .with_env_filter("salesbot=trace,axum=trace")
        .with_writer(move || writer.clone())
        .try_init()
        .is_ok();
    Harness::new(pool.clone())
        .await
        .ok("/deal new title:Warmup amount:100")
        .await;
    let t = token(&pool, 1, Scope::Write, "ops").await;
    let api = Api::start(&pool, 100, 100).await;
    api.get("/v1/deals", &t).await;
    api.post("/v1/deals", &t, json!({"title": "X", "owner_id": 1}))
        .await;
    api.get(
        "/v1/deals",
        "sbk_not-a-real-token-but-shaped-like-one-000000",
    )
    .await;
    let (_, p) = api.get("/v1/deals/D-999", &t).await;
    assert_eq!(p["status"], 404);
    let logs = String::from_utf8_lossy(&captured.0.lock().expect("logs")).to_string();
    if installed {
        assert!(
            logs.contains("request_id"),
            "the API logs with request ids: {logs}"
        );
    }
    assert!(!logs.contains(&t), "a token was logged");
    assert!(!logs.contains("sbk_"), "something token-shaped was logged");
}

#[sqlx::test]
async fn webhook_endpoints_are_managed_over_the_api_and_deliveries_verify(pool: PgPool) {
    use crate::webhooks::{receiver, sender, verify};
    let mut h = Harness::new(pool.clone()).await;
    h.ok("/deal new title:Renewal amount:1200").await;
    let t = token(&pool, 1, Scope::Write, "erp").await;
    let read = token(&pool, 1, Scope::Read, "bi").await;
    let api = Api::start_with(&pool, 100, 100, true).await;
    let (rx, url) = receiver(&[]).await;

    let (s, p) = api
        .post(
            "/v1/webhooks",
            &read,
            json!({"url": url, "events": ["deal.won"]}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{p}");
    let (s, p) = api
        .post(
            "/v1/webhooks",
            &t,
            json!({"url": url, "events": ["deal.nope"]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["field"], "events");
    let (s, added) = api
        .post(
            "/v1/webhooks",
            &t,
            json!({"url": url, "events": ["deal.won", "deal.lost"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{added}");
    let secret = added["secret"].as_str().expect("secret");
    assert!(secret.starts_with("whsec_"));
    let id = added["endpoint"]["id"].as_i64().expect("id");
    let (_, list) = api.get("/v1/webhooks", &t).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert!(
        !list.to_string().contains("whsec_"),
        "the list never shows the secret"
    );

    let (s, won) = api.post("/v1/deals/D-1/won", &t, json!({})).await;
    assert_eq!(s, StatusCode::OK, "{won}");
    let store = Store::from_pool(pool.clone());
    let now = chrono::Utc::now();
    salesbot::webhooks::deliver_due(&store, &sender(), now, 10)
        .await
        .expect("deliver");
    let got = rx.got();
    assert_eq!(got.len(), 1);
    let secret = salesbot::domain::webhook::Secret::parse(secret).expect("secret");
    let body = verify(&secret, &got[0], chrono::Utc::now());
    assert_eq!(body["type"], "deal.won");

    // A redelivery answers 202 with no body; its retry under the same key is that answer
    // again, not a second redelivery.
    let redeliver = format!("/v1/webhook-events/{}/redeliver", got[0].id);
    let again = || {
        api.call(
            Method::POST,
            &redeliver,
            &t,
            Some(json!({})),
            Some("again-1"),
        )
    };
    let (s, _, _) = again().await;
    assert_eq!(s, StatusCode::ACCEPTED);
    salesbot::webhooks::deliver_due(&store, &sender(), chrono::Utc::now(), 10)
        .await
        .expect("deliver");
    let (s, headers, body) = again().await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(body, json!(""), "no body, as the first time");
    salesbot::webhooks::deliver_due(&store, &sender(), chrono::Utc::now(), 10)
        .await
        .expect("deliver");
    let got = rx.got();
    assert_eq!(got.len(), 2, "redelivered once");
    assert_eq!(got[0].id, got[1].id, "the same event, the same webhook-id");

    let (s, _, p) = api
        .call(
            Method::DELETE,
            &format!("/v1/webhooks/W-{id}"),
            &t,
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{p}");
    let (_, list) = api.get("/v1/webhooks", &t).await;
    assert_eq!(list.as_array().map(Vec::len), Some(0));
    let (s, _, _) = api
        .call(
            Method::DELETE,
            &format!("/v1/webhooks/{id}"),
            &t,
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let _ = &mut h;
}

/// Runs `salesbot token <args>` against the test's database: exit code, stdout, stderr.
async fn token_cli(pool: &PgPool, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["token"];
    all.extend_from_slice(args);
    crate::support::salesbot(pool, &all).await
}

#[sqlx::test]
async fn operators_make_and_revoke_tokens_on_the_server(pool: PgPool) {
    Harness::new(pool.clone())
        .await
        .ok("/deal new title:Warmup amount:100")
        .await;
    let api = Api::start(&pool, 100, 100).await;
    let (code, out, err) = token_cli(
        &pool,
        &[
            "create",
            "--workspace",
            "1",
            "--scope",
            "read",
            "--name",
            "bi",
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let t = out.trim().to_string();
    assert!(t.starts_with("sbk_"), "only the token on stdout: {out}");
    assert!(!err.contains(&t), "the token is printed once, on stdout");
    let (s, _) = api.get("/v1/deals", &t).await;
    assert_eq!(s, StatusCode::OK);
    let (code, out, _) = token_cli(&pool, &["list", "--workspace", "1"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("bi") && !out.contains("sbk_"), "{out}");
    let (code, _, err) =
        token_cli(&pool, &["create", "--workspace", "99", "--scope", "read"]).await;
    assert_eq!(code, 1, "an unknown workspace: {err}");
    let (code, _, err) =
        token_cli(&pool, &["create", "--workspace", "1", "--scope", "admin"]).await;
    assert_eq!(code, 1, "{err}");
    let (code, _, err) = token_cli(&pool, &["revoke", "--workspace", "1", "bi"]).await;
    assert_eq!(code, 0, "{err}");
    let (s, _) = api.get("/v1/deals", &t).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "revoked at once");
    let (code, _, _) = token_cli(&pool, &["revoke", "--workspace", "1", "bi"]).await;
    assert_eq!(code, 1, "nothing left to revoke");
    // A token may be named like another's id: revoking that text takes the named one only.
    let erp = token(&pool, 1, Scope::Read, "erp").await;
    let erp_id: i64 =
        sqlx::query_scalar("SELECT id FROM api_tokens WHERE name = 'erp' AND revoked_at IS NULL")
            .fetch_one(&pool)
            .await
            .expect("id");
    let named = token(&pool, 1, Scope::Read, &erp_id.to_string()).await;
    let (code, _, err) =
        token_cli(&pool, &["revoke", "--workspace", "1", &erp_id.to_string()]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        api.get("/v1/deals", &named).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.get("/v1/deals", &erp).await.0,
        StatusCode::OK,
        "the other stays"
    );
}

/// An activity logged through the API belongs to a member, never to the token: the one the
/// body names, else the admin who made the token (a token made on the server must name one),
/// and the follow-up task it makes is theirs, so its reminder reaches a person.
#[sqlx::test]
async fn activities_made_through_the_api_belong_to_a_member(pool: PgPool) {
    let mut h = two_workspaces(&pool).await;
    h.join(&[7], ":as 1 admin").await;
    let t = token(&pool, 1, Scope::Write, "erp").await;
    let api = Api::start(&pool, 100, 100).await;
    let body = |owner: Option<i64>| {
        let mut b = json!({"contact": "Ann 1", "kind": "call", "summary": "renewal",
                           "next_step": "send the quote", "due": "tomorrow 9am"});
        if let Some(o) = owner {
            b["owner_id"] = json!(o);
        }
        b
    };
    // A server-made token has no admin behind it: it must say whose call this was.
    let before = h.fingerprint_except(&["api_tokens"]).await;
    let (s, p) = api.post("/v1/activities", &t, body(None)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["field"], "owner_id", "{p}");
    assert_eq!(before, h.fingerprint_except(&["api_tokens"]).await);
    let (s, p) = api.post("/v1/activities", &t, body(Some(7))).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    assert_eq!(p["member_id"], 7, "{p}");
    let task = "SELECT count(*) FROM tasks WHERE workspace_id = 1 AND title = 'send the quote' AND assignee_id = 7";
    assert_eq!(h.count(task).await, 1);
    // Someone who is not a member of the workspace is refused, naming the field.
    let (s, p) = api.post("/v1/activities", &t, body(Some(99))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["field"], "owner_id", "{p}");
    assert_eq!(
        h.count("SELECT count(*) FROM activities WHERE member_id < 0 OR member_id = 99")
            .await
            + h.count("SELECT count(*) FROM tasks WHERE assignee_id < 0")
                .await,
        0
    );
}

/// The filtered lists are planned with their filters' values on every call (`Tx::api_deals`):
/// a prepared statement's generic plan cannot see which `$n IS NULL` filters are left out, and
/// on a workspace of 100,900 deals it joined every deal to its names before taking the page
/// (1.1-1.6 s a page). None of them is kept prepared on the connection, however often it runs,
/// and each still answers for its own workspace only.
#[sqlx::test]
async fn the_filtered_lists_are_planned_with_their_values_every_time(pool: PgPool) {
    let _h = two_workspaces(&pool).await;
    // One connection: a statement prepared by one call would be there for the next.
    let one = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with((*pool.connect_options()).clone())
        .await
        .expect("one connection");
    let store = Store::from_pool(one.clone());
    let all = salesbot::store::ListFilter {
        limit: 100,
        ..Default::default()
    };
    for _ in 0..7 {
        let mut tx = store.begin().await.expect("begin");
        let deals = tx.api_deals(1, &all).await.expect("deals");
        let contacts = tx.api_contacts(1, &all).await.expect("contacts");
        let companies = tx.api_companies(1, &all).await.expect("companies");
        let activities = tx.api_activities(1, &all).await.expect("activities");
        let tasks = tx.api_tasks(1, &all).await.expect("tasks");
        tx.commit().await.expect("commit");
        let titles: Vec<&str> = deals.iter().map(|d| d.title.as_str()).collect();
        assert_eq!(titles, ["Deal of 1", "Second of 1"]);
        assert_eq!(
            (
                contacts.len(),
                companies.len(),
                activities.len(),
                tasks.len()
            ),
            (1, 1, 1, 1),
            "workspace 1's rows only"
        );
    }
    let prepared: Vec<String> = sqlx::query_scalar(
        "SELECT statement FROM pg_prepared_statements
         WHERE statement LIKE '%IS NULL OR%' AND statement NOT LIKE '%pg_prepared_statements%'",
    )
    .fetch_all(&one)
    .await
    .expect("prepared statements");
    assert!(prepared.is_empty(), "lists kept prepared: {prepared:#?}");
}

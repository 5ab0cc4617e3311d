//! A finance system's end of salesbot's webhooks: verifies each delivery's Standard Webhooks
//! signature and turns a won deal into invoice lines.
//!
//! ```text
//! WEBHOOK_SECRET=whsec_... cargo run --example webhook_receiver      # listens on 127.0.0.1:9000
//! /settings webhook action:add url:http://127.0.0.1:9000/hooks/salesbot events:deal.won
//! ```
//! (A local address needs `WEBHOOK_ALLOW_PRIVATE=true` on the bot's side.) The body is checked
//! exactly as received, before it is parsed: re-serialized JSON would not match the signature.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use salesbot::domain::webhook::Secret;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
struct Receiver {
    secret: Secret,
    /// `webhook-id`s already handled: a retry or a redelivery of the same event is a no-op.
    seen: Arc<Mutex<HashSet<String>>>,
}

async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let id = header("webhook-id");
    let now = chrono::Utc::now().timestamp();
    if let Err(e) = r.secret.verify(
        id,
        header("webhook-timestamp"),
        header("webhook-signature"),
        &body,
        now,
    ) {
        eprintln!("refused {id}: {e}");
        return StatusCode::UNAUTHORIZED;
    }
    if !r
        .seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id.to_string())
    {
        return StatusCode::NO_CONTENT;
    }
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    if event["type"] == "deal.won" {
        invoice(&event["data"]["deal"]);
    } else {
        println!("{id}: {}", event["type"]);
    }
    StatusCode::NO_CONTENT
}

/// Prints the invoice a won deal calls for.
fn invoice(deal: &Value) {
    let currency = deal["currency"].as_str().unwrap_or("?");
    let major = |minor: &Value| minor.as_i64().unwrap_or(0) as f64 / 100.0;
    println!(
        "invoice for {} ({}), owner {}",
        deal["company"]["name"].as_str().unwrap_or("(no company)"),
        deal["ref"].as_str().unwrap_or("?"),
        deal["owner"]["name"].as_str().unwrap_or("?"),
    );
    for line in deal["lines"].as_array().into_iter().flatten() {
        println!(
            "  {:>5} × {:<30} {:>12.2} {currency}",
            line["quantity"],
            line["name"].as_str().unwrap_or("?"),
            major(&line["amount_minor"]),
        );
    }
    println!("  total {:>47.2} {currency}", major(&deal["amount_minor"]));
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let secret = std::env::var("WEBHOOK_SECRET").map_err(|_| {
        anyhow::anyhow!("set WEBHOOK_SECRET to the whsec_ secret /settings webhook showed")
    })?;
    let secret = Secret::parse(&secret)?;
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:9000".into());
    let app = Router::new()
        .route("/hooks/salesbot", post(hook))
        .with_state(Receiver {
            secret,
            seen: Arc::default(),
        });
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{addr}/hooks/salesbot");
    axum::serve(listener, app).await?;
    Ok(())
}

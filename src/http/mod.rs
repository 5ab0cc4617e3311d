//! The HTTP API, a front-end like Discord and the console: each request is authenticated by
//! its token, limited per token, and becomes the engine's `Request` (writes are the same
//! commands chat runs, with the same permissions, validation, audit and /undo); lists and
//! single records are read a page at a time from the store. Also `/healthz`, `/readyz` and
//! `/metrics` for operators. Routes and their types are in `routes.rs`, errors in `problem.rs`.

// A problem document is what a failed request answers with, built once per failure; boxing it
// to shrink `Result` would buy nothing.
#![allow(clippy::result_large_err)]

mod problem;
mod routes;
mod unknown_tokens;

pub use problem::Problem;

use crate::domain::locale::Locale;
use crate::domain::token;
use crate::engine::{tokens, Engine};
use crate::i18n::Msg;
use crate::store::{Idempotency, KeptAnswer, TokenRow};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use governor::middleware::StateInformationMiddleware;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use metrics_exporter_prometheus::PrometheusHandle;
use sha2::{Digest, Sha256};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use unknown_tokens::UnknownTokens;

/// Request bodies past this are refused with 413.
pub const MAX_BODY: usize = 1 << 20;

/// How the server is set up.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    pub addr: SocketAddr,
    /// Requests per second each token may make on average.
    pub rate_per_second: u32,
    /// How many it may make at once after a quiet spell.
    pub burst: u32,
    /// Requests with a token not seen lately (unknown, revoked, or new to this process) one
    /// client address may make at once, before the database is asked about each...
    pub unknown_token_burst: u32,
    /// ...and how many more a minute.
    pub unknown_tokens_per_minute: u32,
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            rate_per_second: 20,
            burst: 40,
            // A client's first burst with a token new to the process fits, as its token's
            // own burst does.
            unknown_token_burst: 40,
            unknown_tokens_per_minute: 120,
        }
    }
}

/// What `/readyz` checks beyond the database: the Discord gateway, when Discord is
/// configured (the bot sets the flag when a shard is connected).
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    pub gateway: Option<Arc<AtomicBool>>,
}

type Limiter = RateLimiter<
    u64,
    governor::state::keyed::DefaultKeyedStateStore<u64>,
    governor::clock::DefaultClock,
    StateInformationMiddleware,
>;

#[derive(Clone)]
struct AppState {
    engine: Engine,
    limiter: Arc<Limiter>,
    unknown_tokens: Arc<UnknownTokens>,
    burst: u32,
    /// How long the limiter takes to give back one request of the burst.
    replenish: Duration,
    readiness: Readiness,
    metrics: PrometheusHandle,
}

/// The token a request carries, once checked, and the `Idempotency-Key` the request claimed
/// under it (a POST that sent one), which the command records as applied in its transaction.
#[derive(Clone, Debug)]
struct Caller(Arc<TokenRow>, Option<(Arc<str>, i64)>);

/// The Prometheus recorder, installed once per process with the histogram buckets our
/// latency targets need (Discord's 3 s deadline, the 50 ms and 100 ms p99 targets).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
            const BUCKETS: &[f64] = &[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 3.0, 5.0, 10.0,
            ];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Another recorder already installed (a test binary that built a second server)
            // leaves ours unused but rendering; the first one keeps counting.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// The router, for `serve` and for tests that serve it on a port of their own.
pub fn router(engine: Engine, config: &HttpConfig, readiness: Readiness) -> Router {
    let quota = Quota::per_second(
        NonZeroU32::new(config.rate_per_second.max(1)).unwrap_or(NonZeroU32::MIN),
    )
    .allow_burst(NonZeroU32::new(config.burst.max(1)).unwrap_or(NonZeroU32::MIN));
    let limiter: Limiter = DefaultKeyedRateLimiter::keyed(quota).with_middleware();
    let state = AppState {
        engine,
        limiter: Arc::new(limiter),
        unknown_tokens: Arc::new(UnknownTokens::new(
            config.unknown_token_burst,
            config.unknown_tokens_per_minute,
        )),
        burst: config.burst.max(1),
        replenish: quota.replenish_interval(),
        readiness,
        metrics: metrics_handle(),
    };
    let api = routes::v1()
        // Inside the key's middleware too, so the answer kept under a key is the one sent,
        // in the language it was sent in.
        .layer(middleware::from_fn(problem::localize))
        .layer(middleware::from_fn_with_state(state.clone(), idempotency))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate));
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/v1/openapi.json", get(routes::openapi))
        .merge(api)
        .fallback(|| async { Problem::not_found("route") })
        .layer(middleware::from_fn(problem::localize))
        .layer(middleware::from_fn(observe))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state);
    // A layer of this router would run inside the route, before the router adds `Allow` to
    // its 405: the whole router becomes the fallback of one whose layer sees the header.
    Router::new()
        .fallback_service(app)
        .layer(middleware::from_fn(problem::method_not_allowed))
}

/// Serves the API until `shutdown` completes.
pub async fn serve(
    engine: Engine,
    config: HttpConfig,
    readiness: Readiness,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("could not listen on {}", config.addr))?;
    tracing::info!(addr = %config.addr, "HTTP API listening");
    // The peer's address is what tokens not seen lately are limited by.
    let app =
        router(engine, &config, readiness).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("the HTTP server stopped")
}

async fn readyz(State(s): State<AppState>) -> Response {
    if let Err(e) = s.engine.store().ready().await {
        // The route needs no token: it says what is wrong, the log says why (the causes can
        // name the database's host and user).
        tracing::warn!(error = format!("{e:#}"), "not ready");
        return (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}")).into_response();
    }
    if let Some(g) = &s.readiness.gateway {
        if !g.load(Ordering::Relaxed) {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: Discord gateway not connected",
            )
                .into_response();
        }
    }
    "ready".into_response()
}

async fn metrics_text(State(s): State<AppState>) -> Response {
    // Outbox depth and the age of its oldest due message are read at scrape time: a gauge kept
    // by the workers would be wrong the moment another process claimed a row.
    match s.engine.store().outbox_gauges(Utc::now()).await {
        Ok((depth, oldest)) => {
            metrics::gauge!("salesbot_outbox_depth").set(depth as f64);
            metrics::gauge!("salesbot_outbox_oldest_due_seconds").set(oldest);
        }
        Err(e) => tracing::warn!(error = %e, "outbox gauges unavailable"),
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}

/// Every request: a request id in the logs and the response, and its count and duration by
/// route (the route's pattern, never ids) and status.
async fn observe(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().clone();
    let id = format!("{:016x}", rand::random::<u64>());
    let span = tracing::info_span!("http", request_id = %id, %method, route = %route);
    let mut resp = tracing::Instrument::instrument(next.run(req), span.clone()).await;
    let status = resp.status().as_u16().to_string();
    span.in_scope(|| {
        tracing::debug!(status = %status, elapsed_ms = started.elapsed().as_millis() as u64, "answered")
    });
    let labels = [
        ("route", route.clone()),
        ("method", method.to_string()),
        ("status", status),
    ];
    metrics::counter!("salesbot_api_requests_total", &labels).increment(1);
    metrics::histogram!("salesbot_api_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// The bearer token's text, if the request has one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The caller's language: `Accept-Language`'s first tag we speak, else English.
fn locale(headers: &HeaderMap) -> Locale {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .filter_map(|part| Locale::from_tag(part.split(';').next().unwrap_or("")))
                .next()
        })
        .unwrap_or_default()
}

/// Checks the token (revoked ones fail at once: every request reads it) and the token's rate
/// limit, and answers with the `RateLimit-*` headers. A token not seen lately first spends
/// from its address's budget, and past it is answered 429 before the database is asked
/// (`unknown_tokens.rs`).
async fn authenticate(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(text) = bearer(req.headers()) else {
        return Problem::unauthorized().into_response();
    };
    // Served without the peer's address (a test's own server), every caller shares one budget.
    let addr = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    // Text that is no token of ours is refused before any budget or lookup.
    if !token::well_formed(text) {
        return Problem::unauthorized().into_response();
    }
    let hash = token::hash(text);
    if let Err(secs) = s.unknown_tokens.admit(addr, &hash, Instant::now()) {
        return rate_limited(secs, None);
    }
    let token = match tokens::authenticate(s.engine.store(), &hash, Utc::now()).await {
        Ok(Some(t)) => {
            s.unknown_tokens.succeeded(hash, Instant::now());
            t
        }
        Ok(None) => {
            s.unknown_tokens.failed(&hash);
            return Problem::unauthorized().into_response();
        }
        Err(e) => {
            // A real token refused (its maker is no longer an admin) is a failed token: it
            // spends from its address's budget from now on, like an unknown one.
            if matches!(e, crate::engine::EngineError::Forbidden(_)) {
                s.unknown_tokens.failed(&hash);
            }
            return Problem::from_engine(&e, locale(req.headers()), &|f| f.to_string())
                .into_response();
        }
    };
    let key = token.id as u64;
    let limit = HeaderValue::from(s.burst);
    match s.limiter.check_key(&key) {
        Ok(snapshot) => {
            req.extensions_mut().insert(Caller(Arc::new(token), None));
            let mut resp = next.run(req).await;
            let h = resp.headers_mut();
            h.insert("ratelimit-limit", limit);
            let remaining = snapshot.remaining_burst_capacity();
            h.insert("ratelimit-remaining", HeaderValue::from(remaining));
            let refill = s.replenish * s.burst.saturating_sub(remaining);
            h.insert("ratelimit-reset", HeaderValue::from(secs_up(refill)));
            resp
        }
        Err(not_until) => {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            // Retry-After is the next request's wait; RateLimit-Reset, as on every answer, the
            // wait until the whole burst is back.
            let refill = wait + s.replenish * s.burst.saturating_sub(1);
            rate_limited(secs_up(wait), Some((limit, secs_up(refill))))
        }
    }
}

/// Whole seconds, rounded up.
pub(super) fn secs_up(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// 429 with `Retry-After`, and the `RateLimit-*` headers (the limit, and the seconds until the
/// whole burst is back) when the limit was the token's.
fn rate_limited(secs: u64, limit: Option<(HeaderValue, u64)>) -> Response {
    let secs = secs.max(1);
    let mut p = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate-limited",
        Msg::new("api.rate_limited").arg("seconds", secs),
    );
    p.retry_after = Some(secs);
    let mut resp = p.into_response();
    if let Some((limit, reset)) = limit {
        let h = resp.headers_mut();
        h.insert("ratelimit-limit", limit);
        h.insert("ratelimit-remaining", HeaderValue::from(0u32));
        h.insert("ratelimit-reset", HeaderValue::from(reset.max(secs)));
    }
    metrics::counter!("salesbot_api_rate_limited_total").increment(1);
    resp
}

/// `Idempotency-Key` on a POST: the first answer is kept a day and replayed for the same
/// request; the same key with a different request is refused.
async fn idempotency(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(key) = req.headers().get("idempotency-key").cloned() else {
        return next.run(req).await;
    };
    let key = match key.to_str() {
        Ok(k) if (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) => {
            k.to_string()
        }
        _ => {
            return Problem::invalid(
                "Idempotency-Key",
                Msg::new("api.idempotency_key_bad"),
                Some(Msg::new("accepted.idempotency_key")),
            )
            .into_response()
        }
    };
    let Some(Caller(token, _)) = req.extensions().get::<Caller>().cloned() else {
        return Problem::unauthorized().into_response();
    };
    let (mut parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return too_large().into_response(),
    };
    let mut h = Sha256::new();
    h.update(parts.method.as_str().as_bytes());
    h.update([0]);
    h.update(parts.uri.to_string().as_bytes());
    h.update([0]);
    h.update(&bytes);
    let request_hash = h.finalize();
    let store = s.engine.store();
    let claimed = async {
        let mut tx = store.begin().await?;
        let c = tx
            .claim_idempotency(
                token.workspace_id,
                token.id,
                &key,
                &request_hash,
                Utc::now(),
            )
            .await?;
        tx.commit().await?;
        Ok::<_, crate::store::StoreError>(c)
    }
    .await;
    let claim;
    match claimed {
        Ok(Idempotency::New(c)) => {
            claim = c;
            parts
                .extensions
                .insert(Caller(token.clone(), Some((Arc::from(key.as_str()), c))));
        }
        Ok(Idempotency::Replay(kept)) => {
            let mut resp = Response::new(Body::from(kept.body));
            *resp.status_mut() = StatusCode::from_u16(kept.status).unwrap_or(StatusCode::OK);
            let h = resp.headers_mut();
            if let Some(ct) = kept
                .content_type
                .and_then(|c| HeaderValue::try_from(c).ok())
            {
                h.insert(header::CONTENT_TYPE, ct);
            }
            h.insert("idempotent-replayed", HeaderValue::from_static("true"));
            return resp;
        }
        Ok(Idempotency::Mismatch) => {
            return Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                Msg::new("api.idempotency_reused"),
            )
            .into_response()
        }
        Ok(Idempotency::InFlight) => return Problem::key_in_use().into_response(),
        Err(e) => {
            return Problem::from_engine(&e.into(), Locale::En, &|f| f.to_string()).into_response()
        }
    }
    let resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (rparts, rbody) = resp.into_parts();
    // A body that failed part-way is no answer to keep: the key is let go for the retry.
    let (out, whole) = match axum::body::to_bytes(rbody, usize::MAX).await {
        Ok(b) => (b, true),
        Err(_) => (Bytes::new(), false),
    };
    let status = rparts.status;
    let kept = async {
        let mut tx = store.begin().await?;
        if !whole
            || status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::METHOD_NOT_ALLOWED
        {
            // A failure on our side is not an answer to keep: the retry should run. Nor is
            // the router's refusal of the method: nothing ran, and its problem document and
            // `Allow` header are made outside this layer.
            tx.release_idempotency(token.workspace_id, token.id, &key, claim)
                .await?
        } else {
            let answer = KeptAnswer {
                status: status.as_u16(),
                content_type: rparts
                    .headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
                body: out.to_vec(),
            };
            tx.finish_idempotency(token.workspace_id, token.id, &key, claim, &answer)
                .await?
        }
        tx.commit().await
    }
    .await;
    if let Err(e) = kept {
        tracing::warn!(error = %e, "idempotency answer not kept");
    }
    Response::from_parts(rparts, Body::from(out))
}

fn too_large() -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
        Msg::new("api.too_large").arg("bytes", MAX_BODY),
    )
}

/// A query string, with its problems answered as problem documents naming the parameter (422):
/// axum's `Query` answers them in plain text, naming nothing.
struct QueryParams<T>(T);

#[axum::async_trait]
impl<T, S> axum::extract::FromRequestParts<S> for QueryParams<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Problem> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(QueryParams)
            .map_err(|e| unfit(&e, "query", "api.query_field"))
    }
}

/// The problem for a query string or body that did not deserialize: the field
/// `serde_path_to_error` names, or `whole` when it names none, and what was wrong in `key`'s
/// sentence.
fn unfit<E: std::fmt::Display>(
    e: &serde_path_to_error::Error<E>,
    whole: &str,
    key: &'static str,
) -> Problem {
    let path = e.path().to_string();
    let field = if path == "." { whole } else { &path };
    Problem::invalid(
        field,
        Msg::new(key).arg("problem", e.inner().to_string()),
        None,
    )
}

/// A JSON body, with its problems answered as problem documents (413 past [`MAX_BODY`], 415
/// without a JSON content type, 422 naming the field that did not fit).
struct JsonBody<T>(T);

#[axum::async_trait]
impl<T, S> axum::extract::FromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !json {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                Msg::new("api.json_only"),
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| too_large())?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(de)
            .map(JsonBody)
            .map_err(|e| unfit(&e, "body", "api.body_field"))
    }
}

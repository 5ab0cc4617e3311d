//! Errors as RFC 9457 problem details (`application/problem+json`): a stable `type`, the HTTP
//! `status`, a `title`, the same sentence chat would answer as `detail`, and for bad input the
//! `field` it was about and what is `accepted`.

use crate::domain::locale::Locale;
use crate::engine::EngineError;
use crate::i18n::{Arg, Msg};

/// The catalog key of the answer to a request whose `Idempotency-Key` is in use.
const KEY_IN_USE: &str = "api.idempotency_in_flight";
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// A problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem, e.g. `https://salesbot.dev/problems/invalid`.
    pub r#type: String,
    pub title: String,
    pub status: u16,
    /// What went wrong, in the caller's language (`Accept-Language`), as chat says it.
    pub detail: String,
    /// The request field the problem is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What the field accepts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<String>,
    /// Seconds to wait before trying again (429, 503).
    #[serde(skip)]
    pub retry_after: Option<u64>,
    /// The catalog messages behind `detail` and `accepted`, rendered again in the caller's
    /// language by [`localize`] once the request's `Accept-Language` is known.
    #[serde(skip)]
    #[schema(ignore)]
    msgs: Option<(Msg, Option<Msg>)>,
    /// The language `detail` and `accepted` are in now: a layer that finds them in the
    /// caller's language already leaves them (the API's routes are localized inside the
    /// `Idempotency-Key` layer and again outside it).
    #[serde(skip)]
    #[schema(ignore)]
    rendered: Locale,
}

impl Problem {
    /// A problem whose text is a catalog message.
    pub fn new(status: StatusCode, kind: &str, detail: Msg) -> Problem {
        Problem {
            r#type: format!("https://salesbot.dev/problems/{kind}"),
            title: status.canonical_reason().unwrap_or("error").to_string(),
            status: status.as_u16(),
            detail: detail.render(Locale::En),
            field: None,
            accepted: None,
            retry_after: None,
            msgs: Some((detail, None)),
            rendered: Locale::En,
        }
    }

    /// The first request with this `Idempotency-Key` still runs, or a retry took the key over
    /// from this one: the client asks again in a second.
    pub fn key_in_use() -> Problem {
        let mut p = Problem::new(
            StatusCode::CONFLICT,
            "idempotency-key-in-use",
            Msg::new(KEY_IN_USE),
        );
        p.retry_after = Some(1);
        p
    }

    /// A problem whose text was already rendered in the caller's language (a reply's).
    pub fn text(status: StatusCode, kind: &str, detail: String) -> Problem {
        let mut p = Problem::new(status, kind, Msg::new("error.unexpected"));
        p.detail = detail;
        p.msgs = None;
        p
    }

    /// Bad input about one field.
    pub fn invalid(field: &str, detail: Msg, accepted: Option<Msg>) -> Problem {
        let mut p = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", detail.clone());
        p.field = Some(field.to_string());
        p.accepted = accepted.as_ref().map(|a| a.render(Locale::En));
        p.msgs = Some((detail, accepted));
        p
    }

    pub fn unauthorized() -> Problem {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            Msg::new("api.unauthorized"),
        )
    }

    /// `thing` is one of the catalog's `api.thing.*`: deal, contact, company, ...
    pub fn not_found(thing: &'static str) -> Problem {
        let key = match thing {
            "deal" => "api.thing.deal",
            "contact" => "api.thing.contact",
            "company" => "api.thing.company",
            "activity" => "api.thing.activity",
            "product" => "api.thing.product",
            "task" => "api.thing.task",
            "report" => "api.thing.report",
            "workspace" => "api.thing.workspace",
            "webhook" => "api.thing.webhook",
            _ => "api.thing.route",
        };
        Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            Msg::new("api.not_found").arg_msg("thing", Msg::new(key)),
        )
    }

    /// An engine failure in `locale`; `field` maps a command option to the request field it
    /// came from.
    pub fn from_engine(e: &EngineError, locale: Locale, field: &dyn Fn(&str) -> String) -> Problem {
        let (status, kind, msg) = match e {
            EngineError::Invalid(m) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid", m.clone()),
            EngineError::NotFound(m) => (StatusCode::NOT_FOUND, "not-found", m.clone()),
            EngineError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m.clone()),
            // The engine found the request's key taken over by a retry: the same answer the
            // key's own check gives.
            EngineError::Conflict(m) if m.key == KEY_IN_USE => {
                let mut p = Problem::key_in_use();
                p.render(locale);
                return p;
            }
            EngineError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m.clone()),
            EngineError::Duplicate => (
                StatusCode::CONFLICT,
                "duplicate",
                Msg::new("error.duplicate"),
            ),
            EngineError::Contention(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                Msg::new("error.busy"),
            ),
            EngineError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                Msg::new("error.unavailable"),
            ),
            EngineError::Unexpected(err) => {
                tracing::error!(error = ?err, "API request failed unexpectedly");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    Msg::new("error.unexpected"),
                )
            }
        };
        let mut p = Problem::new(status, kind, msg.clone());
        if let Some(Arg::Text(option)) = arg(&msg, "option") {
            p.field = Some(field(option.trim_matches('`')));
        }
        let accepted = match arg(&msg, "accepted") {
            Some(Arg::Msg(a)) => Some(a.clone()),
            _ => None,
        };
        p.msgs = Some((msg, accepted));
        p.render(locale);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            p.retry_after = Some(2);
        }
        p
    }

    /// Renders the texts in `locale`.
    fn render(&mut self, locale: Locale) {
        if let Some((detail, accepted)) = &self.msgs {
            self.detail = detail.render(locale);
            if let Some(a) = accepted {
                self.accepted = Some(a.render(locale));
            }
            self.rendered = locale;
        }
    }
}

/// Renders every problem answer in the language the request asked for.
pub async fn localize(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let locale = super::locale(req.headers());
    let resp = next.run(req).await;
    match resp.extensions().get::<Problem>() {
        Some(p) if p.msgs.is_some() && p.rendered != locale => {
            let mut p = p.clone();
            p.render(locale);
            replace_body(resp, p)
        }
        _ => resp,
    }
}

/// `resp` with `p` as its body and status, keeping every header the layers inside set
/// (`x-request-id`, `RateLimit-*`, `Retry-After`, `Allow`).
fn replace_body(resp: Response, p: Problem) -> Response {
    let (mut parts, _) = resp.into_parts();
    let (fresh, body) = p.into_response().into_parts();
    parts.status = fresh.status;
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.extend(fresh.headers);
    parts.extensions.extend(fresh.extensions);
    Response::from_parts(parts, body)
}

/// The router answers a known path asked with another method by an empty 405: it is said
/// like every other refusal, keeping the `Allow` header that names the methods. Only a layer
/// around the whole router sees that header: the router adds it after every layer of its own.
pub async fn method_not_allowed(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let locale = super::locale(req.headers());
    let method = req.method().clone();
    let resp = next.run(req).await;
    if resp.status() != StatusCode::METHOD_NOT_ALLOWED
        || resp.extensions().get::<Problem>().is_some()
    {
        return resp;
    }
    let allowed = resp
        .headers()
        .get(header::ALLOW)
        .and_then(|a| a.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let mut p = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        Msg::new("api.method_not_allowed")
            .arg("method", method)
            .arg("allowed", allowed),
    );
    p.render(locale);
    replace_body(resp, p)
}

fn arg<'a>(m: &'a Msg, name: &str) -> Option<&'a Arg> {
    m.args.iter().find(|(n, _)| *n == name).map(|(_, a)| a)
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, axum::Json(&self)).into_response();
        resp.extensions_mut().insert(self.clone());
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_lost_to_a_retry_is_answered_like_a_key_in_use() {
        let lost = EngineError::Conflict(Msg::new("api.idempotency_in_flight"));
        let p = Problem::from_engine(&lost, Locale::En, &|f| f.to_string());
        assert_eq!(p.status, 409);
        assert_eq!(
            p.r#type,
            "https://salesbot.dev/problems/idempotency-key-in-use"
        );
        assert_eq!(
            p.retry_after,
            Some(1),
            "the client is told when to ask again"
        );
        let resp = p.into_response();
        assert_eq!(resp.headers()[header::RETRY_AFTER], "1");

        let other = EngineError::Conflict(Msg::new("error.duplicate"));
        let p = Problem::from_engine(&other, Locale::En, &|f| f.to_string());
        assert_eq!(p.r#type, "https://salesbot.dev/problems/conflict");
        assert_eq!(p.retry_after, None);
    }
}

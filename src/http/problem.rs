//! Errors as RFC 9457 problem details (`application/problem+json`): a stable `type`, the HTTP
//! `status`, a `title`, the same sentence chat would answer as `detail`, and for bad input the
//! `field` it was about and what is `accepted`.

use crate::domain::locale::Locale;
use crate::engine::EngineError;
use crate::i18n::{Arg, Msg};
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
}

impl Problem {
    pub fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Problem {
        Problem {
            r#type: format!("https://salesbot.dev/problems/{kind}"),
            title: status.canonical_reason().unwrap_or("error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
            accepted: None,
            retry_after: None,
        }
    }

    /// Bad input about one field.
    pub fn invalid(field: &str, detail: impl Into<String>, accepted: Option<String>) -> Problem {
        Problem {
            field: Some(field.to_string()),
            accepted,
            ..Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", detail)
        }
    }

    pub fn unauthorized() -> Problem {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "A valid API token is required: send `Authorization: Bearer <token>`. Admins make tokens with /settings api.",
        )
    }

    pub fn not_found(what: &str) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not-found", format!("No such {what} here."))
    }

    /// An engine failure in `locale`; `field` maps a command option to the request field it
    /// came from.
    pub fn from_engine(e: &EngineError, locale: Locale, field: &dyn Fn(&str) -> String) -> Problem {
        let (status, kind, msg) = match e {
            EngineError::Invalid(m) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some(m)),
            EngineError::NotFound(m) => (StatusCode::NOT_FOUND, "not-found", Some(m)),
            EngineError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", Some(m)),
            EngineError::Conflict(m) => (StatusCode::CONFLICT, "conflict", Some(m)),
            EngineError::Duplicate => (StatusCode::CONFLICT, "duplicate", None),
            EngineError::Contention(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy", None),
            EngineError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", None),
            EngineError::Unexpected(err) => {
                tracing::error!(error = ?err, "API request failed unexpectedly");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", None)
            }
        };
        let detail = match (msg, e) {
            (Some(m), _) => m.render(locale),
            (None, EngineError::Duplicate) => Msg::new("error.duplicate").render(locale),
            (None, EngineError::Contention(_)) => Msg::new("error.busy").render(locale),
            (None, EngineError::Unavailable) => Msg::new("error.unavailable").render(locale),
            (None, _) => Msg::new("error.unexpected").render(locale),
        };
        let mut p = Problem::new(status, kind, detail);
        if let Some(m) = msg {
            if let Some(Arg::Text(option)) = arg(m, "option") {
                p.field = Some(field(option.trim_matches('`')));
            }
            p.accepted = match arg(m, "accepted") {
                Some(Arg::Msg(a)) => Some(a.render(locale)),
                Some(Arg::Text(t)) => Some(t.clone()),
                None => None,
            };
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            p.retry_after = Some(2);
        }
        p
    }
}

fn arg<'a>(m: &'a Msg, name: &str) -> Option<&'a Arg> {
    m.args.iter().find(|(n, _)| *n == name).map(|(_, a)| a)
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, axum::Json(&self)).into_response();
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

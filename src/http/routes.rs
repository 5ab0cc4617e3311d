//! The `/v1` routes. Writes become the slash command they stand for and run through the
//! engine as the token (same permissions, validation, audit and /undo as chat); the record
//! the command names in its reply is then read back and returned. Reads come from the store,
//! always within the token's workspace, so an id of another workspace is simply not found.
//! The OpenAPI document is derived from these handlers and types.

use super::{locale, AppState, Caller, JsonBody, Problem, QueryParams};
use crate::domain::money::{format_major, Currency};
use crate::domain::refs::DealRef;
use crate::engine::reports::{self, ReportKind, ReportParams};
use crate::engine::{Action, IdempotencyKey, Invocation, OptionValue, Reply, Request, RoleSource};
use crate::i18n::Msg;
use crate::store::{
    ApiActivity, ApiCompany, ApiContact, ApiDeal, ApiProduct, ApiTask, EndpointRow, ListFilter, Tx,
};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

/// Default and largest page sizes.
const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 500;

pub(super) fn v1() -> Router<AppState> {
    Router::new()
        .route("/v1/deals", get(list_deals).post(create_deal))
        .route("/v1/deals/:id", get(get_deal).patch(update_deal))
        .route("/v1/deals/:id/move", post(move_deal))
        .route("/v1/deals/:id/won", post(win_deal))
        .route("/v1/deals/:id/lost", post(lose_deal))
        .route("/v1/contacts", get(list_contacts).post(create_contact))
        .route("/v1/contacts/:id", get(get_contact).patch(update_contact))
        .route("/v1/companies", get(list_companies).post(create_company))
        .route("/v1/companies/:id", get(get_company))
        .route("/v1/activities", get(list_activities).post(log_activity))
        .route("/v1/activities/:id", get(get_activity))
        .route("/v1/products", get(list_products).post(create_product))
        .route("/v1/products/:id", get(get_product))
        .route("/v1/tasks", get(list_tasks))
        .route("/v1/tasks/:id", get(get_task))
        .route("/v1/tasks/:id/done", post(finish_task))
        .route("/v1/reports/:kind", get(report))
        .route("/v1/webhooks", get(list_webhooks).post(add_webhook))
        .route("/v1/webhooks/:id", axum::routing::delete(remove_webhook))
        .route("/v1/webhooks/:id/redeliver", post(redeliver_endpoint))
        .route("/v1/webhook-events/:id/redeliver", post(redeliver_event))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "salesbot API", description = "Deals, contacts, companies, activities, products, tasks and reports of one workspace. Authenticate with `Authorization: Bearer <token>` (admins make tokens with /settings api). Money is integer minor units beside its currency. Errors are RFC 9457 problem details."),
    paths(
        list_deals, create_deal, get_deal, update_deal, move_deal, win_deal, lose_deal,
        list_contacts, create_contact, get_contact, update_contact,
        list_companies, create_company, get_company,
        list_activities, log_activity, get_activity,
        list_products, create_product, get_product,
        list_tasks, get_task, finish_task, report,
        list_webhooks, add_webhook, remove_webhook, redeliver_endpoint, redeliver_event
    ),
    components(schemas(Problem)),
    modifiers(&Bearer)
)]
struct ApiDoc;

struct Bearer;

impl utoipa::Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

/// `GET /v1/openapi.json`: OpenAPI 3.1, generated from the handlers.
pub(super) async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

// ---------------------------------------------------------------------------------------------
// Shared pieces

/// List parameters every list takes.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Page size, 1 to 500 (default 100).
    limit: Option<i64>,
    /// `next_cursor` of the page before.
    cursor: Option<String>,
    /// Deals: a stage's name or id.
    stage: Option<String>,
    /// Deals: `open`, `won`, `lost`; tasks: `open`, `done`.
    status: Option<String>,
    /// Owner (assignee, logger) user id; every list but products.
    owner: Option<i64>,
    /// Only records changed (deals) or created (others) at or after this time (RFC 3339);
    /// every list but products. A list refuses a filter it does not take.
    updated_since: Option<DateTime<Utc>>,
}

macro_rules! page {
    ($name:ident, $item:ty) => {
        /// A page of records; `next_cursor` is absent on the last page.
        #[derive(Debug, Serialize, ToSchema)]
        pub(super) struct $name {
            data: Vec<$item>,
            next_cursor: Option<String>,
        }
    };
}
page!(DealPage, ApiDeal);
page!(ContactPage, ApiContact);
page!(CompanyPage, ApiCompany);
page!(ActivityPage, ApiActivity);
page!(ProductPage, ApiProduct);
page!(TaskPage, ApiTask);

/// Cursors are opaque to clients: the kind and the last row id, so a deals cursor cannot be
/// replayed against contacts.
fn cursor(kind: &str, last: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{last}"))
}

/// The cursor of the page after a full one (a shorter page is the last).
fn next_cursor<T>(kind: &str, data: &[T], limit: i64, id: impl Fn(&T) -> i64) -> Option<String> {
    (data.len() as i64 == limit)
        .then(|| data.last().map(|d| cursor(kind, id(d))))
        .flatten()
}

fn read_cursor(kind: &str, c: &str) -> Result<i64, Problem> {
    URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.strip_prefix(&format!("{kind}:"))
                .and_then(|n| n.parse().ok())
        })
        .ok_or_else(|| {
            Problem::invalid(
                "cursor",
                Msg::new("api.cursor_bad"),
                Some(Msg::new("accepted.cursor")),
            )
        })
}

async fn filter(s: &AppState, ws: i64, kind: &str, q: &ListQuery) -> Result<ListFilter, Problem> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Problem::invalid(
            "limit",
            Msg::new("api.limit_bad").arg("given", limit),
            Some(Msg::new("accepted.limit").arg("max", MAX_LIMIT)),
        ));
    }
    // A filter a list does not take is refused, not ignored: a client that asked for one
    // stage's contacts must not take every contact for them.
    let takes: &[&str] = match kind {
        "d" => &["stage", "status", "owner", "updated_since"],
        "t" => &["status", "owner", "updated_since"],
        "p" => &[],
        _ => &["owner", "updated_since"],
    };
    let given = [
        ("stage", q.stage.is_some()),
        ("status", q.status.is_some()),
        ("owner", q.owner.is_some()),
        ("updated_since", q.updated_since.is_some()),
    ];
    if let Some((name, _)) = given.iter().find(|(n, g)| *g && !takes.contains(n)) {
        let accepted = if takes.is_empty() {
            Msg::new("accepted.filters_none")
        } else {
            let list: Vec<String> = takes.iter().map(|t| format!("`{t}`")).collect();
            Msg::new("accepted.filters").arg("filters", list.join(", "))
        };
        return Err(Problem::invalid(
            name,
            Msg::new("api.filter_unsupported").arg("field", format!("`{name}`")),
            Some(accepted),
        ));
    }
    let status_ok = match (kind, q.status.as_deref()) {
        (_, None) => true,
        ("d", Some(s)) => matches!(s, "open" | "won" | "lost"),
        ("t", Some(s)) => matches!(s, "open" | "done"),
        _ => false,
    };
    if !status_ok {
        return Err(Problem::invalid(
            "status",
            Msg::new("api.status_bad"),
            Some(Msg::new(if kind == "t" {
                "accepted.status_tasks"
            } else {
                "accepted.status_deals"
            })),
        ));
    }
    let stage = match q.stage.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(given) => {
            let mut tx = begin(s).await?;
            let by_name = tx.stage_id_named(ws, given).await.map_err(store_problem)?;
            let id = match by_name {
                Some(id) => Some(id),
                None => match given.parse::<i64>() {
                    Ok(n) => tx
                        .stage_ids(ws)
                        .await
                        .map_err(store_problem)?
                        .contains(&n)
                        .then_some(n),
                    Err(_) => None,
                },
            };
            Some(id.ok_or_else(|| {
                Problem::invalid(
                    "stage",
                    Msg::new("api.stage_unknown").arg("stage", given),
                    Some(Msg::new("accepted.stage_name_or_id")),
                )
            })?)
        }
    };
    Ok(ListFilter {
        stage,
        status: q.status.clone(),
        owner: q.owner,
        updated_since: q.updated_since,
        after: match &q.cursor {
            Some(c) => read_cursor(kind, c)?,
            None => 0,
        },
        limit,
    })
}

async fn begin(s: &AppState) -> Result<Tx, Problem> {
    s.engine.store().begin().await.map_err(store_problem)
}

fn store_problem(e: crate::store::StoreError) -> Problem {
    Problem::from_engine(&e.into(), crate::domain::locale::Locale::En, &|f| {
        f.to_string()
    })
}

/// The option a command names in an error, as this API calls the field.
fn field_name(option: &str) -> String {
    match option {
        "amount" => "amount_minor",
        "price" => "price_minor",
        "owner" => "owner_id",
        "close" => "expected_close",
        other => other,
    }
    .to_string()
}

/// Runs one command as the token and hands back its reply, or the problem.
async fn run(
    s: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    command: &str,
    subcommand: Option<&str>,
    options: Vec<(&str, OptionValue)>,
) -> Result<Reply, Problem> {
    let token = &caller.0;
    let locale = locale(headers);
    let req = Request {
        workspace_id: token.workspace_id,
        user_id: -token.id,
        display_name: None,
        role: RoleSource::Api {
            name: token.name.clone(),
            write: token.scope == "write",
        },
        locale: Some(locale),
        channel_id: None,
        interaction_id: None,
        idempotency: caller.1.as_ref().map(|(key, claim)| IdempotencyKey {
            token_id: token.id,
            key: key.to_string(),
            claim: *claim,
        }),
        now: Utc::now(),
        action: Action::Command(Invocation {
            command: command.to_string(),
            subcommand: subcommand.map(str::to_string),
            options: options
                .into_iter()
                .map(|(n, v)| (n.to_string(), v))
                .collect(),
        }),
        in_dm: false,
        guild_members: Vec::new(),
    };
    let started = std::time::Instant::now();
    let result = s.engine.call(req).await;
    let outcome = if result.is_ok() { "ok" } else { "error" };
    metrics::histogram!("salesbot_api_command_duration_seconds", "command" => command.to_string(), "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
    result.map_err(|e| Problem::from_engine(&e, locale, &field_name))
}

/// Refuses a write from a read-only token before anything runs.
fn writable(caller: &Caller) -> Result<(), Problem> {
    if caller.0.scope == "write" {
        Ok(())
    } else {
        Err(Problem::new(
            StatusCode::FORBIDDEN,
            "read-only-token",
            Msg::new("api.read_only"),
        ))
    }
}

/// The record a command's reply names.
fn record(reply: &Reply) -> Result<i64, Problem> {
    reply
        .data
        .as_ref()
        .and_then(|d| d.get("record"))
        .and_then(|r| r.get("id"))
        .and_then(|v| v.as_i64())
        .ok_or_else(|| {
            Problem::from_engine(
                &crate::engine::EngineError::Unexpected(anyhow::anyhow!(
                    "the command's reply names no record"
                )),
                crate::domain::locale::Locale::En,
                &|f| f.to_string(),
            )
        })
}

/// Adds the text options the body gave.
fn given<const N: usize>(
    o: &mut Vec<(&'static str, OptionValue)>,
    fields: [(&'static str, Option<String>); N],
) {
    o.extend(
        fields
            .into_iter()
            .filter_map(|(name, v)| v.map(|v| (name, text(v)))),
    );
}

fn text(v: impl Into<String>) -> OptionValue {
    OptionValue::String(v.into())
}

fn user(field: &str, id: i64) -> Result<OptionValue, Problem> {
    u64::try_from(id).map(OptionValue::User).map_err(|_| {
        Problem::invalid(
            field,
            Msg::new("api.not_member_id").arg("given", id),
            Some(Msg::new("accepted.member_id")),
        )
    })
}

async fn currency(s: &AppState, ws: i64) -> Result<Currency, Problem> {
    let mut tx = begin(s).await?;
    let w = tx
        .workspace(ws)
        .await
        .map_err(store_problem)?
        .ok_or_else(|| Problem::not_found("workspace"))?;
    Currency::parse(&w.currency).map_err(|_| {
        store_problem(crate::store::StoreError::Unexpected(anyhow::anyhow!(
            "stored currency {} is unknown",
            w.currency
        )))
    })
}

/// Money in minor units as the amount chat would type, so the engine checks it the same way.
/// The amount names its currency: the currency is read here, before the command's
/// transaction, so a currency change in between makes the engine refuse the amount as another
/// currency's instead of reading its digits in the new one.
async fn amount(s: &AppState, ws: i64, field: &str, minor: i64) -> Result<OptionValue, Problem> {
    if minor < 0 {
        return Err(Problem::invalid(
            field,
            Msg::new("api.amount_negative"),
            Some(Msg::new("accepted.minor_units")),
        ));
    }
    let currency = currency(s, ws).await?;
    Ok(text(format!(
        "{} {}",
        format_major(minor, currency),
        currency.code()
    )))
}

/// A deal id as `D-42` or `42`.
fn deal_number(id: &str) -> Result<i64, Problem> {
    match DealRef::parse(id) {
        Ok(DealRef::Number(n)) => Ok(n),
        _ => Err(Problem::not_found("deal")),
    }
}

/// A plain numeric id, or the record's chat prefix (`C-12`, `CO-7`, `T-5`).
fn plain_id(id: &str, prefix: &str, what: &'static str) -> Result<i64, Problem> {
    let t = id.trim();
    let t = t
        .get(..prefix.len())
        .filter(|p| p.eq_ignore_ascii_case(prefix))
        .map(|_| &t[prefix.len()..])
        .unwrap_or(t);
    // Ids are positive: `-5` names nothing, so it is not found rather than refused as input.
    t.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Problem::not_found(what))
}

fn created<T: Serialize>(v: T) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

async fn deal_out(s: &AppState, ws: i64, row_id: i64) -> Result<ApiDeal, Problem> {
    let mut tx = begin(s).await?;
    tx.api_deal_by_row(ws, row_id)
        .await
        .map_err(store_problem)?
        .ok_or_else(|| Problem::not_found("deal"))
}

// ---------------------------------------------------------------------------------------------
// Deals

#[utoipa::path(get, path = "/v1/deals", params(ListQuery), responses(
    (status = 200, body = DealPage), (status = 422, body = Problem)))]
async fn list_deals(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<Json<DealPage>, Problem> {
    let ws = c.0.workspace_id;
    let f = filter(&s, ws, "d", &q).await?;
    let mut tx = begin(&s).await?;
    let data = tx.api_deals(ws, &f).await.map_err(store_problem)?;
    let next_cursor = next_cursor("d", &data, f.limit, |d| d.row_id);
    Ok(Json(DealPage { data, next_cursor }))
}

#[utoipa::path(get, path = "/v1/deals/{id}", params(("id" = String, Path, description = "D-42 or 42")),
    responses((status = 200, body = ApiDeal), (status = 404, body = Problem)))]
async fn get_deal(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<ApiDeal>, Problem> {
    let n = deal_number(&id)?;
    let mut tx = begin(&s).await?;
    tx.api_deal(c.0.workspace_id, n)
        .await
        .map_err(store_problem)?
        .map(Json)
        .ok_or_else(|| Problem::not_found("deal"))
}

/// A new deal, as `/deal new` takes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewDeal {
    title: String,
    /// Minor units of the workspace currency.
    amount_minor: Option<i64>,
    /// A company's name or id (`CO-7`).
    company: Option<String>,
    /// A contact's id (`C-12`), email or name.
    contact: Option<String>,
    /// A stage name (default: the first).
    stage: Option<String>,
    /// Expected close date, e.g. `2026-12-31`.
    expected_close: Option<String>,
    /// Owner's user id (default: the admin who made the token).
    owner_id: Option<i64>,
    /// Product lines as chat takes them, e.g. `GTX Pro x2, MG Special`.
    products: Option<String>,
}

#[utoipa::path(post, path = "/v1/deals", request_body = NewDeal, params(
    ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for 24 h")),
    responses((status = 201, body = ApiDeal), (status = 422, body = Problem)))]
async fn create_deal(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    JsonBody(b): JsonBody<NewDeal>,
) -> Result<Response, Problem> {
    writable(&c)?;
    let ws = c.0.workspace_id;
    let mut o = vec![("title", text(b.title))];
    if let Some(a) = b.amount_minor {
        o.push(("amount", amount(&s, ws, "amount_minor", a).await?));
    }
    given(
        &mut o,
        [
            ("company", b.company),
            ("contact", b.contact),
            ("stage", b.stage),
            ("close", b.expected_close),
            ("products", b.products),
        ],
    );
    o.push(("owner", owner(&c, "owner_id", b.owner_id)?));
    let reply = run(&s, &c, &headers, "deal", Some("new"), o).await?;
    Ok(created(deal_out(&s, ws, record(&reply)?).await?))
}

/// The owner a new record gets: the one asked for, else the admin who made the token. A token
/// made on the server has no such admin, so it must say.
fn owner(c: &Caller, field: &str, given: Option<i64>) -> Result<OptionValue, Problem> {
    match given.or(c.0.created_by) {
        Some(id) => user(field, id),
        None => Err(Problem::invalid(
            field,
            Msg::new("api.owner_needed"),
            Some(Msg::new("accepted.member_id")),
        )),
    }
}

/// What may change on a deal here: its owner. Stages change through `/move`, `/won`, `/lost`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DealUpdate {
    owner_id: i64,
}

#[utoipa::path(patch, path = "/v1/deals/{id}", request_body = DealUpdate,
    params(("id" = String, Path, description = "D-42 or 42")),
    responses((status = 200, body = ApiDeal), (status = 404, body = Problem)))]
async fn update_deal(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<DealUpdate>,
) -> Result<Json<ApiDeal>, Problem> {
    writable(&c)?;
    let n = deal_number(&id)?;
    let o = vec![
        ("deal", text(n.to_string())),
        ("owner", user("owner_id", b.owner_id)?),
    ];
    let reply = run(&s, &c, &headers, "deal", Some("assign"), o).await?;
    Ok(Json(deal_out(&s, c.0.workspace_id, record(&reply)?).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DealMove {
    /// The stage's name.
    stage: String,
    note: Option<String>,
}

#[utoipa::path(post, path = "/v1/deals/{id}/move", request_body = DealMove,
    params(("id" = String, Path, description = "D-42 or 42")),
    responses((status = 200, body = ApiDeal), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn move_deal(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<DealMove>,
) -> Result<Json<ApiDeal>, Problem> {
    writable(&c)?;
    let n = deal_number(&id)?;
    let mut o = vec![("deal", text(n.to_string())), ("stage", text(b.stage))];
    if let Some(note) = b.note {
        o.push(("note", text(note)));
    }
    let reply = run(&s, &c, &headers, "deal", Some("move"), o).await?;
    Ok(Json(deal_out(&s, c.0.workspace_id, record(&reply)?).await?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DealWon {
    /// The final amount, when it changed.
    amount_minor: Option<i64>,
    note: Option<String>,
}

#[utoipa::path(post, path = "/v1/deals/{id}/won", request_body = DealWon,
    params(("id" = String, Path, description = "D-42 or 42")),
    responses((status = 200, body = ApiDeal), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn win_deal(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<DealWon>,
) -> Result<Json<ApiDeal>, Problem> {
    writable(&c)?;
    let ws = c.0.workspace_id;
    let n = deal_number(&id)?;
    let mut o = vec![("deal", text(n.to_string()))];
    if let Some(a) = b.amount_minor {
        o.push(("amount", amount(&s, ws, "amount_minor", a).await?));
    }
    if let Some(note) = b.note {
        o.push(("note", text(note)));
    }
    let reply = run(&s, &c, &headers, "deal", Some("won"), o).await?;
    Ok(Json(deal_out(&s, ws, record(&reply)?).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DealLost {
    reason: String,
}

#[utoipa::path(post, path = "/v1/deals/{id}/lost", request_body = DealLost,
    params(("id" = String, Path, description = "D-42 or 42")),
    responses((status = 200, body = ApiDeal), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn lose_deal(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<DealLost>,
) -> Result<Json<ApiDeal>, Problem> {
    writable(&c)?;
    let n = deal_number(&id)?;
    let o = vec![("deal", text(n.to_string())), ("reason", text(b.reason))];
    let reply = run(&s, &c, &headers, "deal", Some("lost"), o).await?;
    Ok(Json(deal_out(&s, c.0.workspace_id, record(&reply)?).await?))
}

// ---------------------------------------------------------------------------------------------
// Contacts, companies

#[utoipa::path(get, path = "/v1/contacts", params(ListQuery), responses((status = 200, body = ContactPage)))]
async fn list_contacts(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<Json<ContactPage>, Problem> {
    let ws = c.0.workspace_id;
    let f = filter(&s, ws, "c", &q).await?;
    let data = begin(&s)
        .await?
        .api_contacts(ws, &f)
        .await
        .map_err(store_problem)?;
    let next_cursor = next_cursor("c", &data, f.limit, |d| d.id);
    Ok(Json(ContactPage { data, next_cursor }))
}

#[utoipa::path(get, path = "/v1/contacts/{id}", params(("id" = String, Path, description = "C-12 or 12")),
    responses((status = 200, body = ApiContact), (status = 404, body = Problem)))]
async fn get_contact(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<ApiContact>, Problem> {
    let id = plain_id(&id, "C-", "contact")?;
    begin(&s)
        .await?
        .api_contact(c.0.workspace_id, id)
        .await
        .map_err(store_problem)?
        .map(Json)
        .ok_or_else(|| Problem::not_found("contact"))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewContact {
    name: String,
    email: Option<String>,
    phone: Option<String>,
    /// A company's name or id (`CO-7`); a new name creates the company.
    company: Option<String>,
    title: Option<String>,
    /// `YYYY-MM-DD` or `MM-DD`.
    birthday: Option<String>,
    /// Comma-separated.
    tags: Option<String>,
    owner_id: Option<i64>,
}

#[utoipa::path(post, path = "/v1/contacts", request_body = NewContact,
    responses((status = 201, body = ApiContact), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_contact(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    JsonBody(b): JsonBody<NewContact>,
) -> Result<Response, Problem> {
    writable(&c)?;
    let mut o = vec![("name", text(b.name))];
    given(
        &mut o,
        [
            ("email", b.email),
            ("phone", b.phone),
            ("company", b.company),
            ("title", b.title),
            ("birthday", b.birthday),
            ("tags", b.tags),
        ],
    );
    o.push(("owner", owner(&c, "owner_id", b.owner_id)?));
    let reply = run(&s, &c, &headers, "contact", Some("add"), o).await?;
    let id = record(&reply)?;
    let row = begin(&s)
        .await?
        .api_contact(c.0.workspace_id, id)
        .await
        .map_err(store_problem)?
        .ok_or_else(|| Problem::not_found("contact"))?;
    Ok(created(row))
}

/// Tags to add and remove, comma-separated, as `/contact tag` takes them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ContactUpdate {
    add_tags: Option<String>,
    remove_tags: Option<String>,
}

#[utoipa::path(patch, path = "/v1/contacts/{id}", request_body = ContactUpdate,
    params(("id" = String, Path, description = "C-12 or 12")),
    responses((status = 200, body = ApiContact), (status = 404, body = Problem)))]
async fn update_contact(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<ContactUpdate>,
) -> Result<Json<ApiContact>, Problem> {
    writable(&c)?;
    let id = plain_id(&id, "C-", "contact")?;
    let mut o = vec![("contact", text(format!("C-{id}")))];
    if let Some(t) = b.add_tags {
        o.push(("add", text(t)));
    }
    if let Some(t) = b.remove_tags {
        o.push(("remove", text(t)));
    }
    run(&s, &c, &headers, "contact", Some("tag"), o).await?;
    begin(&s)
        .await?
        .api_contact(c.0.workspace_id, id)
        .await
        .map_err(store_problem)?
        .map(Json)
        .ok_or_else(|| Problem::not_found("contact"))
}

#[utoipa::path(get, path = "/v1/companies", params(ListQuery), responses((status = 200, body = CompanyPage)))]
async fn list_companies(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<Json<CompanyPage>, Problem> {
    let ws = c.0.workspace_id;
    let f = filter(&s, ws, "co", &q).await?;
    let data = begin(&s)
        .await?
        .api_companies(ws, &f)
        .await
        .map_err(store_problem)?;
    let next_cursor = next_cursor("co", &data, f.limit, |d| d.id);
    Ok(Json(CompanyPage { data, next_cursor }))
}

#[utoipa::path(get, path = "/v1/companies/{id}", params(("id" = String, Path, description = "CO-7 or 7")),
    responses((status = 200, body = ApiCompany), (status = 404, body = Problem)))]
async fn get_company(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<ApiCompany>, Problem> {
    let id = plain_id(&id, "CO-", "company")?;
    begin(&s)
        .await?
        .api_company(c.0.workspace_id, id)
        .await
        .map_err(store_problem)?
        .map(Json)
        .ok_or_else(|| Problem::not_found("company"))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewCompany {
    name: String,
    industry: Option<String>,
    tier: Option<String>,
    website: Option<String>,
    tags: Option<String>,
    contract_end: Option<String>,
    owner_id: Option<i64>,
}

#[utoipa::path(post, path = "/v1/companies", request_body = NewCompany,
    responses((status = 201, body = ApiCompany), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_company(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    JsonBody(b): JsonBody<NewCompany>,
) -> Result<Response, Problem> {
    writable(&c)?;
    let mut o = vec![("name", text(b.name))];
    given(
        &mut o,
        [
            ("industry", b.industry),
            ("tier", b.tier),
            ("website", b.website),
            ("tags", b.tags),
            ("contract_end", b.contract_end),
        ],
    );
    o.push(("owner", owner(&c, "owner_id", b.owner_id)?));
    let reply = run(&s, &c, &headers, "company", Some("add"), o).await?;
    let id = record(&reply)?;
    let row = begin(&s)
        .await?
        .api_company(c.0.workspace_id, id)
        .await
        .map_err(store_problem)?
        .ok_or_else(|| Problem::not_found("company"))?;
    Ok(created(row))
}

// ---------------------------------------------------------------------------------------------
// Activities, products, tasks

#[utoipa::path(get, path = "/v1/activities", params(ListQuery), responses((status = 200, body = ActivityPage)))]
async fn list_activities(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<Json<ActivityPage>, Problem> {
    let ws = c.0.workspace_id;
    let f = filter(&s, ws, "a", &q).await?;
    let data = begin(&s)
        .await?
        .api_activities(ws, &f)
        .await
        .map_err(store_problem)?;
    let next_cursor = next_cursor("a", &data, f.limit, |d| d.id);
    Ok(Json(ActivityPage { data, next_cursor }))
}

#[utoipa::path(get, path = "/v1/activities/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = ApiActivity), (status = 404, body = Problem)))]
async fn get_activity(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<ApiActivity>, Problem> {
    let id = plain_id(&id, "A-", "activity")?;
    begin(&s)
        .await?
        .api_activity(c.0.workspace_id, id)
        .await
        .map_err(store_problem)?
        .map(Json)
        .ok_or_else(|| Problem::not_found("activity"))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewActivity {
    /// A contact's id (`C-12`), email or name.
    contact: String,
    /// `call`, `email`, `meeting`, `visit`, `message` or `note`.
    kind: String,
    summary: String,
    /// A deal id (`D-42`).
    deal: Option<String>,
    /// 1 to 5.
    satisfaction: Option<i64>,
    next_step: Option<String>,
    /// When the next step is due, as chat takes it (`tomorrow 9am`, `2026-12-01 15:30`).
    due: Option<String>,
    /// When it happened, if not now.
    when: Option<String>,
    /// The member who had the interaction and is given its next step; default: the admin
    /// who made the token (a token made on the server must name one).
    owner_id: Option<i64>,
}

#[utoipa::path(post, path = "/v1/activities", request_body = NewActivity,
    responses((status = 201, body = ApiActivity), (status = 422, body = Problem)))]
async fn log_activity(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    JsonBody(b): JsonBody<NewActivity>,
) -> Result<Response, Problem> {
    writable(&c)?;
    let mut o = vec![
        ("contact", text(b.contact)),
        ("kind", text(b.kind)),
        ("summary", text(b.summary)),
    ];
    given(
        &mut o,
        [
            ("deal", b.deal),
            ("next_step", b.next_step),
            ("due", b.due),
            ("when", b.when),
        ],
    );
    if let Some(sat) = b.satisfaction {
        o.push(("satisfaction", OptionValue::Integer(sat)));
    }
    o.push(("owner", owner(&c, "owner_id", b.owner_id)?));
    let reply = run(&s, &c, &headers, "contact", Some("log"), o).await?;
    let id = record(&reply)?;
    let row = begin(&s)
        .await?
        .api_activity(c.0.workspace_id, id)
        .await
        .map_err(store_problem)?
        .ok_or_else(|| Problem::not_found("activity"))?;
    Ok(created(row))
}

#[utoipa::path(get, path = "/v1/products", params(ListQuery), responses((status = 200, body = ProductPage)))]
async fn list_products(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<Json<ProductPage>, Problem> {
    let ws = c.0.workspace_id;
    let f = filter(&s, ws, "p", &q).await?;
    let data = begin(&s)
        .await?
        .api_products(ws, &f)
        .await
        .map_err(store_problem)?;
    let next_cursor = next_cursor("p", &data, f.limit, |d| d.id);
    Ok(Json(ProductPage { data, next_cursor }))
}

#[utoipa::path(get, path = "/v1/products/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = ApiProduct), (status = 404, body = Problem)))]
async fn get_product(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<ApiProduct>, Problem> {
    let id = plain_id(&id, "P-", "product")?;
    begin(&s)
        .await?
        .api_product(c.0.workspace_id, id)
        .await
        .map_err(store_problem)?
        .map(Json)
        .ok_or_else(|| Problem::not_found("product"))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewProduct {
    name: String,
    /// List price in minor units.
    price_minor: i64,
}

#[utoipa::path(post, path = "/v1/products", request_body = NewProduct,
    responses((status = 201, body = ApiProduct), (status = 409, body = Problem)))]
async fn create_product(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    JsonBody(b): JsonBody<NewProduct>,
) -> Result<Response, Problem> {
    writable(&c)?;
    let ws = c.0.workspace_id;
    let o = vec![
        ("name", text(b.name)),
        ("price", amount(&s, ws, "price_minor", b.price_minor).await?),
    ];
    let reply = run(&s, &c, &headers, "product", Some("add"), o).await?;
    let id = record(&reply)?;
    let row = begin(&s)
        .await?
        .api_product(ws, id)
        .await
        .map_err(store_problem)?
        .ok_or_else(|| Problem::not_found("product"))?;
    Ok(created(row))
}

#[utoipa::path(get, path = "/v1/tasks", params(ListQuery), responses((status = 200, body = TaskPage)))]
async fn list_tasks(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<Json<TaskPage>, Problem> {
    let ws = c.0.workspace_id;
    let f = filter(&s, ws, "t", &q).await?;
    let data = begin(&s)
        .await?
        .api_tasks(ws, &f)
        .await
        .map_err(store_problem)?;
    let next_cursor = next_cursor("t", &data, f.limit, |d| d.id);
    Ok(Json(TaskPage { data, next_cursor }))
}

#[utoipa::path(get, path = "/v1/tasks/{id}", params(("id" = String, Path, description = "T-5 or 5")),
    responses((status = 200, body = ApiTask), (status = 404, body = Problem)))]
async fn get_task(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<ApiTask>, Problem> {
    let id = plain_id(&id, "T-", "task")?;
    begin(&s)
        .await?
        .api_task(c.0.workspace_id, id)
        .await
        .map_err(store_problem)?
        .map(Json)
        .ok_or_else(|| Problem::not_found("task"))
}

#[utoipa::path(post, path = "/v1/tasks/{id}/done", params(("id" = String, Path, description = "T-5 or 5")),
    responses((status = 200, body = ApiTask), (status = 404, body = Problem)))]
async fn finish_task(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<ApiTask>, Problem> {
    writable(&c)?;
    let id = plain_id(&id, "T-", "task")?;
    run(
        &s,
        &c,
        &headers,
        "tasks",
        Some("done"),
        vec![("task", text(format!("T-{id}")))],
    )
    .await?;
    begin(&s)
        .await?
        .api_task(c.0.workspace_id, id)
        .await
        .map_err(store_problem)?
        .map(Json)
        .ok_or_else(|| Problem::not_found("task"))
}

// ---------------------------------------------------------------------------------------------
// Reports

/// A report's parameters, as `salesbot report` takes them.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ReportQuery {
    /// this-week, last-week, this-month, last-month, this-quarter, last-quarter, this-year,
    /// last-year or all-time.
    period: Option<String>,
    /// First day of a custom period, e.g. 2026-01-01.
    from: Option<String>,
    /// Last day of a custom period.
    to: Option<String>,
    /// Only this member's figures (user id).
    member: Option<u64>,
    /// Trends: week or month.
    by: Option<String>,
}

#[utoipa::path(get, path = "/v1/reports/{kind}", params(
    ("kind" = String, Path, description = "pipeline, kpi, trends, products, customers or forecast"),
    ReportQuery),
    responses((status = 200, description = "The JSON `salesbot report --json` prints", body = Object),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn report(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    QueryParams(q): QueryParams<ReportQuery>,
) -> Result<Json<serde_json::Value>, Problem> {
    let kind = ReportKind::parse(&kind).ok_or_else(|| Problem::not_found("report"))?;
    let params = ReportParams {
        period: q.period,
        from: q.from,
        to: q.to,
        member: q.member,
        by: q.by,
    };
    let inv = reports::invocation(kind, &params);
    let options = inv
        .options
        .iter()
        .map(|(n, v)| (n.as_str(), v.clone()))
        .collect::<Vec<_>>();
    let reply = run(
        &s,
        &c,
        &headers,
        &inv.command,
        inv.subcommand.as_deref(),
        options,
    )
    .await?;
    reply.data.map(Json).ok_or_else(|| {
        Problem::text(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            reply.content.clone(),
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Webhook endpoints: `/settings webhook` over HTTP (admins' write tokens)

#[utoipa::path(get, path = "/v1/webhooks", responses((status = 200, body = Vec<EndpointRow>)))]
async fn list_webhooks(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
) -> Result<Json<Vec<EndpointRow>>, Problem> {
    // Endpoint URLs often carry a receiver's own secret in their path or query: like adding
    // one, listing them takes a write token (the admin's `/settings webhook` in chat).
    writable(&c)?;
    begin(&s)
        .await?
        .webhook_endpoints(c.0.workspace_id)
        .await
        .map(Json)
        .map_err(store_problem)
}

/// A new endpoint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewWebhook {
    /// An https URL (private addresses only where the operator allows them).
    url: String,
    /// Event types, e.g. `["deal.won", "deal.lost"]`; `deal.*` or `all` for groups.
    events: Vec<String>,
}

/// A new endpoint and its signing secret, shown only in this answer.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AddedWebhook {
    endpoint: EndpointRow,
    /// `whsec_...`: verify each delivery's `webhook-signature` with it.
    secret: String,
}

#[utoipa::path(post, path = "/v1/webhooks", request_body = NewWebhook,
    responses((status = 201, body = AddedWebhook), (status = 422, body = Problem)))]
async fn add_webhook(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    JsonBody(b): JsonBody<NewWebhook>,
) -> Result<Response, Problem> {
    writable(&c)?;
    let o = vec![
        ("action", text("add")),
        ("url", text(b.url)),
        ("events", text(b.events.join(","))),
    ];
    let reply = run(&s, &c, &headers, "settings", Some("webhook"), o).await?;
    let id = record(&reply)?;
    let secret = reply
        .data
        .as_ref()
        .and_then(|d| d["secret"].as_str())
        .unwrap_or_default()
        .to_string();
    let endpoint = begin(&s)
        .await?
        .webhook_endpoint(c.0.workspace_id, id)
        .await
        .map_err(store_problem)?
        .ok_or_else(|| Problem::not_found("webhook"))?;
    Ok(created(AddedWebhook { endpoint, secret }))
}

fn endpoint_id(id: &str) -> Result<i64, Problem> {
    plain_id(id, "W-", "webhook")
}

#[utoipa::path(delete, path = "/v1/webhooks/{id}", params(("id" = String, Path, description = "W-3 or 3")),
    responses((status = 204), (status = 404, body = Problem)))]
async fn remove_webhook(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    writable(&c)?;
    let id = endpoint_id(&id)?;
    let o = vec![
        ("action", text("remove")),
        ("endpoint", OptionValue::Integer(id)),
    ];
    run(&s, &c, &headers, "settings", Some("webhook"), o).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/webhooks/{id}/redeliver", params(("id" = String, Path, description = "W-3 or 3")),
    responses((status = 202), (status = 404, body = Problem)))]
async fn redeliver_endpoint(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    writable(&c)?;
    let id = endpoint_id(&id)?;
    let o = vec![
        ("action", text("redeliver")),
        ("endpoint", OptionValue::Integer(id)),
    ];
    run(&s, &c, &headers, "settings", Some("webhook"), o).await?;
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(post, path = "/v1/webhook-events/{id}/redeliver", params(("id" = String, Path, description = "The event's webhook-id, msg_...")),
    responses((status = 202), (status = 404, body = Problem)))]
async fn redeliver_event(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    writable(&c)?;
    let o = vec![("action", text("redeliver")), ("event", text(id))];
    run(&s, &c, &headers, "settings", Some("webhook"), o).await?;
    Ok(StatusCode::ACCEPTED)
}

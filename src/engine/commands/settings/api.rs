//! `/settings api`: an admin's API tokens. The token's text is shown once, only to the admin
//! who made it; afterwards the list shows names, scopes and when each was last used.

use crate::domain::token::Scope;
use crate::engine::ctx::Ctx;
use crate::engine::errors;
use crate::engine::manifest::Args;
use crate::engine::reply::Embed;
use crate::engine::{tokens, EngineResult, Reply};
use crate::i18n::Msg;
use crate::store::Tx;

/// What `/settings api` was asked.
#[derive(Clone, Debug)]
pub enum ApiAction {
    Create { name: String, scope: Scope },
    List,
    Revoke(String),
}

impl ApiAction {
    pub fn parse(args: &Args) -> EngineResult<ApiAction> {
        let name = args.str("name").map(str::trim).filter(|n| !n.is_empty());
        let needed = |action: &str| {
            errors::option(
                "name",
                Msg::new("problem.needed_for").arg("action", action),
                Msg::new("accepted.token_name").arg("max", tokens::MAX_NAME_CHARS),
            )
        };
        Ok(match args.str("action").unwrap_or("list") {
            "create" => ApiAction::Create {
                name: name.ok_or_else(|| needed("create"))?.to_string(),
                scope: args
                    .str("scope")
                    .and_then(Scope::parse)
                    .unwrap_or(Scope::Read),
            },
            "revoke" => ApiAction::Revoke(name.ok_or_else(|| needed("revoke"))?.to_string()),
            _ => ApiAction::List,
        })
    }
}

pub async fn run(tx: &mut Tx, ctx: &mut Ctx, a: ApiAction) -> EngineResult<Reply> {
    ctx.require_admin()?;
    match a {
        ApiAction::Create { name, scope } => {
            let made =
                tokens::create_in(tx, ctx.ws_id(), &name, scope, Some(ctx.actor), ctx.now).await?;
            // The text goes only to the admin who asked, and only now.
            Ok(Reply::private(
                ctx.m(Msg::new("api.token_created")
                    .arg("name", ctx.esc(&made.row.name))
                    .arg("scope", made.row.scope.as_str())
                    .arg("token", &made.text)),
            ))
        }
        ApiAction::Revoke(which) => {
            let row = tokens::revoke_in(tx, ctx.ws_id(), &which, ctx.now).await?;
            Ok(Reply::private(ctx.m(
                Msg::new("api.token_revoked").arg("name", ctx.esc(&row.name)),
            )))
        }
        ApiAction::List => {
            let rows = tx.tokens(ctx.ws_id()).await?;
            if rows.is_empty() {
                return Ok(Reply::private(ctx.t("api.tokens_none")));
            }
            let lines: Vec<String> = rows
                .iter()
                .map(|t| {
                    let used = t
                        .last_used_at
                        .map(|at| ctx.time(at))
                        .unwrap_or_else(|| ctx.t("api.never_used"));
                    ctx.m(Msg::new("api.token_line")
                        .arg("id", t.id)
                        .arg("name", ctx.esc(&t.name))
                        .arg("scope", t.scope.as_str())
                        // A maker shown as a mention (replies never ping): the one whose
                        // admin role the token stands on, and whom to ask when they leave.
                        .arg(
                            "maker",
                            t.created_by.map_or_else(
                                || ctx.t("api.token_server_made"),
                                |u| format!("<@{u}>"),
                            ),
                        )
                        .arg("created", ctx.time(t.created_at))
                        .arg("used", used))
                })
                .collect();
            let embed = Embed::new(ctx.t("api.tokens_title")).description(lines.join("\n"));
            Ok(Reply {
                ephemeral: true,
                ..Reply::default().with_embed(embed)
            })
        }
    }
}

//! `/help`: built from the manifests, so it always describes what the engine accepts.

use crate::engine::ctx::Ctx;
use crate::engine::manifest::{kind, Manifests};
use crate::engine::reply::Embed;
use crate::engine::Reply;

fn localized(
    map: &std::collections::BTreeMap<String, String>,
    fallback: &str,
    ctx: &Ctx,
) -> String {
    map.get(ctx.locale.tag())
        .cloned()
        .unwrap_or_else(|| fallback.to_string())
}

pub(super) fn help(ctx: &Ctx, manifests: &Manifests, command: Option<&str>) -> Reply {
    let Some(name) = command else {
        let lines = manifests
            .commands()
            .iter()
            .map(|c| {
                format!(
                    "**/{}** · {}",
                    c.name,
                    localized(&c.description_localizations, &c.description, ctx)
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        let embed = Embed::new(ctx.t("help.title"))
            .description(lines)
            .footer(ctx.t("help.footer"));
        return Reply {
            ephemeral: true,
            ..Reply::default()
        }
        .with_embed(embed);
    };
    let Some(spec) = manifests.command(name) else {
        return Reply::private(ctx.t("help.title"));
    };
    let mut embed = Embed::new(format!(
        "/{} · {}",
        spec.name,
        localized(&spec.description_localizations, &spec.description, ctx)
    ));
    let option_line = |o: &crate::engine::manifest::OptionSpec| {
        let req = if o.required {
            ctx.t("help.required")
        } else {
            ctx.t("help.optional")
        };
        format!(
            "`{}` ({}) {}",
            o.name,
            req,
            localized(&o.description_localizations, &o.description, ctx)
        )
    };
    let subs: Vec<_> = spec
        .options
        .iter()
        .filter(|o| o.kind == kind::SUB_COMMAND)
        .collect();
    if subs.is_empty() {
        let body = spec
            .options
            .iter()
            .map(option_line)
            .collect::<Vec<_>>()
            .join("\n");
        embed = embed.description(if body.is_empty() {
            ctx.t("help.no_options")
        } else {
            body
        });
    } else {
        for sub in subs {
            let body = sub
                .options
                .iter()
                .map(option_line)
                .collect::<Vec<_>>()
                .join("\n");
            embed = embed.field(
                format!(
                    "/{} {} · {}",
                    spec.name,
                    sub.name,
                    localized(&sub.description_localizations, &sub.description, ctx)
                ),
                if body.is_empty() {
                    ctx.t("help.no_options")
                } else {
                    body
                },
            );
        }
    }
    let example_key = format!("help.example.{}", spec.name);
    embed = embed.footer(ctx.t(&example_key));
    Reply {
        ephemeral: true,
        ..Reply::default()
    }
    .with_embed(embed)
}

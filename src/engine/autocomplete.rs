//! Suggestions while someone types an option (Discord's autocomplete). Read-only, scoped to the
//! workspace and to what the caller may see, at most 25 choices (Discord's limit).

use super::{Engine, EngineResult, RoleSource};
use crate::domain::role::Visibility;
use crate::domain::stage::StageKind;

/// Discord shows at most this many choices.
const MAX_CHOICES: usize = 25;
/// Discord refuses choice names and values longer than this.
const MAX_CHOICE_CHARS: usize = 100;

/// What the caller is typing.
#[derive(Clone, Debug)]
pub struct AutocompleteRequest {
    /// Workspace (guild).
    pub workspace_id: i64,
    /// Who is typing.
    pub user_id: i64,
    /// What is known of their role.
    pub role: RoleSource,
    /// Command name.
    pub command: String,
    /// Subcommand, if any.
    pub subcommand: Option<String>,
    /// The option being typed.
    pub option: String,
    /// What has been typed so far.
    pub value: String,
}

/// One suggestion.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    /// Shown in the list.
    pub name: String,
    /// Sent as the option's value when picked.
    pub value: String,
}

/// Choices show no markup; hidden characters are dropped before the cut.
fn clip(s: &str) -> String {
    crate::domain::text::visible(s)
        .chars()
        .take(MAX_CHOICE_CHARS)
        .collect()
}

impl Engine {
    /// Suggestions for the option being typed; empty when there is nothing to suggest.
    #[tracing::instrument(skip_all, fields(workspace = req.workspace_id, option = %req.option))]
    pub async fn autocomplete(&self, req: AutocompleteRequest) -> Vec<Choice> {
        match self.suggest(&req).await {
            Ok(choices) => choices,
            Err(e) => {
                // Suggestions are a convenience: on failure show none, the command still validates.
                tracing::warn!(error = %e, "autocomplete failed");
                Vec::new()
            }
        }
    }

    async fn suggest(&self, req: &AutocompleteRequest) -> EngineResult<Vec<Choice>> {
        let q = req.value.trim().to_lowercase();
        if req.option == "zone" {
            let mut zones: Vec<&str> = chrono_tz::TZ_VARIANTS
                .iter()
                .map(|tz| tz.name())
                .filter(|n| n.to_lowercase().contains(&q))
                .collect();
            zones.sort_by_key(|n| (!n.to_lowercase().starts_with(&q), n.len()));
            return Ok(zones
                .into_iter()
                .take(MAX_CHOICES)
                .map(|z| Choice {
                    name: z.into(),
                    value: z.into(),
                })
                .collect());
        }
        // Suggestions may be a moment behind: from the replica when there is one, unwaited.
        let (mut tx, _) = self.store.begin_read(None).await?;
        let Some(ws) = tx.workspace(req.workspace_id).await? else {
            return Ok(Vec::new());
        };
        let role = req.role.resolve(ws.manager_role_id);
        let owner = Visibility::stored(&ws.visibility).owner_filter(role, req.user_id);
        let limit = MAX_CHOICES as i64;
        let found = match req.option.as_str() {
            "deal" => tx.suggest_deals(ws.id, &q, owner, limit).await?,
            "contact" => tx.suggest_contacts(ws.id, &q, owner, limit).await?,
            "company" => tx.suggest_companies(ws.id, &q, owner, limit).await?,
            "task" => tx.suggest_tasks(ws.id, req.user_id, &q, limit).await?,
            "product" => {
                let mut names: Vec<String> = tx
                    .products(ws.id)
                    .await?
                    .into_iter()
                    .map(|p| p.name)
                    .filter(|n| n.to_lowercase().contains(&q))
                    .collect();
                names.sort_by_key(|n| !n.to_lowercase().starts_with(&q));
                return Ok(names
                    .into_iter()
                    .take(MAX_CHOICES)
                    .map(|n| Choice {
                        name: clip(&n),
                        value: clip(&n),
                    })
                    .collect());
            }
            "stage" => {
                let stages = tx.stages(ws.id).await?;
                // New deals and moves go to open stages; Won and Lost have their own commands.
                let open_only = (req.command == "deal"
                    && matches!(req.subcommand.as_deref(), Some("new")))
                    || req.command == "forecast";
                let mut names: Vec<(f64, String)> = stages
                    .into_iter()
                    .filter(|s| !open_only || s.kind == StageKind::Open.as_str())
                    .map(|s| {
                        let lower = s.name.to_lowercase();
                        let score = if q.is_empty() || lower.starts_with(&q) {
                            2.0
                        } else if lower.contains(&q) {
                            1.5
                        } else {
                            strsim::jaro_winkler(&q, &lower)
                        };
                        (score, s.name)
                    })
                    .filter(|(score, _)| *score > 0.7)
                    .collect();
                names.sort_by(|a, b| b.0.total_cmp(&a.0));
                return Ok(names
                    .into_iter()
                    .take(MAX_CHOICES)
                    .map(|(_, n)| Choice {
                        name: clip(&n),
                        value: n,
                    })
                    .collect());
            }
            _ => Vec::new(),
        };
        Ok(found
            .into_iter()
            .take(MAX_CHOICES)
            .map(|s| Choice {
                name: clip(&s.label),
                value: clip(&s.value),
            })
            .collect())
    }
}

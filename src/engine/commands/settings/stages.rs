//! `/settings stages`: the pipeline's stages listed, added, renamed, reweighted, moved, given
//! their own stale threshold and removed, each change audited and undoable.

use crate::domain::stage::{same_name, Stage, StageKind, StageName};
use crate::engine::ctx::Ctx;
use crate::engine::errors;
use crate::engine::format::escape;
use crate::engine::{EngineError, EngineResult, Reply};
use crate::i18n::Msg;
use crate::store::{AuditAction, Entity, StageRow, Tx};

/// The parsed `/settings stages` actions.
#[derive(Clone, Debug)]
pub enum StagesAction {
    /// Show the pipeline.
    List,
    /// Add an open stage.
    Add {
        name: StageName,
        probability: i16,
        position: Option<i32>,
    },
    /// Rename a stage.
    Rename { stage: Stage, name: StageName },
    /// Change an open stage's win probability.
    Probability { stage: Stage, probability: i16 },
    /// Move an open stage to another position.
    Move { stage: Stage, position: i32 },
    /// Remove an unused open stage.
    Remove { stage: Stage },
    /// Days without activity before a deal in this stage is stale.
    Stale { stage: Stage, days: i32 },
}

pub(super) fn stages_text(ctx: &Ctx) -> String {
    ctx.stages
        .iter()
        .map(|s| {
            format!(
                "{}. {} · {}% · {}",
                s.position,
                escape(&s.name),
                s.probability,
                ctx.t(&format!("stage_kind.{}", s.kind.as_str()))
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// How one existing stage changes; every change is snapshotted first so `/undo` can restore it.
enum StageWrite {
    /// New name, position or probability.
    Update {
        name: String,
        position: i32,
        probability: i16,
    },
    /// Its own stale threshold.
    Stale(i32),
    /// Gone (only an unused open stage).
    Delete,
}

async fn change_stage(
    tx: &mut Tx,
    ctx: &mut Ctx,
    stage: &Stage,
    write: StageWrite,
) -> EngineResult<()> {
    let before = ctx.before(tx, Entity::Stage, stage.id).await?;
    match write {
        StageWrite::Update {
            name,
            position,
            probability,
        } => {
            // A name or probability this command leaves as the request found it takes the
            // locked row's: another admin's rename or probability committed since is kept, not
            // written back. (Positions are the whole order a reorder writes.)
            let newest = |field: &str| before.as_ref().map(|b| b[field].clone());
            let name = match newest("name").and_then(|v| v.as_str().map(String::from)) {
                Some(current) if name == stage.name => current,
                _ => name,
            };
            let probability = match newest("probability").and_then(|v| v.as_i64()) {
                Some(current) if probability == stage.probability => {
                    i16::try_from(current).unwrap_or(probability)
                }
                _ => probability,
            };
            let row = StageRow {
                id: stage.id,
                name,
                position,
                probability,
                kind: stage.kind.as_str().into(),
            };
            tx.update_stage(ctx.ws_id(), &row).await?;
        }
        StageWrite::Stale(days) => tx.set_stage_stale_days(ctx.ws_id(), stage.id, days).await?,
        StageWrite::Delete => tx.delete_stage(ctx.ws_id(), stage.id).await?,
    }
    ctx.audit(
        tx,
        AuditAction::SettingsStages,
        Entity::Stage,
        stage.id,
        before,
    )
    .await
}

/// Writes the given stage order: open stages first, in the given order, then won and lost.
async fn renumber(tx: &mut Tx, ctx: &mut Ctx, open: Vec<Stage>) -> EngineResult<()> {
    let closed: Vec<Stage> = ctx
        .stages
        .iter()
        .filter(|s| s.kind != StageKind::Open)
        .cloned()
        .collect();
    for (i, s) in open.into_iter().chain(closed).enumerate() {
        let position = i as i32 + 1;
        if s.position != position {
            let write = StageWrite::Update {
                name: s.name.clone(),
                position,
                probability: s.probability,
            };
            change_stage(tx, ctx, &s, write).await?;
        }
    }
    // The furthest stage a deal reached is kept by position; a new order changes it.
    tx.recompute_furthest(ctx.ws_id()).await?;
    Ok(())
}

/// Refuses a name the matcher could not tell from another stage's (`Presale` next to
/// `Pre_sale`), so every stage stays reachable by typing its name.
fn name_free(ctx: &Ctx, name: &StageName, renaming: Option<i64>) -> EngineResult<()> {
    let Some(taken) = ctx
        .stages
        .iter()
        .find(|s| Some(s.id) != renaming && same_name(&s.name, name.as_str()))
    else {
        return Ok(());
    };
    Err(EngineError::Conflict(
        if taken.name.eq_ignore_ascii_case(name.as_str()) {
            Msg::new("error.stage_exists").arg("name", escape(name.as_str()))
        } else {
            Msg::new("error.stage_name_taken")
                .arg("name", escape(name.as_str()))
                .arg("existing", escape(&taken.name))
        },
    ))
}

fn require_open(stage: &Stage) -> EngineResult<()> {
    if stage.kind == StageKind::Open {
        Ok(())
    } else {
        Err(errors::option(
            "stage",
            Msg::new("problem.closed_stage").arg("given", escape(&stage.name)),
            Msg::new("accepted.open_stage"),
        ))
    }
}

pub(super) async fn stages(
    tx: &mut Tx,
    ctx: &mut Ctx,
    action: StagesAction,
) -> EngineResult<Reply> {
    if !matches!(action, StagesAction::List) {
        ctx.require_admin()?;
    }
    let mut open: Vec<Stage> = ctx
        .stages
        .iter()
        .filter(|s| s.kind == StageKind::Open)
        .cloned()
        .collect();
    let message = match action {
        StagesAction::List => {
            return Ok(Reply::private(stages_text(ctx)));
        }
        StagesAction::Add {
            name,
            probability,
            position,
        } => {
            name_free(ctx, &name, None)?;
            // Appended after the open stages first, then placed where asked.
            let id = tx
                .insert_stage(ctx.ws_id(), name.as_str(), 1000, probability)
                .await?;
            ctx.audit(tx, AuditAction::SettingsStages, Entity::Stage, id, None)
                .await?;
            let stage = Stage {
                id,
                name: name.as_str().to_string(),
                position: 1000,
                probability,
                kind: StageKind::Open,
            };
            let at = position
                .map(|p| (p.max(1) as usize - 1).min(open.len()))
                .unwrap_or(open.len());
            open.insert(at, stage);
            renumber(tx, ctx, open).await?;
            Msg::new("settings.stage_added").arg("name", escape(name.as_str()))
        }
        StagesAction::Rename { stage, name } => {
            name_free(ctx, &name, Some(stage.id))?;
            let write = StageWrite::Update {
                name: name.as_str().into(),
                position: stage.position,
                probability: stage.probability,
            };
            change_stage(tx, ctx, &stage, write).await?;
            Msg::new("settings.stage_renamed")
                .arg("old", escape(&stage.name))
                .arg("name", escape(name.as_str()))
        }
        StagesAction::Probability { stage, probability } => {
            require_open(&stage)?;
            let write = StageWrite::Update {
                name: stage.name.clone(),
                position: stage.position,
                probability,
            };
            change_stage(tx, ctx, &stage, write).await?;
            Msg::new("settings.stage_probability")
                .arg("name", escape(&stage.name))
                .arg("probability", probability)
        }
        StagesAction::Move { stage, position } => {
            require_open(&stage)?;
            open.retain(|s| s.id != stage.id);
            let at = (position.max(1) as usize - 1).min(open.len());
            open.insert(at, stage.clone());
            renumber(tx, ctx, open).await?;
            Msg::new("settings.stage_moved")
                .arg("name", escape(&stage.name))
                .arg("position", at + 1)
        }
        StagesAction::Stale { stage, days } => {
            require_open(&stage)?;
            change_stage(tx, ctx, &stage, StageWrite::Stale(days)).await?;
            Msg::new("settings.stage_stale")
                .arg("name", escape(&stage.name))
                .count("days", days)
        }
        StagesAction::Remove { stage } => {
            require_open(&stage)?;
            if open.len() <= 1 {
                return Err(EngineError::Conflict(Msg::new("error.last_open_stage")));
            }
            let used = tx.stage_usage(ctx.ws_id(), stage.id).await?;
            if used > 0 {
                return Err(EngineError::Conflict(
                    Msg::new("error.stage_in_use")
                        .arg("name", escape(&stage.name))
                        .count("count", used),
                ));
            }
            change_stage(tx, ctx, &stage, StageWrite::Delete).await?;
            ctx.stages.retain(|s| s.id != stage.id);
            open.retain(|s| s.id != stage.id);
            renumber(tx, ctx, open).await?;
            Msg::new("settings.stage_removed").arg("name", escape(&stage.name))
        }
    };
    ctx.stages = tx
        .stages(ctx.ws_id())
        .await?
        .into_iter()
        .map(StageRow::into_stage)
        .collect();
    Ok(Reply::text(format!(
        "{}\n{}",
        ctx.m(message),
        stages_text(ctx)
    )))
}

//! The local console: slash commands typed at a prompt (or piped in), answered by the same
//! engine that serves Discord. Lines starting with `:` control the session itself.

mod cli;
mod import;
pub use import::{import, ImportQuery};

pub use cli::{
    export, report, run_stdin, ExportChoice, ExportFormat, ExportQuery, ReportKind, ReportQuery,
};

use crate::domain::locale::Locale;
use crate::domain::role::Role;
use crate::engine::{Action, Engine, Invocation, Reply, Request};
use crate::i18n::Msg;
use crate::outbox::{Deliver, DeliveryError, Outgoing, Target as Dest};
use chrono::{DateTime, Utc};
use serde_json::json;

/// Where a printed message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// An answer to the line just typed.
    Reply,
    /// A direct message to a member.
    Dm,
    /// A post in a channel.
    Channel,
}

impl Target {
    fn as_str(self) -> &'static str {
        match self {
            Target::Reply => "reply",
            Target::Dm => "dm",
            Target::Channel => "channel",
        }
    }
}

/// One message the console prints.
#[derive(Clone, Debug)]
pub struct Output {
    /// Where it went.
    pub to: Target,
    /// The member it concerns (the caller for replies, the recipient for DMs).
    pub user: i64,
    /// The channel, when there is one.
    pub channel: Option<i64>,
    /// The message.
    pub reply: Reply,
}

/// How the console starts.
#[derive(Clone, Debug)]
pub struct ConsoleOptions {
    /// Workspace to act in.
    pub workspace: i64,
    /// Member to act as.
    pub user: i64,
    /// Their role.
    pub role: Role,
    /// Print one JSON object per message.
    pub json: bool,
}

/// A console session.
pub struct Console {
    engine: Engine,
    workspace: i64,
    user: i64,
    role: Role,
    locale: Option<Locale>,
    clock: Option<DateTime<Utc>>,
    json: bool,
}

/// Delivers into memory, so the console prints what the bot would send.
#[derive(Default)]
struct Collector {
    sent: std::sync::Mutex<Vec<Outgoing>>,
    next_id: std::sync::atomic::AtomicU64,
}

impl Deliver for Collector {
    async fn deliver(&self, m: &Outgoing) -> Result<u64, DeliveryError> {
        if let Ok(mut sent) = self.sent.lock() {
            sent.push(m.clone());
        }
        Ok(1 + self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst))
    }
}

/// The channel id the console pretends its commands come from.
pub const CONSOLE_CHANNEL: i64 = 1;

fn meta_error(locale: Locale, msg: Msg) -> Reply {
    Reply::private(format!("⚠️ {}", msg.render(locale)))
}

/// Splits a line into words; `name:"two words"` stays one word with the quotes removed.
pub fn tokenize(line: &str) -> Result<Vec<String>, Msg> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    let mut started = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_quotes && matches!(chars.peek(), Some('"') | Some('\\')) => {
                current.push(chars.next().unwrap_or('\\'));
            }
            '"' => {
                in_quotes = !in_quotes;
                started = true;
            }
            c if c.is_whitespace() && !in_quotes => {
                if started {
                    words.push(std::mem::take(&mut current));
                    started = false;
                }
            }
            c => {
                current.push(c);
                started = true;
            }
        }
    }
    if in_quotes {
        return Err(Msg::new("console.unterminated_quote"));
    }
    if started {
        words.push(current);
    }
    Ok(words)
}

/// A file named in a command, as an attachment option.
fn read_file(path: &str) -> Result<crate::engine::OptionValue, crate::engine::EngineError> {
    let path = std::path::Path::new(path);
    let bytes = std::fs::read(path).map_err(|e| {
        crate::engine::EngineError::Invalid(
            Msg::new("console.file_unreadable")
                .arg(
                    "path",
                    crate::engine::format::escape(&path.display().to_string()),
                )
                .arg("reason", e),
        )
    })?;
    let filename = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    Ok(crate::engine::OptionValue::Attachment(
        crate::engine::FileValue {
            filename,
            bytes: std::sync::Arc::new(bytes),
        },
    ))
}

impl Console {
    /// Starts a session.
    pub fn new(engine: Engine, options: ConsoleOptions) -> Console {
        Console {
            engine,
            workspace: options.workspace,
            user: options.user,
            role: options.role,
            locale: None,
            clock: None,
            json: options.json,
        }
    }

    /// The console's clock: the time set with `:now`, else the real time.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.unwrap_or_else(Utc::now)
    }

    fn locale(&self) -> Locale {
        self.locale.unwrap_or_default()
    }

    fn reply(&self, reply: Reply) -> Vec<Output> {
        vec![Output {
            to: Target::Reply,
            user: self.user,
            channel: Some(CONSOLE_CHANNEL),
            reply,
        }]
    }

    fn info(&self, msg: Msg) -> Vec<Output> {
        self.reply(Reply::private(msg.render(self.locale())))
    }

    /// The answer to a line that is not valid UTF-8: what was wrong, and the session goes on.
    pub fn not_utf8(&self) -> Vec<Output> {
        self.reply(meta_error(self.locale(), Msg::new("console.not_utf8")))
    }

    /// Handles one line and returns what to print.
    pub async fn handle_line(&mut self, line: &str) -> Vec<Output> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return Vec::new();
        }
        if let Some(rest) = line.strip_prefix(':') {
            return self.meta(rest).await;
        }
        if !line.starts_with('/') {
            return self.reply(meta_error(self.locale(), Msg::new("console.not_a_command")));
        }
        match self.parse_command(line) {
            Ok(inv) => self.send(Action::Command(inv)).await,
            Err(e) => {
                // Name the options as the reader's Discord would, like the engine's own errors.
                let mut words = line.split_whitespace();
                let command = words.next().unwrap_or_default().trim_start_matches('/');
                let command = command.to_lowercase();
                let sub = words
                    .next()
                    .filter(|w| !w.contains(':'))
                    .map(str::to_lowercase);
                let path = Some((command.as_str(), sub.as_deref()));
                self.reply(self.engine.error_reply(&e, path, self.locale()))
            }
        }
    }

    /// Parses `/deal move deal:D-3 stage:Negotiation` the way Discord's client would type it.
    fn parse_command(&self, line: &str) -> Result<Invocation, crate::engine::EngineError> {
        let words = tokenize(line).map_err(crate::engine::EngineError::Invalid)?;
        let mut words = words.into_iter();
        let command = words
            .next()
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_lowercase();
        let manifests = self.engine.manifests();
        let spec = manifests.command(&command).ok_or_else(|| {
            manifests.option_specs(&command, None).err().unwrap_or(
                crate::engine::EngineError::Invalid(Msg::new("console.not_a_command")),
            )
        })?;
        let has_subs = spec
            .options
            .iter()
            .any(|o| o.kind == crate::engine::manifest::kind::SUB_COMMAND);
        let mut rest: Vec<String> = words.collect();
        let subcommand = if has_subs && rest.first().is_some_and(|w| !w.contains(':')) {
            Some(rest.remove(0).to_lowercase())
        } else {
            None
        };
        // The subcommand is checked before the options, so the error names what is wrong first.
        // A command without subcommands and with a single option takes it bare: `/help deal`
        // is `/help command:deal`.
        let specs = manifests.option_specs(&command, subcommand.as_deref())?;
        let only = match specs {
            [one] if !has_subs => Some(&one.name),
            _ => None,
        };
        let mut options = Vec::new();
        for word in rest {
            let word = match only {
                Some(name) if !word.contains(':') => format!("{name}:{word}"),
                _ => word,
            };
            let Some((name, value)) = word.split_once(':') else {
                return Err(crate::engine::EngineError::Invalid(
                    Msg::new("console.expected_option").arg("given", &word),
                ));
            };
            let name = name.to_lowercase();
            let is_file = specs
                .iter()
                .any(|s| s.name == name && s.kind == crate::engine::manifest::kind::ATTACHMENT);
            let value = if is_file {
                // The console's attachment is a path on this machine, read here so the engine
                // gets bytes, as from Discord.
                read_file(value)?
            } else {
                manifests.typed_value(&command, subcommand.as_deref(), &name, value)?
            };
            options.push((name, value));
        }
        Ok(Invocation {
            command,
            subcommand,
            options,
        })
    }

    async fn send(&mut self, action: Action) -> Vec<Output> {
        let req = Request {
            workspace_id: self.workspace,
            user_id: self.user,
            display_name: None,
            role: crate::engine::RoleSource::Known(self.role),
            locale: self.locale,
            channel_id: Some(CONSOLE_CHANNEL),
            interaction_id: None,
            idempotency: None,
            now: self.now(),
            action,
            in_dm: false,
            guild_members: Vec::new(),
        };
        match self.engine.handle(req).await {
            Some(reply) => self.reply(reply),
            None => Vec::new(),
        }
    }

    async fn meta(&mut self, rest: &str) -> Vec<Output> {
        let words: Vec<&str> = rest.split_whitespace().collect();
        let locale = self.locale();
        match words.as_slice() {
            ["as", user] | ["as", user, _] => {
                let Ok(id) = user
                    .trim_start_matches("<@")
                    .trim_end_matches('>')
                    .parse::<i64>()
                else {
                    return self.reply(meta_error(
                        locale,
                        Msg::new("console.bad_user").arg("given", *user),
                    ));
                };
                let role = match words.get(2) {
                    None => Role::Rep,
                    Some(r) => match Role::parse(r) {
                        Some(role) => role,
                        None => {
                            return self.reply(meta_error(
                                locale,
                                Msg::new("console.bad_role").arg("given", *r),
                            ))
                        }
                    },
                };
                self.user = id;
                self.role = role;
                self.info(
                    Msg::new("console.acting_as")
                        .arg("user", id)
                        .arg("role", role.as_str()),
                )
            }
            ["workspace", id] => match id.parse::<i64>() {
                Ok(ws) if ws > 0 => {
                    self.workspace = ws;
                    self.info(Msg::new("console.workspace").arg("workspace", ws))
                }
                _ => self.reply(meta_error(
                    locale,
                    Msg::new("console.bad_workspace").arg("given", *id),
                )),
            },
            ["click", id] => self.send(Action::Click(id.to_string())).await,
            ["submit", id, ..] => {
                // `:submit deal:lost:3 reason:"went elsewhere"`: fields as name:value words.
                let rest = rest.trim_start().trim_start_matches("submit").trim_start();
                let words = match tokenize(rest) {
                    Ok(w) => w,
                    Err(msg) => return self.reply(meta_error(locale, msg)),
                };
                let mut fields = Vec::new();
                for word in words.iter().skip(1) {
                    match word.split_once(':') {
                        Some((k, v)) => fields.push((k.to_string(), v.to_string())),
                        None => {
                            return self.reply(meta_error(
                                locale,
                                Msg::new("console.expected_option").arg("given", word),
                            ))
                        }
                    }
                }
                self.send(Action::Submit {
                    custom_id: id.to_string(),
                    fields,
                })
                .await
            }
            ["now"] => {
                if self.clock.is_some_and(|c| c > Utc::now()) {
                    self.clock_moved_back().await;
                }
                self.clock = None;
                self.info(Msg::new("console.clock_real"))
            }
            ["now", time] => match DateTime::parse_from_rfc3339(time) {
                Ok(t) => {
                    let now = t.with_timezone(&Utc);
                    if now < self.now() {
                        self.clock_moved_back().await;
                    }
                    self.clock = Some(now);
                    let mut out =
                        self.info(Msg::new("console.clock_set").arg("time", now.to_rfc3339()));
                    out.extend(self.run_scheduled(now).await);
                    out
                }
                Err(_) => self.reply(meta_error(
                    locale,
                    Msg::new("console.bad_time").arg("given", *time),
                )),
            },
            ["locale", tag] => match Locale::from_tag(tag) {
                Some(l) => {
                    self.locale = Some(l);
                    self.info(Msg::new("console.locale").arg("locale", l.tag()))
                }
                None => self.reply(meta_error(
                    locale,
                    Msg::new("console.bad_locale").arg("given", *tag),
                )),
            },
            ["help"] => self.info(Msg::new("console.help")),
            _ => self.reply(meta_error(
                locale,
                Msg::new("console.unknown_meta").arg("given", rest),
            )),
        }
    }

    /// The agendas and digests are scheduled after the old time: worked out again from the
    /// new one (the slots already taken stay taken).
    async fn clock_moved_back(&self) {
        if let Err(e) = self.engine.store().reset_schedules().await {
            tracing::warn!(
                error = format!("{e:#}"),
                "could not reschedule agendas and digests"
            );
        }
    }

    /// Runs the scheduled work due up to `now` and delivers it here, as the bot would to
    /// Discord: each DM and channel post becomes an output.
    async fn run_scheduled(&self, now: DateTime<Utc>) -> Vec<Output> {
        let store = self.engine.store();
        let collector = Collector::default();
        let result = async {
            crate::scheduler::jobs::run_due(store, now).await?;
            loop {
                let pass = crate::outbox::deliver_due(store, &collector, now, 100).await?;
                if pass.settled() == 0 {
                    return anyhow::Ok(());
                }
            }
        }
        .await;
        if let Err(e) = result {
            if crate::store::StoreError::is_outage(&e) {
                tracing::warn!(error = ?e, "scheduled work waits for the database");
                return self.reply(meta_error(self.locale(), Msg::new("error.unavailable")));
            }
            tracing::error!(error = ?e, "scheduled work failed");
            return self.reply(meta_error(self.locale(), Msg::new("error.unexpected")));
        }
        let sent = collector.sent.lock().map(|s| s.clone()).unwrap_or_default();
        sent.into_iter()
            .map(|m| match m.target {
                Dest::Dm(user) => Output {
                    to: Target::Dm,
                    user: user as i64,
                    channel: None,
                    reply: m.reply,
                },
                Dest::Channel(channel) => Output {
                    to: Target::Channel,
                    user: self.user,
                    channel: Some(channel as i64),
                    reply: m.reply,
                },
            })
            .collect()
    }

    /// Formats one output for printing: a JSON line, or readable text.
    pub fn render(&self, out: &Output) -> String {
        if self.json {
            render_json(out).to_string()
        } else {
            render_text(out)
        }
    }
}

/// The JSON shape documented in the README: one object per message.
pub fn render_json(out: &Output) -> serde_json::Value {
    let r = &out.reply;
    json!({
        "to": out.to.as_str(),
        "user": out.user,
        "channel": out.channel,
        "ephemeral": r.ephemeral,
        "content": r.content,
        "embeds": r.embeds.iter().map(|e| json!({
            "title": e.title,
            "description": e.description,
            "fields": e.fields.iter().map(|f| json!({"name": f.name, "value": f.value, "inline": f.inline})).collect::<Vec<_>>(),
            "footer": e.footer,
        })).collect::<Vec<_>>(),
        "components": r.components.iter().map(|b| json!({"custom_id": b.custom_id, "label": b.label})).collect::<Vec<_>>(),
        "attachments": r.attachments.iter().map(|a| json!({"filename": a.filename, "content_type": a.content_type, "size": a.data.len()})).collect::<Vec<_>>(),
        "modal": r.modal.as_ref().map(|m| json!({
            "custom_id": m.custom_id,
            "title": m.title,
            "fields": m.fields.iter().map(|f| json!({"custom_id": f.custom_id, "label": f.label})).collect::<Vec<_>>(),
        })),
        "data": r.data,
    })
}

/// The reply as the console prints it.
pub fn render_text(out: &Output) -> String {
    let r = &out.reply;
    let mut lines = Vec::new();
    match out.to {
        Target::Reply if r.ephemeral => lines.push("(only you can see this)".to_string()),
        Target::Reply => {}
        Target::Dm => lines.push(format!("[DM to {}]", out.user)),
        Target::Channel => lines.push(format!("[#{}]", out.channel.unwrap_or_default())),
    }
    if !r.content.is_empty() {
        lines.push(r.content.clone());
    }
    for e in &r.embeds {
        lines.push(format!("┌─ {}", e.title));
        for l in e.description.lines() {
            lines.push(format!("│ {l}"));
        }
        for f in &e.fields {
            if f.value.contains('\n') {
                lines.push(format!("│ {}:", f.name));
                for l in f.value.lines() {
                    lines.push(format!("│   {l}"));
                }
            } else {
                lines.push(format!("│ {}: {}", f.name, f.value));
            }
        }
        if let Some(footer) = &e.footer {
            lines.push(format!("└─ {footer}"));
        } else {
            lines.push("└─".to_string());
        }
    }
    if !r.components.is_empty() {
        let buttons = r
            .components
            .iter()
            .map(|b| format!("[{}] :click {}", b.label, b.custom_id))
            .collect::<Vec<_>>();
        lines.push(buttons.join("   "));
    }
    if let Some(m) = &r.modal {
        lines.push(format!("┌─ {}", m.title));
        for f in &m.fields {
            lines.push(format!("│ {}: {}", f.custom_id, f.label));
        }
        let names = m
            .fields
            .iter()
            .map(|f| format!("{}:\"…\"", f.custom_id))
            .collect::<Vec<_>>()
            .join(" ");
        lines.push(format!("└─ :submit {} {names}", m.custom_id));
    }
    for a in &r.attachments {
        lines.push(format!(
            "📎 {} ({}, {} bytes)",
            a.filename,
            a.content_type,
            a.data.len()
        ));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::tokenize;

    #[test]
    fn lines_split_like_a_shell_but_only_on_double_quotes() {
        let cases: &[(&str, Option<&[&str]>)] = &[
            ("/deal show deal:D-3", Some(&["/deal", "show", "deal:D-3"])),
            (
                r#"/deal move deal:D-3 stage:Negotiation note:"sent contract""#,
                Some(&[
                    "/deal",
                    "move",
                    "deal:D-3",
                    "stage:Negotiation",
                    "note:sent contract",
                ]),
            ),
            (
                r#"/remind what:"say \"hi\"" when:"in 2 days""#,
                Some(&["/remind", "what:say \"hi\"", "when:in 2 days"]),
            ),
            ("  /help   ", Some(&["/help"])),
            (
                r#"/deal new title:"" amount:5"#,
                Some(&["/deal", "new", "title:", "amount:5"]),
            ),
            (
                r#"/contact log summary:"明天 再 联系""#,
                Some(&["/contact", "log", "summary:明天 再 联系"]),
            ),
            (
                "/deal new title:O'Brien amount:5",
                Some(&["/deal", "new", "title:O'Brien", "amount:5"]),
            ),
            (r#"/deal new title:"unclosed"#, None),
        ];
        for (line, want) in cases {
            let got = tokenize(line).ok();
            let want = want.map(|w| w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(got, want, "{line}");
        }
    }
}

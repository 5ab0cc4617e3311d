//! The `salesbot` binary: reads configuration, sets up logging, builds the engine and runs the
//! chosen front-end. The work is in the library.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use salesbot::config::{redact_url, Config};
use salesbot::console::{Console, ConsoleOptions};
use salesbot::domain::role::Role;
use salesbot::engine::Engine;
use salesbot::store::Store;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[derive(Parser)]
#[command(
    name = "salesbot",
    version,
    about = "A chat-native CRM for sales teams on Discord"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Type slash commands at a prompt (or pipe them in); no Discord needed.
    Console {
        /// Print each message as one JSON line.
        #[arg(long)]
        json: bool,
        /// Seed a demo workspace (once) and act in it.
        #[arg(long)]
        demo: bool,
        /// Workspace (guild) id to act in.
        #[arg(long)]
        workspace: Option<i64>,
        /// Member (user) id to act as.
        #[arg(long)]
        user: Option<i64>,
        /// Role of that member: rep, manager or admin.
        #[arg(long, default_value = "admin")]
        role: String,
    },
    /// Run the Discord bot (needs DISCORD_TOKEN).
    Run,
    /// Apply database migrations and exit.
    Migrate,
    /// Print a report for a workspace, as text or (--json) as plain numbers.
    Report {
        /// pipeline, kpi, trends, products, customers or forecast.
        #[arg(value_enum)]
        kind: ReportKind,
        /// Workspace (Discord guild) id.
        #[arg(long)]
        workspace: i64,
        /// this-week, last-week, this-month, last-month, this-quarter, last-quarter,
        /// this-year, last-year or all-time.
        #[arg(long)]
        period: Option<String>,
        /// First day of a custom period, e.g. 2026-01-01.
        #[arg(long)]
        from: Option<String>,
        /// Last day of a custom period.
        #[arg(long)]
        to: Option<String>,
        /// Only this member's deals (user id); kpi shows them alone.
        #[arg(long)]
        member: Option<i64>,
        /// Trend buckets: week or month.
        #[arg(long)]
        by: Option<String>,
        /// Print the figures as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ReportKind {
    Pipeline,
    Kpi,
    Trends,
    Products,
    Customers,
    Forecast,
}

impl ReportKind {
    /// The slash command that answers it, and the name of its member option.
    fn command(self) -> (&'static str, &'static str) {
        match self {
            ReportKind::Pipeline => ("/pipeline stats", "owner"),
            ReportKind::Kpi => ("/kpi", "member"),
            ReportKind::Trends => ("/report trends", "member"),
            ReportKind::Products => ("/report products", "member"),
            ReportKind::Customers => ("/report customers", "member"),
            ReportKind::Forecast => ("/forecast show", "member"),
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "warn,salesbot=info".into());
    // Logs go to stderr so the console's stdout stays clean for pipes and --json.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn connect(config: &Config) -> anyhow::Result<Store> {
    match Store::connect(&config.database_url).await {
        Ok(store) => Ok(store),
        Err(e) => {
            let url = redact_url(&config.database_url);
            let cause = e
                .chain()
                .last()
                .map(ToString::to_string)
                .unwrap_or_default();
            eprintln!(
                "salesbot: cannot use the database at {url} ({cause}); is PostgreSQL running? \
                 Start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` \
                 or set DATABASE_URL to a running server"
            );
            std::process::exit(2);
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_tracing();
    let cli = Cli::parse();
    let config = Config::from_env()?;
    // Plain `salesbot` runs the bot when it has a token, else the console with demo data.
    let command = cli.command.unwrap_or(if config.discord.is_some() {
        Cmd::Run
    } else {
        Cmd::Console {
            json: false,
            demo: true,
            workspace: None,
            user: None,
            role: "admin".into(),
        }
    });
    match command {
        Cmd::Run => {
            let Some(discord) = config.discord.clone() else {
                anyhow::bail!("DISCORD_TOKEN is not set; see README.md, \"Running on Discord\"");
            };
            let store = connect(&config).await?;
            let engine = Engine::new(store.clone())?;
            let bot = salesbot::discord::Bot::connect(discord.clone(), engine).await?;
            // Reminders, agendas and digests go out through the bot's own REST client.
            let scheduler = salesbot::scheduler::Scheduler::start(
                store.clone(),
                salesbot::discord::sender(&discord, store)?,
            )
            .await?;
            let result = bot.run(shutdown_signal()).await;
            scheduler.stop().await;
            result
        }
        Cmd::Migrate => {
            connect(&config).await?;
            eprintln!("salesbot: migrations applied");
            Ok(())
        }
        Cmd::Report {
            kind,
            workspace,
            period,
            from,
            to,
            member,
            by,
            json,
        } => {
            let (command, member_option) = kind.command();
            let mut line = command.to_string();
            let quoted = |v: &str| format!("\"{}\"", v.replace('"', ""));
            for (name, value) in [("period", period), ("from", from), ("to", to), ("by", by)] {
                if let Some(v) = value {
                    line.push_str(&format!(" {name}:{}", quoted(&v)));
                }
            }
            if let Some(m) = member {
                line.push_str(&format!(" {member_option}:<@{m}>"));
            }
            let store = connect(&config).await?;
            let engine = Engine::new(store)?;
            let options = ConsoleOptions {
                workspace,
                user: 0,
                role: Role::Admin,
                json,
            };
            let mut console = Console::new(engine, options).as_operator();
            let out = console.handle_line(&line).await;
            let Some(first) = out.first() else {
                anyhow::bail!("the report gave no answer");
            };
            if first.reply.ephemeral && first.reply.data.is_none() {
                // An error: what was wrong, in the console's words.
                eprintln!("{}", salesbot::console::render_text(first));
                std::process::exit(1);
            }
            if json {
                let data = first.reply.data.clone().unwrap_or_default();
                println!("{}", serde_json::to_string_pretty(&data)?);
            } else {
                println!("{}", salesbot::console::render_text(first));
            }
            Ok(())
        }
        Cmd::Console {
            json,
            demo,
            workspace,
            user,
            role,
        } => {
            let role = Role::parse(&role).context("--role must be rep, manager or admin")?;
            let store = connect(&config).await?;
            let (default_ws, default_user) = if demo {
                salesbot::demo::seed(&store, chrono::Utc::now())
                    .await
                    .context("failed to seed the demo workspace")?
            } else {
                (1, 1)
            };
            let engine = Engine::new(store)?;
            let options = ConsoleOptions {
                workspace: workspace.unwrap_or(default_ws),
                user: user.unwrap_or(default_user),
                role,
                json,
            };
            run_console(Console::new(engine, options), json).await
        }
    }
}

async fn run_console(mut console: Console, json: bool) -> anyhow::Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdout = tokio::io::stdout();
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stdin());
    if interactive && !json {
        stdout.write_all(b"salesbot console: type /help for commands, :help for console controls, ctrl-d to quit\n").await?;
    }
    loop {
        if interactive && !json {
            stdout.write_all(b"> ").await?;
            stdout.flush().await?;
        }
        let line = tokio::select! {
            line = lines.next_line() => line.context("failed to read stdin")?,
            _ = tokio::signal::ctrl_c() => None,
        };
        let Some(line) = line else { break };
        if matches!(line.trim(), ":quit" | ":q" | ":exit") {
            break;
        }
        for out in console.handle_line(&line).await {
            stdout.write_all(console.render(&out).as_bytes()).await?;
            stdout.write_all(b"\n").await?;
        }
        stdout.flush().await?;
    }
    Ok(())
}

/// Resolves on ctrl-c or SIGTERM (what `docker stop` and systemd send).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

//! The `salesbot` binary: reads configuration, sets up logging, builds the engine and runs the
//! chosen front-end. The work is in the library.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use salesbot::config::{redact_url, Config};
use salesbot::console::{Console, ConsoleOptions, ExportQuery, ImportQuery, ReportQuery};
use salesbot::domain::role::Role;
use salesbot::engine::Engine;
use salesbot::store::Store;

// Under load glibc's malloc was a third of the bot's CPU (perf, discord bench): every command
// allocates its JSON, rows and futures on one tokio worker and often frees them on the other,
// which glibc pays for in arena locks and consolidation. mimalloc is built with `no_thp`: where
// the kernel gives transparent huge pages on request, its arenas asked for them and the idle
// bot's resident memory rose from 21 to 34 MiB in 2 MiB steps.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Run the Discord bot (needs DISCORD_TOKEN) with the HTTP API on HTTP_ADDR.
    Run,
    /// Run the HTTP API alone (no Discord).
    Serve {
        /// Address to listen on (default: HTTP_ADDR, else 127.0.0.1:8080).
        #[arg(long)]
        http: Option<std::net::SocketAddr>,
    },
    /// Make, list or revoke HTTP API tokens.
    Token {
        #[command(subcommand)]
        action: TokenCmd,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Print a report for a workspace, as text or (--json) as plain numbers.
    Report {
        #[command(flatten)]
        query: ReportQuery,
        /// Print the figures as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Write a workspace's deals, contacts, companies or activities as CSV (stdout by default).
    Export {
        #[command(flatten)]
        query: ExportQuery,
    },
    /// Bring in files from HubSpot, Salesforce, Pipedrive, Zoho, salesbot or any spreadsheet
    /// (CSV, XLSX, XLS); --dry-run shows what would happen, --undo ID takes an import back.
    Import {
        #[command(flatten)]
        query: ImportQuery,
    },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Make a token; prints it (the only time it is shown).
    Create {
        #[arg(long)]
        workspace: i64,
        /// read or write.
        #[arg(long, default_value = "read")]
        scope: String,
        #[arg(long, default_value = "server")]
        name: String,
    },
    /// List a workspace's live tokens.
    List {
        #[arg(long)]
        workspace: i64,
    },
    /// Revoke a token by id or name; it stops working at once.
    Revoke {
        #[arg(long)]
        workspace: i64,
        /// The token's id or name.
        token: String,
    },
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "warn,salesbot=info".into());
    // Logs go to stderr so the console's stdout stays clean for pipes and --json. With
    // LOG_FORMAT=json each line is one JSON object carrying its span fields (workspace,
    // command, request id) for a log pipeline.
    let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init();
    } else {
        builder.init();
    }
}

fn http_config(config: &Config, addr: Option<std::net::SocketAddr>) -> salesbot::http::HttpConfig {
    salesbot::http::HttpConfig {
        addr: addr.unwrap_or(config.http_addr),
        rate_per_second: config.api_rate_per_second,
        burst: config.api_burst,
        ..salesbot::http::HttpConfig::default()
    }
}

async fn connect(config: &Config) -> anyhow::Result<Store> {
    match Store::connect(&config.database_url).await {
        Ok(store) => match &config.database_read_url {
            Some(url) => store.with_replica_url(url),
            None => Ok(store),
        },
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
            // Nothing was written: 1 for every command (import's 2 means rows were refused).
            std::process::exit(1);
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_tracing();
    // The recorder goes in before anything counts.
    salesbot::http::metrics_handle();
    // clap exits 2 on a bad option, which `salesbot import` documents as "some rows were
    // refused": a bad option writes nothing, so it is 1 like every other refusal to start.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
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
            let engine =
                Engine::new(store.clone())?.allow_private_webhooks(config.webhook_allow_private);
            let bot = salesbot::discord::Bot::connect(discord.clone(), engine.clone()).await?;
            let readiness = salesbot::http::Readiness {
                gateway: Some(bot.connected()),
            };
            let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
            let api = tokio::spawn(salesbot::http::serve(
                engine,
                http_config(&config, None),
                readiness,
                async move {
                    let _ = http_stopped.await;
                },
            ));
            // Reminders, agendas and digests go out through the bot's own REST client.
            let scheduler = salesbot::scheduler::Scheduler::start(
                store.clone(),
                salesbot::discord::sender(&discord, store.clone())?,
            )
            .await?
            .with_webhooks(
                store,
                salesbot::webhooks::WebhookSender::new(config.webhook_allow_private)?,
            )
            .await?;
            let result = bot.run(shutdown_signal()).await;
            scheduler.stop().await;
            let _ = stop_http.send(());
            match api.await {
                Ok(Err(e)) => tracing::error!(error = %e, "the HTTP API failed"),
                Err(e) => tracing::error!(error = %e, "the HTTP API task failed"),
                Ok(Ok(())) => {}
            }
            result
        }
        Cmd::Serve { http } => {
            let store = connect(&config).await?;
            let engine =
                Engine::new(store.clone())?.allow_private_webhooks(config.webhook_allow_private);
            let scheduler = salesbot::scheduler::Scheduler::start_without_discord(store.clone())
                .await?
                .with_webhooks(
                    store,
                    salesbot::webhooks::WebhookSender::new(config.webhook_allow_private)?,
                )
                .await?;
            let result = salesbot::http::serve(
                engine,
                http_config(&config, http),
                salesbot::http::Readiness::default(),
                shutdown_signal(),
            )
            .await;
            scheduler.stop().await;
            result
        }
        Cmd::Token { action } => {
            let store = connect(&config).await?;
            token(&store, action).await
        }
        Cmd::Migrate => {
            connect(&config).await?;
            eprintln!("salesbot: migrations applied");
            Ok(())
        }
        Cmd::Report { query, json } => {
            let store = connect(&config).await?;
            let engine = Engine::new(store)?;
            match salesbot::console::report(&engine, &query, json).await? {
                0 => Ok(()),
                code => std::process::exit(code),
            }
        }
        Cmd::Export { query } => {
            let store = connect(&config).await?;
            let engine = Engine::new(store)?;
            match salesbot::console::export(&engine, &query).await? {
                0 => Ok(()),
                code => std::process::exit(code),
            }
        }
        Cmd::Import { query } => {
            let store = connect(&config).await?;
            let engine = Engine::new(store)?;
            match salesbot::console::import(&engine, &query).await? {
                0 => Ok(()),
                code => std::process::exit(code),
            }
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
                seed_demo(&store).await?
            } else {
                (1, 1)
            };
            let engine = Engine::new(store)?.allow_private_webhooks(config.webhook_allow_private);
            let options = ConsoleOptions {
                workspace: workspace.unwrap_or(default_ws),
                user: user.unwrap_or(default_user),
                role,
                json,
            };
            salesbot::console::run_stdin(Console::new(engine, options), json).await
        }
    }
}

/// `salesbot token`: the engine's token functions as the server's operator.
async fn token(store: &Store, action: TokenCmd) -> anyhow::Result<()> {
    use salesbot::domain::token::Scope;
    use salesbot::engine::tokens;
    let now = chrono::Utc::now();
    let refused = |e: salesbot::engine::EngineError| -> anyhow::Error {
        match &e {
            salesbot::engine::EngineError::Invalid(m)
            | salesbot::engine::EngineError::NotFound(m)
            | salesbot::engine::EngineError::Conflict(m)
            | salesbot::engine::EngineError::Forbidden(m) => {
                eprintln!(
                    "salesbot: {}",
                    m.render(salesbot::domain::locale::Locale::En)
                );
                std::process::exit(1)
            }
            _ => anyhow::Error::new(e),
        }
    };
    match action {
        TokenCmd::Create {
            workspace,
            scope,
            name,
        } => {
            let Some(scope) = Scope::parse(&scope) else {
                eprintln!("salesbot: --scope must be read or write, not '{scope}'");
                std::process::exit(1);
            };
            let made = tokens::create(store, workspace, &name, scope, now)
                .await
                .map_err(refused)?;
            eprintln!(
                "salesbot: token #{} '{}' ({}) for workspace {workspace}; it is shown only now",
                made.row.id, made.row.name, made.row.scope
            );
            println!("{}", made.text);
        }
        TokenCmd::List { workspace } => {
            let mut tx = store.begin().await?;
            for t in tx.tokens(workspace).await? {
                println!(
                    "{}\t{}\t{}\tcreated {}\tlast used {}",
                    t.id,
                    t.name,
                    t.scope,
                    t.created_at.to_rfc3339(),
                    t.last_used_at
                        .map(|u| u.to_rfc3339())
                        .unwrap_or_else(|| "never".into())
                );
            }
        }
        TokenCmd::Revoke { workspace, token } => {
            let row = tokens::revoke(store, workspace, &token, now)
                .await
                .map_err(refused)?;
            eprintln!("salesbot: token #{} '{}' revoked", row.id, row.name);
        }
    }
    Ok(())
}

/// Seeds the demo workspace (once), returning its id and the member to act as.
#[cfg(feature = "demo")]
async fn seed_demo(store: &Store) -> anyhow::Result<(i64, i64)> {
    salesbot::demo::seed(store, chrono::Utc::now())
        .await
        .context("failed to seed the demo workspace")
}

#[cfg(not(feature = "demo"))]
async fn seed_demo(_store: &Store) -> anyhow::Result<(i64, i64)> {
    anyhow::bail!(
        "this build has no demo data (built without the `demo` feature); \
         use `salesbot console --workspace W --user U` or set DISCORD_TOKEN"
    )
}

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

//! The real serenity client against the fake Discord: from a gateway event to the REST reply,
//! the production path, with real Postgres behind the engine.

use crate::fake_discord::{
    autocomplete, button, command, command_with_file, dm_button, modal_submit, Caller, FakeDiscord,
    FileOption, Recorded, APP_ID, CHANNEL_ID, GUILD_ID,
};
use salesbot::discord::send::{SendError, Sender};
use salesbot::discord::{Bot, DiscordConfig};
use salesbot::engine::Engine;
use salesbot::engine::{Attachment, Embed, Reply};
use salesbot::store::Store;
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(15);
const STRING: u8 = 3;
const INTEGER: u8 = 4;
const BOOLEAN: u8 = 5;

/// A 2x2 PNG, to prove files reach Discord as files.
const PNG: [u8; 74] = [
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 2, 0, 0, 0, 2, 8, 2, 0,
    0, 0, 253, 212, 154, 115, 0, 0, 0, 17, 73, 68, 65, 84, 120, 156, 99, 248, 207, 192, 0, 68, 12,
    96, 242, 63, 0, 27, 242, 3, 253, 243, 231, 75, 177, 0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96,
    130,
];

/// The fake, the bot connected to it, and what stops the bot.
struct Rig {
    fake: FakeDiscord,
    sender: Sender,
    stop: Option<oneshot::Sender<()>>,
    bot: Option<JoinHandle<anyhow::Result<()>>>,
    /// The bot's "a shard is connected" flag, what `/readyz` reads.
    connected: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Rig {
    async fn start(pool: PgPool) -> Rig {
        let fake = FakeDiscord::start().await;
        Rig::start_with(fake, pool).await
    }

    async fn start_with(fake: FakeDiscord, pool: PgPool) -> Rig {
        Rig::start_configured(fake, pool, |_| {}).await
    }

    /// Starts the bot with settings changed by `tweak`. By default the fake's origin is an
    /// allowed attachment host, as Discord's CDN is in production.
    async fn start_configured(
        fake: FakeDiscord,
        pool: PgPool,
        tweak: impl FnOnce(&mut DiscordConfig),
    ) -> Rig {
        let store = Store::from_pool(pool);
        let engine = Engine::new(store.clone()).expect("engine");
        let mut config = DiscordConfig {
            api_base: Some(fake.api_base()),
            ..DiscordConfig::new("TEST.TOKEN")
        };
        config.attachment_hosts.push(fake.api_base());
        tweak(&mut config);
        let sender = Sender::new(&config, store).expect("sender");
        let bot = Bot::connect(config, engine)
            .await
            .expect("bot connects to the fake");
        let connected = bot.connected();
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(bot.run(async move {
            let _ = stopped.await;
        }));
        let (ids, resumes) = fake.session_counts();
        fake.wait_sessions(ids + resumes + 1, WAIT).await;
        Rig {
            fake,
            sender,
            stop: Some(stop),
            bot: Some(handle),
            connected,
        }
    }

    /// Sends an interaction and returns its callback.
    async fn interact(&self, interaction: Value) -> Recorded {
        let id: u64 = interaction["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("interaction id");
        self.fake.send_interaction(interaction).await;
        self.fake.wait_callback(id, WAIT).await
    }

    /// The next direct message the bot posted to `user`.
    async fn sent_dm(&self, user: u64) -> Recorded {
        let path = format!(
            "/api/v10/channels/{}/messages",
            FakeDiscord::dm_channel_id(user)
        );
        self.fake
            .wait_request(WAIT, |r| r.method == "POST" && r.path == path)
            .await
    }

    async fn stop(mut self) -> FakeDiscord {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(bot) = self.bot.take() {
            let result = tokio::time::timeout(WAIT, bot)
                .await
                .expect("the bot stops in time")
                .expect("bot task");
            result.expect("the bot shuts down cleanly");
        }
        self.fake
    }
}

fn content(callback: &Recorded) -> String {
    callback.json["data"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn flags(callback: &Recorded) -> u64 {
    callback.json["data"]["flags"].as_u64().unwrap_or(0)
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.expect(sql)
}

#[sqlx::test(migrations = "./migrations")]
async fn commands_register_once_and_a_sales_flow_runs_through_discord(pool: PgPool) {
    let rig = Rig::start(pool.clone()).await;
    // Registration: the manifests exactly as written, in one bulk PUT.
    let put = rig
        .fake
        .wait_request(WAIT, |r| {
            r.method == "PUT" && r.path == format!("/api/v10/applications/{APP_ID}/commands")
        })
        .await;
    let names: Vec<&str> = put
        .json
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "contact", "company", "deal", "pipeline", "kpi", "report", "forecast", "product",
            "remind", "tasks", "settings", "undo", "import", "export", "help"
        ]
    );
    let deal_manifest: Value =
        serde_json::from_str(include_str!("../../commands/deal.json")).expect("manifest");
    assert_eq!(put.json[2], deal_manifest, "registered as written");

    let admin = Caller::admin(1001);
    let rep = Caller::rep(1002).locale("zh-CN");

    // A deal, then a contact interaction logged against it, by a rep in Chinese.
    let r = rig
        .interact(command(
            1,
            &admin,
            "deal",
            Some("new"),
            vec![
                ("title", STRING, json!("Acme - 200 seats")),
                ("amount", STRING, json!("12k")),
                ("owner", 6, json!("1002")),
            ],
        ))
        .await;
    assert_eq!(r.json["type"], 4);
    assert!(content(&r).contains("D-1"), "{}", r.json);
    let r = rig
        .interact(command(
            2,
            &rep,
            "contact",
            Some("add"),
            vec![
                ("name", STRING, json!("Wei Wang")),
                ("email", STRING, json!("wei@acme.com")),
            ],
        ))
        .await;
    assert!(content(&r).contains("C-1"), "{}", r.json);
    let r = rig
        .interact(command(
            3,
            &rep,
            "contact",
            Some("log"),
            vec![
                ("contact", STRING, json!("wei@acme.com")),
                ("kind", STRING, json!("call")),
                ("summary", STRING, json!("pricing call")),
                ("deal", STRING, json!("D-1")),
                ("satisfaction", INTEGER, json!(4)),
            ],
        ))
        .await;
    assert!(
        content(&r).contains("已记录"),
        "the rep's locale picks the language: {}",
        r.json
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM activities WHERE satisfaction = 4"
        )
        .await,
        1
    );

    // A move, answered with the deal card and its buttons.
    let r = rig
        .interact(command(
            4,
            &rep,
            "deal",
            Some("move"),
            vec![
                ("deal", STRING, json!("D-1")),
                ("stage", STRING, json!("Proposal")),
            ],
        ))
        .await;
    assert!(content(&r).contains("Lead → Proposal"), "{}", r.json);
    let buttons: Vec<&str> = r.json["data"]["components"][0]["components"]
        .as_array()
        .expect("buttons")
        .iter()
        .filter_map(|b| b["custom_id"].as_str())
        .collect();
    let next = buttons
        .iter()
        .find(|b| b.starts_with("deal:next:1:"))
        .map(|b| b.to_string())
        .unwrap_or_else(|| panic!("a next-stage button naming the card's stage: {buttons:?}"));
    assert!(buttons.contains(&"deal:won:1"), "{buttons:?}");

    // A button click goes through the same engine and permission checks.
    let r = rig.interact(button(5, &rep, &next)).await;
    assert!(content(&r).contains("Proposal → Negotiation"), "{}", r.json);
    let in_negotiation = "SELECT count(*) FROM deals d JOIN stages s ON s.id = d.stage_id WHERE s.name = 'Negotiation' AND d.status = 'open'";
    assert_eq!(count(&pool, in_negotiation).await, 1);
    // The same card's button again (a double click, an old card): the deal moved on since, so
    // nothing changes and only the clicker is told; it never carries the deal further.
    let r = rig.interact(button(50, &rep, &next)).await;
    // (This rep reads Chinese: the sentence is the catalog's, the stage name the workspace's.)
    assert!(
        content(&r).starts_with("⚠️") && content(&r).contains("Negotiation"),
        "{}",
        r.json
    );
    assert_eq!(flags(&r), 64, "only the clicker sees it: {}", r.json);
    assert_eq!(count(&pool, in_negotiation).await, 1);

    // The lost button opens a form; submitting it loses the deal with the reason typed.
    let r = rig.interact(button(6, &rep, "deal:lost:1")).await;
    assert_eq!(r.json["type"], 9, "a modal: {}", r.json);
    assert_eq!(r.json["data"]["custom_id"], "deal:lost:1");
    let r = rig
        .interact(modal_submit(
            7,
            &rep,
            "deal:lost:1",
            vec![("reason", "went with a competitor")],
        ))
        .await;
    assert!(content(&r).contains("competitor"), "{}", r.json);
    assert_eq!(count(&pool, "SELECT count(*) FROM deals WHERE status = 'lost' AND lost_reason = 'went with a competitor'").await, 1);

    // Pipeline stats come back as an embed.
    let r = rig
        .interact(command(
            8,
            &admin,
            "pipeline",
            Some("stats"),
            vec![("period", STRING, json!("all-time"))],
        ))
        .await;
    let embed = &r.json["data"]["embeds"][0];
    assert!(
        embed["title"]
            .as_str()
            .unwrap_or_default()
            .contains("Pipeline"),
        "{}",
        r.json
    );
    assert!(
        embed["fields"].as_array().is_some_and(|f| f
            .iter()
            .any(|f| f["name"] == "Win rate" && f["value"] == "0.0%")),
        "{embed}"
    );
    // With its funnel chart, uploaded with the reply.
    assert_eq!(r.files.len(), 1, "{:?}", r.files);
    assert_eq!(r.files[0].filename, "funnel.png");
    assert!(r.files[0].bytes.starts_with(b"\x89PNG"), "not a PNG");

    // The KPI leaderboard, with its chart.
    let r = rig
        .interact(command(
            80,
            &admin,
            "kpi",
            None,
            vec![("period", STRING, json!("all-time"))],
        ))
        .await;
    assert!(
        r.json["data"]["embeds"][0]["title"]
            .as_str()
            .is_some_and(|t| t.contains("Leaderboard")),
        "{}",
        r.json
    );
    assert_eq!(r.files.len(), 1, "{:?}", r.files);
    assert_eq!(r.files[0].filename, "kpi-leaderboard.png");

    // Autocomplete: the deal by title prefix, within this workspace.
    let r = rig
        .interact(autocomplete(
            9,
            &rep,
            "deal",
            Some("show"),
            vec![("deal", STRING, json!("acm"))],
            "deal",
        ))
        .await;
    assert_eq!(r.json["type"], 8);
    let choices = r.json["data"]["choices"].as_array().expect("choices");
    assert_eq!(choices.len(), 1, "{choices:?}");
    assert_eq!(choices[0]["value"], "D-1");
    let r = rig
        .interact(autocomplete(
            10,
            &rep,
            "deal",
            Some("move"),
            vec![
                ("deal", STRING, json!("D-1")),
                ("stage", STRING, json!("neg")),
            ],
            "stage",
        ))
        .await;
    assert_eq!(
        r.json["data"]["choices"][0]["value"], "Negotiation",
        "{}",
        r.json
    );

    // Bad input: a private error naming the option.
    let r = rig
        .interact(command(
            11,
            &rep,
            "deal",
            Some("new"),
            vec![
                ("title", STRING, json!("X")),
                ("amount", STRING, json!("-5")),
            ],
        ))
        .await;
    assert_eq!(flags(&r), 64, "ephemeral: {}", r.json);
    // The rep reads Chinese: the option is named as their Discord labels it (issue 10 §5).
    assert!(content(&r).contains("金额"), "{}", r.json);
    // A rep changing workspace settings: refused, privately.
    let r = rig
        .interact(command(
            12,
            &rep,
            "settings",
            Some("stale"),
            vec![("days", INTEGER, json!(30))],
        ))
        .await;
    assert_eq!(flags(&r), 64, "{}", r.json);
    // The manager role configured makes a member a manager, who may reassign.
    rig.interact(command(
        13,
        &admin,
        "settings",
        Some("manager-role"),
        vec![("role", 8, json!("777"))],
    ))
    .await;
    let manager = Caller::rep(1003).with_roles(vec![777]);
    let r = rig
        .interact(command(
            14,
            &manager,
            "deal",
            Some("assign"),
            vec![("deal", STRING, json!("D-1")), ("owner", 6, json!("1003"))],
        ))
        .await;
    assert_eq!(flags(&r), 0, "{}", r.json);
    assert_eq!(
        count(&pool, "SELECT owner_id FROM deals WHERE number = 1").await,
        1003
    );
    // Display names are kept up to date from the interaction data.
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM members WHERE user_id = 1002 AND display_name = 'rep1002'"
        )
        .await,
        1
    );
    let _ = BOOLEAN;

    // A second start with the same manifests does not register again.
    let fake = rig.stop().await;
    let before = fake.requests().iter().filter(|r| r.method == "PUT").count();
    let rig = Rig::start_with(fake, pool.clone()).await;
    let r = rig
        .interact(command(15, &admin, "help", None, vec![]))
        .await;
    assert_eq!(r.json["type"], 4);
    assert_eq!(
        rig.fake
            .requests()
            .iter()
            .filter(|r| r.method == "PUT")
            .count(),
        before,
        "registered only once"
    );
    rig.stop().await;
}

/// An option naming a member accepts a member of the server as Discord resolved them (their
/// row is created with their name, and /undo takes it away again), and refuses someone Discord
/// resolved only as a user (not in the server) or a bot, privately and without writing.
#[sqlx::test(migrations = "./migrations")]
async fn a_resolved_server_member_may_be_named(pool: PgPool) {
    let rig = Rig::start(pool.clone()).await;
    let admin = Caller::admin(1001);
    let members = "SELECT count(*) FROM members WHERE user_id = 5005";
    let assign = |id: u64, edit: &dyn Fn(&mut Value)| {
        let mut v = command(
            id,
            &admin,
            "company",
            Some("add"),
            vec![("name", STRING, json!("Acme")), ("owner", 6, json!("5005"))],
        );
        edit(&mut v["data"]["resolved"]);
        v
    };
    // Not in the server: Discord resolves a user but no member.
    let r = rig
        .interact(assign(1, &|r: &mut Value| {
            r["members"] = json!({});
        }))
        .await;
    assert_eq!(flags(&r), 64, "{}", r.json);
    assert!(
        content(&r).contains("owner: <@5005> is not a member"),
        "{}",
        r.json
    );
    // A bot is never a member of the team.
    let r = rig
        .interact(assign(2, &|r: &mut Value| {
            r["users"]["5005"]["bot"] = json!(true);
        }))
        .await;
    assert_eq!(flags(&r), 64, "{}", r.json);
    assert_eq!(count(&pool, members).await, 0);
    assert_eq!(count(&pool, "SELECT count(*) FROM companies").await, 0);
    // A member of the server: accepted, with the name Discord knows.
    let r = rig.interact(assign(3, &|_: &mut Value| {})).await;
    assert_eq!(flags(&r), 0, "{}", r.json);
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM members WHERE user_id = 5005 AND display_name = 'user5005'"
        )
        .await,
        1
    );
    let r = rig.interact(command(4, &admin, "undo", None, vec![])).await;
    assert_eq!(flags(&r), 0, "{}", r.json);
    assert_eq!(count(&pool, members).await, 0);
    rig.stop().await;
}

#[sqlx::test(migrations = "./migrations")]
async fn a_replayed_interaction_is_answered_once_and_applied_once(pool: PgPool) {
    let rig = Rig::start(pool.clone()).await;
    let admin = Caller::admin(1001);
    let new_deal = command(
        20,
        &admin,
        "deal",
        Some("new"),
        vec![
            ("title", STRING, json!("Replay")),
            ("amount", STRING, json!("1k")),
        ],
    );
    rig.interact(new_deal.clone()).await;
    rig.fake.send_interaction(new_deal).await;
    // A later interaction is answered; by then the replay has been handled (or dropped).
    rig.interact(command(21, &admin, "help", None, vec![]))
        .await;
    let callbacks = rig
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.contains("/interactions/20/"))
        .count();
    assert_eq!(callbacks, 1, "answered once");
    assert_eq!(
        count(&pool, "SELECT count(*) FROM deals").await,
        1,
        "applied once"
    );
    rig.stop().await;
}

/// Holds the deal counter in a transaction of its own, so a `/deal new` waits for it longer
/// than Discord's patience; rolling the returned transaction back lets it go on.
async fn hold_deal_counter(pool: &PgPool) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut blocker = pool.begin().await.expect("begin");
    sqlx::query("SELECT * FROM deal_counters FOR UPDATE")
        .execute(&mut *blocker)
        .await
        .expect("lock");
    blocker
}

/// The edit that completes interaction `id`'s deferred answer, once it names `text`.
async fn completed_with(rig: &Rig, id: u64, text: &str) -> Recorded {
    let edit = rig
        .fake
        .wait_request(WAIT, |r| {
            r.method == "PATCH"
                && r.path == format!("/api/v10/webhooks/{APP_ID}/tok-{id}/messages/@original")
        })
        .await;
    assert!(
        edit.json["content"]
            .as_str()
            .unwrap_or_default()
            .contains(text),
        "{}",
        edit.json
    );
    edit
}

#[sqlx::test(migrations = "./migrations")]
async fn slow_work_is_deferred_then_completed(pool: PgPool) {
    let rig = Rig::start(pool.clone()).await;
    let admin = Caller::admin(1001);
    rig.interact(command(30, &admin, "help", None, vec![]))
        .await; // creates the workspace
                // Hold the deal counter, so the next /deal new waits for it longer than Discord's patience.
    let blocker = hold_deal_counter(&pool).await;
    rig.fake
        .send_interaction(command(
            31,
            &admin,
            "deal",
            Some("new"),
            vec![
                ("title", STRING, json!("Slow")),
                ("amount", STRING, json!("2k")),
            ],
        ))
        .await;
    let deferred = rig.fake.wait_callback(31, WAIT).await;
    assert_eq!(
        deferred.json["type"], 5,
        "deferred first: {}",
        deferred.json
    );
    blocker.rollback().await.expect("release");
    let edit = completed_with(&rig, 31, "D-1").await;
    assert!(edit.at > deferred.at);
    rig.stop().await;
}

#[sqlx::test(migrations = "./migrations")]
async fn a_slow_interaction_delivered_twice_is_deferred_once_and_completed(pool: PgPool) {
    let rig = Rig::start(pool.clone()).await;
    let admin = Caller::admin(1001);
    rig.interact(command(40, &admin, "help", None, vec![]))
        .await; // creates the workspace
    let blocker = hold_deal_counter(&pool).await;
    let slow = command(
        41,
        &admin,
        "deal",
        Some("new"),
        vec![
            ("title", STRING, json!("Twice")),
            ("amount", STRING, json!("2k")),
        ],
    );
    // The gateway delivers the same interaction again while the first copy still waits.
    rig.fake.send_interaction(slow.clone()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    rig.fake.send_interaction(slow).await;
    let deferred = rig.fake.wait_callback(41, WAIT).await;
    assert_eq!(deferred.json["type"], 5, "{}", deferred.json);
    // Past the copy's own 1.5 s: it must not try to defer (or answer) the interaction too.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    blocker.rollback().await.expect("release");
    completed_with(&rig, 41, "D-1").await;
    // A later command is answered, so the copy had its chance to call back.
    rig.interact(command(42, &admin, "help", None, vec![]))
        .await;
    let callbacks = rig
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.contains("/interactions/41/"))
        .count();
    assert_eq!(callbacks, 1, "one callback attempt for the interaction");
    assert_eq!(count(&pool, "SELECT count(*) FROM deals").await, 1);
    rig.stop().await;
}

/// A click on a reminder's button in a DM carries no member: the admin who clicks stays an
/// admin under the name the server shows, and is answered as one.
#[sqlx::test(migrations = "./migrations")]
async fn a_click_in_a_dm_keeps_the_members_role_and_name(pool: PgPool) {
    let rig = Rig::start(pool.clone()).await;
    let admin = Caller::admin(1001);
    let r = rig
        .interact(command(
            1,
            &admin,
            "remind",
            None,
            vec![
                ("what", STRING, json!("call Wei back")),
                ("when", STRING, json!("tomorrow 9am")),
            ],
        ))
        .await;
    assert_eq!(r.json["type"], 4, "{}", r.json);
    let task: i64 = sqlx::query_scalar("SELECT id FROM tasks WHERE workspace_id = $1")
        .bind(GUILD_ID as i64)
        .fetch_one(&pool)
        .await
        .expect("the task");
    let clicker = Caller {
        name: "Global Name".into(),
        ..admin.clone()
    };
    let r = rig
        .interact(dm_button(
            2,
            &clicker,
            &format!("w{GUILD_ID}:task:done:{task}"),
        ))
        .await;
    assert!(content(&r).contains("call Wei back"), "{}", r.json);
    let done: bool = sqlx::query_scalar("SELECT done_at IS NOT NULL FROM tasks WHERE id = $1")
        .bind(task)
        .fetch_one(&pool)
        .await
        .expect("task");
    assert!(done, "the click did its work");
    let (role, name): (String, String) = sqlx::query_as(
        "SELECT role, display_name FROM members WHERE workspace_id = $1 AND user_id = 1001",
    )
    .bind(GUILD_ID as i64)
    .fetch_one(&pool)
    .await
    .expect("member");
    assert_eq!((role.as_str(), name.as_str()), ("admin", "admin1001"));
    rig.stop().await;
}

#[sqlx::test(migrations = "./migrations")]
async fn the_bot_sends_dms_and_channel_posts_with_files(pool: PgPool) {
    let rig = Rig::start(pool.clone()).await;
    let admin = Caller::admin(1001);
    rig.interact(command(40, &admin, "help", None, vec![]))
        .await; // creates the workspace and member
    let ws = GUILD_ID as i64;

    let reminder = Reply::text("⏰ call Wei back").with_button("task:done:1", "Done");
    let id = rig
        .sender
        .dm(ws, 1001, &reminder, None)
        .await
        .expect("dm delivered");
    assert!(id > 0);
    let dm = rig.sent_dm(1001).await;
    assert_eq!(dm.json["content"], "⏰ call Wei back");
    assert_eq!(
        dm.json["components"][0]["components"][0]["custom_id"],
        "task:done:1"
    );

    let mut digest =
        Reply::default().with_embed(Embed::new("Weekly KPIs").description("won 3 deals"));
    digest.attachments.push(Attachment {
        filename: "funnel.png".into(),
        content_type: "image/png".into(),
        data: PNG.to_vec(),
    });
    rig.sender
        .channel(CHANNEL_ID, &digest, None)
        .await
        .expect("posted");
    let post = rig
        .fake
        .wait_request(WAIT, |r| {
            r.method == "POST" && r.path == format!("/api/v10/channels/{CHANNEL_ID}/messages")
        })
        .await;
    assert_eq!(post.files.len(), 1);
    assert_eq!(post.files[0].filename, "funnel.png");
    assert_eq!(post.files[0].content_type, "image/png");
    assert_eq!(post.files[0].bytes, PNG.to_vec());
    assert_eq!(post.json["embeds"][0]["title"], "Weekly KPIs");

    // A member who does not accept DMs is recorded, not retried.
    rig.fake.close_dms(1001);
    assert_eq!(
        rig.sender.dm(ws, 1001, &reminder, None).await,
        Err(SendError::DmClosed)
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM members WHERE user_id = 1001 AND dm_closed"
        )
        .await,
        1
    );
    // Unknown channels and outages are told apart.
    rig.fake.unknown_channel(42);
    assert_eq!(
        rig.sender.channel(42, &digest, None).await,
        Err(SendError::UnknownChannel)
    );
    rig.fake.script(
        "POST",
        &format!("/api/v10/channels/{CHANNEL_ID}/messages"),
        vec![(503, json!({"message": "down"}), vec![])],
    );
    assert!(rig
        .sender
        .channel(CHANNEL_ID, &digest, None)
        .await
        .is_err_and(|e| e.is_retryable()));
    rig.stop().await;
}

/// What Discord must never see: a live mention setting. Allowed mentions with nothing to
/// parse and no users or roles listed means no text can ping anyone.
fn pings_no_one(body: &Value) {
    let allowed = &body["allowed_mentions"];
    assert_eq!(allowed["parse"], json!([]), "mentions are parsed: {body}");
    assert!(
        allowed["users"].as_array().is_none_or(Vec::is_empty)
            && allowed["roles"].as_array().is_none_or(Vec::is_empty),
        "{body}"
    );
}

#[sqlx::test(migrations = "./migrations")]
async fn user_text_reaches_discord_escaped_and_pings_no_one(pool: PgPool) {
    let rig = Rig::start(pool.clone()).await;
    let admin = Caller::admin(1001);
    let title = "**bold** [link](https://evil.example) ＠everyone";
    let r = rig
        .interact(command(
            70,
            &admin,
            "deal",
            Some("new"),
            vec![
                ("title", STRING, json!(title)),
                ("amount", STRING, json!("5k")),
            ],
        ))
        .await;
    let data = &r.json["data"];
    pings_no_one(data);
    let shown = "D-1 \\*\\*bold\\*\\* \\[link\\](https://evil.example) ＠\u{200B}everyone";
    assert_eq!(data["embeds"][0]["title"], shown, "{}", r.json);
    assert!(content(&r).contains(shown), "{}", r.json);
    assert_eq!(flags(&r) & 64, 0, "a public reply");

    // A refusal, ephemeral, pings no one either.
    let r = rig
        .interact(command(
            71,
            &admin,
            "deal",
            Some("new"),
            vec![
                ("title", STRING, json!("\u{2800}")),
                ("amount", STRING, json!("5k")),
            ],
        ))
        .await;
    pings_no_one(&r.json["data"]);
    assert!(content(&r).contains("title"), "{}", r.json);
    assert_eq!(flags(&r) & 64, 64, "{}", r.json);

    // DMs and channel posts (with a file: the JSON travels as `payload_json`) likewise.
    let ws = GUILD_ID as i64;
    let dm = Reply::text("@everyone <@1001> <@&5>").with_button("task:done:1", "Done");
    rig.sender
        .dm(ws, 1001, &dm, None)
        .await
        .expect("dm delivered");
    let sent = rig.sent_dm(1001).await;
    pings_no_one(&sent.json);
    let mut post = Reply::text("@here").with_embed(Embed::new("digest"));
    post.attachments.push(Attachment {
        filename: "funnel.png".into(),
        content_type: "image/png".into(),
        data: PNG.to_vec(),
    });
    rig.sender
        .channel(CHANNEL_ID, &post, None)
        .await
        .expect("posted");
    let sent = rig
        .fake
        .wait_request(WAIT, |r| {
            r.method == "POST" && r.path == format!("/api/v10/channels/{CHANNEL_ID}/messages")
        })
        .await;
    pings_no_one(&sent.json);
    rig.stop().await;
}

#[sqlx::test(migrations = "./migrations")]
async fn the_bot_resumes_after_the_gateway_drops(pool: PgPool) {
    let rig = Rig::start(pool.clone()).await;
    answers_across_a_resume(&rig, 50).await;
    rig.stop().await;
}

/// The bot answers, the gateway drops, the bot resumes (not re-identifies) and answers again:
/// interactions `first` and `first + 1`.
async fn answers_across_a_resume(rig: &Rig, first: u64) {
    let admin = Caller::admin(1001);
    rig.interact(command(first, &admin, "help", None, vec![]))
        .await;
    rig.fake.drop_gateway().await;
    rig.fake.wait_sessions(2, WAIT).await;
    assert_eq!(
        rig.fake.session_counts(),
        (1, 1),
        "resumed, not re-identified"
    );
    let r = rig
        .interact(command(
            first + 1,
            &admin,
            "deal",
            Some("new"),
            vec![
                ("title", STRING, json!("After")),
                ("amount", STRING, json!("3k")),
            ],
        ))
        .await;
    assert!(content(&r).contains("D-1"), "{}", r.json);
}

/// A process given a shard range talks to the gateway through the identify relay: its
/// commands are answered, and when the gateway drops it resumes through the relay (a RESUME is
/// not held for a start slot) and goes on answering.
#[sqlx::test(migrations = "./migrations")]
async fn a_sharded_process_resumes_through_the_identify_relay(pool: PgPool) {
    let fake = FakeDiscord::start().await;
    let rig = Rig::start_configured(fake, pool, |c| {
        c.shards = salesbot::config::Shards::Range {
            start: 0,
            end: 0,
            total: 1,
        };
    })
    .await;
    assert!(
        rig.fake
            .requests()
            .iter()
            .any(|r| r.method == "GET" && r.path == "/api/v10/gateway/bot"),
        "max_concurrency was asked for"
    );
    answers_across_a_resume(&rig, 60).await;
    assert_eq!(rig.fake.identifies_refused(), 0);
    rig.stop().await;
}

/// A TCP proxy in front of Postgres that the test can cut and restore, so only this test's
/// bot loses its database.
struct Proxy {
    port: u16,
    cut: watch::Sender<bool>,
}

impl Proxy {
    async fn start(upstream: u16) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let (cut, watcher) = watch::channel(false);
        let watcher = Arc::new(watcher);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut cut_rx = (*watcher).clone();
                if *cut_rx.borrow() {
                    continue; // refused: the socket is dropped at once
                }
                tokio::spawn(async move {
                    let Ok(mut server) =
                        tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                    else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut_rx.wait_for(|c| *c) => {}
                    }
                });
            }
        });
        Proxy { port, cut }
    }

    fn set_cut(&self, cut: bool) {
        let _ = self.cut.send(cut);
    }
}

#[sqlx::test(migrations = "./migrations")]
async fn a_database_outage_gets_a_clear_answer_and_recovery_needs_no_restart(pool: PgPool) {
    let upstream = pool.connect_options().get_port();
    let proxy = Proxy::start(upstream).await;
    let through_proxy = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(1))
        .connect_with((*pool.connect_options()).clone().port(proxy.port))
        .await
        .expect("pool through the proxy");
    let rig = Rig::start(through_proxy).await;
    let admin = Caller::admin(1001);
    rig.interact(command(60, &admin, "help", None, vec![]))
        .await;

    proxy.set_cut(true);
    rig.fake
        .send_interaction(command(
            61,
            &admin,
            "deal",
            Some("new"),
            vec![
                ("title", STRING, json!("Outage")),
                ("amount", STRING, json!("1k")),
            ],
        ))
        .await;
    // Either answered at once or deferred and then answered privately: find the words.
    let answer = rig
        .fake
        .wait_request(WAIT, |r| {
            (r.path.contains("/interactions/61/") && r.json["type"] == 4)
                || (r.method == "POST" && r.path == format!("/api/v10/webhooks/{APP_ID}/tok-61"))
        })
        .await;
    let text = answer.json["data"]["content"]
        .as_str()
        .or_else(|| answer.json["content"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(
        text.contains("database is not reachable"),
        "{}",
        answer.json
    );
    let ephemeral = answer.json["data"]["flags"]
        .as_u64()
        .or_else(|| answer.json["flags"].as_u64())
        .unwrap_or(0);
    assert_eq!(ephemeral & 64, 64, "{}", answer.json);

    proxy.set_cut(false);
    // The pool reconnects by itself; the next command works without restarting the bot.
    let mut answered = None;
    for attempt in 0..10u64 {
        let r = rig
            .interact(command(
                70 + attempt,
                &admin,
                "deal",
                Some("new"),
                vec![
                    ("title", STRING, json!("Back")),
                    ("amount", STRING, json!("1k")),
                ],
            ))
            .await;
        if r.json["type"] == 4 && content(&r).contains("D-1") {
            answered = Some(r);
            break;
        }
    }
    assert!(
        answered.is_some(),
        "a command after recovery is answered normally"
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM deals WHERE title = 'Back'").await,
        1
    );
    rig.stop().await;
}

#[sqlx::test(migrations = "./migrations")]
async fn shutdown_lets_running_commands_finish(pool: PgPool) {
    let mut rig = Rig::start(pool.clone()).await;
    let admin = Caller::admin(1001);
    rig.interact(command(80, &admin, "help", None, vec![]))
        .await;
    // A command that is still running when the shutdown begins.
    let blocker = hold_deal_counter(&pool).await;
    rig.fake
        .send_interaction(command(
            81,
            &admin,
            "deal",
            Some("new"),
            vec![
                ("title", STRING, json!("In flight")),
                ("amount", STRING, json!("2k")),
            ],
        ))
        .await;
    rig.fake.wait_callback(81, WAIT).await; // deferred: it is running
    let stop = rig.stop.take().expect("stop handle");
    let _ = stop.send(());
    // The shutdown waits; once the command can go on, it completes and is answered.
    blocker.rollback().await.expect("release");
    let bot = rig.bot.take().expect("bot");
    let result = tokio::time::timeout(WAIT, bot)
        .await
        .expect("stops in time")
        .expect("bot task");
    result.expect("clean shutdown");
    let edit = rig
        .fake
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH" && r.path.contains("/tok-81/"));
    assert!(
        edit.is_some_and(|e| e.json["content"]
            .as_str()
            .unwrap_or_default()
            .contains("D-1")),
        "the in-flight command was answered"
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM deals WHERE title = 'In flight'"
        )
        .await,
        1,
        "and written"
    );
}

// ------------------------------------------------------------------ /import and /export

/// A deals sheet with plain column names: two good rows and one whose amount is not money.
const DEALS_CSV: &str = "title,amount,stage,company\n\
Acme rollout,12000,Lead,Acme\n\
Globex renewal,8000,Proposal,Globex\n\
Initech pilot,not money,Lead,Initech\n";

/// The message a command was finally answered with (body and files): the callback's own, or
/// the edit that completed its deferral.
async fn answer_of(rig: &Rig, id: u64) -> (Value, Vec<crate::fake_discord::RecordedFile>) {
    let callback = rig.fake.wait_callback(id, WAIT).await;
    if callback.json["type"] == 4 {
        return (callback.json["data"].clone(), callback.files);
    }
    assert_eq!(
        callback.json["type"], 5,
        "answered or deferred: {}",
        callback.json
    );
    let path = format!("/api/v10/webhooks/{APP_ID}/tok-{id}/messages/@original");
    let edit = rig
        .fake
        .wait_request(WAIT, |r| r.method == "PATCH" && r.path == path)
        .await;
    (edit.json, edit.files)
}

/// A message's text and its cards' titles and descriptions.
fn text_of(message: &Value) -> String {
    let mut text = message["content"].as_str().unwrap_or_default().to_string();
    for e in message["embeds"].as_array().into_iter().flatten() {
        for key in ["title", "description"] {
            text.push('\n');
            text.push_str(e[key].as_str().unwrap_or_default());
        }
    }
    text
}

fn button_ids(message: &Value) -> Vec<String> {
    message["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().into_iter().flatten())
        .filter_map(|b| b["custom_id"].as_str().map(str::to_string))
        .collect()
}

/// `/import file` with `DEALS_CSV` served by the fake as Discord's CDN would.
fn import_command(rig: &Rig, id: u64, caller: &Caller) -> Value {
    let url = rig
        .fake
        .serve_file("deals.csv", DEALS_CSV.as_bytes().to_vec());
    command_with_file(
        id,
        caller,
        "import",
        Some("file"),
        vec![],
        FileOption {
            option: "file",
            filename: "deals.csv",
            url,
            size: DEALS_CSV.len() as u64,
        },
    )
}

/// The edits of the message a button sits on, in order, once one of them contains `last`.
async fn edits_until(rig: &Rig, click: u64, last: &str) -> Vec<Recorded> {
    let path = format!("/api/v10/webhooks/{APP_ID}/tok-{click}/messages/@original");
    rig.fake
        .wait_request(WAIT, |r| {
            r.method == "PATCH" && r.path == path && text_of(&r.json).contains(last)
        })
        .await;
    rig.fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path == path)
        .collect()
}

#[sqlx::test(migrations = "./migrations")]
async fn discord_import_previews_an_attachment_and_the_button_imports_with_progress(pool: PgPool) {
    let rig = Rig::start(pool.clone()).await;
    let admin = Caller::admin(1001);

    let sent = rig.interact(import_command(&rig, 1, &admin)).await;
    assert_eq!(
        flags(&sent) & 64,
        64,
        "the preview is private: {}",
        sent.json
    );
    let (preview, _) = answer_of(&rig, 1).await;
    let body = text_of(&preview);
    assert!(body.contains("Dry run"), "{body}");
    assert!(body.contains("deals.csv"), "{body}");
    assert!(body.contains("2 created") || body.contains('2'), "{body}");
    let ids = button_ids(&preview);
    assert_eq!(ids.len(), 2, "{preview}");
    assert!(ids[0].starts_with("import:run:") && ids[1].starts_with("import:cancel:"));
    // The file came from the fake's CDN, and nothing is written before the click.
    assert!(rig
        .fake
        .requests()
        .iter()
        .any(|r| r.method == "GET" && r.path.starts_with("/attachments/")));
    assert_eq!(count(&pool, "SELECT count(*) FROM deals").await, 0);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM pending_imports").await,
        1
    );

    // Import: the click is acknowledged, its message shows progress, then the summary.
    let ack = rig.interact(button(2, &admin, &ids[0])).await;
    assert_eq!(ack.json["type"], 6, "acknowledged in place: {}", ack.json);
    let edits = edits_until(&rig, 2, "finished").await;
    assert!(edits.len() >= 2, "progress, then the summary: {edits:?}");
    assert!(
        text_of(&edits[0].json).contains("Importing"),
        "{:?}",
        edits[0].json
    );
    let last = &edits[edits.len() - 1].json;
    assert!(text_of(last).contains("finished"), "{last}");
    assert!(button_ids(last).is_empty(), "the buttons are gone: {last}");
    assert!(
        edits[0].json["embeds"]
            .as_array()
            .is_some_and(|e| e.is_empty()),
        "progress replaces the preview's card: {:?}",
        edits[0].json
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM deals").await, 2);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM deals WHERE owner_id = 1001").await,
        2
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM imports WHERE status = 'done'").await,
        1
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM pending_imports").await,
        0
    );
    rig.stop().await;
}

#[sqlx::test(migrations = "./migrations")]
async fn discord_import_cancel_and_a_rep_is_refused(pool: PgPool) {
    let rig = Rig::start(pool.clone()).await;
    let admin = Caller::admin(1001);
    let rep = Caller::rep(1002);

    rig.interact(import_command(&rig, 1, &admin)).await;
    let (preview, _) = answer_of(&rig, 1).await;
    let ids = button_ids(&preview);
    rig.interact(button(2, &admin, &ids[1])).await;
    let edits = edits_until(&rig, 2, "Cancelled").await;
    assert!(button_ids(&edits[edits.len() - 1].json).is_empty());
    assert_eq!(
        count(&pool, "SELECT count(*) FROM pending_imports").await,
        0
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM deals").await, 0);

    // A rep's upload is refused by the engine, privately, and nothing is kept.
    let r = rig.interact(import_command(&rig, 3, &rep)).await;
    assert_eq!(flags(&r) & 64, 64, "{}", r.json);
    let (refusal, _) = answer_of(&rig, 3).await;
    assert!(text_of(&refusal).contains("manager"), "{refusal}");
    assert_eq!(
        count(&pool, "SELECT count(*) FROM pending_imports").await,
        0
    );
    rig.stop().await;
}

#[sqlx::test(migrations = "./migrations")]
async fn discord_import_downloads_only_from_allowed_hosts_and_within_the_cap(pool: PgPool) {
    let fake = FakeDiscord::start().await;
    let rig = Rig::start_configured(fake, pool.clone(), |c| c.import_max_bytes = 1000).await;
    let admin = Caller::admin(1001);
    let big = "title,amount\n".to_string() + &"Acme rollout,12000\n".repeat(300);

    // Another origin than the allowed one (localhost, not 127.0.0.1): never fetched.
    let url = rig
        .fake
        .serve_file("deals.csv", DEALS_CSV.as_bytes().to_vec())
        .replace("127.0.0.1", "localhost");
    let cases = [
        (url, DEALS_CSV.len() as u64, "only fetched from Discord"),
        (
            "https://evil.example/attachments/1/deals.csv".to_string(),
            10,
            "only fetched from Discord",
        ),
        // Discord says it is too big: refused before any download.
        (
            rig.fake.serve_file("big.csv", big.clone().into_bytes()),
            big.len() as u64,
            "files up to",
        ),
        // The size Discord reported was small, the file is not: the download stops at the cap.
        (
            rig.fake.serve_file("big2.csv", big.clone().into_bytes()),
            100,
            "files up to",
        ),
    ];
    for (i, (url, size, says)) in cases.into_iter().enumerate() {
        let id = 10 + i as u64;
        let r = rig
            .interact(command_with_file(
                id,
                &admin,
                "import",
                Some("file"),
                vec![],
                FileOption {
                    option: "file",
                    filename: "deals.csv",
                    url,
                    size,
                },
            ))
            .await;
        assert_eq!(flags(&r) & 64, 64, "{}", r.json);
        let (refusal, _) = answer_of(&rig, id).await;
        assert!(text_of(&refusal).contains(says), "case {i}: {refusal}");
    }
    let gets: Vec<String> = rig
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/attachments/"))
        .map(|r| r.path)
        .collect();
    assert_eq!(
        gets,
        ["/attachments/3/big2.csv"],
        "only the lying one was fetched"
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM pending_imports").await,
        0
    );
    rig.stop().await;
}

/// Rows of a CSV export (BOM stripped), each as its cells.
fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    csv::Reader::from_reader(bytes)
        .records()
        .map(|r| r.expect("record").iter().map(str::to_string).collect())
        .collect()
}

#[sqlx::test(migrations = "./migrations")]
async fn discord_export_answers_with_the_file_and_a_rep_gets_their_own(pool: PgPool) {
    let rig = Rig::start(pool.clone()).await;
    let admin = Caller::admin(1001);
    let rep = Caller::rep(1002);
    let other = Caller::rep(1003);
    for (id, caller) in [(1, &rep), (2, &other)] {
        rig.interact(command(id, caller, "tasks", Some("list"), vec![]))
            .await;
    }
    let r = rig
        .interact(command(
            3,
            &admin,
            "settings",
            Some("visibility"),
            vec![("mode", STRING, json!("own"))],
        ))
        .await;
    assert_eq!(flags(&r) & 64, 0, "{}", r.json);
    for (id, title, owner) in [
        (4, "Rep deal", 1002u64),
        (5, "Other deal", 1003),
        (6, "Team deal", 1001),
    ] {
        let r = rig
            .interact(command(
                id,
                &admin,
                "deal",
                Some("new"),
                vec![
                    ("title", STRING, json!(title)),
                    ("amount", STRING, json!("1k")),
                    ("owner", 6, json!(owner.to_string())),
                ],
            ))
            .await;
        assert!(content(&r).contains("D-"), "{}", r.json);
    }

    let r = rig
        .interact(command(
            7,
            &admin,
            "export",
            None,
            vec![("kind", STRING, json!("deals"))],
        ))
        .await;
    assert_eq!(flags(&r) & 64, 64, "exports are private: {}", r.json);
    let (message, files) = answer_of(&rig, 7).await;
    assert_eq!(files.len(), 1, "{message}");
    assert_eq!(files[0].filename, "deals.csv");
    let rows = csv_rows(&files[0].bytes);
    let mut titles: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    titles.sort_unstable();
    assert_eq!(titles, ["Other deal", "Rep deal", "Team deal"]);
    let owners: Vec<&str> = rows.iter().map(|r| r[9].as_str()).collect();
    assert!(
        owners.contains(&"1002") && owners.contains(&"1003"),
        "{owners:?}"
    );

    // Under `visibility own` a rep's export holds their deals only.
    rig.interact(command(
        8,
        &rep,
        "export",
        None,
        vec![("kind", STRING, json!("deals"))],
    ))
    .await;
    let (message, files) = answer_of(&rig, 8).await;
    assert_eq!(files.len(), 1, "{message}");
    let rows = csv_rows(&files[0].bytes);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][1], "Rep deal");
    assert_eq!(rows[0][9], "1002");
    rig.stop().await;
}

#[sqlx::test(migrations = "./migrations")]
async fn discord_export_over_the_upload_limit_comes_gzipped_in_parts(pool: PgPool) {
    let fake = FakeDiscord::start().await;
    let rig = Rig::start_configured(fake, pool.clone(), |c| c.upload_limit = 600).await;
    let admin = Caller::admin(1001);
    for id in 1..=12u64 {
        let title = format!("Deal number {id} for customer {}", id * 7919);
        rig.interact(command(
            id,
            &admin,
            "deal",
            Some("new"),
            vec![
                ("title", STRING, json!(title)),
                ("amount", STRING, json!("1k")),
            ],
        ))
        .await;
    }
    rig.interact(command(
        20,
        &admin,
        "export",
        None,
        vec![("kind", STRING, json!("deals"))],
    ))
    .await;
    let (message, files) = answer_of(&rig, 20).await;
    assert!(!files.is_empty(), "{message}");
    let mut titles = Vec::new();
    for f in &files {
        assert!(
            f.bytes.len() <= 600,
            "{} is {} bytes",
            f.filename,
            f.bytes.len()
        );
        assert!(f.filename.ends_with(".csv.gz"), "{}", f.filename);
        let mut csv = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&f.bytes[..]), &mut csv)
            .expect("gzip");
        titles.extend(csv_rows(&csv).into_iter().map(|r| r[1].clone()));
    }
    assert_eq!(titles.len(), 12, "every deal once: {titles:?}");
    rig.stop().await;
}

/// A process told to run shard 1 of 2 identifies as that shard (serenity's shard range), and
/// answers the commands its shard receives.
#[sqlx::test]
async fn a_process_runs_only_the_shards_it_is_given(pool: PgPool) {
    let fake = FakeDiscord::start().await;
    let rig = Rig::start_configured(fake, pool, |c| {
        c.shards = salesbot::config::Shards::Range {
            start: 1,
            end: 1,
            total: 2,
        };
    })
    .await;
    assert_eq!(rig.fake.identify_shards(), vec![json!([1, 2])]);
}

/// Gateway starts share Discord's start limit over every process: two processes (two stores
/// on one database) asking for the same bucket get slots a window apart, another bucket goes
/// at once, and a shard's bucket is its id modulo `max_concurrency`.
#[sqlx::test]
async fn gateway_starts_wait_for_their_bucket_across_processes(pool: PgPool) {
    use salesbot::discord::identify::{IdentifyGate, IDENTIFY_SPACING};
    use salesbot::store::Pace;
    let (one, two) = (Store::from_pool(pool.clone()), Store::from_pool(pool));
    let first = one
        .reserve_slot(Pace::Identify(0), IDENTIFY_SPACING, 1)
        .await
        .expect("slot");
    let second = two
        .reserve_slot(Pace::Identify(0), IDENTIFY_SPACING, 1)
        .await
        .expect("slot");
    let other = two
        .reserve_slot(Pace::Identify(1), IDENTIFY_SPACING, 1)
        .await
        .expect("slot");
    let third = one
        .reserve_slot(Pace::Identify(0), IDENTIFY_SPACING, 1)
        .await
        .expect("slot");
    assert_eq!(first, Duration::ZERO, "the first start goes at once");
    assert!(
        second > Duration::from_secs(5) && second <= IDENTIFY_SPACING,
        "the second start in the bucket waits a window: {second:?}"
    );
    assert_eq!(other, Duration::ZERO, "another bucket is not held up");
    assert!(
        third > Duration::from_secs(10) && third <= IDENTIFY_SPACING * 2,
        "the third waits two windows: {third:?}"
    );
    let gate = IdentifyGate::new(one, 16);
    assert_eq!(
        [0, 1, 15, 16, 33].map(|shard| gate.bucket(shard)),
        [0, 1, 15, 0, 1]
    );
}

/// `/readyz` says ready only while the gateway is connected.
#[sqlx::test]
async fn readiness_follows_the_gateway(pool: PgPool) {
    let rig = Rig::start(pool.clone()).await;
    let engine = Engine::new(Store::from_pool(pool)).expect("engine");
    let app = salesbot::http::router(
        engine,
        &salesbot::http::HttpConfig::default(),
        salesbot::http::Readiness {
            gateway: Some(rig.connected.clone()),
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let url = format!("http://{addr}/readyz");
    let status = reqwest::get(&url).await.expect("readyz").status();
    assert_eq!(status, 200, "the bot is connected to the fake gateway");
    rig.connected
        .store(false, std::sync::atomic::Ordering::Relaxed);
    let status = reqwest::get(&url).await.expect("readyz").status();
    assert_eq!(status, 503);
}

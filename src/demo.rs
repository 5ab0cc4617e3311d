//! The demo workspace: about ten reps, 200 companies, 1,000 deals with six months of stage
//! history and activities, so `/pipeline stats` shows real-looking numbers on first run.
//! Generation is deterministic (a fixed seed), relative to the current time.

use crate::store::{SeedCompany, SeedContact, SeedDeal, SeedMember, Store};
use anyhow::Context as _;
use chrono::{DateTime, Duration, Utc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// The demo workspace's id.
pub const DEMO_WORKSPACE: i64 = 1000;
/// The member the console acts as in the demo: the team's manager.
pub const DEMO_USER: i64 = 100;

const REPS: [&str; 10] = [
    "Anna Snelling",
    "Cecily Lampkin",
    "Versie Hillebrand",
    "Moses Frase",
    "Darcel Schlecht",
    "Zane Levy",
    "Maureen Marcano",
    "Hayden Neloms",
    "Wilburn Farren",
    "Elizabeth Anderson",
];
const PREFIXES: [&str; 40] = [
    "Acme",
    "Betatech",
    "Cancity",
    "Codehow",
    "Dalttechnology",
    "Donware",
    "Faxquote",
    "Finhigh",
    "Gogozoom",
    "Golddex",
    "Goodsilron",
    "Groovestreet",
    "Hottechi",
    "Iselectrics",
    "Isdom",
    "Kan-code",
    "Konex",
    "Lexiqvolax",
    "Mathtouch",
    "Nam-zim",
    "Newex",
    "Ontomedia",
    "Opentech",
    "Plusstrip",
    "Plussunin",
    "Rangreen",
    "Rantouch",
    "Ron-tech",
    "Scotfind",
    "Silis",
    "Sonron",
    "Stanredtax",
    "Statholdings",
    "Streethex",
    "Sumace",
    "Toughzap",
    "Treequote",
    "Umbrella",
    "Warephase",
    "Xx-holding",
];
const SUFFIXES: [&str; 5] = ["", " Labs", " Group", " Systems", " Holdings"];
const INDUSTRIES: [&str; 8] = [
    "technology",
    "medical",
    "retail",
    "software",
    "finance",
    "marketing",
    "telecom",
    "services",
];
const TIERS: [&str; 3] = ["enterprise", "mid-market", "smb"];
const FIRST: [&str; 20] = [
    "Alice", "Ben", "Chen", "Dana", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jia", "Kofi", "Lena",
    "Mateo", "Nina", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Wei",
];
const LAST: [&str; 10] = [
    "Li", "Smith", "Garcia", "Okafor", "Müller", "Tanaka", "Novak", "Silva", "Khan", "Wang",
];
const PRODUCTS: [&str; 7] = [
    "GTX Basic",
    "GTX Pro",
    "MG Special",
    "MG Advanced",
    "GTX Plus Basic",
    "GTX Plus Pro",
    "GTK 500",
];
/// List prices in whole dollars, from the sample data's products.csv.
const LIST_PRICES: [(&str, i64); 7] = [
    ("GTX Basic", 550),
    ("GTX Pro", 4821),
    ("MG Special", 55),
    ("MG Advanced", 3393),
    ("GTX Plus Basic", 1096),
    ("GTX Plus Pro", 5482),
    ("GTK 500", 26768),
];
const TITLES: [&str; 5] = [
    "Head of IT",
    "CTO",
    "Procurement Lead",
    "Operations Manager",
    "CFO",
];
const LOST_REASONS: [&str; 5] = [
    "price too high",
    "went with a competitor",
    "no budget this year",
    "project cancelled",
    "no decision",
];
const KINDS: [&str; 6] = ["call", "email", "meeting", "visit", "message", "note"];
/// Stage names after Lead, with the chance a deal moves on from the stage before.
const PATH: [(&str, f64); 4] = [
    ("Qualified", 0.62),
    ("Proposal", 0.6),
    ("Negotiation", 0.66),
    ("Won", 0.58),
];

fn jitter(rng: &mut SmallRng, min_days: i64, max_days: i64) -> Duration {
    Duration::minutes(rng.gen_range(min_days * 24 * 60..=max_days * 24 * 60))
}

/// Generates the demo data as of `now`.
pub fn generate(
    now: DateTime<Utc>,
) -> (
    Vec<SeedMember>,
    Vec<SeedCompany>,
    Vec<SeedContact>,
    Vec<SeedDeal>,
) {
    let mut rng = SmallRng::seed_from_u64(42);
    let mut members = vec![SeedMember {
        user_id: DEMO_USER,
        name: "Dustin Brinkmann".into(),
        role: "admin",
        quota_minor: None,
    }];
    for (i, name) in REPS.iter().enumerate() {
        members.push(SeedMember {
            user_id: 101 + i as i64,
            name: name.to_string(),
            role: "rep",
            // $10,000 steps, in cents.
            quota_minor: Some(rng.gen_range(4..12) * 1_000_000),
        });
    }
    let rep = |i: usize| 101 + (i % REPS.len()) as i64;
    let mut companies = Vec::new();
    let mut contacts = Vec::new();
    for i in 0..200 {
        let name = format!(
            "{}{}",
            PREFIXES[i % PREFIXES.len()],
            SUFFIXES[i / PREFIXES.len()]
        );
        let owner = rep(i);
        companies.push(SeedCompany {
            name: name.clone(),
            owner_id: owner,
            industry: INDUSTRIES[rng.gen_range(0..INDUSTRIES.len())].to_string(),
            tier: TIERS[rng.gen_range(0..TIERS.len())],
        });
        for j in 0..rng.gen_range(1..=2) {
            let person = format!(
                "{} {}",
                FIRST[(i * 3 + j * 7) % FIRST.len()],
                LAST[(i + j * 3) % LAST.len()]
            );
            let domain = name.to_lowercase().replace([' ', '-'], "");
            contacts.push(SeedContact {
                email: format!(
                    "{}.{}{}@{}.example",
                    FIRST[(i * 3 + j * 7) % FIRST.len()].to_lowercase(),
                    i,
                    j,
                    domain
                ),
                name: person,
                company: name.clone(),
                owner_id: owner,
                title: TITLES[rng.gen_range(0..TITLES.len())].to_string(),
                birthday: rng
                    .gen_bool(0.3)
                    .then(|| (rng.gen_range(1..=12), rng.gen_range(1..=28))),
            });
        }
    }
    let mut deals = Vec::new();
    for n in 1..=1000i64 {
        let contact = &contacts[rng.gen_range(0..contacts.len())];
        let created_at = now - jitter(&mut rng, 1, 182);
        let product = PRODUCTS[rng.gen_range(0..PRODUCTS.len())];
        // Log-uniform between $2k and $150k, rounded to $100: a realistic spread of deal sizes.
        let dollars = (2_000f64 * (75f64).powf(rng.gen::<f64>())) as i64 / 100 * 100;
        let mut moves = vec![("Lead".to_string(), created_at)];
        let mut at = created_at;
        let mut lost_reason = None;
        for (i, (stage, advance)) in PATH.iter().enumerate() {
            let next_at = at + jitter(&mut rng, 2, 25);
            if next_at >= now {
                break;
            }
            if rng.gen_bool(*advance) {
                // Now and then a deal slips back a stage before moving on.
                if (1..3).contains(&i) && rng.gen_bool(0.05) {
                    let back = if i == 1 { "Qualified" } else { PATH[i - 1].0 };
                    moves.push((back.to_string(), next_at - Duration::days(1)));
                }
                moves.push((stage.to_string(), next_at));
                at = next_at;
                if *stage == "Won" {
                    break;
                }
            } else {
                if rng.gen_bool(0.7) {
                    moves.push(("Lost".to_string(), next_at));
                    lost_reason =
                        Some(LOST_REASONS[rng.gen_range(0..LOST_REASONS.len())].to_string());
                }
                break;
            }
        }
        let end = moves
            .last()
            .map(|m| m.1)
            .unwrap_or(created_at)
            .max(created_at + Duration::hours(1))
            .min(now);
        let mut activities = Vec::new();
        for _ in 0..rng.gen_range(2..=6) {
            let span = (end - created_at).num_minutes().max(1);
            let when = created_at + Duration::minutes(rng.gen_range(0..span));
            let kind = KINDS[rng.gen_range(0..KINDS.len())];
            let satisfaction = rng.gen_bool(0.5).then(|| rng.gen_range(3..=5));
            activities.push((
                kind,
                format!("{kind} about {product} with {}", contact.name),
                satisfaction,
                when,
            ));
        }
        deals.push(SeedDeal {
            number: n,
            title: format!("{} - {}", contact.company, product),
            company: contact.company.clone(),
            contact_email: contact.email.clone(),
            owner_id: contact.owner_id,
            amount_minor: dollars * 100,
            created_at,
            moves,
            lost_reason,
            activities,
        });
    }
    (members, companies, contacts, deals)
}

/// Seeds the demo workspace once; returns the workspace and the member to act as.
pub async fn seed(store: &Store, now: DateTime<Utc>) -> anyhow::Result<(i64, i64)> {
    let mut tx = store
        .begin()
        .await
        .context("failed to start the demo transaction")?;
    let ws = tx.ensure_workspace(DEMO_WORKSPACE).await?;
    if !tx.has_deals(DEMO_WORKSPACE).await? {
        let (members, companies, contacts, deals) = generate(now);
        tx.seed(
            DEMO_WORKSPACE,
            &ws.currency,
            &members,
            &companies,
            &contacts,
            &deals,
        )
        .await
        .context("failed to load demo data")?;
        tx.seed_demo_extras(DEMO_WORKSPACE, &LIST_PRICES, now)
            .await
            .context("failed to load the demo's products and close dates")?;
        tracing::info!(deals = deals.len(), "seeded the demo workspace");
    }
    tx.commit().await?;
    Ok((DEMO_WORKSPACE, DEMO_USER))
}

//! Renders one of each chart with sample figures (English and Chinese labels) into a directory,
//! for a look by eye: `cargo run --example charts -- /tmp/charts`.

use salesbot::charts::{bars, funnel, trend, FunnelBar, Series};

fn main() -> anyhow::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "charts".into());
    std::fs::create_dir_all(&dir)?;
    let stages = [
        ("Lead", 1000),
        ("Qualified", 591),
        ("Proposal", 325),
        ("Negotiation", 202),
        ("Won", 106),
    ];
    let bars_in: Vec<FunnelBar> = stages
        .iter()
        .zip(stages.iter().skip(1).map(Some).chain([None]))
        .map(|((name, n), next)| FunnelBar {
            label: name.to_string(),
            count: *n,
            value_label: match next {
                Some((_, m)) => format!("{n} · {:.1}%", *m as f64 * 100.0 / *n as f64),
                None => n.to_string(),
            },
        })
        .collect();
    std::fs::write(
        format!("{dir}/funnel.png"),
        funnel("Funnel · Team · this quarter", &bars_in)?,
    )?;
    let labels: Vec<String> = (1..=12).map(|m| format!("2026-{m:02}")).collect();
    let series = [
        Series {
            name: "赢单收入".into(),
            values: vec![
                0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 274_900.0, 660_300.0, 942_400.0, 891_300.0,
                559_600.0, 120_000.0,
            ],
        },
        Series {
            name: "新增管道".into(),
            values: vec![
                0.0,
                0.0,
                0.0,
                0.0,
                685_200.0,
                5_288_100.0,
                6_843_800.0,
                5_199_000.0,
                6_414_100.0,
                6_069_600.0,
                5_633_200.0,
                900_000.0,
            ],
        },
    ];
    let money = |v: f64| format!("${:.0}k", v / 1000.0);
    std::fs::write(
        format!("{dir}/trends.png"),
        trend("趋势 · 团队 · 今年 · 按月", &labels, &series, &money)?,
    )?;
    let products = [
        ("GTX Basic", 827_846.82),
        ("GTX Plus Basic", 617_215.37),
        ("MG Advanced", 597_528.35),
        ("GTX Plus Pro", 444_011.75),
        ("MG Special", 403_179.19),
        ("GTK 500", 216_268.0),
        ("GTX Pro", 198_051.0),
    ];
    let items: Vec<(String, f64)> = products.iter().map(|(n, v)| (n.to_string(), *v)).collect();
    std::fs::write(
        format!("{dir}/products.png"),
        bars("Products · Team · all time", &items, &money)?,
    )?;
    // Rendering cost, for the report latencies.
    let start = std::time::Instant::now();
    for _ in 0..20 {
        funnel("Funnel · Team · this quarter", &bars_in)?;
    }
    println!(
        "wrote funnel.png, trends.png and products.png to {dir}; a funnel takes {:.1} ms",
        start.elapsed().as_secs_f64() * 1000.0 / 20.0
    );
    Ok(())
}

//! What the benchmarks share: only run under `cargo bench`, and the bench database.

use salesbot::store::Store;

/// The benchmark database, or `None` when `cargo test` runs the bench target: the heavy work
/// happens only under `cargo bench`. `BENCH_DATABASE_URL` names another database.
pub async fn bench_store() -> anyhow::Result<Option<Store>> {
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(None);
    }
    Ok(Some(Store::connect(&bench_url()).await?))
}

/// The benchmark database's address.
pub fn bench_url() -> String {
    std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@localhost:5432/salesbot_bench".into())
}

/// This machine's core count, printed next to every figure.
pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0)
}

/// The `p` quantile (0..=1) of sorted samples, in milliseconds.
#[allow(dead_code)] // not every bench reports latencies
pub fn percentile(sorted: &[std::time::Duration], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}

/// Prints one line of p50/p95/p99 (and the maximum) for `samples`.
#[allow(dead_code)]
pub fn report(name: &str, mut samples: Vec<std::time::Duration>) {
    samples.sort();
    println!(
        "{name:<52} n={:<5} p50={:>7.2} ms  p95={:>7.2} ms  p99={:>7.2} ms  max={:>7.2} ms",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.95),
        percentile(&samples, 0.99),
        percentile(&samples, 1.0),
    );
}

/// CPU seconds (user + system) a process has used, from /proc/PID/stat.
#[allow(dead_code)]
pub fn cpu_secs(pid: u32) -> f64 {
    let ticks = 100.0; // USER_HZ on Linux
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // The command name may hold spaces; the fields after its ')' are fixed.
            let rest = s.rsplit_once(')')?.1.to_string();
            let f: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) / ticks)
        })
        .unwrap_or(0.0)
}

/// CPU seconds used so far by every PostgreSQL server process (the backends come and go with
/// the connections, so this is read at the start and end of a run over the same pool).
#[allow(dead_code)]
pub fn postgres_cpu_secs() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .map(cpu_secs)
        .sum()
}

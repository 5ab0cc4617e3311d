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

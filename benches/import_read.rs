//! Reading a large import file: generates a ~100 MB deals CSV in the temp directory (day-first
//! dates, so the column scan has work to do), reads it through the importer's `FileReader`
//! batch by batch, and prints rows per second and the process's peak resident memory
//! (`VmHWM`), which must stay under 150 MB: the file is streamed, never held whole.
//!
//! `cargo bench --bench import_read` (`BENCH_MB` changes the file size). Under `cargo test`
//! it reads a 1 MB file, to check that it runs.

#[allow(dead_code)]
mod common;

use std::io::Write;
use std::time::Instant;

use salesbot::domain::import::ReadOptions;
use salesbot::domain::money::Currency;
use salesbot::engine::import::{FileReader, Input, ReadSettings};

/// The importer's batch size.
const BATCH: usize = 1_000;

fn status(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse().ok())
        })
        .unwrap_or(0)
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn main() -> anyhow::Result<()> {
    let bench = std::env::args().any(|a| a == "--bench");
    let target_mb: u64 = if bench {
        std::env::var("BENCH_MB")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100)
    } else {
        1
    };
    let path = std::env::temp_dir().join(format!("salesbot-import-{target_mb}mb.csv"));
    let started = Instant::now();
    let mut rows = 0u64;
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
        writeln!(
            out,
            "Deal,Account,Contact,Email,Amount,Stage,Close date,Owner,Notes"
        )?;
        let mut written = 0u64;
        while written < target_mb * 1024 * 1024 {
            let line = format!(
                "Deal {rows},Account {},Person {rows},p{rows}@acct{}.test,{}.{:02},{},{:02}/{:02}/{},Rep {},\"note, with a comma\"\n",
                rows % 20_000,
                rows % 20_000,
                1_000 + rows % 90_000,
                rows % 100,
                ["Prospecting", "Engaging", "Closed Won", "Closed Lost"][(rows % 4) as usize],
                1 + rows % 28,
                1 + rows % 12,
                2020 + rows % 6,
                rows % 35,
            );
            out.write_all(line.as_bytes())?;
            written += line.len() as u64;
            rows += 1;
        }
        out.flush()?;
    }
    let size = std::fs::metadata(&path)?.len();
    println!(
        "generated {} ({:.1} MB, {rows} rows) in {:.1}s",
        path.display(),
        size as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    let generator_peak = status("VmHWM:");
    // Peak memory from here on: the generator's buffers are not the reader's.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = status("VmRSS:");

    let settings = ReadSettings {
        options: ReadOptions::new(Currency::parse("USD").map_err(|e| anyhow::anyhow!("{e:?}"))?),
        sheet: None,
    };
    let started = Instant::now();
    let mut reader = FileReader::open(Input::Path(path.clone()), &settings)?;
    let opened = started.elapsed();
    let (mut read, mut refused, mut batches) = (0u64, 0u64, 0u64);
    while let Some(batch) = reader.next_batch(BATCH)? {
        read += batch.rows.len() as u64;
        refused += batch.refused.len() as u64;
        batches += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (done, total) = reader.progress();
    let peak = status("VmHWM:");
    println!(
        "read {read} rows ({refused} refused) in {batches} batches: open (encoding check and column scan) {:.2}s, all {elapsed:.2}s, {:.0} rows/s, {:.1} MB/s; progress {done}/{total}",
        opened.as_secs_f64(),
        read as f64 / elapsed,
        size as f64 / 1e6 / elapsed
    );
    println!(
        "resident memory: {:.1} MB peak while generating, {:.1} MB before reading, peak {:.1} MB while reading a {:.1} MB file (limit 150 MB); {} cores",
        mb(generator_peak),
        mb(before),
        mb(peak),
        size as f64 / 1e6,
        common::cores()
    );
    let _ = std::fs::remove_file(&path);
    anyhow::ensure!(read == rows && refused == 0, "read {read} of {rows} rows");
    anyhow::ensure!(done == total, "progress {done}/{total}");
    if bench {
        anyhow::ensure!(mb(peak) < 150.0, "peak resident memory {:.1} MB", mb(peak));
    }
    Ok(())
}

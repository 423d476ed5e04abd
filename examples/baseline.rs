//! The floor for this stack, for docs/performance.md: what polars alone takes to read a
//! delivery CSV and take the community group-by mean, and to read the stored Parquet
//! and take the same group-by. `manyi ingest` and `manyi score` are measured as ratios
//! to these in the same run (scripts/bench.sh).
//!
//! usage: baseline csv FILE.csv | baseline parquet STORE_RESPONSES_DIR

use std::path::{Path, PathBuf};
use std::time::Instant;

use polars::prelude::*;

#[allow(deprecated)] // eager GroupBy::mean: the simplest polars group-by there is
fn group_mean(df: &DataFrame, key: &str, value: &str) -> PolarsResult<DataFrame> {
    df.group_by([key])?.select([value]).mean()
}

fn parquet_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            parquet_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
}

fn main() -> PolarsResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let (mode, path) = match args.as_slice() {
        [_, m, p] => (m.as_str(), PathBuf::from(p)),
        _ => {
            eprintln!("usage: baseline csv FILE.csv | baseline parquet DIR");
            std::process::exit(2);
        }
    };
    let t = Instant::now();
    let (rows, groups) = match mode {
        "csv" => {
            let df = CsvReadOptions::default()
                .with_has_header(true)
                .try_into_reader_with_file_path(Some(path))?
                .finish()?;
            let g = group_mean(&df, "community_code", "duration_s")?;
            (df.height(), g.height())
        }
        "parquet" | "parquet-read-all" => {
            let mut files = Vec::new();
            parquet_files(&path, &mut files);
            let mut all: Option<DataFrame> = None;
            let mut cols: Vec<String> = vec!["community_code".into(), "q10".into()];
            if mode == "parquet-read-all" {
                // Only reading what `manyi score` reads (no group-by): for docs/performance.md.
                cols.push("valid".into());
                cols.extend((1..10).map(|k| format!("q{k}")));
            }
            for f in files {
                let df = ParquetReader::new(std::fs::File::open(&f)?)
                    .with_columns(Some(cols.clone()))
                    .finish()?;
                all = Some(match all {
                    None => df,
                    Some(mut a) => {
                        a.vstack_mut(&df)?;
                        a
                    }
                });
            }
            let df = all.unwrap_or_default();
            if mode == "parquet-read-all" {
                println!(
                    "read-all rows={} seconds={:.3}",
                    df.height(),
                    t.elapsed().as_secs_f64()
                );
                return Ok(());
            }
            let df = df.lazy_free_cast()?;
            let g = group_mean(&df, "community_code", "q10")?;
            (df.height(), g.height())
        }
        _ => {
            eprintln!("mode must be csv or parquet");
            std::process::exit(2);
        }
    };
    println!(
        "{mode} rows={rows} groups={groups} seconds={:.3}",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

trait CastQ10 {
    fn lazy_free_cast(self) -> PolarsResult<DataFrame>;
}

impl CastQ10 for DataFrame {
    /// q10 is stored as UInt8 (an answer position); the mean wants a float.
    fn lazy_free_cast(mut self) -> PolarsResult<DataFrame> {
        if self.height() > 0 {
            let c = self.column("q10")?.cast(&DataType::Float64)?;
            self.with_column(c)?;
        }
        Ok(self)
    }
}

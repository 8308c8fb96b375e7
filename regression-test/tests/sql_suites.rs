//! Runs every `regression-test/suites/*.slt` file, in name order, against one cluster (1 FE +
//! 1 BE). Each file creates and drops its own database. `SLT_COMPLETE=1` rewrites the files with
//! the actual output instead (check it by hand against an independent source before committing).
//!
//! Run: `cargo build --bins && cargo test -p regression-test --test sql_suites`.
//! `SLT=14` (a file name prefix) runs only the matching files.

use std::path::{Path, PathBuf};

use regression_test::{run_slt_file, Cluster};

fn suite_files() -> Vec<PathBuf> {
    // The package directory is the test's working directory under `cargo test`.
    let dir = match std::env::current_dir() {
        Ok(cwd) if cwd.join("suites").is_dir() => cwd.join("suites"),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("suites"),
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "slt"))
        .collect();
    files.sort();
    if let Ok(prefix) = std::env::var("SLT") {
        files.retain(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
        });
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_suites() {
    let files = suite_files();
    assert!(!files.is_empty(), "no .slt files in suites/");
    let cluster = Cluster::start(1).await;
    let mut failures = Vec::new();
    for file in &files {
        let name = file
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        match run_slt_file(&cluster, file).await {
            Ok(()) => eprintln!("ok   {name}"),
            Err(e) => {
                eprintln!("FAIL {name}");
                failures.push(format!("==== {name}\n{e}"));
            }
        }
    }
    eprintln!(
        "slt files: {} ok, {} failing",
        files.len() - failures.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} .slt files failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

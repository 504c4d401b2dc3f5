//! A custom source: one execution per file under a local folder (say, the
//! partitions a job left on a shared disk), walked lazily and handed to the
//! library as items. Any iterator of serializable objects will do.
//!
//!     cargo run --example custom_source -- STATE_MACHINE_ARN FOLDER [RUN_DIR]

use std::path::{Path, PathBuf};

use serde_json::json;

/// Every file below `folder`, depth first, in name order.
fn files(folder: &Path) -> impl Iterator<Item = PathBuf> {
    let mut pending = vec![folder.to_path_buf()];
    std::iter::from_fn(move || {
        while let Some(path) = pending.pop() {
            if !path.is_dir() {
                return Some(path);
            }
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&path)
                .into_iter()
                .flatten()
                .flatten()
                .map(|entry| entry.path())
                .collect();
            entries.sort_by(|a, b| b.cmp(a));
            pending.extend(entries);
        }
        None
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let (Some(state_machine), Some(folder)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: custom_source STATE_MACHINE_ARN FOLDER [RUN_DIR]");
    };
    let run_dir = args
        .next()
        .unwrap_or_else(|| "sfn-batch-runs/custom-source".into());
    let folder = PathBuf::from(folder);

    let items = files(&folder).map(|path| {
        let relative = path.strip_prefix(&folder).unwrap_or(&path);
        let size = path.metadata().map(|m| m.len()).unwrap_or(0);
        json!({"path": relative.display().to_string(), "bytes": size})
    });
    let summary = sfn_batch::Batch::new(state_machine)
        .items("files", items)?
        .input_template(r#"{"File": "{path}", "Bytes": "{bytes}"}"#)
        .run_dir(run_dir)
        .max_failures("10%")
        .wait(true)
        .run()
        .await?;
    println!("{}", summary.counts.human(summary.rows));
    std::process::exit(summary.exit_code);
}

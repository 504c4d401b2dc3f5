//! Launches a batch built in code: one execution per (region, day) pair, the way
//! a service would embed sfn-batch instead of writing a manifest first.
//!
//!     cargo run --example launch_vec -- STATE_MACHINE_ARN [RUN_DIR]

use serde::Serialize;

/// One job: what the state machine's input is rendered from.
#[derive(Serialize)]
struct Partition {
    region: &'static str,
    date: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let Some(state_machine) = args.next() else {
        anyhow::bail!("usage: launch_vec STATE_MACHINE_ARN [RUN_DIR]");
    };
    let run_dir = args
        .next()
        .unwrap_or_else(|| "sfn-batch-runs/launch-vec".into());

    let mut partitions = Vec::new();
    for region in ["eu", "us"] {
        for day in 1..=3 {
            let date = format!("2024-01-{day:02}");
            partitions.push(Partition { region, date });
        }
    }
    let summary = sfn_batch::Batch::new(state_machine)
        .items("partitions", partitions)?
        .input_template(
            r#"{"Input": "s3://raw/{region}/{date}/", "Output": "s3://out/{region}/{date}/"}"#,
        )
        .name_template("partition-{region}-{date}")
        .run_dir(run_dir)
        .rate(20.0)
        .run()
        .await?;
    println!("{}", summary.counts.human(summary.rows));
    std::process::exit(summary.exit_code);
}

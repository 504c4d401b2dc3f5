//! Plans a manifest with the library, without AWS: prints each row's execution name
//! and input, as `run --dry-run` would send them.
//!
//!     cargo run --example plan -- manifests/preprocessing.csv \
//!         arn:aws:states:us-east-1:123456789012:stateMachine:preprocessing \
//!         "$(cat manifests/preprocessing.template.json)"

use sfn_batch::internals::plan::Planner;
use sfn_batch::internals::source::{self, Flow, Format, ManifestFile, ParseOptions};
use sfn_batch::internals::template::InputTemplate;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(state_machine)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: plan MANIFEST STATE_MACHINE_ARN [INPUT_TEMPLATE]");
    };
    let template = args.next().map(|t| InputTemplate::parse(&t)).transpose()?;
    let location = source::Location::parse(&path);
    let format = Format::from_name(&path).unwrap_or(Format::Csv);
    // No S3 client: a local file (or stdin) only.
    let manifest = ManifestFile::materialize(&location, None).await?;
    let planner = Planner::new(state_machine, "example".into(), template, None);
    let options = ParseOptions {
        format,
        delimiter: b',',
    };
    source::for_each_item(&manifest, options, |item| {
        match planner.plan(item) {
            Ok(launch) => println!("{}\t{}", launch.name, launch.input),
            Err(invalid) => eprintln!("row {}: {}", invalid.row, invalid.reason),
        }
        Flow::Continue
    })?;
    Ok(())
}

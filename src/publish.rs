//! `--report-to s3://bucket/prefix/`: copies a run's record to S3 at its end (an
//! interrupted run included), for hosts thrown away after the job.

use aws_sdk_s3::primitives::ByteStream;

use crate::aws::error_text;
use crate::error::Error;
use crate::runlog::{REPORT, RESULTS, RunDir, SUMMARY};
use crate::template::split_s3_url;

/// The files uploaded, in this order: the summary last, so that a reader who finds
/// it finds the others complete.
const PUBLISHED: [&str; 3] = [RESULTS, REPORT, SUMMARY];

/// Where `--report-to` puts a run's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportTo {
    bucket: String,
    /// Empty, or ending in `/`.
    prefix: String,
}

impl ReportTo {
    pub fn parse(url: &str) -> Result<ReportTo, String> {
        let (bucket, prefix) = split_s3_url(url)
            .ok_or_else(|| format!("expected s3://BUCKET/PREFIX/, not `{url}`"))?;
        let mut prefix = prefix.to_string();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        Ok(ReportTo {
            bucket: bucket.to_string(),
            prefix,
        })
    }

    fn url(&self, name: &str) -> String {
        format!("s3://{}/{}{name}", self.bucket, self.prefix)
    }

    /// Uploads the run log, the report and the summary under the prefix.
    pub async fn upload(&self, s3: &aws_sdk_s3::Client, run_dir: &RunDir) -> Result<(), Error> {
        for name in PUBLISHED {
            let url = self.url(name);
            let failed = |message: String| Error::Run {
                context: format!("--report-to: uploading {url}"),
                source: message.into(),
            };
            // Streamed from the file: a run log of millions of rows is never in memory.
            let body = ByteStream::from_path(run_dir.file(name))
                .await
                .map_err(|e| failed(e.to_string()))?;
            s3.put_object()
                .bucket(&self.bucket)
                .key(format!("{}{name}", self.prefix))
                .body(body)
                .send()
                .await
                .map_err(|e| failed(error_text(&e)))?;
        }
        tracing::info!("uploaded to {}", self.url(""));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_is_a_folder() {
        let to = ReportTo::parse("s3://ops/runs/nightly").unwrap();
        assert_eq!(to.url(SUMMARY), "s3://ops/runs/nightly/summary.json");
        let to = ReportTo::parse("s3://ops").unwrap();
        assert_eq!(to.url(SUMMARY), "s3://ops/summary.json");
        assert!(ReportTo::parse("ops/runs").is_err());
    }
}

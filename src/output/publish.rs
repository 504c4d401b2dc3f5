//! `--report-to s3://bucket/prefix/`: copies a run's record to S3 at its end (an
//! interrupted run included), for hosts thrown away after the job.

use std::path::Path;

use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use crate::aws::error_text;
use crate::aws::s3_url::S3Prefix;
use crate::error::Error;
use crate::record::run_dir::{REPORT, RESULTS, RunDir, SUMMARY};

/// The size of one part of a multipart upload (S3 wants at least 5 MiB, and at
/// most 10,000 parts: 640 GiB here).
const PART_BYTES: u64 = 64 << 20;

/// The files uploaded, in this order: the summary last, so that a reader who finds
/// it finds the others complete.
const PUBLISHED: [&str; 3] = [RESULTS, REPORT, SUMMARY];

/// Where `--report-to` puts a run's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReportTo(S3Prefix);

impl ReportTo {
    /// Parses `s3://BUCKET/PREFIX/`; a prefix without a final `/` gets one.
    pub(crate) fn parse(url: &str) -> Result<ReportTo, String> {
        S3Prefix::parse(url).map(ReportTo)
    }

    /// Uploads the run log, the report and the summary under the prefix.
    pub(crate) async fn upload(
        &self,
        s3: &aws_sdk_s3::Client,
        run_dir: &RunDir,
    ) -> Result<(), Error> {
        for name in PUBLISHED {
            let url = self.0.url(name);
            upload_file(s3, self.0.bucket(), &self.0.key(name), &run_dir.file(name))
                .await
                .map_err(|message| Error::Run {
                    context: format!("--report-to: uploading {url}"),
                    source: message.into(),
                })?;
        }
        tracing::info!("uploaded to {}", self.0.url(""));
        Ok(())
    }

    /// Uploads after a run: a failure is an error only if the run itself
    /// succeeded; otherwise its own exit code (1, or 130 for a resume) stands, and
    /// the failure is logged.
    pub(crate) async fn upload_after(
        &self,
        s3: &aws_sdk_s3::Client,
        run_dir: &RunDir,
        exit_code: i32,
    ) -> Result<(), Error> {
        match self.upload(s3, run_dir).await {
            Err(error) if exit_code != crate::model::exit::SUCCESS => {
                tracing::error!("{error}");
                Ok(())
            }
            other => other,
        }
    }
}

/// One PutObject up to `PART_BYTES`; a multipart upload beyond (PutObject takes
/// at most 5 GB, and a run log of 10 million followed rows is more). Each part is
/// streamed from the file, never held whole.
pub(crate) async fn upload_file(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    path: &Path,
) -> Result<(), String> {
    let size = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    let part = |offset: u64| async move {
        ByteStream::read_from()
            .path(path)
            .offset(offset)
            .length(Length::Exact(PART_BYTES.min(size - offset)))
            .build()
            .await
            .map_err(|e| e.to_string())
    };
    if size <= PART_BYTES {
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .body(part(0).await?)
            .send()
            .await
            .map_err(|e| error_text(&e))?;
        return Ok(());
    }
    let upload = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| error_text(&e))?;
    let id = upload.upload_id().unwrap_or_default();
    let mut parts = Vec::new();
    for (number, offset) in (0..size).step_by(PART_BYTES as usize).enumerate() {
        let number = number as i32 + 1;
        let sent = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .part_number(number)
            .body(part(offset).await?)
            .send()
            .await;
        match sent {
            Ok(sent) => parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(sent.e_tag)
                    .build(),
            ),
            Err(e) => {
                // Parts of an abandoned upload are billed until aborted.
                let _ = s3
                    .abort_multipart_upload()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(id)
                    .send()
                    .await;
                return Err(error_text(&e));
            }
        }
    }
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .map_err(|e| error_text(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_is_a_folder() {
        let to = S3Prefix::parse("s3://ops/runs/nightly").unwrap();
        assert_eq!(to.url(SUMMARY), "s3://ops/runs/nightly/summary.json");
        let to = S3Prefix::parse("s3://ops").unwrap();
        assert_eq!(to.url(SUMMARY), "s3://ops/summary.json");
        assert!(S3Prefix::parse("ops/runs").is_err());
    }
}

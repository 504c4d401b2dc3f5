//! S3 URLs: `s3://bucket/key` and `s3://bucket/prefix/`.

/// `s3://bucket/key` → (`bucket`, `key`); the key may be empty (`s3://bucket/`).
pub(crate) fn split_s3_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then_some((bucket, key))
}

/// A folder in S3: `s3://BUCKET/PREFIX/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct S3Prefix {
    bucket: String,
    /// Empty, or ending in `/`.
    prefix: String,
}

impl S3Prefix {
    /// Parses `s3://BUCKET/PREFIX/`; a prefix without a final `/` gets one.
    pub(crate) fn parse(url: &str) -> Result<S3Prefix, String> {
        let (bucket, prefix) = split_s3_url(url)
            .ok_or_else(|| format!("expected s3://BUCKET/PREFIX/, not `{url}`"))?;
        let mut prefix = prefix.to_string();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        Ok(S3Prefix {
            bucket: bucket.to_string(),
            prefix,
        })
    }

    /// The bucket.
    pub(crate) fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The key of `name` in the folder.
    pub(crate) fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// `s3://BUCKET/PREFIX/name`.
    pub(crate) fn url(&self, name: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.key(name))
    }
}

//! Where a manifest comes from, and how it becomes a local file read twice.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use super::ManifestError;

/// The `--manifest` argument: `-`, `s3://bucket/key`, or a local path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `-`: the standard input.
    Stdin,
    /// An S3 object, `s3://bucket/key`.
    S3 {
        /// The bucket.
        bucket: String,
        /// The object's key.
        key: String,
    },
    /// A local file.
    File(PathBuf),
}

impl Location {
    /// Reads the argument: `-` is stdin, an `s3://` URL an object, anything else a path.
    pub fn parse(arg: &str) -> Location {
        if arg == "-" {
            return Location::Stdin;
        }
        match crate::aws::s3_url::split_s3_url(arg) {
            Some((bucket, key)) => Location::S3 {
                bucket: bucket.to_string(),
                key: key.to_string(),
            },
            None => Location::File(PathBuf::from(arg)),
        }
    }

    /// How the manifest is named in messages (and what its format is guessed from).
    pub fn display_name(&self) -> String {
        match self {
            Location::Stdin => "<stdin>".to_string(),
            Location::S3 { bucket, key } => format!("s3://{bucket}/{key}"),
            Location::File(path) => path.display().to_string(),
        }
    }
}

/// A manifest as a local file that can be opened any number of times, with the
/// SHA-256 of its bytes (which guards a resume) and what identifies its batch.
#[derive(Debug)]
pub struct ManifestFile {
    display_name: String,
    path: PathBuf,
    sha256: String,
    /// A manifest's own bytes; for a listing or a date range, what was asked for
    /// (a listing changes as objects come and go, its batch does not).
    identity: String,
    /// What a default batch id starts with: the manifest's file name, a listing's
    /// last prefix segment, `dates`.
    short_name: String,
    /// Keeps a spooled copy alive (and deletes it at the end).
    _spool: Option<NamedTempFile>,
}

/// The identity of a generated source (a listing, a date range), from the text of
/// what was asked for: what its default batch id hashes.
pub(crate) fn identity_of(asked: &str) -> String {
    hex::encode(Sha256::digest(asked.as_bytes()))
}

impl ManifestFile {
    /// Makes `location` readable as a local file: a path is used in place, stdin and
    /// S3 objects are copied once to a temporary file (streamed, never in memory).
    pub async fn materialize(
        location: &Location,
        s3: Option<&aws_sdk_s3::Client>,
    ) -> Result<ManifestFile, ManifestError> {
        let display_name = location.display_name();
        let error = |message: String| ManifestError {
            file: display_name.clone(),
            row: None,
            line: None,
            message,
        };
        let spool = match location {
            Location::File(_) => None,
            Location::Stdin => Some(
                tokio::task::spawn_blocking(|| -> io::Result<NamedTempFile> {
                    let mut spool = NamedTempFile::new()?;
                    io::copy(&mut io::stdin().lock(), &mut spool)?;
                    Ok(spool)
                })
                .await
                .expect("stdin copy panicked")
                .map_err(|e| error(format!("cannot read: {e}")))?,
            ),
            Location::S3 { bucket, key } => {
                let s3 = s3.ok_or_else(|| error(super::NOT_OFFLINE.to_string()))?;
                Some(download(s3, bucket, key).await.map_err(error)?)
            }
        };
        let path = match (&spool, location) {
            (Some(spool), _) => spool.path().to_path_buf(),
            (None, Location::File(path)) => path.clone(),
            (None, _) => unreachable!("only local files are read in place"),
        };
        let hashed = path.clone();
        let sha256 = tokio::task::spawn_blocking(move || sha256_file(&hashed))
            .await
            .expect("hashing panicked")
            .map_err(|e| error(format!("cannot read: {e}")))?;
        let short_name = Path::new(&display_name)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("stdin")
            .to_string();
        Ok(ManifestFile {
            display_name,
            path,
            short_name,
            identity: sha256.clone(),
            sha256,
            _spool: spool,
        })
    }

    /// A JSON Lines file of items a source generated (a listing, a date range),
    /// identified by `identity`, the text of what was asked for.
    pub(super) fn generated(
        display_name: String,
        short_name: String,
        identity: &str,
        spool: NamedTempFile,
    ) -> io::Result<ManifestFile> {
        Ok(ManifestFile {
            display_name,
            short_name,
            path: spool.path().to_path_buf(),
            sha256: sha256_file(spool.path())?,
            identity: identity_of(identity),
            _spool: Some(spool),
        })
    }

    #[cfg(test)]
    pub(super) fn local(display_name: &str, path: &Path) -> ManifestFile {
        ManifestFile {
            display_name: display_name.to_string(),
            path: path.to_path_buf(),
            sha256: String::new(),
            identity: String::new(),
            short_name: display_name.to_string(),
            _spool: None,
        }
    }

    /// How messages name the manifest.
    pub fn display_name(&self) -> &str {
        &self.display_name
    }

    /// The SHA-256 of the manifest's bytes, in hex: a resume checks it.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// What identifies the batch, in hex: the manifest's SHA-256, or for a listing or
    /// a date range, that of what was asked for.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// What a default batch id starts with.
    pub fn short_name(&self) -> &str {
        &self.short_name
    }

    /// Opens the manifest from its start, decompressing gzip (recognised by its magic
    /// bytes, so a compressed stdin or S3 object works whatever its name).
    pub fn open(&self) -> io::Result<Box<dyn BufRead + Send>> {
        let mut file = BufReader::with_capacity(256 * 1024, File::open(&self.path)?);
        let gzip = file.fill_buf()?.starts_with(&[0x1f, 0x8b]);
        Ok(if gzip {
            Box::new(BufReader::with_capacity(
                256 * 1024,
                Gunzip(MultiGzDecoder::new(file)),
            ))
        } else {
            Box::new(file)
        })
    }
}

/// Says where a decompression error comes from, so that a truncated gzip file is
/// not reported as bad CSV or JSON.
struct Gunzip<R>(MultiGzDecoder<R>);

impl<R: Read> Read for Gunzip<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot decompress gzip, the file is truncated or corrupt: {e}"),
            )
        })
    }
}

/// Downloads an object to a temporary file, never holding it whole.
pub(crate) async fn download(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<NamedTempFile, String> {
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| format!("cannot get the object: {}", crate::aws::error_text(&e)))?;
    let spool = NamedTempFile::new().map_err(|e| format!("cannot create a spool file: {e}"))?;
    let mut out = tokio::fs::File::from_std(spool.reopen().map_err(|e| e.to_string())?);
    let mut body = object.body.into_async_read();
    tokio::io::copy(&mut body, &mut out)
        .await
        .map_err(|e| format!("download interrupted: {e}"))?;
    Ok(spool)
}

pub(super) fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

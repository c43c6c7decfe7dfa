//! Image data: a trait beside [`super::Store`], with a filesystem backend.
//!
//! An upload streams into a temporary file in the image directory while its
//! MD5 (Glance's `checksum`) and SHA-512 (`os_hash_value`) are computed; the
//! file and the directory are fsynced and the file renamed to the image ID
//! only when every byte is in. So the image's data file either holds the
//! whole upload or does not exist: a reader (this replica or another on the
//! same shared directory) never sees a half-written one. Temporary files are
//! touched while their upload runs; a sweep at start-up removes those left by
//! a crash (untouched for a while) and data files of images that are gone.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use md5::Digest;
use tokio::io::AsyncWriteExt;

/// By default, a temporary file untouched this long belongs to an upload
/// that died (`--upload-stale-secs`).
pub const STALE_UPLOAD: Duration = Duration::from_secs(120);

/// What a finished upload wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub size: u64,
    /// MD5, lower-case hex (Glance's `checksum`).
    pub md5: String,
    /// SHA-512, lower-case hex (`os_hash_value` with `os_hash_algo` sha512).
    pub sha512: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The upload passed the size cap; nothing was kept.
    #[error("image data exceeds the cap of {0} bytes")]
    TooLarge(u64),
    /// The client's body failed (disconnect, bad chunking); nothing was kept.
    #[error("reading the upload: {0}")]
    Body(String),
    #[error("image store I/O: {0}")]
    Io(#[from] std::io::Error),
}

#[async_trait]
pub trait DataStore: Send + Sync + 'static {
    /// Streams `body` into the image's data, durably, or keeps nothing.
    async fn write(
        &self,
        image_id: &str,
        body: std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send>>,
        cap: u64,
    ) -> Result<Written, DataError>;
    /// The data file to read, if the image has data.
    async fn open(&self, image_id: &str) -> Result<Option<(tokio::fs::File, u64)>, DataError>;
    /// Removes the image's data, if any.
    async fn delete(&self, image_id: &str) -> Result<(), DataError>;
    /// Removes temporary files untouched for longer than `stale` (their
    /// upload died); returns how many went.
    async fn remove_stale_uploads(&self, stale: Duration) -> Result<u64, DataError>;
    /// The images that have a data file, and how long ago each was written.
    async fn data_files(&self) -> Result<Vec<(String, Duration)>, DataError>;
    /// The images with a running upload: a temporary file touched within
    /// `stale`.
    async fn running_uploads(&self, stale: Duration) -> Result<HashSet<String>, DataError>;
    /// How long ago the image's data file was written, if it has one.
    async fn data_age(&self, image_id: &str) -> Result<Option<Duration>, DataError>;
}

/// Image data as files in one directory (`--image-dir`), named by image ID.
pub struct FsDataStore {
    dir: PathBuf,
    /// How often a running upload touches its temporary file.
    touch_every: Duration,
}

impl FsDataStore {
    /// `stale`: how long an untouched temporary file is taken for a live
    /// upload; running uploads touch theirs four times as often.
    pub fn open(dir: &Path, stale: Duration) -> Result<Self, DataError> {
        std::fs::create_dir_all(dir)?;
        Ok(FsDataStore {
            dir: dir.to_owned(),
            touch_every: (stale / 4).min(Duration::from_secs(10)),
        })
    }

    fn path(&self, image_id: &str) -> PathBuf {
        self.dir.join(image_id)
    }
}

/// Image IDs are canonical UUIDs (checked before they get here); anything
/// else never names a file.
fn is_image_file(name: &str) -> bool {
    name.len() == 36 && uuid::Uuid::parse_str(name).is_ok()
}

/// `.upload-<image id>-<uuid>`: an upload's temporary file.
fn is_upload_file(name: &str) -> bool {
    name.starts_with(".upload-")
}

async fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || std::fs::File::open(dir)?.sync_all())
        .await
        .map_err(std::io::Error::other)?
}

#[async_trait]
impl DataStore for FsDataStore {
    async fn write(
        &self,
        image_id: &str,
        mut body: std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send>>,
        cap: u64,
    ) -> Result<Written, DataError> {
        let tmp = self.dir.join(format!(
            ".upload-{image_id}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let result = async {
            let mut file = tokio::fs::File::create(&tmp).await?;
            let (mut md5, mut sha512) = (md5::Md5::new(), sha2::Sha512::new());
            let mut size = 0u64;
            let mut touched = std::time::Instant::now();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(DataError::Body)?;
                size += chunk.len() as u64;
                if size > cap {
                    return Err(DataError::TooLarge(cap));
                }
                md5.update(&chunk);
                sha512.update(&chunk);
                file.write_all(&chunk).await?;
                if touched.elapsed() >= self.touch_every {
                    touched = std::time::Instant::now();
                    let f = file.try_clone().await?.into_std().await;
                    let _ = tokio::task::spawn_blocking(move || f.set_modified(SystemTime::now()))
                        .await;
                }
            }
            file.flush().await?;
            file.sync_all().await?;
            drop(file);
            tokio::fs::rename(&tmp, self.path(image_id)).await?;
            fsync_dir(&self.dir).await?;
            Ok(Written {
                size,
                md5: hex(&md5.finalize()),
                sha512: hex(&sha512.finalize()),
            })
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }

    async fn open(&self, image_id: &str) -> Result<Option<(tokio::fs::File, u64)>, DataError> {
        match tokio::fs::File::open(self.path(image_id)).await {
            Ok(f) => {
                let len = f.metadata().await?.len();
                Ok(Some((f, len)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, image_id: &str) -> Result<(), DataError> {
        match tokio::fs::remove_file(self.path(image_id)).await {
            Ok(()) => fsync_dir(&self.dir).await.map_err(Into::into),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn remove_stale_uploads(&self, stale: Duration) -> Result<u64, DataError> {
        let mut removed = 0;
        for (name, age) in self.entries(is_upload_file).await? {
            if age > stale {
                tokio::fs::remove_file(self.dir.join(&name)).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    async fn data_files(&self) -> Result<Vec<(String, Duration)>, DataError> {
        self.entries(is_image_file).await
    }

    async fn running_uploads(&self, stale: Duration) -> Result<HashSet<String>, DataError> {
        Ok(self
            .entries(is_upload_file)
            .await?
            .into_iter()
            .filter(|(_, age)| *age <= stale)
            .filter_map(|(name, _)| Some(name.strip_prefix(".upload-")?.get(..36)?.to_owned()))
            .collect())
    }

    async fn data_age(&self, image_id: &str) -> Result<Option<Duration>, DataError> {
        match tokio::fs::metadata(self.path(image_id)).await {
            Ok(m) => Ok(Some(m.modified()?.elapsed().unwrap_or_default())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

impl FsDataStore {
    /// The files of the directory whose name `wanted` accepts, with their
    /// age (since last written); only those are stat'ed.
    async fn entries(
        &self,
        wanted: fn(&str) -> bool,
    ) -> Result<Vec<(String, Duration)>, DataError> {
        let mut out = Vec::new();
        let mut entries = tokio::fs::read_dir(&self.dir).await?;
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !wanted(&name) {
                continue;
            }
            let age = entry
                .metadata()
                .await?
                .modified()?
                .elapsed()
                .unwrap_or_default();
            out.push((name, age));
        }
        Ok(out)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(
        chunks: Vec<Result<&'static [u8], &'static str>>,
    ) -> std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send>> {
        Box::pin(futures::stream::iter(
            chunks
                .into_iter()
                .map(|c| c.map(Bytes::from_static).map_err(str::to_owned)),
        ))
    }

    const ID: &str = "6f0ea3a3-8a5a-4d57-8f6b-3c54c9c2b7a1";

    #[tokio::test]
    async fn writes_whole_files_with_their_digests() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsDataStore::open(dir.path(), STALE_UPLOAD).unwrap();
        let w = store
            .write(ID, stream(vec![Ok(b"hello "), Ok(b"world")]), 100)
            .await
            .unwrap();
        assert_eq!(w.size, 11);
        assert_eq!(w.md5, "5eb63bbbe01eeed093cb22bb8f5acdc3");
        assert!(w.sha512.starts_with("309ecc489c12d6eb4cc40f50c902f2b4"));
        let (_, len) = store.open(ID).await.unwrap().unwrap();
        assert_eq!(len, 11);
        // Only the data file is left.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [ID]);
    }

    #[tokio::test]
    async fn a_failed_or_oversized_upload_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsDataStore::open(dir.path(), STALE_UPLOAD).unwrap();
        let e = store
            .write(ID, stream(vec![Ok(b"12345"), Ok(b"678")]), 7)
            .await;
        assert!(matches!(e, Err(DataError::TooLarge(7))), "{e:?}");
        let e = store
            .write(ID, stream(vec![Ok(b"12"), Err("reset")]), 7)
            .await;
        assert!(matches!(e, Err(DataError::Body(_))), "{e:?}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(store.open(ID).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn running_and_stale_uploads_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsDataStore::open(dir.path(), STALE_UPLOAD).unwrap();
        store.write(ID, stream(vec![Ok(b"x")]), 10).await.unwrap();
        let fresh = dir.path().join(format!(".upload-{ID}-1"));
        std::fs::write(&fresh, b"partial").unwrap();
        assert!(store
            .running_uploads(STALE_UPLOAD)
            .await
            .unwrap()
            .contains(ID));
        assert_eq!(store.remove_stale_uploads(STALE_UPLOAD).await.unwrap(), 0);
        // Make it old: its upload died.
        let old = SystemTime::now() - STALE_UPLOAD - Duration::from_secs(1);
        std::fs::File::options()
            .write(true)
            .open(&fresh)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert!(store
            .running_uploads(STALE_UPLOAD)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(store.remove_stale_uploads(STALE_UPLOAD).await.unwrap(), 1);
        let files: Vec<String> = store
            .data_files()
            .await
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(files, [ID]);
    }
}

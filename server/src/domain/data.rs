//! Image data, with Glance's semantics: the owner (or an admin) uploads once
//! to a `queued` image, which goes `saving` while the bytes stream in and
//! `active` once they are durable; whoever may see the image may download
//! it. A failed upload puts the image back to `queued` and keeps nothing.

use std::pin::Pin;

use bytes::Bytes;
use futures::Stream;

use super::model::{now_millis, Caller, ImageRecord};
use super::Service;
use crate::error::Error;
use crate::store::data::{DataError, Written};
use crate::store::StoreError;

/// Glance's multihash algorithm.
pub const HASH_ALGO: &str = "sha512";

pub type UploadBody = Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send>>;

/// The bytes a download sends: all of them, or one range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: u64,
    /// Inclusive.
    pub end: u64,
    pub total: u64,
}

/// A single `bytes=` range against data of `total` bytes: `Ok(None)` when
/// there is no usable `Range` (the whole data is sent, as RFC 9110 allows
/// for anything it cannot parse), `Err` when no byte satisfies it.
pub fn parse_range(header: Option<&str>, total: u64) -> Result<Option<Span>, Error> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None); // several ranges: not offered, the whole data instead
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let unsatisfiable = || Error::RangeNotSatisfiable(total);
    let span = match (a.trim(), b.trim()) {
        ("", "") => return Ok(None),
        ("", suffix) => {
            let n: u64 = match suffix.parse() {
                Ok(n) => n,
                Err(_) => return Ok(None),
            };
            if n == 0 || total == 0 {
                return Err(unsatisfiable());
            }
            Span {
                start: total.saturating_sub(n),
                end: total - 1,
                total,
            }
        }
        (start, end) => {
            let (Ok(start), end) = (start.parse::<u64>(), end) else {
                return Ok(None);
            };
            let end = if end.is_empty() {
                total.saturating_sub(1)
            } else {
                match end.parse::<u64>() {
                    Ok(e) if e >= start => e.min(total.saturating_sub(1)),
                    _ => return Ok(None),
                }
            };
            if start >= total {
                return Err(unsatisfiable());
            }
            Span { start, end, total }
        }
    };
    Ok(Some(span))
}

impl Service {
    /// Streams the upload into the image's data. Owner or admin; the image
    /// must be `queued` (else 409). 204 only after the data and the image row
    /// are both durable.
    pub async fn upload_image_data(
        &self,
        caller: &Caller,
        image_id: &str,
        body: UploadBody,
    ) -> Result<ImageRecord, Error> {
        let image = self.get_image(caller, image_id).await?;
        if !(caller.is_admin() || (caller.can_write() && caller.in_project(&image.owner))) {
            return Err(Error::PolicyDenied("upload_image"));
        }
        // queued → saving, atomically: of two concurrent uploads one wins.
        let id = image.id.clone();
        self.set_status(&id, |i| {
            if i.status != "queued" {
                return Err(Error::UploadNotQueued(i.status.clone()));
            }
            i.status = "saving".into();
            Ok(())
        })
        .await?;
        match self.data.write(&id, body, self.image_size_cap).await {
            Ok(w) => self.finish_upload(&id, w).await,
            Err(e) => {
                // Back to queued; nothing of the upload was kept.
                let _ = self
                    .set_status(&id, |i| {
                        i.status = "queued".into();
                        Ok(())
                    })
                    .await;
                Err(match e {
                    DataError::TooLarge(cap) => Error::ImageTooLarge(cap),
                    DataError::Body(detail) => Error::UploadInterrupted(detail),
                    DataError::Io(e) => Error::Unavailable(format!("image store: {e}")),
                })
            }
        }
    }

    async fn finish_upload(&self, id: &str, w: Written) -> Result<ImageRecord, Error> {
        let done = self
            .set_status(id, move |i| {
                i.status = "active".into();
                i.size = Some(w.size);
                i.checksum = Some(w.md5.clone());
                i.os_hash_algo = Some(HASH_ALGO.into());
                i.os_hash_value = Some(w.sha512.clone());
                Ok(())
            })
            .await;
        if done.is_err() {
            // The image was deleted meanwhile (or the store failed): its data
            // must not outlive it.
            let _ = self.data.delete(id).await;
        }
        done
    }

    async fn set_status(
        &self,
        id: &str,
        edit: impl FnOnce(&mut ImageRecord) -> Result<(), Error> + Send + 'static,
    ) -> Result<ImageRecord, Error> {
        let now = now_millis();
        match self
            .store
            .modify_image(
                id,
                Box::new(move |i| {
                    edit(i)?;
                    i.updated_at = now;
                    Ok(())
                }),
            )
            .await
        {
            Ok(result) => result,
            Err(StoreError::NotFound) => Err(Error::ImageNotFound(id.to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    /// The image's data for a caller who may see the image (owner, members
    /// in any status, admins, public and community images): `None` when the
    /// image has no data (Glance answers 204).
    pub async fn image_data(
        &self,
        caller: &Caller,
        image_id: &str,
    ) -> Result<Option<(tokio::fs::File, u64, ImageRecord)>, Error> {
        let image = self.get_image(caller, image_id).await?;
        if image.status != "active" {
            return Ok(None);
        }
        match self.data.open(&image.id).await {
            Ok(Some((file, len))) => Ok(Some((file, len, image))),
            Ok(None) => Err(Error::Internal(format!(
                "image {} is active but its data file is missing",
                image.id
            ))),
            Err(e) => Err(Error::Unavailable(format!("image store: {e}"))),
        }
    }

    /// Removes the data of a deleted image (after its row is gone).
    pub(crate) async fn delete_image_data(&self, id: &str) {
        if let Err(e) = self.data.delete(id).await {
            tracing::warn!(image_id = id, error = %e, "could not remove deleted image's data; the next start removes it");
        }
    }

    /// At start-up: what [`Service::sweep_dead_uploads`] does, and removes
    /// data files of images that are gone or never finished. `exclusive`: no
    /// other server uses the image directory (SQLite), so every upload found
    /// is dead; otherwise (replicas on PostgreSQL) only uploads untouched for
    /// `upload_stale` are.
    pub async fn recover_image_data(&self, exclusive: bool) -> Result<(), Error> {
        let stale_after = if exclusive {
            std::time::Duration::ZERO
        } else {
            self.upload_stale
        };
        let (stale, reset) = self.sweep_uploads(stale_after).await?;
        let mut orphans = 0;
        for (id, age) in self.data.data_files().await.map_err(data_io)? {
            let keep = match self.store.get_image(&id).await? {
                Some(i) if i.status == "active" => true,
                // A finishing upload (renamed, not yet committed) is young.
                Some(i) if i.status == "saving" => age <= stale_after,
                _ => false,
            };
            if !keep {
                self.data.delete(&id).await.map_err(data_io)?;
                orphans += 1;
            }
        }
        if stale + reset + orphans > 0 {
            tracing::info!(
                stale_uploads = stale,
                uploads_reset = reset,
                orphan_files = orphans,
                "recovered image data"
            );
        }
        Ok(())
    }

    /// With replicas on PostgreSQL, once a minute: cleans up after uploads
    /// that died (on any replica) without a restart.
    pub async fn sweep_dead_uploads(&self) -> Result<(), Error> {
        let (stale, reset) = self.sweep_uploads(self.upload_stale).await?;
        if stale + reset > 0 {
            tracing::info!(
                stale_uploads = stale,
                uploads_reset = reset,
                "cleaned up dead uploads"
            );
        }
        Ok(())
    }

    /// Removes temporary files untouched for `stale_after` and puts images
    /// still `saving` without a live upload back to `queued` (with the data
    /// file of an upload that died between its rename and its commit).
    /// Reads the directory twice and stats one file per such image.
    async fn sweep_uploads(&self, stale_after: std::time::Duration) -> Result<(u64, u64), Error> {
        let stale = self
            .data
            .remove_stale_uploads(stale_after)
            .await
            .map_err(data_io)?;
        let running = self
            .data
            .running_uploads(stale_after)
            .await
            .map_err(data_io)?;
        let mut reset = 0;
        for id in self.store.saving_images().await? {
            if running.contains(&id) {
                continue;
            }
            match self.data.data_age(&id).await.map_err(data_io)? {
                // Renamed just now: its upload is committing.
                Some(age) if age <= stale_after => continue,
                Some(_) => self.data.delete(&id).await.map_err(data_io)?,
                None => {}
            }
            let back = self
                .set_status(&id, |i| {
                    if i.status == "saving" {
                        i.status = "queued".into();
                    }
                    Ok(())
                })
                .await;
            if back.is_ok() {
                reset += 1;
            }
        }
        Ok((stale, reset))
    }
}

fn data_io(e: DataError) -> Error {
    Error::Internal(format!("image store: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(h: &str, total: u64) -> Result<Option<(u64, u64)>, u64> {
        match parse_range(Some(h), total) {
            Ok(s) => Ok(s.map(|s| (s.start, s.end))),
            Err(Error::RangeNotSatisfiable(t)) => Err(t),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn ranges_as_rfc_9110_reads_them() {
        assert_eq!(span("bytes=0-4", 10), Ok(Some((0, 4))));
        assert_eq!(span("bytes=5-", 10), Ok(Some((5, 9))));
        assert_eq!(span("bytes=-3", 10), Ok(Some((7, 9))));
        assert_eq!(span("bytes=-30", 10), Ok(Some((0, 9))));
        assert_eq!(span("bytes=8-100", 10), Ok(Some((8, 9))));
        assert_eq!(span("bytes=10-", 10), Err(10));
        assert_eq!(span("bytes=-0", 10), Err(10));
        assert_eq!(span("bytes=0-", 0), Err(0));
        // Unusable: the whole data.
        for h in [
            "bytes=5-2",
            "bytes=a-b",
            "items=0-1",
            "bytes=0-1,3-4",
            "bytes=-",
        ] {
            assert_eq!(span(h, 10), Ok(None), "{h}");
        }
    }
}

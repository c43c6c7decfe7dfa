//! Image members. Each call applies Glance's checks in Glance's order
//! (glance-members.md §3); Huawei's rules (no self-share, no Windows images)
//! come after authorization and before the quota.

use super::model::{
    now_millis, Caller, ImageRecord, MemberRecord, MemberStatus, MemberType, Visibility,
};
use super::Service;
use crate::error::Error;
use crate::store::StoreError;

use super::ids;

/// Reads `member` out of an add-member body (already known to be a JSON
/// object or array), with Glance's messages.
pub fn parse_member_body(body: &serde_json::Value) -> Result<String, Error> {
    let obj = body.as_object().ok_or_else(|| {
        Error::InvalidBody(r#"Expected a member in the form: {"member": "image_id"}"#.into())
    })?;
    let member = obj
        .get("member")
        .ok_or_else(|| Error::InvalidBody("Member to be added not specified".into()))?;
    match member {
        serde_json::Value::String(s) if s.is_empty() => {
            Err(Error::InvalidBody("Member can't be empty".into()))
        }
        serde_json::Value::String(s) if !ids::is_valid(s) => {
            Err(Error::InvalidId(ids::refusal("Member", s)))
        }
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Null => Err(Error::InvalidBody("Member can't be empty".into())),
        _ => Err(Error::InvalidBody("Member must be a string".into())),
    }
}

/// The raw `status` value of an update body. Its value is judged later, after
/// authorization, as Glance does (the owner sending junk gets 403, not 400).
pub fn parse_status_body(body: &serde_json::Value) -> Result<serde_json::Value, Error> {
    let obj = body.as_object().ok_or_else(|| {
        Error::InvalidBody(r#"Expected a status in the form: {"status": "status"}"#.into())
    })?;
    // Huawei's `vault_id` is ignored here, but only a string (or null) is one.
    if obj
        .get("vault_id")
        .is_some_and(|v| !(v.is_string() || v.is_null()))
    {
        return Err(Error::InvalidBody(
            "Invalid vault_id: expected a string or null.".into(),
        ));
    }
    obj.get("status")
        .cloned()
        .ok_or_else(|| Error::InvalidBody("Status not specified".into()))
}

fn status_value(raw: &serde_json::Value) -> Result<MemberStatus, Error> {
    raw.as_str().and_then(MemberStatus::parse).ok_or_else(|| {
        Error::InvalidBody(
            r#"Incorrect request: Status must be "pending", "accepted" or "rejected"."#.into(),
        )
    })
}

/// Largest member page.
pub const MAX_MEMBER_PAGE: u32 = 1000;

/// A page marker: the hex of the last listed member ID (opaque to clients,
/// safe in a query string whatever the ID holds).
fn encode_marker(member_id: &str) -> String {
    member_id.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_marker(marker: &str) -> Option<String> {
    if marker.is_empty() || !marker.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..marker.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(marker.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

fn is_owner(caller: &Caller, image: &ImageRecord) -> bool {
    caller.in_project(&image.owner)
}

/// Whether the caller may see this membership row: admins and the owner see
/// all rows, a member only those that name it (its project, its account, an
/// organization unit above it).
fn row_visible(caller: &Caller, image: &ImageRecord, row: &MemberRecord) -> bool {
    caller.is_admin() || is_owner(caller, image) || caller.covered_by(row)
}

/// Whether the caller sees an account or organization share as one of the
/// projects under it (with that project's own decision as the status).
fn sees_as_covered(caller: &Caller, image: &ImageRecord, row: &MemberRecord) -> bool {
    row.member_type != MemberType::Project && !is_owner(caller, image) && caller.covered_by(row)
}

impl Service {
    /// Steps shared by every member call: the image must be visible (404),
    /// `shared` (`not_shared`), and the caller must hold a read role (Glance's
    /// `get_image` policy, whose failure is a 404).
    async fn shared_image(
        &self,
        caller: &Caller,
        image_id: &str,
        not_shared: impl FnOnce(&str) -> Error,
    ) -> Result<ImageRecord, Error> {
        let image = self
            .visible_image(caller, image_id)
            .await?
            .ok_or_else(|| Error::ImageNotFound(image_id.to_owned()))?;
        if image.visibility != Visibility::Shared {
            return Err(not_shared(&image.id));
        }
        if !caller.can_read() {
            return Err(Error::HiddenNotFound(
                "The resource could not be found.".into(),
            ));
        }
        Ok(image)
    }

    /// The membership row the caller asks about, if the caller may see it.
    /// A project under an account or organization share may name the share
    /// or its own project; it sees the share with its own decision.
    async fn visible_member(
        &self,
        caller: &Caller,
        image: &ImageRecord,
        member_id: &str,
    ) -> Result<MemberRecord, Error> {
        let not_found = || Error::MemberNotFound {
            image: image.id.clone(),
            // Glance's message names the member as sent.
            member: member_id.to_owned(),
        };
        // No member can hold an ID outside the rule: 404, as for any
        // unknown member, without asking the store.
        if !ids::is_valid(member_id) {
            return Err(not_found());
        }
        let row = match self.store.get_member(&image.id, member_id).await? {
            Some(row) if row_visible(caller, image, &row) => Some(row),
            Some(_) => return Err(not_found()),
            None => None,
        };
        let row = match row {
            Some(row) => row,
            None if caller.in_project(member_id) && !is_owner(caller, image) => self
                .store
                .list_members(&image.id)
                .await?
                .into_iter()
                .find(|m| sees_as_covered(caller, image, m))
                .ok_or_else(not_found)?,
            None => return Err(not_found()),
        };
        self.with_decisions(caller, image, vec![row])
            .await?
            .pop()
            .ok_or_else(not_found)
    }

    /// Account and organization shares as the covered caller sees them: its
    /// project's decision (default `pending`) as the status.
    async fn with_decisions(
        &self,
        caller: &Caller,
        image: &ImageRecord,
        mut rows: Vec<MemberRecord>,
    ) -> Result<Vec<MemberRecord>, Error> {
        let (Some(project), true) = (
            &caller.project_id,
            rows.iter().any(|r| sees_as_covered(caller, image, r)),
        ) else {
            return Ok(rows);
        };
        let decisions = self.store.decisions(&image.id, project).await?;
        for row in rows
            .iter_mut()
            .filter(|r| sees_as_covered(caller, image, r))
        {
            match decisions.iter().find(|(m, _, _)| *m == row.member_id) {
                Some((_, status, at)) => {
                    row.status = *status;
                    row.updated_at = *at;
                }
                None => row.status = MemberStatus::Pending,
            }
        }
        Ok(rows)
    }

    pub async fn add_member(
        &self,
        caller: &Caller,
        image_id: &str,
        member_id: &str,
    ) -> Result<MemberRecord, Error> {
        let image = self
            .shared_image(caller, image_id, |id| {
                Error::NotShared(format!("Not allowed to create members for image {id}."))
            })
            .await?;
        if !(caller.is_admin() || (caller.can_write() && is_owner(caller, &image))) {
            return Err(Error::PolicyDenied("add_member"));
        }
        if image.is_windows() {
            return Err(Error::WindowsImage(image.id));
        }
        if member_id == image.owner {
            return Err(Error::SelfShare);
        }
        self.check_project_exists(member_id).await?;
        match self
            .store
            .add_member(&image.id, member_id, self.member_quota, now_millis())
            .await
        {
            Ok(m) => Ok(m),
            Err(StoreError::QuotaExceeded { attempted, max }) => Err(Error::MemberQuota {
                image: image.id,
                attempted,
                max,
            }),
            Err(StoreError::Duplicate) => Err(Error::MemberDuplicate {
                image: image.id,
                member: member_id.to_owned(),
            }),
            // The image was deleted after we read it.
            Err(StoreError::NotFound) => Err(Error::ImageNotFound(image_id.to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    /// One page of the members the caller may see, in the order they were
    /// added, and the marker of the next page (if there is one). `page`:
    /// (limit, marker); a marker is opaque: the hex of the last member ID.
    pub async fn list_members(
        &self,
        caller: &Caller,
        image_id: &str,
        limit: Option<u32>,
        marker: Option<&str>,
    ) -> Result<(Vec<MemberRecord>, Option<String>), Error> {
        if limit.is_some_and(|l| !(1..=MAX_MEMBER_PAGE).contains(&l)) {
            return Err(Error::InvalidQuery(format!(
                "limit must be between 1 and {MAX_MEMBER_PAGE}"
            )));
        }
        let after = match marker {
            None => None,
            Some(m) => Some(
                decode_marker(m)
                    .ok_or_else(|| Error::InvalidQuery(format!("Invalid marker {m}.")))?,
            ),
        };
        let mut rows = self.visible_members(caller, image_id).await?;
        if let Some(after) = after {
            let at = rows
                .iter()
                .position(|r| r.member_id == after)
                .ok_or_else(|| {
                    Error::InvalidQuery(format!(
                        "Invalid marker {}: no such member.",
                        marker.unwrap_or_default()
                    ))
                })?;
            rows.drain(..=at);
        }
        let next = match limit {
            Some(l) if rows.len() > l as usize => {
                rows.truncate(l as usize);
                rows.last().map(|r| encode_marker(&r.member_id))
            }
            _ => None,
        };
        Ok((rows, next))
    }

    async fn visible_members(
        &self,
        caller: &Caller,
        image_id: &str,
    ) -> Result<Vec<MemberRecord>, Error> {
        let image = self
            .shared_image(caller, image_id, |id| {
                Error::NotShared(format!(
                    "Not allowed to list members for image {id}: Only shared images have members."
                ))
            })
            .await?;
        let mut rows = self.store.list_members(&image.id).await?;
        rows.retain(|m| row_visible(caller, &image, m));
        self.with_decisions(caller, &image, rows).await
    }

    pub async fn get_member(
        &self,
        caller: &Caller,
        image_id: &str,
        member_id: &str,
    ) -> Result<MemberRecord, Error> {
        // Every failure here is a 404 (Glance hides 403s on show).
        let image = self
            .shared_image(caller, image_id, |_| {
                Error::HiddenNotFound("Only shared images have members.".into())
            })
            .await?;
        self.visible_member(caller, &image, member_id).await
    }

    pub async fn update_member(
        &self,
        caller: &Caller,
        image_id: &str,
        member_id: &str,
        status: &serde_json::Value,
    ) -> Result<MemberRecord, Error> {
        let image = self
            .shared_image(caller, image_id, |id| {
                Error::NotShared(format!("Not allowed to update members for image {id}."))
            })
            .await?;
        let row = self.visible_member(caller, &image, member_id).await?;
        if sees_as_covered(caller, &image, &row) {
            // A project under an account or organization share decides for
            // itself.
            if !caller.can_write() {
                return Err(Error::PolicyDenied("modify_member"));
            }
            let status = status_value(status)?;
            let project = caller.project_id.clone().unwrap_or_default();
            return match self
                .store
                .decide(&image.id, &row.member_id, &project, status, now_millis())
                .await
            {
                Ok(()) => self.visible_member(caller, &image, &row.member_id).await,
                Err(StoreError::NotFound) => Err(Error::MemberNotFound {
                    image: image.id,
                    member: member_id.to_owned(),
                }),
                Err(e) => Err(e.into()),
            };
        }
        // Only the member itself (or an admin) decides; never the owner.
        if !(caller.is_admin() || (caller.can_write() && caller.in_project(&row.member_id))) {
            return Err(Error::PolicyDenied("modify_member"));
        }
        let status = status_value(status)?;
        match self
            .store
            .update_member(&image.id, member_id, status, now_millis())
            .await
        {
            Ok(m) => Ok(m),
            Err(StoreError::NotFound) => Err(Error::MemberNotFound {
                image: image.id,
                member: member_id.to_owned(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn delete_member(
        &self,
        caller: &Caller,
        image_id: &str,
        member_id: &str,
    ) -> Result<(), Error> {
        let image = self
            .shared_image(caller, image_id, |id| {
                Error::NotShared(format!("Not allowed to delete members for image {id}."))
            })
            .await?;
        self.visible_member(caller, &image, member_id).await?;
        if !(caller.is_admin() || (caller.can_write() && is_owner(caller, &image))) {
            return Err(Error::PolicyDenied("delete_member"));
        }
        match self.store.delete_member(&image.id, member_id).await {
            Ok(()) => Ok(()),
            Err(StoreError::NotFound) => Err(Error::MemberNotFound {
                image: image.id,
                member: member_id.to_owned(),
            }),
            Err(e) => Err(e.into()),
        }
    }
}

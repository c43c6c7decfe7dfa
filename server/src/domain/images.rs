//! Images: what sharing needs (create, show, list with Glance's consumer
//! semantics, delete).

use std::collections::BTreeMap;

use super::model::{
    now_millis, Caller, ImageQuery, ImageRecord, MemberStatusFilter, Visibility, VisibilityFilter,
};
use super::{canonical_image_id, Service};
use crate::error::Error;
use crate::store::StoreError;

pub const DISK_FORMATS: &[&str] = &[
    "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop",
];
pub const CONTAINER_FORMATS: &[&str] = &[
    "ami",
    "ari",
    "aki",
    "bare",
    "ovf",
    "ova",
    "docker",
    "compressed",
];
/// Attributes the server owns; a create body naming one is refused (403).
pub const READ_ONLY: &[&str] = &[
    "status",
    "created_at",
    "updated_at",
    "self",
    "file",
    "schema",
    "size",
    "virtual_size",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "direct_url",
    "locations",
    "location",
    "stores",
    "deleted",
    "deleted_at",
];
pub const DEFAULT_PAGE: u32 = 25;
pub const MAX_PAGE: u32 = 1000;
const MAX_TAGS: usize = 128;
const MAX_PROPERTIES: usize = 128;
const MAX_STRING: usize = 255;
const MAX_PROPERTY_VALUE: usize = 65535;

/// A validated-by-type create request.
#[derive(Debug, Default)]
pub struct NewImage {
    pub id: Option<String>,
    pub name: Option<String>,
    pub visibility: Option<Visibility>,
    pub protected: Option<bool>,
    pub os_hidden: Option<bool>,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub min_disk: Option<u64>,
    pub min_ram: Option<u64>,
    pub tags: Option<Vec<String>>,
    pub properties: BTreeMap<String, String>,
}

/// The list parameters as the client sent them (types already checked).
#[derive(Debug, Default)]
pub struct ListParams {
    pub limit: Option<u32>,
    pub marker: Option<String>,
    pub visibility: Option<VisibilityFilter>,
    pub member_status: Option<MemberStatusFilter>,
    pub owner: Option<String>,
    pub name: Option<String>,
    pub status: Option<String>,
}

fn too_long(what: &str, max: usize) -> Error {
    Error::InvalidBody(format!("{what} is longer than {max} characters."))
}

impl Service {
    pub async fn create_image(&self, caller: &Caller, new: NewImage) -> Result<ImageRecord, Error> {
        if !caller.can_write() {
            return Err(Error::PolicyDenied("add_image"));
        }
        if let Some(key) = new
            .properties
            .keys()
            .find(|k| READ_ONLY.contains(&k.as_str()))
        {
            return Err(Error::ReadOnlyAttribute(key.clone()));
        }
        let mut properties = new.properties;
        // `owner` may name another project only for admins (Glance's rule).
        let owner = match properties.remove("owner") {
            Some(o) if o != caller.project_id && !caller.is_admin() => {
                return Err(Error::PolicyDenied("add_image"));
            }
            Some(o) if !o.is_empty() => o,
            _ => caller.project_id.clone(),
        };
        let visibility = new.visibility.unwrap_or(Visibility::Shared);
        if visibility == Visibility::Public && !caller.is_admin() {
            return Err(Error::PolicyDenied("publicize_image"));
        }
        let id = match new.id {
            Some(raw) => canonical_image_id(&raw)
                .ok_or_else(|| Error::InvalidBody(format!("Invalid image id {raw}")))?,
            None => uuid::Uuid::new_v4().to_string(),
        };
        if new
            .name
            .as_ref()
            .is_some_and(|n| n.chars().count() > MAX_STRING)
        {
            return Err(too_long("name", MAX_STRING));
        }
        for (field, value, allowed) in [
            ("disk_format", &new.disk_format, DISK_FORMATS),
            ("container_format", &new.container_format, CONTAINER_FORMATS),
        ] {
            if let Some(v) = value {
                if !allowed.contains(&v.as_str()) {
                    return Err(Error::InvalidBody(format!(
                        "Invalid value '{v}' for {field}: expected one of {}",
                        allowed.join(", ")
                    )));
                }
            }
        }
        let mut tags = new.tags.unwrap_or_default();
        tags.dedup();
        if tags.len() > MAX_TAGS {
            return Err(Error::InvalidBody(format!(
                "An image may have at most {MAX_TAGS} tags."
            )));
        }
        if tags.iter().any(|t| t.chars().count() > MAX_STRING) {
            return Err(too_long("A tag", MAX_STRING));
        }
        if properties.len() > MAX_PROPERTIES {
            return Err(Error::InvalidBody(format!(
                "An image may have at most {MAX_PROPERTIES} custom properties."
            )));
        }
        for (k, v) in &properties {
            if k.is_empty() || k.chars().count() > MAX_STRING {
                return Err(Error::InvalidBody(format!("Invalid property name '{k}'.")));
            }
            if v.chars().count() > MAX_PROPERTY_VALUE {
                return Err(too_long(&format!("Property '{k}'"), MAX_PROPERTY_VALUE));
            }
        }
        let now = now_millis();
        let image = ImageRecord {
            id,
            name: new.name,
            status: "queued".into(),
            visibility,
            owner,
            protected: new.protected.unwrap_or(false),
            os_hidden: new.os_hidden.unwrap_or(false),
            disk_format: new.disk_format,
            container_format: new.container_format,
            min_disk: new.min_disk.unwrap_or(0),
            min_ram: new.min_ram.unwrap_or(0),
            tags,
            properties,
            created_at: now,
            updated_at: now,
        };
        match self.store.create_image(image.clone()).await {
            Ok(()) => Ok(image),
            Err(StoreError::Duplicate) => Err(Error::ImageDuplicate(image.id)),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get_image(&self, caller: &Caller, image_id: &str) -> Result<ImageRecord, Error> {
        match self.visible_image(caller, image_id).await? {
            Some(image) if caller.can_read() => Ok(image),
            _ => Err(Error::NoImageWithId(image_id.to_owned())),
        }
    }

    pub async fn delete_image(&self, caller: &Caller, image_id: &str) -> Result<(), Error> {
        let image = self.get_image(caller, image_id).await?;
        if !(caller.is_admin() || (caller.can_write() && image.owner == caller.project_id)) {
            return Err(Error::PolicyDenied("delete_image"));
        }
        if image.protected {
            return Err(Error::ImageProtected(image.id));
        }
        match self.store.delete_image(&image.id).await {
            Ok(()) => Ok(()),
            Err(StoreError::NotFound) => Err(Error::NoImageWithId(image_id.to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    /// One page of the caller's image list, and the page size used (a full
    /// page means there may be a next one).
    pub async fn list_images(
        &self,
        caller: &Caller,
        params: &ListParams,
    ) -> Result<(Vec<ImageRecord>, u32), Error> {
        let limit = match params.limit {
            None => DEFAULT_PAGE,
            Some(0) => return Err(Error::InvalidQuery("limit must be at least 1".into())),
            Some(n) => n.min(MAX_PAGE),
        };
        let after = match &params.marker {
            None => None,
            Some(marker) => {
                let invalid = || {
                    Error::InvalidQuery(format!(
                        "Invalid marker. Image {marker} could not be found."
                    ))
                };
                let image = self
                    .visible_image(caller, marker)
                    .await?
                    .ok_or_else(invalid)?;
                Some((image.created_at, image.id))
            }
        };
        if !caller.can_read() {
            return Err(Error::PolicyDenied("get_images"));
        }
        let query = ImageQuery {
            caller_project: caller.project_id.clone(),
            admin: caller.is_admin(),
            visibility: params.visibility,
            member_status: params.member_status.unwrap_or(MemberStatusFilter::Only(
                super::model::MemberStatus::Accepted,
            )),
            owner: params.owner.clone(),
            name: params.name.clone(),
            status: params.status.clone(),
            after,
            limit,
        };
        Ok((self.store.list_images(&query).await?, limit))
    }
}

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

/// The largest `min_disk`/`min_ram`: Glance's column is a 32-bit integer
/// (and PostgreSQL's BIGINT could not hold a u64 anyway).
pub const MAX_MIN_SIZE: u64 = i32::MAX as u64;

fn size_out_of_range(field: &str) -> Error {
    Error::InvalidBody(format!(
        "Invalid value for '{field}': expected an integer from 0 to {MAX_MIN_SIZE}."
    ))
}
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
    pub kind: Option<super::model::ImageKind>,
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
            Some(o) if !caller.in_project(&o) && !caller.is_admin() => {
                return Err(Error::PolicyDenied("add_image"));
            }
            Some(o) if !o.is_empty() => o,
            // A caller without a project (domain- or system-scoped token)
            // has nothing to own the image.
            _ => caller
                .project_id
                .clone()
                .ok_or(Error::PolicyDenied("add_image"))?,
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
        for (field, value) in [("min_disk", new.min_disk), ("min_ram", new.min_ram)] {
            if value.is_some_and(|v| v > MAX_MIN_SIZE) {
                return Err(size_out_of_range(field));
            }
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
            // Any name up to 255 characters, the empty one included (the
            // JSON pointer `/` names it in a patch).
            if k.chars().count() > MAX_STRING {
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
            size: None,
            checksum: None,
            os_hash_algo: None,
            os_hash_value: None,
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
        if !(caller.is_admin() || (caller.can_write() && caller.in_project(&image.owner))) {
            return Err(Error::PolicyDenied("delete_image"));
        }
        if image.protected {
            return Err(Error::ImageProtected(image.id));
        }
        match self.store.delete_image(&image.id).await {
            Ok(()) => {
                self.delete_image_data(&image.id).await;
                Ok(())
            }
            Err(StoreError::NotFound) => Err(Error::NoImageWithId(image_id.to_owned())),
            Err(StoreError::SharedWithAccounts) => Err(Error::SharedWithAccounts(image.id)),
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
        // Glance: a token without a project scope may not list images
        // (admins excepted, whose role is global).
        if !caller.can_read() || (caller.project_id.is_none() && !caller.is_admin()) {
            return Err(Error::PolicyDenied("get_images"));
        }
        let query = ImageQuery {
            kind: params.kind,
            caller_domain: caller.project_id.as_ref().and(caller.domain_id.clone()),
            caller_organizations: caller.organization_ids(),
            caller_project: caller.project_id.clone().unwrap_or_default(),
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

/// One JSON-patch operation (the subset Glance's v2.1 patch supports).
#[derive(Debug, Clone)]
pub enum PatchOp {
    Add(String, serde_json::Value),
    Replace(String, serde_json::Value),
    Remove(String),
}

/// Parses a patch document: a JSON array of `{"op", "path", "value"}` objects.
pub fn parse_patch(body: &serde_json::Value) -> Result<Vec<PatchOp>, Error> {
    let ops = body.as_array().ok_or_else(|| {
        Error::InvalidBody("Request body must be a JSON array of operation objects.".into())
    })?;
    ops.iter()
        .map(|op| {
            let obj = op
                .as_object()
                .ok_or_else(|| Error::InvalidBody("Operations must be JSON objects.".into()))?;
            let path = obj.get("path").and_then(|p| p.as_str()).ok_or_else(|| {
                Error::InvalidBody("Unable to find 'path' in JSON Schema change".into())
            })?;
            let key = pointer_key(path)?;
            let value = || {
                obj.get("value").cloned().ok_or_else(|| {
                    Error::InvalidBody(format!(
                        "Unable to find 'value' in JSON Schema change for '{path}'"
                    ))
                })
            };
            match obj.get("op").and_then(|o| o.as_str()) {
                Some("add") => Ok(PatchOp::Add(key, value()?)),
                Some("replace") => Ok(PatchOp::Replace(key, value()?)),
                Some("remove") => Ok(PatchOp::Remove(key)),
                other => Err(Error::InvalidBody(format!(
                    "Invalid operation: {}; use add, replace or remove",
                    other.unwrap_or("(none)")
                ))),
            }
        })
        .collect()
}

/// `/name` → `name` (RFC 6901 unescaping); deeper pointers are not supported.
fn pointer_key(path: &str) -> Result<String, Error> {
    let invalid =
        || Error::InvalidBody(format!("Invalid JSON pointer for this resource: '{path}'"));
    let rest = path.strip_prefix('/').ok_or_else(invalid)?;
    if rest.contains('/') {
        return Err(invalid());
    }
    Ok(rest.replace("~1", "/").replace("~0", "~"))
}

fn string_or_null(key: &str, v: &serde_json::Value) -> Result<Option<String>, Error> {
    match v {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(s) => Ok(Some(s.clone())),
        _ => Err(Error::InvalidBody(format!(
            "Invalid value for '{key}': expected a string."
        ))),
    }
}

fn check_format(key: &str, v: Option<String>, allowed: &[&str]) -> Result<Option<String>, Error> {
    match v {
        Some(f) if !allowed.contains(&f.as_str()) => Err(Error::InvalidBody(format!(
            "Invalid value '{f}' for {key}: expected one of {}",
            allowed.join(", ")
        ))),
        v => Ok(v),
    }
}

fn check_tags(tags: &[String]) -> Result<(), Error> {
    if tags.len() > MAX_TAGS {
        return Err(Error::TagQuota(MAX_TAGS));
    }
    if tags
        .iter()
        .any(|t| t.is_empty() || t.chars().count() > MAX_STRING)
    {
        return Err(Error::InvalidBody(format!(
            "Tags must be 1 to {MAX_STRING} characters."
        )));
    }
    Ok(())
}

/// Applies one operation to `image` as `caller` would be allowed to.
fn apply(image: &mut ImageRecord, caller: &Caller, op: PatchOp) -> Result<(), Error> {
    let (key, value) = match op {
        PatchOp::Remove(key) => {
            if image.properties.remove(&key).is_some() {
                return Ok(());
            }
            let base = READ_ONLY.contains(&key.as_str())
                || [
                    "id",
                    "name",
                    "visibility",
                    "protected",
                    "os_hidden",
                    "owner",
                    "disk_format",
                    "container_format",
                    "min_disk",
                    "min_ram",
                    "tags",
                ]
                .contains(&key.as_str());
            return Err(if base {
                Error::CannotRemove(key)
            } else {
                Error::PropertyMissing(key)
            });
        }
        PatchOp::Add(key, value) | PatchOp::Replace(key, value) => (key, value),
    };
    let bad =
        |what: &str| Error::InvalidBody(format!("Invalid value for '{key}': expected {what}."));
    match key.as_str() {
        "name" => {
            let name = string_or_null(&key, &value)?;
            if name
                .as_ref()
                .is_some_and(|n| n.chars().count() > MAX_STRING)
            {
                return Err(too_long("name", MAX_STRING));
            }
            image.name = name;
        }
        "visibility" => {
            let v = value
                .as_str()
                .and_then(Visibility::parse)
                .ok_or_else(|| Error::InvalidBody(format!("Invalid visibility value: {value}")))?;
            if v == Visibility::Public && !caller.is_admin() {
                return Err(Error::PolicyDenied("publicize_image"));
            }
            // Memberships are rows of their own: they stay, and count again
            // when the image is `shared` again.
            image.visibility = v;
        }
        "protected" => image.protected = value.as_bool().ok_or_else(|| bad("true or false"))?,
        "os_hidden" => image.os_hidden = value.as_bool().ok_or_else(|| bad("true or false"))?,
        "min_disk" | "min_ram" => {
            let v = value
                .as_u64()
                .ok_or_else(|| bad("a non-negative integer"))?;
            if v > MAX_MIN_SIZE {
                return Err(size_out_of_range(&key));
            }
            if key == "min_disk" {
                image.min_disk = v;
            } else {
                image.min_ram = v;
            }
        }
        "disk_format" => {
            image.disk_format = check_format(&key, string_or_null(&key, &value)?, DISK_FORMATS)?
        }
        "container_format" => {
            image.container_format =
                check_format(&key, string_or_null(&key, &value)?, CONTAINER_FORMATS)?
        }
        "tags" => {
            let tags: Vec<String> =
                serde_json::from_value(value.clone()).map_err(|_| bad("a list of strings"))?;
            let mut unique: Vec<String> = Vec::with_capacity(tags.len());
            for t in tags {
                if !unique.contains(&t) {
                    unique.push(t);
                }
            }
            check_tags(&unique)?;
            image.tags = unique;
        }
        "owner" if caller.is_admin() => {
            image.owner = value
                .as_str()
                .filter(|o| !o.is_empty())
                .ok_or_else(|| bad("a project ID"))?
                .into()
        }
        k if k == "id" || k == "owner" || READ_ONLY.contains(&k) => {
            return Err(Error::ReadOnlyAttribute(key));
        }
        _ => {
            let v = value.as_str().ok_or_else(|| bad("a string"))?;
            if key.chars().count() > MAX_STRING {
                return Err(Error::InvalidBody(format!(
                    "Invalid property name '{key}'."
                )));
            }
            if v.chars().count() > MAX_PROPERTY_VALUE {
                return Err(too_long(&format!("Property '{key}'"), MAX_PROPERTY_VALUE));
            }
            if !image.properties.contains_key(&key) && image.properties.len() >= MAX_PROPERTIES {
                return Err(Error::InvalidBody(format!(
                    "An image may have at most {MAX_PROPERTIES} custom properties."
                )));
            }
            image.properties.insert(key, v.to_owned());
        }
    }
    Ok(())
}

impl Service {
    /// The image, if the caller may change it (owner or admin; others who can
    /// see it get 403, the rest 404).
    async fn modifiable_image(
        &self,
        caller: &Caller,
        image_id: &str,
    ) -> Result<ImageRecord, Error> {
        let image = self.get_image(caller, image_id).await?;
        if !(caller.is_admin() || (caller.can_write() && caller.in_project(&image.owner))) {
            return Err(Error::PolicyDenied("modify_image"));
        }
        Ok(image)
    }

    /// Runs `edit` on the stored image atomically.
    async fn edit_image(
        &self,
        image_id: &str,
        edit: crate::store::ImageEdit,
    ) -> Result<ImageRecord, Error> {
        match self.store.modify_image(image_id, edit).await {
            Ok(result) => result,
            Err(StoreError::NotFound) => Err(Error::NoImageWithId(image_id.to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn patch_image(
        &self,
        caller: &Caller,
        image_id: &str,
        ops: Vec<PatchOp>,
    ) -> Result<ImageRecord, Error> {
        let image = self.modifiable_image(caller, image_id).await?;
        let caller = caller.clone();
        self.edit_image(
            &image.id,
            Box::new(move |img| {
                for op in ops {
                    apply(img, &caller, op)?;
                }
                img.updated_at = now_millis();
                Ok(())
            }),
        )
        .await
    }

    pub async fn add_tag(&self, caller: &Caller, image_id: &str, tag: &str) -> Result<(), Error> {
        let image = self.modifiable_image(caller, image_id).await?;
        check_tags(std::slice::from_ref(&tag.to_owned()))?;
        let tag = tag.to_owned();
        self.edit_image(
            &image.id,
            Box::new(move |img| {
                if !img.tags.contains(&tag) {
                    img.tags.push(tag);
                    check_tags(&img.tags)?;
                    img.updated_at = now_millis();
                }
                Ok(())
            }),
        )
        .await
        .map(drop)
    }

    pub async fn delete_tag(
        &self,
        caller: &Caller,
        image_id: &str,
        tag: &str,
    ) -> Result<(), Error> {
        let image = self.modifiable_image(caller, image_id).await?;
        let tag = tag.to_owned();
        self.edit_image(
            &image.id,
            Box::new(move |img| {
                let before = img.tags.len();
                img.tags.retain(|t| t != &tag);
                if img.tags.len() == before {
                    return Err(Error::HiddenNotFound(format!("Tag {tag} not found.")));
                }
                img.updated_at = now_millis();
                Ok(())
            }),
        )
        .await
        .map(drop)
    }
}

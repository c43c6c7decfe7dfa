//! The trait's implementation: thin handlers. Each one authenticates, reads
//! its input, calls the domain and maps the result; `Call` does the shared
//! parts (request ID, 401, access log).

use std::time::Instant;

use dropshot::{
    Header, HttpCodedResponse, HttpResponseCreated, HttpResponseDeleted, HttpResponseOk, Path,
    RequestContext,
};
use uuid::Uuid;

use crate::api::{
    ApiError, AuthHeaders, DeletedReply, Image, ImageCreate, ImageFields, ImageListQuery,
    ImagePath, ImageReply, ImageStatus, Images, ImgshareApi, Member, MemberCreate, MemberPath,
    MemberReply, MemberStatusParam, MemberUpdate, Members, MembersReply, SchemaReply,
    VisibilityParam,
};
use crate::auth::Tokens;
use crate::domain::images::{ListParams, NewImage};
use crate::domain::members::{parse_member_body, parse_status_body};
use crate::domain::model::{
    to_datetime, Caller, ImageRecord, MemberRecord, MemberStatus, MemberStatusFilter, Visibility,
    VisibilityFilter,
};
use crate::domain::Service;
use crate::error::Error;
use crate::reply::{has_body, request_id, CreatedHeaders, JsonBody, LenientQuery, Reply};

/// Server-wide state handed to every handler.
pub struct AppState {
    pub service: Service,
    pub tokens: Tokens,
    pub member_schema: serde_json::Value,
    pub members_schema: serde_json::Value,
}

pub enum ImgshareImpl {}

/// One request in flight: its ID, its caller, and what the access log needs.
struct Call<'a> {
    rqctx: &'a RequestContext<AppState>,
    request_id: String,
    started: Instant,
}

impl<'a> Call<'a> {
    fn new(rqctx: &'a RequestContext<AppState>) -> Self {
        Call {
            rqctx,
            request_id: request_id(rqctx),
            started: Instant::now(),
        }
    }

    fn service(&self) -> &'a Service {
        &self.rqctx.context().service
    }

    /// `X-Auth-Token` → caller, or 401.
    fn caller(&self, auth: Header<AuthHeaders>) -> Result<Caller, Error> {
        auth.into_inner()
            .x_auth_token
            .as_deref()
            .and_then(|t| self.rqctx.context().tokens.lookup(t))
            .cloned()
            .ok_or(Error::Unauthorized)
    }

    /// The caller of a GET/DELETE, which must not carry a body (Glance: 400).
    fn caller_without_body(&self, auth: Header<AuthHeaders>) -> Result<Caller, Error> {
        let caller = self.caller(auth)?;
        if has_body(self.rqctx) {
            return Err(Error::BodyNotExpected);
        }
        Ok(caller)
    }

    fn finish<R: HttpCodedResponse>(self, result: Result<R, Error>) -> Reply<R> {
        let reply = Reply::new(&self.request_id, result);
        self.log(reply.status());
        reply
    }

    fn finish_with<R: HttpCodedResponse, H>(self, result: Result<(R, H), Error>) -> Reply<R, H> {
        let reply = match result {
            Ok((r, h)) => Reply::with_headers(r, h),
            Err(e) => Reply::error(&self.request_id, &e),
        };
        self.log(reply.status());
        reply
    }

    fn log(&self, status: http::StatusCode) {
        tracing::info!(
            target: "imgshare::access",
            request_id = %self.request_id,
            method = %self.rqctx.request.method(),
            path = %self.rqctx.request.uri().path(),
            status = status.as_u16(),
            latency_us = self.started.elapsed().as_micros() as u64,
        );
    }
}

fn member_view(m: &MemberRecord) -> Member {
    Member {
        status: m.status,
        created_at: to_datetime(m.created_at),
        updated_at: to_datetime(m.updated_at),
        image_id: Uuid::parse_str(&m.image_id).unwrap_or_default(),
        member_id: m.member_id.clone(),
        schema: "/v2/schemas/member".into(),
    }
}

fn image_view(i: ImageRecord) -> Image {
    let status = serde_json::from_value(serde_json::Value::String(i.status.clone()))
        .unwrap_or(ImageStatus::Queued);
    let fields = ImageFields {
        id: Uuid::parse_str(&i.id).unwrap_or_default(),
        self_: format!("/v2/images/{}", i.id),
        file: format!("/v2/images/{}/file", i.id),
        schema: "/v2/schemas/image".into(),
        name: i.name,
        status,
        visibility: i.visibility,
        owner: i.owner,
        protected: i.protected,
        os_hidden: i.os_hidden,
        disk_format: i.disk_format,
        container_format: i.container_format,
        min_disk: i.min_disk,
        min_ram: i.min_ram,
        size: None,
        virtual_size: None,
        checksum: None,
        os_hash_algo: None,
        os_hash_value: None,
        tags: i.tags,
        created_at: to_datetime(i.created_at),
        updated_at: to_datetime(i.updated_at),
    };
    Image {
        fields,
        properties: i.properties,
    }
}

fn list_params(q: ImageListQuery) -> ListParams {
    ListParams {
        limit: q.limit,
        marker: q.marker,
        visibility: q.visibility.map(|v| match v {
            VisibilityParam::Public => VisibilityFilter::Only(Visibility::Public),
            VisibilityParam::Private => VisibilityFilter::Only(Visibility::Private),
            VisibilityParam::Shared => VisibilityFilter::Only(Visibility::Shared),
            VisibilityParam::Community => VisibilityFilter::Only(Visibility::Community),
            VisibilityParam::All => VisibilityFilter::All,
        }),
        member_status: q.member_status.map(|s| match s {
            MemberStatusParam::Pending => MemberStatusFilter::Only(MemberStatus::Pending),
            MemberStatusParam::Accepted => MemberStatusFilter::Only(MemberStatus::Accepted),
            MemberStatusParam::Rejected => MemberStatusFilter::Only(MemberStatus::Rejected),
            MemberStatusParam::All => MemberStatusFilter::All,
        }),
        owner: q.owner,
        name: q.name,
        status: q
            .status
            .and_then(|s| serde_json::to_value(s).ok()?.as_str().map(String::from)),
    }
}

/// `/v2/images?<the same query, marker replaced>`: the next page's link.
fn next_link(raw_query: Option<&str>, marker: &str) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(raw_query.unwrap_or("").as_bytes()) {
        if k != "marker" {
            out.append_pair(&k, &v);
        }
    }
    out.append_pair("marker", marker);
    format!("/v2/images?{}", out.finish())
}

fn new_image(body: &JsonBody<ImageCreate>) -> Result<NewImage, Error> {
    let value = body.json()?;
    if !value.is_object() {
        return Err(Error::InvalidBody("Expected an image object.".into()));
    }
    let ImageCreate {
        fields: c,
        properties,
    } = serde_json::from_value(value)
        .map_err(|e| Error::InvalidBody(format!("Invalid image: {e}")))?;
    Ok(NewImage {
        id: c.id.map(|u| u.to_string()),
        name: c.name,
        visibility: c.visibility,
        protected: c.protected,
        os_hidden: c.os_hidden,
        disk_format: c.disk_format,
        container_format: c.container_format,
        min_disk: c.min_disk,
        min_ram: c.min_ram,
        tags: c.tags,
        properties,
    })
}

impl ImgshareApi for ImgshareImpl {
    type Context = AppState;

    async fn list_images(
        rqctx: RequestContext<AppState>,
        auth: Header<AuthHeaders>,
        query: LenientQuery<ImageListQuery>,
    ) -> Result<Reply<HttpResponseOk<Images>>, ApiError> {
        let call = Call::new(&rqctx);
        let result = async {
            let caller = call.caller_without_body(auth)?;
            let params = list_params(query.into_inner()?);
            let (page, limit) = call.service().list_images(&caller, &params).await?;
            let next = (page.len() as u32 == limit)
                .then(|| {
                    page.last()
                        .map(|i| next_link(rqctx.request.uri().query(), &i.id))
                })
                .flatten();
            Ok(HttpResponseOk(Images {
                images: page.into_iter().map(image_view).collect(),
                first: "/v2/images".into(),
                next,
                schema: "/v2/schemas/images".into(),
            }))
        }
        .await;
        Ok(call.finish(result))
    }

    async fn create_image(
        rqctx: RequestContext<AppState>,
        auth: Header<AuthHeaders>,
        body: JsonBody<ImageCreate>,
    ) -> Result<Reply<HttpResponseCreated<Image>, CreatedHeaders>, ApiError> {
        let call = Call::new(&rqctx);
        let result = async {
            let caller = call.caller(auth)?;
            let image = call
                .service()
                .create_image(&caller, new_image(&body)?)
                .await?;
            let headers = CreatedHeaders {
                location: format!("/v2/images/{}", image.id),
                request_id: call.request_id.clone(),
            };
            Ok((HttpResponseCreated(image_view(image)), headers))
        }
        .await;
        Ok(call.finish_with(result))
    }

    async fn get_image(
        rqctx: RequestContext<AppState>,
        auth: Header<AuthHeaders>,
        path: Path<ImagePath>,
    ) -> Result<ImageReply, ApiError> {
        let call = Call::new(&rqctx);
        let result = async {
            let caller = call.caller_without_body(auth)?;
            let image = call
                .service()
                .get_image(&caller, &path.into_inner().image_id)
                .await?;
            Ok(HttpResponseOk(image_view(image)))
        }
        .await;
        Ok(call.finish(result))
    }

    async fn delete_image(
        rqctx: RequestContext<AppState>,
        auth: Header<AuthHeaders>,
        path: Path<ImagePath>,
    ) -> Result<DeletedReply, ApiError> {
        let call = Call::new(&rqctx);
        let result = async {
            let caller = call.caller_without_body(auth)?;
            call.service()
                .delete_image(&caller, &path.into_inner().image_id)
                .await?;
            Ok(HttpResponseDeleted())
        }
        .await;
        Ok(call.finish(result))
    }

    async fn list_members(
        rqctx: RequestContext<AppState>,
        auth: Header<AuthHeaders>,
        path: Path<ImagePath>,
    ) -> Result<MembersReply, ApiError> {
        let call = Call::new(&rqctx);
        let result = async {
            let caller = call.caller_without_body(auth)?;
            let rows = call
                .service()
                .list_members(&caller, &path.into_inner().image_id)
                .await?;
            Ok(HttpResponseOk(Members {
                members: rows.iter().map(member_view).collect(),
                schema: "/v2/schemas/members".into(),
            }))
        }
        .await;
        Ok(call.finish(result))
    }

    async fn add_member(
        rqctx: RequestContext<AppState>,
        auth: Header<AuthHeaders>,
        path: Path<ImagePath>,
        body: JsonBody<MemberCreate>,
    ) -> Result<MemberReply, ApiError> {
        let call = Call::new(&rqctx);
        let result = async {
            let caller = call.caller(auth)?;
            let member = parse_member_body(&body.json()?)?;
            let row = call
                .service()
                .add_member(&caller, &path.into_inner().image_id, &member)
                .await?;
            Ok(HttpResponseOk(member_view(&row)))
        }
        .await;
        Ok(call.finish(result))
    }

    async fn get_member(
        rqctx: RequestContext<AppState>,
        auth: Header<AuthHeaders>,
        path: Path<MemberPath>,
    ) -> Result<MemberReply, ApiError> {
        let call = Call::new(&rqctx);
        let result = async {
            let caller = call.caller_without_body(auth)?;
            let p = path.into_inner();
            let row = call
                .service()
                .get_member(&caller, &p.image_id, &p.member_id)
                .await?;
            Ok(HttpResponseOk(member_view(&row)))
        }
        .await;
        Ok(call.finish(result))
    }

    async fn update_member(
        rqctx: RequestContext<AppState>,
        auth: Header<AuthHeaders>,
        path: Path<MemberPath>,
        body: JsonBody<MemberUpdate>,
    ) -> Result<MemberReply, ApiError> {
        let call = Call::new(&rqctx);
        let result = async {
            let caller = call.caller(auth)?;
            let status = parse_status_body(&body.json()?)?;
            let p = path.into_inner();
            let row = call
                .service()
                .update_member(&caller, &p.image_id, &p.member_id, &status)
                .await?;
            Ok(HttpResponseOk(member_view(&row)))
        }
        .await;
        Ok(call.finish(result))
    }

    async fn delete_member(
        rqctx: RequestContext<AppState>,
        auth: Header<AuthHeaders>,
        path: Path<MemberPath>,
    ) -> Result<DeletedReply, ApiError> {
        let call = Call::new(&rqctx);
        let result = async {
            let caller = call.caller_without_body(auth)?;
            let p = path.into_inner();
            call.service()
                .delete_member(&caller, &p.image_id, &p.member_id)
                .await?;
            Ok(HttpResponseDeleted())
        }
        .await;
        Ok(call.finish(result))
    }

    async fn get_member_schema(
        rqctx: RequestContext<AppState>,
        auth: Header<AuthHeaders>,
    ) -> Result<SchemaReply, ApiError> {
        let call = Call::new(&rqctx);
        let result = call
            .caller_without_body(auth)
            .map(|_| HttpResponseOk(rqctx.context().member_schema.clone()));
        Ok(call.finish(result))
    }

    async fn get_members_schema(
        rqctx: RequestContext<AppState>,
        auth: Header<AuthHeaders>,
    ) -> Result<SchemaReply, ApiError> {
        let call = Call::new(&rqctx);
        let result = call
            .caller_without_body(auth)
            .map(|_| HttpResponseOk(rqctx.context().members_schema.clone()));
        Ok(call.finish(result))
    }
}

//! Extractors: the authenticated caller and JSON bodies whose every failure is problem+json.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use portcullis_console::request_meta;
use portcullis_service::{Caller, RequestMeta};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::ApiError;

/// The bearer token of `Authorization: Bearer <token>` or `Authorization: Key <token>`.
fn presented_token(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| unauthenticated())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(unauthenticated)?;
    if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("key") {
        Ok(Some(token.trim()))
    } else {
        Err(unauthenticated())
    }
}

fn unauthenticated() -> ApiError {
    portcullis_service::ServiceError::Unauthenticated.into()
}

/// A caller with a valid credential; requests without one are refused with 401.
#[derive(Debug)]
pub struct Authenticated(pub Caller);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = presented_token(parts)?.ok_or_else(unauthenticated)?;
        Ok(Self(state.authenticate(token, request_meta(parts))?))
    }
}

/// A caller that may be anonymous; a credential, when presented, must be valid.
#[derive(Debug)]
pub struct MaybeAuthenticated(pub Caller);

impl FromRequestParts<AppState> for MaybeAuthenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let meta = request_meta(parts);
        match presented_token(parts)? {
            Some(token) => Ok(Self(state.authenticate(token, meta)?)),
            None => Ok(Self(Caller::anonymous(meta))),
        }
    }
}

/// Request metadata only (for unauthenticated endpoints such as login).
#[derive(Debug)]
pub struct Meta(pub RequestMeta);

impl<S: Send + Sync> FromRequestParts<S> for Meta {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(request_meta(parts)))
    }
}

/// A JSON body. Malformed JSON, a wrong content type, unknown fields and wrong types are each
/// a problem+json 400/415 with a stable code.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // The common case parses straight from the bytes; axum's extractor (which goes
        // through `serde_path_to_error` on every body) words the refusals and judges any other
        // content type exactly as before.
        if !plain_json(req.headers()) {
            return match axum::Json::<ObjectOnly<T>>::from_request(req, state).await {
                Ok(axum::Json(ObjectOnly(value))) => Ok(Self(value)),
                Err(rejection) => Err(json_rejection(rejection)),
            };
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|err| json_rejection(JsonRejection::from(err)))?;
        if let Ok(ObjectOnly(value)) = serde_json::from_slice::<ObjectOnly<T>>(&bytes) {
            return Ok(Self(value));
        }
        match axum::Json::<ObjectOnly<T>>::from_bytes(&bytes) {
            Ok(axum::Json(ObjectOnly(value))) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// `Content-Type: application/json` exactly (any case, no parameters): the type nearly every
/// client sends, recognised without parsing it as a media type.
fn plain_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"application/json"))
}

/// A JSON object deserialized as `T`, never a JSON array: serde's derived structs also accept
/// their fields positionally (`[null, null]`), which the OpenAPI document does not allow and
/// schemathesis rightly reported as a schema-violating request accepted.
struct ObjectOnly<T>(T);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Visit<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        deserializer
            .deserialize_map(Visit(std::marker::PhantomData))
            .map(ObjectOnly)
    }
}

/// `#[serde(deserialize_with = "object")]` for a nested struct field: a JSON object only.
pub fn object<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    <ObjectOnly<T> as serde::Deserialize>::deserialize(deserializer).map(|ObjectOnly(value)| value)
}

/// [`object`] for an optional nested struct field (use with `#[serde(default)]`).
pub fn optional_object<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    <Option<ObjectOnly<T>> as serde::Deserialize>::deserialize(deserializer)
        .map(|value| value.map(|ObjectOnly(value)| value))
}

/// [`object`] for every item of an array field.
pub fn objects<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    <Vec<ObjectOnly<T>> as serde::Deserialize>::deserialize(deserializer)
        .map(|items| items.into_iter().map(|ObjectOnly(item)| item).collect())
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "request.content_type",
            "expected `Content-Type: application/json`",
        ),
        JsonRejection::JsonSyntaxError(err) => {
            ApiError::bad_request("request.malformed_json", err.body_text())
        }
        JsonRejection::JsonDataError(err) => {
            ApiError::bad_request("request.invalid_body", err.body_text())
        }
        JsonRejection::BytesRejection(err) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request.too_large",
                "request body is too large",
            )
        }
        other => ApiError::bad_request("request.invalid_body", other.body_text()),
    }
}

/// Query parameters; a malformed query string is a problem+json 400.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::bad_request(
                "request.invalid_query",
                rejection.body_text(),
            )),
        }
    }
}

/// Path parameters; one that cannot be decoded (e.g. invalid UTF-8 once percent-decoded) is a
/// problem+json 400 instead of axum's plain-text rejection.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::bad_request(
                "request.invalid_path",
                rejection.body_text(),
            )),
        }
    }
}

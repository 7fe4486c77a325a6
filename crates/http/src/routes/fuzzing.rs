//! The request-body stage of the main endpoints as one pure function, for the cargo-fuzz target
//! `json_bodies` in `fuzz/` and its regression tests; not part of the API.
//!
//! Each body runs through the real [`ApiJson`] extractor (the same `deny_unknown_fields` DTOs,
//! the same rejection mapping), then through what the handler does before calling the service
//! and the core parsers the service applies first (ids, emails, roles, permissions, scopes,
//! policy values). No store is involved: this owns no rule of its own.

use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::{Request, StatusCode, header};
use portcullis_service::ServiceError;
use portcullis_service::core::password_policy::PasswordPolicy;
use portcullis_service::core::{AccountId, Email, OrgRole, Permission, PermissionSet, TeamRole};
use portcullis_service::passwords::PasswordHasher;
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::extract::ApiJson;
use portcullis_service::check::CheckRequest;

/// The endpoints whose bodies [`json_body`] decodes, in selector order.
pub const ENDPOINTS: &[&str] = &[
    "POST /v1/check",
    "POST /v1/check/batch",
    "POST /v1/orgs",
    "PATCH /v1/orgs/{org}",
    "POST /v1/accounts/{account}/apps",
    "PATCH /v1/accounts/{account}/apps/{app}",
    "POST /v1/orgs/{org}/invitations",
    "PUT /v1/orgs/{org}/members/{user}",
    "POST /v1/orgs/{org}/teams",
    "POST /v1/signup",
    "POST /v1/login",
    "PUT /v1/orgs/{org}/password-policy",
    "POST /v1/validate-password",
    "POST /v1/users/me/keys",
    "POST /v1/orgs/{org}/identity-providers",
];

/// How far a body got: refused with this problem, or accepted by the body stage.
#[derive(Debug)]
pub enum BodyOutcome {
    Refused(ApiError),
    Accepted,
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(
        || match tokio::runtime::Builder::new_current_thread().build() {
            Ok(rt) => rt,
            Err(err) => panic!("cannot build a current-thread runtime: {err}"),
        },
    )
}

fn extract<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let request = Request::builder()
        .method("POST")
        .uri("/")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_vec()))
        .map_err(|_| ApiError::bad_request("request.invalid_body", "unbuildable request"))?;
    runtime()
        .block_on(ApiJson::<T>::from_request(request, &()))
        .map(|ApiJson(value)| value)
}

fn id(field: &'static str, raw: &str) -> Result<(), ApiError> {
    AccountId::parse(raw)
        .map(drop)
        .map_err(|e| ServiceError::invalid("id.invalid", field, e.to_string()).into())
}

fn email(raw: &str) -> Result<(), ApiError> {
    Email::parse(raw)
        .map(drop)
        .map_err(|e| ServiceError::invalid("email.invalid", "email", e.to_string()).into())
}

fn known<T>(field: &'static str, parsed: Option<T>) -> Result<(), ApiError> {
    parsed
        .map(drop)
        .ok_or_else(|| ServiceError::invalid("value.unknown", field, "unknown value").into())
}

fn check_request(dto: super::check::CheckRequestDto) -> Result<(), ApiError> {
    let request = CheckRequest::try_from(dto)?;
    known("permission", Permission::parse(&request.permission))
}

fn policy(body: &super::security::PutPasswordPolicyRequest) -> Result<(), ApiError> {
    let base = match body.preset.as_deref() {
        None => PasswordPolicy::default(),
        Some(name) => PasswordPolicy::preset(name).ok_or_else(|| {
            ApiError::from(ServiceError::invalid(
                "policy.invalid",
                "preset",
                "unknown preset",
            ))
        })?,
    };
    let policy = body.apply(base);
    let _warnings = policy.nist_warnings();
    let _combined = policy.strictest(PasswordPolicy::default());
    match policy.problems().first() {
        Some(problem) => {
            Err(ServiceError::invalid("policy.invalid", problem.field, &problem.message).into())
        }
        None => Ok(()),
    }
}

fn stage(which: usize, body: &[u8]) -> Result<(), ApiError> {
    use super::{apps, auth, check, identity_providers, invitations, keys, members, orgs};
    use super::{security, teams};
    match which {
        0 => check_request(extract::<check::CheckRequestDto>(body)?),
        1 => extract::<check::BatchRequest>(body)?
            .checks
            .into_iter()
            .try_for_each(check_request),
        2 => {
            let b = extract::<orgs::CreateOrgRequest>(body)?;
            id("id", &b.id)?;
            email(&b.billing_email)
        }
        3 => extract::<orgs::UpdateOrgRequest>(body)?
            .billing_email
            .as_deref()
            .map_or(Ok(()), email),
        4 => {
            let b = extract::<apps::CreateAppRequest>(body)?;
            id("id", &b.id)?;
            b.visibility.as_deref().map_or(Ok(()), |v| {
                known("visibility", portcullis_service::core::Visibility::parse(v))
            })
        }
        5 => {
            let b = extract::<apps::UpdateAppRequest>(body)?;
            b.id.as_deref().map_or(Ok(()), |v| id("id", v))?;
            match b.base_workflow {
                Some(Some(workflow)) => id("base_workflow", &workflow),
                _ => Ok(()),
            }
        }
        6 => {
            let b = extract::<invitations::CreateInvitationRequest>(body)?;
            email(&b.email)?;
            known("role", OrgRole::parse(&b.role))
        }
        7 => known(
            "role",
            OrgRole::parse(&extract::<members::ChangeRoleRequest>(body)?.role),
        ),
        8 => {
            let b = extract::<teams::CreateTeamRequest>(body)?;
            id("id", &b.id)?;
            b.default_role
                .as_deref()
                .map_or(Ok(()), |r| known("default_role", TeamRole::parse(r)))
        }
        9 => {
            let b = extract::<auth::SignupRequest>(body)?;
            id("id", &b.id)?;
            email(&b.email)?;
            Ok(PasswordHasher::validate(&b.password)?)
        }
        10 => {
            let b = extract::<auth::LoginRequest>(body)?;
            Ok(PasswordHasher::validate(&b.password)?)
        }
        11 => policy(&extract::<security::PutPasswordPolicyRequest>(body)?),
        12 => {
            let b = extract::<security::ValidatePasswordRequest>(body)?;
            let _violations = PasswordPolicy::default().evaluate(
                b.password.expose_secret(),
                &portcullis_service::core::password_policy::PasswordContext::default(),
            );
            b.org.as_deref().map_or(Ok(()), |o| id("org", o))
        }
        13 => {
            let b = extract::<keys::CreateKeyRequest>(body)?;
            PermissionSet::parse_scopes(b.scopes.iter().map(String::as_str))
                .map_err(|e| ApiError::from(ServiceError::invalid("scope.invalid", "scopes", e)))?;
            match b.expires_at.as_deref() {
                Some(raw) if crate::dto::parse_rfc3339(raw).is_none() => {
                    Err(ServiceError::invalid("time.invalid", "expires_at", "not RFC 3339").into())
                }
                _ => Ok(()),
            }
        }
        _ => {
            let b = extract::<identity_providers::IdpRequest>(body)?;
            let input = portcullis_service::identity_providers::IdpInput::from(b);
            input.id.as_deref().map_or(Ok(()), |v| id("id", v))?;
            input
                .default_role
                .as_deref()
                .map_or(Ok(()), |r| known("default_role", OrgRole::parse(r)))
        }
    }
}

/// Runs `body` through the body stage of endpoint `which` (taken modulo [`ENDPOINTS`]).
pub fn json_body(which: u8, body: &[u8]) -> BodyOutcome {
    match stage(usize::from(which) % ENDPOINTS.len(), body) {
        Ok(()) => BodyOutcome::Accepted,
        Err(err) => BodyOutcome::Refused(err),
    }
}

/// A refusal as the client would see it: its status and its problem+json body.
pub fn problem_json(err: ApiError) -> (StatusCode, Vec<u8>) {
    let status = err.status;
    let body = serde_json::to_vec(&err.into_problem()).unwrap_or_default();
    (status, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed seed corpus of the `json_bodies` fuzz target: one good body per endpoint.
    fn seeds() -> Vec<(String, Vec<u8>)> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/json_bodies");
        let mut out: Vec<_> = std::fs::read_dir(dir)
            .expect("the seed corpus exists")
            .map(|e| e.expect("readable entry").path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("endpoint_"))
            })
            .map(|p| {
                (
                    p.display().to_string(),
                    std::fs::read(&p).expect("readable seed"),
                )
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn every_endpoint_has_a_seed_that_passes_the_body_stage() {
        let seeds = seeds();
        assert_eq!(seeds.len(), ENDPOINTS.len());
        for (name, data) in seeds {
            let outcome = json_body(data[0], &data[1..]);
            assert!(
                matches!(outcome, BodyOutcome::Accepted),
                "{name}: {outcome:?}"
            );
        }
    }

    #[test]
    fn bad_bodies_are_client_errors_with_stable_codes() {
        let cases: &[(u8, &[u8], u16, &str)] = &[
            (2, br#"{"id":"acme","name":"A","billing_email":"a@b.c","extra":1}"#, 400, "request.invalid_body"),
            (0, b"{", 400, "request.malformed_json"),
            (2, br#"{"id":"-bad id-","name":"A","billing_email":"a@b.c"}"#, 422, "id.invalid"),
            (0, br#"{"subject":{"user":"a","token":"b"},"permission":"app.view","resource":{"org":"x"}}"#, 422, "check.invalid_request"),
        ];
        for (which, body, status, code) in cases {
            let BodyOutcome::Refused(err) = json_body(*which, body) else {
                panic!("accepted {}", String::from_utf8_lossy(body));
            };
            assert_eq!((err.status.as_u16(), err.code), (*status, *code));
            let (_, problem) = problem_json(err);
            let problem: serde_json::Value = serde_json::from_slice(&problem).expect("json");
            assert_eq!(problem["code"], *code);
        }
    }
}

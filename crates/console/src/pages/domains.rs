//! The Security page's verified domains: claim a domain (the TXT record to publish is shown),
//! verify it now, give it up. The service checks `security.manage`; the page only renders.

use axum::extract::{Path, State};
use axum::response::Response;
use portcullis_service::domains::DomainView;
use serde::Deserialize;

use crate::ConsoleState;
use crate::session::Posted;
use crate::view::after_post;

/// A claimed domain as the Security page lists it.
pub struct DomainRow {
    pub domain: String,
    pub status: &'static str,
    pub record_name: String,
    pub record_value: String,
}

impl From<DomainView> for DomainRow {
    fn from(v: DomainView) -> Self {
        Self {
            status: v.record.status.as_str(),
            domain: v.record.domain,
            record_name: v.record_name,
            record_value: v.record_value,
        }
    }
}

#[derive(Deserialize)]
pub struct AddForm {
    domain: String,
}

pub async fn add_domain(
    State(service): State<ConsoleState>,
    Path(account): Path<String>,
    posted: Posted<AddForm>,
) -> Response {
    let result = service
        .add_domain(&posted.viewer.caller, &account, &posted.form.domain)
        .await;
    let done = match &result {
        Ok(added) => format!(
            "domain {} added: publish the TXT record shown, then verify it",
            added.value.record.domain
        ),
        Err(_) => String::new(),
    };
    after_post(result, &format!("/a/{account}/security"), &done)
}

pub async fn verify_domain(
    State(service): State<ConsoleState>,
    Path((account, domain)): Path<(String, String)>,
    posted: Posted<Vec<(String, String)>>,
) -> Response {
    let result = service
        .verify_domain(&posted.viewer.caller, &account, &domain)
        .await;
    after_post(
        result,
        &format!("/a/{account}/security"),
        &format!("domain {domain} verified"),
    )
}

pub async fn delete_domain(
    State(service): State<ConsoleState>,
    Path((account, domain)): Path<(String, String)>,
    posted: Posted<Vec<(String, String)>>,
) -> Response {
    let result = service
        .delete_domain(&posted.viewer.caller, &account, &domain)
        .await;
    after_post(
        result,
        &format!("/a/{account}/security"),
        &format!("domain {domain} removed"),
    )
}

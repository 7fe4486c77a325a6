//! The HTTP floor: a minimal axum `POST /v1/check` over the hash-map floor, taking the same
//! request JSON and returning the same response JSON as Portcullis, with no authentication,
//! no audit, no consistency handling. `floor_server <members> <listen>`.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use portcullis_bench::data::{Query, Shape, Target};
use portcullis_bench::engines::Engine;
use portcullis_bench::engines::hashfloor::HashFloor;
use portcullis_core::Permission;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Subject {
    user: String,
}

#[derive(Deserialize)]
struct ResourceDto {
    org: Option<String>,
    account: Option<String>,
    app: Option<String>,
}

#[derive(Deserialize)]
struct CheckRequest {
    subject: Subject,
    permission: String,
    resource: ResourceDto,
}

#[derive(Serialize)]
struct CheckResponse {
    allowed: bool,
    reason: Option<&'static str>,
    via: Vec<String>,
    revision: u64,
}

struct Floor {
    engine: HashFloor,
    users: FxHashMap<String, u32>,
    orgs: FxHashMap<String, u32>,
    apps: FxHashMap<(u32, String), u32>,
}

async fn check(State(f): State<Arc<Floor>>, Json(req): Json<CheckRequest>) -> Json<CheckResponse> {
    let decide = || -> Option<bool> {
        let user = *f.users.get(&req.subject.user)?;
        let permission = Permission::parse(&req.permission)?;
        let target = match (&req.resource.org, &req.resource.account, &req.resource.app) {
            (Some(org), None, None) => Target::Org(*f.orgs.get(org)?),
            (None, Some(account), Some(app)) => {
                let org = *f.orgs.get(account)?;
                Target::App(*f.apps.get(&(org, app.clone()))?)
            }
            _ => return None,
        };
        Some(f.engine.check(
            0,
            &Query {
                user,
                permission,
                target,
            },
        ))
    };
    let allowed = decide().unwrap_or(false);
    Json(CheckResponse {
        allowed,
        reason: if allowed { None } else { Some("not_member") },
        via: if allowed {
            vec!["role:org_contributor".to_owned()]
        } else {
            vec![]
        },
        revision: 1,
    })
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let members = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let listen = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:8091".to_owned());
    let shape = Shape::with_members(members);
    let floor = Floor {
        engine: HashFloor::build(&shape),
        users: (0..shape.members())
            .map(|m| (Shape::user_handle(m), m as u32))
            .collect(),
        orgs: (0..shape.orgs)
            .map(|o| (Shape::org_handle(o), o as u32))
            .collect(),
        apps: (0..shape.apps())
            .map(|a| ((shape.org_of_app(a) as u32, shape.app_handle(a)), a as u32))
            .collect(),
    };
    let app = Router::new()
        .route("/v1/check", post(check))
        .with_state(Arc::new(floor));
    let listener = tokio::net::TcpListener::bind(&listen).await.expect("bind");
    eprintln!("floor listening on {listen}");
    axum::serve(listener, app).await.expect("serve");
}

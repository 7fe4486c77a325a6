//! `grpc.health.v1.Health`: the server ("") and `portcullis.v1.CheckService` are `SERVING`
//! while the store answers and the index keeps up with it, as `/readyz` judges readiness, and
//! `NOT_SERVING` otherwise (checks may still answer from memory then, as `/readyz`'s
//! `degraded` says). Re-judged every second from the service's background store probe, so a
//! health call never waits for the store.

use std::sync::Arc;
use std::time::Duration;

use portcullis_service::Portcullis;
use portcullis_service::health::StoreState;
use tonic::server::NamedService;
use tonic_health::ServingStatus;
use tonic_health::server::{HealthReporter, health_reporter};

use crate::check::CheckApi;
use crate::pb::check_service_server::CheckServiceServer;

const INTERVAL: Duration = Duration::from_secs(1);

/// The health service, its statuses set now and kept current by a task that ends once the
/// Portcullis service is gone (the server stopped).
pub(crate) async fn serve(
    service: &Arc<Portcullis>,
) -> tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health> {
    let (reporter, server) = health_reporter();
    // The store revision seen one interval ago: an index still behind it has fallen behind.
    let mut earlier = service.probed_store_revision();
    let mut current = judge(service, 0);
    report(&reporter, current).await;
    let service = Arc::downgrade(service);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(INTERVAL).await;
            let Some(service) = service.upgrade() else {
                break;
            };
            let status = judge(&service, earlier);
            earlier = service.probed_store_revision();
            drop(service);
            if status != current {
                report(&reporter, status).await;
                current = status;
            }
        }
    });
    server
}

fn judge(service: &Portcullis, earlier_store_revision: u64) -> ServingStatus {
    match service.store_state() {
        StoreState::Up if service.revision() >= earlier_store_revision => ServingStatus::Serving,
        StoreState::Up | StoreState::Full | StoreState::Down => ServingStatus::NotServing,
    }
}

async fn report(reporter: &HealthReporter, status: ServingStatus) {
    reporter.set_service_status("", status).await;
    reporter
        .set_service_status(<CheckServiceServer<CheckApi> as NamedService>::NAME, status)
        .await;
}

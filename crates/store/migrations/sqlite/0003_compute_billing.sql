-- Compute (clusters, nodepools, deployments) and financial data (usage records, budgets)
-- (SQLite). Keep in step with ../postgres/0003_compute_billing.sql.
--
-- A nodepool that a deployment uses cannot be deleted: deployment_nodepools references it
-- without a cascade (NO ACTION, checked at the end of the statement, so deleting a whole
-- organization or app still cascades through). Deployments go with their model.

CREATE TABLE compute_clusters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES orgs (account_id) ON DELETE CASCADE,
    handle TEXT NOT NULL,
    handle_key TEXT NOT NULL,
    description TEXT NOT NULL,
    cloud_provider TEXT NOT NULL,
    region TEXT NOT NULL,
    cluster_type TEXT NOT NULL,
    visibility TEXT NOT NULL CHECK (visibility IN ('private', 'org', 'public')),
    created_by BIGINT REFERENCES users (account_id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    UNIQUE (org_id, handle_key)
);

CREATE TABLE nodepools (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cluster_id BIGINT NOT NULL REFERENCES compute_clusters (id) ON DELETE CASCADE,
    handle TEXT NOT NULL,
    handle_key TEXT NOT NULL,
    instance_types TEXT NOT NULL,
    capacity_type TEXT NOT NULL CHECK (capacity_type IN ('on_demand', 'spot')),
    min_instances BIGINT NOT NULL,
    max_instances BIGINT NOT NULL,
    visibility TEXT NOT NULL CHECK (visibility IN ('private', 'org', 'public')),
    created_by BIGINT REFERENCES users (account_id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    UNIQUE (cluster_id, handle_key),
    CHECK (min_instances >= 0 AND min_instances <= max_instances AND max_instances <= 1000)
);

CREATE TABLE deployments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES orgs (account_id) ON DELETE CASCADE,
    handle TEXT NOT NULL,
    handle_key TEXT NOT NULL,
    model_id BIGINT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    min_replicas BIGINT NOT NULL,
    max_replicas BIGINT NOT NULL,
    visibility TEXT NOT NULL CHECK (visibility IN ('private', 'org', 'public')),
    created_by BIGINT REFERENCES users (account_id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    UNIQUE (org_id, handle_key),
    CHECK (min_replicas >= 0 AND min_replicas <= max_replicas)
);
CREATE INDEX deployments_by_model ON deployments (model_id);

CREATE TABLE deployment_nodepools (
    deployment_id BIGINT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    nodepool_id BIGINT NOT NULL REFERENCES nodepools (id),
    priority BIGINT NOT NULL CHECK (priority >= 0 AND priority <= 9),
    PRIMARY KEY (deployment_id, nodepool_id)
);
CREATE INDEX deployment_nodepools_by_nodepool ON deployment_nodepools (nodepool_id);

-- `record_id` is the client's idempotency key, unique per organization.
CREATE TABLE usage_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES orgs (account_id) ON DELETE CASCADE,
    record_id TEXT NOT NULL,
    category TEXT NOT NULL CHECK (category IN ('prediction', 'training', 'compute', 'storage', 'search')),
    amount_cents BIGINT NOT NULL CHECK (amount_cents >= 0),
    currency TEXT NOT NULL,
    model TEXT,
    day TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (org_id, record_id)
);
CREATE INDEX usage_records_by_day ON usage_records (org_id, day);

CREATE TABLE budgets (
    org_id BIGINT PRIMARY KEY REFERENCES orgs (account_id) ON DELETE CASCADE,
    monthly_budget_cents BIGINT NOT NULL CHECK (monthly_budget_cents >= 0),
    currency TEXT NOT NULL,
    alert_threshold_percent BIGINT NOT NULL CHECK (alert_threshold_percent BETWEEN 1 AND 100),
    modified_at BIGINT NOT NULL
);

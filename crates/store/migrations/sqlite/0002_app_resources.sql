-- Resources inside an app: models, workflows, modules and module installations (SQLite).
-- Keep in step with ../postgres/0002_app_resources.sql.

CREATE TABLE models (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id BIGINT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    handle TEXT NOT NULL,
    handle_key TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    visibility TEXT NOT NULL CHECK (visibility IN ('private', 'org', 'public')),
    created_by BIGINT REFERENCES users (account_id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    UNIQUE (app_id, handle_key)
);

CREATE TABLE workflows (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id BIGINT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    handle TEXT NOT NULL,
    handle_key TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    visibility TEXT NOT NULL CHECK (visibility IN ('private', 'org', 'public')),
    created_by BIGINT REFERENCES users (account_id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    UNIQUE (app_id, handle_key)
);

CREATE TABLE modules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id BIGINT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    handle TEXT NOT NULL,
    handle_key TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    visibility TEXT NOT NULL CHECK (visibility IN ('private', 'org', 'public')),
    created_by BIGINT REFERENCES users (account_id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    UNIQUE (app_id, handle_key)
);

CREATE TABLE installed_modules (
    app_id BIGINT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    module_id BIGINT NOT NULL REFERENCES modules (id) ON DELETE CASCADE,
    installed_by BIGINT REFERENCES users (account_id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, module_id)
);
CREATE INDEX installed_modules_by_module ON installed_modules (module_id);

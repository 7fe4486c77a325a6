-- The organization role a SCIM group gives the members the organization provisioned (sqlite).
-- Keep in step with ../postgres/0016_scim_group_roles.sql.
--
-- In order: a provisioned member holds the role of the first group (lowest position) it
-- belongs to, or the organization's SCIM default role when it belongs to none of them.
CREATE TABLE scim_group_roles (
    team_id BIGINT PRIMARY KEY REFERENCES teams (id) ON DELETE CASCADE,
    org_id BIGINT NOT NULL REFERENCES orgs (account_id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    position BIGINT NOT NULL,
    UNIQUE (org_id, position)
);

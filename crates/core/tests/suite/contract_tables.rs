//! The permission tables of docs/contract.md are generated from the code's own table: this test
//! renders them and fails when the document says anything else. `PORTCULLIS_BLESS=1` rewrites
//! the document's generated sections instead (then review the diff).

use portcullis_core::permissions::CATALOGUE;
use portcullis_core::{Level, OrgRole, PermissionSet, TeamRole};

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/contract.md");

fn permission_matrix() -> String {
    let mut out = String::from("| Permission | Level | What it allows |");
    for role in OrgRole::ALL {
        out.push_str(&format!(" {} |", role.as_str()));
    }
    out.push_str("\n|---|---|---|");
    out.push_str(&"---|".repeat(OrgRole::ALL.len()));
    out.push('\n');
    for row in CATALOGUE {
        out.push_str(&format!(
            "| `{}` | {} | {} |",
            row.permission.as_str(),
            row.level.as_str(),
            row.label
        ));
        for role in OrgRole::ALL {
            out.push_str(if row.roles.contains(&role) {
                " Y |"
            } else {
                " · |"
            });
        }
        out.push('\n');
    }
    out
}

fn team_roles() -> String {
    let mut out = String::from("| Team role | Permissions on the app |\n|---|---|\n");
    for role in TeamRole::ALL {
        let set = role.permissions();
        let listed = if set == PermissionSet::all_at(Level::App) {
            "every app-level permission".to_owned()
        } else {
            set.iter()
                .map(|p| format!("`{}`", p.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push_str(&format!("| `{}` | {listed} |\n", role.as_str()));
    }
    out
}

/// Replaces the body of the generated section `name`, returning the new document.
fn with_section(doc: &str, name: &str, body: &str) -> String {
    let start_marker = format!("<!-- generated: {name} ");
    let start = doc.find(&start_marker).expect("section marker");
    let body_start = start + doc[start..].find("-->\n").expect("marker end") + 4;
    let end = body_start
        + doc[body_start..]
            .find("<!-- end generated -->")
            .expect("end marker");
    format!("{}{}{}", &doc[..body_start], body, &doc[end..])
}

#[test]
fn the_contract_tables_are_the_code_tables() {
    let doc = std::fs::read_to_string(DOC).unwrap();
    let generated = with_section(
        &with_section(&doc, "permission-matrix", &permission_matrix()),
        "team-roles",
        &team_roles(),
    );
    if std::env::var_os("PORTCULLIS_BLESS").is_some() {
        std::fs::write(DOC, &generated).unwrap();
        return;
    }
    assert!(
        doc == generated,
        "docs/contract.md's generated tables differ from the code; run \
         PORTCULLIS_BLESS=1 cargo test -p portcullis-core --test suite contract_tables and review"
    );
}

//! Checks of user input that several use cases share, so an app, an item and a compute
//! resource refuse the same visibility or description with the same code and message.

use portcullis_core::Visibility;

use crate::{Result, ServiceError};

/// A visibility (`private`, `org`, `public`), or `field.invalid` naming the value.
pub(crate) fn parse_visibility(raw: &str) -> Result<Visibility> {
    Visibility::parse(raw).ok_or_else(|| {
        ServiceError::invalid(
            "field.invalid",
            "visibility",
            format!(
                "unknown visibility `{}`; expected one of private, org, public",
                shown(raw)
            ),
        )
    })
}

/// A description of at most `max_chars` characters of free text.
pub(crate) fn description(raw: &str, max_chars: usize) -> Result<String> {
    if raw.chars().count() > max_chars {
        return Err(ServiceError::invalid(
            "field.too_long",
            "description",
            format!("`description` must be at most {max_chars} characters"),
        ));
    }
    check_text("description", raw)?;
    Ok(raw.to_owned())
}

/// Free text may span lines, but no other control characters (PostgreSQL cannot even store NUL).
pub(crate) fn check_text(field: &'static str, value: &str) -> Result<()> {
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(ServiceError::invalid(
            "field.invalid",
            field,
            format!("`{field}` must not contain control characters"),
        ));
    }
    Ok(())
}

/// User input echoed in a message, cut short.
pub(crate) fn shown(raw: &str) -> String {
    raw.chars().take(64).collect()
}

"""Portcullis-specific schemathesis checks, loaded by scripts/schemathesis.sh.

`problem_json`: every error response (4xx/5xx) is an RFC 9457 `application/problem+json` body
whose `status` is the HTTP status and whose `code` is a non-empty stable string; except under
`/scim/`, where RFC 7644 section 3.12 mandates its own error format: an
`application/scim+json` body with the `urn:ietf:params:scim:api:messages:2.0:Error` schema, the
HTTP status as a string in `status`, and `scimType`, when present, a string.
"""

import json

import schemathesis


@schemathesis.check
def problem_json(ctx, response, case):
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])
    if isinstance(content_type, list):
        content_type = content_type[0] if content_type else ""
    media_type = content_type.split(";")[0].strip().lower()
    if "/scim/v2/" in str(response.request.url):
        return scim_error(response, media_type)
    if media_type != "application/problem+json":
        raise AssertionError(
            f"error {response.status_code} has content type `{content_type}`, "
            "expected `application/problem+json`"
        )
    try:
        body = json.loads(response.content)
    except ValueError as err:
        raise AssertionError(f"error {response.status_code} body is not JSON: {err}") from None
    if not isinstance(body, dict):
        raise AssertionError(f"error {response.status_code} body is not a JSON object")
    if body.get("status") != response.status_code:
        raise AssertionError(
            f"problem `status` {body.get('status')!r} differs from the HTTP status {response.status_code}"
        )
    code = body.get("code")
    if not isinstance(code, str) or not code:
        raise AssertionError(f"error {response.status_code} has no stable `code`")
    for field in ("type", "title", "detail"):
        if not isinstance(body.get(field), str):
            raise AssertionError(f"problem field `{field}` is missing or not a string")
    return None


SCIM_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def scim_error(response, media_type):
    """An error of the SCIM endpoint is a SCIM Error message (RFC 7644 section 3.12)."""
    status = response.status_code
    if media_type != "application/scim+json":
        raise AssertionError(
            f"SCIM error {status} has content type `{media_type}`, expected `application/scim+json`"
        )
    try:
        body = json.loads(response.content)
    except ValueError as err:
        raise AssertionError(f"SCIM error {status} body is not JSON: {err}") from None
    if not isinstance(body, dict) or SCIM_ERROR not in (body.get("schemas") or []):
        raise AssertionError(f"SCIM error {status} does not carry the `{SCIM_ERROR}` schema")
    if body.get("status") != str(status):
        raise AssertionError(
            f"SCIM error `status` {body.get('status')!r} is not the HTTP status {status} as a string"
        )
    if "scimType" in body and not isinstance(body["scimType"], str):
        raise AssertionError(f"SCIM error {status} has a `scimType` that is not a string")
    return None

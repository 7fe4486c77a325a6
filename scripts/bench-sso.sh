#!/usr/bin/env bash
# SSO logins per second end to end: a release `portcullis serve` on
# loopback (SQLite, or PostgreSQL with PORTCULLIS_BENCH_DATABASE_URL), an enabled IdP trusting
# the test fixtures' throw-away key, N responses pre-signed with the xmlsec1 CLI (unique
# assertion ids, NameIDs cycling over U users, valid for the next hour), then POSTed to the ACS
# by C concurrent clients. Counts the sessions created per second and the ACS latency.
# Needs xmlsec1 and python3. Not part of CI.
# Usage: scripts/bench-sso.sh [N=2000] [C=16] [U=200]   (prints a Markdown table)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-2000}"
conc="${2:-16}"
users="${3:-200}"
command -v xmlsec1 > /dev/null || { echo "needs the xmlsec1 CLI (Debian package xmlsec1)" >&2; exit 2; }
fixtures=crates/saml/tests/fixtures
source scripts/lib/bench-server.sh
cert="$(grep -v -- ----- "$fixtures/idp.crt" | tr -d '\n')"
python3 - "$cert" > "$dir/idp.json" <<'PY'
import json, sys
metadata = f"""<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example/"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{sys.argv[1]}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"""
print(json.dumps({"id": "okta", "enabled": True, "metadata_xml": metadata, "jit_enabled": True,
                  "idp_initiated": True, "attribute_mapping": {"email": "mail"}}))
PY
curl -sf -X POST "$base/v1/orgs/acme/identity-providers" -H "Authorization: Bearer $token" \
  -H "$json" -d @"$dir/idp.json" > /dev/null

# Pre-sign N responses (IdP-initiated: no AuthnRequest round trip), then the timed run.
python3 - "$base" "$n" "$conc" "$users" "$fixtures/idp.key" "$dir" <<'PY'
import base64, concurrent.futures as cf, datetime as dt, http.client, os, subprocess, sys, time
import urllib.parse
base, n, conc, users, key, tmp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
acs, audience = f"{base}/saml/acme/okta/acs", f"{base}/saml/acme/okta/metadata"
now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
fmt = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
before, after = fmt(now - dt.timedelta(minutes=5)), fmt(now + dt.timedelta(hours=1))

def signed(i):
    who = f"user{i % users}@example.com"
    xml = f"""<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_resp{i}" Version="2.0" IssueInstant="{fmt(now)}" Destination="{acs}"><saml:Issuer>https://idp.example/</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:Assertion ID="_assert{i}" Version="2.0" IssueInstant="{fmt(now)}"><saml:Issuer>https://idp.example/</saml:Issuer><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#_assert{i}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/></ds:Signature><saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{who}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="{after}" Recipient="{acs}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{before}" NotOnOrAfter="{after}"><saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AttributeStatement><saml:Attribute Name="mail"><saml:AttributeValue>{who}</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion></samlp:Response>"""
    path = os.path.join(tmp, f"r{i}.xml")
    with open(path, "w") as f:
        f.write(xml)
    out = subprocess.run(["xmlsec1", "--sign", "--privkey-pem", key, "--id-attr:ID",
                          "urn:oasis:names:tc:SAML:2.0:assertion:Assertion", path],
                         check=True, capture_output=True).stdout
    os.remove(path)
    return urllib.parse.urlencode({"SAMLResponse": base64.b64encode(out).decode()})

with cf.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
    bodies = list(pool.map(signed, range(n)))
host, port = base.removeprefix("http://").split(":")

failures = []

def client(share):
    conn = http.client.HTTPConnection(host, int(port))
    ok, lat = 0, []
    for body in share:
        start = time.perf_counter()
        conn.request("POST", "/saml/acme/okta/acs", body,
                     {"Content-Type": "application/x-www-form-urlencoded"})
        resp = conn.getresponse()
        data = resp.read()
        lat.append(time.perf_counter() - start)
        # Signed in: 303 to the org's console with the session cookie set.
        signed_in = resp.status == 303 and resp.getheader("location", "").endswith("/apps") \
            and resp.getheader("set-cookie") is not None
        if not signed_in and ok == 0 and not failures:
            failures.append(f"{resp.status} {data[:300]!r}")
        ok += signed_in
    conn.close()
    return ok, lat

shares = [bodies[i::conc] for i in range(conc)]
start = time.perf_counter()
with cf.ThreadPoolExecutor(conc) as pool:
    results = list(pool.map(client, shares))
wall = time.perf_counter() - start
ok = sum(r[0] for r in results)
lat = sorted(l for r in results for l in r[1])
pct = lambda p: lat[min(len(lat) - 1, max(0, int(len(lat) * p + 0.999999) - 1))] * 1000
print(f"| SSO logins ({os.cpu_count()} cores, {n} responses, {conc} clients, {users} users) | value |")
print("|---|---|")
print(f"| sessions created | {ok} of {n} |")
print(f"| sessions per second | {ok / wall:.0f} |")
print(f"| ACS latency p50 / p99 | {pct(0.5):.1f} ms / {pct(0.99):.1f} ms |")
if ok != n:
    sys.exit(f"{n - ok} logins failed; the first: {failures[:1]}")
PY

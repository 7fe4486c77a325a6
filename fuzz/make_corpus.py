#!/usr/bin/env python3
"""Writes the committed seed corpora (fuzz/corpus/<target>/): a few representative inputs per
target. Re-run after changing an input format; libFuzzer grows its own corpus from these."""
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "crates", "saml", "tests", "fixtures")
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def write(target, name, data):
    path = os.path.join(HERE, "corpus", target)
    os.makedirs(path, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(path, name), "wb") as f:
        f.write(data)


def token(prefix, body):
    head = prefix + body
    value = zlib.crc32(head.encode())
    check = ""
    for _ in range(6):
        check = ALPHABET[value % 62] + check
        value //= 62
    return head + check


# token
good = token("pcl_pat_", "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5")
write("token", "pat", good)
write("token", "session", token("pcl_ses_", "Z" * 30))
write("token", "app_key", token("pcl_key_", "0123456789" * 3))
write("token", "bad_checksum", good[:-1] + ("0" if good[-1] != "0" else "1"))
write("token", "bearer", "Bearer " + good)

# json_bodies: selector byte (ENDPOINTS in fuzz_targets/json_bodies.rs) + body; the server
# keeps what they write, so the seeds leave its fixtures (org acme, app ml) in place
bodies = [
    '{"subject":{"user":"alice"},"permission":"app.view","resource":{"account":"acme","app":"ml"}}',
    '{"checks":[{"subject":{"token":"pcl_pat_x"},"permission":"org.manage","resource":{"org":"acme"},"consistency":{"at_least":3}}]}',
    '{"id":"beta","name":"Beta","billing_email":"billing@beta.example"}',
    '{"name":"Acme Corp","billing_email":null}',
    '{"id":"ml","name":"ML","description":"d","notes":"n","visibility":"org"}',
    '{"description":"models","base_workflow":null}',
    '{"email":"bob@example.com","role":"org_user"}',
    '{"role":"admin"}',
    '{"id":"ml","name":"ML team","default_role":"model_trainer"}',
    '{"id":"alice","email":"alice@example.com","password":"correct horse battery","first_name":"Alice"}',
    '{"email":"alice@example.com","password":"correct horse battery","remember_me":true}',
    '{"preset":"nist","minimum_length":12,"no_confusing_letters":true}',
    '{"password":"Tr0ub4dor&3","org":"acme"}',
    '{"description":"ci","scopes":["app.view","models.create"],"expires_at":"2030-01-01T00:00:00Z","org":"acme"}',
    '{"id":"okta","name":"Okta","enabled":true,"certificates":["MIIB"],"attribute_mapping":{"email":"mail"},"group_teams":{"ml":"ml"},"clock_skew_secs":60}',
]
for i, body in enumerate(bodies):
    write("json_bodies", f"endpoint_{i:02}", bytes([i]) + body.encode())
write("json_bodies", "unknown_field", bytes([2]) + b'{"id":"a","name":"b","billing_email":"c@d.e","x":1}')


# password_policy: two 13-byte policies + password\0old\0email\0names...
def policy(minimum, maximum, life=0, reuse=0, fails=10, lockout=15, flags=0):
    return struct.pack("<HHHBHHH", minimum, maximum, life, reuse, fails, lockout, flags)


nist = policy(15, 256, flags=(1 << 4) | (1 << 5) | (1 << 7) | (1 << 8))
legacy = policy(8, 128, 90, 5, 5, 30, flags=0b1110111111)
default = policy(8, 1024, flags=1 << 8)
write("password_policy", "nist_legacy", nist + legacy + b"Summer2024!\0Summer2023!\0alice@example.com\0alice\0Alice")
write("password_policy", "default_zero", default + policy(0, 0) + b"password")
write("password_policy", "unicode", legacy + nist + "Pässwörd\u00df\u0130l|0O\0\0bob@x.y".encode())
write("password_policy", "sequences", nist + nist + b"qwerty1234abcd\0qwerty1234\0\0qwerty")

# saml_acs: signed fixtures and attacks on them (raw XML; the target base64-encodes)
# Not other_key.xml: other.crt is the target's never-signed-anything key, and that fixture is
# signed by it (the signature case is in crates/saml/tests/suite/attacks.rs).
for name in ["valid.xml", "response_signed.xml", "expired.xml", "sha1.xml"]:
    with open(os.path.join(FIXTURES, name), "rb") as f:
        write("saml_acs", name.removesuffix(".xml"), f.read())
for name in ["xsw1.xml", "xsw4.xml", "xsw7.xml"]:
    with open(os.path.join(FIXTURES, "xsw", name), "rb") as f:
        write("saml_acs", name.removesuffix(".xml"), f.read())
# Encrypted assertions (to the fixtures' SP key, which the target configures).
for name in ["assertion_signed", "response_signed", "both_signed", "rsa1_5"]:
    with open(os.path.join(FIXTURES, "encrypted", name + ".xml"), "rb") as f:
        write("saml_acs", "encrypted_" + name, f.read())
write("saml_acs", "xxe", '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&x;</samlp:Response>')

# idp_metadata
with open(os.path.join(FIXTURES, "idp.crt")) as f:
    cert = "".join(line for line in f.read().splitlines() if not line.startswith("-----"))
entity = (
    '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
    'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example/">'
    '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
    '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}'
    "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
    "<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>"
    '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
    'Location="https://idp.example/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>'
)
write("idp_metadata", "entity", '<?xml version="1.0"?>\n' + entity.format(cert=cert))
write(
    "idp_metadata",
    "entities",
    '<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">'
    + entity.format(cert=cert)
    + "</md:EntitiesDescriptor>",
)
write("idp_metadata", "no_certificate", entity.replace('<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>', ""))
write("idp_metadata", "billion_laughs", '<!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&b;"/>')

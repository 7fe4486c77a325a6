"""A minimal SAML 2.0 identity provider built on pysaml2's `saml2.server.Server` (the IdP
implementation of the pysaml2 project), for the end-to-end SSO test.

Usage: python pysaml2_idp.py <sp-metadata-url> <key.pem> <cert.pem> [options]
Options:
  --want-signed-requests  `want_authn_requests_signed: True`: pysaml2 verifies the redirect
                          binding's signature with the signing certificate of the SP metadata
                          and refuses an unsigned or wrongly signed AuthnRequest (400).
  --encrypt-assertion     the assertion is signed, then encrypted to the SP metadata's
                          encryption certificate (RSA-OAEP-MGF1P key transport, AES-256-CBC:
                          pysaml2's default data algorithm, 3DES, is refused by Portcullis, and
                          pysaml2 has no setting for it, so its default arguments are replaced).
  --host NAME             the host name in the IdP's own URLs (default 127.0.0.1): a browser
                          test names it `localhost` so the IdP is another site than the SP.
Listens on 127.0.0.1 (a free port), prints `READY <port>` and serves:
  GET  /metadata        the IdP's metadata (pysaml2-generated)
  GET  /sso/redirect    HTTP-Redirect AuthnRequest -> an HTML login form
  POST /login           username/password -> an auto-submitting HTML form POSTing the signed
                        SAMLResponse to the SP's ACS (HTTP-POST binding)
The SP's metadata is fetched when the first AuthnRequest arrives.
"""
import functools
import html
import http.server
import secrets
import shutil
import sys
import threading
import urllib.parse
import urllib.request

import saml2.entity
import saml2.sigver
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.server import Server
from saml2.authn_context import PASSWORD, AuthnBroker, authn_context_class_ref

SP_METADATA_URL, KEY, CERT = sys.argv[1:4]
WANT_SIGNED_REQUESTS = "--want-signed-requests" in sys.argv[4:]
ENCRYPT_ASSERTION = "--encrypt-assertion" in sys.argv[4:]
HOST = sys.argv[sys.argv.index("--host") + 1] if "--host" in sys.argv[4:] else "127.0.0.1"
if ENCRYPT_ASSERTION:
    saml2.entity.pre_encryption_part = functools.partial(
        saml2.sigver.pre_encryption_part,
        msg_enc="http://www.w3.org/2001/04/xmlenc#aes256-cbc",
        key_enc="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
    )
    _encrypt_assertion = saml2.sigver.SecurityContext.encrypt_assertion

    def _encrypt_assertion_aes(self, statement, enc_key, template, key_type=None, node_xpath=None):
        # The session key to match the template's AES-256 (pysaml2 passes its default, des-192).
        return _encrypt_assertion(self, statement, enc_key, template, "aes-256", node_xpath)

    saml2.sigver.SecurityContext.encrypt_assertion = _encrypt_assertion_aes
USERS = {
    "dave": {
        "password": "dave-secret",
        "mail": ["dave@corp.example"],
        "givenName": ["Dave"],
        "sn": ["Example"],
        "memberOf": ["ml-engineers", "everyone"],
    },
    # Has a Portcullis account of her own, and links this IdP to it from her account page.
    "gwen": {
        "password": "gwen-secret",
        "mail": ["gwen@corp.example"],
        "givenName": ["Gwen"],
        "sn": ["Example"],
        "memberOf": ["everyone"],
    },
}
PENDING = {}  # form key -> (parsed request, relay state)
LOCK = threading.Lock()
STATE = {}


def config(base, sp_metadata=None):
    conf = {
        "entityid": f"{base}/metadata",
        "service": {
            "idp": {
                "name": "pysaml2 test IdP",
                "endpoints": {
                    "single_sign_on_service": [(f"{base}/sso/redirect", BINDING_HTTP_REDIRECT)],
                },
                "policy": {"default": {"lifetime": {"minutes": 5}, "attribute_restrictions": None}},
                "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                "want_authn_requests_signed": WANT_SIGNED_REQUESTS,
                "sign_response": True,
                "sign_assertion": True,
            }
        },
        "key_file": KEY,
        "cert_file": CERT,
        "xmlsec_binary": shutil.which("xmlsec1"),
        "metadata": {"inline": [sp_metadata]} if sp_metadata else {},
    }
    c = IdPConfig()
    c.load(conf)
    return c


def server():
    with LOCK:
        if "server" not in STATE:
            with urllib.request.urlopen(SP_METADATA_URL, timeout=10) as r:
                sp_metadata = r.read().decode()
            STATE["server"] = Server(config=config(STATE["base"], sp_metadata))
        return STATE["server"]


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="text/html; charset=utf-8"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        try:
            if url.path == "/metadata":
                xml = create_metadata_string(None, config=config(STATE["base"]), valid=None)
                return self.reply(200, xml.decode(), "application/samlmetadata+xml")
            if url.path == "/sso/redirect":
                idp = server()
                req = idp.parse_authn_request(
                    query["SAMLRequest"],
                    BINDING_HTTP_REDIRECT,
                    relay_state=query.get("RelayState"),
                    sigalg=query.get("SigAlg"),
                    signature=query.get("Signature"),
                )
                key = secrets.token_urlsafe(16)
                PENDING[key] = (req, query.get("RelayState"))
                return self.reply(
                    200,
                    "<html><body><form method='post' action='/login'>"
                    f"<input type='hidden' name='key' value='{key}'/>"
                    "<input name='username'/><input type='password' name='password'/>"
                    "<button type='submit'>Sign in</button></form></body></html>",
                )
        except Exception as e:  # noqa: BLE001 - shown to the test
            return self.reply(400, f"error: {html.escape(repr(e))}", "text/plain")
        self.reply(404, "not found", "text/plain")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        if self.path != "/login":
            return self.reply(404, "not found", "text/plain")
        pending = PENDING.pop(form.get("key", ""), None)
        user = USERS.get(form.get("username", ""))
        if pending is None:
            return self.reply(400, "unknown login", "text/plain")
        if user is None or not secrets.compare_digest(user["password"], form.get("password", "")):
            PENDING[form["key"]] = pending
            return self.reply(401, "wrong username or password", "text/plain")
        req, relay_state = pending
        try:
            idp = server()
            message = req.message
            sp_entity = message.issuer.text
            resp_args = idp.response_args(message, [BINDING_HTTP_POST])
            identity = {k: v for k, v in user.items() if k != "password"}
            broker = AuthnBroker()
            broker.add(authn_context_class_ref(PASSWORD), "")
            response = idp.create_authn_response(
                identity,
                userid=user["mail"][0],
                name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=user["mail"][0]),
                authn=broker.get_authn_by_accr(PASSWORD),
                sign_response=True,
                sign_assertion=True,
                encrypt_assertion=ENCRYPT_ASSERTION,
                # pysaml2 signs with RSA-SHA1 by default, which Portcullis refuses.
                sign_alg="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                digest_alg="http://www.w3.org/2001/04/xmlenc#sha256",
                **resp_args,
            )
            http_args = idp.apply_binding(
                BINDING_HTTP_POST,
                str(response),
                resp_args["destination"],
                relay_state,
                response=True,
            )
            body = http_args["data"]
            if isinstance(body, bytes):
                body = body.decode()
            return self.reply(200, body)
        except Exception as e:  # noqa: BLE001 - shown to the test
            return self.reply(500, f"error: {html.escape(repr(e))}", "text/plain")


def main():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    STATE["base"] = f"http://{HOST}:{httpd.server_address[1]}"
    print(f"READY {httpd.server_address[1]}", flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Browser tests of the web console: builds Portcullis, starts `portcullis serve` on a free
# loopback port with a temp data dir, runs the Playwright flows in console-tests/ against
# Debian's headless Chromium (no browser download), and stops the server. One flow
# (console-tests/https.test.mjs) runs against a second server that terminates TLS itself, with a
# certificate from a CA made here and its plain-HTTP redirect listener.
#
# SCREENSHOTS=1 also rewrites docs/screenshots/*.png (scripts/screenshots.sh does that).
# CHROMIUM=/path overrides the browser (default /usr/bin/chromium).
set -euo pipefail
cd "$(dirname "$0")/.."

chromium="${CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$chromium" ]]; then
    if [[ "${CI:-}" == "true" ]]; then
        echo "Chromium not found at $chromium" >&2
        exit 1
    fi
    echo "SKIPPED: console browser tests (no Chromium at $chromium; apt-get install chromium)"
    exit 0
fi
if [[ ! -d console-tests/node_modules/playwright-core ]]; then
    (cd console-tests && npm ci --no-audit --no-fund)
fi

# The mail the console sends goes through a real SMTP relay (aiosmtpd, STARTTLS with a CA made
# here, AUTH); the tests read what it received from $work/mail.
python=target/idp-venv/bin/python
if ! "$python" -c 'import aiosmtpd' 2> /dev/null; then
    if [[ "${CI:-}" == "true" ]]; then
        echo "aiosmtpd not installed in target/idp-venv (bash scripts/setup.sh)" >&2
        exit 1
    fi
    echo "SKIPPED: console browser tests (no aiosmtpd in target/idp-venv; bash scripts/setup.sh)"
    exit 0
fi

work="$(mktemp -d)"
server_pid=""
https_pid=""
idp_pid=""
relay_pid=""
cleanup() {
    for pid in "$server_pid" "$https_pid" "$idp_pid" "$relay_pid"; do
        if [[ -n "$pid" ]] && kill -0 "$pid" 2> /dev/null; then
            kill -TERM "$pid"
            wait "$pid" || true
        fi
    done
    rm -rf "$work"
}
trap cleanup EXIT

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/ca.key" -out "$work/ca.pem" -days 1 \
    -subj "/CN=Portcullis console test CA" 2> /dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$work/relay.key" -out "$work/relay.csr" \
    -subj "/CN=127.0.0.1" 2> /dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > "$work/relay.ext"
openssl x509 -req -in "$work/relay.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
    -out "$work/relay.pem" -days 1 -extfile "$work/relay.ext" 2> /dev/null
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
smtp_port="$(free_port)"
mkdir -p "$work/mail"
"$python" crates/cli/tests/smtp/relay.py "$smtp_port" "$work/relay.pem" "$work/relay.key" \
    portcullis console-relay-secret "$work/mail" > "$work/relay.out" 2> "$work/relay.log" &
relay_pid=$!
for _ in $(seq 1 100); do
    grep -q READY "$work/relay.out" 2> /dev/null && break
    kill -0 "$relay_pid" 2> /dev/null || { cat "$work/relay.log" >&2; exit 1; }
    sleep 0.1
done
echo console-relay-secret > "$work/smtp-password"
export PORTCULLIS_SMTP_URL="smtp://portcullis@127.0.0.1:$smtp_port"
export PORTCULLIS_SMTP_PASSWORD_FILE="$work/smtp-password"
export PORTCULLIS_SMTP_CA_FILE="$work/ca.pem"
export PORTCULLIS_MAIL_FROM="Portcullis <no-reply@portcullis.test>"
export PORTCULLIS_SMTP_RETRY_INITIAL_MS=200

source "$(dirname "${BASH_SOURCE[0]}")/lib/portcullis-bin.sh"
"$binary" serve --data-dir "$work/data" --listen 127.0.0.1:0 > "$work/stdout" 2> "$work/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
    grep -q 'listening on' "$work/stdout" 2> /dev/null && break
    kill -0 "$server_pid" 2> /dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.1
done
base="$(sed -n 's/^portcullis listening on //p' "$work/stdout")"
[[ -n "$base" ]] || { echo "the server did not start" >&2; cat "$work/server.log" >&2; exit 1; }
echo "console tests against $base"

# The HTTPS server: its ports are chosen first because `public_url`, the redirect's target,
# names the HTTPS one. Chromium trusts only this certificate's key (an SPKI pin), not the CA.
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/https.key" \
    -out "$work/https.csr" -subj "/CN=127.0.0.1" 2> /dev/null
openssl x509 -req -in "$work/https.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
    -out "$work/https.pem" -days 1 -extfile "$work/relay.ext" 2> /dev/null
https_spki="$(openssl x509 -in "$work/https.pem" -pubkey -noout | openssl pkey -pubin -outform der |
    openssl dgst -sha256 -binary | base64)"
https_port="$(free_port)"
redirect_port="$(free_port)"
"$binary" serve --data-dir "$work/https-data" --listen "127.0.0.1:$https_port" \
    --tls-cert-file "$work/https.pem" --tls-key-file "$work/https.key" \
    --public-url "https://127.0.0.1:$https_port" --http-redirect-listen "127.0.0.1:$redirect_port" \
    > "$work/https.stdout" 2> "$work/https.log" &
https_pid=$!
for _ in $(seq 1 100); do
    grep -q 'redirecting' "$work/https.stdout" 2> /dev/null && break
    kill -0 "$https_pid" 2> /dev/null || { cat "$work/https.log" >&2; exit 1; }
    sleep 0.1
done
grep -q "listening on https://127.0.0.1:$https_port" "$work/https.stdout" ||
    { echo "the HTTPS server did not start" >&2; cat "$work/https.log" >&2; exit 1; }

# The real SAML identity provider of the SSO flow (pysaml2, in the venv scripts/setup.sh
# builds), named `localhost` so that it is another site than the server (127.0.0.1), as in a
# real deployment. It reads acme/pysaml's SP metadata when the first login arrives.
idp_url=""
python=target/idp-venv/bin/python
if [[ -x "$python" ]]; then
    fixtures=crates/saml/tests/fixtures
    PYTHONWARNINGS=ignore "$python" crates/cli/tests/idp/pysaml2_idp.py \
        "$base/saml/acme/pysaml/metadata" "$fixtures/idp.key" "$fixtures/idp.crt" --host localhost \
        > "$work/idp.out" 2> "$work/idp.log" &
    idp_pid=$!
    for _ in $(seq 1 100); do
        grep -q '^READY ' "$work/idp.out" 2> /dev/null && break
        kill -0 "$idp_pid" 2> /dev/null || { cat "$work/idp.log" >&2; exit 1; }
        sleep 0.1
    done
    idp_url="http://localhost:$(sed -n 's/^READY //p' "$work/idp.out")"
elif [[ "${CI:-}" == "true" ]]; then
    echo "the test IdP's venv is missing (bash scripts/setup.sh)" >&2
    exit 1
else
    echo "SKIPPED: the browser SSO flow (no target/idp-venv; bash scripts/setup.sh)"
fi

status=0
(cd console-tests && PORTCULLIS_URL="$base" IDP_URL="$idp_url" CHROMIUM="$chromium" MAILDIR="$work/mail" \
    PROFILE_DIR="$work/profile" HTTPS_URL="https://127.0.0.1:$https_port" \
    HTTPS_REDIRECT_URL="http://127.0.0.1:$redirect_port" HTTPS_SPKI="$https_spki" \
    node --test --test-concurrency=1) || status=$?
if ((status != 0)); then
    echo "---- server log (tail) ----" >&2
    tail -n 40 "$work/server.log" >&2
    echo "---- HTTPS server log (tail) ----" >&2
    tail -n 20 "$work/https.log" >&2
fi
exit "$status"

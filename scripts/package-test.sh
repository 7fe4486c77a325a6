#!/usr/bin/env bash
# The Debian package as an operator gets it: builds the .deb from the debug binary the test
# build already made (scripts/package.sh --profile dev, nothing compiled), installs it with
# `dpkg -i`, checks the files, account and modes it sets up, verifies the systemd unit, creates
# the operator with `portcullis init` and starts the installed /usr/bin/portcullis as the
# portcullis user with the packaged config (the machine runs no systemd), runs the README
# walkthrough against it, then removes and purges the package and checks nothing is left.
#
# Needs root and a Debian-based machine without a portcullis package installed (it purges the
# one it installs, data included). The server listens on 127.0.0.1 on a free port, given by
# PORTCULLIS_LISTEN so the packaged config stays as shipped.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "$(id -u)" != 0 ]]; then
    echo "scripts/package-test.sh installs a package: run it as root" >&2
    exit 1
fi
if dpkg-query -W -f='${Status}' portcullis 2> /dev/null | grep -q 'installed\|config-files'; then
    echo "a portcullis package is installed here; this test would purge it and its data:" \
        "remove it first (dpkg --purge portcullis)" >&2
    exit 1
fi

config=/etc/portcullis/portcullis.toml
unit=/usr/lib/systemd/system/portcullis.service
work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2> /dev/null; then
        kill -TERM "$server_pid"
        wait "$server_pid" || true
    fi
    # A failed run must not leave the package (or its data) behind for the next one.
    if dpkg-query -W portcullis > /dev/null 2>&1; then
        dpkg --purge portcullis > /dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAILED: $*" >&2
    exit 1
}

# expect_stat PATH OWNER:GROUP MODE
expect_stat() {
    local actual
    actual="$(stat -c '%U:%G %a' "$1")"
    [[ "$actual" == "$2 $3" ]] || fail "$1 is $actual, expected $2 $3"
}

echo "==== build the package ===="
deb="$(scripts/package.sh --profile dev | tail -1)"
[[ -f "$deb" ]] || fail "scripts/package.sh printed no package path"
echo "$deb"

echo "==== dpkg -i ===="
dpkg -i "$deb"
[[ -x /usr/bin/portcullis ]] || fail "no /usr/bin/portcullis"
/usr/bin/portcullis --version
[[ -f "$unit" ]] || fail "no unit at $unit"
[[ "$(getent passwd portcullis | cut -d: -f6,7)" == /var/lib/portcullis:/usr/sbin/nologin ]] \
    || fail "the portcullis account is not a no-login account at home in /var/lib/portcullis"
expect_stat /var/lib/portcullis portcullis:portcullis 750
expect_stat "$config" root:portcullis 640
dpkg-query -W -f='${Conffiles}\n' portcullis | grep -q " $config " \
    || fail "$config is not a conffile"
for file in /usr/share/man/man1/portcullis.1.gz /usr/share/man/man1/portcullis-serve.1.gz \
    /usr/share/bash-completion/completions/portcullis \
    /usr/share/zsh/vendor-completions/_portcullis \
    /usr/share/fish/vendor_completions.d/portcullis.fish; do
    [[ -s "$file" ]] || fail "no $file"
done
zcat /usr/share/man/man1/portcullis-serve.1.gz | grep -q -- 'data\\-dir' \
    || fail "the serve manual page does not describe --data-dir"
bash -c 'source /usr/share/bash-completion/completions/portcullis && complete -p portcullis' \
    > /dev/null || fail "the bash completion does not register for portcullis"

echo "==== the configuration and its secrets stay with root and the portcullis account ===="
# Another unprivileged account can read neither the settings nor the store.
if runuser -u nobody -- cat "$config" > /dev/null 2>&1; then
    fail "nobody can read $config"
fi
if runuser -u nobody -- ls /var/lib/portcullis > /dev/null 2>&1; then
    fail "nobody can list /var/lib/portcullis"
fi
# The packaged file is valid for the loader and means SQLite in /var/lib/portcullis.
effective="$(runuser -u portcullis -- /usr/bin/portcullis config --config "$config")"
grep -q '"data_dir": "/var/lib/portcullis"' <<< "$effective" || fail "data_dir: $effective"
grep -q '"listen": "127.0.0.1:8080"' <<< "$effective" || fail "listen: $effective"

echo "==== systemd unit ===="
if command -v systemd-analyze > /dev/null; then
    man_flag=()
    command -v man > /dev/null || man_flag=(--man=no)
    systemd-analyze verify "${man_flag[@]}" "$unit"
    # Exposure 0-10 (shown) compared with a threshold 0-100: fail above 2.0.
    systemd-analyze security --offline=true --threshold=20 "$unit" | tail -1
else
    echo "SKIPPED: systemd-analyze is not installed"
fi

echo "==== the operator, then the installed server as the portcullis user ===="
# As docs/deployment.md says: `init` before the first start, as the service's account.
token="$(PORTCULLIS_ADMIN_PASSWORD='package test operator password' \
    runuser -u portcullis -- /usr/bin/portcullis init --config "$config" \
    --email ops@example.com --id ops --print-token)"
[[ -n "$token" ]] || fail "init printed no token"
# With the unit's User=, Group= and UMask=. setpriv execs the server itself (runuser would stay
# as its parent and turn SIGTERM into exit status 143), so the exit status checked is the server's.
(umask 0077 && exec env PORTCULLIS_LISTEN=127.0.0.1:0 setpriv --reuid=portcullis \
    --regid=portcullis --init-groups -- /usr/bin/portcullis serve --config "$config") \
    > "$work/stdout" 2> "$work/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
    grep -q 'listening on' "$work/stdout" 2> /dev/null && break
    kill -0 "$server_pid" 2> /dev/null || { cat "$work/server.log" >&2; fail "the server exited"; }
    sleep 0.1
done
base="$(sed -n 's/^portcullis listening on //p' "$work/stdout")"
[[ -n "$base" ]] || { cat "$work/server.log" >&2; fail "the server did not start"; }
echo "installed server at $base"
[[ "$(ps -o user= -p "$server_pid")" == portcullis ]] || fail "the server does not run as portcullis"
status="$(curl -sS -o "$work/me" -w '%{http_code}' -H "Authorization: Bearer $token" "$base/v1/users/me")"
[[ "$status" == 200 ]] && grep -q '"ops"' "$work/me" || fail "the operator's token: $status $(cat "$work/me")"

echo "==== README walkthrough against the installed server ===="
# The walkthrough reads mailed links with `portcullis outbox`: the installed binary, as the
# service's account, with the packaged config.
cat > "$work/portcullis-as-service" << 'WRAPPER'
#!/bin/sh
exec env PORTCULLIS_CONFIG=/etc/portcullis/portcullis.toml runuser -u portcullis -- /usr/bin/portcullis "$@"
WRAPPER
chmod 755 "$work/portcullis-as-service"
PORTCULLIS_URL="$base" PORTCULLIS_BIN="$work/portcullis-as-service" scripts/walkthrough.sh

# Everything the server and the commands wrote belongs to the service's account.
strangers="$(find /var/lib/portcullis ! -user portcullis)"
[[ -z "$strangers" ]] || fail "files in /var/lib/portcullis not owned by portcullis: $strangers"

kill -TERM "$server_pid"
wait "$server_pid" || fail "the server did not exit 0 on SIGTERM"
server_pid=""
dpkg --verify portcullis || fail "installed files differ from the package"

echo "==== dpkg -r keeps the configuration and data, --purge removes them ===="
dpkg -r portcullis
for gone in /usr/bin/portcullis "$unit" /usr/share/man/man1/portcullis.1.gz; do
    [[ ! -e "$gone" ]] || fail "$gone is left after dpkg -r"
done
[[ -f "$config" ]] || fail "dpkg -r removed the configuration"
[[ -n "$(ls -A /var/lib/portcullis)" ]] || fail "dpkg -r removed the data"
dpkg --purge portcullis
for gone in /etc/portcullis /var/lib/portcullis; do
    [[ ! -e "$gone" ]] || fail "$gone is left after dpkg --purge"
done
if dpkg-query -W portcullis > /dev/null 2>&1; then
    fail "dpkg still knows the package after --purge"
fi

printf '\npackage test passed\n'

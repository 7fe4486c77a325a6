#!/usr/bin/env bash
# SCIM provisioning throughput and the check latency while it runs: a release `portcullis
# serve` on loopback (SQLite, or PostgreSQL with PORTCULLIS_BENCH_DATABASE_URL), one org with a
# SCIM token, then C concurrent SCIM clients POST U users (Okta's shape: userName, name, one
# primary work email, active) and G groups of U/G members each (the members in the POST, as
# Entra ID and Okta send a new group). Meanwhile a separate process sends `POST /v1/check`
# back to back on one keep-alive connection and records each latency; the same probe runs
# alone for P seconds first, for comparison. Not part of CI.
# Usage: scripts/bench-scim.sh [U=10000] [G=500] [C=4] [P=10]   (prints a Markdown table)
set -euo pipefail
cd "$(dirname "$0")/.."
users="${1:-10000}"
groups="${2:-500}"
conc="${3:-4}"
probe_secs="${4:-10}"
source scripts/lib/bench-server.sh
scim_token="$(curl -sf -X POST "$base/v1/orgs/acme/scim/tokens" -H "Authorization: Bearer $token" -H "$json" \
    -d '{"description":"bench"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"

BENCH_TOKEN="$token" SCIM_TOKEN="$scim_token" python3 - "$base" "$users" "$groups" "$conc" "$probe_secs" "$pid" <<'PY'
import concurrent.futures as cf, http.client, json, multiprocessing as mp, os, sys, time

base, users, groups, conc, probe_secs, server_pid = sys.argv[1], *map(int, sys.argv[2:])
host, port = base.removeprefix("http://").split(":")
check_body = json.dumps({"subject": {"user": "bench"}, "permission": "apps.create",
                         "resource": {"org": "acme"}})
check_headers = {"Content-Type": "application/json",
                 "Authorization": f"Bearer {os.environ['BENCH_TOKEN']}"}
scim_headers = {"Content-Type": "application/scim+json",
                "Authorization": f"Bearer {os.environ['SCIM_TOKEN']}"}

def cpu_seconds():
    with open(f"/proc/{server_pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

def probe(stop, out):
    """/v1/check back to back on one connection until `stop` is set; latencies in µs."""
    conn = http.client.HTTPConnection(host, int(port))
    lat = []
    while not stop.is_set():
        t = time.perf_counter()
        conn.request("POST", "/v1/check", check_body, check_headers)
        r = conn.getresponse()
        body = r.read()
        lat.append((time.perf_counter() - t) * 1e6)
        assert r.status == 200 and b'"allowed":true' in body.replace(b" ", b""), body
    out.put(lat)

def probed(run):
    """Runs `run()` while the probe process measures; returns (run's result, latencies)."""
    stop, out = mp.Event(), mp.Queue()
    p = mp.Process(target=probe, args=(stop, out))
    p.start()
    time.sleep(0.5)
    result = run()
    stop.set()
    lat = out.get()
    p.join()
    return result, lat

def pct(lat, q):
    s = sorted(lat)
    return s[min(len(s) - 1, int(q * len(s)))]

local = __import__("threading").local()
def scim(method, path, body):
    conn = getattr(local, "conn", None)
    if conn is None:
        conn = local.conn = http.client.HTTPConnection(host, int(port))
    t = time.perf_counter()
    conn.request(method, f"/scim/v2/orgs/acme/{path}", json.dumps(body), scim_headers)
    r = conn.getresponse()
    data = r.read()
    if r.status != 201:
        raise SystemExit(f"{method} {path}: {r.status} {data[:300]!r}")
    return json.loads(data), (time.perf_counter() - t) * 1e6

def user(i):
    name = f"user{i:05d}@bench.example"
    return scim("POST", "Users", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name, "externalId": f"okta-{i:05d}",
        "name": {"givenName": f"User{i}", "familyName": "Bench"},
        "emails": [{"value": name, "type": "work", "primary": True}], "active": True})

ids = []
def group(g):
    per = max(1, len(ids) // groups)
    members = [{"value": ids[(g * per + k) % len(ids)]} for k in range(per)]
    return scim("POST", "Groups", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": f"Group {g:03d}", "externalId": f"okta-group-{g:03d}",
        "members": members})

def provision():
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    with cf.ThreadPoolExecutor(conc) as pool:
        made = list(pool.map(user, range(users)))
    t1 = time.perf_counter()
    ids.extend(u["id"] for u, _ in made)
    with cf.ThreadPoolExecutor(conc) as pool:
        made_groups = list(pool.map(group, range(groups)))
    t2, cpu1 = time.perf_counter(), cpu_seconds()
    return (t1 - t0, t2 - t1, [l for _, l in made], [l for _, l in made_groups], cpu1 - cpu0)

_, idle = probed(lambda: time.sleep(probe_secs))
(u_secs, g_secs, u_lat, g_lat, cpu), busy = probed(provision)
per = max(1, users // groups)
ms = lambda v: f"{v / 1000:.2f} ms"
print(f"| measurement ({os.cpu_count()} cores, {conc} SCIM clients) | total | per second | p50 | p99 |")
print("|---|---|---|---|---|")
print(f"| POST /Users × {users} | {u_secs:.1f} s | {users / u_secs:.0f} | {ms(pct(u_lat, .5))} | {ms(pct(u_lat, .99))} |")
print(f"| POST /Groups × {groups} ({per} members each) | {g_secs:.1f} s | {groups / g_secs:.0f} | {ms(pct(g_lat, .5))} | {ms(pct(g_lat, .99))} |")
print(f"| whole provisioning run | {u_secs + g_secs:.1f} s | | | |")
print(f"| POST /v1/check alone ({len(idle)} checks, one connection) | | {len(idle) / probe_secs:.0f} | {ms(pct(idle, .5))} | {ms(pct(idle, .99))} |")
print(f"| POST /v1/check during provisioning ({len(busy)} checks) | | {len(busy) / (u_secs + g_secs + 0.5):.0f} | {ms(pct(busy, .5))} | {ms(pct(busy, .99))} |")
print(f"\nserver CPU during provisioning: {cpu:.1f} s ({cpu / (u_secs + g_secs) * 100:.0f}% of one core)")
PY

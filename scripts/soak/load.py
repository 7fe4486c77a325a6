"""Mixed-traffic load client for scripts/soak.sh (stdlib only).

Workers (processes, one keep-alive connection each) loop over a weighted mix of requests
against a seeded server for DURATION seconds: permission checks, reads, logins followed by
logouts, and mutations that undo themselves (create then delete a model, add then remove a
team member, edit an app's description). Every answer must have its expected status; anything
else counts as an error. The parent samples the server's RSS every few seconds. At the end it
prints a summary and writes the results as JSON and an SVG plot (latency and memory).

usage: load.py BASE_URL SERVER_PID DURATION_SECS WORKERS OUT_JSON OUT_SVG
"""

import http.client
import json
import multiprocessing as mp
import os
import random
import sys
import time
import urllib.parse

BUCKET_SECS = 10


def request(conn, method, path, token=None, body=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body) if body is not None else None
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    payload = resp.read()
    return resp.status, payload


def worker(index, base, tokens, duration, queue):
    url = urllib.parse.urlparse(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    rng = random.Random(index)
    admin, members = tokens["admin"], tokens["members"]
    # The app is private: only the "(all apps)" roles see it without a team.
    readers = [m for m in members if m["role"] in ("org_contributor", "org_user")]
    kinds = (
        ["check"] * 70 + ["read_app"] * 8 + ["list_members"] * 6 + ["login_logout"] * 2
        + ["model_create_delete"] * 6 + ["team_member_add_remove"] * 4 + ["edit_app"] * 4
    )
    lat = {}
    errors = {}
    buckets = {}
    start = time.monotonic()
    n = 0
    while True:
        now = time.monotonic()
        if now - start >= duration:
            break
        kind = rng.choice(kinds)
        t0 = time.monotonic()
        try:
            ok = run_one(conn, kind, rng, admin, members, readers, index, n)
        except (OSError, http.client.HTTPException) as err:
            ok = False
            conn.close()
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
            errors[f"{kind}: {type(err).__name__}"] = errors.get(f"{kind}: {type(err).__name__}", 0) + 1
        elapsed = time.monotonic() - t0
        n += 1
        lat.setdefault(kind, []).append(elapsed)
        bucket = int((t0 - start) // BUCKET_SECS)
        b = buckets.setdefault(bucket, [0, []])
        b[0] += 1
        b[1].append(elapsed)
        if ok is not True:
            if ok is not False:
                errors[ok] = errors.get(ok, 0) + 1
    # Keep the per-bucket data small: count and p99.
    summary = {k: [v[0], percentile(v[1], 99)] for k, v in buckets.items()}
    queue.put({"lat": lat, "errors": errors, "buckets": summary})


def expect(kind, status, wanted):
    return True if status in wanted else f"{kind}: HTTP {status}"


def run_one(conn, kind, rng, admin, members, readers, index, n):
    if kind == "check":
        member = rng.choice(members)
        permission = rng.choice(["app.view", "app.delete", "models.create", "app.edit_description"])
        status, _ = request(conn, "POST", "/v1/check", admin, {
            "subject": {"user": member["id"]}, "permission": permission,
            "resource": {"account": "acme", "app": "vision"}})
        return expect(kind, status, {200})
    if kind == "read_app":
        status, _ = request(conn, "GET", "/v1/accounts/acme/apps/vision", rng.choice(readers)["token"])
        return expect(kind, status, {200})
    if kind == "list_members":
        status, _ = request(conn, "GET", "/v1/orgs/acme/members", admin)
        return expect(kind, status, {200})
    if kind == "login_logout":
        member = rng.choice(members)
        status, body = request(conn, "POST", "/v1/login", None,
                               {"email": member["email"], "password": member["password"]})
        if status != 200:
            return f"{kind}: login HTTP {status}"
        session = json.loads(body)["session_token"]
        status, _ = request(conn, "POST", "/v1/logout", session)
        return expect(kind, status, {204})
    if kind == "model_create_delete":
        model = f"m-{index}-{n}"
        status, _ = request(conn, "POST", "/v1/accounts/acme/apps/vision/models", admin, {"id": model})
        if status != 201:
            return f"{kind}: create HTTP {status}"
        status, _ = request(conn, "DELETE", f"/v1/accounts/acme/apps/vision/models/{model}", admin)
        return expect(kind, status, {204})
    if kind == "team_member_add_remove":
        member = members[index % len(members)]["id"]
        status, _ = request(conn, "PUT", f"/v1/orgs/acme/teams/t{index}/members/{member}", admin, {})
        if status not in (200, 204):
            return f"{kind}: add HTTP {status}"
        status, _ = request(conn, "DELETE", f"/v1/orgs/acme/teams/t{index}/members/{member}", admin)
        return expect(kind, status, {204})
    if kind == "edit_app":
        status, _ = request(conn, "PATCH", "/v1/accounts/acme/apps/vision", admin,
                            {"description": f"edited by {index} at {n}"})
        return expect(kind, status, {200})
    raise ValueError(kind)


def percentile(values, p):
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def svg(results, path):
    """Three stacked panels over time: throughput and p99 per 10 s, and the server's RSS."""
    width, panel, gap, left = 760, 130, 50, 70
    duration = results["duration_secs"]
    buckets = results["buckets"]
    panels = [
        ("throughput (requests/s, per 10 s)", [(b["t"], b["rps"]) for b in buckets], "#1f77b4"),
        ("p99 latency (ms, per 10 s)", [(b["t"], b["p99_ms"]) for b in buckets], "#d62728"),
        ("server RSS (MiB)", [(s["t"], s["rss_kib"] / 1024) for s in results["rss"]], "#2ca02c"),
    ]
    height = len(panels) * (panel + gap) + 20
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="11">',
             f'<rect width="{width}" height="{height}" fill="white"/>']
    for n, (label, series, color) in enumerate(panels):
        top = 30 + n * (panel + gap)
        x0, x1, y0, y1 = left, width - 20, top + panel, top
        ys = [y for _, y in series] or [1]
        y_max = max(ys) * 1.25 or 1
        parts.append(f'<text x="{x0}" y="{top - 8}" font-weight="bold">{label}</text>')
        for i in range(5):
            y = y0 - (y0 - y1) * i / 4
            parts.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}" stroke="#ddd"/>')
            parts.append(f'<text x="{x0 - 4}" y="{y + 4:.1f}" text-anchor="end">{y_max * i / 4:.1f}</text>')
        for minute in range(0, int(duration // 60) + 1):
            x = x0 + (x1 - x0) * minute * 60 / duration
            parts.append(f'<text x="{x:.1f}" y="{y0 + 14}" text-anchor="middle">{minute} min</text>')
        parts.append(f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="black"/>')
        parts.append(f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="black"/>')
        points = " ".join(f"{x0 + (x1 - x0) * x / duration:.1f},{y0 - (y0 - y1) * y / y_max:.1f}"
                          for x, y in series)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{points}"/>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def main():
    base, pid, duration, workers, out_json, out_svg = sys.argv[1:7]
    pid, duration, workers = int(pid), float(duration), int(workers)
    tokens = json.load(sys.stdin)
    queue = mp.Queue()
    procs = [mp.Process(target=worker, args=(i, base, tokens, duration, queue)) for i in range(workers)]
    start = time.monotonic()
    for p in procs:
        p.start()
    rss = []
    while any(p.is_alive() for p in procs) and time.monotonic() - start < duration + 60:
        rss.append({"t": round(time.monotonic() - start, 1), "rss_kib": rss_kib(pid)})
        time.sleep(5)
        if queue.qsize() >= workers:
            break
    parts = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    lat, errors, buckets = {}, {}, {}
    for part in parts:
        for k, v in part["lat"].items():
            lat.setdefault(k, []).extend(v)
        for k, v in part["errors"].items():
            errors[k] = errors.get(k, 0) + v
        for k, (count, p99) in part["buckets"].items():
            b = buckets.setdefault(int(k), [0, 0.0])
            b[0] += count
            b[1] = max(b[1], p99)  # the worst worker's p99 bounds the bucket's p99 from above
    all_lat = [x for v in lat.values() for x in v]
    total = len(all_lat)
    results = {
        "duration_secs": duration,
        "workers": workers,
        "requests": total,
        "throughput_rps": round(total / duration, 1),
        "p50_ms": round(percentile(all_lat, 50) * 1000, 2),
        "p99_ms": round(percentile(all_lat, 99) * 1000, 2),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "by_kind": {k: {"count": len(v), "p50_ms": round(percentile(v, 50) * 1000, 2),
                        "p99_ms": round(percentile(v, 99) * 1000, 2)} for k, v in sorted(lat.items())},
        "buckets": [{"t": k * BUCKET_SECS + BUCKET_SECS / 2, "rps": round(c / BUCKET_SECS, 1),
                     "p99_ms": round(p * 1000, 2)} for k, (c, p) in sorted(buckets.items())
                    if (k + 1) * BUCKET_SECS <= duration],
        "rss": rss,
        "load_average_at_end": os.getloadavg(),
    }
    with open(out_json, "w") as f:
        json.dump(results, f, indent=1)
    svg(results, out_svg)
    first = [s["rss_kib"] for s in rss[: max(1, len(rss) // 10)]]
    last = [s["rss_kib"] for s in rss[-max(1, len(rss) // 10):]]
    print(f"requests {total} in {duration:.0f} s: {results['throughput_rps']} req/s, "
          f"p50 {results['p50_ms']} ms, p99 {results['p99_ms']} ms, errors {results['errors']}")
    for k, v in results["by_kind"].items():
        print(f"  {k:24} {v['count']:8} requests  p50 {v['p50_ms']:8} ms  p99 {v['p99_ms']:8} ms")
    if errors:
        print(f"errors: {errors}")
    print(f"RSS: first tenth avg {sum(first) / len(first) / 1024:.1f} MiB, "
          f"last tenth avg {sum(last) / len(last) / 1024:.1f} MiB, "
          f"max {max(s['rss_kib'] for s in rss) / 1024:.1f} MiB")
    print(f"load average at the end: {results['load_average_at_end']}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Measures whether sign-up and password reset tell known addresses from unknown ones by time.

Against a running server (first argument, e.g. http://127.0.0.1:8080), it creates one account,
then sends N interleaved requests (default 100 each, in random order) for the known address and
for fresh unknown ones, to POST /v1/password-reset and to POST /v1/signup. It prints, per
endpoint, the status codes seen, the median time of each group, and the accuracy of the best
single-threshold classifier ("slower than t means known"): 50 % is a coin toss, 100 % a perfect
oracle. Standard library only.

usage: scripts/enumeration-timing.py BASE_URL [N]
"""

import json
import random
import statistics
import sys
import time
import urllib.error
import urllib.request


def post(base, path, body):
    data = json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method="POST",
                                 headers={"content-type": "application/json"})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(req) as resp:
            status = resp.status
            resp.read()
    except urllib.error.HTTPError as err:
        status = err.code
        err.read()
    return status, time.perf_counter() - start


def best_threshold_accuracy(known, unknown):
    samples = [(t, 1) for t in known] + [(t, 0) for t in unknown]
    samples.sort()
    total = len(samples)
    best = 0.0
    # Threshold below every sample, then after each one; either direction.
    above_known, above_unknown = len(known), len(unknown)
    for i in range(total + 1):
        if i > 0:
            if samples[i - 1][1]:
                above_known -= 1
            else:
                above_unknown -= 1
        correct = above_known + (len(unknown) - above_unknown)
        best = max(best, correct / total, 1 - correct / total)
    return best


def main():
    base = sys.argv[1].rstrip("/")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    run = random.randrange(1 << 30)
    known = f"known{run}@example.com"
    status, _ = post(base, "/v1/signup", {"id": f"known{run}", "email": known,
                                          "password": "Timing-Probe-Passphrase-1",
                                          "first_name": "T", "last_name": "K"})
    assert status == 201, status
    for endpoint in ("reset", "signup"):
        order = [True] * n + [False] * n
        random.shuffle(order)
        times = {True: [], False: []}
        statuses = {True: set(), False: set()}
        for i, is_known in enumerate(order):
            email = known if is_known else f"unknown{run}-{endpoint}-{i}@example.com"
            if endpoint == "reset":
                status, took = post(base, "/v1/password-reset", {"email": email})
            else:
                status, took = post(base, "/v1/signup", {
                    "id": f"p{run}-{i}", "email": email,
                    "password": "Timing-Probe-Passphrase-1", "first_name": "T",
                    "last_name": "P"})
            times[is_known].append(took * 1000)
            statuses[is_known].add(status)
        print(f"{endpoint}: known {sorted(statuses[True])} median "
              f"{statistics.median(times[True]):.2f} ms; unknown {sorted(statuses[False])} median "
              f"{statistics.median(times[False]):.2f} ms; best single-threshold accuracy "
              f"{best_threshold_accuracy(times[True], times[False]) * 100:.1f} %")


if __name__ == "__main__":
    main()

"""Fails unless every operation of the document but the event stream got a 2xx answer.

Usage: every_operation_2xx.py OPENAPI_URL HAR_FILE

Reads the HAR report of a schemathesis run (every request and its answer), matches each
request to its operation by method and path template, and prints the count of requests and
of 2xx answers per operation.
"""

import json
import re
import sys
import urllib.parse
import urllib.request

EXCLUDED = {("GET", "/v1/me/feed/stream")}


def main(openapi_url, har_path):
    with urllib.request.urlopen(openapi_url) as response:
        document = json.load(response)
    operations = {}
    # Schemathesis does not test the document it was loaded from; fetching it just now
    # answered 2xx (urlopen raises otherwise), and that answer counts.
    served = urllib.parse.urlparse(openapi_url).path
    for path, item in document["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")
        for method in item:
            operations[(method.upper(), path)] = (pattern, [0, 0])
    operations[("GET", served)][1][0] += 1
    operations[("GET", served)][1][1] += 1
    with open(har_path, encoding="utf-8") as har:
        entries = json.load(har)["log"]["entries"]
    for entry in entries:
        method = entry["request"]["method"].upper()
        path = urllib.parse.urlparse(entry["request"]["url"]).path
        status = entry["response"]["status"]
        # The most specific template first: literal segments beat parameters.
        candidates = [
            key for key, (pattern, _) in operations.items() if key[0] == method and pattern.match(path)
        ]
        candidates.sort(key=lambda key: key[1].count("{"))
        if not candidates:
            continue
        counts = operations[candidates[0]][1]
        counts[0] += 1
        if 200 <= status < 300:
            counts[1] += 1
    missing = []
    print(f"{'operation':<72} {'requests':>8} {'2xx':>6}")
    for key in sorted(operations, key=lambda k: (k[1], k[0])):
        requests, ok = operations[key][1]
        print(f"{key[0] + ' ' + key[1]:<72} {requests:>8} {ok:>6}")
        if key not in EXCLUDED and ok == 0:
            missing.append(f"{key[0]} {key[1]}")
    total = sum(counts[0] for _, counts in operations.values())
    print(f"{len(operations)} operations, {total} requests")
    if missing:
        print("no 2xx answer for: " + ", ".join(missing))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))

"""Reads OpenMetrics texts with the Prometheus project's own Python parser (prometheus_client's strict
OpenMetrics parser), as an independent reader of what wschaos exposes: every file given must parse, and
every histogram's buckets must not decrease and must end in a +Inf bucket equal to its count.

Usage: openmetrics_check.py FILE...   Prints {file: {family: type}} as JSON; exits 1 on the first problem.
"""

import json
import math
import sys
from collections import defaultdict

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def check_histogram(family):
    buckets, counts = defaultdict(list), {}
    for sample in family.samples:
        labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
        if sample.name.endswith("_bucket"):
            buckets[labels].append((float(sample.labels["le"]), sample.value))
        elif sample.name.endswith("_count"):
            counts[labels] = sample.value
    for labels, series in buckets.items():
        series.sort()
        values = [v for _, v in series]
        if values != sorted(values):
            raise ValueError(f"{family.name}{dict(labels)}: buckets decrease: {series}")
        if not math.isinf(series[-1][0]) or series[-1][1] != counts.get(labels):
            raise ValueError(f"{family.name}{dict(labels)}: +Inf bucket {series[-1]} is not the count {counts.get(labels)}")


def main(paths):
    seen = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            families = list(text_string_to_metric_families(f.read()))
        for family in families:
            if family.type == "histogram":
                check_histogram(family)
        seen[path] = {family.name: family.type for family in families}
    print(json.dumps(seen))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except Exception as problem:  # the parser's own errors name the line
        print(f"{type(problem).__name__}: {problem}", file=sys.stderr)
        sys.exit(1)

#!/usr/bin/env python3
"""Compares an Autobahn|Testsuite index.json with the committed expected results.

usage: autobahn-compare.py INDEX EXPECTED ROLE [--update]

Fails (exit 1) when a case is missing, unexpected, differs from the expected
verdict, or has a verdict other than OK or INFORMATIONAL in `behavior` or
`behaviorClose`. With --update, writes the run's verdicts as the new expected
file (still failing on verdicts that are not OK/INFORMATIONAL).
"""
import json
import sys

ACCEPTED = {"OK", "INFORMATIONAL"}


def case_key(case_id):
    return tuple(int(p) for p in case_id.split("."))


def main():
    index_path, expected_path, role = sys.argv[1:4]
    update = "--update" in sys.argv[4:]
    with open(index_path) as f:
        index = json.load(f)
    if len(index) != 1:
        print(f"autobahn {role}: expected one agent in {index_path}, found {list(index)}")
        return 1
    results = next(iter(index.values()))
    actual = {
        case: {"behavior": r["behavior"], "behaviorClose": r["behaviorClose"]}
        for case, r in results.items()
    }
    problems = []
    for case in sorted(actual, key=case_key):
        verdict = actual[case]
        if verdict["behavior"] not in ACCEPTED or verdict["behaviorClose"] not in ACCEPTED:
            problems.append(f"{case}: {verdict['behavior']} / {verdict['behaviorClose']}")
    if update:
        ordered = {c: actual[c] for c in sorted(actual, key=case_key)}
        with open(expected_path, "w") as f:
            json.dump(ordered, f, indent=1)
            f.write("\n")
    else:
        with open(expected_path) as f:
            expected = json.load(f)
        for case in sorted(set(expected) | set(actual), key=case_key):
            if case not in actual:
                problems.append(f"{case}: missing from this run")
            elif case not in expected:
                problems.append(f"{case}: not in {expected_path}")
            elif actual[case] != expected[case]:
                problems.append(f"{case}: expected {expected[case]}, got {actual[case]}")
    ok = sum(
        1 for v in actual.values()
        if v["behavior"] in ACCEPTED and v["behaviorClose"] in ACCEPTED
    )
    counts = {}
    for v in actual.values():
        counts[v["behavior"]] = counts.get(v["behavior"], 0) + 1
    detail = ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))
    for p in problems:
        print(f"autobahn {role}: {p}")
    print(f"autobahn {role}: {len(actual)} cases, {ok} OK or INFORMATIONAL ({detail})")
    print(f"autobahn {role}: {ok} passed, {len(actual) - ok} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

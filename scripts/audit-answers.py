#!/usr/bin/env python3
"""Checks that every slither finding is answered in contracts/AUDIT.md and that no answer is stale.

A finding's key is `detector Contract.item` (item: function, state variable, event, or
`function.local` for a local variable; the contract name alone for contract-level findings).
AUDIT.md answers a key in a table row, under the heading "## Slither findings and answers", whose
first cell is the key in backquotes.
"""
import json
import re
import sys


def key(result):
    e = result["elements"][0]
    name = e["name"].split("(")[0]
    parent = e.get("type_specific_fields", {}).get("parent", {})
    if e["type"] == "contract":
        return f"{result['check']} {name}"
    if parent.get("type") == "function":
        contract = parent.get("type_specific_fields", {}).get("parent", {}).get("name", "")
        return f"{result['check']} {contract}.{parent['name'].split('(')[0]}.{name}"
    return f"{result['check']} {parent.get('name', '')}.{name}"


def main():
    report, audit = sys.argv[1], sys.argv[2]
    with open(report) as f:
        data = json.load(f)
    if not data.get("success", False):
        sys.exit(f"slither failed: {data.get('error')}")
    found = {}
    for r in data["results"].get("detectors", []):
        found.setdefault(key(r), r["impact"])
    with open(audit) as f:
        text = f.read()
    heading = "## Slither findings and answers"
    if heading not in text:
        sys.exit(f"{audit} has no section '{heading}'")
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    answered = set(re.findall(r"^\|\s*`([^`]+)`", section, re.M))
    missing = sorted(set(found) - answered)
    stale = sorted(answered - set(found))
    for k in sorted(found):
        print(f"{found[k]:<13} {k}")
    print(f"{len(found)} findings (by key), {len(answered)} answered in {audit}")
    if missing:
        sys.exit("unanswered findings:\n  " + "\n  ".join(missing))
    if stale:
        sys.exit("answers for findings slither no longer reports:\n  " + "\n  ".join(stale))


if __name__ == "__main__":
    main()

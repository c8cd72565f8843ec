#!/usr/bin/env python3
"""Renders chat templates with Python jinja2 configured as Hugging Face transformers does.

Usage: render_jinja2.py JOB.json OUT.json
JOB: {"now": unix_seconds, "templates": [{"name", "source", "contexts": [object, ...]}]}
OUT: {"results": [[{"ok": true, "output": str} | {"ok": false, "error": str}, ...], ...]}
     one row per template, one entry per context.
"""
import json
import sys
from datetime import datetime, timezone

import jinja2
import jinja2.ext
import jinja2.sandbox


def make_environment(now):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.fromtimestamp(now, tz=timezone.utc).strftime(format)

    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        job = json.load(f)
    env = make_environment(job["now"])
    results = []
    for entry in job["templates"]:
        row = []
        try:
            template = env.from_string(entry["source"])
        except jinja2.exceptions.TemplateError as e:
            results.append([{"ok": False, "error": str(e)}] * len(entry["contexts"]))
            continue
        for context in entry["contexts"]:
            try:
                row.append({"ok": True, "output": template.render(**context)})
            except Exception as e:  # the message is what bottega must reproduce
                row.append({"ok": False, "error": str(e)})
        results.append(row)
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump({"results": results}, f, ensure_ascii=False)


if __name__ == "__main__":
    main()

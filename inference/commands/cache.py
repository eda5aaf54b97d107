"""``lunglens cache info|clear``: the on-disk analysis cache, which holds patient data."""

from __future__ import annotations

import argparse
import json

from inference.cache import ResultCache

HELP = "show the size of the analysis cache or clear it (cached results hold patient data)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, text in (("info", "where the cache is and how much it holds"), ("clear", "delete every cached result")):
        action = actions.add_parser(name, help=text, description=text)
        action.add_argument("--json", action="store_true", help="print a JSON document")


def run(args: argparse.Namespace) -> int:
    cache = ResultCache()
    info = cache.clear() if args.action == "clear" else cache.info()
    if args.json:
        print(json.dumps({"action": args.action, **info.to_json()}))
    elif args.action == "clear":
        print(f"removed {info.entries} cached results ({info.bytes / 1e6:.1f} MB) from {info.path}")
    else:
        print(f"{info.path}: {info.entries} cached results, {info.bytes / 1e6:.1f} MB")
    return 0

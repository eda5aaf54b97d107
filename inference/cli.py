"""The ``lunglens`` command line: one entry point, one module per subcommand.

Subcommands are found by module path, not imported here, so ``lunglens info`` never loads Qt and
``lunglens view`` never loads torch: the viewer and training register their commands in their own
packages. Each command module defines ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, str] = {
    "info": "inference.commands.info",
    "demo": "viewer.commands.demo",
    "view": "viewer.commands.view",
    "analyze": "inference.commands.analyze",
    "evaluate": "inference.commands.evaluate",
    "models": "inference.commands.models",
    "cache": "inference.commands.cache",
    "pacs": "inference.commands.pacs",
    "train": "inference.training.command_train",
    "export": "inference.training.command_export",
    "split": "inference.training.command_split",
    "ct-evaluation": "inference.training.ct_evaluation",
    "xray-mask-check": "inference.training.xray_mask_check",
}


def _load(name: str):
    return importlib.import_module(COMMANDS[name])


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser; with ``only`` just that subcommand's module is imported (fast start-up)."""
    parser = argparse.ArgumentParser(
        prog="lunglens",
        description="LungLens: chest CT and X-ray viewer with AI opinions (research use, not a medical device).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if only is not None and name != only:
            sub.add_parser(name)
            continue
        try:
            module = _load(name)
        except ImportError as exc:
            sub.add_parser(name, help=f"(unavailable: {exc.name or exc} is not installed)")
            continue
        command_parser = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command_parser)
        command_parser.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    wanted = argv[0] if argv and argv[0] in COMMANDS else None
    if wanted is not None:
        try:
            _load(wanted)
        except ImportError as exc:
            extra = "[train]" if COMMANDS[wanted].startswith("inference.training") else ""
            print(
                f"lunglens {wanted}: a required package is missing ({exc.name or exc}). "
                f"Install it with: pip install 'lunglens{extra}'",
                file=sys.stderr,
            )
            return 2
    parser = build_parser(only=wanted)
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 0 if not argv else 2
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

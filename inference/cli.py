"""The ``lunglens`` command line: one entry point, one module per subcommand.

Subcommands are found by module path, not imported here, so ``lunglens info`` never loads Qt and
``lunglens view`` never loads torch: the viewer and training register their commands in their own
packages. Each command module defines ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from inference import __version__
from inference.logs import configure_logging

COMMANDS: dict[str, str] = {
    "info": "inference.commands.info",
    "demo": "viewer.commands.demo",
    "view": "viewer.commands.view",
    "analyze": "inference.commands.analyze",
    "batch": "inference.commands.batch",
    "evaluate": "inference.commands.evaluate",
    "models": "inference.commands.models",
    "cache": "inference.commands.cache",
    "pacs": "inference.commands.pacs",
    "train": "inference.training.commands.train",
    "export": "inference.training.commands.export",
    "split": "inference.training.commands.split",
    "evaluate-run": "inference.training.commands.evaluate_run",
    "xray-mask-check": "inference.training.commands.xray_mask_check",
}


def _load(name: str):
    return importlib.import_module(COMMANDS[name])


def add_global_options(parser: argparse.ArgumentParser) -> None:
    """Options every command takes, before or after the command's name."""
    parser.add_argument("--version", action="version", version=f"lunglens {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more on stderr (-vv: debug)")
    parser.add_argument("--log", type=Path, metavar="FILE", help="also write a debug log to FILE")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser; with ``only`` just that subcommand's module is imported (fast start-up)."""
    parser = argparse.ArgumentParser(
        prog="lunglens",
        description="LungLens: chest CT and X-ray viewer with AI opinions (research use, not a medical device).",
    )
    add_global_options(parser)
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


def _run(args: argparse.Namespace) -> int:
    """The command, with a closed stdout (``lunglens models --json | head``) ending it quietly."""
    try:
        code = int(args.run(args) or 0)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
        return 141  # as a command stopped by SIGPIPE


def main(argv: list[str] | None = None) -> int:
    globals_parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    add_global_options(globals_parser)
    options, argv = globals_parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    try:
        configure_logging(options.verbose, options.log)
    except OSError as exc:
        print(f"lunglens: cannot write the log file {options.log}: {exc.strerror or exc}", file=sys.stderr)
        return 2
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
    return _run(args)


if __name__ == "__main__":
    sys.exit(main())

"""The training commands (``lunglens train``, ``export``, ``split``, ``evaluate-run``, ``xray-mask-check``):
one module per command, named after it, each ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``
(ARCHITECTURE.md section 7). They need the [train] extra; ``inference.cli`` imports one only when it runs.
"""

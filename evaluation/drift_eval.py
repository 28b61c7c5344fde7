"""`driftline drift-eval`: measured detection delay, missed drifts and false alarms.

The command around :mod:`driftline.evaluation.harness`: its argparse parser
(:func:`add_parser`, registered by ``driftline``'s CLI), :func:`cmd_drift_eval`
that runs the plan, prints the markdown tables and optionally writes the JSON
result, and a stand-alone :func:`main` (``python -m driftline.evaluation.drift_eval``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from typing import Any


def _parse_seeds(text: str) -> list[int]:
    return [int(s) for s in text.replace(",", " ").split()]


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Register `drift-eval` on an argparse subparsers object."""
    p = subparsers.add_parser(
        "drift-eval",
        help="Measure drift detectors offline: delay, missed drifts, false alarms, cost.",
        description=(
            "Run every concept- and data-drift setting on River synthetic streams with known "
            "drift points (fixed seeds) and report detection delay, missed drifts, false "
            "alarms per 10k events and cost per update, against never/random baselines."
        ),
    )
    p.add_argument("--quick", action="store_true", help="Small run (1 seed, few streams), < 30 s.")
    p.add_argument("--seeds", type=_parse_seeds, help="Seeds, e.g. '1,2,3' (default 1,2,3).")
    p.add_argument("--jobs", type=int, help="Worker processes (default min(2, cores)).")
    p.add_argument("--out", help="Write the full results as JSON to this file.")
    p.add_argument("--markdown", action="store_true", help="Print the markdown tables.")
    p.add_argument(
        "--no-label-free",
        dest="label_free",
        action="store_false",
        help="Skip the label-free section (the built-in stream through the job, about a "
        "minute; never part of --quick).",
    )
    p.set_defaults(func=cmd_drift_eval)
    return p


def cmd_drift_eval(args: argparse.Namespace) -> int:
    """Run the evaluation; print a table; optionally write JSON.

    Besides `--quick`, and unless `--no-label-free`, the label-free evaluation
    (:func:`~driftline.evaluation.harness.label_free.run_label_free`) runs after the
    harness: its section follows the tables, its result is the JSON's `label_free`.

    The harness (River's detectors and streams) is imported here, not with the
    module: `add_parser` runs for every `driftline` command, and importing it
    there cost every command about 2 s of start-up (`python -X importtime`).
    """
    from driftline.evaluation.harness.report import markdown
    from driftline.evaluation.harness.runner import make_plan, run

    result = run(make_plan(args.quick, args.seeds, args.jobs))
    sections = [markdown(result)]
    if args.label_free and not args.quick:
        from driftline.evaluation.harness.label_free import label_free_markdown, run_label_free

        free = run_label_free()
        result["label_free"] = dataclasses.asdict(free)
        sections.append(label_free_markdown(free))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1, default=_json_default)
    text = "\n\n".join(sections)
    if args.markdown or not args.out:
        print(text)
    else:
        print(f"wrote {args.out} ({result['seconds']} s)")
    return 0


def _json_default(o: Any) -> Any:
    raise TypeError(f"not JSON serializable: {type(o)}")


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point: `python -m driftline.evaluation.drift_eval [options]`."""
    parser = argparse.ArgumentParser(prog="driftline")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["drift-eval", *(argv if argv is not None else sys.argv[1:])])
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())

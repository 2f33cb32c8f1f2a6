"""python -m tools.recognition generate | train | evaluate | cost | demo-month | demo-figures |
outside | export-labels (docs/recognition.md)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.recognition")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("generate", help="write the generated labelled set")
    training = sub.add_parser("train", help="the shipped model (session 15): all six labelled "
                                            "parts + dispatchers' labels, threshold read by "
                                            "writer (tools/recognition/bywriter.py), export")
    training.add_argument("--by-matter", action="store_true",
                          help="the model before session 15: the generated train part (+ "
                               "dispatchers' labels), threshold read out of fold by matter")
    training.add_argument("--with-held-out", action="store_true",
                          help="with --by-matter: also train on the generated test part and the "
                               "second and third parts (session 14; docs/recognition.md)")
    training.add_argument("--out", help="write the model here instead of "
                                        "services/dispatch/data/recognition_model.json")
    sub.add_parser("evaluate", help="cross-validate candidates, measure the shipped model")
    sub.add_parser("cost", help="CPU per text and RSS of the service's recognition")
    demo = sub.add_parser("demo-month", help="county and routing on the simulator's demo month")
    demo.add_argument("--with-city", action="store_true",
                      help="with the simulated city's estates and roads as operator landmarks")
    demo.add_argument("--without-list", action="store_true",
                      help="without the 权责清单 (data/responsibilities.json): the model alone")
    figures = sub.add_parser("demo-figures", help="on a running platform (make up): county 未知 "
                                                  "in analytics, tickets a dispatcher routed")
    figures.add_argument("--analytics", help="analytics' URL (default: the local platform's)")
    figures.add_argument("--audit", help="audit's URL (default: the local platform's)")
    figures.add_argument("--json", action="store_true", help="all figures as JSON")
    sub.add_parser("outside", help="county and matter of 20 outside-like hand-written requests")
    sub.add_parser("simulator-landmarks", help="print the simulated city as a landmark file")
    export = sub.add_parser("export-labels", help="dispatchers' labels from dispatch's read "
                                                  "model -> data/dispatcher_labels.jsonl")
    export.add_argument("--dsn", required=True, help="PostgreSQL of dispatch")
    export.add_argument("--schema", default="dispatch")
    args = parser.parse_args(argv)
    if args.command == "generate":
        from tools.recognition.generate import write
        print(f"{write()} requests written")
    elif args.command == "train":
        from pathlib import Path

        from tools.recognition.train import MODEL_PATH, train
        out = Path(args.out) if args.out else MODEL_PATH
        if args.by_matter or args.with_held_out:
            print(train(path=out, with_held_out=args.with_held_out))
        else:
            from tools.recognition import bywriter
            print(bywriter.train(out))
    elif args.command == "evaluate":
        from tools.recognition.evaluate import evaluate
        print(evaluate())
    elif args.command == "demo-month":
        from tools.recognition.demo_month import demo_month
        print(demo_month(with_city=args.with_city, with_list=not args.without_list))
    elif args.command == "demo-figures":
        import json

        import httpx

        from tools.recognition.demo_figures import render, run
        try:
            found = run(args.analytics, args.audit)
        except httpx.HTTPError as exc:
            print(f"could not read analytics or audit ({exc}): is the platform up (make up)?")
            return 1
        print(json.dumps(found, ensure_ascii=False, indent=1) if args.json else render(found))
    elif args.command == "outside":
        from tools.recognition.outside import outside
        from tools.recognition.outside import render as render_outside
        print(render_outside(outside()))
    elif args.command == "simulator-landmarks":
        import json

        from tools.recognition.demo_month import simulator_landmarks
        print(json.dumps(simulator_landmarks(), ensure_ascii=False, indent=1))
    elif args.command == "cost":
        from tools.recognition.cost import cost
        print(cost())
    else:
        from tools.recognition.labels import export_labels
        print(f"{export_labels(args.dsn, args.schema)} labels written")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``pebal data check``: inspect a data set folder before using it."""

from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help="inspect data set folders")
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="report what a data set folder holds: counts against the official release, unpaired "
             "files, unexpected label values",
    )
    check.add_argument("--dataset", required=True, help="registered data set name (see `pebal info`)")
    check.add_argument("--root", required=True, help="the data set folder")
    check.add_argument("--split", default=None, help="split to check (default: the data set's default)")
    check.add_argument("--max-labels", type=int, default=None,
                       help="decode at most this many labels (default: all; coco-ood: the object masks of "
                            "100 images spread over the selection)")
    check.add_argument("--strict", action="store_true",
                       help="also fail (exit 1) when the count differs from the official one")
    check.set_defaults(func=run_check)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def run_check(args) -> int:
    from pebal.data.check import check_dataset

    report = check_dataset(args.dataset, args.root, split=args.split, max_labels=args.max_labels,
                           progress=True)
    print(report.format())
    if not report.ok:
        return 1
    if args.strict and report.count_matches is False:
        return 1
    return 0

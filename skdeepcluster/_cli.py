"""Command-line interface: ``skdeepcluster demo`` and ``skdeepcluster fit``.

``python -m skdeepcluster`` and the ``skdeepcluster`` console script both call
:func:`main`; with no arguments they run the demo.
"""

import argparse
import os
import sys
import time

import numpy as np

_EPILOG = """\
examples:
  skdeepcluster demo                      KMeans vs DEC vs IDEC on scikit-learn's digits
  skdeepcluster demo --quick              the same, tiny and fast (a smoke test)
  skdeepcluster fit data.csv --n-clusters 10 --output labels.csv
  skdeepcluster fit data.npy --n-clusters 10 --method idec > labels.txt

Run 'skdeepcluster COMMAND --help' for the options of a command.
"""

# Demo settings: the full demo uses the estimators' defaults (what a user's one-liner
# gets; on digits the "auto" settings pick the small-data recipe); the quick one is a
# seconds-long smoke test.
_DEMO_SETTINGS = {
    "full": dict(n_init=20, autoencoder={}, clusterer={}),
    "quick": dict(n_init=2, autoencoder=dict(hidden_dims=(64,), max_epochs=3),
                  clusterer=dict(max_epochs=2, n_init=2)),
}


class CLIError(Exception):
    """A problem with the user's input: reported as one line, exit status 2."""


# -- argument parsing ------------------------------------------------------------------
def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _int_tuple(text):
    try:
        dims = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 500,500,2000, got {text!r}"
        ) from None
    if not dims or min(dims) < 1:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers, got {text!r}"
        )
    return dims


def _mixed_precision(text):
    """``--mixed-precision`` values: ``auto``, ``on`` or ``off``."""
    values = {"auto": "auto", "on": True, "off": False}
    if text not in values:
        raise argparse.ArgumentTypeError(f"expected auto, on or off, got {text!r}")
    return values[text]


def _add_common(parser):
    parser.add_argument(
        "--device", default="auto",
        help="'auto' (CUDA when available, else CPU), 'cpu', 'cuda', 'cuda:1' or 'mps' "
             "(default: %(default)s)")
    parser.add_argument(
        "--random-state", type=int, default=0, metavar="SEED",
        help="seed of initialisation, shuffling and k-means (default: %(default)s)")
    parser.add_argument(
        "--mixed-precision", type=_mixed_precision, default="auto",
        metavar="{auto,on,off}",
        help="bfloat16 autocast in training; 'auto' (the estimators' default) turns it on "
             "where the device runs bfloat16 natively (CPUs with AVX512-BF16 or AMX, "
             "recent GPUs) (default: auto)")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0,
        help="print one line per epoch (-vv: also progress bars)")


def build_parser():
    """The argument parser of the ``skdeepcluster`` command."""
    from . import DECClusterer, __version__

    parser = argparse.ArgumentParser(
        prog="skdeepcluster",
        description="Deep clustering (DEC, IDEC) with the scikit-learn API. "
                    "Without a command, runs the demo.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version",
                        version=f"skdeepcluster {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo", help="compare KMeans, DEC and IDEC on scikit-learn's digits",
        description="Cluster scikit-learn's digits (1,797 8x8 images scaled to [0, 1]) "
                    "with KMeans, an autoencoder + KMeans, DEC and IDEC (both starting "
                    "from the same pretrained autoencoder) and print accuracy, NMI, ARI "
                    "and fit time of each against the true digit labels.",
    )
    demo.add_argument("--quick", action="store_true",
                      help="a tiny run (few epochs, small net) that finishes in seconds; "
                           "the scores are not meaningful")
    _add_common(demo)
    demo.set_defaults(handler=_run_demo)

    fit = sub.add_parser(
        "fit", help="cluster the rows of a CSV or .npy file and write their labels",
        description="Fit DEC (or IDEC) on the rows of INPUT and write one cluster label "
                    "per row, one per line. INPUT is a .npy file holding a 2-D numeric "
                    "array, or a comma-separated text file of numbers (a header line is "
                    "detected and skipped). The data is used as given: scale it first "
                    "(e.g. to [0, 1] or to zero mean and unit variance).",
    )
    fit.add_argument("input", metavar="INPUT", help="a .npy file or a CSV file")
    fit.add_argument("-k", "--n-clusters", type=_positive_int, required=True,
                     metavar="K", help="number of clusters")
    fit.add_argument("--method", choices=("dec", "idec"), default="dec",
                     help="DEC, or IDEC (DEC that keeps a reconstruction loss, "
                          "gamma=0.1) (default: %(default)s)")
    fit.add_argument("-o", "--output", metavar="FILE",
                     help="where to write the labels (default: standard output)")
    # Unset network/training options keep DECClusterer's defaults (shown in --help).
    defaults = DECClusterer().get_params()
    fit.add_argument("--epochs", type=_non_negative_int, metavar="N",
                     help="maximum epochs of the clustering phase "
                          f"(default: {defaults['max_epochs']})")
    fit.add_argument("--pretrain-epochs", type=_non_negative_int, metavar="N",
                     help=f"epochs of autoencoder pretraining "
                          f"(default: {defaults['pretrain_epochs']})")
    fit.add_argument("--hidden-dims", type=_int_tuple, metavar="H1,H2,...",
                     help="widths of the encoder's hidden layers (default: auto: 500,500,2000 "
                          "for 5,000 rows or more, 256,256,512 for fewer)")
    fit.add_argument("--latent-dim", type=_positive_int, metavar="D",
                     help=f"dimension of the embedding (default: {defaults['latent_dim']})")
    fit.add_argument("--batch-size", type=_positive_int, metavar="B",
                     help="samples per gradient step (default: auto: 256 for 5,000 rows or "
                          "more, 64 for fewer)")
    _add_common(fit)
    fit.set_defaults(handler=_run_fit)
    return parser


# -- demo --------------------------------------------------------------------------------
def _scores(y, labels):
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from .metrics import clustering_accuracy_score

    return (clustering_accuracy_score(y, labels),
            normalized_mutual_info_score(y, labels, average_method="arithmetic"),
            adjusted_rand_score(y, labels))


def _check_device(device):
    from ._training import resolve_device

    try:
        return resolve_device(device)
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _run_demo(args, out):
    from sklearn.cluster import KMeans
    from sklearn.datasets import load_digits

    from . import AutoEncoder, DECClusterer

    _check_device(args.device)
    s = _DEMO_SETTINGS["quick" if args.quick else "full"]
    print("Clustering scikit-learn's digits with KMeans, an autoencoder + KMeans, DEC and "
          f"IDEC{' (quick run)' if args.quick else '; about 20 s on 2 CPU cores'}...",
          file=sys.stderr, flush=True)
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    common = dict(mixed_precision=args.mixed_precision, device=args.device,
                  random_state=args.random_state, verbose=args.verbose)
    rows = []

    def timed(fit):
        start = time.perf_counter()
        result = fit()
        return result, time.perf_counter() - start

    km, t = timed(lambda: KMeans(n_clusters=10, n_init=s["n_init"],
                                 random_state=args.random_state).fit(X))
    rows.append((f"KMeans (n_init={s['n_init']})", *_scores(y, km.labels_), t))

    # The autoencoder DECClusterer would pretrain by itself, fitted once and shared.
    ae, t_pre = timed(lambda: AutoEncoder(**s["autoencoder"], **common).fit(X))
    akm, t = timed(lambda: KMeans(n_clusters=10, n_init=s["n_init"],
                                  random_state=args.random_state).fit(ae.transform(X)))
    rows.append(("AutoEncoder + KMeans", *_scores(y, akm.labels_), t_pre + t))

    for name, gamma in (("DEC", 0.0), ("IDEC (gamma=0.1)", 0.1)):
        # A fitted autoencoder is reused as is (never refitted or modified).
        model, t = timed(lambda: DECClusterer(
            n_clusters=10, gamma=gamma, autoencoder=ae, **s["clusterer"], **common).fit(X))
        rows.append((name, *_scores(y, model.labels_), t_pre + t))

    device = ae.device_
    width = max(len(r[0]) for r in rows)
    print(f"skdeepcluster demo: scikit-learn digits ({X.shape[0]} samples, {X.shape[1]} "
          f"features, 10 classes), device={device}, mixed_precision="
          f"{args.mixed_precision}, random_state={args.random_state}"
          f"{', QUICK (scores not meaningful)' if args.quick else ''}", file=out)
    print(f"{'method':<{width}}    ACC    NMI    ARI  fit time (s)", file=out)
    for name, acc, nmi, ari, t in rows:
        print(f"{name:<{width}}  {acc:.3f}  {nmi:.3f}  {ari:.3f}  {t:12.1f}", file=out)
    widths = [m.out_features for m in ae.module_.encoder if hasattr(m, "out_features")]
    hidden = "-".join(str(h) for h in (X.shape[1], *widths))
    print(f"Pretraining: autoencoder {hidden}, {ae.n_iter_} epochs "
          f"({ae.net_.optimizer.__name__}, {ae.module_.loss}, batch {ae.net_.batch_size}) "
          f"in {t_pre:.1f} s, done once and shared by DEC and IDEC (their times include "
          f"it).", file=out)
    print("ACC: accuracy after the best matching of clusters to classes; "
          "NMI: arithmetic mean.", file=out)
    return 0


# -- fit ---------------------------------------------------------------------------------
def _is_number(field):
    try:
        float(field)
    except ValueError:
        return False
    return True


def _load_csv(path):
    with open(path, encoding="utf-8-sig") as f:  # -sig: a byte-order mark is not a header
        first = f.readline()
    if not first.strip():
        raise CLIError(f"{path}: the file is empty (or starts with an empty line).")
    header = not all(_is_number(field) for field in first.strip().split(","))
    try:
        X = np.loadtxt(path, delimiter=",", skiprows=int(header), dtype=np.float32,
                       ndmin=2, encoding="utf-8-sig")
    except ValueError as exc:
        raise CLIError(f"{path}: not a numeric CSV file ({exc}).") from None
    return X


def _load_npy(path):
    try:
        X = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise CLIError(f"{path}: cannot read this .npy file ({exc}).") from None
    if not isinstance(X, np.ndarray) or X.dtype.kind not in "biuf":
        raise CLIError(f"{path}: expected a numeric array, got dtype "
                       f"{getattr(X, 'dtype', type(X).__name__)}.")
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2:
        raise CLIError(f"{path}: expected a 2-D array (samples x features), got shape "
                       f"{X.shape}.")
    # float32 is the fast path; a float32 memory map is used without being copied.
    return X if X.dtype == np.float32 else X.astype(np.float32)


def load_data(path):
    """Read a 2-D float32 array from a ``.npy`` or CSV file; raise :class:`CLIError`."""
    if not os.path.exists(path):
        raise CLIError(f"{path}: no such file.")
    if os.path.isdir(path):
        raise CLIError(f"{path}: is a directory, not a data file.")
    try:
        X = _load_npy(path) if path.lower().endswith(".npy") else _load_csv(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIError(f"{path}: cannot read the file ({exc}).") from None
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise CLIError(f"{path}: no data (shape {X.shape}).")
    if not np.isfinite(X).all():
        raise CLIError(f"{path}: the data contains missing (NaN) or infinite values.")
    return X


def _run_fit(args, out):
    from . import DECClusterer

    _check_device(args.device)
    X = load_data(args.input)
    if X.shape[0] < max(args.n_clusters, 2):
        raise CLIError(f"{args.input}: {X.shape[0]} rows, but --n-clusters "
                       f"{args.n_clusters} needs at least {max(args.n_clusters, 2)}.")
    if args.batch_size is not None and args.batch_size < 2:
        raise CLIError("--batch-size must be at least 2.")
    options = {"max_epochs": args.epochs, "pretrain_epochs": args.pretrain_epochs,
               "hidden_dims": args.hidden_dims, "latent_dim": args.latent_dim,
               "batch_size": args.batch_size}
    model = DECClusterer(
        n_clusters=args.n_clusters, gamma=0.1 if args.method == "idec" else 0.0,
        mixed_precision=args.mixed_precision, device=args.device,
        random_state=args.random_state, verbose=args.verbose,
        **{k: v for k, v in options.items() if v is not None},
    )
    start = time.perf_counter()
    try:
        labels = model.fit(X).labels_
    except ValueError as exc:  # settings the estimator rejects for this data
        raise CLIError(str(exc)) from None
    elapsed = time.perf_counter() - start

    text = "".join(f"{label}\n" for label in labels)
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as exc:
            raise CLIError(f"cannot write {args.output} ({exc}).") from None
    else:
        out.write(text)
    sizes = np.bincount(labels, minlength=args.n_clusters)
    print(f"{args.method.upper()}: {X.shape[0]} samples x {X.shape[1]} features -> "
          f"{args.n_clusters} clusters (sizes {' '.join(map(str, sizes))}) in "
          f"{elapsed:.1f} s on {model.device_}"
          f"{'; labels written to ' + args.output if args.output else ''}.",
          file=sys.stderr)
    return 0


# -- entry point -------------------------------------------------------------------------
def main(argv=None):
    """Run the ``skdeepcluster`` command; return the exit status.

    Parameters
    ----------
    argv : list of str or None, default=None
        The arguments (without the program name); None reads ``sys.argv[1:]``. No
        arguments at all run the demo.

    Returns
    -------
    status : int
        0 on success, 1 when training fails, 2 for invalid input (argparse's usage
        errors also exit with 2).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        argv = ["demo"]
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # only global options such as --version were given
        parser.print_help()
        return 2
    try:
        return args.handler(args, sys.stdout)
    except CLIError as exc:
        print(f"skdeepcluster {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except FloatingPointError as exc:  # training diverged; the message says what to do
        print(f"skdeepcluster {args.command}: training failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

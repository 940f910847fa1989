"""Command-line interface: ``skdeepcluster demo``, ``fit`` and ``fetch``.

``python -m skdeepcluster`` and the ``skdeepcluster`` console script both call
:func:`main`; with no arguments they run the demo.
"""

import argparse
import os
import sys
import textwrap
import time

import numpy as np

_EPILOG = """\
examples:
  skdeepcluster demo                      KMeans vs DEC, IDEC, DeepCluster on sklearn's digits
  skdeepcluster demo --quick              the same, tiny and fast (a smoke test)
  skdeepcluster fit data.csv --n-clusters 10 --output labels.csv
  skdeepcluster fit data.npy --n-clusters 10 --method idec > labels.txt
  skdeepcluster fit data.npy -k 10 --method vade --embedding embedding.npy
  skdeepcluster fetch mnist               download MNIST into the data directory

Run 'skdeepcluster COMMAND --help' for the options of a command.
"""

_FIT_EPILOG = """\
examples:
  skdeepcluster fit data.csv -k 10 --output labels.csv
  skdeepcluster fit data.npy -k 10 --method idec > labels.txt
  skdeepcluster fit data.npy -k 10 --method dcn --epochs 20 --embedding embedding.npy
  skdeepcluster fit data.npy -k 10 --method vade --pretrain-epochs 50
  skdeepcluster fit mnist.npy -k 10 --method deepcluster --image-shape 1,28,28

Options left out keep the estimator's default (shown for each option).
"""

_FETCH_EPILOG = """\
examples:
  skdeepcluster fetch mnist                 into $SKDEEPCLUSTER_DATA or ~/skdeepcluster_data
  skdeepcluster fetch usps --data-home ./data
  skdeepcluster fetch mnist --base-url https://example.org/mnist/     from a mirror
  skdeepcluster fetch usps --offline        only check the files already there

Downloads need the optional dependency pooch: pip install "skdeepcluster[fetch]".
"""

# --method: (display name, parameters it fixes); the classes are in _estimator_class.
_METHODS = {
    "dec": ("DEC", {"gamma": 0.0}),
    "idec": ("IDEC", {"gamma": 0.1}),
    "dcn": ("DCN", {}),
    "vade": ("VaDE", {}),
    "deepcluster": ("DeepCluster", {}),
}

# Demo settings: the full demo uses the estimators' defaults (what a user's one-liner
# gets; on digits the "auto" settings pick the small-data recipe); the quick one is a
# seconds-long smoke test.
_DEMO_SETTINGS = {
    "full": dict(n_init=20, autoencoder={}, clusterer={}, deepcluster={}),
    "quick": dict(n_init=2, autoencoder=dict(hidden_dims=(64,), max_epochs=3),
                  clusterer=dict(max_epochs=2, n_init=2),
                  deepcluster=dict(hidden_dims=(4, 8), n_pseudo_clusters=20, max_epochs=2,
                                   n_init=2)),
}


class CLIError(Exception):
    """A problem reported as one line: exit status 2 (invalid input) unless ``status``."""

    def __init__(self, message, status=2):
        super().__init__(message)
        self.status = status


class _ArgumentParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr (exit status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


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


def _non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None
    if not value >= 0 or value == float("inf"):  # also NaN
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
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


def _image_shape(text):
    """``--image-shape C,H,W``: three positive integers."""
    try:
        shape = tuple(int(t) for t in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise argparse.ArgumentTypeError(
            f"expected three comma-separated positive integers CHANNELS,HEIGHT,WIDTH "
            f"such as 1,28,28, got {text!r}")
    return shape


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


def _estimator_class(method):
    from . import DCNClusterer, DECClusterer, DeepClusterClusterer, VaDEClusterer

    return {"dec": DECClusterer, "idec": DECClusterer, "dcn": DCNClusterer,
            "vade": VaDEClusterer, "deepcluster": DeepClusterClusterer}[method]


def _method_defaults(param):
    """``"dec/idec 100, dcn 50, ..."``: each method's default of ``param``."""
    values = {}
    for method in _METHODS:
        params = _estimator_class(method)().get_params()
        if param in params:
            values.setdefault(str(params[param]), []).append(method)
    return ", ".join(f"{'/'.join(methods)} {value}" for value, methods in values.items())


def build_parser():
    """The argument parser of the ``skdeepcluster`` command."""
    from . import __version__

    parser = _ArgumentParser(
        prog="skdeepcluster",
        description="Deep clustering (DEC, IDEC, DCN, VaDE, DeepCluster) with the "
                    "scikit-learn API. Without a command, runs the demo.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version",
                        version=f"skdeepcluster {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo", help="compare KMeans, DEC, IDEC and DeepCluster on scikit-learn's digits",
        description="Cluster scikit-learn's digits (1,797 8x8 images scaled to [0, 1]) "
                    "with KMeans, an autoencoder + KMeans, DEC and IDEC (both starting "
                    "from the same pretrained autoencoder) and DeepCluster (its own conv "
                    "net) and print accuracy, NMI, ARI and fit time of each against the "
                    "true digit labels.",
    )
    demo.add_argument("--quick", action="store_true",
                      help="a tiny run (few epochs, small net) that finishes in seconds; "
                           "the scores are not meaningful")
    _add_common(demo)
    demo.set_defaults(handler=_run_demo)

    fit = sub.add_parser(
        "fit", help="cluster the rows of a CSV or .npy file and write their labels",
        description=textwrap.fill(
            "Fit a deep clusterer (--method) on the rows of INPUT and write one cluster "
            "label per row, one per line. INPUT is a .npy file holding a 2-D numeric "
            "array (a 1-D array is one feature), or a comma-separated text file of "
            "numbers (a header line is detected and skipped). The data is used as given: "
            "scale it first (e.g. to [0, 1] or to zero mean and unit variance).", 79),
        epilog=_FIT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit.add_argument("input", metavar="INPUT", help="a .npy file or a CSV file")
    fit.add_argument("-k", "--n-clusters", type=_positive_int, required=True,
                     metavar="K", help="number of clusters")
    fit.add_argument("--method", choices=tuple(_METHODS), default="dec",
                     help="dec: DECClusterer; idec: DEC that keeps a reconstruction loss "
                          "(gamma=0.1); dcn: DCNClusterer; vade: VaDEClusterer; "
                          "deepcluster: DeepClusterClusterer (no autoencoder; a conv net on "
                          "images) (default: %(default)s)")
    fit.add_argument("-o", "--output", metavar="FILE",
                     help="where to write the labels (default: standard output)")
    fit.add_argument("--embedding", metavar="FILE.npy",
                     help="also write the learned embedding, transform(INPUT), as a .npy "
                          "array (one row per input row)")
    # Unset network/training options keep the estimator's defaults (shown in --help).
    fit.add_argument("--epochs", type=_non_negative_int, metavar="N",
                     help="maximum epochs of the clustering phase (for deepcluster, of "
                          f"training) (default: {_method_defaults('max_epochs')})")
    fit.add_argument("--pretrain-epochs", type=_non_negative_int, metavar="N",
                     help="epochs of autoencoder pretraining; not for deepcluster "
                          f"(default: {_method_defaults('pretrain_epochs')})")
    fit.add_argument("--hidden-dims", type=_int_tuple, metavar="H1,H2,...",
                     help="widths of the encoder's hidden layers, or with --image-shape "
                          "the channels of the conv blocks (default: auto: 500,500,2000 "
                          "for 5,000 rows or more, 256,256,512 for fewer; deepcluster: "
                          "500,500,2000, conv 32,64,128)")
    fit.add_argument("--latent-dim", type=_positive_int, metavar="D",
                     help="dimension of the embedding "
                          f"(default: {_method_defaults('latent_dim')})")
    fit.add_argument("--batch-size", type=_positive_int, metavar="B",
                     help="samples per gradient step (default: auto: 256 for 5,000 rows or "
                          "more, 64 for fewer; deepcluster on rows that are not images "
                          "256)")
    fit.add_argument("--image-shape", type=_image_shape, metavar="C,H,W",
                     help="the rows are flattened images of this shape (channels, "
                          "height, width; e.g. 1,28,28 for MNIST): pretrain the "
                          "autoencoder on augmented images; deepcluster trains a conv net "
                          "on them (default: auto: single-channel square images for rows "
                          "of s*s values, s >= 8, all in [0, 1]; other data is not images)")
    fit.add_argument("--no-augment", dest="augment", action="store_false", default=None,
                     help="train on the rows as they are: no random shifts, rotations and "
                          "zooms of images (the autoencoder's pretraining, dec/idec's "
                          "clustering phase on images of 16 x 16 pixels or more, "
                          "deepcluster's conv net), no noise on deepcluster's rows that are "
                          "not images (default: augment)")
    fit.add_argument("--contrastive", type=_non_negative_float, metavar="W",
                     help="not deepcluster: weight of the contrastive term between two "
                          "augmented copies of each image in the autoencoder's "
                          "pretraining (0: none; default: auto: 0.01 below 5,000 rows, "
                          "0 from 5,000 on)")
    from ._deepcluster import PSEUDO_CLUSTERS, SAMPLES_PER_PSEUDO_CLUSTER

    fit.add_argument("--n-pseudo-clusters", type=_positive_int, metavar="K",
                     help="deepcluster only: clusters of the pseudo-labels during training "
                          f"(default: auto: min({PSEUDO_CLUSTERS}, max(k, n_samples // "
                          f"{SAMPLES_PER_PSEUDO_CLUSTER})))")
    fit.add_argument("--noise-scale", type=_non_negative_float, metavar="S",
                     help="deepcluster only, on rows that are not images: standard "
                          "deviation of the noise added to its training rows, in standard "
                          "deviations of each feature (default: auto: 2 for rows of 64 "
                          "features or more, 1 below)")
    _add_common(fit)
    fit.set_defaults(handler=_run_fit)

    fetch = sub.add_parser(
        "fetch", help="download MNIST or USPS into the data directory",
        description=textwrap.fill(
            "Download a dataset once into the data directory (--data-home, else "
            "$SKDEEPCLUSTER_DATA, else ~/skdeepcluster_data), check it against its "
            "published checksums and print its size. Files already there are checked and "
            "not downloaded again; fetch_mnist / fetch_usps (and load_mnist / load_usps) "
            "of skdeepcluster.datasets then read them.", 79),
        epilog=_FETCH_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fetch.add_argument("dataset", choices=("mnist", "usps"), help="the dataset")
    fetch.add_argument("--data-home", metavar="DIR",
                       help="the data directory (default: $SKDEEPCLUSTER_DATA or "
                            "~/skdeepcluster_data)")
    fetch.add_argument("--base-url", metavar="URL", action="append",
                       help="a directory URL holding the dataset's files, instead of the "
                            "public sources (or $SKDEEPCLUSTER_MNIST_URL / "
                            "$SKDEEPCLUSTER_USPS_URL); repeat it to try several in order")
    fetch.add_argument("--offline", action="store_true",
                       help="never download: fail unless the files are already there")
    fetch.add_argument("-q", "--quiet", action="store_true",
                       help="no progress bar")
    fetch.set_defaults(handler=_run_fetch)
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

    from . import AutoEncoder, DECClusterer, DeepClusterClusterer

    _check_device(args.device)
    s = _DEMO_SETTINGS["quick" if args.quick else "full"]
    print("Clustering scikit-learn's digits with KMeans, an autoencoder + KMeans, DEC, "
          f"IDEC and DeepCluster{' (quick run)' if args.quick else '; about 35 s on 2 CPU cores'}"
          "...",
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

    # DeepCluster trains its own conv net (digits / 16 are 8 x 8 images in [0, 1]).
    model, t = timed(lambda: DeepClusterClusterer(
        n_clusters=10, **s["deepcluster"], **common).fit(X))
    rows.append(("DeepCluster", *_scores(y, model.labels_), t))

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
    views = ("" if ae.net_.augment is None else ", augmented images" + (
        f", contrastive weight {ae.net_.contrastive:g}" if ae.net_.contrastive else ""))
    print(f"Pretraining: autoencoder {hidden}, {ae.n_iter_} epochs "
          f"({ae.net_.optimizer.__name__}, {ae.module_.loss}, "
          f"batch {ae.net_.batch_size}{views}) in {t_pre:.1f} s, done once and shared "
          f"by DEC and IDEC (their times include it); DeepCluster trains its own conv "
          f"net, without an autoencoder.", file=out)
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
        raise CLIError(f"{path}: not a readable .npy array file ({exc}).") from None
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


def build_estimator(args, n_features):
    """The unfitted estimator ``skdeepcluster fit`` trains, from the parsed ``args``.

    Options left unset keep the estimator's defaults; options that do not apply to
    ``--method`` raise :class:`CLIError`.
    """
    method = args.method
    if method == "deepcluster":
        for option in ("pretrain_epochs", "contrastive"):
            if getattr(args, option) is not None:
                flag = "--" + option.replace("_", "-")
                raise CLIError(f"{flag} does not apply to --method deepcluster, which "
                               "trains without an autoencoder.")
    else:
        for option in ("n_pseudo_clusters", "noise_scale"):
            if getattr(args, option) is not None:
                flag = "--" + option.replace("_", "-")
                raise CLIError(f"{flag} applies to --method deepcluster only, not "
                               f"{method}.")
    if args.image_shape is not None and np.prod(args.image_shape) != n_features:
        shape = ",".join(map(str, args.image_shape))
        raise CLIError(f"--image-shape {shape} has {int(np.prod(args.image_shape))} "
                       f"values per image, but {args.input} has {n_features} features "
                       "per row.")
    if args.batch_size is not None and args.batch_size < 2:
        raise CLIError("--batch-size must be at least 2.")
    options = {"max_epochs": args.epochs, "pretrain_epochs": args.pretrain_epochs,
               "hidden_dims": args.hidden_dims, "latent_dim": args.latent_dim,
               "batch_size": args.batch_size, "image_shape": args.image_shape,
               "n_pseudo_clusters": args.n_pseudo_clusters, "augment": args.augment,
               "noise_scale": args.noise_scale, "contrastive": args.contrastive}
    return _estimator_class(method)(
        n_clusters=args.n_clusters, mixed_precision=args.mixed_precision,
        device=args.device, random_state=args.random_state, verbose=args.verbose,
        **_METHODS[method][1], **{k: v for k, v in options.items() if v is not None},
    )


def _check_writable(path, option):
    """Fail before training, not after, when an output file cannot be created."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CLIError(f"cannot write {path} ({option}): no directory {directory}.")
    if os.path.isdir(path):
        raise CLIError(f"cannot write {path} ({option}): it is a directory.")


def _run_fit(args, out):
    _check_device(args.device)
    for path, option in ((args.output, "--output"), (args.embedding, "--embedding")):
        if path:
            _check_writable(path, option)
    X = load_data(args.input)
    if X.shape[0] < max(args.n_clusters, 2):
        raise CLIError(f"{args.input}: {X.shape[0]} rows, but --n-clusters "
                       f"{args.n_clusters} needs at least {max(args.n_clusters, 2)}.")
    model = build_estimator(args, X.shape[1])
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
    written = f"; labels written to {args.output}" if args.output else ""
    if args.embedding:
        embedding = model.transform(X)
        try:
            with open(args.embedding, "wb") as f:  # exactly this name (no .npy added)
                np.save(f, embedding)
        except OSError as exc:
            raise CLIError(f"cannot write {args.embedding} ({exc}).") from None
        written += (f"; embedding ({embedding.shape[0]} x {embedding.shape[1]}) written "
                    f"to {args.embedding}")
    sizes = np.bincount(labels, minlength=args.n_clusters)
    print(f"{_METHODS[args.method][0]}: {X.shape[0]} samples x {X.shape[1]} features -> "
          f"{args.n_clusters} clusters (sizes {' '.join(map(str, sizes))}) in "
          f"{elapsed:.1f} s on {model.device_}{written}.",
          file=sys.stderr)
    return 0


# -- fetch -------------------------------------------------------------------------------
def _run_fetch(args, out):
    from .datasets import fetch_mnist, fetch_usps, get_data_home
    from .datasets._fetch import DownloadError

    fetch = {"mnist": fetch_mnist, "usps": fetch_usps}[args.dataset]
    data_home = get_data_home(args.data_home)
    try:
        bunch = fetch(data_home=data_home, base_url=args.base_url,
                      download_if_missing=not args.offline, verbose=not args.quiet)
    except (DownloadError, ImportError) as exc:  # the network, or pooch missing
        raise CLIError(str(exc), status=1) from None
    except (OSError, ValueError) as exc:  # missing offline, corrupt, bad --base-url
        raise CLIError(str(exc)) from None
    n, d = bunch.data.shape
    print(f"{args.dataset.upper()}: {n} samples x {d} features ({bunch.train_size} "
          f"train, {n - bunch.train_size} test) in {data_home}", file=out)
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
        0 on success, 1 when training or a download fails, 2 for invalid input
        (argparse's usage errors also exit with 2, with a one-line message).
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
        message = " ".join(str(exc).split())  # one line
        print(f"skdeepcluster {args.command}: error: {message}", file=sys.stderr)
        return exc.status
    except FloatingPointError as exc:  # training diverged; the message says what to do
        print(f"skdeepcluster {args.command}: training failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

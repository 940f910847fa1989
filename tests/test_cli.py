"""The command-line interface: ``skdeepcluster demo`` / ``fit`` and ``python -m``."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from skdeepcluster import DCNClusterer, DeepClusterClusterer, _cli
from skdeepcluster._cli import main

# Small, fast settings for `fit` (the defaults are the papers' network).
TINY = ["--hidden-dims", "16", "--latent-dim", "2", "--pretrain-epochs", "10",
        "--epochs", "3", "--batch-size", "32", "--device", "cpu"]
ROW = re.compile(r"^(?P<name>.+?)\s+(?P<acc>\d\.\d{3})\s+(?P<nmi>\d\.\d{3})\s+"
                 r"(?P<ari>-?\d\.\d{3})\s+(?P<time>\d+\.\d)$")


def _table(text):
    """The demo's result rows as {method: (acc, nmi, ari, seconds)}."""
    rows = {}
    for line in text.splitlines():
        m = ROW.match(line.strip())
        if m:
            rows[m["name"].strip()] = tuple(float(m[k]) for k in ("acc", "nmi", "ari", "time"))
    return rows


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=90, centers=3, n_features=4, cluster_std=0.4,
                      center_box=(-6, 6), random_state=0)
    return X, y


def _read_labels(text):
    return np.array([int(line) for line in text.splitlines()])


def test_demo_quick_prints_table(capsys):
    assert main(["demo", "--quick", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    rows = _table(out)
    assert "digits" in out
    assert {"KMeans (n_init=2)", "AutoEncoder + KMeans", "DEC", "IDEC (gamma=0.1)",
            "DeepCluster"} <= set(rows)
    for acc, nmi, ari, seconds in rows.values():
        assert 0 <= acc <= 1 and 0 <= nmi <= 1 and -1 <= ari <= 1 and seconds >= 0
    # KMeans on digits is well above chance (0.1) even with n_init=2.
    assert rows["KMeans (n_init=2)"][0] > 0.5


def test_no_arguments_runs_demo(monkeypatch):
    calls = []
    monkeypatch.setattr(_cli, "_run_demo", lambda args, out: calls.append(args) or 0)
    assert main([]) == 0
    assert len(calls) == 1 and calls[0].command == "demo" and not calls[0].quick


@pytest.mark.parametrize("argv", [["--help"], ["demo", "--help"], ["fit", "--help"],
                                  ["fetch", "--help"]])
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: skdeepcluster")
    assert "--device" in out or argv[0] in ("--help", "fetch")
    expected = {"--help": "\n    fit ", "demo": "--quick", "fit": "--n-clusters",
                "fetch": "--data-home"}[argv[0]]
    assert expected in out
    if argv[0] != "demo":  # examples in the epilog
        assert "examples:\n  skdeepcluster " in out
    if argv[0] == "fit":
        for method in ("dec", "idec", "dcn", "vade", "deepcluster"):
            assert method in out
        assert "--image-shape" in out and "--embedding" in out


@pytest.mark.parametrize("header", [True, False])
def test_fit_csv_writes_labels(tmp_path, blobs, header, capsys):
    X, y = blobs
    path = tmp_path / "data.csv"
    np.savetxt(path, X, delimiter=",", header="a,b,c,d" if header else "", comments="")
    if not header:  # savetxt writes an empty first line for header=""
        path.write_text(path.read_text().lstrip("\n"))
    output = tmp_path / "labels.csv"
    status = main(["fit", str(path), "--n-clusters", "3", "--output", str(output), *TINY])
    assert status == 0
    labels = _read_labels(output.read_text())
    assert labels.shape == (len(X),)
    assert set(labels) <= {0, 1, 2}
    assert adjusted_rand_score(y, labels) > 0.9  # well separated blobs
    captured = capsys.readouterr()
    assert captured.out == ""  # labels went to the file; the summary goes to stderr
    assert "labels written to" in captured.err


def test_fit_npy_to_stdout_idec(tmp_path, blobs, capsys):
    X, y = blobs
    path = tmp_path / "data.npy"
    np.save(path, X)  # float64: converted to float32
    assert main(["fit", str(path), "-k", "3", "--method", "idec", *TINY]) == 0
    labels = _read_labels(capsys.readouterr().out)
    assert labels.shape == (len(X),)
    assert adjusted_rand_score(y, labels) > 0.9


def test_fit_is_reproducible(tmp_path, blobs, capsys):
    path = tmp_path / "data.npy"
    np.save(path, blobs[0][:40].astype(np.float32))
    runs = []
    for _ in range(2):
        assert main(["fit", str(path), "-k", "3", "--random-state", "3", *TINY]) == 0
        runs.append(capsys.readouterr().out)
    assert runs[0] == runs[1]


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("a,b\n1,2\nx,3\n4,5\n", "not a numeric CSV"),
    ("1,2\n3\n", "not a numeric CSV"),
    ("", "empty"),
    ("1,2\nnan,3\n4,5\n", "NaN"),
    ("1,2\n3,4\n", "2 rows, but --n-clusters 3"),
])
def test_fit_bad_input_exits_2(tmp_path, content, message, capsys):
    path = tmp_path / "data.csv"
    if content is not None:
        path.write_text(content)
    assert main(["fit", str(path), "--n-clusters", "3", *TINY]) == 2
    err = capsys.readouterr().err
    assert err.startswith("skdeepcluster fit: error:")
    assert message in err
    assert "Traceback" not in err


def test_fit_bad_npy_and_device(tmp_path, capsys):
    strings = tmp_path / "strings.npy"
    np.save(strings, np.array([["a", "b"], ["c", "d"]]))
    assert main(["fit", str(strings), "-k", "2", *TINY]) == 2
    assert "numeric" in capsys.readouterr().err

    good = tmp_path / "good.npy"
    np.save(good, np.zeros((10, 2), dtype=np.float32))
    assert main(["fit", str(good), "-k", "2", *TINY[:-2], "--device", "nonsense"]) == 2
    assert "device" in capsys.readouterr().err
    assert main(["demo", "--quick", "--device", "nonsense"]) == 2
    assert "device" in capsys.readouterr().err


def test_fit_csv_with_byte_order_mark(tmp_path, capsys):
    path = tmp_path / "bom.csv"
    path.write_text("1,2\n1.1,2\n5,6\n5.1,6\n", encoding="utf-8-sig")
    assert main(["fit", str(path), "-k", "2", *TINY]) == 0
    assert len(_read_labels(capsys.readouterr().out)) == 4  # no row taken as a header


def test_fit_usage_errors(tmp_path):
    with pytest.raises(SystemExit) as exc:  # --n-clusters is required
        main(["fit", str(tmp_path / "x.csv")])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["fit", str(tmp_path / "x.csv"), "-k", "0"])
    assert exc.value.code == 2


def test_python_m_demo_quick():
    # About 5 s of CPU (mostly importing torch); the generous timeout (pytest-timeout is
    # not a dependency) only catches a hang, also on a heavily loaded machine.
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "skdeepcluster", "demo", "--quick", "--device", "cpu"],
        capture_output=True, text=True, timeout=600, env=env, cwd=root,
    )
    assert proc.returncode == 0, proc.stderr
    rows = _table(proc.stdout)
    assert "DEC" in rows and "KMeans (n_init=2)" in rows


# -- fit: every method ----------------------------------------------------------------
METHODS = ("dec", "idec", "dcn", "vade", "deepcluster")
DISPLAY = {"dec": "DEC", "idec": "IDEC", "dcn": "DCN", "vade": "VaDE",
           "deepcluster": "DeepCluster"}


def _tiny(method):
    """One epoch of each phase and a tiny network: about a second per fit."""
    args = ["--hidden-dims", "8", "--latent-dim", "2", "--epochs", "1",
            "--batch-size", "32", "--device", "cpu"]
    return args if method == "deepcluster" else [*args, "--pretrain-epochs", "1"]


@pytest.fixture(scope="module")
def small():
    X, _ = make_blobs(n_samples=60, centers=3, n_features=8, random_state=0)
    return X


@pytest.mark.parametrize("fmt", ["csv", "npy"])
@pytest.mark.parametrize("method", METHODS)
def test_fit_every_method(tmp_path, small, method, fmt, capsys):
    path = tmp_path / f"data.{fmt}"
    if fmt == "csv":
        np.savetxt(path, small, delimiter=",")
    else:
        np.save(path, small.astype(np.float32))
    embedding = tmp_path / "embedding.npy"
    status = main(["fit", str(path), "-k", "3", "--method", method,
                   "--embedding", str(embedding), *_tiny(method)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    labels = _read_labels(captured.out)
    assert labels.shape == (60,)
    assert set(labels) <= {0, 1, 2}
    Z = np.load(embedding)
    assert Z.shape == (60, 2) and Z.dtype == np.float32 and np.isfinite(Z).all()
    assert captured.err.startswith(f"{DISPLAY[method]}: 60 samples x 8 features -> 3 "
                                   "clusters")
    assert f"embedding (60 x 2) written to {embedding}" in captured.err


def test_fit_deepcluster_images(tmp_path, small, capsys):
    path = tmp_path / "images.npy"
    np.save(path, small.astype(np.float32))  # 8 features = 2 channels of 2x2 images
    assert main(["fit", str(path), "-k", "3", "--method", "deepcluster",
                 "--image-shape", "2,2,2", "--n-pseudo-clusters", "6",
                 *_tiny("deepcluster")]) == 0
    assert _read_labels(capsys.readouterr().out).shape == (60,)


def _parse(argv):
    return _cli.build_parser().parse_args(["fit", "data.npy", "-k", "4", *argv])


@pytest.mark.parametrize("method, cls, extra", [
    ("dec", "DECClusterer", {"gamma": 0.0}),
    ("idec", "DECClusterer", {"gamma": 0.1}),
    ("dcn", "DCNClusterer", {}),
    ("vade", "VaDEClusterer", {}),
    ("deepcluster", "DeepClusterClusterer", {}),
])
def test_build_estimator_passes_the_options(method, cls, extra):
    args = _parse(["--method", method, "--epochs", "7", "--batch-size", "16",
                   "--hidden-dims", "12,6", "--latent-dim", "3", "--mixed-precision",
                   "off", "--random-state", "5", "--device", "cpu"])
    model = _cli.build_estimator(args, n_features=8)
    assert type(model).__name__ == cls
    params = model.get_params()
    expected = dict(n_clusters=4, max_epochs=7, batch_size=16, hidden_dims=(12, 6),
                    latent_dim=3, mixed_precision=False, random_state=5, device="cpu",
                    **extra)
    assert {k: params[k] for k in expected} == expected
    defaults = type(model)().get_params()
    if method != "deepcluster":  # unset options keep the estimator's default
        assert params["pretrain_epochs"] == defaults["pretrain_epochs"]
    # --mixed-precision defaults to the estimators' "auto"
    assert _cli.build_estimator(_parse(["--method", method]), 8).mixed_precision == "auto"
    # augmentation: the estimator's default (on) unless --no-augment
    assert params["augment"] is True
    assert _cli.build_estimator(_parse(["--method", method, "--no-augment"]),
                                8).augment is False


def test_build_estimator_deepcluster_options():
    args = _parse(["--method", "deepcluster", "--image-shape", "2,2,2",
                   "--n-pseudo-clusters", "9", "--noise-scale", "2.5"])
    params = _cli.build_estimator(args, n_features=8).get_params()
    assert params["image_shape"] == (2, 2, 2) and params["n_pseudo_clusters"] == 9
    assert params["noise_scale"] == 2.5
    defaults = _cli.build_estimator(_parse(["--method", "deepcluster"]), 8).get_params()
    assert defaults["noise_scale"] == DeepClusterClusterer().noise_scale
    args = _parse(["--method", "dcn", "--pretrain-epochs", "3"])
    assert _cli.build_estimator(args, n_features=8).pretrain_epochs == 3
    # The autoencoder-based methods take the image shape for their pretraining.
    args = _parse(["--method", "vade", "--image-shape", "2,2,2"])
    assert _cli.build_estimator(args, n_features=8).image_shape == (2, 2, 2)
    args = _parse(["--method", "idec", "--contrastive", "0.05"])
    assert _cli.build_estimator(args, n_features=8).contrastive == 0.05
    defaults = _cli.build_estimator(_parse(["--method", "dcn"]), 8).get_params()
    assert defaults["contrastive"] == DCNClusterer().contrastive


@pytest.mark.parametrize("argv, message", [
    (["--method", "deepcluster", "--pretrain-epochs", "2"],
     "--pretrain-epochs does not apply to --method deepcluster"),
    (["--method", "deepcluster", "--contrastive", "0.1"],
     "--contrastive does not apply to --method deepcluster"),
    (["--method", "dec", "--image-shape", "1,2,2"],
     "--image-shape 1,2,2 has 4 values per image, but"),
    (["--method", "vade", "--n-pseudo-clusters", "5"],
     "--n-pseudo-clusters applies to --method deepcluster only"),
    (["--method", "idec", "--noise-scale", "2"],
     "--noise-scale applies to --method deepcluster only"),
    (["--method", "deepcluster", "--image-shape", "1,28,28"],
     "--image-shape 1,28,28 has 784 values per image, but"),
])
def test_fit_options_checked_before_training(tmp_path, argv, message, capsys):
    path = tmp_path / "data.npy"
    np.save(path, np.zeros((10, 8), np.float32))
    assert main(["fit", str(path), "-k", "2", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("skdeepcluster fit: error:") and message in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("argv, message", [
    (["--method", "kmeans"], "argument --method: invalid choice: 'kmeans'"),
    (["--image-shape", "1,28"], "argument --image-shape: expected three"),
    (["--image-shape", "1,0,28"], "argument --image-shape: expected three"),
    (["--image-shape", "a,b,c"], "argument --image-shape: expected three"),
    (["--noise-scale", "-1"], "argument --noise-scale: must be a finite number >= 0"),
    (["--noise-scale", "nan"], "argument --noise-scale: must be a finite number >= 0"),
    (["--noise-scale", "x"], "argument --noise-scale: invalid number: 'x'"),
    (["--contrastive", "-0.1"], "argument --contrastive: must be a finite number >= 0"),
])
def test_usage_errors_are_one_line(tmp_path, argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["fit", str(tmp_path / "x.npy"), "-k", "2", *argv])
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("skdeepcluster fit: error: " + message)
    assert captured.err.count("\n") == 1 and "usage:" not in captured.err


def test_fit_unwritable_embedding_fails_before_training(tmp_path, monkeypatch, capsys):
    path = tmp_path / "data.npy"
    np.save(path, np.zeros((10, 8), np.float32))
    monkeypatch.setattr(_cli, "load_data", lambda p: pytest.fail("data was read"))
    target = tmp_path / "no" / "such" / "dir" / "Z.npy"
    assert main(["fit", str(path), "-k", "2", "--embedding", str(target)]) == 2
    assert "cannot write" in capsys.readouterr().err


# -- fetch ----------------------------------------------------------------------------
@pytest.fixture
def usps_server(monkeypatch):
    pytest.importorskip("pooch")
    from _fetch_server import LocalServer, md5, usps_files

    from skdeepcluster.datasets import _fetch

    server = LocalServer()
    files, _ = usps_files()
    server.add("mirror", files)
    for name, body in files.items():
        monkeypatch.setitem(_fetch._CHECKSUMS, name, md5(body))
    monkeypatch.delenv(_fetch.USPS_URL_ENV, raising=False)
    yield server
    server.stop()


def test_fetch_usps(tmp_path, usps_server, capsys):
    home = tmp_path / "data"
    argv = ["fetch", "usps", "--data-home", str(home), "--quiet",
            "--base-url", usps_server.url("gone"), "--base-url", usps_server.url("mirror")]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out == f"USPS: 10 samples x 256 features (6 train, 4 test) in {home}\n"
    assert captured.err == ""  # --quiet
    assert {"usps.bz2", "usps.t.bz2", "usps.npz"} <= set(os.listdir(home))
    assert usps_server.requests[:2] == ["/gone/usps.bz2", "/mirror/usps.bz2"]
    n = len(usps_server.requests)
    assert main(["fetch", "usps", "--data-home", str(home), "--offline"]) == 0
    assert len(usps_server.requests) == n
    assert "USPS: 10 samples" in capsys.readouterr().out


def test_fetch_errors_are_one_line(tmp_path, usps_server, capsys):
    home = tmp_path / "empty"
    assert main(["fetch", "usps", "--data-home", str(home), "--offline"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("skdeepcluster fetch: error: USPS data not found")
    assert str(home / "usps.bz2") in err and err.count("\n") == 1

    assert main(["fetch", "usps", "--data-home", str(home), "-q",
                 "--base-url", usps_server.url("gone")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("skdeepcluster fetch: error: Could not download usps.bz2")
    assert "HTTP 404" in err and err.count("\n") == 1 and "Traceback" not in err

    with pytest.raises(SystemExit) as exc:
        main(["fetch", "cifar10"])
    assert exc.value.code == 2
    assert "invalid choice: 'cifar10'" in capsys.readouterr().err

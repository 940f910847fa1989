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

from skdeepcluster import _cli
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
    assert {"KMeans (n_init=2)", "AutoEncoder + KMeans", "DEC", "IDEC (gamma=0.1)"} <= set(rows)
    for acc, nmi, ari, seconds in rows.values():
        assert 0 <= acc <= 1 and 0 <= nmi <= 1 and -1 <= ari <= 1 and seconds >= 0
    # KMeans on digits is well above chance (0.1) even with n_init=2.
    assert rows["KMeans (n_init=2)"][0] > 0.5


def test_no_arguments_runs_demo(monkeypatch):
    calls = []
    monkeypatch.setattr(_cli, "_run_demo", lambda args, out: calls.append(args) or 0)
    assert main([]) == 0
    assert len(calls) == 1 and calls[0].command == "demo" and not calls[0].quick


@pytest.mark.parametrize("argv", [["--help"], ["demo", "--help"], ["fit", "--help"]])
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: skdeepcluster")
    assert "--device" in out or argv[0] == "--help"
    expected = {"--help": "\n    fit ", "demo": "--quick", "fit": "--n-clusters"}[argv[0]]
    assert expected in out


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

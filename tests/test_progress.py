"""verbose=1: one progress display per fit (issue #17)."""

import io
import re

import numpy as np
import pytest

from skdeepcluster import DECClusterer
from skdeepcluster._progress import Progress

from _instances import tiny_clusterers


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture(scope="module")
def X():
    rng = np.random.RandomState(0)
    return rng.rand(60, 6).astype(np.float32)


@pytest.mark.parametrize("est", tiny_clusterers(), ids=lambda e: type(e).__name__)
def test_one_display_per_fit_and_no_tables(X, est, capsys):
    est.set_params(verbose=1, tol=0.0).fit(X)
    out, err = capsys.readouterr()
    assert out == ""  # skorch's per-epoch tables are verbose=2's
    name = type(est).__name__
    lines = err.splitlines()
    assert lines and all(line.startswith(f"[{name}] ") for line in lines)
    assert sum(line.startswith(f"[{name}] done") for line in lines) == 1  # nested AE too
    assert re.search(r"clustering epoch 5/5 loss=\S+", err)
    assert all("elapsed" in line for line in lines)
    if "DeepCluster" not in name:
        assert "pretraining epoch 5/5 loss=" in err and "delta_label=" in err
        assert err.index("pretraining") < err.index("initial clustering") \
            < err.index("clustering: 5 epochs")


def test_plain_lines_are_throttled_but_keep_each_phase_end():
    stream = io.StringIO()
    progress = Progress("Est", stream=stream, interval=3600)
    progress.phase("pretraining", 50)
    for epoch in range(1, 51):
        progress.epoch(epoch, loss=1.0 / epoch)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert [line.split(" (elapsed")[0] for line in lines] == [
        "[Est] pretraining: 50 epochs",
        "[Est] pretraining epoch 1/50 loss=1, remaining 00:00",
        "[Est] pretraining epoch 50/50 loss=0.02",
        "[Est] done",
    ]


def test_a_resumed_phase_says_where_it_resumes():
    stream = io.StringIO()
    progress = Progress("Est", stream=stream)
    progress.phase("clustering", 10, done=4)
    progress.epoch(5, loss=0.5, delta_label=0.01)
    assert "clustering: 10 epochs, resuming after epoch 4" in stream.getvalue()
    assert "clustering epoch 5/10 loss=0.5 delta_label=0.01" in stream.getvalue()


def test_a_terminal_gets_one_tqdm_bar_through_the_phases():
    stream = FakeTerminal()
    progress = Progress("DECClusterer", stream=stream)
    progress.phase("pretraining", 3)
    for epoch in (1, 2, 3):
        progress.epoch(epoch, loss=0.1)
    progress.phase("initial clustering")
    progress.phase("clustering", 4)
    progress.epoch(4, loss=0.2, delta_label=0.001)
    progress.close()
    text = stream.getvalue()
    assert "DECClusterer clustering: 100%" in text and "4/4" in text
    assert "delta_label=0.001" in text and "DECClusterer initial clustering" in text
    assert "[DECClusterer]" not in text  # no plain lines


def test_verbose_fit_gives_the_labels_of_a_silent_fit(X, capsys):
    quiet = DECClusterer(n_clusters=3, hidden_dims=(8,), latent_dim=2, pretrain_epochs=3,
                         max_epochs=3, device="cpu", random_state=0).fit(X)
    loud = DECClusterer(n_clusters=3, hidden_dims=(8,), latent_dim=2, pretrain_epochs=3,
                        max_epochs=3, device="cpu", random_state=0, verbose=1).fit(X)
    np.testing.assert_array_equal(quiet.labels_, loud.labels_)

"""Ctrl-C stops a fit in every phase and leaves the estimator as it was; the engine's
own stops (VaDE's ``tol``) and a callback's request to stop do not look like Ctrl-C."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback

from skdeepcluster import DeepClusterClusterer, VaDEClusterer
from skdeepcluster._training import interruptible

from _instances import tiny_autoencoder, tiny_clusterers

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


class CtrlCAtBatch(Callback):
    """Sends this process a real SIGINT (as Ctrl-C does) after batch ``k``."""

    def __init__(self, k=2):
        self.k = k

    def initialize(self):
        self.seen_ = 0
        return self

    def on_batch_end(self, net, **kwargs):
        self.seen_ += 1
        if self.seen_ == self.k:
            signal.raise_signal(signal.SIGINT)


class StopAtEpoch(Callback):
    """Raises ``KeyboardInterrupt`` itself, as skorch's ``EarlyStopping`` does to stop."""

    def __init__(self, epoch=2):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise KeyboardInterrupt


def _data(n=120, d=6):
    rng = np.random.RandomState(0)
    centers = rng.rand(3, d)
    X = centers[rng.randint(3, size=n)] + 0.05 * rng.randn(n, d)
    return np.clip(X, 0, 1).astype(np.float32)


def _ids():
    return [type(e).__name__ + ("(gamma)" if getattr(e, "gamma", 0) else "")
            for e in tiny_clusterers()]


def _fitted_state(est):
    return {k: v for k, v in vars(est).items() if k.endswith("_") and not k.startswith("_")}


@pytest.mark.parametrize("est", tiny_clusterers() + [tiny_autoencoder()],
                         ids=_ids() + ["AutoEncoder"])
def test_ctrl_c_in_training_leaves_estimator_as_before(est):
    X = _data()
    fresh = clone(est).set_params(callbacks=[CtrlCAtBatch()])
    with pytest.raises(KeyboardInterrupt):
        fresh.fit(X)
    with pytest.raises(NotFittedError):
        check_is_fitted(fresh)
    assert not hasattr(fresh, "n_features_in_")

    fitted = clone(est).fit(X)
    out = fitted.predict if hasattr(fitted, "predict") else fitted.transform
    expected = out(X)
    before = _fitted_state(fitted)
    fitted.set_params(callbacks=[CtrlCAtBatch()])
    with pytest.raises(KeyboardInterrupt):
        fitted.fit(X[:, :4])  # another feature count: must not leak into the fitted model
    after = _fitted_state(fitted)
    assert after.keys() == before.keys()
    for key, value in before.items():
        assert after[key] is value, key
    np.testing.assert_array_equal(out(X), expected)


@pytest.mark.parametrize("est", [e for e in tiny_clusterers()
                                 if not isinstance(e, DeepClusterClusterer)],
                         ids=[i for i in _ids() if i != "DeepClusterClusterer"])
def test_ctrl_c_in_pretraining(est):
    # The estimator pretrains a clone of an unfitted autoencoder it is given.
    ae = tiny_autoencoder(callbacks=[CtrlCAtBatch()])
    est = clone(est).set_params(autoencoder=ae)
    with pytest.raises(KeyboardInterrupt):
        est.fit(_data())
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    with pytest.raises(NotFittedError):
        check_is_fitted(ae)  # the autoencoder passed in stays untouched


def test_callback_keyboard_interrupt_still_stops_training_quietly():
    # skorch's convention (EarlyStopping): a KeyboardInterrupt raised by a callback, not
    # by a signal, ends training and the fit returns.
    ae = tiny_autoencoder(max_epochs=10, callbacks=[StopAtEpoch(2)]).fit(_data())
    assert len(ae.history_) == 2
    check_is_fitted(ae)


def test_vade_tol_stop_is_not_an_interrupt():
    # VaDE stops on its own once fewer than tol of the labels change; with a signal
    # watch installed, that stop must not surface as KeyboardInterrupt.
    est = VaDEClusterer(n_clusters=3, hidden_dims=(16,), latent_dim=3, pretrain_epochs=5,
                        max_epochs=50, tol=1.0, batch_size=16, random_state=0)
    est.fit(_data())
    assert est.n_iter_ < 50


def test_interruptible_restores_the_handler():
    before = signal.getsignal(signal.SIGINT)
    with interruptible():
        assert signal.getsignal(signal.SIGINT) is not before
    assert signal.getsignal(signal.SIGINT) is before


_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from skorch.callbacks import Callback
    from skdeepcluster import (DCNClusterer, DECClusterer, DeepClusterClusterer,
                               VaDEClusterer)

    method, phase = sys.argv[1], sys.argv[2]

    class Ready(Callback):
        def on_batch_end(self, net, **kwargs):
            if not getattr(self, "said_", False):
                print("READY", flush=True)
                self.said_ = True

    X = np.random.RandomState(0).rand(20000, 50).astype(np.float32)
    long, short = 10_000, 1
    kw = dict(n_clusters=5, hidden_dims=(64,), latent_dim=5, device="cpu",
              random_state=0, n_init=1, tol=0.0, max_epochs=long)
    if method != "deepcluster":
        from skdeepcluster import AutoEncoder
        ae = AutoEncoder(hidden_dims=(64,), latent_dim=5, random_state=0,
                         max_epochs=long if phase == "pretraining" else short,
                         callbacks=[Ready()] if phase == "pretraining" else None)
        kw["autoencoder"] = ae
    if phase == "clustering":
        kw["callbacks"] = [Ready()]
    est = {"dec": lambda: DECClusterer(**kw), "idec": lambda: DECClusterer(gamma=0.1, **kw),
           "dcn": lambda: DCNClusterer(**kw), "vade": lambda: VaDEClusterer(**kw),
           "deepcluster": lambda: DeepClusterClusterer(n_pseudo_clusters=10, **kw)}[method]()
    est.fit(X)
    print("FINISHED", flush=True)
""")


@pytest.mark.parametrize("method, phase", [
    ("dec", "pretraining"), ("dec", "clustering"), ("idec", "clustering"),
    ("dcn", "clustering"), ("vade", "pretraining"), ("vade", "clustering"),
    ("deepcluster", "clustering"),
])
def test_sigint_stops_a_fit_in_a_subprocess(method, phase, tmp_path):
    script = tmp_path / "fit.py"
    script.write_text(_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(script), method, phase],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "READY", proc.stderr.read()
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        elapsed = time.monotonic() - start
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "FINISHED" not in out
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in err
    assert elapsed < 10, f"{method} ({phase}) took {elapsed:.1f} s to stop"


@pytest.mark.parametrize("est", tiny_clusterers() + [tiny_autoencoder()],
                         ids=_ids() + ["AutoEncoder"])
def test_net_forward_rows_line_up_with_X(est):
    # Eval-mode passes through the fitted net go through X in order (batch 16 < n: a
    # shuffled iterator would misalign rows), and every output can be gathered.
    import torch

    X = _data(n=100)
    est = clone(est).fit(X)
    out = est.net_.forward(X)
    module = est.net_.module_
    module.eval()
    with torch.no_grad():
        expected = module(torch.as_tensor(X))
    out, expected = (out, expected) if isinstance(out, tuple) else ((out,), (expected,))
    assert len(out) == len(expected)
    for got, want in zip(out, expected):
        if want is None:
            assert got is None
        else:
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    predicted = est.net_.predict(X)
    assert len(predicted) == len(X)
    np.testing.assert_allclose(predicted, expected[0].numpy(), rtol=1e-5, atol=1e-6)

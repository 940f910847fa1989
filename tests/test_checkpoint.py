"""Checkpoint and resume: ``checkpoint=<directory>`` on every estimator.

A checkpointed fit gives the model a plain fit gives; a fit stopped in any stage (Ctrl-C
in-process, SIGKILL of another process) resumes from its file, runs fewer epochs and
ends with the labels of the uninterrupted fit; other data or parameters never read
another fit's file; unreadable files raise a clear error.
"""

import collections
import os
import pickle
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback

import skdeepcluster._checkpoint as checkpoint_module
from skdeepcluster import (
    AutoEncoder,
    DCNClusterer,
    DECClusterer,
    DeepClusterClusterer,
    VaDEClusterer,
)
from skdeepcluster._pretraining import AutoEncoderClusterer

from _instances import tiny_autoencoder, tiny_clusterers

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

#: Epochs each fit ran, by the key of its EpochCounter (callbacks are copied by the
#: estimators, so the count lives outside them).
EPOCHS_RUN = collections.Counter()


class EpochCounter(Callback):
    def __init__(self, key):
        self.key = key

    def on_epoch_end(self, net, **kwargs):
        EPOCHS_RUN[self.key] += 1


class CtrlCAtBatch(Callback):
    """A real SIGINT (as Ctrl-C sends) after training batch ``k`` of the net, counting
    only nets whose learning rate is below ``below_lr`` when given."""

    def __init__(self, k, below_lr=None):
        self.k, self.below_lr = k, below_lr

    def initialize(self):
        self.seen_ = 0
        return self

    def on_batch_end(self, net, training=False, **kwargs):
        if self.below_lr is not None and not net.lr < self.below_lr:
            return
        self.seen_ += 1
        if self.seen_ == self.k:
            signal.raise_signal(signal.SIGINT)


@pytest.fixture(scope="module")
def X():
    from sklearn.datasets import load_digits

    return (load_digits().data[:160] / 16.0).astype(np.float32)


def _tiny(cls, gamma=0.0):
    return next(e for e in tiny_clusterers()
                if type(e) is cls and getattr(e, "gamma", 0.0) == gamma)


def _name(est):
    return type(est).__name__ + ("(gamma)" if getattr(est, "gamma", 0) else "")


#: Every estimator, plus DEC with a target update in the middle of a pass over the data
#: (the batch stream's position is saved mid-permutation) and DeepCluster on images and on
#: rows (augmentation draws from a generator of its own).
ESTIMATORS = [
    *tiny_clusterers(),
    DECClusterer(n_clusters=3, n_init=2, update_interval=3, hidden_dims=(16,), latent_dim=3,
                 pretrain_epochs=2, max_epochs=2, batch_size=16, tol=0.0, device="cpu",
                 random_state=0),
    DeepClusterClusterer(n_clusters=3, n_pseudo_clusters=6, n_init=2, image_shape=(1, 8, 8),
                         hidden_dims=(4,), latent_dim=8, max_epochs=4, batch_size=16,
                         device="cpu", random_state=0),
    # DeepCluster's MLP backbone: the noise added to its rows draws from that generator.
    DeepClusterClusterer(n_clusters=3, n_pseudo_clusters=6, n_init=2, image_shape=None,
                         hidden_dims=(16,), latent_dim=8, max_epochs=4, batch_size=16,
                         device="cpu", random_state=0),
    # The clustering phase on augmented images: its generator's state is checkpointed.
    DECClusterer(n_clusters=3, n_init=2, gamma=0.1, hidden_dims=(16,), latent_dim=3,
                 pretrain_epochs=2, max_epochs=3, batch_size=16, tol=0.0,
                 image_shape=(1, 8, 8), augment_clustering=True, device="cpu",
                 random_state=0),
    tiny_autoencoder(),
]
IDS = [_name(e) for e in ESTIMATORS[:-5]] + ["DEC(update_interval)", "DeepCluster(images)",
                                             "DeepCluster(noisy rows)",
                                             "IDEC(augmented clustering)", "AutoEncoder"]


def _result(est, X):
    """What must not change: labels and centres, or an autoencoder's embedding."""
    if isinstance(est, AutoEncoder):
        return {"Z": est.transform(X)}
    return {"labels": est.labels_, "centers": est.cluster_centers_}


def _assert_same_fit(a, b, X):
    for key, value in _result(a, X).items():
        np.testing.assert_array_equal(_result(b, X)[key], value, err_msg=key)
    assert a.n_iter_ == b.n_iter_
    assert [row["train_loss"] for row in a.history_] == [row["train_loss"] for row in
                                                         b.history_]


def _files(directory):
    return sorted(p.name for p in Path(directory).iterdir())


@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
def test_checkpointed_fit_is_the_plain_fit_and_a_finished_one_is_reused(est, X, tmp_path):
    plain = clone(est).fit(X)
    assert plain.resumed_from_ is None
    key = f"finished-{id(est)}"
    checkpointed = clone(est).set_params(checkpoint=tmp_path).fit(X)
    _assert_same_fit(plain, checkpointed, X)
    assert checkpointed.resumed_from_ is None
    (name,) = _files(tmp_path)  # one file, and no temporary file left behind
    assert name.startswith(type(est).__name__ + "-") and name.endswith(".ckpt")

    # The file holds a finished fit: fit returns it without training.
    again = clone(est).set_params(checkpoint=str(tmp_path), callbacks=[EpochCounter(key)])
    again.fit(X)
    assert EPOCHS_RUN[key] == 0
    assert again.resumed_from_ == {"path": str(tmp_path / name), "stage": "finished",
                                   "epoch": plain.n_iter_}
    _assert_same_fit(plain, again, X)


@pytest.mark.parametrize("every", [1, 10])
@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
def test_ctrl_c_then_refit_resumes_to_the_uninterrupted_result(est, every, X, tmp_path):
    plain = clone(est).set_params(tol=0.0) if "tol" in est.get_params() else clone(est)
    plain.fit(X)
    # Interrupted in its third epoch (of the clustering phase; of training for the
    # autoencoder), after two epochs' checkpoints (every=1), or before any periodic
    # write of this phase (every=10): then Ctrl-C writes the second epoch's state.
    batches = -(-len(X) // est.batch_size)
    if getattr(est, "update_interval", None):
        batches = est.update_interval
    interrupted = clone(plain).set_params(checkpoint=tmp_path, checkpoint_every=every,
                                          callbacks=[CtrlCAtBatch(2 * batches + 1)])
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(X)
    assert not hasattr(interrupted, "labels_") and not hasattr(interrupted, "net_")

    key = f"resumed-{id(est)}-{every}"
    resumed = clone(plain).set_params(checkpoint=tmp_path, checkpoint_every=every,
                                      callbacks=[EpochCounter(key)])
    resumed.fit(X)
    stage = "pretraining" if isinstance(est, AutoEncoder) else "clustering"
    assert resumed.resumed_from_["stage"] == stage
    assert resumed.resumed_from_["epoch"] == 2
    assert EPOCHS_RUN[key] == plain.n_iter_ - 2 < plain.n_iter_
    assert len(resumed.history_) == plain.n_iter_
    _assert_same_fit(plain, resumed, X)


@pytest.mark.parametrize("cls", [DECClusterer, DCNClusterer, VaDEClusterer])
def test_ctrl_c_in_pretraining_resumes_the_pretraining(cls, X, tmp_path):
    est = _tiny(cls)
    plain = clone(est).set_params(autoencoder=tiny_autoencoder()).fit(X)
    # The clusterer pretrains a clone of the unfitted autoencoder, in its own file.
    interrupted = clone(est).set_params(
        checkpoint=tmp_path, autoencoder=tiny_autoencoder(callbacks=[CtrlCAtBatch(25)]))
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(X)
    resumed = clone(est).set_params(checkpoint=tmp_path, autoencoder=tiny_autoencoder())
    resumed.fit(X)
    assert resumed.resumed_from_["stage"] == "pretraining"
    assert resumed.resumed_from_["epoch"] == 2  # 10 batches an epoch
    _assert_same_fit(plain, resumed, X)
    assert len(_files(tmp_path)) == 1


@pytest.mark.parametrize("cls", [DECClusterer, VaDEClusterer])
def test_ctrl_c_after_pretraining_resumes_from_the_pretrained_autoencoder(
        cls, X, tmp_path, monkeypatch):
    est = _tiny(cls)
    plain = clone(est).fit(X)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(AutoEncoderClusterer, "_initial_clustering", interrupt)
        with pytest.raises(KeyboardInterrupt):
            clone(est).set_params(checkpoint=tmp_path).fit(X)
    resumed = clone(est).set_params(checkpoint=tmp_path).fit(X)
    assert resumed.resumed_from_["stage"] == "pretrained"
    _assert_same_fit(plain, resumed, X)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("retry_occupied", [3, 0], ids=["retry-kept", "first-kept"])
def test_vade_resumes_its_restart_after_a_collapse(retry_occupied, X, tmp_path,
                                                   monkeypatch):
    # The first run "collapses" (1 of 3 components occupied); its restart at lr / 10
    # is interrupted and resumed. Either run may be kept in the end: the first one is
    # then rebuilt from the checkpoint. tol=0: the restart runs all its epochs, so that
    # its batch 25 comes whatever the embedding it starts from.
    est = _tiny(VaDEClusterer).set_params(tol=0.0)
    occupied = []
    monkeypatch.setattr(VaDEClusterer, "_occupied", lambda self, labels: occupied.pop(0))

    occupied[:] = [1, retry_occupied]
    plain = clone(est).fit(X)
    occupied[:] = [1]
    with pytest.raises(KeyboardInterrupt):
        clone(est).set_params(checkpoint=tmp_path,
                              callbacks=[CtrlCAtBatch(25, below_lr=est.lr)]).fit(X)
    occupied[:] = [retry_occupied]
    resumed = clone(est).set_params(checkpoint=tmp_path).fit(X)
    assert resumed.resumed_from_["stage"] == "clustering"
    assert occupied == []
    assert resumed.lr_ == plain.lr_ == (est.lr / 10 if retry_occupied else est.lr)
    _assert_same_fit(plain, resumed, X)
    np.testing.assert_array_equal(resumed.means_, plain.means_)


_KILLED_SCRIPT = textwrap.dedent("""
    import pickle, sys, time
    import numpy as np
    import torch
    from skorch.callbacks import Callback

    torch.set_num_threads(1)
    est_path, X_path, directory, k = sys.argv[1:5]
    k = int(k)

    class HoldAtEpoch(Callback):
        # When epoch k + 1 begins, epoch k's checkpoint is written: say so and wait.
        def on_epoch_begin(self, net, **kwargs):
            if len(net.history) == k + 1:
                print("EPOCH", k, flush=True)
                time.sleep(600)

    with open(est_path, "rb") as f:
        est = pickle.load(f)
    est.set_params(checkpoint=directory, callbacks=[HoldAtEpoch()])
    est.fit(np.load(X_path))
    print("FINISHED", flush=True)
""")


@pytest.mark.parametrize("est", [_tiny(DECClusterer), _tiny(VaDEClusterer)],
                         ids=["DECClusterer", "VaDEClusterer"])
def test_sigkill_in_the_clustering_phase_then_refit_resumes(est, X, tmp_path):
    est = clone(est).set_params(tol=0.0)
    plain = clone(est).fit(X)
    (tmp_path / "est.pkl").write_bytes(pickle.dumps(est))
    np.save(tmp_path / "X.npy", X)
    (tmp_path / "fit.py").write_text(_KILLED_SCRIPT)
    directory = tmp_path / "checkpoints"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "fit.py"), str(tmp_path / "est.pkl"),
         str(tmp_path / "X.npy"), str(directory), "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "EPOCH 2", proc.stderr.read()
        assert len(_files(directory)) == 1
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    key = f"killed-{id(est)}"
    resumed = clone(est).set_params(checkpoint=directory, callbacks=[EpochCounter(key)])
    resumed.fit(X)
    assert resumed.resumed_from_["stage"] == "clustering"
    assert resumed.resumed_from_["epoch"] == 2
    assert EPOCHS_RUN[key] == plain.n_iter_ - 2
    _assert_same_fit(plain, resumed, X)


def test_other_data_or_parameters_start_afresh(X, tmp_path):
    est = clone(_tiny(DCNClusterer)).set_params(checkpoint=tmp_path, max_epochs=2)
    first = clone(est).fit(X)
    assert len(_files(tmp_path)) == 1

    X_other = X.copy()
    X_other[-1, -1] += 0.5  # one value differs
    for params, data, stage in [({"n_clusters": 2}, X, None),
                                ({"lam": 0.5}, X, None),
                                ({"hidden_dims": [16]}, X, "finished"),  # same as (16,)
                                ({}, X_other, None),
                                ({}, X.astype(np.float64), None)]:
        other = clone(est).set_params(**params).fit(data)
        assert (other.resumed_from_ or {}).get("stage") == stage, (params, data.dtype)
    assert len(_files(tmp_path)) == 5

    # What does not change the result does not change the file either.
    same = clone(est).set_params(verbose=1, checkpoint_every=3, checkpoint=str(tmp_path),
                                 callbacks=[EpochCounter("x")]).fit(X)
    assert same.resumed_from_["stage"] == "finished"
    np.testing.assert_array_equal(same.labels_, first.labels_)


def test_a_file_renamed_to_another_fingerprint_is_refused(X, tmp_path):
    est = _tiny(DECClusterer)
    est = clone(est).set_params(checkpoint=tmp_path, max_epochs=1)
    clone(est).fit(X)
    (name,) = _files(tmp_path)
    clone(est).set_params(n_clusters=2).fit(X)
    other = next(n for n in _files(tmp_path) if n != name)
    os.replace(tmp_path / name, tmp_path / other)
    with pytest.raises(ValueError, match="holds the state of another fit"):
        clone(est).set_params(n_clusters=2).fit(X)


def test_fingerprint_follows_fitted_autoencoders_and_random_states(X):
    est = _tiny(DECClusterer)
    fp = checkpoint_module.fingerprint
    a = tiny_autoencoder(max_epochs=1).fit(X)
    b = tiny_autoencoder(max_epochs=1).fit(X[::-1].copy())  # same parameters, other weights
    assert fp(clone(est).set_params(autoencoder=a), X) != fp(
        clone(est).set_params(autoencoder=b), X)
    assert fp(clone(est).set_params(autoencoder=a), X) == fp(
        clone(est).set_params(autoencoder=a), X)
    rs = np.random.RandomState(0)
    assert fp(clone(est).set_params(random_state=rs), X) == fp(
        clone(est).set_params(random_state=np.random.RandomState(0)), X)
    rs.rand()
    assert fp(clone(est).set_params(random_state=rs), X) != fp(
        clone(est).set_params(random_state=np.random.RandomState(0)), X)


def test_data_digest_covers_every_row_in_every_block(monkeypatch, tmp_path):
    from skdeepcluster._data import ArraySource

    digest = checkpoint_module.data_digest
    X = np.random.RandomState(0).rand(500, 4)
    whole = digest(X)
    monkeypatch.setattr(checkpoint_module, "_HASH_BLOCK_BYTES", 320)  # blocks of 10 rows
    assert digest(X) == whole  # the digest does not depend on the blocks
    assert digest(np.asfortranarray(X)) == whole
    for row in (0, 9, 10, 257, 499):  # version 1 sampled the rows above 16 MiB
        Y = X.copy()
        Y[row, 3] = np.nextafter(Y[row, 3], 2.0)
        assert digest(Y) != whole, row
    assert digest(X[:-1]) != whole and digest(X.astype(np.float32)) != whole
    monkeypatch.undo()
    big = np.zeros((2300, 1000))  # 18 MB: version 1 hashed 1,024 of its rows
    before = digest(big)
    big[1, 0] = 1.0
    assert digest(big) != before

    path = tmp_path / "X.dat"
    mm = np.memmap(path, dtype=np.float64, mode="w+", shape=X.shape)
    mm[:] = X
    mm.flush()
    stored = digest(ArraySource(np.memmap(path, dtype=np.float64, mode="r", shape=X.shape),
                                dtype=np.float32))
    mm[257, 1] += 1
    mm.flush()
    changed = digest(ArraySource(np.memmap(path, dtype=np.float64, mode="r",
                                           shape=X.shape), dtype=np.float32))
    assert changed != stored


def test_a_finished_checkpoint_is_not_reused_for_data_changed_in_one_row(tmp_path):
    # 17 MB: version 1 fingerprinted data above 16 MiB by 1,024 sampled rows, and a
    # finished fit of the changed data resumed from the first one's file.
    big = np.random.RandomState(0).rand(4300, 1000).astype(np.float32)
    est = clone(_tiny(DECClusterer)).set_params(checkpoint=tmp_path, pretrain_epochs=1,
                                                max_epochs=1, batch_size=256)
    clone(est).fit(big)
    big[1, 0] += 0.5  # not one of version 1's sampled rows (0, 4, 8, ...)
    again = clone(est).fit(big)
    assert again.resumed_from_ is None
    assert len(_files(tmp_path)) == 2


def test_grid_search_candidates_share_the_directory_in_parallel(X, tmp_path):
    est = _tiny(DECClusterer)
    est = clone(est).set_params(max_epochs=2)
    grid = {"n_clusters": [2, 3]}
    plain = GridSearchCV(est, grid, cv=2).fit(X)
    shared = GridSearchCV(clone(est).set_params(checkpoint=tmp_path), grid, cv=2,
                          n_jobs=2).fit(X)
    # 2 candidates x 2 splits + the refit: one file each, all finished.
    assert len(_files(tmp_path)) == 5
    np.testing.assert_allclose(shared.cv_results_["mean_test_score"],
                               plain.cv_results_["mean_test_score"], rtol=1e-5)
    np.testing.assert_array_equal(shared.best_estimator_.labels_,
                                  plain.best_estimator_.labels_)
    again = GridSearchCV(clone(est).set_params(checkpoint=tmp_path), grid, cv=2).fit(X)
    assert again.best_estimator_.resumed_from_["stage"] == "finished"
    np.testing.assert_array_equal(again.cv_results_["mean_test_score"],
                                  shared.cv_results_["mean_test_score"])


@pytest.mark.parametrize("damage", ["truncated", "garbage", "foreign", "empty"])
def test_unreadable_checkpoint_raises_a_clear_error(damage, X, tmp_path):
    est = clone(tiny_autoencoder(max_epochs=2)).set_params(checkpoint=tmp_path)
    est.fit(X)
    (name,) = _files(tmp_path)
    path = tmp_path / name
    content = path.read_bytes()
    path.write_bytes({"truncated": content[:len(content) // 2], "garbage": b"\x00" * 64,
                      "empty": b""}.get(damage, b""))
    if damage == "foreign":
        torch.save({"weights": torch.zeros(3)}, path)
    refit = clone(est)
    message = ("not an skdeepcluster checkpoint" if damage == "foreign"
               else "truncated or corrupt")
    with pytest.raises(ValueError, match=message) as info:
        refit.fit(X)
    assert str(path) in str(info.value) and "Delete it" in str(info.value)
    error = info.value  # no torch/pickle traceback attached
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__
    assert not hasattr(refit, "net_")


def test_checkpoint_naming_a_file_raises_a_clear_error(X, tmp_path):
    est = tiny_autoencoder(max_epochs=2).fit(X)
    before = est.transform(X)
    path = tmp_path / "model.ckpt"
    path.write_bytes(b"not a directory")
    with pytest.raises(ValueError, match=r"checkpoint=.*model\.ckpt.* is not a directory"):
        est.set_params(checkpoint=path).fit(X)
    # A directory under that file cannot be created either.
    with pytest.raises(ValueError, match=r"checkpoint=.*model\.ckpt.sub.* is not a directory"):
        est.set_params(checkpoint=path / "sub").fit(X)
    assert path.read_bytes() == b"not a directory"  # left as it was
    np.testing.assert_array_equal(est.transform(X), before)  # the fitted model is kept


def test_a_failed_write_keeps_the_previous_checkpoint(X, tmp_path, monkeypatch):
    est = clone(tiny_autoencoder(max_epochs=3)).set_params(checkpoint=tmp_path)
    save, calls = torch.save, []

    def fails_the_second_time(obj, f, *args, **kwargs):
        calls.append(obj["payload"]["epoch"])
        if len(calls) == 2:  # the process dies in the middle of writing epoch 2
            f.write(b"partial")
            raise OSError("No space left on device")
        return save(obj, f, *args, **kwargs)

    monkeypatch.setattr(checkpoint_module.torch, "save", fails_the_second_time)
    with pytest.raises(OSError, match="No space left"):
        clone(est).fit(X)
    monkeypatch.undo()
    assert calls == [1, 2]
    (name,) = _files(tmp_path)  # no temporary file left behind
    resumed = clone(est).fit(X)
    assert resumed.resumed_from_["epoch"] == 1
    _assert_same_fit(clone(est).set_params(checkpoint=None).fit(X), resumed, X)


def test_checkpoint_every_sets_the_writes(X, tmp_path, monkeypatch):
    writes = []
    original = checkpoint_module.Checkpoint.save

    def recording(self, stage, payload):
        writes.append((stage, payload.get("epoch")))
        return original(self, stage, payload)

    monkeypatch.setattr(checkpoint_module.Checkpoint, "save", recording)
    est = _tiny(DECClusterer)
    clone(est).set_params(checkpoint=tmp_path, checkpoint_every=2, tol=0.0).fit(X)
    assert writes == [("pretraining", 2), ("pretraining", 4), ("pretraining", 5),
                      ("pretrained", None),
                      ("clustering", 0), ("clustering", 2), ("clustering", 4),
                      ("clustering", 5), ("finished", 5)]


def test_clone_and_pickle_with_a_checkpoint(X, tmp_path):
    est = _tiny(DCNClusterer)
    est = clone(est).set_params(checkpoint=tmp_path, checkpoint_every=2, max_epochs=2)
    copy = clone(est)
    assert copy.get_params()["checkpoint"] == tmp_path
    assert copy.get_params()["checkpoint_every"] == 2
    assert pickle.loads(pickle.dumps(est)).get_params() == est.get_params()
    est.fit(X)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.predict(X), est.predict(X))
    assert restored.resumed_from_ is None
    assert clone(restored).fit(X).resumed_from_["stage"] == "finished"


def test_random_state_none_resumes_with_the_seed_it_drew(X, tmp_path):
    est = _tiny(DECClusterer)
    est = clone(est).set_params(random_state=None, checkpoint=tmp_path, tol=0.0)
    with pytest.raises(KeyboardInterrupt):
        clone(est).set_params(callbacks=[CtrlCAtBatch(25)]).fit(X)
    resumed = clone(est).fit(X)
    assert resumed.resumed_from_["stage"] == "clustering"
    again = clone(est).fit(X)  # the finished fit, not a new random one
    np.testing.assert_array_equal(again.labels_, resumed.labels_)

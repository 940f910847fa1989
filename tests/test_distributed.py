"""Data-parallel training across processes through Accelerate (issue 16, part 1).

``_data_parallel_fit.py`` fits an AutoEncoder, IDEC, VaDE and DeepCluster on 320 digits
with batch 32 (10 batches per pass), once as two CPU processes started by
``torchrun`` (Accelerate sets up their process group) and once as a plain single process. What could fail: a process
that takes every batch instead of its half (the batch source not sharded), processes
that end with different weights, centres or labels (gradients not averaged, full-data
passes not gathered, seeds not shared), a collective that one process never reaches (a
hang, caught by the timeout), and a model saved by rank 0 that needs the process group
to predict.
"""

import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits

from skdeepcluster import DCNClusterer, DECClusterer
from skdeepcluster import _base, _dcn, _distributed
from skdeepcluster._distributed import shard_batches

pytest.importorskip("accelerate")

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "_data_parallel_fit.py")
NAMES = ("ae", "idec", "vade", "deepcluster")
X = (load_digits().data[:320] / 16).astype(np.float32)


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return env


def _run(cmd, out):
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = sorted(f for f in os.listdir(out) if f.startswith("rank"))
    return [json.load(open(os.path.join(out, f))) for f in ranks]


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("two_processes"))
    # torchrun (gloo on the CPU); `accelerate launch --cpu` starts one process only
    # (Accelerate's multi-CPU launches go through MPI).
    # --standalone: a rendezvous on a free local port.
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           "--nproc_per_node", "2", SCRIPT, out]
    return _run(cmd, out), out


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("one_process"))
    return _run([sys.executable, SCRIPT, out], out)


def test_two_processes_each_take_half_the_batches(launched):
    records, _ = launched
    assert [r["rank"] for r in records] == [0, 1]
    assert all(r["world_size"] == 2 for r in records)
    for r in records:
        for name in NAMES:
            # 320 rows in batches of 32: 10 batches per pass, 5 for each process.
            assert r[name]["world_sizes"] == [2] * len(r[name]["world_sizes"]), name
            if name == "ae":
                assert r[name]["n_batches"] == [5, 5, 5]
            elif name == "vade":
                assert r[name]["n_batches"] == [5, 5]
        # IDEC's epochs are its target-refresh intervals (one pass: 5 batches each);
        # DeepCluster samples a pass uniformly over its pseudo-labels (320 rows).
        assert set(r["idec"]["n_batches"]) == {5}
        assert set(r["deepcluster"]["n_batches"]) == {5}


def test_single_process_records_no_sharding(single):
    (record,) = single
    assert record["world_size"] == 1
    for name in NAMES:
        assert set(record[name]["n_batches"]) == {None}


def test_processes_end_with_the_same_model(launched):
    (r0, r1), _ = launched
    for name in NAMES:
        np.testing.assert_allclose(r0[name]["transform"], r1[name]["transform"], rtol=0,
                                   atol=1e-6, err_msg=name)
        if name != "ae":
            assert r0[name]["labels"] == r1[name]["labels"], name
            np.testing.assert_allclose(r0[name]["centers"], r1[name]["centers"], atol=1e-6)
            assert len(set(r0[name]["labels"])) > 1


def test_model_saved_by_rank_0_predicts_in_a_single_process(launched):
    (r0, _), out = launched
    with open(os.path.join(out, "models.pkl"), "rb") as f:
        fits = pickle.load(f)
    for name in NAMES:
        est = fits[name]
        np.testing.assert_allclose(est.transform(X[:20]), r0[name]["transform"], atol=1e-6)
        if name != "ae":
            labels = est.predict(X)
            agree = np.mean(labels == np.asarray(r0[name]["labels"]))
            assert agree > 0.95, (name, agree)


def test_two_processes_train_like_one_process_with_twice_the_batch(launched, single):
    # Process r takes batches r, r + 2, ... of 32 rows of the same shuffled order and the
    # gradients are averaged: each step is the mean gradient of 64 consecutive rows of
    # that order, which is what one process with batch 64 computes (float32 throughout;
    # only the order of the additions differs).
    (r0, r1), _ = launched
    (one,) = single
    np.testing.assert_allclose(r0["ae"]["transform"], one["ae_batch64"]["transform"],
                               rtol=1e-4, atol=1e-4)
    # Each process records the loss of its own batches; their mean is the 64 rows' loss.
    mean_loss = (np.asarray(r0["ae"]["loss"]) + np.asarray(r1["ae"]["loss"])) / 2
    np.testing.assert_allclose(mean_loss, one["ae_batch64"]["loss"], rtol=1e-5)
    # ... and not what one process with batch 32 computes.
    assert not np.allclose(r0["ae"]["transform"], one["ae"]["transform"], atol=1e-3)


@pytest.mark.parametrize("n_batches,size", [(10, 2), (7, 2), (7, 3), (2, 3)])
def test_shards_are_equal_sized_and_cover_the_pass(monkeypatch, n_batches, size):
    batches = [(i, i + 1) for i in range(n_batches)]
    shards = []
    for rank in range(size):
        monkeypatch.setattr(_distributed, "world", lambda rank=rank: (rank, size))
        shards.append(shard_batches(batches))
    per = -(-n_batches // size)
    assert all(len(s) == per for s in shards)
    assert {b for s in shards for b in s} == set(batches)
    assert shards[0][0] == batches[0] and shards[1][0] == batches[1]


def test_launched_without_accelerate_names_the_extra(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setitem(sys.modules, "accelerate", None)
    with pytest.raises(ImportError, match=r"skdeepcluster\[distributed\]"):
        DECClusterer(n_clusters=2, pretrain_epochs=0, max_epochs=0).fit(X[:20])


def test_dcn_refuses_data_parallel_training(monkeypatch):
    monkeypatch.setattr(_dcn, "world_size", lambda: 2)
    with pytest.raises(ValueError, match="data-parallel"):
        DCNClusterer(n_clusters=2, hidden_dims=(8,), pretrain_epochs=0,
                     max_epochs=1).fit(X[:40])


def test_checkpoint_refused_in_a_multi_process_fit(monkeypatch, tmp_path):
    monkeypatch.setattr(_base, "world_size", lambda: 2)
    est = DECClusterer(n_clusters=2, pretrain_epochs=0, max_epochs=0,
                       checkpoint=tmp_path / "fit.ckpt")
    with pytest.raises(ValueError, match="checkpoint"):
        est.fit(X[:20])
    assert not hasattr(est, "labels_")

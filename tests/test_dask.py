"""Search and inference on Dask (issue 16).

A ``GridSearchCV`` under ``joblib.parallel_backend("dask")`` on a
``distributed.LocalCluster`` and ``dask_ml.wrappers.ParallelPostFit`` on chunked Dask
arrays give what the in-memory, single-process runs give. Both ship fitted (or unfitted)
estimators to the worker processes by pickle.

The cluster has two worker *processes* with one thread each: in one process two fits
running in threads would share torch's global RNG (each fit seeds it inside
``torch.random.fork_rng``), so threaded workers are not reproducible.
"""

import logging
import os
import pickle
import time
from operator import methodcaller

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.model_selection import GridSearchCV

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
wrappers = pytest.importorskip("dask_ml.wrappers")
psutil = pytest.importorskip("psutil")  # a dependency of distributed

from _instances import tiny_autoencoder, tiny_clusterers  # noqa: E402

from skdeepcluster import DECClusterer  # noqa: E402
from skdeepcluster.metrics import ari_scorer  # noqa: E402

ESTIMATORS = [tiny_autoencoder(), *tiny_clusterers()]
IDS = ["AE", "DEC", "IDEC", "DCN", "DeepCluster", "VaDE"]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """Two single-threaded worker processes, closed (and checked gone) after the module."""
    # Scheduler and workers keep their scratch space under pytest's temporary directory.
    scratch = {"temporary-directory": str(tmp_path_factory.mktemp("dask"))}
    with dask.config.set(scratch), distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as cluster, distributed.Client(cluster) as c:
        c.wait_for_workers(2)
        worker_pids = set(c.run(os.getpid).values())
        yield c
    # No worker process outlives the cluster.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(map(psutil.pid_exists, worker_pids)):
        time.sleep(0.1)
    assert not any(map(psutil.pid_exists, worker_pids)), "worker processes left running"


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=120, centers=3, n_features=6, random_state=0)
    return X.astype(np.float32), y


@pytest.fixture(scope="module", params=ESTIMATORS, ids=IDS)
def fitted(request, blobs):
    return clone(request.param).fit(blobs[0])


def _workers_that_ran(client, compute):
    """Run ``compute()`` and return its result and the set of workers that ran tasks."""
    with distributed.get_task_stream(client) as stream:
        result = compute()
    return result, {task["worker"] for task in stream.data}


def _search():
    dec = DECClusterer(n_clusters=3, hidden_dims=(16,), latent_dim=3, batch_size=16,
                       pretrain_epochs=5, max_epochs=5, n_init=3, device="cpu",
                       random_state=0)
    return GridSearchCV(dec, {"n_clusters": [2, 3, 4]}, scoring=ari_scorer, cv=2)


def test_grid_search_on_dask_equals_the_local_search(client, blobs):
    X, y = blobs
    local = _search().set_params(n_jobs=1).fit(X, y)

    def remote_fit():
        with joblib.parallel_backend("dask", client=client):
            return _search().set_params(n_jobs=-1).fit(X, y)

    remote, workers = _workers_that_ran(client, remote_fit)
    # The 6 fits (3 candidates x 2 folds) and their scoring ran on the cluster.
    assert workers and workers <= set(client.scheduler_info()["workers"])

    # Scores that tell the candidates apart, so best_params_ means something.
    assert len(set(local.cv_results_["mean_test_score"])) == 3
    for key, value in local.cv_results_.items():
        if key.startswith(("split", "mean_test", "std_test", "rank_test")):
            np.testing.assert_allclose(remote.cv_results_[key], value, rtol=0, atol=1e-12,
                                       err_msg=key)
    assert remote.cv_results_["params"] == local.cv_results_["params"]
    assert remote.best_params_ == local.best_params_
    assert remote.best_score_ == pytest.approx(local.best_score_, abs=1e-12)
    # The refit (on the client) is the same model.
    np.testing.assert_array_equal(remote.predict(X), local.predict(X))


def _dask_X(X):
    X_da = da.from_array(X, chunks=(50, X.shape[1]))  # blocks of 50, 50 and 20 rows
    assert X_da.numblocks == (3, 1)
    return X_da


@pytest.mark.parametrize("method", ["predict", "transform"])
def test_parallel_post_fit_on_a_dask_array_equals_in_memory(client, fitted, blobs, method):
    X, _ = blobs
    post = wrappers.ParallelPostFit(fitted)
    if not hasattr(fitted, method):  # AutoEncoder only transforms
        with pytest.raises(AttributeError):
            getattr(post, method)(_dask_X(X))
        return
    lazy = getattr(post, method)(_dask_X(X))
    assert isinstance(lazy, da.Array) and lazy.numblocks[0] == 3
    result, workers = _workers_that_ran(client, lambda: client.compute(lazy).result())
    assert workers  # the blocks were computed on the workers, not in this process

    expected = getattr(fitted, method)(X)
    assert result.shape == expected.shape and result.dtype == expected.dtype
    if method == "predict":
        np.testing.assert_array_equal(result, expected)
    else:
        np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)


def test_parallel_post_fit_fits_locally_then_predicts_on_dask(client, blobs):
    """The documented use: fit through the wrapper in memory, predict on Dask."""
    X, _ = blobs
    post = wrappers.ParallelPostFit(clone(ESTIMATORS[1])).fit(X)
    labels = client.compute(post.predict(_dask_X(X))).result()
    np.testing.assert_array_equal(labels, post.labels_)
    np.testing.assert_array_equal(labels, post.estimator.predict(X))


def test_map_blocks_with_output_chunks_equals_in_memory(client, fitted, blobs):
    """The route the user guide gives where ParallelPostFit falls short: its
    ``transform`` keeps the input's column chunks as the lazy shape (the latent width is
    known only after computing), and its ``predict_proba`` needs ``classes_``, which
    clusterers lack. ``map_blocks`` with the output chunks spelled out has the right
    lazy shape and the in-memory values."""
    X, _ = blobs
    X_da = _dask_X(X)
    widths = {"transform": len(fitted.get_feature_names_out())}
    if hasattr(fitted, "predict_proba"):
        widths["predict_proba"] = fitted.n_clusters
    for method, width in widths.items():
        lazy = X_da.map_blocks(getattr(fitted, method), dtype=np.float32,
                               chunks=(X_da.chunks[0], (width,)))
        expected = getattr(fitted, method)(X)
        assert lazy.shape == expected.shape, method
        result = client.compute(lazy).result()
        assert result.dtype == expected.dtype, method
        np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6, err_msg=method)


def _outputs(est, X):
    methods = [m for m in ("predict", "transform", "predict_proba") if hasattr(est, m)]
    return {m: getattr(est, m)(X) for m in methods}


def test_pickled_estimator_predicts_the_same(client, fitted, blobs):
    X, _ = blobs
    expected = _outputs(fitted, X)
    assert expected

    restored = pickle.loads(pickle.dumps(fitted))
    outputs = _outputs(restored, X)
    assert outputs.keys() == expected.keys()
    for method, value in outputs.items():
        np.testing.assert_array_equal(value, expected[method], err_msg=method)

    # What a worker does: receive the estimator serialized by distributed (pickle
    # protocol 5, buffers out of band) and run it in its own process.
    futures = {m: client.submit(methodcaller(m, X), fitted, pure=False) for m in expected}
    for method, future in futures.items():
        np.testing.assert_array_equal(future.result(), expected[method], err_msg=method)

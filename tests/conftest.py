import os

# scikit-learn's array-API common check (NumPy input with dispatch enabled) runs only
# when SciPy's array API support is switched on before SciPy is imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

# Two OpenMP runtimes (torch's and scikit-learn's) spin against each other on small
# machines; tests run single-threaded.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)


@pytest.fixture
def digits():
    """A slice of scikit-learn's digits scaled to [0, 1] (float32)."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X[:400] / 16.0).astype("float32"), y[:400]

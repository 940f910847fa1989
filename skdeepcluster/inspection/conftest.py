"""The doctests of the displays draw off-screen (Agg); without matplotlib they are skipped."""

import pytest

try:
    import matplotlib
except ImportError:
    matplotlib = None
    collect_ignore_glob = ["_*.py"]
else:
    matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    if matplotlib is not None:
        import matplotlib.pyplot as plt

        plt.close("all")

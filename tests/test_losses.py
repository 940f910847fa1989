"""Properties of the pure loss/assignment functions, checked against direct numpy formulas."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skdeepcluster._losses import (
    kl_divergence,
    reconstruction_loss,
    squared_distances,
    student_t_assignment,
    target_distribution,
)

SETTINGS = settings(max_examples=30, deadline=None)

coords = st.floats(-10, 10, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def points_and_centers(draw):
    n = draw(st.integers(1, 12))
    k = draw(st.integers(1, 6))
    d = draw(st.integers(1, 4))
    z = draw(arrays(np.float64, (n, d), elements=coords))
    c = draw(arrays(np.float64, (k, d), elements=coords))
    alpha = draw(st.floats(0.1, 10.0))
    return z, c, alpha


@st.composite
def soft_assignments(draw, min_k=1):
    """Row-stochastic matrices with strictly positive entries (as Student-t q always is)."""
    n = draw(st.integers(1, 12))
    k = draw(st.integers(min_k, 6))
    w = draw(arrays(np.float64, (n, k), elements=st.floats(1e-3, 1.0)))
    return w / w.sum(1, keepdims=True)


def _numpy_student_t(z, c, alpha):
    d2 = ((z[:, None, :] - c[None, :, :]) ** 2).sum(-1)
    kernel = (1.0 + d2 / alpha) ** (-(alpha + 1.0) / 2.0)
    return kernel / kernel.sum(1, keepdims=True)


def _entropy(p):
    return -(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)).sum(-1)


@SETTINGS
@given(points_and_centers())
def test_student_t_rows_are_distributions_and_match_formula(data):
    z, c, alpha = data
    q = student_t_assignment(torch.from_numpy(z), torch.from_numpy(c), alpha).numpy()
    assert q.shape == (len(z), len(c))
    assert np.all(q >= 0)
    np.testing.assert_allclose(q.sum(1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(q, _numpy_student_t(z, c, alpha), rtol=1e-9, atol=1e-15)


@SETTINGS
@given(points_and_centers())
def test_student_t_prefers_nearer_centres(data):
    # The kernel decreases with distance: the largest q is at the nearest centre.
    z, c, alpha = data
    q = student_t_assignment(torch.from_numpy(z), torch.from_numpy(c), alpha).numpy()
    d2 = squared_distances(torch.from_numpy(z), torch.from_numpy(c)).numpy()
    chosen = q.argmax(1)
    np.testing.assert_allclose(d2[np.arange(len(z)), chosen], d2.min(1), rtol=1e-9, atol=1e-12)


def test_student_t_far_points_float32_stays_finite():
    # Log-space computation: distances whose kernel underflows in float32 still give a
    # proper distribution (a naive (1 + d^2)^-1 normalisation would be 0/0 for alpha large).
    z = torch.tensor([[1e4, 0.0]], dtype=torch.float32)
    c = torch.tensor([[0.0, 0.0], [0.0, 1.0], [-1e4, 0.0]], dtype=torch.float32)
    q = student_t_assignment(z, c, alpha=50.0)
    assert torch.isfinite(q).all()
    assert torch.allclose(q.sum(1), torch.ones(1))
    assert q[0].argmin() == 2


@SETTINGS
@given(soft_assignments())
def test_target_distribution_matches_formula(q):
    p = target_distribution(torch.from_numpy(q)).numpy()
    w = q ** 2 / q.sum(0)
    expected = w / w.sum(1, keepdims=True)
    assert np.all(p >= 0)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-12)
    np.testing.assert_allclose(p, expected, rtol=1e-9, atol=1e-15)


@SETTINGS
@given(arrays(np.float64, st.integers(1, 6), elements=st.floats(1e-3, 1.0)))
def test_target_distribution_sharpens_with_balanced_frequencies(row):
    # Stack every cyclic shift of one row: all cluster frequencies f_j are then equal, so
    # p_ij ∝ q_ij^2. For the escort distribution q^2/sum(q^2):
    #  * max p = q_max^2 / sum q_j^2 >= q_max, because sum q_j^2 <= q_max * sum q_j = q_max;
    #  * H(p) <= H(q), because the entropy of q^b/sum(q^b) is non-increasing in b
    #    (dH/db = -b * Var_{p_b}(log q) <= 0).
    # With unbalanced f neither holds in general, hence the construction.
    row = row / row.sum()
    k = len(row)
    q = np.stack([np.roll(row, s) for s in range(k)])
    np.testing.assert_allclose(q.sum(0), q.sum(0)[0])
    p = target_distribution(torch.from_numpy(q)).numpy()
    assert np.all(p.max(1) >= q.max(1) - 1e-12)
    assert np.all(_entropy(p) <= _entropy(q) + 1e-12)
    # Sharpening keeps the most likely cluster of each row the most likely one.
    rows = np.arange(k)
    np.testing.assert_allclose(p[rows, q.argmax(1)], p.max(1), rtol=1e-12)


def test_target_distribution_counteracts_large_clusters():
    # Two rows with the same q but a big cluster 0: dividing by f_j moves mass to cluster 1.
    q = torch.tensor([[0.5, 0.5], [0.9, 0.1], [0.9, 0.1], [0.9, 0.1]], dtype=torch.float64)
    p = target_distribution(q)
    assert p[0, 1] > p[0, 0]


@SETTINGS
@given(soft_assignments(), st.data())
def test_kl_divergence_matches_numpy_and_is_nonnegative(p, data):
    q = data.draw(arrays(np.float64, p.shape, elements=st.floats(1e-3, 1.0)))
    q = q / q.sum(1, keepdims=True)
    kl = float(kl_divergence(torch.from_numpy(p), torch.from_numpy(q)))
    expected = np.sum(p * np.log(p / q)) / len(p)
    assert kl == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert kl >= -1e-12  # Gibbs' inequality


@SETTINGS
@given(soft_assignments())
def test_kl_divergence_of_identical_distributions_is_zero(p):
    t = torch.from_numpy(p)
    assert float(kl_divergence(t, t.clone())) == pytest.approx(0.0, abs=1e-12)


def test_kl_divergence_handles_zeros_in_p():
    # 0 log 0 = 0: a zero in p contributes nothing (and no NaN appears).
    p = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    q = torch.tensor([[0.5, 0.5]], dtype=torch.float64)
    assert float(kl_divergence(p, q)) == pytest.approx(np.log(2.0))


def test_kl_divergence_gradient_is_finite_with_zero_q():
    q = torch.tensor([[1.0, 0.0]], dtype=torch.float64, requires_grad=True)
    p = torch.tensor([[0.5, 0.5]], dtype=torch.float64)
    loss = kl_divergence(p, q)
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(q.grad).all()


@SETTINGS
@given(arrays(np.float64, (5, 3), elements=coords), arrays(np.float64, (5, 3), elements=coords))
def test_reconstruction_squared_error_matches_numpy(a, b):
    got = float(reconstruction_loss(torch.from_numpy(a), torch.from_numpy(b)))
    assert got == pytest.approx(np.mean((a - b) ** 2), rel=1e-12, abs=1e-12)


@SETTINGS
@given(arrays(np.float64, (5, 3), elements=coords), arrays(np.float64, (5, 3), elements=coords))
def test_reconstruction_huber_error_matches_numpy(a, b):
    got = float(reconstruction_loss(torch.from_numpy(a), torch.from_numpy(b), "huber"))
    r = np.abs(a - b)
    expected = np.mean(np.where(r <= 1.0, r ** 2, 2.0 * r - 1.0))
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert got <= np.mean((a - b) ** 2) + 1e-12


def test_huber_error_gradient_is_bounded():
    output = torch.tensor([0.5, 3.0, -100.0], dtype=torch.float64, requires_grad=True)
    reconstruction_loss(output, torch.zeros(3, dtype=torch.float64), "huber").backward()
    # 2r / n within the threshold, 2 sign(r) / n beyond it
    torch.testing.assert_close(output.grad, torch.tensor([1.0, 2.0, -2.0],
                                                         dtype=torch.float64) / 3)


@SETTINGS
@given(arrays(np.float64, (5, 3), elements=st.floats(-30, 30)),
       arrays(np.float64, (5, 3), elements=st.floats(0, 1)))
def test_reconstruction_binary_cross_entropy_matches_numpy(logits, x):
    got = float(reconstruction_loss(torch.from_numpy(logits), torch.from_numpy(x),
                                    "binary_cross_entropy"))
    # log p and log(1 - p) in a form that stays finite for |logits| up to 30
    log_p, log_1mp = -np.logaddexp(0.0, -logits), -np.logaddexp(0.0, logits)
    expected = -np.mean(x * log_p + (1 - x) * log_1mp)
    assert got == pytest.approx(expected, rel=1e-10, abs=1e-12)

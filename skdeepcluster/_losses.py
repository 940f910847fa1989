"""Losses and assignment functions as pure torch functions (no state, no modules)."""

import torch


def squared_distances(z, centers):
    """Squared Euclidean distances, shape ``(n_samples, n_clusters)``."""
    return (z.unsqueeze(1) - centers.unsqueeze(0)).pow(2).sum(-1)


def student_t_assignment(z, centers, alpha=1.0):
    """DEC's soft assignment ``q_ij ∝ (1 + ||z_i - mu_j||^2 / alpha)^(-(alpha + 1) / 2)``.

    Computed in log space and normalised with a softmax, so rows sum to one exactly and
    nothing overflows for distant points.
    """
    log_kernel = -(alpha + 1.0) / 2.0 * torch.log1p(squared_distances(z, centers) / alpha)
    return torch.softmax(log_kernel, dim=1)


def target_distribution(q):
    """DEC's auxiliary target ``p_ij ∝ q_ij^2 / f_j`` with ``f_j = sum_i q_ij``.

    ``q`` must be the soft assignments of the whole dataset: ``f_j`` is a dataset-wide
    cluster frequency.
    """
    weight = q.pow(2) / q.sum(0).clamp_min(torch.finfo(q.dtype).tiny)
    return weight / weight.sum(1, keepdim=True)


def kl_divergence(p, q):
    """``KL(P || Q)`` summed over clusters and averaged over samples (0 log 0 = 0)."""
    eps = torch.finfo(q.dtype).tiny
    return torch.sum(torch.xlogy(p, p) - p * torch.log(q.clamp_min(eps))) / len(p)


def reconstruction_mse(x_hat, x):
    """Mean squared reconstruction error, averaged over samples and features."""
    return torch.mean((x_hat - x) ** 2)


def dcn_loss(x_hat, x, z, assigned_centers, lam):
    """DCN's objective on a batch: reconstruction plus ``lam / 2`` times the k-means term.

    ``mean((x_hat - x)**2) + lam / 2 * mean_i ||z_i - assigned_centers_i||^2``: the
    reconstruction error is averaged over samples and features (as
    :func:`reconstruction_mse`), the squared distance of each embedding ``z_i`` to the
    centre of its cluster (row ``i`` of ``assigned_centers``) is averaged over samples.
    """
    return reconstruction_mse(x_hat, x) + 0.5 * lam * (z - assigned_centers).pow(2).sum(1).mean()


# -- VaDE (Jiang et al., 2017) -------------------------------------------------------------

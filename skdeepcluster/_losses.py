"""Losses and assignment functions as pure torch functions (no state, no modules)."""

import math

import torch
import torch.nn.functional as F


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


def info_nce(z1, z2, temperature=1.0):
    """The symmetric InfoNCE loss of two views ``z1``, ``z2`` (rows: the same samples).

    Each row of ``z1`` must pick its own row of ``z2`` out of all of ``z2``'s rows (and
    each row of ``z2`` its own of ``z1``'s), by a softmax over cosine similarities
    divided by ``temperature``: the mean of the two cross-entropies. The other rows are
    the negatives, which keep different samples apart while the views of one sample
    are pulled together. Computed in float32 at least.
    """
    dtype = torch.promote_types(z1.dtype, torch.float32)
    a = F.normalize(z1.to(dtype), dim=1)
    b = F.normalize(z2.to(dtype), dim=1)
    logits = a @ b.T / temperature
    own = torch.arange(len(a), device=logits.device)
    return 0.5 * (F.cross_entropy(logits, own) + F.cross_entropy(logits.T, own))


#: Residual beyond which the ``"huber"`` reconstruction loss grows linearly: one unit
#: of the data, a standard deviation of standardised features.
HUBER_DELTA = 1.0


def huber_error(output, x):
    """The squared error ``r**2`` of each residual ``r = output - x`` up to
    :data:`HUBER_DELTA` in size, and ``2 * delta * |r| - delta**2`` beyond (twice
    torch's ``huber_loss``: equal to the squared error where residuals are small, so
    that weights such as IDEC's ``gamma`` keep their meaning, but linear in rare large
    residuals, which would otherwise dominate the mean)."""
    # torch's fused kernel (one pass forward and backward), in x's dtype as the squared
    # error is (autocast's bfloat16 outputs are promoted, not x demoted).
    dtype = torch.promote_types(output.dtype, x.dtype)
    return 2.0 * F.huber_loss(output.to(dtype), x.to(dtype), reduction="none",
                              delta=HUBER_DELTA)


#: Element-wise reconstruction losses of an autoencoder whose decoder outputs ``output``:
#: the squared error or the Huber error (:func:`huber_error`) of the reconstruction
#: ``output`` itself, or the binary cross-entropy of ``x`` (values in [0, 1]) under
#: Bernoulli logits ``output`` (the reconstruction is then ``sigmoid(output)``; computed
#: from the logits, no ``log(0)``).
ELEMENTWISE_RECONSTRUCTION_LOSSES = {
    "squared_error": lambda output, x: (output - x) ** 2,
    "huber": huber_error,
    "binary_cross_entropy": lambda output, x: F.binary_cross_entropy_with_logits(
        output, x, reduction="none"),
}


def reconstruction_loss(output, x, loss="squared_error"):
    """Reconstruction loss ``loss`` (see above), averaged over samples and features."""
    return torch.mean(ELEMENTWISE_RECONSTRUCTION_LOSSES[loss](output, x))


def row_reconstruction_loss(output, x, loss="squared_error"):
    """Reconstruction loss ``loss`` summed over the features of each row, shape ``(n,)``.

    Batched evaluation sums these and divides by the number of values, which gives
    :func:`reconstruction_loss` of the whole data.
    """
    return ELEMENTWISE_RECONSTRUCTION_LOSSES[loss](output, x).sum(1)


def dcn_loss(x_hat, x, z, assigned_centers, lam, loss="squared_error"):
    """DCN's objective on a batch: reconstruction plus ``lam / 2`` times the k-means term.

    ``reconstruction_loss(x_hat, x, loss) + lam / 2 * mean_i ||z_i - mu_i||^2`` with
    ``mu_i = assigned_centers[i]``, the centre of the cluster of ``z_i``: the
    reconstruction loss (the squared error by default) is averaged over samples and
    features, the squared distances over samples.
    """
    return (reconstruction_loss(x_hat, x, loss)
            + 0.5 * lam * (z - assigned_centers).pow(2).sum(1).mean())


# -- VaDE (Jiang et al., 2017) -------------------------------------------------------------
_LOG_2PI = math.log(2.0 * math.pi)


def gmm_log_joint(z, log_weights, means, log_vars):
    """``log pi_c + log N(z_i | mu_c, diag(exp(log_vars_c)))``, shape ``(n_samples, k)``.

    ``log_weights`` (shape ``(k,)``) must be normalised (e.g. a ``log_softmax``);
    ``means`` and ``log_vars`` have shape ``(k, latent_dim)``. Row ``i`` depends on
    ``z_i`` only. ``log p(z)`` is its ``torch.logsumexp`` over components and
    ``log p(c | z)`` its ``torch.log_softmax``.
    """
    diff = z.unsqueeze(1) - means.unsqueeze(0)
    log_normal = -0.5 * (_LOG_2PI + log_vars + diff.pow(2) * torch.exp(-log_vars)).sum(-1)
    return log_weights + log_normal


def bernoulli_log_likelihood(logits, x):
    """``sum_j x_j log p_j + (1 - x_j) log(1 - p_j)`` with ``p = sigmoid(logits)``, per row.

    Computed from the logits (no ``log(0)``); ``x`` may take any value in [0, 1].
    """
    return -row_reconstruction_loss(logits, x, "binary_cross_entropy")


def gaussian_log_likelihood(mean, log_var, x):
    """``log N(x | mean, exp(log_var) I)`` per row; ``log_var`` broadcasts (e.g. a scalar)."""
    log_var = torch.as_tensor(log_var, dtype=x.dtype, device=x.device).expand_as(x)
    return -0.5 * (_LOG_2PI + log_var + (x - mean).pow(2) * torch.exp(-log_var)).sum(1)


def vade_kl(mu, log_var, log_gamma, log_weights, means, log_vars):
    """``KL(q(z, c | x) || p(z, c))`` per sample, with ``q(z, c | x) = q(z | x) gamma_c``.

    ``q(z | x) = N(mu, diag(exp(log_var)))`` (rows of ``mu``/``log_var``), ``gamma``
    given by its logarithm ``log_gamma`` (shape ``(n, k)``, rows normalised) and the
    prior ``p(z, c) = pi_c N(z | means_c, diag(exp(log_vars_c)))``. In closed form::

        sum_c gamma_c [KL(N(mu, var) || N(means_c, vars_c)) + log gamma_c - log pi_c]

    which is VaDE's ELBO (Jiang et al., eq. 11) without the reconstruction term, negated.
    """
    gamma = torch.exp(log_gamma)
    lv, lv_c = log_var.unsqueeze(1), log_vars.unsqueeze(0)
    diff = mu.unsqueeze(1) - means.unsqueeze(0)
    kl_z = 0.5 * (lv_c - lv + (torch.exp(lv) + diff.pow(2)) * torch.exp(-lv_c) - 1.0).sum(-1)
    return (gamma * (kl_z + log_gamma - log_weights)).sum(1)


def vade_elbo(log_px_z, mu, log_var, z, log_weights, means, log_vars):
    """VaDE's evidence lower bound per sample (Jiang et al., 2017, eq. 11), one sample of z.

    ``log_px_z`` is the reconstruction term ``log p(x | z)`` per row,
    ``gamma = p(c | z)`` is computed in log space (``log_softmax`` of
    :func:`gmm_log_joint`) and the rest is :func:`vade_kl`.
    """
    log_gamma = torch.log_softmax(gmm_log_joint(z, log_weights, means, log_vars), dim=1)
    return log_px_z - vade_kl(mu, log_var, log_gamma, log_weights, means, log_vars)

"""Variational Deep Embedding (VaDE): a Gaussian-mixture prior and the VAE built on it."""

import math

import torch
from torch import nn

from .._losses import (
    bernoulli_log_likelihood,
    gaussian_log_likelihood,
    gmm_log_joint,
    vade_elbo,
)
from ._mlp import MLP

#: Every log-variance (of the encoder, of the mixture components and of a Gaussian
#: decoder) is clamped to this range: variances between about 1e-7 and 9e6.
LOG_VAR_RANGE = (-16.0, 16.0)


def clamp_log_var(log_var):
    """``log_var`` clamped to :data:`LOG_VAR_RANGE`."""
    return log_var.clamp(*LOG_VAR_RANGE)


def mlp_dims(encoder):
    """``(n_features, hidden_dims, latent_dim)`` of an :class:`MLP` encoder."""
    linears = [m for m in encoder if isinstance(m, nn.Linear)]
    return (linears[0].in_features, tuple(m.out_features for m in linears[:-1]),
            linears[-1].out_features)


class GMMPrior(nn.Module):
    """A Gaussian mixture with diagonal covariances, as trainable parameters.

    The mixture weights are kept on the simplex as the softmax of ``logits``; the
    component variances are ``exp(log_vars)`` (clamped to :data:`LOG_VAR_RANGE`).
    Parameters start at a uniform mixture of standard normals; :meth:`set` loads fitted
    values (e.g. from :class:`sklearn.mixture.GaussianMixture`).

    Parameters
    ----------
    n_components : int
        Number of components.
    latent_dim : int
        Dimension of the space the mixture lives in.
    """

    def __init__(self, n_components, latent_dim):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(n_components))
        self.means = nn.Parameter(torch.zeros(n_components, latent_dim))
        self.log_vars = nn.Parameter(torch.zeros(n_components, latent_dim))

    @torch.no_grad()
    def set(self, weights, means, variances):
        """Load mixture weights, means and diagonal variances (array-likes)."""
        p = self.logits
        weights = torch.as_tensor(weights, dtype=p.dtype, device=p.device)
        tiny = torch.finfo(p.dtype).tiny
        self.logits.copy_(torch.log(weights.clamp_min(tiny)))
        self.means.copy_(torch.as_tensor(means, dtype=p.dtype, device=p.device))
        variances = torch.as_tensor(variances, dtype=p.dtype, device=p.device)
        self.log_vars.copy_(clamp_log_var(torch.log(variances.clamp_min(tiny))))

    def log_weights(self):
        """``log pi``, shape ``(n_components,)``."""
        return torch.log_softmax(self.logits, dim=0)

    def clamped_log_vars(self):
        """Component log-variances, clamped, shape ``(n_components, latent_dim)``."""
        return clamp_log_var(self.log_vars)

    def log_joint(self, z):
        """``log p(z, c) = log pi_c + log N(z | mu_c, diag(sigma_c^2))``, shape ``(n, k)``."""
        return gmm_log_joint(z, self.log_weights(), self.means, self.clamped_log_vars())

    def forward(self, z):
        """Posterior log-probabilities ``log p(c | z)`` (log-sum-exp normalised)."""
        return torch.log_softmax(self.log_joint(z), dim=1)


class VaDEModule(nn.Module):
    """VaDE's networks: a Gaussian encoder, a decoder and a Gaussian-mixture prior.

    The encoder is an :class:`MLP` body followed by two linear heads, for the mean
    ``mu`` and the log-variance ``log_var`` of ``q(z | x)``; the decoder maps ``z`` to
    Bernoulli logits (``likelihood="bernoulli"``) or to the mean of an isotropic
    Gaussian whose log-variance ``decoder_log_var`` is a trained scalar
    (``likelihood="gaussian"``). In training mode ``forward`` draws
    ``z = mu + exp(log_var / 2) * eps`` (reparameterisation); in eval mode ``z = mu``.
    Built with random weights; :meth:`load_pretrained` starts it from an autoencoder.

    Parameters
    ----------
    n_features : int
        Input width.
    hidden_dims : sequence of int
        Hidden widths of the encoder (the decoder mirrors them).
    latent_dim : int
        Dimension of ``z``.
    n_components : int
        Number of mixture components (clusters).
    likelihood : {"bernoulli", "gaussian"}
        The decoder's distribution.

    ``forward`` returns ``(decoder output, mu, log_var, z)``.
    """

    def __init__(self, n_features, hidden_dims=(500, 500, 2000), latent_dim=10,
                 n_components=10, likelihood="bernoulli"):
        super().__init__()
        if likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {likelihood!r}")
        dims = (n_features, *hidden_dims, latent_dim)
        encoder = MLP(dims)
        self.body = nn.Sequential(*list(encoder)[:-1])
        self.mu = encoder[-1]
        self.log_var = nn.Linear(self.mu.in_features, latent_dim)
        nn.init.zeros_(self.log_var.weight)
        nn.init.zeros_(self.log_var.bias)
        self.decoder = MLP(dims[::-1])
        self.likelihood = likelihood
        self.decoder_log_var = (nn.Parameter(torch.zeros(())) if likelihood == "gaussian"
                                else None)
        self.prior = GMMPrior(n_components, latent_dim)

    @torch.no_grad()
    def load_pretrained(self, autoencoder, *, logit_scale=1.0, decoder_log_var=0.0,
                        encoder_log_var=0.0):
        """Copy the weights of a pretrained :class:`AutoEncoderModule` of the same shape.

        The mean head is the autoencoder's embedding layer; the log-variance head starts
        with zero weights and the bias ``encoder_log_var`` (a scalar or one value per
        latent dimension). For a Bernoulli decoder the last layer is rescaled so that it
        outputs the logits ``logit_scale * (x_hat - 1/2)``, ``x_hat`` being the
        autoencoder's reconstruction; a Gaussian decoder starts at the log-variance
        ``decoder_log_var``.
        """
        encoder = autoencoder.encoder
        self.body.load_state_dict(nn.Sequential(*list(encoder)[:-1]).state_dict())
        self.mu.load_state_dict(encoder[-1].state_dict())
        self.decoder.load_state_dict(autoencoder.decoder.state_dict())
        self.log_var.weight.zero_()
        self.log_var.bias.copy_(clamp_log_var(torch.as_tensor(
            encoder_log_var, dtype=self.log_var.bias.dtype).expand_as(self.log_var.bias)))
        if self.likelihood == "bernoulli":
            last = self.decoder[-1]
            last.weight.mul_(logit_scale)
            last.bias.sub_(0.5).mul_(logit_scale)
        else:
            self.decoder_log_var.fill_(float(decoder_log_var))
            self.decoder_log_var.clamp_(*LOG_VAR_RANGE)
        return self

    def encode(self, x):
        """``(mu, log_var)`` of ``q(z | x)``; ``log_var`` clamped."""
        h = self.body(x)
        return self.mu(h), clamp_log_var(self.log_var(h))

    def embed(self, x):
        """The mean ``mu`` of ``q(z | x)``."""
        return self.mu(self.body(x))

    def decode_mean(self, z):
        """The mean of ``p(x | z)``: probabilities (Bernoulli) or the Gaussian mean."""
        out = self.decoder(z)
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    def clamped_decoder_log_var(self):
        return None if self.decoder_log_var is None else clamp_log_var(self.decoder_log_var)

    def elbo(self, x, out, mu, log_var, z):
        """VaDE's ELBO per row of ``x``, from the outputs of :meth:`forward` on ``x``."""
        if self.likelihood == "bernoulli":
            log_px_z = bernoulli_log_likelihood(out, x)
        else:
            log_px_z = gaussian_log_likelihood(out, self.clamped_decoder_log_var(), x)
        prior = self.prior
        return vade_elbo(log_px_z, mu, log_var, z, prior.log_weights(), prior.means,
                         prior.clamped_log_vars())

    def forward(self, x):
        mu, log_var = self.encode(x)
        if self.training:
            z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
        else:
            z = mu
        return self.decoder(z), mu, log_var, z


def bernoulli_logit_scale(x_hat, x, grid=None):
    """The scale ``s`` for which ``sigmoid(s * (x_hat - 1/2))`` best fits ``x`` (in BCE).

    A one-dimensional grid search (tensors in, float out): it turns the linear output of
    an autoencoder pretrained with MSE into Bernoulli logits without changing which
    pixels are on.
    """
    import torch.nn.functional as F

    grid = torch.logspace(math.log10(0.5), math.log10(64.0), 28) if grid is None else grid
    centred = (x_hat - 0.5).to(torch.float32)
    x = x.to(torch.float32)
    losses = [float(F.binary_cross_entropy_with_logits(s * centred, x)) for s in grid.tolist()]
    return float(grid[int(torch.tensor(losses).argmin())])

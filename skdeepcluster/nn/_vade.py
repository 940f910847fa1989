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

    Attributes
    ----------
    logits : torch.nn.Parameter of shape (n_components,)
        Unnormalised log mixture weights.
    means : torch.nn.Parameter of shape (n_components, latent_dim)
        Component means.
    log_vars : torch.nn.Parameter of shape (n_components, latent_dim)
        Component log-variances (unclamped; see :meth:`clamped_log_vars`).

    See Also
    --------
    VaDEModule : The VAE that uses this prior.

    Examples
    --------
    Calling the prior on embeddings ``z`` gives the log-posteriors ``log p(c | z)``:

    >>> import torch
    >>> from skdeepcluster.nn import GMMPrior
    >>> prior = GMMPrior(n_components=3, latent_dim=2)
    >>> prior.set([0.2, 0.3, 0.5], [[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0]], torch.ones(3, 2))
    >>> log_post = prior(torch.tensor([[0.1, -0.2], [4.8, 5.1]]))
    >>> tuple(log_post.shape), log_post.argmax(dim=1).tolist()
    ((2, 3), [0, 1])
    """

    def __init__(self, n_components, latent_dim):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(n_components))
        self.means = nn.Parameter(torch.zeros(n_components, latent_dim))
        self.log_vars = nn.Parameter(torch.zeros(n_components, latent_dim))

    @torch.no_grad()
    def set(self, weights, means, variances):
        """Load mixture weights, means and diagonal variances (array-likes).

        Values are copied in place (no gradient is recorded), in the dtype and on the
        device of the parameters; zero weights and variances are clipped to the
        smallest positive number, and the log-variances to :data:`LOG_VAR_RANGE`.

        Parameters
        ----------
        weights : array-like of shape (n_components,)
            Mixture weights (summing to one).
        means : array-like of shape (n_components, latent_dim)
            Component means.
        variances : array-like of shape (n_components, latent_dim)
            Diagonal variances of the components.

        Examples
        --------
        >>> import numpy as np
        >>> from skdeepcluster.nn import GMMPrior
        >>> prior = GMMPrior(n_components=2, latent_dim=3)
        >>> prior.set([0.25, 0.75], np.zeros((2, 3)), np.full((2, 3), 4.0))
        >>> [round(w, 4) for w in prior.log_weights().exp().tolist()]
        [0.25, 0.75]
        >>> prior.clamped_log_vars().exp().round(decimals=4).tolist()[0]
        [4.0, 4.0, 4.0]
        """
        p = self.logits
        weights = torch.as_tensor(weights, dtype=p.dtype, device=p.device)
        tiny = torch.finfo(p.dtype).tiny
        self.logits.copy_(torch.log(weights.clamp_min(tiny)))
        self.means.copy_(torch.as_tensor(means, dtype=p.dtype, device=p.device))
        variances = torch.as_tensor(variances, dtype=p.dtype, device=p.device)
        self.log_vars.copy_(clamp_log_var(torch.log(variances.clamp_min(tiny))))

    def log_weights(self):
        """The log mixture weights ``log pi`` (a log-softmax of ``logits``).

        Returns
        -------
        tensor of shape (n_components,)
            ``log pi``; ``exp`` of it sums to one.

        Examples
        --------
        >>> from skdeepcluster.nn import GMMPrior
        >>> prior = GMMPrior(n_components=4, latent_dim=2)
        >>> prior.log_weights().exp().round(decimals=4).tolist()
        [0.25, 0.25, 0.25, 0.25]
        """
        return torch.log_softmax(self.logits, dim=0)

    def clamped_log_vars(self):
        """Component log-variances, clamped to :data:`LOG_VAR_RANGE`.

        Returns
        -------
        tensor of shape (n_components, latent_dim)
            ``log_vars`` clamped.

        Examples
        --------
        >>> import torch
        >>> from skdeepcluster.nn import GMMPrior
        >>> prior = GMMPrior(n_components=2, latent_dim=2)
        >>> with torch.no_grad():
        ...     _ = prior.log_vars.fill_(100.0)
        >>> prior.clamped_log_vars().tolist()
        [[16.0, 16.0], [16.0, 16.0]]
        """
        return clamp_log_var(self.log_vars)

    def log_joint(self, z):
        """``log p(z, c) = log pi_c + log N(z | mu_c, diag(sigma_c^2))`` for each component.

        Parameters
        ----------
        z : tensor of shape (n, latent_dim)
            Points in the latent space.

        Returns
        -------
        tensor of shape (n, n_components)
            The joint log-densities; a log-softmax over the components gives
            ``log p(c | z)``, the output of calling the prior.

        Examples
        --------
        A standard normal in two dimensions has ``log N(0 | 0, I) = -log(2 pi)``:

        >>> import math
        >>> import torch
        >>> from skdeepcluster.nn import GMMPrior
        >>> prior = GMMPrior(n_components=1, latent_dim=2)
        >>> log_p = prior.log_joint(torch.zeros(3, 2))
        >>> tuple(log_p.shape), round(log_p[0, 0].item(), 4), round(-math.log(2 * math.pi), 4)
        ((3, 1), -1.8379, -1.8379)
        """
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
    (``likelihood="gaussian"``). Calling the module on a batch ``x`` returns
    ``(decoder output, mu, log_var, z)``; in training mode it draws
    ``z = mu + exp(log_var / 2) * eps`` (reparameterisation), in eval mode ``z = mu``.
    Built with random weights; :meth:`load_pretrained` starts it from an autoencoder.

    Parameters
    ----------
    n_features : int
        Input width.
    hidden_dims : sequence of int, default=(500, 500, 2000)
        Hidden widths of the encoder (the decoder mirrors them).
    latent_dim : int, default=10
        Dimension of ``z``.
    n_components : int, default=10
        Number of mixture components (clusters).
    likelihood : {"bernoulli", "gaussian"}, default="bernoulli"
        The decoder's distribution.

    Attributes
    ----------
    body : torch.nn.Sequential
        The encoder's hidden layers (with their ReLUs).
    mu : torch.nn.Linear
        Head giving the mean of ``q(z | x)``.
    log_var : torch.nn.Linear
        Head giving the log-variance of ``q(z | x)`` (zero weights at first).
    decoder : MLP
        ``z`` to Bernoulli logits or to the Gaussian mean.
    likelihood : str
        The decoder's distribution.
    decoder_log_var : torch.nn.Parameter or None
        The scalar log-variance of a Gaussian decoder; None for a Bernoulli one.
    prior : GMMPrior
        The Gaussian-mixture prior ``p(z, c)``.

    See Also
    --------
    GMMPrior : The prior.
    skdeepcluster.VaDEClusterer : The estimator that trains this module.

    Examples
    --------
    >>> import torch
    >>> from skdeepcluster.nn import VaDEModule
    >>> vade = VaDEModule(6, hidden_dims=(5,), latent_dim=2, n_components=3).eval()
    >>> out, mu, log_var, z = vade(torch.zeros(4, 6))
    >>> tuple(out.shape), tuple(mu.shape), tuple(log_var.shape), tuple(z.shape)
    ((4, 6), (4, 2), (4, 2), (4, 2))
    >>> bool(torch.equal(z, mu))  # eval mode: no sampling
    True
    >>> tuple(vade.prior(z).shape)  # log p(c | z)
    (4, 3)
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
        latent dimension). A Bernoulli decoder takes over the decoder of an autoencoder
        pretrained with ``loss="binary_cross_entropy"`` as it is (it outputs logits);
        from one pretrained with the squared or Huber error, whose output is the
        reconstruction ``x_hat``, the last layer is rescaled so that it outputs the logits
        ``logit_scale * (x_hat - 1/2)``. A Gaussian decoder starts at the log-variance
        ``decoder_log_var``. The prior is left unchanged.

        Parameters
        ----------
        autoencoder : AutoEncoderModule
            Pretrained autoencoder with the same ``n_features``, ``hidden_dims`` and
            ``latent_dim``; it is not modified.
        logit_scale : float, default=1.0
            Scale of the Bernoulli decoder's logits made from a squared-error or
            Huber autoencoder (ignored otherwise).
        decoder_log_var : float, default=0.0
            Initial log-variance of a Gaussian decoder (ignored for a Bernoulli one).
        encoder_log_var : float or array-like of shape (latent_dim,), default=0.0
            Initial bias of the log-variance head.

        Returns
        -------
        VaDEModule
            This module.

        Examples
        --------
        >>> import torch
        >>> from skdeepcluster.nn import AutoEncoderModule, VaDEModule
        >>> _ = torch.manual_seed(0)
        >>> ae = AutoEncoderModule(6, hidden_dims=(5,), latent_dim=2)
        >>> vade = VaDEModule(6, hidden_dims=(5,), latent_dim=2, n_components=3)
        >>> vade = vade.load_pretrained(ae, logit_scale=4.0, encoder_log_var=-2.0)
        >>> x = torch.rand(4, 6)
        >>> x_hat, z = ae(x)
        >>> bool(torch.allclose(vade.embed(x), z))
        True
        >>> bool(torch.allclose(vade.decode_mean(z), torch.sigmoid(4.0 * (x_hat - 0.5)),
        ...                     atol=1e-6))
        True
        >>> vade.encode(x)[1][0].tolist()
        [-2.0, -2.0]
        """
        encoder = autoencoder.encoder
        self.body.load_state_dict(nn.Sequential(*list(encoder)[:-1]).state_dict())
        self.mu.load_state_dict(encoder[-1].state_dict())
        self.decoder.load_state_dict(autoencoder.decoder.state_dict())
        self.log_var.weight.zero_()
        self.log_var.bias.copy_(clamp_log_var(torch.as_tensor(
            encoder_log_var, dtype=self.log_var.bias.dtype).expand_as(self.log_var.bias)))
        if self.likelihood == "bernoulli" and not autoencoder.outputs_logits:
            last = self.decoder[-1]
            last.weight.mul_(logit_scale)
            last.bias.sub_(0.5).mul_(logit_scale)
        elif self.likelihood == "gaussian":
            self.decoder_log_var.fill_(float(decoder_log_var))
            self.decoder_log_var.clamp_(*LOG_VAR_RANGE)
        return self

    def encode(self, x):
        """The mean and log-variance of ``q(z | x)``.

        Parameters
        ----------
        x : tensor of shape (n, n_features)
            Input rows.

        Returns
        -------
        mu : tensor of shape (n, latent_dim)
            Means.
        log_var : tensor of shape (n, latent_dim)
            Log-variances, clamped to :data:`LOG_VAR_RANGE`.

        Examples
        --------
        >>> import torch
        >>> from skdeepcluster.nn import VaDEModule
        >>> vade = VaDEModule(6, hidden_dims=(5,), latent_dim=2, n_components=3)
        >>> mu, log_var = vade.encode(torch.zeros(4, 6))
        >>> tuple(mu.shape), log_var.tolist()  # the log-variance head starts at zero
        ((4, 2), [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
        """
        h = self.body(x)
        return self.mu(h), clamp_log_var(self.log_var(h))

    def embed(self, x):
        """The mean ``mu`` of ``q(z | x)``: the embedding that is clustered.

        Parameters
        ----------
        x : tensor of shape (n, n_features)
            Input rows.

        Returns
        -------
        tensor of shape (n, latent_dim)
            ``mu``.

        Examples
        --------
        >>> import torch
        >>> from skdeepcluster.nn import VaDEModule
        >>> vade = VaDEModule(6, hidden_dims=(5,), latent_dim=2, n_components=3)
        >>> x = torch.zeros(4, 6)
        >>> bool(torch.equal(vade.embed(x), vade.encode(x)[0]))
        True
        """
        return self.mu(self.body(x))

    def decode_mean(self, z):
        """The mean of ``p(x | z)``: probabilities (Bernoulli) or the Gaussian mean.

        Parameters
        ----------
        z : tensor of shape (n, latent_dim)
            Points in the latent space.

        Returns
        -------
        tensor of shape (n, n_features)
            ``sigmoid(decoder(z))`` for a Bernoulli decoder, ``decoder(z)`` for a
            Gaussian one.

        Examples
        --------
        >>> import torch
        >>> from skdeepcluster.nn import VaDEModule
        >>> vade = VaDEModule(6, hidden_dims=(5,), latent_dim=2, n_components=3)
        >>> p = vade.decode_mean(torch.zeros(4, 2))
        >>> tuple(p.shape), bool(((p > 0) & (p < 1)).all())
        ((4, 6), True)
        """
        out = self.decoder(z)
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    def clamped_decoder_log_var(self):
        """The Gaussian decoder's log-variance, clamped to :data:`LOG_VAR_RANGE`.

        Returns
        -------
        tensor of shape () or None
            ``decoder_log_var`` clamped; None for a Bernoulli decoder.

        Examples
        --------
        >>> from skdeepcluster.nn import VaDEModule
        >>> vade = VaDEModule(6, hidden_dims=(5,), latent_dim=2, likelihood="gaussian")
        >>> vade.clamped_decoder_log_var().item()
        0.0
        >>> VaDEModule(6, hidden_dims=(5,), latent_dim=2).clamped_decoder_log_var() is None
        True
        """
        return None if self.decoder_log_var is None else clamp_log_var(self.decoder_log_var)

    def elbo(self, x, out, mu, log_var, z):
        """VaDE's ELBO per row of ``x``, from the outputs of calling the module on ``x``.

        Parameters
        ----------
        x : tensor of shape (n, n_features)
            Input rows (in ``[0, 1]`` for a Bernoulli decoder).
        out : tensor of shape (n, n_features)
            Decoder output: Bernoulli logits or the Gaussian mean.
        mu : tensor of shape (n, latent_dim)
            Mean of ``q(z | x)``.
        log_var : tensor of shape (n, latent_dim)
            Log-variance of ``q(z | x)``.
        z : tensor of shape (n, latent_dim)
            The sample of ``z`` the decoder was run on.

        Returns
        -------
        tensor of shape (n,)
            The evidence lower bound of each row; training maximises its mean.

        Examples
        --------
        >>> import torch
        >>> from skdeepcluster.nn import VaDEModule
        >>> _ = torch.manual_seed(0)
        >>> vade = VaDEModule(6, hidden_dims=(5,), latent_dim=2, n_components=3)
        >>> x = torch.rand(4, 6)
        >>> elbo = vade.elbo(x, *vade(x))
        >>> tuple(elbo.shape), bool(torch.isfinite(elbo).all())
        ((4,), True)
        """
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

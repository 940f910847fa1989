"""Fully connected encoder/decoder networks."""

import torch
from torch import nn

from .._losses import ELEMENTWISE_RECONSTRUCTION_LOSSES, reconstruction_loss


class MLP(nn.Sequential):
    """Linear layers with ReLU between them and a linear last layer.

    Weights start as torch's default (uniform in ``±1/sqrt(fan_in)``, the
    ``VarianceScaling(1/3, fan_in, uniform)`` of the DEC code) and biases at zero.

    Parameters
    ----------
    dims : sequence of int
        Layer widths, input first: ``(784, 500, 500, 2000, 10)`` is four linear layers.

    See Also
    --------
    AutoEncoderModule : Two mirrored MLPs, an encoder and a decoder.

    Examples
    --------
    >>> import torch
    >>> from skdeepcluster.nn import MLP
    >>> mlp = MLP((6, 5, 2))
    >>> [type(layer).__name__ for layer in mlp]
    ['Linear', 'ReLU', 'Linear']
    >>> tuple(mlp(torch.zeros(4, 6)).shape)
    (4, 2)
    """

    def __init__(self, dims):
        layers = []
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            linear = nn.Linear(d_in, d_out)
            nn.init.zeros_(linear.bias)
            layers.append(linear)
            if i < len(dims) - 2:
                layers.append(nn.ReLU())
        super().__init__(*layers)


class AutoEncoderModule(nn.Module):
    """Mirrored MLP autoencoder: ``d -> hidden_dims -> latent_dim -> reversed -> d``.

    Calling the module on a batch ``x`` returns ``(output, embedding)``: the decoder's
    output, of the shape of ``x``, and the encoder's output, of width ``latent_dim``.
    The decoder's output is the reconstruction itself for ``loss="squared_error"`` and
    ``loss="huber"``, and
    Bernoulli logits (the reconstruction is their sigmoid, see :meth:`decode`) for
    ``loss="binary_cross_entropy"``.

    Parameters
    ----------
    n_features : int
        Input (and reconstruction) width.
    hidden_dims : sequence of int, default=(500, 500, 2000)
        Hidden widths of the encoder; the decoder uses them in reverse order.
    latent_dim : int, default=10
        Width of the embedding.
    loss : {"squared_error", "huber", "binary_cross_entropy"}, default="squared_error"
        The reconstruction loss the module is trained with (see
        :meth:`reconstruction_loss`); it decides what the decoder's output means.

    Attributes
    ----------
    encoder : MLP
        ``n_features -> *hidden_dims -> latent_dim``.
    decoder : MLP
        ``latent_dim -> *reversed(hidden_dims) -> n_features``.
    loss : str
        The reconstruction loss.
    outputs_logits : bool
        True for ``loss="binary_cross_entropy"`` (the decoder outputs logits).

    See Also
    --------
    MLP : The encoder and the decoder.
    skdeepcluster.AutoEncoder : The estimator that trains this module.

    Examples
    --------
    >>> import torch
    >>> from skdeepcluster.nn import AutoEncoderModule
    >>> ae = AutoEncoderModule(6, hidden_dims=(5,), latent_dim=2)
    >>> x_hat, z = ae(torch.zeros(4, 6))
    >>> tuple(x_hat.shape), tuple(z.shape)
    ((4, 6), (4, 2))
    """

    # Modules pickled before ``loss`` existed were trained with the squared error.
    loss = "squared_error"

    def __init__(self, n_features, hidden_dims=(500, 500, 2000), latent_dim=10,
                 loss="squared_error"):
        super().__init__()
        if loss not in ELEMENTWISE_RECONSTRUCTION_LOSSES:
            raise ValueError(f"loss must be one of {sorted(ELEMENTWISE_RECONSTRUCTION_LOSSES)}, "
                             f"got {loss!r}")
        dims = (n_features, *hidden_dims, latent_dim)
        self.encoder = MLP(dims)
        self.decoder = MLP(dims[::-1])
        self.loss = loss

    @property
    def outputs_logits(self):
        """Whether the decoder outputs Bernoulli logits.

        True for ``loss="binary_cross_entropy"``; False for the squared and Huber errors,
        whose decoder outputs the reconstruction itself.
        """
        return self.loss == "binary_cross_entropy"

    def decode(self, z):
        """The reconstruction from embeddings ``z``.

        Parameters
        ----------
        z : tensor of shape (n, latent_dim)
            Embeddings.

        Returns
        -------
        tensor of shape (n, n_features)
            The decoder's output, through a sigmoid for ``loss="binary_cross_entropy"``.

        Examples
        --------
        >>> import torch
        >>> from skdeepcluster.nn import AutoEncoderModule
        >>> ae = AutoEncoderModule(6, hidden_dims=(5,), latent_dim=2,
        ...                        loss="binary_cross_entropy")
        >>> z = torch.randn(4, 2)
        >>> bool(torch.equal(ae.decode(z), torch.sigmoid(ae.decoder(z))))
        True
        """
        output = self.decoder(z)
        return torch.sigmoid(output) if self.outputs_logits else output

    def reconstruction_loss(self, output, x):
        """The module's reconstruction loss, averaged over samples and features.

        Parameters
        ----------
        output : tensor of shape (n, n_features)
            The decoder's output (first element of calling the module on ``x``).
        x : tensor of shape (n, n_features)
            The input rows (in [0, 1] for ``loss="binary_cross_entropy"``).

        Returns
        -------
        tensor of shape ()
            ``mean((output - x)**2)``, or the mean binary cross-entropy of ``x``
            under the logits ``output``.

        Examples
        --------
        >>> import torch
        >>> from skdeepcluster.nn import AutoEncoderModule
        >>> ae = AutoEncoderModule(6, hidden_dims=(5,), latent_dim=2)
        >>> x = torch.rand(4, 6)
        >>> output, _ = ae(x)
        >>> bool(torch.isclose(ae.reconstruction_loss(output, x), ((output - x) ** 2).mean()))
        True
        """
        return reconstruction_loss(output, x, self.loss)

    def forward(self, x):
        z = self.encoder(x)
        return self.decoder(z), z

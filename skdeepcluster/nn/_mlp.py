"""Fully connected encoder/decoder networks."""

from torch import nn


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

    Calling the module on a batch ``x`` returns ``(reconstruction, embedding)``: the
    decoder's output, of the shape of ``x``, and the encoder's output, of width
    ``latent_dim``.

    Parameters
    ----------
    n_features : int
        Input (and reconstruction) width.
    hidden_dims : sequence of int, default=(500, 500, 2000)
        Hidden widths of the encoder; the decoder uses them in reverse order.
    latent_dim : int, default=10
        Width of the embedding.

    Attributes
    ----------
    encoder : MLP
        ``n_features -> *hidden_dims -> latent_dim``.
    decoder : MLP
        ``latent_dim -> *reversed(hidden_dims) -> n_features``.

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

    def __init__(self, n_features, hidden_dims=(500, 500, 2000), latent_dim=10):
        super().__init__()
        dims = (n_features, *hidden_dims, latent_dim)
        self.encoder = MLP(dims)
        self.decoder = MLP(dims[::-1])

    def forward(self, x):
        z = self.encoder(x)
        return self.decoder(z), z

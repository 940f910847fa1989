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

    ``forward`` returns ``(reconstruction, embedding)``.
    """

    def __init__(self, n_features, hidden_dims=(500, 500, 2000), latent_dim=10):
        super().__init__()
        dims = (n_features, *hidden_dims, latent_dim)
        self.encoder = MLP(dims)
        self.decoder = MLP(dims[::-1])

    def forward(self, x):
        z = self.encoder(x)
        return self.decoder(z), z

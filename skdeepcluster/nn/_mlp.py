"""Fully connected encoder/decoder networks."""

from torch import nn


class MLP(nn.Sequential):
    """Linear layers with ReLU between them and a linear last layer.

    Parameters
    ----------
    dims : sequence of int
        Layer widths, input first: ``(784, 500, 500, 2000, 10)`` is four linear layers.
    """

    def __init__(self, dims):
        layers = []
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(d_in, d_out))
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

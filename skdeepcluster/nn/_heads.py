"""Clustering heads put on top of a pretrained autoencoder."""

import torch
from torch import nn

from .._losses import student_t_assignment


class DECModule(nn.Module):
    """A pretrained encoder with trainable cluster centres (DEC) and, for IDEC, its decoder.

    Parameters
    ----------
    autoencoder : AutoEncoderModule
        Pretrained network; it is used as is (the caller passes a copy).
    centers : array-like of shape (n_clusters, latent_dim)
        Initial cluster centres in the embedding.
    alpha : float
        Degrees of freedom of the Student-t kernel.
    keep_decoder : bool
        Keep the decoder (IDEC) or drop it (DEC).

    ``forward`` returns ``(q, reconstruction or None, embedding)``.
    """

    def __init__(self, autoencoder, centers, alpha=1.0, keep_decoder=False):
        super().__init__()
        self.encoder = autoencoder.encoder
        self.decoder = autoencoder.decoder if keep_decoder else None
        self.centers = nn.Parameter(torch.as_tensor(centers).clone())
        self.alpha = alpha

    def forward(self, x):
        z = self.encoder(x)
        q = student_t_assignment(z, self.centers, self.alpha)
        x_hat = self.decoder(z) if self.decoder is not None else None
        return q, x_hat, z

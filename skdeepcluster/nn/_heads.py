"""Clustering heads put on top of a pretrained autoencoder."""

import torch
from torch import nn

from .._losses import student_t_assignment


class DECModule(nn.Module):
    """A pretrained encoder with trainable cluster centres (DEC) and, for IDEC, its decoder.

    Calling the module on a batch ``x`` returns ``(q, reconstruction, embedding)``:
    the Student-t soft assignments ``q`` of shape ``(n, n_clusters)`` (rows sum to
    one), the decoder's output (None without ``keep_decoder``) and the embedding.

    Parameters
    ----------
    autoencoder : AutoEncoderModule
        Pretrained network; it is used as is (the caller passes a copy).
    centers : array-like of shape (n_clusters, latent_dim)
        Initial cluster centres in the embedding.
    alpha : float, default=1.0
        Degrees of freedom of the Student-t kernel.
    keep_decoder : bool, default=False
        Keep the decoder (IDEC) or drop it (DEC).

    Attributes
    ----------
    encoder : torch.nn.Module
        The autoencoder's encoder (shared, not copied).
    decoder : torch.nn.Module or None
        The autoencoder's decoder with ``keep_decoder``, else None.
    centers : torch.nn.Parameter of shape (n_clusters, latent_dim)
        The trainable cluster centres.
    alpha : float
        Degrees of freedom of the Student-t kernel.
    loss : str
        The autoencoder's reconstruction loss (IDEC's reconstruction term).

    See Also
    --------
    skdeepcluster.DECClusterer : The estimator that trains this module.

    Examples
    --------
    >>> import torch
    >>> from skdeepcluster.nn import AutoEncoderModule, DECModule
    >>> _ = torch.manual_seed(0)
    >>> ae = AutoEncoderModule(6, hidden_dims=(5,), latent_dim=2)
    >>> idec = DECModule(ae, centers=torch.randn(3, 2), keep_decoder=True)
    >>> q, x_hat, z = idec(torch.zeros(4, 6))
    >>> tuple(q.shape), tuple(x_hat.shape), tuple(z.shape)
    ((4, 3), (4, 6), (4, 2))
    >>> bool(torch.allclose(q.sum(dim=1), torch.ones(4)))
    True
    >>> DECModule(ae, centers=torch.randn(3, 2)).decoder is None
    True
    """

    # Modules pickled before ``loss`` existed were trained with the squared error.
    loss = "squared_error"

    def __init__(self, autoencoder, centers, alpha=1.0, keep_decoder=False):
        super().__init__()
        self.encoder = autoencoder.encoder
        self.decoder = autoencoder.decoder if keep_decoder else None
        self.centers = nn.Parameter(torch.as_tensor(centers).clone())
        self.alpha = alpha
        self.loss = autoencoder.loss

    def soft_assign(self, x):
        """The soft assignments ``q`` of a batch, without running the decoder.

        Parameters
        ----------
        x : tensor of shape (n, n_features)
            Input rows.

        Returns
        -------
        tensor of shape (n, n_clusters)
            Student-t similarities to the centres, rows summing to one (the first
            element of calling the module).

        Examples
        --------
        >>> import torch
        >>> from skdeepcluster.nn import AutoEncoderModule, DECModule
        >>> _ = torch.manual_seed(0)
        >>> idec = DECModule(AutoEncoderModule(6, hidden_dims=(5,), latent_dim=2),
        ...                  centers=torch.randn(3, 2), keep_decoder=True)
        >>> x = torch.rand(4, 6)
        >>> bool(torch.equal(idec.soft_assign(x), idec(x)[0]))
        True
        """
        return student_t_assignment(self.encoder(x), self.centers, self.alpha)

    def forward(self, x):
        z = self.encoder(x)
        q = student_t_assignment(z, self.centers, self.alpha)
        x_hat = self.decoder(z) if self.decoder is not None else None
        return q, x_hat, z

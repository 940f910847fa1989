"""Backbones trained from scratch by pseudo-labels (DeepCluster), and their augmentations
(of images, and of rows that are not images).

Plain torch only: torchvision is not a dependency. Images arrive as flattened rows
(``n_samples, C * H * W``, row-major as ``numpy.reshape``); the conv backbone and the
augmentation reshape them internally.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


class MLPBackbone(nn.Sequential):
    """``Linear -> BatchNorm -> ReLU`` blocks and a linear embedding layer.

    Parameters
    ----------
    n_features : int
        Input width.
    hidden_dims : sequence of int, default=(500, 500, 2000)
        Widths of the hidden blocks.
    latent_dim : int, default=10
        Width of the embedding (the last, linear layer).

    See Also
    --------
    ConvBackbone : The backbone for images.
    PseudoLabelClassifier : A backbone with a pseudo-label classifier.

    Examples
    --------
    >>> import torch
    >>> from skdeepcluster.nn import MLPBackbone
    >>> net = MLPBackbone(6, hidden_dims=(5,), latent_dim=2)
    >>> [type(layer).__name__ for layer in net]
    ['Linear', 'BatchNorm1d', 'ReLU', 'Linear']
    >>> tuple(net(torch.zeros(4, 6)).shape)
    (4, 2)
    """

    def __init__(self, n_features, hidden_dims=(500, 500, 2000), latent_dim=10):
        layers = []
        d_in = n_features
        for d_out in hidden_dims:
            layers += [nn.Linear(d_in, d_out, bias=False), nn.BatchNorm1d(d_out),
                       nn.ReLU()]
            d_in = d_out
        layers.append(nn.Linear(d_in, latent_dim))
        super().__init__(*layers)


class ConvBackbone(nn.Module):
    """A small conv net for flattened images: conv blocks, then a linear embedding.

    Each block is ``Conv3x3 -> BatchNorm -> ReLU -> MaxPool2`` (the pooling is skipped
    once the feature map is a single pixel), so any image size works, from 8x8 digits up.

    Parameters
    ----------
    image_shape : tuple of int
        ``(channels, height, width)`` of one image; rows have ``C * H * W`` values.
    channels : sequence of int, default=(32, 64, 128)
        Output channels of each conv block.
    latent_dim : int, default=128
        Width of the embedding (the last, linear layer).

    Attributes
    ----------
    image_shape : tuple of int
        ``(C, H, W)``, as ints; each input row is reshaped to it.
    conv : torch.nn.Sequential
        The conv blocks.
    fc : torch.nn.Linear
        The embedding layer, on the flattened output of the conv blocks.

    See Also
    --------
    MLPBackbone : The fully connected backbone.
    PseudoLabelClassifier : A backbone with a pseudo-label classifier.

    Examples
    --------
    Two blocks on 8x8 single-channel images (rows of 64 values): the feature map
    goes from 8x8 to 4x4 to 2x2, then to an embedding of width 3.

    >>> import torch
    >>> from skdeepcluster.nn import ConvBackbone
    >>> net = ConvBackbone((1, 8, 8), channels=(4, 8), latent_dim=3)
    >>> net.fc
    Linear(in_features=32, out_features=3, bias=True)
    >>> tuple(net(torch.zeros(2, 64)).shape)
    (2, 3)
    """

    def __init__(self, image_shape, channels=(32, 64, 128), latent_dim=128):
        super().__init__()
        c, h, w = (int(s) for s in image_shape)
        self.image_shape = (c, h, w)
        layers = []
        for c_out in channels:
            layers += [nn.Conv2d(c, c_out, 3, padding=1, bias=False),
                       nn.BatchNorm2d(c_out), nn.ReLU()]
            if h > 1 or w > 1:
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
                h, w = math.ceil(h / 2), math.ceil(w / 2)
            c = c_out
        # Channels-last ("NHWC") weights and activations: on the CPU, convolution and
        # pooling run several times faster on them than on NCHW (a training step 1.1-1.4x,
        # inference 2.2-3x, max pooling alone 7-20x, measured on an AVX-512 CPU); the
        # values, and ``flatten``'s order, are the same. ``Module.to`` keeps the layout.
        self.conv = nn.Sequential(*layers).to(memory_format=torch.channels_last)
        self.fc = nn.Linear(c * h * w, latent_dim)

    def forward(self, x):
        x = x.reshape(len(x), *self.image_shape).contiguous(memory_format=torch.channels_last)
        return self.fc(self.conv(x).flatten(1))


class PseudoLabelClassifier(nn.Module):
    """A backbone with a linear classifier over pseudo-labels (DeepCluster).

    ``features`` maps rows to the embedding (the features that are clustered);
    ``head`` classifies ``ReLU(embedding)`` into ``n_classes`` pseudo-labels, as the
    original code, which clusters the last hidden layer before its ReLU. Calling the
    module returns the logits of the head, of shape ``(n, n_classes)``.

    Parameters
    ----------
    n_features : int
        Input width.
    n_classes : int
        Number of pseudo-labels (outputs of the head).
    hidden_dims : sequence of int, default=(500, 500, 2000)
        MLP widths, or conv channels when ``image_shape`` is given.
    latent_dim : int, default=10
        Width of the embedding.
    image_shape : tuple of int or None, default=None
        ``(C, H, W)``: a :class:`ConvBackbone`; None: an :class:`MLPBackbone`.

    Attributes
    ----------
    features : MLPBackbone or ConvBackbone
        The backbone: rows to embeddings of width ``latent_dim``.
    head : torch.nn.Linear
        The classifier, ``latent_dim -> n_classes``.

    See Also
    --------
    skdeepcluster.DeepClusterClusterer : The estimator that trains this module.

    Examples
    --------
    >>> import torch
    >>> from skdeepcluster.nn import PseudoLabelClassifier
    >>> clf = PseudoLabelClassifier(6, n_classes=5, hidden_dims=(8,), latent_dim=3)
    >>> x = torch.zeros(4, 6)
    >>> tuple(clf.features(x).shape), tuple(clf(x).shape)
    ((4, 3), (4, 5))

    With ``image_shape`` the backbone is convolutional:

    >>> conv = PseudoLabelClassifier(64, n_classes=5, hidden_dims=(4,), latent_dim=3,
    ...                              image_shape=(1, 8, 8))
    >>> type(conv.features).__name__, tuple(conv(torch.zeros(2, 64)).shape)
    ('ConvBackbone', (2, 5))
    """

    def __init__(self, n_features, n_classes, hidden_dims=(500, 500, 2000), latent_dim=10,
                 image_shape=None):
        super().__init__()
        if image_shape is None:
            self.features = MLPBackbone(n_features, hidden_dims, latent_dim)
        else:
            self.features = ConvBackbone(image_shape, hidden_dims, latent_dim)
        self.head = nn.Linear(latent_dim, n_classes)
        self.reset_head()

    def reset_head(self):
        """Re-initialise the head: weights ~ N(0, 0.01^2), zero biases (as the paper).

        DeepCluster calls it after each k-means step, since the pseudo-labels (the
        classes of the head) are recomputed and renumbered.

        Examples
        --------
        >>> import torch
        >>> from skdeepcluster.nn import PseudoLabelClassifier
        >>> _ = torch.manual_seed(0)
        >>> clf = PseudoLabelClassifier(6, n_classes=5, hidden_dims=(8,), latent_dim=3)
        >>> with torch.no_grad():
        ...     _ = clf.head.bias.fill_(1.0)
        >>> clf.reset_head()
        >>> bool((clf.head.bias == 0).all()), bool(clf.head.weight.abs().max() < 0.1)
        (True, True)
        """
        with torch.no_grad():
            self.head.weight.normal_(0.0, 0.01)
            self.head.bias.zero_()

    def forward(self, x):
        return self.head(F.relu(self.features(x)))


def random_affine(x, image_shape, generator, max_shift=0.1, max_rotation=10.0,
                  scale=(0.9, 1.1)):
    """Light random augmentation of flattened images: shift, rotation and scaling.

    Each image gets its own transform, drawn from ``generator`` (a CPU
    :class:`torch.Generator`): a translation of up to ``max_shift`` of the image size
    along each axis, a rotation of up to ``max_rotation`` degrees and a zoom in
    ``scale``; pixels are resampled bilinearly (``F.grid_sample``) and
    the border is filled with zeros. Flips and colour changes are deliberately absent
    (they change the meaning of digits and characters).

    Parameters
    ----------
    x : tensor of shape (n, C * H * W)
        Flattened images.
    image_shape : tuple of int
        ``(C, H, W)``.
    generator : torch.Generator
        Source of randomness (on the CPU).
    max_shift : float, default=0.1
        Largest translation, as a fraction of the image's width (horizontally) and
        height (vertically).
    max_rotation : float, default=10.0
        Largest rotation angle, in degrees, either way.
    scale : tuple of float, default=(0.9, 1.1)
        Range ``(low, high)`` of the zoom factor.

    Returns
    -------
    tensor of shape (n, C * H * W)
        The transformed images, in the dtype and on the device of ``x``.

    Examples
    --------
    >>> import torch
    >>> from skdeepcluster.nn import random_affine
    >>> x = torch.rand(3, 64, generator=torch.Generator().manual_seed(0))
    >>> out = random_affine(x, (1, 8, 8), torch.Generator().manual_seed(0))
    >>> tuple(out.shape), out.dtype
    ((3, 64), torch.float32)

    The same generator state gives the same transforms:

    >>> again = random_affine(x, (1, 8, 8), torch.Generator().manual_seed(0))
    >>> bool(torch.equal(out, again))
    True

    Without shift, rotation or zoom the images come back unchanged:

    >>> same = random_affine(x, (1, 8, 8), torch.Generator().manual_seed(0),
    ...                      max_shift=0.0, max_rotation=0.0, scale=(1.0, 1.0))
    >>> bool(torch.allclose(same, x, atol=1e-5))
    True
    """
    n = len(x)
    u = torch.rand(n, 4, generator=generator, dtype=torch.float64) * 2 - 1
    angle = u[:, 0] * math.radians(max_rotation)
    zoom = scale[0] + (u[:, 1] + 1) / 2 * (scale[1] - scale[0])
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    # affine_grid maps output to input coordinates in [-1, 1]: a shift of a fraction s
    # of the image is 2 * s there.
    tx, ty = 2 * max_shift * u[:, 2], 2 * max_shift * u[:, 3]
    theta = torch.stack([torch.stack([cos, -sin, tx], 1),
                         torch.stack([sin, cos, ty], 1)], 1)
    theta = theta.to(device=x.device, dtype=x.dtype)
    images = x.reshape(n, *image_shape)
    out = F.grid_sample(images, affine_sampling_grid(theta, image_shape[1:]),
                        mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.reshape(n, -1)


def feature_noise(x, generator, scale=1.0):
    """Additive Gaussian noise on the features of a batch, scaled to each one's spread.

    Every value of feature ``j`` gets independent noise of standard deviation ``scale``
    times the standard deviation of feature ``j`` within the batch ``x``. Relative to
    each feature's own spread, so it means the same for standardised data, raw
    measurements in any unit or values in [0, 1], and it needs no pass over the data;
    features constant within the batch get none. A batch of a few rows measures the
    spread roughly (one row: no noise). The augmentation of rows that are not images
    (DeepCluster's MLP backbone), for which shifts and rotations have no meaning.

    Parameters
    ----------
    x : tensor of shape (n, n_features)
        A batch of rows.
    generator : torch.Generator
        Source of randomness (on the CPU).
    scale : float, default=1.0
        Standard deviation of the noise, in standard deviations of each feature.

    Returns
    -------
    tensor of shape (n, n_features)
        The noisy rows, in the dtype and on the device of ``x``.

    Examples
    --------
    >>> import torch
    >>> from skdeepcluster.nn import feature_noise
    >>> x = torch.stack([torch.arange(4.0), torch.full((4,), 5.0)], 1)
    >>> out = feature_noise(x, torch.Generator().manual_seed(0))
    >>> tuple(out.shape), out.dtype
    ((4, 2), torch.float32)

    The constant second feature is left as it is:

    >>> bool(torch.equal(out[:, 1], x[:, 1]))
    True
    """
    if x.ndim != 2:
        raise ValueError(f"feature_noise needs a 2-d batch of rows, got shape {tuple(x.shape)}.")
    spread = x.detach().std(dim=0, correction=0, keepdim=True)
    noise = torch.randn(x.shape, generator=generator, dtype=torch.float32)
    return x + scale * spread * noise.to(device=x.device, dtype=x.dtype)


def affine_sampling_grid(theta, size):
    """``F.affine_grid(theta, (n, C, H, W), align_corners=False)``, computed directly.

    Each output pixel's centre ``(x, y)`` in [-1, 1] coordinates goes to
    ``theta @ (x, y, 1)``, by broadcast multiply-adds instead of ``affine_grid``'s
    batched matrix product over a ``(n, H * W, 3)`` base grid, which on a CPU cost
    several times the resampling itself (most of an MNIST-sized batch's augmentation).

    Parameters
    ----------
    theta : tensor of shape (n, 2, 3)
        Affine maps from output to input coordinates.
    size : tuple of int
        ``(H, W)`` of the output.

    Returns
    -------
    tensor of shape (n, H, W, 2)
        The sampling grid of :func:`torch.nn.functional.grid_sample` (a strided view),
        in the dtype and on the device of ``theta``.
    """
    height, width = size
    kw = dict(dtype=theta.dtype, device=theta.device)
    # Pixel centres with align_corners=False: (2 i + 1) / W - 1.
    cx = (torch.arange(width, **kw) * 2 + 1) / width - 1
    cy = ((torch.arange(height, **kw) * 2 + 1) / height - 1)[:, None]
    t = theta[:, :, :, None, None]  # (n, 2, 3, 1, 1)
    # Both coordinates as (n, 2, H, W) planes, then viewed as (n, H, W, 2): computing
    # them with the pair as the innermost axis is several times slower.
    return (t[:, :, 0] * cx + t[:, :, 1] * cy + t[:, :, 2]).permute(0, 2, 3, 1)

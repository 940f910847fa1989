"""Backbones trained from scratch by pseudo-labels (DeepCluster), and image augmentation.

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
    hidden_dims : sequence of int
        Widths of the hidden blocks.
    latent_dim : int
        Width of the embedding (the last, linear layer).
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
    channels : sequence of int
        Output channels of each conv block.
    latent_dim : int
        Width of the embedding (the last, linear layer).
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
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Linear(c * h * w, latent_dim)

    def forward(self, x):
        x = x.reshape(len(x), *self.image_shape)
        return self.fc(self.conv(x).flatten(1))


class PseudoLabelClassifier(nn.Module):
    """A backbone with a linear classifier over pseudo-labels (DeepCluster).

    ``features`` maps rows to the embedding (the features that are clustered);
    ``head`` classifies ``ReLU(embedding)`` into ``n_classes`` pseudo-labels, as the
    original code, which clusters the last hidden layer before its ReLU.

    Parameters
    ----------
    n_features : int
        Input width.
    n_classes : int
        Number of pseudo-labels (outputs of the head).
    hidden_dims : sequence of int
        MLP widths, or conv channels when ``image_shape`` is given.
    latent_dim : int
        Width of the embedding.
    image_shape : tuple of int or None
        ``(C, H, W)``: a :class:`ConvBackbone`; None: an :class:`MLPBackbone`.

    ``forward`` returns the logits of the head.
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
        """Re-initialise the head: weights ~ N(0, 0.01^2), zero biases (as the paper)."""
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
    ``scale``; pixels are resampled bilinearly (``F.affine_grid``/``F.grid_sample``) and
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

    Returns
    -------
    tensor of shape (n, C * H * W)
        The transformed images, in the dtype and on the device of ``x``.
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
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros",
                        align_corners=False)
    return out.reshape(n, -1)

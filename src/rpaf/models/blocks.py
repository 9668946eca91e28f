"""Building blocks of RPAFNet (paper section 3.1, Figure 2(b)-(e)).

All modules take and return (B, C, H, W) feature maps and follow the input's device/dtype.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rpaf.models.attention import EfficientAttention

__all__ = [
    "CTUM",
    "ConcatConv1x1",
    "DRL",
    "LDSC",
    "MLP",
    "ConvPath",
    "Interp",
    "LayerNorm2d",
    "TransBlock",
    "Upsample",
    "make_activation",
    "make_encoder_norm",
]


def make_activation(name: str) -> nn.Module:
    """Return the activation module called ``name`` (``relu``, ``gelu`` or ``none``).

    Raises:
        ValueError: For any other name.
    """
    table = {"relu": nn.ReLU, "gelu": nn.GELU, "none": nn.Identity}
    if name not in table:
        raise ValueError(
            f"activation {name!r} is not one of {sorted(table)}; fix model.encoder_act"
        )
    return table[name]()


def make_encoder_norm(name: str, channels: int) -> nn.Module:
    """Return the normalisation after an encoder level called ``name`` (not in the paper).

    ``none`` (the paper: no normalisation in the encoder), ``batch`` (``BatchNorm2d``) or
    ``group`` (``GroupNorm`` with one group: each image's whole feature map, so no batch
    statistics and no train/eval difference).

    Raises:
        ValueError: For any other name.
    """
    table = {
        "none": nn.Identity,
        "batch": lambda: nn.BatchNorm2d(channels),
        "group": lambda: nn.GroupNorm(1, channels),
    }
    if name not in table:
        raise ValueError(
            f"encoder normalisation {name!r} is not one of {sorted(table)}; fix model.encoder_norm"
        )
    return table[name]()


class Interp(nn.Module):
    """Bilinear resize to an exact spatial size (the paper's ``Interp`` module).

    The encoder calls it with ``size = floor(ratio * previous size)`` (ratio 0.8 in the paper)
    and the decoder with the skip's exact size, so odd sizes round-trip exactly.
    ``align_corners=False`` and no antialiasing (plain bilinear, as the paper says).
    """

    def forward(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        """Resize ``x`` (B, C, H, W) to (B, C, *size); identity when the size already matches."""
        if tuple(x.shape[-2:]) == tuple(size):
            return x
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class ConcatConv1x1(nn.Conv2d):
    """A 1x1 convolution applied to the channel concatenation of several maps.

    Same parameters (and state-dict layout) as ``nn.Conv2d(sum(in_channels), out, 1)``.
    With gradients on it concatenates and convolves (fastest); under ``no_grad``/inference it
    consumes the parts one by one, ``y = b + sum_i W_i x_i``, so neither the concatenation
    nor more than one part (when ``parts`` is a generator) is ever held in memory.

    Args:
        in_channels: Channels of each part, in concatenation order.
        out_channels: Output channels.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int) -> None:
        super().__init__(sum(in_channels), out_channels, 1)
        self.part_channels = tuple(int(c) for c in in_channels)

    def forward_parts(self, parts: Iterable[Tensor]) -> Tensor:
        """Return ``conv1x1(cat(parts, dim=1))``; parts are (B, C_i, H, W)."""
        if torch.is_grad_enabled():
            return self(torch.cat(list(parts), dim=1))
        y: Tensor | None = None
        start = 0
        for part, c in zip(parts, self.part_channels, strict=True):
            w = self.weight[:, start : start + c]
            if y is None:
                y = F.conv2d(part, w, self.bias)
            else:
                y += F.conv2d(part, w)
            start += c
            del part
        assert y is not None
        return y


class LDSC(nn.Module):
    """Lightweight dilated spatial convolution (paper section 3.1, Fig. 2(b)).

    Parallel 3x3 convolutions with dilation rates ``dilations`` (padding = dilation, so the
    size is kept), concatenated, then a 1x1 convolution back to ``out_channels``. No
    BatchNorm and no activation inside, as the paper specifies.

    Args:
        in_channels: Input channels.
        out_channels: Output channels (also the width of each dilated branch).
        dilations: Dilation rates, (1, 2, 4) in the paper.

    Shape:
        (B, in_channels, H, W) -> (B, out_channels, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, dilations: Sequence[int]) -> None:
        super().__init__()
        dilations = [int(d) for d in dilations]
        if not dilations or any(d < 1 for d in dilations):
            raise ValueError(
                f"LDSC: dilations={dilations} must be a non-empty list of integers >= 1; "
                "fix model.dilations"
            )
        self.dilations = tuple(dilations)
        self.branches = nn.ModuleList(
            nn.Conv2d(in_channels, out_channels, 3, padding=d, dilation=d) for d in dilations
        )
        self.fuse = ConcatConv1x1([out_channels] * len(dilations), out_channels)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the dilated branches, concatenate, fuse by 1x1 convolution."""
        # A generator: at inference only one branch output exists at a time.
        return self.fuse.forward_parts(branch(x) for branch in self.branches)


class DRL(nn.Module):
    """Difference residual layer (paper section 3.1, Fig. 2(e)).

    ``DRL(prev, skip) = (prev - skip) / max(||prev - skip||_2, eps)`` with the L2 norm taken
    across channels at each pixel ("L2Norm" of the paper). ``prev`` is the decoder-side
    feature (the CTUM output at the skip's resolution), ``skip`` the encoder feature.

    Args:
        eps: Lower bound of the norm (avoids 0/0 where the two features agree).

    Shape:
        prev, skip: (B, C, H, W) -> (B, C, H, W), every pixel of unit (or zero) norm.
    """

    def __init__(self, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, prev: Tensor, skip: Tensor) -> Tensor:
        """Return the channel-wise L2-normalised difference ``prev - skip``."""
        return F.normalize(prev - skip, p=2.0, dim=1, eps=self.eps)

    def extra_repr(self) -> str:
        return f"eps={self.eps}"


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel dimension of a (B, C, H, W) map, computed in >= float32.

    Args:
        channels: C.
        eps: Variance floor.
    """

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        """Normalise each pixel's C-vector; output in ``x``'s dtype."""
        acc = torch.promote_types(x.dtype, torch.float32)
        xf = x.to(acc)
        var, mean = torch.var_mean(xf, dim=1, keepdim=True, correction=0)
        w = self.weight.to(acc).view(1, -1, 1, 1)
        b = self.bias.to(acc).view(1, -1, 1, 1)
        y = torch.addcmul(b, (xf - mean) * torch.rsqrt(var + self.eps), w)
        return y.to(x.dtype)


class MLP(nn.Module):
    """Pointwise MLP: 1x1 conv C -> ratio*C, GELU, 1x1 conv back to C.

    Shape:
        (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, ratio: float) -> None:
        super().__init__()
        hidden = max(1, round(channels * ratio))
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the MLP at every pixel."""
        return self.fc2(self.act(self.fc1(x)))


class TransBlock(nn.Module):
    """Transformer block of CTUM (paper Fig. 2(d), after Zhong et al. 2023b).

    ``x = x + EffAtten(LN(x)); x = x + MLP(LN(x))`` (pre-norm, two residuals).

    With gradients off and ``chunk`` set, the block runs on row bands of at most ``chunk``
    elements per temporary (rows x W x max(C, hidden) per image): a first pass accumulates
    the attention context over all bands, a second one applies attention, MLP and both
    residuals band by band. Same result up to round-off; the full-size
    (``mlp_ratio * C``)-channel hidden map, the float32 LayerNorm temporaries and q/k/v
    never exist (this was the 2048^2 memory hot spot, see ``experiments/bench``).

    Args:
        channels: C.
        heads: Attention heads (divide C).
        mlp_ratio: Hidden width of the MLP relative to C.
        chunk: Elements per band temporary at inference; ``None`` = no banding.

    Shape:
        (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(
        self, channels: int, heads: int, mlp_ratio: float, chunk: int | None = 2**24
    ) -> None:
        super().__init__()
        self.norm1 = LayerNorm2d(channels)
        self.attn = EfficientAttention(channels, heads)
        self.norm2 = LayerNorm2d(channels)
        self.mlp = MLP(channels, mlp_ratio)
        self.chunk = chunk

    def forward(self, x: Tensor) -> Tensor:
        """Apply attention and MLP with residuals."""
        if torch.is_grad_enabled() or self.chunk is None:
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))
        widest = max(x.shape[1], self.mlp.fc1.out_channels)
        rows = max(1, self.chunk // (x.shape[-1] * widest * x.shape[0]))
        bands = [slice(r, r + rows) for r in range(0, x.shape[-2], rows)]
        context = self.attn.context(self.norm1(x[:, :, s]) for s in bands)
        out = torch.empty_like(x)
        for s in bands:
            xb = x[:, :, s]
            yb = xb + self.attn.apply_context(self.norm1(xb), context)
            yb += self.mlp(self.norm2(yb))
            out[:, :, s] = yb
        return out


class ConvPath(nn.Module):
    """Convolutional path of CTUM: two 3x3 convolutions, each followed by ReLU."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        return self.body(x)


class Upsample(nn.Module):
    """Upsampling module of CTUM: resize to the skip's exact size, 3x3 conv, BatchNorm, ReLU.

    Args:
        in_channels: Input channels.
        out_channels: Output channels (the skip's width).

    Shape:
        ``forward(x, size)``: (B, in_channels, h, w) -> (B, out_channels, *size).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.interp = Interp()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        """Resize, convolve, normalise, activate."""
        return self.act(self.bn(self.conv(self.interp(x, size))))


class CTUM(nn.Module):
    """Convolution transformer upsampling module (paper section 3.1, Fig. 2(c)).

    ``y = Upsample(Conv1x1([ConvPath(x), TransBlock(x)]), size)``: a convolutional path and a
    Transformer path on the low-resolution input, fused by a 1x1 convolution, then the
    upsampling module to the skip's size and width.

    Args:
        in_channels: Channels of the deeper level.
        out_channels: Channels of the skip level.
        heads: Attention heads.
        mlp_ratio: TransBlock MLP ratio.
        chunk: Inference band size of the TransBlock (see :class:`TransBlock`).

    Shape:
        ``forward(x, size)``: (B, in_channels, h, w) -> (B, out_channels, *size).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        heads: int,
        mlp_ratio: float,
        chunk: int | None = 2**24,
    ) -> None:
        super().__init__()
        self.conv_path = ConvPath(in_channels)
        self.trans_path = TransBlock(in_channels, heads, mlp_ratio, chunk=chunk)
        self.fuse = ConcatConv1x1([in_channels, in_channels], in_channels)
        self.up = Upsample(in_channels, out_channels)

    def forward(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        """Fuse both paths and upsample to ``size``."""
        y = self.fuse.forward_parts(p(x) for p in (self.conv_path, self.trans_path))
        return self.up(y, size)

"""RPAFNet: the residual pyramid atrous filtering network (paper section 3.1, Fig. 2(a))."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from torch import Tensor, nn

from rpaf.models.blocks import (
    CTUM,
    DRL,
    LDSC,
    ConcatConv1x1,
    Interp,
    Upsample,
    make_activation,
    make_encoder_norm,
)
from rpaf.models.refine import SelfGuidedRefine

__all__ = ["RPAFNet", "level_sizes"]

#: Smallest spatial side any level may have. BatchNorm in training mode needs more than one
#: value per channel, and a 1x1 map at batch 1 would fail there; 2 keeps every level usable.
MIN_LEVEL_SIZE = 2


def level_sizes(height: int, width: int, levels: int, ratio: float) -> list[tuple[int, int]]:
    """Spatial size of every encoder level: ``s_0 = (H, W)``, ``s_l = floor(ratio * s_{l-1})``.

    Args:
        height: Input height H.
        width: Input width W.
        levels: Number of levels L.
        ratio: Per-level resize factor in (0, 1].

    Returns:
        ``L`` (h, w) pairs, finest first.

    Raises:
        ValueError: If a level would be smaller than :data:`MIN_LEVEL_SIZE` on a side.
    """
    sizes = [(int(height), int(width))]
    for level in range(1, levels):
        h, w = sizes[-1]
        # +1e-9: 15 * 0.8 is 12.000000000000002 but 10 * 0.7 is 6.999999999999999.
        nxt = (math.floor(h * ratio + 1e-9), math.floor(w * ratio + 1e-9))
        if min(nxt) < MIN_LEVEL_SIZE:
            raise ValueError(
                f"RPAFNet: an input of {height}x{width} vanishes at level {level} of {levels} "
                f"(ratio={ratio}: {h}x{w} -> {nxt[0]}x{nxt[1]}, minimum {MIN_LEVEL_SIZE} px); "
                "use a larger input (tiled_forward pads nothing, so give it a larger tile), "
                "fewer model.levels or a model.ratio closer to 1"
            )
        sizes.append(nxt)
    return sizes


class RPAFNet(nn.Module):
    """Residual pyramid atrous filtering network, ``u = f_theta(g)`` (paper eq. 2).

    Layout (paper section 3.1; the figure is not available, so the unstated parts are
    chosen here and marked *choice*):

    * **Stem** (*choice*): one 3x3 convolution ``in_channels -> widths[0]`` at full size.
    * **Encoder**, level ``l = 0 .. L-1``: ``Interp`` (bilinear resize to
      ``floor(ratio * size)``, skipped at level 0 and when ``ratio == 1``) then ``LDSC``
      (``widths[l-1] -> widths[l]``) then ``encoder_act`` (*choice*: the paper removes
      activations *inside* LDSC; with none between LDSCs the whole encoder would be one linear
      map, so a ReLU follows each LDSC by default; ``encoder_act="none"`` gives the literal
      reading). The output of every level is its skip feature ``e_l``. Without normalisation
      the encoder's activations grow with depth (about 5x per level in a trained
      ``cpu_mini`` network: ~1 at level 0, ~4e4 at level 7); ``encoder_norm`` (not in the
      paper, default ``none``) puts a ``batch`` or ``group`` normalisation between each LDSC
      and its activation. ``group`` normalises by each image's own statistics, so under
      :func:`rpaf.models.tiling.tiled_forward` each tile uses its own (tiles of a large image
      then differ slightly from one whole-image pass).
    * **Decoder**, level ``l = L-2 .. 0``: ``CTUM`` takes ``d_{l+1}`` (``e_{L-1}`` at the
      bottom) and returns ``p_l`` at ``e_l``'s exact size and width; ``DRL`` forms
      ``normalize(p_l - e_l)``; ``d_l = Conv1x1([p_l, DRL(p_l, e_l)])`` with
      ``drl_fusion="replace"`` (default, *choice*: the paper says DRL "feeds the decoder"
      without saying how; concatenation + 1x1 lets the network weigh the unit-norm difference
      against the features). The skip then reaches the decoder only as a direction (its
      per-pixel magnitude is lost), so ``drl_fusion="enhance"`` (the other reading of "skip
      connections enhanced using a DRL") keeps it too: ``d_l = Conv1x1([p_l, e_l, DRL])``.
      With ``drl=False`` it is a plain U-Net skip ``Conv1x1([p_l, e_l])``.
    * **Head** (*choice*): one 3x3 convolution ``widths[0] -> out_channels``, and with
      ``residual=True`` (*choice*) the output is ``g + head(d_0)``: the network predicts the
      (negative) texture layer ``-T`` of paper eq. 1 and starts close to the identity. No
      clamp: ``u`` may leave [0, 1] slightly; clamp when saving images.

    Widths and depth (*choice*): ``widths=(16, 24, 32, 48, 64, 96, 192, 512)``, i.e. 8 levels,
    with ``mlp_ratio=4`` (the usual transformer value): 15.84M parameters, -1.4% from the
    paper's 16.07M. Why this shape: with ratio 0.8 a level has only 0.64x the pixels of the
    one above, so the cost is ``sum_l params_l * 0.64**l`` per input pixel and the only way
    to hold 16M parameters at a moderate cost is to put them at the deepest level. A
    "textbook" 4-level 64..512 doubling design with about the same count (17.2M) costs
    2.97 TFLOP per 512^2 image and 15.6 GiB of activations at 2048^2; this one costs
    0.48 TFLOP and 3.4 GiB (``python -m rpaf.bench model``). 8 levels is also the
    deepest pyramid a 16 px input supports (16, 12, 9, 7, 5, 4, 3, 2 px). ``levels=L`` keeps
    the first ``L`` widths (so one value changes the depth).

    Attention (*choice*): ``width // head_dim`` heads (at least 1; ``head_dim=32``), key and
    value width equal to the level width, 1x1 projections and a 1x1 re-projection as in
    Shen et al.

    Ablation switches (each one config value): ``ldsc`` (False: one plain 3x3 convolution
    per encoder level), ``drl`` (False: plain skip), ``ctum`` (False: the upsampling module
    alone, i.e. resize + 3x3 conv + BN + ReLU), ``dilations``, ``ratio`` (1.0: no
    downsampling, paper Fig. 12), ``levels``.

    Args:
        in_channels: Channels of g (3 for RGB).
        out_channels: Channels of u; must equal ``in_channels`` when ``residual``.
        widths: Channel width of each level, finest first.
        levels: Number of encoder levels L in [2, len(widths)]; ``None`` = ``len(widths)``.
        ratio: Per-level bilinear resize factor, in (0, 1]; 0.8 in the paper.
        dilations: Dilation rates of the LDSC branches; (1, 2, 4) in the paper.
        ldsc: Use LDSC (True) or a plain 3x3 convolution (False) in the encoder.
        drl: Use the DRL on skips (True) or a plain skip (False).
        drl_fusion: With ``drl``: ``enhance`` fuses ``[p, skip, DRL(p, skip)]``, ``replace``
            fuses ``[p, DRL(p, skip)]`` (see the layout above).
        ctum: Use CTUM (True) or the bare upsampling module (False) in the decoder.
        head_dim: Channels per attention head.
        mlp_ratio: TransBlock MLP hidden ratio.
        encoder_act: Activation after each encoder level: ``relu``, ``gelu`` or ``none``.
        encoder_norm: Not in the paper: normalisation between each encoder level and its
            activation, ``none`` (default, the paper), ``batch`` or ``group`` (one group).
        residual: Return ``g + f(g)`` (True) or ``f(g)`` (False).
        min_input_size: Smallest input side the configuration must support; checked at
            construction so that sizes vanishing at depth fail early.
        infer_chunk: Elements per band temporary of the TransBlocks when gradients are off
            (see :class:`rpaf.models.blocks.TransBlock`); ``None`` disables banding. Same
            result up to round-off, much less memory at 2048^2.
        refine_kernel: Not in the paper: window of a parameter-free self-guided filter applied
            to ``u`` (:class:`rpaf.models.refine.SelfGuidedRefine`), in training and inference;
            0 (default) = off, the paper's network.
        refine_eps: Its regularisation (squared intensity units).

    Raises:
        ValueError: For an invalid configuration (message names the key and the fix).

    Shape:
        ``forward(g)``: (B, in_channels, H, W) -> (B, out_channels, H, W), any H, W that
        survive ``levels`` resizes (all sides >= ``min_input_size`` do).
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        widths: Sequence[int] = (16, 24, 32, 48, 64, 96, 192, 512),
        levels: int | None = None,
        ratio: float = 0.8,
        dilations: Sequence[int] = (1, 2, 4),
        ldsc: bool = True,
        drl: bool = True,
        ctum: bool = True,
        drl_fusion: str = "replace",
        head_dim: int = 32,
        mlp_ratio: float = 4.0,
        encoder_act: str = "relu",
        encoder_norm: str = "none",
        residual: bool = True,
        min_input_size: int = 16,
        infer_chunk: int | None = 2**24,
        refine_kernel: int = 0,
        refine_eps: float = 1e-3,
    ) -> None:
        super().__init__()
        widths, dilations = _validate(
            in_channels=in_channels,
            out_channels=out_channels,
            widths=widths,
            levels=levels,
            ratio=ratio,
            dilations=dilations,
            head_dim=head_dim,
            mlp_ratio=mlp_ratio,
            residual=residual,
            min_input_size=min_input_size,
            infer_chunk=infer_chunk,
        )
        levels = len(widths)
        # Fails at construction when min_input_size vanishes at depth.
        level_sizes(min_input_size, min_input_size, levels, ratio)

        self.levels = int(levels)
        self.ratio = float(ratio)
        self.dilations = tuple(dilations)
        if drl_fusion not in ("enhance", "replace"):
            raise ValueError(
                f"RPAFNet: model.drl_fusion={drl_fusion!r} is not one of 'enhance', 'replace'"
            )
        self.use_ldsc, self.use_drl, self.use_ctum = bool(ldsc), bool(drl), bool(ctum)
        self.drl_fusion = drl_fusion
        keep_skip = self.use_drl and drl_fusion == "enhance"
        self.residual = bool(residual)
        self.min_input_size = int(min_input_size)
        self.widths = widths
        w = self.widths

        self.stem = nn.Conv2d(in_channels, w[0], 3, padding=1)
        self.interp = Interp()
        self.encoders = nn.ModuleList()
        for level in range(levels):
            cin = w[0] if level == 0 else w[level - 1]
            self.encoders.append(
                LDSC(cin, w[level], dilations) if ldsc else nn.Conv2d(cin, w[level], 3, padding=1)
            )
        self.encoder_act = make_activation(encoder_act)
        self.encoder_norms = nn.ModuleList(
            make_encoder_norm(encoder_norm, w[level]) for level in range(levels)
        )

        # decoders[l] maps level l+1 -> level l (l = 0 .. L-2).
        self.decoders = nn.ModuleList()
        self.drls = nn.ModuleList()
        self.skip_fuse = nn.ModuleList()
        for level in range(levels - 1):
            cin, cout = w[level + 1], w[level]
            if ctum:
                heads = max(1, cin // head_dim)
                if cin % heads:
                    raise ValueError(
                        f"RPAFNet: width {cin} (level {level + 1}) is not divisible by its "
                        f"{heads} attention heads (= width // head_dim={head_dim}); use widths "
                        "that are multiples of model.head_dim or below it"
                    )
                self.decoders.append(CTUM(cin, cout, heads, mlp_ratio, chunk=infer_chunk))
            else:
                self.decoders.append(Upsample(cin, cout))
            self.drls.append(DRL() if drl else nn.Identity())
            parts = [cout, cout, cout] if keep_skip else [cout, cout]
            self.skip_fuse.append(ConcatConv1x1(parts, cout))
        self.head = nn.Conv2d(w[0], out_channels, 3, padding=1)
        # Beyond the paper; no parameters, so checkpoints load with or without it.
        self.refine = SelfGuidedRefine(refine_kernel, refine_eps) if refine_kernel else None

    def level_sizes(self, height: int, width: int) -> list[tuple[int, int]]:
        """Spatial size of each level for an input of ``height x width`` (finest first)."""
        return level_sizes(height, width, self.levels, self.ratio)

    def forward(self, g: Tensor) -> Tensor:
        """Smooth ``g``.

        Args:
            g: Input image, (B, in_channels, H, W), float, nominally in [0, 1].

        Returns:
            u: (B, out_channels, H, W), same size as ``g`` exactly.

        Raises:
            ValueError: If ``g`` is not 4-D with ``in_channels`` channels, or too small for
                the configured depth.
        """
        if g.ndim != 4 or g.shape[1] != self.stem.in_channels:
            raise ValueError(
                f"RPAFNet.forward: expected (B, {self.stem.in_channels}, H, W), got "
                f"{tuple(g.shape)}; pass a batched image tensor"
            )
        sizes = self.level_sizes(g.shape[-2], g.shape[-1])

        f = self.stem(g)
        skips: list[Tensor] = []
        for level, encoder in enumerate(self.encoders):
            if level > 0:
                f = self.interp(f, sizes[level])  # "Interp": bilinear, factor `ratio`
            f = self.encoder_act(self.encoder_norms[level](encoder(f)))
            skips.append(f)
        del f

        d = skips.pop()
        for level in reversed(range(self.levels - 1)):
            skip = skips.pop()
            p = self.decoders[level](d, sizes[level])  # CTUM (or bare upsampling)
            if not self.use_drl:
                d = self.skip_fuse[level].forward_parts([p, skip])  # plain U-Net skip
            elif self.drl_fusion == "enhance":
                # Skip "enhanced using" the DRL: Conv1x1([p, e, DRL(p, e)]).
                d = self.skip_fuse[level].forward_parts([p, skip, self.drls[level](p, skip)])
            else:
                d = self.skip_fuse[level].forward_parts([p, self.drls[level](p, skip)])
            del p, skip
        out = self.head(d)
        u = g + out if self.residual else out  # u = g + (-T)  (paper eq. 1-2)
        return self.refine(u) if self.refine is not None else u


def _validate(
    *,
    in_channels: int,
    out_channels: int,
    widths: Sequence[int],
    levels: int | None,
    ratio: float,
    dilations: Sequence[int],
    head_dim: int,
    mlp_ratio: float,
    residual: bool,
    min_input_size: int,
    infer_chunk: int | None,
) -> tuple[list[int], list[int]]:
    """Check the construction arguments; return (widths[:levels], dilations) as int lists."""

    def bad(key: str, value: object, need: str) -> ValueError:
        return ValueError(f"RPAFNet: model.{key}={value!r} is invalid: {need}")

    for key, value in {
        "in_channels": in_channels,
        "out_channels": out_channels,
        "head_dim": head_dim,
        "min_input_size": min_input_size,
    }.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise bad(key, value, "it must be an integer >= 1")
    wl = _as_int_list("widths", widths, bad)
    if any(w < 1 for w in wl):
        raise bad("widths", wl, "every width must be an integer >= 1")
    if levels is None:
        levels = len(wl)
    if isinstance(levels, bool) or not isinstance(levels, int) or not 2 <= levels <= len(wl):
        raise bad(
            "levels",
            levels,
            f"it must be an integer in [2, len(widths)={len(wl)}] or null "
            "(= len(widths)); a U-shape needs two levels, and each level needs a width",
        )
    if not isinstance(ratio, (int, float)) or not 0.0 < float(ratio) <= 1.0:
        raise bad(
            "ratio", ratio, "it must lie in (0, 1]; 0.8 is the paper's, 1.0 = no downsampling"
        )
    if not mlp_ratio > 0:
        raise bad("mlp_ratio", mlp_ratio, "it must be > 0")
    if infer_chunk is not None and (isinstance(infer_chunk, bool) or infer_chunk < 1):
        raise bad("infer_chunk", infer_chunk, "it must be null or an integer >= 1")
    if residual and in_channels != out_channels:
        raise bad(
            "residual",
            residual,
            f"it needs in_channels == out_channels ({in_channels} != "
            f"{out_channels}); set residual=false or equal channel counts",
        )
    dil = _as_int_list("dilations", dilations, bad)
    if not dil:
        raise bad("dilations", dil, "it must be a non-empty list such as [1, 2, 4]")
    if any(d < 1 for d in dil):
        raise bad("dilations", dil, "every dilation must be an integer >= 1")
    return wl[:levels], dil


def _as_int_list(key: str, value: object, bad: Callable[..., ValueError]) -> list[int]:
    """``value`` (list, tuple or OmegaConf ListConfig of integers) as a list of ints."""
    if isinstance(value, (str, bytes)):
        raise bad(key, value, "it must be a list of integers")
    try:
        items = list(value)  # type: ignore[call-overload]
    except TypeError:
        raise bad(key, value, "it must be a list of integers") from None
    if any(isinstance(v, bool) or not isinstance(v, int) for v in items):
        raise bad(key, items, "it must be a list of integers")
    return [int(v) for v in items]

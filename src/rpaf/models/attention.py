"""Efficient Attention (Shen et al., WACV 2021), multi-head, linear in H*W.

RPAFNet's TransBlock (paper section 3.1, Fig. 2(d)) uses "EffAtten" from
*Efficient Attention: Attention with Linear Complexities* (Shen, Zhang, Zhao, Yi, Li).
For per-head queries ``Q`` (d_k x N), keys ``K`` (d_k x N) and values ``V`` (d_v x N),
with ``N = H*W``:

    rho_k(K) = softmax of each key channel over the N positions
    rho_q(Q) = softmax of each position's query over the d_k channels (per head)
    context  = rho_k(K) V^T                        (d_k x d_v, a global summary)
    E(Q,K,V) = context^T rho_q(Q)                  (d_v x N)

which equals ``V (rho_k(K)^T rho_q(Q))``, i.e. a dot-product attention whose N x N map is
never formed. Memory and time are O(N (d_k + d_v)) instead of O(N^2).

:func:`naive_efficient_attention` forms that N x N map explicitly; the tests compare the two.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

__all__ = ["EfficientAttention", "efficient_attention", "naive_efficient_attention"]


def efficient_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Multi-head efficient attention on projected tensors.

    Args:
        q: Queries, shape (B, h, d_k, N).
        k: Keys, shape (B, h, d_k, N).
        v: Values, shape (B, h, d_v, N).

    Returns:
        Attention output ``context^T rho_q(Q)``, shape (B, h, d_v, N), in ``v``'s dtype.
    """
    # Softmaxes in float32: the key softmax sums over N (4.2M terms at 2048^2), which
    # bf16/fp16 cannot accumulate accurately. rho_k: over positions (Shen et al. eq. 5).
    acc = torch.promote_types(v.dtype, torch.float32)  # float32, or float64 for float64 input
    k = torch.softmax(k, dim=-1, dtype=acc).to(v.dtype)
    context = torch.matmul(k, v.transpose(-1, -2))  # (B, h, d_k, d_v)
    del k
    # rho_q: over the channels of each head at each position; then context^T rho_q(Q).
    q = torch.softmax(q, dim=-2, dtype=acc).to(v.dtype)
    return torch.matmul(context.transpose(-1, -2), q)


def naive_efficient_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Brute-force reference for :func:`efficient_attention` (tests only; O(N^2) memory).

    Builds the N x N matrix ``A = rho_k(K)^T rho_q(Q)`` explicitly, head by head, with
    the softmaxes written out as ``exp / sum``, and returns ``V A``.

    Args:
        q: Queries, shape (B, h, d_k, N).
        k: Keys, shape (B, h, d_k, N).
        v: Values, shape (B, h, d_v, N).

    Returns:
        Shape (B, h, d_v, N).
    """
    b, h, _, n = q.shape
    out = torch.empty(b, h, v.shape[2], n, dtype=v.dtype, device=v.device)
    for bi in range(b):
        for hi in range(h):
            kk = torch.exp(k[bi, hi] - k[bi, hi].max(dim=1, keepdim=True).values)
            kk = kk / kk.sum(dim=1, keepdim=True)  # normalised over positions
            qq = torch.exp(q[bi, hi] - q[bi, hi].max(dim=0, keepdim=True).values)
            qq = qq / qq.sum(dim=0, keepdim=True)  # normalised over channels
            attn = kk.transpose(0, 1) @ qq  # (N, N): attn[m, n] = sum_i k[i, m] q[i, n]
            out[bi, hi] = v[bi, hi] @ attn
    return out


class EfficientAttention(nn.Module):
    """Multi-head Efficient Attention with 1x1 projections and a 1x1 re-projection.

    Besides :meth:`forward`, the two halves :meth:`context` (a pass over row bands that
    accumulates the global context with an online, max-rescaled softmax, exactly as a
    single softmax over all positions) and :meth:`apply_context` let a caller run attention
    band by band at inference, so no full-size q/k/v map is ever held
    (see :class:`rpaf.models.blocks.TransBlock`).

    Args:
        channels: Input/output channels C (also the key and value widths).
        heads: Number of heads; must divide ``channels``.

    Shape:
        ``forward(x)``: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, heads: int = 1) -> None:
        super().__init__()
        if channels < 1 or heads < 1 or channels % heads:
            raise ValueError(
                f"EfficientAttention: heads={heads} must be >= 1 and divide channels={channels}; "
                "change model.head_dim or the widths"
            )
        self.channels = channels
        self.heads = heads
        self.query = nn.Conv2d(channels, channels, 1)
        self.key = nn.Conv2d(channels, channels, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.reprojection = nn.Conv2d(channels, channels, 1)

    def _split(self, t: Tensor) -> Tensor:
        b, c, h, w = t.shape
        return t.reshape(b, self.heads, c // self.heads, h * w)

    def forward(self, x: Tensor) -> Tensor:
        """Apply attention. ``x``: (B, C, H, W) -> (B, C, H, W)."""
        b, c, hh, ww = x.shape
        k = self._split(self.key(x))
        v = self._split(self.value(x))
        q = self._split(self.query(x))
        out = efficient_attention(q, k, v)
        del q, k, v
        return self.reprojection(out.reshape(b, c, hh, ww))

    def context(self, bands: Iterable[Tensor]) -> Tensor:
        """Global context ``rho_k(K) V^T`` accumulated over row bands of the input.

        Uses the running-max rescaling of an online softmax, so the result equals the
        one-shot softmax over all positions up to float round-off.

        Args:
            bands: Row bands (B, C, h_i, W) of the (normalised) input, top to bottom.

        Returns:
            (B, heads, d_k, d_v) in the bands' dtype.
        """
        m = s = ctx = None
        dtype = None
        for band in bands:
            v = self._split(self.value(band))
            k = self._split(self.key(band)).to(torch.promote_types(v.dtype, torch.float32))
            dtype = v.dtype
            bm = k.amax(dim=-1, keepdim=True)
            m_new = bm if m is None else torch.maximum(m, bm)
            e = torch.exp(k - m_new)
            del k
            part_s = e.sum(dim=-1, keepdim=True)
            part_c = torch.matmul(e.to(v.dtype), v.transpose(-1, -2)).to(e.dtype)
            if m is None:
                s, ctx = part_s, part_c
            else:
                scale = torch.exp(m - m_new)
                s = s * scale + part_s
                ctx = ctx * scale + part_c
            m = m_new
        if ctx is None or s is None or dtype is None:
            raise ValueError("EfficientAttention.context: no bands were given")
        return (ctx / s).to(dtype)

    def apply_context(self, x: Tensor, context: Tensor) -> Tensor:
        """Attention output for (a band of) the input given the global ``context``.

        Args:
            x: (B, C, h, W) normalised input (band).
            context: (B, heads, d_k, d_v) from :meth:`context`.

        Returns:
            (B, C, h, W).
        """
        b, c, hh, ww = x.shape
        acc = torch.promote_types(context.dtype, torch.float32)
        q = torch.softmax(self._split(self.query(x)), dim=-2, dtype=acc)
        out = torch.matmul(context.transpose(-1, -2), q.to(context.dtype))
        return self.reprojection(out.reshape(b, c, hh, ww))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, heads={self.heads}"

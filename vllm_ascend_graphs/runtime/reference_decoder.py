"""A small decoder step with the parts graph capture must get right, for `check` and the benchmarks.

Per layer: RMSNorm, attention of each token over a static KV buffer masked by its position, and a
gated MLP, with each residual add followed by `rms_norm` (the pattern the ACLGraph fusion pass
turns into `npu_add_rms_norm`). Inputs are token ids and positions, one row per token; rows are
independent, so padding a batch never changes the real rows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class ReferenceDecoder(torch.nn.Module):
    """Seeded random weights; a forward is one decode step over a fixed KV buffer."""

    keys: torch.Tensor  # buffers, registered in __init__
    values: torch.Tensor
    slots: torch.Tensor

    def __init__(self, *, hidden: int = 64, heads: int = 4, kv_len: int = 64, intermediate: int = 128,
                 vocab: int = 128, layers: int = 2, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)

        def weight(*shape: int, gain: float = 1.0) -> torch.nn.Parameter:
            value = torch.randn(*shape, generator=generator) * gain / shape[-1] ** 0.5
            return torch.nn.Parameter(value, requires_grad=False)

        def norms() -> torch.nn.ParameterList:
            return torch.nn.ParameterList(1 + weight(hidden) * 0.1 for _ in range(layers))

        self.hidden, self.heads, self.head_dim, self.eps = hidden, heads, hidden // heads, 1e-6
        self.embed = weight(vocab, hidden, gain=hidden ** 0.5)
        self.attn_norm, self.mlp_norm = norms(), norms()
        self.wq = torch.nn.ParameterList(weight(hidden, hidden) for _ in range(layers))
        self.wo = torch.nn.ParameterList(weight(hidden, hidden) for _ in range(layers))
        self.gate_up = torch.nn.ParameterList(weight(2 * intermediate, hidden) for _ in range(layers))
        self.down = torch.nn.ParameterList(weight(hidden, intermediate) for _ in range(layers))
        self.final_norm = torch.nn.Parameter(torch.ones(hidden), requires_grad=False)
        self.head = weight(vocab, hidden)
        # The static KV buffer: keys and values of earlier tokens, one slot per position.
        self.register_buffer("keys", torch.randn(layers, kv_len, heads, self.head_dim, generator=generator))
        self.register_buffer("values", torch.randn(layers, kv_len, heads, self.head_dim, generator=generator))
        self.register_buffer("slots", torch.arange(kv_len))

    def forward(self, token_ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        shape = (self.hidden,)
        residual = F.embedding(token_ids, self.embed)
        hidden_states = F.rms_norm(residual, shape, self.attn_norm[0], self.eps)
        visible = self.slots[None, None, :] <= positions[:, None, None]  # [tokens, 1, kv_len]
        layers = len(self.wq)
        for layer in range(layers):
            q = F.linear(hidden_states, self.wq[layer]).unflatten(-1, (self.heads, self.head_dim))
            scores = torch.einsum("thd,khd->thk", q, self.keys[layer]) * self.head_dim ** -0.5
            weights = scores.masked_fill(~visible, float("-inf")).softmax(dim=-1)
            attended = torch.einsum("thk,khd->thd", weights, self.values[layer]).flatten(-2)
            residual = F.linear(attended, self.wo[layer]) + residual
            hidden_states = F.rms_norm(residual, shape, self.mlp_norm[layer], self.eps)
            gate, up = F.linear(hidden_states, self.gate_up[layer]).chunk(2, dim=-1)
            residual = F.linear(F.silu(gate) * up, self.down[layer]) + residual
            norm = self.attn_norm[layer + 1] if layer + 1 < layers else self.final_norm
            hidden_states = F.rms_norm(residual, shape, norm, self.eps)
        return F.linear(hidden_states, self.head)

    def inputs(self, num_tokens: int, *, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Seeded token ids and positions for `num_tokens` tokens, on the decoder's device."""
        generator = torch.Generator().manual_seed(seed)
        token_ids = torch.randint(self.embed.shape[0], (num_tokens,), generator=generator)
        positions = torch.randint(self.slots.shape[0], (num_tokens,), generator=generator)
        return token_ids.to(self.embed.device), positions.to(self.embed.device)

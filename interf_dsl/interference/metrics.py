"""Interference kind: the registry of interference metrics (`interf list` shows it as "interference metric").

Every metric turns one SAE (and, for the corpus-based ones, its atlas) into one vector per feature such that
I(i, j) is the cosine of the two vectors, possibly after a transform (`abs`). That keeps every metric on the same
blocked GEMM path (`blocked.compute_map`). Input: `MetricInputs`; output: `MetricVectors` ([n, k] unit rows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from interf_dsl.errors import BackendError
from interf_dsl.registry import Registry

if TYPE_CHECKING:
    import torch


@dataclass
class MetricInputs:
    """What a metric may read: decoder/encoder weights, the unembedding, and per-feature atlas vectors."""

    w_dec: torch.Tensor  # [n, d] decoder rows
    w_enc: torch.Tensor | None = None  # [d, n]
    w_u: torch.Tensor | None = None  # [d, vocab] unembedding of the model
    activation_sample: torch.Tensor | None = None  # [n, t] feature activations on a fixed sample of corpus tokens
    context_means: torch.Tensor | None = None  # [n, d] mean hook activation at each feature's top contexts
    neuron_idx: list[list[int]] | None = None  # top decoder components per feature (atlas `neuron_idx`)
    where: str = ""  # "source/hook" for error messages


@dataclass
class MetricVectors:
    """Unit rows whose pairwise cosine (after `transform`) is the interference value."""

    vectors: torch.Tensor
    transform: str | None = None


INTERFERENCE_METRICS: Registry[Callable[[MetricInputs], MetricVectors]] = Registry("interference metric")


def unit_rows(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit norm; all-zero rows stay zero (their cosine with anything is 0)."""
    import torch

    x = x.float()
    return x / x.norm(dim=1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)


def _need(value: Any, what: str, metric: str, inputs: MetricInputs) -> Any:
    if value is None:
        raise BackendError(f"interference metric '{metric}' needs {what}, which {inputs.where or 'this SAE'} lacks")
    return value


@INTERFERENCE_METRICS.register("decoder_cos", summary="signed cosine of SAE decoder directions (paper default)")
def decoder_cos(inputs: MetricInputs) -> MetricVectors:
    return MetricVectors(unit_rows(inputs.w_dec))


@INTERFERENCE_METRICS.register("abs_decoder_cos", summary="absolute cosine of SAE decoder directions")
def abs_decoder_cos(inputs: MetricInputs) -> MetricVectors:
    return MetricVectors(unit_rows(inputs.w_dec), transform="abs")


@INTERFERENCE_METRICS.register("encoder_cos", summary="signed cosine of SAE encoder directions")
def encoder_cos(inputs: MetricInputs) -> MetricVectors:
    return MetricVectors(unit_rows(_need(inputs.w_enc, "an encoder (W_enc)", "encoder_cos", inputs).T))


@INTERFERENCE_METRICS.register("coactivation",
                               summary="Pearson correlation of feature activations on a corpus token sample")
def coactivation(inputs: MetricInputs) -> MetricVectors:
    acts = _need(inputs.activation_sample, "the atlas activation sample", "coactivation", inputs).float()
    return MetricVectors(unit_rows(acts - acts.mean(dim=1, keepdim=True)))


@INTERFERENCE_METRICS.register("logit_effect", summary="cosine of decoder directions mapped through W_U")
def logit_effect(inputs: MetricInputs) -> MetricVectors:
    """cos(d_i W_U, d_j W_U) without the [n, vocab] matrix: with G = W_U W_Uᵀ = L Lᵀ, it is cos(d_i L, d_j L)."""
    import torch

    w_u = _need(inputs.w_u, "the model's unembedding W_U", "logit_effect", inputs).double()
    evals, evecs = torch.linalg.eigh(w_u @ w_u.T)
    root = evecs * evals.clamp_min(0).sqrt()[None, :]
    return MetricVectors(unit_rows((inputs.w_dec.double() @ root).float()))


@INTERFERENCE_METRICS.register("neuron_share",
                               summary="fraction of shared top neurons (top decoder components)")
def neuron_share(inputs: MetricInputs) -> MetricVectors:
    """Indicator rows of each feature's top neurons; with k neurons each, the cosine is |shared| / k."""
    import torch

    idx = _need(inputs.neuron_idx, "the atlas neuron alignments", "neuron_share", inputs)
    out = torch.zeros(inputs.w_dec.shape, dtype=torch.float32, device=inputs.w_dec.device)
    for f, neurons in enumerate(idx):
        if neurons:
            out[f, list(neurons)] = 1.0
    return MetricVectors(unit_rows(out))


@INTERFERENCE_METRICS.register("activation_space",
                               summary="non-SAE baseline: cosine of mean activations at features' top contexts")
def activation_space(inputs: MetricInputs) -> MetricVectors:
    means = _need(inputs.context_means, "the atlas context means", "activation_space", inputs)
    return MetricVectors(unit_rows(means))

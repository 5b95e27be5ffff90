"""Spec sections (every part of a spec but the focus blocks): pydantic models of the spec language, below the kinds.

Parse assembles the `Spec` from these and the registered focus models; the plan hands them to steps as their
typed parameters, and the kinds' runners read them. Fields marked *preset* are `None` until `resolve/` fills them
from the preset (`paper` = the authors' protocol, `rigorous` = the fixes of docs/method.md §8).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator

from interf_dsl.lang import limits as lim
from interf_dsl.lang.fields import Bins, Hooks, Selector
from interf_dsl.lang.limits import PathName
from interf_dsl.lang.model import Model

PAPER_BINS = "[0,.1) [.1,.2) [.2,.3) [.3,.4) [.4,1]"


class Experiment(Model):
    """What the study is called and which protocol its defaults follow."""

    name: PathName
    """Experiment name; runs go to reports/<name>/<run_id>/ (letters, digits, `_`, `.`, `-`; a letter or digit first,
    no `..`, at most 100 characters)."""
    description: str = ""
    """Free text shown at the top of the report."""
    seed: int = Field(0, ge=0, le=lim.MAX_SEED)
    """Master seed: every random stream of the run derives from it and the step hash (0 to 2^32 - 1)."""
    preset: Literal["paper", "rigorous"] = "rigorous"
    """Defaults for the preset fields: `paper` = the authors' protocol, `rigorous` = docs/method.md §8 fixes."""


class SaeRelease(Model):
    """A sae_lens pretrained release and SAE id (`{layer}` and `{site}` are filled per hook)."""

    release: str
    """sae_lens release name, e.g. pythia-70m-deduped-res-sm."""
    id: str
    """SAE id inside the release, e.g. blocks.{layer}.hook_resid_post."""


class SaeGroup(Model):
    """SAEs attached to a set of hooks of one source model."""

    hooks: Hooks
    """Hook points: shorthand (`L1,3.{attn_out,mlp_out,resid_post}`) or canonical (`blocks.1.hook_resid_post`)."""
    sae: str | SaeRelease = "zoo"
    """`zoo` (the tiny zoo's SAE at each hook), `paper` (the paper's release for the hook, docs/method.md §1.2), a
    sae_lens {release, id}, or a local directory template such as /path/saes/{layer}."""


class Source(Model):
    """A small, white-box source model and its SAEs."""

    model: str
    """transformer_lens name (gpt2-small, pythia-70m-deduped, ...), `zoo:<name>`, or a local directory."""
    seed: int | None = Field(None, ge=0, le=lim.MAX_SEED)
    """Selection seed for this source (paper: pythia 50, gpt2 53); default: the experiment seed."""
    saes: tuple[SaeGroup, ...] = Field(min_length=1)
    """SAE groups: each attaches SAEs to some hooks."""
    token_types: str | None = None
    """JSON file {token_string: type} labelling the vocabulary with the 15 types of docs/method.md §4.2 (Table-1 token
    sets); the zoo ships its own labels, so zoo sources need none."""


class Explanations(Model):
    """Where feature explanations (glosses) come from."""

    kind: str = "auto"
    """`auto` (top tokens and contexts of the atlas), `neuronpedia` (an export folder), `llm` (via litellm)."""
    path: str | None = None
    """Neuronpedia export folder (kind neuronpedia)."""
    model: str | None = None
    """litellm model string of the explainer (kind llm)."""
    api_base: str | None = None
    """API base URL for the explainer."""
    api_key_env: str | None = None
    """Name of the environment variable holding the explainer's key (never the key)."""


class Embedding(Model):
    """The encoder that embeds explanations; S(i, j) is the cosine of two embeddings."""

    kind: Literal["sentence_transformers", "litellm"] = "sentence_transformers"
    """sentence_transformers (local) or litellm (an embedding API)."""
    model: str = "all-MiniLM-L6-v2"
    """Encoder name (the paper: text-embedding-3-large through an API)."""
    api_base: str | None = None
    """API base URL (kind litellm)."""
    api_key_env: str | None = None
    """Name of the environment variable holding the key (kind litellm)."""


class AtlasStats(Model):
    """The atlas settings of the `atlas` step itself: which text, how much, what statistics to keep."""

    corpus: str = "zoo:heldout"
    """Text for feature statistics: zoo:heldout, or a .txt/.jsonl file or folder."""
    max_tokens: int = Field(200_000, gt=0, le=lim.MAX_CORPUS_TOKENS)
    """Tokens of the corpus to run through each model."""
    context: int = Field(64, gt=1, le=lim.MAX_CONTEXT)
    """Window length in tokens."""
    batch_size: int = Field(32, gt=0, le=lim.MAX_BATCH)
    """Windows per forward pass."""
    top_contexts: int = Field(50, gt=0, le=lim.MAX_COUNT)
    """Top-activating contexts kept per feature (the paper: about 50)."""
    top_token_ratio: float | None = Field(None, gt=0, le=1)
    """*preset* r: a token is a top token if its activation >= r x the feature's max (paper 0.8; authors' code
    0.5)."""
    max_top_tokens: int = Field(100, gt=0, le=lim.MAX_VOCAB_COUNT)
    """Unique top tokens kept per feature."""
    neuron_alignments: int = Field(3, gt=0, le=lim.MAX_COUNT)
    """Largest decoder components kept per feature (feature -> neuron links)."""
    logit_lens: int = Field(10, ge=0, le=lim.MAX_VOCAB_COUNT)
    """Top promoted tokens (W_dec . W_U) kept per feature."""
    coactivation_tokens: int = Field(1024, gt=0, le=lim.MAX_COACTIVATION_TOKENS)
    """Corpus tokens whose feature activations are kept for the `coactivation` interference metric."""


class Atlas(AtlasStats):
    """The feature atlas: activation statistics, explanations and embeddings of every SAE feature."""

    explanations: Explanations = Explanations()
    """Explanation source."""
    embedding: Embedding = Embedding()
    """Embedding model for semantic similarity."""


class Map(Model):
    """The interference map: pair metrics, bins, semantic thresholds and target/partner selection."""

    metrics: tuple[str, ...] = Field(("decoder_cos",), min_length=1)
    """Interference metrics; the first is the primary I (decoder_cos = signed cosine of decoder directions)."""
    bins: Bins = PAPER_BINS
    """Interference bins of the primary metric."""
    thresholds: tuple[Annotated[float, Field(ge=0, le=1)], ...] = Field((0.4, 0.3, 0.2, 0.15), min_length=1)
    """Semantic thresholds tau in [0, 1]: partners need S < tau (S, a cosine of explanation embeddings)."""
    selection: Literal["pairwise", "cluster_exclusion"] | None = None
    """*preset* pairwise S < tau (authors' code) or cluster exclusion (paper text)."""
    linkage: Literal["average", "complete", "single"] = "average"
    """Agglomerative linkage for clusters."""
    targets_per_layer: int = Field(10, gt=0, le=lim.MAX_COUNT)
    """Targets sampled per (source, hook) and tau."""
    targets: tuple[Selector, ...] | None = None
    """Explicit target features (`gpt2/L3.resid_post[12, 40, 100-120]`): a listed SAE uses these (those that qualify
    under the every-bin rule) instead of sampling."""
    partners_per_bin: int = Field(3, gt=0, le=lim.MAX_COUNT)
    """Partners taken per bin and target."""
    top_partners: int = Field(20, gt=0, le=lim.MAX_COUNT)
    """Highest-I partners stored per feature in the pairs table."""
    share_similarity: float = Field(0.5, ge=-1, le=1)
    """Cross-model explanation similarity above which two sources' high-interference pairs count as shared (the
    `shared` table)."""
    memory_budget_mb: int = Field(1024, gt=0, le=lim.MAX_MEMORY_MB)
    """Host memory budget of the blocked pair computation (clustering, and the row blocks on a CPU); on a GPU the
    row blocks take a quarter of the device's free memory (at most 16 GiB) instead."""


class Prompts(Model):
    """Test sentences: mined from the corpus, read from a file, or written by an LLM."""

    source: Literal["mine", "file", "llm"] = "mine"
    """mine (corpus windows ending before a token), file (path), llm (litellm)."""
    path: str | None = None
    """File of sentences (source file)."""
    model: str | None = None
    """litellm model string (source llm)."""
    api_base: str | None = None
    """API base URL (source llm)."""
    api_key_env: str | None = None
    """Name of the environment variable holding the key (source llm)."""
    per_token: int = Field(3, gt=0, le=lim.MAX_COUNT)
    """Sentences per target token."""
    per_type: int = Field(100, gt=0, le=lim.MAX_COUNT)
    """Sentences per token type."""
    heldout_fraction: float = Field(0.5, ge=0, lt=1)
    """Sentences held out for alpha selection (stats.alpha_selection heldout)."""


class Metrics(Model):
    """Output metrics on the next-token distribution."""

    names: tuple[str, ...] = Field(("weighted_cosine", "weighted_overlap", "kl", "total_variation",
                                    "entropy_change", "type_success"), min_length=1)
    """Metrics computed."""
    primary: str | None = None
    """*preset* headline metric (paper weighted_cosine, rigorous weighted_overlap)."""
    top_k: Annotated[int | Literal["full"] | None, BeforeValidator(lim.top_k)] = None
    """*preset* predictions summed over: `full` vocabulary (paper steering) or an int (at most the vocabulary)."""
    target_ratio: float | None = Field(None, gt=0, le=1)
    """*preset* T_f: tokens with activation >= r x max (paper 0.8)."""
    target_tokens: int = Field(5, gt=0, le=lim.MAX_COUNT)
    """Size cap of T_f."""
    epsilon: float = Field(1e-8, gt=0, lt=1)
    """Floor of relative changes."""


class Stats(Model):
    """Estimators, intervals and multiplicity control."""

    mode: Literal["paper", "rigorous", "both"] | None = None
    """*preset* paper statistics, rigorous ones (clustered bootstrap, mixed models), or both."""
    ci: float = Field(0.95, gt=0, lt=1)
    """Confidence level."""
    bootstrap: int = Field(2000, ge=lim.MIN_BOOTSTRAP, le=lim.MAX_BOOTSTRAP)
    """Bootstrap draws (at least 100: fewer give meaningless percentiles)."""
    alpha_selection: Literal["best", "heldout"] | None = None
    """*preset* best-of-scales per sentence (paper) or selected on held-out sentences (rigorous)."""
    fdr: float = Field(0.05, gt=0, lt=1)
    """Benjamini-Hochberg false discovery rate."""
    regression: bool = True
    """Fit the paper's regressions of effect on interference."""


class Target(Model):
    """A black-box transfer target reached through litellm."""

    name: PathName
    """Short name used in step ids and reports (a path component, like the experiment name)."""
    model: str
    """litellm model string, e.g. together_ai/google/gemma-2-9b-it."""
    api_base: str | None = None
    """API base URL."""
    api_key_env: str | None = None
    """Name of the environment variable holding the key (never the key); required unless `serve` is set."""
    serve: str | None = None
    """Serve a local model (zoo:target-tiny) over loopback HTTP instead of calling a remote API."""
    mode: Literal["raw", "chat"] = "raw"
    """raw completion (the paper: no chat template) or chat."""
    top_k: int = Field(30, gt=0, le=lim.MAX_COUNT)
    """Top logprobs read per request."""
    samples: int = Field(20, gt=0, le=lim.MAX_COUNT)
    """Samples per request where logprobs are not offered."""
    concurrency: int = Field(8, gt=0, le=lim.MAX_CONCURRENCY)
    """Requests in flight."""
    workers: int = Field(1, gt=0, le=64)
    """Client processes making the calls (litellm costs ~4 ms CPU a call; one process tops out near 250/s)."""
    batch: int = Field(1, gt=0, le=256)
    """Prompts per request in raw mode (completions prompt arrays, e.g. vLLM, OpenAI); 1 = one per request."""
    rpm: int | None = Field(None, gt=0, le=lim.MAX_RATE)
    """Requests-per-minute limit."""
    tpm: int | None = Field(None, gt=0, le=lim.MAX_RATE)
    """Tokens-per-minute limit."""
    timeout_s: float = Field(30, gt=0, le=lim.MAX_TIMEOUT_S)
    """Per-request timeout."""
    max_retries: int = Field(4, ge=0, le=lim.MAX_RETRIES)
    """Retries per request."""
    backoff_s: float = Field(0.5, gt=0, le=lim.MAX_TIMEOUT_S)
    """First retry wait in seconds when the server sends no Retry-After (doubles per attempt, capped at 30 s)."""


class TransferSettings(Model):
    """The transfer settings every target shares (a `transfer` step carries them beside its one target)."""

    types: tuple[str, ...] = ("location", "number", "science")
    """Token types tested."""
    sentences: int = Field(100, gt=0, le=lim.MAX_COUNT)
    """Type sentences per type."""
    trials: int = Field(100, gt=0, le=lim.MAX_COUNT)
    """Trials per sentence and condition."""
    sets: str | None = None
    """Path to external token sets (instead of the ones selected from the sources)."""
    prompt_sets: str | None = None
    """Path to external type sentences."""
    share: Literal["union", "intersection"] = "union"
    """How the sources' token sets combine for the targets: union (paper, App. K.2) or intersection."""
    matched_random: bool | None = None
    """*preset* add the frequency/length-matched random set as a condition (paper False, rigorous True)."""
    tokens_per_trial: int | None = Field(None, gt=0, le=lim.MAX_COUNT)
    """Tokens injected per trial (default: the prompt focus block's, so targets and sources match; else 30)."""
    format: str | None = None
    """Injection template (default: the prompt focus block's; else `({tokens}){sentence}`)."""


class Transfer(TransferSettings):
    """Transfer of token-type injection to black-box targets (Table 1)."""

    targets: tuple[Target, ...] = Field(min_length=1)
    """Targets."""


class Report(Model):
    """Report outputs."""

    formats: tuple[Literal["md", "html"], ...] = ("md", "html")
    """Report formats."""
    figures: bool = True
    """Draw figures."""


class Execute(Model):
    """Where the steps run (execution only: in no step's params, so no hash and no result depends on it)."""

    executor: Literal["local", "ray"] = "local"
    """`local` runs every step in this process, in plan order; `ray` runs steps as Ray tasks in dependency order
    (`pip install -e ".[ray]"`; docs/ray.md)."""
    address: str | None = None
    """Ray cluster to join: `auto` (the cluster this machine belongs to), `ray://host:10001`; unset = start a local
    Ray on this machine."""
    max_width: int = Field(4, gt=0, le=lim.MAX_CONCURRENCY)
    """Ray: tasks one step's units may fan out to (intervene target shards); 1 = one task per step."""
    max_retries: int = Field(2, ge=0, le=lim.MAX_RETRIES)
    """Ray: times a task whose worker died is submitted again before the run fails."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where models and SAEs are placed (and the sweep and map run): `auto` = cuda when torch sees a CUDA device,
    else cpu; `cuda` where none is seen is refused at validate. run.json records the device used."""
    memory_budget_mb: Annotated[int, Field(gt=0, le=lim.MAX_MEMORY_MB)] | Literal["auto"] = "auto"
    """Bound on one batched sweep's working set on an accelerator (logits and float64 metrics of the sentences
    batched together), in MB; `auto` = a quarter of the GPU's free memory, at most 16 GiB (1024 on a CPU, where the
    sweep goes one sentence at a time)."""

    @field_validator("memory_budget_mb", mode="before")
    @classmethod
    def _budget(cls, value: object) -> object:  # one message for both forms, not one per union member
        if value == "auto" or (isinstance(value, int) and not isinstance(value, bool)
                               and 0 < value <= lim.MAX_MEMORY_MB):
            return value
        raise ValueError(f"memory_budget_mb is a size in MB (1 to {lim.MAX_MEMORY_MB}) or `auto`, not {value!r}")

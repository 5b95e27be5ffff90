"""Parse stage, output value: the `Spec`, a frozen pydantic model of one experiment file (YAML or `.interf`).

Input: plain data (from `_source.load_yaml` or the DSL front end `dsl.py`). Output: `Spec`. Fields marked
*preset* are `None` here and get their value from the preset in `resolve/` (`paper` = the authors' protocol,
`rigorous` = the fixes of METHOD.md §8); an explicit value always wins. Keys follow ARCHITECTURE.md's spec contract.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from interf_dsl.parse.fields import Bins, DegreeBins, Grid, Hooks, Selector

PAPER_SCALES = "±{0.5, 1, 1.5, 2, 3..10, 12, 14, 17, 20}"
PAPER_BINS = "[0,.1) [.1,.2) [.2,.3) [.3,.4) [.4,1]"
NEURON_SCALES = "{0, .1, .2, .5, .75, 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 12, 15, 18, 20}"
DEGREE_BINS = "1, 2-5, 6-20, 21-50, 51-100, 101-200, 201-500, 501+"


class Model(BaseModel):
    """Base of every spec model: frozen, unknown keys rejected, field docstrings kept for hints and the schema."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True,
                              validate_default=True)


class Experiment(Model):
    """What the study is called and which protocol its defaults follow."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    """Experiment name; runs go to reports/<name>/<run_id>/ (letters, digits, `_`, `.`, `-`)."""
    description: str = ""
    """Free text shown at the top of the report."""
    seed: int = 0
    """Master seed: every random stream of the run derives from it and the step hash."""
    preset: Literal["paper", "rigorous"] = "rigorous"
    """Defaults for the preset fields: `paper` = the authors' protocol, `rigorous` = METHOD.md §8 fixes."""


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
    """`zoo` (the tiny zoo's SAE at each hook), `paper` (the paper's release for the hook, METHOD.md §1.2), a
    sae_lens {release, id}, or a local directory template such as /path/saes/{layer}."""


class Source(Model):
    """A small, white-box source model and its SAEs."""

    model: str
    """transformer_lens name (gpt2-small, pythia-70m-deduped, ...), `zoo:<name>`, or a local directory."""
    seed: int | None = None
    """Selection seed for this source (paper: pythia 50, gpt2 53); default: the experiment seed."""
    saes: tuple[SaeGroup, ...] = Field(min_length=1)
    """SAE groups: each attaches SAEs to some hooks."""
    token_types: str | None = None
    """JSON file {token_string: type} labelling the vocabulary with the 15 types of METHOD.md §4.2 (Table-1 token
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


class Atlas(Model):
    """The feature atlas: activation statistics, explanations and embeddings of every SAE feature."""

    corpus: str = "zoo:heldout"
    """Text for feature statistics: zoo:heldout, or a .txt/.jsonl file or folder."""
    max_tokens: int = Field(200_000, gt=0)
    """Tokens of the corpus to run through each model."""
    context: int = Field(64, gt=1)
    """Window length in tokens."""
    batch_size: int = Field(32, gt=0)
    """Windows per forward pass."""
    top_contexts: int = Field(50, gt=0)
    """Top-activating contexts kept per feature (the paper: about 50)."""
    top_token_ratio: float | None = Field(None, gt=0, le=1)
    """*preset* r: a token is a top token if its activation >= r x the feature's max (paper 0.8; authors' code
    0.5)."""
    max_top_tokens: int = Field(100, gt=0)
    """Unique top tokens kept per feature."""
    neuron_alignments: int = Field(3, gt=0)
    """Largest decoder components kept per feature (feature -> neuron links)."""
    logit_lens: int = Field(10, ge=0)
    """Top promoted tokens (W_dec . W_U) kept per feature."""
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
    thresholds: tuple[float, ...] = Field((0.4, 0.3, 0.2, 0.15), min_length=1)
    """Semantic thresholds tau: partners need S < tau."""
    selection: Literal["pairwise", "cluster_exclusion"] | None = None
    """*preset* pairwise S < tau (authors' code) or cluster exclusion (paper text)."""
    linkage: Literal["average", "complete", "single"] = "average"
    """Agglomerative linkage for clusters."""
    targets_per_layer: int = Field(10, gt=0)
    """Targets sampled per (source, hook) and tau."""
    targets: tuple[Selector, ...] | None = None
    """Explicit target features (`gpt2/L3.resid_post[12, 40, 100-120]`): a listed SAE uses these (those that qualify
    under the every-bin rule) instead of sampling."""
    partners_per_bin: int = Field(3, gt=0)
    """Partners taken per bin and target."""
    top_partners: int = Field(20, gt=0)
    """Highest-I partners stored per feature in the pairs table."""
    share_similarity: float = Field(0.5, ge=-1, le=1)
    """Cross-model explanation similarity above which two sources' high-interference pairs count as shared (the
    `shared` table)."""
    memory_budget_mb: int = Field(1024, gt=0)
    """Memory budget of the blocked pair computation."""


_SOURCES_DOC = "Sources this block runs on (default: all)."
_HOOKS_DOC = "Hooks this block runs on (default: every SAE hook of its sources)."


class FeatureFocus(Model):
    """Feature focus: steer along SAE decoder directions of targets, partners and baselines (METHOD.md §5.1)."""

    focus: Literal["feature"]
    """Focus kind."""
    sources: tuple[str, ...] | None = None
    """Sources this block runs on (default: all)."""
    hooks: Hooks | None = None
    """Hooks this block runs on (default: every SAE hook of its sources)."""
    scales: Grid = PAPER_SCALES
    """Steering scales alpha (the paper: 32 values)."""
    conditions: tuple[Literal["self", "bins", "random_direction", "random_feature", "matched_feature"], ...] | None\
        = None
    """*preset* levels compared (paper: self, bins, random_direction; rigorous adds random_feature,
    matched_feature)."""
    targets_per_layer: int | None = Field(None, gt=0)
    """Targets per (source, hook); default: map.targets_per_layer."""
    random_draws: int = Field(1, gt=0)
    """Random directions (and random features) drawn per target, each its own candidate."""
    sentences_per_target: int | None = Field(None, gt=0)
    """Most vocabulary sentences used per target (default: all mined, metrics.target_tokens x prompts.per_token)."""


class TokenFocus(Model):
    """Token focus: steer along input-embedding gradients of partners' top tokens (METHOD.md §5.2)."""

    focus: Literal["token"]
    """Focus kind."""
    sources: tuple[str, ...] | None = None
    """Sources this block runs on (default: all)."""
    hooks: Hooks | None = None
    """Hooks this block runs on (default: the SAE hooks whose site is in layer_kinds)."""
    probe: Literal["ones", "encoder", "decoder"] = "ones"
    """Probe v of L = <a, v>: all-ones (paper), the SAE encoder row or decoder row."""
    position_ratio: float = Field(0.8, gt=0, le=1)
    """Gradient positions: activation >= ratio x the context's max."""
    layer_kinds: tuple[str, ...] = ("attn_out", "mlp_out")
    """Hook sites used (paper: attention and MLP outputs)."""
    scales: Grid = PAPER_SCALES
    """Steering scales alpha."""
    equal_candidates: bool | None = None
    """*preset* give every level the same number of candidate vectors (paper False, rigorous True)."""
    targets_per_layer: int = Field(4, gt=0)
    """Targets per (source, hook)."""
    random_draws: int = Field(1, gt=0)
    """Random directions (and random features) drawn per target, each its own candidate."""
    contexts_per_feature: int = Field(3, gt=0)
    """Top contexts per feature whose gradients give its candidate vectors."""
    sentences_per_target: int | None = Field(None, gt=0)
    """Most vocabulary sentences used per target (default: all mined, metrics.target_tokens x prompts.per_token)."""


class PromptFocus(Model):
    """Prompt focus: inject partners' snippets or token sets into prompts (METHOD.md §5.3, §6.2)."""

    focus: Literal["prompt"]
    """Focus kind."""
    sources: tuple[str, ...] | None = None
    """Sources this block runs on (default: all)."""
    hooks: Hooks | None = None
    """Hooks whose features build the token sets (default: all SAE hooks)."""
    mode: Literal["snippets", "type_injection"] = "type_injection"
    """snippets (feature-level, §5.3a) or type_injection (Table 1, §6.2)."""
    wrap: str = "**"
    """Marker around injected snippets (snippets mode)."""
    position: Literal["prepend", "append"] = "prepend"
    """Where the injection goes."""
    types: tuple[str, ...] = ("location", "number", "science")
    """Token types tested (type_injection)."""
    high_threshold: float = Field(0.5, ge=0, le=1)
    """I_max for the HIGH set (paper: 0.5)."""
    high_thresholds: dict[str, float] = {}
    """Per-source override of high_threshold (the authors' GPT-2 small-model run: 0.3)."""
    medium_threshold: float = Field(0.2, ge=0, le=1)
    """I_max for the MEDIUM (low-interference) set."""
    interference_min: float = Field(0.2, ge=0, le=1)
    """Partners need I > this."""
    semantic_max: float = Field(0.3, ge=-1, le=1)
    """Partners need S < this."""
    tokens_per_feature: int = Field(10, gt=0)
    """Top tokens taken per interference feature."""
    tokens_per_trial: int = Field(30, gt=0)
    """Tokens sampled per injection."""
    top_k: int = Field(30, gt=0)
    """Next tokens read per trial."""
    sentences: int = Field(100, gt=0)
    """Type sentences per type."""
    trials: int = Field(100, gt=0)
    """Trials per sentence and condition."""
    format: str = "({tokens}){sentence}"
    """Injection template."""
    dedup: bool = True
    """Remove tokens in both HIGH and MEDIUM from both."""
    share: Literal["union", "intersection"] = "union"
    """How token sets of several sources combine."""
    matched_random: bool | None = None
    """*preset* add a frequency/length-matched random set (paper False, rigorous True)."""
    contexts_per_feature: int = Field(3, gt=0)
    """Top contexts per feature that give snippets (snippets mode)."""
    snippet_ratio: float = Field(0.5, gt=0, le=1)
    """A snippet keeps the tokens around the peak with activation >= ratio x the context's max (snippets mode)."""
    snippet_tokens: int = Field(8, gt=0)
    """Longest snippet, in tokens (snippets mode)."""
    sentences_per_target: int | None = Field(None, gt=0)
    """Most vocabulary sentences used per target (default: all mined, metrics.target_tokens x prompts.per_token)."""


class NeuronFocus(Model):
    """Neuron focus: mask or amplify activation coordinates by polysemanticity degree (METHOD.md §5.4)."""

    focus: Literal["neuron"]
    """Focus kind."""
    sources: tuple[str, ...] | None = None
    """Sources this block runs on (default: all)."""
    hooks: Hooks | None = None
    """Hooks this block runs on (default: every SAE hook)."""
    variant: Literal["coordinate", "mlp_hidden"] = "coordinate"
    """coordinate of the hooked space (paper) or MLP hidden unit."""
    degree_bins: DegreeBins = DEGREE_BINS
    """Degree bins; one neuron is sampled per bin and hook."""
    scales: Grid = NEURON_SCALES
    """Multipliers of the neuron's activation ([0,1) masks, > 1 amplifies)."""
    link_threshold: float = Field(0.2, ge=0)
    """Feature -> neuron link: decoder component > this."""
    cluster_cutoff: float = Field(0.4, gt=0, le=1)
    """Clusters counted at this similarity cutoff."""
    clusters_per_neuron: int = Field(3, gt=0)
    """Connected clusters sampled per neuron."""
    features_per_cluster: int = Field(3, gt=0)
    """Features sampled per cluster."""
    random_control: bool | None = None
    """*preset* scale random coordinates with matched variance (paper False, rigorous True)."""
    neurons_per_bin: int = Field(1, gt=0)
    """Neurons sampled per degree bin and hook."""
    top_k: int = Field(10, gt=0)
    """Predictions the metric reads."""


Focus = Annotated[FeatureFocus | TokenFocus | PromptFocus | NeuronFocus, Field(discriminator="focus")]


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
    per_token: int = Field(3, gt=0)
    """Sentences per target token."""
    per_type: int = Field(100, gt=0)
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
    top_k: int | Literal["full"] | None = None
    """*preset* predictions summed over: `full` vocabulary (paper steering) or an int."""
    target_ratio: float | None = Field(None, gt=0, le=1)
    """*preset* T_f: tokens with activation >= r x max (paper 0.8)."""
    target_tokens: int = Field(5, gt=0)
    """Size cap of T_f."""
    epsilon: float = Field(1e-8, gt=0)
    """Floor of relative changes."""


class Stats(Model):
    """Estimators, intervals and multiplicity control."""

    mode: Literal["paper", "rigorous", "both"] | None = None
    """*preset* paper statistics, rigorous ones (clustered bootstrap, mixed models), or both."""
    ci: float = Field(0.95, gt=0, lt=1)
    """Confidence level."""
    bootstrap: int = Field(2000, gt=0)
    """Bootstrap draws."""
    alpha_selection: Literal["best", "heldout"] | None = None
    """*preset* best-of-scales per sentence (paper) or selected on held-out sentences (rigorous)."""
    fdr: float = Field(0.05, gt=0, lt=1)
    """Benjamini-Hochberg false discovery rate."""
    regression: bool = True
    """Fit the paper's regressions of effect on interference."""


class Target(Model):
    """A black-box transfer target reached through litellm."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    """Short name used in step ids and reports."""
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
    top_k: int = Field(30, gt=0)
    """Top logprobs read per request."""
    samples: int = Field(20, gt=0)
    """Samples per request where logprobs are not offered."""
    concurrency: int = Field(8, gt=0)
    """Requests in flight."""
    workers: int = Field(1, gt=0, le=64)
    """Client processes making the calls (litellm costs ~4 ms CPU a call; one process tops out near 250/s)."""
    batch: int = Field(1, gt=0, le=256)
    """Prompts per request in raw mode (completions prompt arrays, e.g. vLLM, OpenAI); 1 = one per request."""
    rpm: int | None = Field(None, gt=0)
    """Requests-per-minute limit."""
    tpm: int | None = Field(None, gt=0)
    """Tokens-per-minute limit."""
    timeout_s: float = Field(30, gt=0)
    """Per-request timeout."""
    max_retries: int = Field(4, ge=0)
    """Retries per request."""


class Transfer(Model):
    """Transfer of token-type injection to black-box targets (Table 1)."""

    types: tuple[str, ...] = ("location", "number", "science")
    """Token types tested."""
    sentences: int = Field(100, gt=0)
    """Type sentences per type."""
    trials: int = Field(100, gt=0)
    """Trials per sentence and condition."""
    sets: str | None = None
    """Path to external token sets (instead of the ones selected from the sources)."""
    prompt_sets: str | None = None
    """Path to external type sentences."""
    share: Literal["union", "intersection"] = "union"
    """How the sources' token sets combine for the targets: union (paper, App. K.2) or intersection."""
    matched_random: bool | None = None
    """*preset* add the frequency/length-matched random set as a condition (paper False, rigorous True)."""
    targets: tuple[Target, ...] = Field(min_length=1)
    """Targets."""


class Report(Model):
    """Report outputs."""

    formats: tuple[Literal["md", "html"], ...] = ("md", "html")
    """Report formats."""
    figures: bool = True
    """Draw figures."""


class Spec(Model):
    """One experiment, as written (presets not yet applied)."""

    experiment: Experiment
    """Name, seed and preset."""
    sources: dict[str, Source] = Field(min_length=1)
    """Named source models with their SAEs."""
    atlas: Atlas = Atlas()
    """Feature atlas settings."""
    map: Map = Map()
    """Interference map and pair selection."""
    interventions: tuple[Focus, ...] = ()
    """Intervention focus blocks."""
    prompts: Prompts = Prompts()
    """Test sentences."""
    metrics: Metrics = Metrics()
    """Output metrics."""
    stats: Stats = Stats()
    """Statistics."""
    transfer: Transfer | None = None
    """Black-box transfer (optional)."""
    report: Report = Report()
    """Report outputs."""

    _source: Any = PrivateAttr(default=None)

    @property
    def source(self) -> Any:
        """The `SourceMap` of the file this spec was loaded from (None when built in code)."""
        return self._source

    def __eq__(self, other: object) -> bool:
        # two spellings of one spec are equal: positions (private) do not take part
        return type(self) is type(other) and self.__dict__ == other.__dict__  # type: ignore[union-attr]

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        return f"Spec({self.experiment.name}, preset={self.experiment.preset}, sources={list(self.sources)})"


SECTION_MODELS: dict[str, type[Model]] = {
    "experiment": Experiment, "atlas": Atlas, "map": Map, "prompts": Prompts, "metrics": Metrics, "stats": Stats,
    "transfer": Transfer, "report": Report,
}
FOCUS_MODELS: dict[str, type[Model]] = {"feature": FeatureFocus, "token": TokenFocus, "prompt": PromptFocus,
                                        "neuron": NeuronFocus}

"""Parse stage, starter specs: the commented spec `interf new` writes (tiny zoo, one preset).

Input: a preset name, a spelling and an experiment name. Output: spec text that validates as written (a test
loads and resolves it against the zoo card).
"""

from __future__ import annotations

from interf_dsl.parse import format_spec, load_spec_text

_YAML = """\
# Editor completion: `interf schema -o interf.schema.json`, then add `# yaml-language-server: $schema=interf.schema.json`
# A starter interf spec ({preset} preset). Reference of every key: specs/README.md. Check: interf validate FILE
experiment:
  name: {name}
  description: Polysemantic interference on the tiny zoo.
  seed: 0
  preset: {preset}          # paper = the authors' protocol; rigorous = docs/method.md §8 fixes

sources:                    # small white-box models with SAEs
  gpt2:
    model: zoo:gpt2-tiny    # or gpt2-small, pythia-70m-deduped, a local directory
    seed: 53
    saes:
      - hooks: "L1,3.{{attn_out,mlp_out,resid_post}}"   # shorthand for blocks.<l>.hook_<site>
        sae: zoo            # or paper, {{release: ..., id: ...}}, or a directory template

atlas:
  corpus: zoo:heldout       # text for feature statistics
  explanations: {{kind: auto}}
  embedding: {{kind: sentence_transformers, model: all-MiniLM-L6-v2}}

map:
  bins: "[0,.1) [.1,.2) [.2,.3) [.3,.4) [.4,1]"   # interference bins of decoder cosine
  thresholds: [0.4, 0.2]    # semantic thresholds tau
  targets_per_layer: 2
  partners_per_bin: 1

interventions:
  - focus: feature
    scales: "±{{1, 2, 4}}"     # the paper: ±{{0.5, 1, 1.5, 2, 3..10, 12, 14, 17, 20}}

stats: {{bootstrap: 500}}
"""


def starter_spec(preset: str, spelling: str, name: str) -> str:
    """A commented starter spec in `yaml` or `interf`."""
    safe = "".join(c if c.isalnum() or c in "_.-" else "_" for c in name) or "experiment"
    text = _YAML.format(preset=preset, name=safe)
    if spelling == "yaml":
        return text

    body = format_spec(load_spec_text(text, "<starter>.yaml"), "interf")
    return (f"# A starter interf spec ({preset} preset) in the native DSL. Reference: specs/README.md.\n"
            "# Check it with: interf validate FILE\n\n" + body)

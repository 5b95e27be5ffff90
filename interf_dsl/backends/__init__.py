"""Backends: local model backends (hooked transformer_lens models, a scripted fake) and the one loading path for
model and SAE references. Below the engine: step runners, the zoo and `interf serve` use them; torch is imported lazily.
"""

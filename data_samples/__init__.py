"""Seeded generator of synthetic monthly deliveries plus ground truth (no real persons).

Use `from data_samples.generate import generate, GenerationSummary` or
`python -m data_samples.generate --out DIR ...` (the package itself imports
nothing, so that `-m` runs the module once and `data_samples.generate` stays the module).
"""

"""Benchmark scripts and the harness they share with the tests (`benchmarks.sample_run`:
generate a sample, run it through the real monthly job, read the warehouse for grading).

This is an entry-point layer: it may import the pipeline and data_samples; nothing of the
pipeline imports it.
"""

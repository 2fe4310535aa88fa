"""Benchmarks (`make bench`): each module measures one part beside its baselines, in the same run."""

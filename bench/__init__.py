"""Benchmarks for iamwatch: a synthetic CloudTrail corpus and the runs measured against it."""

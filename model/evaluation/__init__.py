"""Evaluation: test-split reports, claim and policy reports, plots, comparisons and benchmarks.

Imports: the serving core and ``model.training`` (data loaders, metrics); nothing imports this
package except the command line, the notebooks and the tests.
"""

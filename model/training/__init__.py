"""Training: load the labelled data, fit the heads, choose thresholds and write a bundle.

Imports: the serving core (``model.*`` outside ``model.training`` and ``model.evaluation``) and this
package; never ``model.evaluation``. ``metrics`` lives here because choosing thresholds and weights on
validation data needs the same metric functions that the reports use.
"""

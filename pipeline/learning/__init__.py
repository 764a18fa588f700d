"""Offline extraction learned from gold: candidates first, labels by classifiers.

A schema with a numeric ``quantity_field`` gets one candidate per number of
interest the quantity engine finds; any other schema gets one candidate per
sentence. For each candidate a *keep* classifier decides whether it is a record,
and one classifier per label field (a Literal or enum field, e.g. ``indicator``,
``kind``, ``category``) chooses its value. The schema's own offline rules, when it
has them, supply every other field and vote through features. The classifiers are
linear models fitted by scikit-learn (``polex train``) and stored as arrays in an
``.npz`` file read without pickle; prediction needs only numpy.
"""

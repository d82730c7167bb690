"""Query pipeline: ``searcher`` (the ``Searcher``), kNN candidates, the alignment re-rank, scores and
the confidence decision, and the data behind "why it matched"."""

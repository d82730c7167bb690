"""Bulk indexing entry point: ``python -m indexer DIR... [options]`` is ``hum-search index DIR...``.

The work is done by ``hum_search.indexing.run`` (a library, also used by the web app); run
``python -m indexer --help`` for the options.
"""

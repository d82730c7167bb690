"""The Elasticsearch store, one role per module:

``store``      the Store (ElasticsearchStore): reads, writes, refreshes, failures
``query``      every request body and the parsing of search responses: where the query is built
``codec``      song records <-> documents
``mapping``    the index bodies, from mappings/*.json, and the check of an existing index
``client``     the client from settings, the retry policy of a request, the server check
``bulk``       bulk writes sized by bytes, with failed documents collected
``translate``  client exceptions -> one-line store errors (403 privileges, 8.x servers)
``urls``       strict URL parsing and ``redact`` for every message and log line
``reindex``    the re-index task and the alias swap
``kibana``     the Kibana saved objects and their import
``sizing``     memory and quantization recall on paper
"""

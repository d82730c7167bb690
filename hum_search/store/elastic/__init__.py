"""The Elasticsearch store: ``store`` (the Store), ``client`` (connection, errors, retries, bulk),
``codec`` (records <-> documents), ``mapping`` (index bodies), ``query`` (every request body: where
the Elasticsearch query is built), ``kibana`` (saved objects) and ``sizing`` (memory on paper)."""

"""``hum-search kibana-setup`` and ``hum-search reindex``: Elasticsearch administration."""

from __future__ import annotations

import argparse
import os

from ..config import Settings, is_es_url
from ..errors import HumSearchError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "kibana-setup",
        help="import the hum-search data views and dashboard into Kibana",
        description="Import mappings/kibana/*.ndjson (data views on the songs alias and the failures index, "
                    "saved searches, visualizations and a dashboard) through Kibana's saved objects API. "
                    "Credentials: HUM_SEARCH_ES_API_KEY, or HUM_SEARCH_ES_USER and HUM_SEARCH_ES_PASSWORD.",
    )
    p.add_argument("--kibana-url", default=os.environ.get("HUM_SEARCH_KIBANA_URL") or "http://localhost:5601",
                   help="Kibana URL (default: $HUM_SEARCH_KIBANA_URL or http://localhost:5601)")
    p.add_argument("--space", default=None, help="Kibana space id (default: the default space)")
    p.add_argument("--no-overwrite", action="store_true", help="keep objects that already exist in Kibana")
    p.set_defaults(func=run_kibana_setup)

    r = subparsers.add_parser(
        "reindex",
        help="rebuild the Elasticsearch index from the current mapping and swap the alias",
        description="Copy every song into a new index built from mappings/songs.json (e.g. after changing "
                    "index_options), then move the alias to it in one atomic step. Searches keep working "
                    "throughout; do not index new songs while it runs.",
    )
    r.add_argument("--store", default=None, help="Elasticsearch URL (default: $HUM_SEARCH_STORE or $HUM_SEARCH_ES_URL)")
    r.add_argument("--delete-old", action="store_true", help="delete the previous index after the swap")
    r.set_defaults(func=run_reindex)


def run_kibana_setup(args: argparse.Namespace) -> int:
    from ..store.elastic.kibana import DASHBOARD_ID, import_saved_objects

    settings = Settings.from_env()
    result = import_saved_objects(args.kibana_url, settings, overwrite=not args.no_overwrite, space=args.space)
    if not result.success:
        for err in result.errors:
            print(f"  {err}")
        raise HumSearchError(f"Kibana imported {result.count} objects and refused {len(result.errors)}",
                             "see the lines above; with --no-overwrite, existing objects are reported as conflicts")
    base = args.kibana_url.rstrip("/") + (f"/s/{args.space}" if args.space else "")
    print(f"imported {result.count} saved objects into Kibana")
    print(f"dashboard: {base}/app/dashboards#/view/{DASHBOARD_ID}")
    print(f"discover:  {base}/app/discover (data view \"hum-search songs\", index {settings.es_index})")
    return 0


def run_reindex(args: argparse.Namespace) -> int:
    from ..store.elastic.store import ElasticsearchStore

    settings = Settings.from_env()
    url = args.store or settings.store
    if not is_es_url(url):
        raise HumSearchError(f"reindex works on an Elasticsearch store, not {url}",
                             "pass --store http://localhost:9200 or set HUM_SEARCH_ES_URL")
    with ElasticsearchStore.attach(url, settings) as store:
        print(f"re-indexing {store.count()} songs of {store.index} (alias {store.alias}) ...")
        res = store.reindex(delete_old=args.delete_old)
    print(f"{res.documents} songs now in {res.new_index}; {store.alias} points to it")
    print(f"{res.old_index} was deleted" if res.deleted_old
          else f"{res.old_index} is kept; delete it with: curl -X DELETE -u elastic {url.rstrip('/')}/{res.old_index}")
    return 0

"""``hum-search kibana-setup``, ``hum-search reindex`` and ``hum-search es-sizing``: Elasticsearch
administration, and the memory a collection needs on paper."""

from __future__ import annotations

import argparse

from ..config import is_es_url
from ..engine import index_spec, open_engine
from ..errors import HumSearchError
from ..store.elastic.kibana import DASHBOARD_ID, import_saved_objects
from ..store.elastic.sizing import Collection, fmt_bytes, memory_bytes, tables
from ..store.elastic.urls import safe_url
from ._common import add_store_arg, positive_int, settings_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "kibana-setup",
        help="import the hum-search data views and dashboard into Kibana",
        description="Import mappings/kibana/*.ndjson (data views on the songs alias and the failures index, "
                    "saved searches, visualizations and a dashboard) through Kibana's saved objects API. "
                    "Credentials: HUM_SEARCH_ES_API_KEY, or HUM_SEARCH_ES_USER and HUM_SEARCH_ES_PASSWORD.",
    )
    p.add_argument("--kibana-url", default=None,
                   help="Kibana URL (default: $HUM_SEARCH_KIBANA_URL or http://localhost:5601)")
    p.add_argument("--space", default=None, help="Kibana space id (default: the default space)")
    p.add_argument("--no-overwrite", action="store_true", help="keep objects that already exist in Kibana")
    p.set_defaults(func=run_kibana_setup)

    r = subparsers.add_parser(
        "reindex",
        help="rebuild the Elasticsearch index from the current mapping and swap the alias",
        description="Copy every song into a new index built from mappings/songs.json (e.g. after changing "
                    "index_options), then move the alias to it in one atomic step. Searches keep working "
                    "throughout; do not index new songs while it runs. Following the copy needs the cluster "
                    "privilege monitor.",
    )
    add_store_arg(r)
    r.add_argument("--delete-old", action="store_true", help="delete the previous index after the swap")
    r.set_defaults(func=run_reindex)

    s = subparsers.add_parser(
        "es-sizing",
        help="memory that an Elasticsearch index of N songs needs, on paper",
        description="Print the bytes per vector and the memory that approximate kNN needs for 10,000, 1 million "
                    "and 10 million songs of 4 minutes with the current features (docs/elasticsearch.md, "
                    "'Scale on paper'); --recall adds the measured recall of int8, int4 and bbq quantization.",
    )
    s.add_argument("--songs", type=positive_int, default=None, metavar="N", help="also show a collection of N songs")
    s.add_argument("--recall", action="store_true", help="also measure recall under quantization (takes a minute)")
    s.set_defaults(func=run_es_sizing)


def run_kibana_setup(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    kibana_url = args.kibana_url or settings.kibana_url
    result = import_saved_objects(kibana_url, settings, overwrite=not args.no_overwrite, space=args.space)
    if not result.success:
        for err in result.errors:
            print(f"  {err}")
        raise HumSearchError(f"Kibana imported {result.count} objects and refused {len(result.errors)}",
                             "see the lines above; with --no-overwrite, existing objects are reported as conflicts")
    base = safe_url(kibana_url) + (f"/s/{args.space}" if args.space else "")
    print(f"imported {result.count} saved objects into Kibana")
    print(f"dashboard: {base}/app/dashboards#/view/{DASHBOARD_ID}")
    print(f"discover:  {base}/app/discover (data view \"hum-search songs\", index {settings.es_index})")
    return 0


def run_reindex(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    if not is_es_url(settings.store):
        raise HumSearchError(f"reindex works on an Elasticsearch store, not {settings.store}",
                             "pass --store http://localhost:9200 or set HUM_SEARCH_ES_URL")
    with open_engine(settings, sound="off") as engine:
        store = engine.store
        print(f"re-indexing {store.count()} songs of {store.index} (alias {store.alias}) ...")
        res = store.reindex(delete_old=args.delete_old)
    print(f"{res.documents} songs now in {res.new_index}; {store.alias} points to it")
    print(f"{res.old_index} was deleted" if res.deleted_old
          else f"{res.old_index} is kept; delete it with: curl -X DELETE -u elastic {safe_url(settings.store)}/"
               f"{res.old_index}")
    return 0


def run_es_sizing(args: argparse.Namespace) -> int:
    spec = index_spec()
    tables(spec, print, recall_tables=args.recall)
    if args.songs:
        m = memory_bytes(Collection.from_spec(spec, args.songs))
        print(f"{args.songs:,d} songs, shipped mapping: melody {fmt_bytes(m['melody'])}, "
              f"sound {fmt_bytes(m['sound'])}, total {fmt_bytes(m['total'])}")
    return 0

"""Kibana saved objects for inspecting a hum-search Elasticsearch index.

``mappings/kibana/*.ndjson`` holds the objects: a data view on the songs alias, one on the
failures index, two saved searches (recently indexed songs, failed files), two visualizations
(songs per genre, songs and total duration) and a dashboard with all four. ``import_saved_objects``
sends them to Kibana's import API (POST /api/saved_objects/_import, multipart, with the kbn-xsrf
header), after pointing the data views at the configured alias. Standard library only.

Every object carries ``coreMigrationVersion`` and ``typeMigrationVersion``: they tell Kibana which
of its saved-object migrations the object has already been through. An object without them is
taken for one written by Kibana 7.0 and run through every migration since, which rewrites the
objects by their 7.x formats. The values (``MIGRATION_VERSIONS``) are those of the format the
objects are written in, and every Kibana 9.x knows them:

* ``coreMigrationVersion`` 8.8.0: the last core migration (Kibana 8.8 and later export 8.8.0);
* ``index-pattern`` 8.0.0 and ``visualization`` 8.5.0: their last migrations (neither type has
  model versions);
* ``search`` and ``dashboard`` 10.1.0: model version 1 of each (model version N is written
  10.N.0), which changed nothing in the 8.x format; Kibana applies their later model versions
  (added mappings, and the tabs backfill of saved searches) on import.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...config import Settings
from ...errors import BackendUnavailableError, HumSearchError
from .mapping import MAPPINGS_DIR, failures_index_name
from .urls import (
    KIBANA_PLACE,
    parse_es_url,
    redact,
    remember_secrets,
    safe_url,
    split_credentials,
)

log = logging.getLogger(__name__)

KIBANA_DIR = MAPPINGS_DIR / "kibana"
DEFAULT_KIBANA_URL = "http://localhost:5601"
SONGS_DATA_VIEW = "hum-search-songs"
FAILURES_DATA_VIEW = "hum-search-failures"
DASHBOARD_ID = "hum-search-dashboard"
CORE_MIGRATION_VERSION = "8.8.0"
MIGRATION_VERSIONS = {"index-pattern": "8.0.0", "visualization": "8.5.0", "search": "10.1.0", "dashboard": "10.1.0"}


@dataclass
class ImportResult:
    success: bool
    count: int
    errors: list[str] = field(default_factory=list)


def load_saved_objects(alias: str, directory: Path | None = None) -> list[dict[str, Any]]:
    """All saved objects of ``mappings/kibana/*.ndjson``, the data views retitled to ``alias`` and
    its failures index."""
    directory = directory or KIBANA_DIR
    files = sorted(directory.glob("*.ndjson"))
    if not files:
        raise HumSearchError(f"no Kibana saved objects (*.ndjson) in {directory}",
                             "run hum-search from a full checkout that includes mappings/kibana/")
    objects = []
    for f in files:
        for n, line in enumerate(f.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise HumSearchError(f"{f}:{n} is not valid JSON ({e})", "restore it from the repository") from None
            _check_versions(obj, f"{f}:{n}")
            if obj.get("type") == "index-pattern" and obj.get("id") == SONGS_DATA_VIEW:
                obj["attributes"]["title"] = alias
            elif obj.get("type") == "index-pattern" and obj.get("id") == FAILURES_DATA_VIEW:
                obj["attributes"]["title"] = failures_index_name(alias)
            objects.append(obj)
    return objects


def _check_versions(obj: dict[str, Any], where: str) -> None:
    want = (CORE_MIGRATION_VERSION, MIGRATION_VERSIONS.get(obj.get("type", "")))
    have = (obj.get("coreMigrationVersion"), obj.get("typeMigrationVersion"))
    if want[1] is None or have != want:
        raise HumSearchError(f"{where}: the {obj.get('type')} {obj.get('id')} has the migration versions {have}, "
                             f"not {want}", "restore the file from the repository (see the kibana module's docstring)")


def to_ndjson(objects: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(o, separators=(",", ":")) + "\n" for o in objects).encode("utf-8")


def multipart_body(ndjson: bytes, filename: str = "hum-search.ndjson") -> tuple[bytes, str]:
    """A multipart/form-data body with the file in the form field ``file``; returns (body,
    content type)."""
    boundary = f"hum-search-{uuid.uuid4().hex}"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/ndjson\r\n\r\n").encode("ascii")
    tail = f"\r\n--{boundary}--\r\n".encode("ascii")
    return head + ndjson + tail, f"multipart/form-data; boundary={boundary}"


def auth_header(settings: Settings, url_credentials: tuple[str, str] | None = None) -> str | None:
    """Kibana accepts the same credentials as Elasticsearch: an API key or basic auth (from the
    settings, else from the user:password of the Kibana URL)."""
    if settings.es_api_key:
        return f"ApiKey {settings.es_api_key}"
    user, password = (settings.es_user, settings.es_password) if settings.es_user else (url_credentials or (None, None))
    if user:
        token = base64.b64encode(f"{user}:{password or ''}".encode()).decode("ascii")
        return f"Basic {token}"
    return None


def import_request(kibana_url: str, objects: list[dict[str, Any]], settings: Settings, *,
                   overwrite: bool = True, space: str | None = None) -> urllib.request.Request:
    body, ctype = multipart_body(to_ndjson(objects))
    kibana_url, url_credentials = split_credentials(kibana_url)  # urllib would take user:password for the host
    base = kibana_url.rstrip("/") + (f"/s/{space}" if space else "")
    url = f"{base}/api/saved_objects/_import?overwrite={'true' if overwrite else 'false'}"
    req = urllib.request.Request(url, data=body, method="POST")
    req.add_header("kbn-xsrf", "true")
    req.add_header("Content-Type", ctype)
    auth = auth_header(settings, url_credentials)
    if auth:
        req.add_header("Authorization", auth)
    return req


def parse_import_response(body: dict[str, Any]) -> ImportResult:
    errors = []
    for e in body.get("errors") or []:
        err = e.get("error") or {}
        detail = err.get("type", "error")
        if err.get("references"):
            detail += " (missing " + ", ".join(f"{r.get('type')} {r.get('id')}" for r in err["references"]) + ")"
        errors.append(f"{e.get('type')} {e.get('id')} {e.get('meta', {}).get('title', '')}: {detail}".replace("  ", " "))
    return ImportResult(bool(body.get("success")), int(body.get("successCount", 0)), errors)


def import_saved_objects(kibana_url: str, settings: Settings, *, overwrite: bool = True, space: str | None = None,
                         timeout: float = 60.0) -> ImportResult:
    """Import the saved objects into Kibana. Raises a one-line HumSearchError when Kibana cannot
    be reached or refuses the request."""
    kibana_url = parse_es_url(kibana_url, KIBANA_PLACE)
    remember_secrets(settings.es_password, settings.es_api_key)
    where = safe_url(kibana_url)
    objects = load_saved_objects(settings.es_index)
    req = import_request(kibana_url, objects, settings, overwrite=overwrite, space=space)
    ctx = ssl.create_default_context(cafile=settings.es_ca_certs) if kibana_url.startswith("https") else None
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            body = json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        detail = redact(" ".join(e.read().decode("utf-8", "replace")[:300].split()))
        if e.code == 401:
            raise BackendUnavailableError(f"Kibana at {where} rejected the credentials (401)",
                                          "set HUM_SEARCH_ES_USER/HUM_SEARCH_ES_PASSWORD (the elastic user) or "
                                          "HUM_SEARCH_ES_API_KEY") from None
        raise BackendUnavailableError(f"Kibana at {where} refused the import ({e.code}: {detail})",
                                      "check the Kibana log (docker compose logs kibana)") from None
    except (urllib.error.URLError, OSError) as e:
        reason = redact(" ".join(str(getattr(e, "reason", e)).split()))
        raise BackendUnavailableError(f"cannot reach Kibana at {where} ({reason})",
                                      "start it (docker compose up -d --wait) or pass --kibana-url") from None
    except json.JSONDecodeError:
        raise BackendUnavailableError(f"{where} did not answer like Kibana", "check --kibana-url") from None
    return parse_import_response(body)

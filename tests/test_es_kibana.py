"""Kibana saved objects (mappings/kibana/*.ndjson) and the import request. Offline."""

from __future__ import annotations

import json
import socket

import pytest

from hum_search.config import Settings
from hum_search.errors import BackendUnavailableError, HumSearchError, StoreError
from hum_search.store.elastic import kibana
from hum_search.store.elastic.mapping import MAPPINGS_DIR, field

SONGS_MAPPING = json.loads((MAPPINGS_DIR / "songs.json").read_text())["mappings"]
FAILURES_MAPPING = json.loads((MAPPINGS_DIR / "failures.json").read_text())["mappings"]


def objects(alias="hum-songs"):
    return kibana.load_saved_objects(alias)


def test_every_line_is_a_saved_object_with_unique_id():
    objs = objects()
    assert {o["type"] for o in objs} == {"index-pattern", "search", "visualization", "dashboard"}
    ids = [(o["type"], o["id"]) for o in objs]
    assert len(ids) == len(set(ids))
    for o in objs:
        assert o["attributes"]["title"]


def test_references_resolve_within_the_file():
    objs = objects()
    known = {(o["type"], o["id"]) for o in objs}
    for o in objs:
        for ref in o.get("references", []):
            assert (ref["type"], ref["id"]) in known, f"{o['id']} refers to missing {ref}"
        meta = o["attributes"].get("kibanaSavedObjectMeta", {}).get("searchSourceJSON")
        if meta and "indexRefName" in json.loads(meta):
            assert json.loads(meta)["indexRefName"] in {r["name"] for r in o["references"]}


def test_dashboard_panels_match_references():
    dash = next(o for o in objects() if o["type"] == "dashboard")
    panels = json.loads(dash["attributes"]["panelsJSON"])
    assert [p["panelRefName"] for p in panels] == [r["name"] for r in dash["references"]]
    titles = {o["id"]: o["attributes"]["title"] for o in objects()}
    assert {r["id"] for r in dash["references"]} == {
        "hum-search-total-duration", "hum-search-songs-per-genre", "hum-search-recent", "hum-search-failed-files"}
    assert all(r["id"] in titles for r in dash["references"])


def test_data_views_follow_the_alias():
    objs = objects("my-music")
    views = {o["id"]: o["attributes"] for o in objs if o["type"] == "index-pattern"}
    assert views["hum-search-songs"]["title"] == "my-music"
    assert views["hum-search-failures"]["title"] == "my-music-failures"
    assert views["hum-search-songs"]["timeFieldName"] == "indexed_at"


def test_fields_used_by_kibana_exist_in_the_mappings():
    objs = {o["id"]: o for o in objects()}
    for agg in json.loads(objs["hum-search-songs-per-genre"]["attributes"]["visState"])["aggs"]:
        if "field" in agg["params"]:
            assert field(SONGS_MAPPING, agg["params"]["field"])["type"] == "keyword"
    for agg in json.loads(objs["hum-search-total-duration"]["attributes"]["visState"])["aggs"]:
        if "field" in agg["params"]:
            assert field(SONGS_MAPPING, agg["params"]["field"])["type"] == "float"
    for col in objs["hum-search-recent"]["attributes"]["columns"]:
        assert field(SONGS_MAPPING, col) is not None, col
    for col in objs["hum-search-failed-files"]["attributes"]["columns"]:
        assert field(FAILURES_MAPPING, col) is not None, col


def test_import_request():
    settings = Settings(es_user="elastic", es_password="pw", es_index="hum-songs")
    req = kibana.import_request("http://localhost:5601/", objects(), settings)
    assert req.full_url == "http://localhost:5601/api/saved_objects/_import?overwrite=true"
    assert req.get_method() == "POST"
    headers = {k.lower(): v for k, v in req.header_items()}
    assert headers["kbn-xsrf"] == "true"
    assert headers["authorization"] == "Basic ZWxhc3RpYzpwdw=="
    ctype = headers["content-type"]
    assert ctype.startswith("multipart/form-data; boundary=")
    boundary = ctype.split("boundary=")[1]
    body = req.data.decode()
    assert body.startswith(f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"hum-search.ndjson\"")
    assert body.endswith(f"\r\n--{boundary}--\r\n")
    lines = body.split("\r\n\r\n", 1)[1].rsplit(f"\r\n--{boundary}--", 1)[0].splitlines()
    assert [json.loads(line)["id"] for line in lines] == [o["id"] for o in objects()]
    spaced = kibana.import_request("http://k:5601", [], Settings(es_api_key="abc"), overwrite=False, space="music")
    assert spaced.full_url == "http://k:5601/s/music/api/saved_objects/_import?overwrite=false"
    assert dict(spaced.header_items())["Authorization"] == "ApiKey abc"


def test_parse_import_responses():
    ok = kibana.parse_import_response({"success": True, "successCount": 7, "successResults": []})
    assert ok.success and ok.count == 7 and ok.errors == []
    bad = kibana.parse_import_response({
        "success": False, "successCount": 1,
        "errors": [{"id": "hum-search-recent", "type": "search", "meta": {"title": "recent"},
                    "error": {"type": "missing_references",
                              "references": [{"type": "index-pattern", "id": "hum-search-songs"}]}}]})
    assert not bad.success and bad.errors == [
        "search hum-search-recent recent: missing_references (missing index-pattern hum-search-songs)"]


def test_unreachable_kibana_is_one_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(BackendUnavailableError, match=r"cannot reach Kibana at http://127.0.0.1:\d+ .*Fix:"):
        kibana.import_saved_objects(f"http://127.0.0.1:{port}", Settings(), timeout=5)


def test_every_object_carries_kibana_9_migration_versions():
    # without them Kibana takes an object for a 7.0 one and runs every migration since over it
    for o in objects():
        assert o["coreMigrationVersion"] == "8.8.0", o["id"]
        assert o["typeMigrationVersion"] == kibana.MIGRATION_VERSIONS[o["type"]], o["id"]
    # model version N of a type is written 10.N.0; the types without model versions stay below 10
    assert kibana.MIGRATION_VERSIONS == {"index-pattern": "8.0.0", "visualization": "8.5.0",
                                         "search": "10.1.0", "dashboard": "10.1.0"}


def test_an_object_without_migration_versions_is_refused(tmp_path):
    line = json.loads((kibana.KIBANA_DIR / "hum-search.ndjson").read_text().splitlines()[0])
    del line["typeMigrationVersion"]
    (tmp_path / "x.ndjson").write_text(json.dumps(line) + "\n")
    with pytest.raises(HumSearchError, match=r"x.ndjson:1: the index-pattern hum-search-songs has the migration "
                                             r"versions \('8.8.0', None\)"):
        kibana.load_saved_objects("hum-songs", tmp_path)


@pytest.mark.parametrize("url", ["http://elastic:pa#ss@127.0.0.1:5601", "http://127.0.0.1:99999", "http://[::1"])
def test_a_bad_kibana_url_is_one_line_without_the_password(url):
    with pytest.raises(StoreError, match=r"^the Kibana URL .*Fix: ") as e:
        kibana.import_saved_objects(url, Settings(), timeout=5)
    assert "pa#ss" not in str(e.value) and "\n" not in str(e.value)


def test_credentials_in_the_kibana_url_become_the_authorization_header():
    # urllib would take "user:password@host" for the host name
    req = kibana.import_request("http://elastic:pa%23ss@localhost:5601/", objects(), Settings())
    assert req.full_url == "http://localhost:5601/api/saved_objects/_import?overwrite=true"
    assert dict(req.header_items())["Authorization"] == "Basic ZWxhc3RpYzpwYSNzcw=="  # elastic:pa#ss
    # the settings' credentials win over the URL's
    req = kibana.import_request("http://a:b@localhost:5601", objects(), Settings(es_api_key="abc"))
    assert dict(req.header_items())["Authorization"] == "ApiKey abc"

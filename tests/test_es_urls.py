"""Elasticsearch URLs parsed strictly before the client sees them, and secrets redacted from every
message and log line of the Elasticsearch code. Offline."""

from __future__ import annotations

import logging

import pytest

from hum_search.config import Settings
from hum_search.errors import StoreError
from hum_search.store.elastic import urls
from hum_search.store.elastic.client import make_client, quiet_transport_logs
from hum_search.store.elastic.urls import (
    parse_es_url,
    redact,
    safe_url,
    split_credentials,
)

BAD = [
    ("http://elastic:pa#ss@127.0.0.1:9", "contains '#'", "%23"),
    ("http://127.0.0.1:99999", "has the port '99999', which is not a number from 1 to 65535", "listens on"),
    ("http://127.0.0.1:0", "has the port '0'", "listens on"),
    ("http://127.0.0.1:92x0", "has the port '92x0'", "listens on"),
    ("http://127.0.0.1:", "has a ':' but no port", "listens on"),
    ("http://[::1", "has an unclosed '['", "http://[::1]:9200"),
    ("http://[nope]:9200", "has a host in brackets that is not an IPv6 address", "http://[::1]:9200"),
    ("http://ho st:9200", "contains a space", "%20"),
    ("http://", "has no host name", "http://localhost:9200"),
    ("http://:9200", "has no host name", "http://localhost:9200"),
    ("localhost:9200", "does not start with http:// or https://", "http://localhost:9200"),
    ("http://host:9200/?pretty", "contains '?'", "%3F"),
    ("http://ho$t:9200", "holds characters a host name cannot", "IP address"),
]


@pytest.mark.parametrize("url,what,fix", BAD, ids=[b[0] for b in BAD])
def test_a_bad_url_is_one_line_naming_what_is_wrong(url, what, fix):
    with pytest.raises(StoreError) as e:
        parse_es_url(url)
    msg = str(e.value)
    assert msg.startswith("the Elasticsearch URL '") and what in msg, msg
    assert fix in msg.split(". Fix: ", 1)[1] and "\n" not in msg
    for secret in ("pa#ss", "p@ss"):
        assert secret not in msg


@pytest.mark.parametrize("url,parsed", [
    ("http://localhost:9200/", "http://localhost:9200"),
    (" https://es.example.org ", "https://es.example.org"),
    ("https://u:s%23cret@es.example.org:9243/proxy/", "https://u:s%23cret@es.example.org:9243/proxy"),
    ("http://[::1]:9200", "http://[::1]:9200"),
    ("http://10.0.0.7:9200", "http://10.0.0.7:9200"),
    ("http://u:p@ss@host:9200", "http://u:p@ss@host:9200"),  # the client, like urlsplit, splits at the last '@'
])
def test_good_urls_pass(url, parsed):
    assert parse_es_url(url) == parsed


def test_the_client_gets_the_decoded_password_from_the_url():
    c = make_client("http://elastic:s%23cret-pw@127.0.0.1:9200", Settings())
    node = c.transport.node_pool.all()[0].config
    assert (node.host, node.port) == ("127.0.0.1", 9200)
    assert node.headers["authorization"] == "Basic ZWxhc3RpYzpzI2NyZXQtcHc="  # elastic:s#cret-pw


def test_redact_hides_url_credentials_auth_values_and_known_secrets():
    urls.remember_secrets("Hunter2-secret", "abc")  # too short to search for: left alone
    text = ("GET http://elastic:pa#ss@127.0.0.1:9/ failed; Authorization: ApiKey c2VjcmV0OmtleQ== "
            "and Basic ZWxhc3RpYzpwdw==; password Hunter2-secret; abc")
    out = redact(text)
    assert out == ("GET http://***@127.0.0.1:9/ failed; Authorization: ApiKey *** and Basic ***; "
                   "password ***; abc")


def test_settings_secrets_are_remembered_when_a_client_is_made():
    make_client("http://127.0.0.1:9200", Settings(es_user="elastic", es_password="Pw-from-the-env-42"))
    make_client("http://127.0.0.1:9200", Settings(es_api_key="S2V5LWZyb20tdGhlLWVudg=="))
    assert redact("x Pw-from-the-env-42 y S2V5LWZyb20tdGhlLWVudg==") == "x *** y ***"


def test_safe_url_drops_credentials_however_malformed():
    assert safe_url("https://u:p@host:9243/") == "https://host:9243"
    assert safe_url("http://elastic:pa#ss@127.0.0.1:9") == "http://127.0.0.1:9"
    assert safe_url("http://u:p w@h:9") == "http://h:9"
    assert safe_url("http://[::1") == "http://[::1"


def test_split_credentials():
    assert split_credentials("http://a%40b:c%23d@h:1/x") == ("http://h:1/x", ("a@b", "c#d"))
    assert split_credentials("http://h:1/a@b") == ("http://h:1/a@b", None)


def test_transport_log_lines_are_redacted(caplog):
    quiet_transport_logs()
    urls.remember_secrets("Log-secret-77")
    lg = logging.getLogger("elastic_transport.transport")
    with caplog.at_level(logging.DEBUG):
        lg.error("GET %s failed with Log-secret-77", "http://elastic:pw@es:9200/_search")
    (rec,) = [r for r in caplog.records if r.name == "elastic_transport.transport"]
    assert rec.getMessage() == "GET http://***@es:9200/_search failed with ***"

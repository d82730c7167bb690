"""docker-compose.yml against the Compose specification, and what the issue asks of it. Offline.

tests/data/compose-spec.json is the Compose specification's JSON schema (compose-spec project,
Apache-2.0, see tests/data/LICENSE.compose-spec), as vendored by check-jsonschema 0.39.0.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read docker-compose.yml")
jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_valid_against_the_compose_spec_schema():
    schema = json.loads((Path(__file__).parent / "data" / "compose-spec.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(COMPOSE), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_schema_rejects_a_broken_file():
    schema = json.loads((Path(__file__).parent / "data" / "compose-spec.json").read_text())
    broken = {"services": {"es": {"image": "x", "ports": [{"bogus": 1}], "healthcheck": {"intervall": "1s"}}}}
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(broken))


def _image(name):
    return SERVICES[name]["image"]


def test_same_pinned_9x_version_for_elasticsearch_and_kibana():
    es = re.fullmatch(r"docker\.elastic\.co/elasticsearch/elasticsearch:(\d+\.\d+\.\d+)", _image("elasticsearch"))
    kb = re.fullmatch(r"docker\.elastic\.co/kibana/kibana:(\d+\.\d+\.\d+)", _image("kibana"))
    assert es and kb and es.group(1) == kb.group(1)
    assert es.group(1).startswith("9.")
    import elasticsearch

    assert elasticsearch.__versionstr__.split(".")[0] == es.group(1).split(".")[0], "client major = server major"


def test_ports_only_on_localhost():
    for name, svc in SERVICES.items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond localhost"
    assert "127.0.0.1:9200:9200" in SERVICES["elasticsearch"]["ports"]
    assert "127.0.0.1:5601:5601" in SERVICES["kibana"]["ports"]


def test_health_checks_for_wait():
    for name in ("elasticsearch", "kibana"):
        hc = SERVICES[name]["healthcheck"]
        assert hc["test"][0] == "CMD-SHELL" and hc["retries"] >= 10
    assert "_cluster/health" in SERVICES["elasticsearch"]["healthcheck"]["test"][1]
    # the one-shot setup service is adopted by Kibana, so `up --wait` accepts its exit
    assert SERVICES["kibana"]["depends_on"]["setup"]["condition"] == "service_completed_successfully"
    assert SERVICES["kibana"]["depends_on"]["elasticsearch"]["condition"] == "service_healthy"
    assert SERVICES["setup"]["depends_on"]["elasticsearch"]["condition"] == "service_healthy"


def test_security_on_and_passwords_from_env():
    env = SERVICES["elasticsearch"]["environment"]
    assert "xpack.security.enabled=true" in env
    assert any(e.startswith("ELASTIC_PASSWORD=${ELASTIC_PASSWORD:?") for e in env)
    kb = SERVICES["kibana"]["environment"]
    assert "ELASTICSEARCH_USERNAME=kibana_system" in kb
    assert any(e.startswith("ELASTICSEARCH_PASSWORD=${KIBANA_PASSWORD:?") for e in kb)
    assert "kibana_system/_password" in " ".join(SERVICES["setup"]["command"])
    text = (ROOT / "docker-compose.yml").read_text()
    assert "change-me" not in text, "no literal password in the compose file"


def test_named_data_volume_and_memory_settings():
    assert "esdata:/usr/share/elasticsearch/data" in SERVICES["elasticsearch"]["volumes"]
    assert "esdata" in COMPOSE["volumes"]
    env = " ".join(SERVICES["elasticsearch"]["environment"])
    assert "-Xms${ES_HEAP:-1g} -Xmx${ES_HEAP:-1g}" in env
    assert SERVICES["elasticsearch"]["mem_limit"] == "${ES_MEM_LIMIT:-2g}"


def test_env_example_and_gitignore():
    example = (ROOT / ".env.example").read_text()
    keys = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line and not line.startswith("#")}
    assert {"ELASTIC_PASSWORD", "KIBANA_PASSWORD", "ES_HEAP", "ES_MEM_LIMIT", "HUM_SEARCH_ES_URL"} <= keys
    ignored = (ROOT / ".gitignore").read_text().split()
    assert ".env" in ignored


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose (Debian package) not installed")
def test_docker_compose_config_accepts_it(tmp_path):
    (tmp_path / "docker-compose.yml").write_text((ROOT / "docker-compose.yml").read_text())
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text())
    r = subprocess.run(["docker-compose", "config", "--quiet"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr

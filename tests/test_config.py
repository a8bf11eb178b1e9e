"""Settings precedence and masking."""

import os

import pytest

from indexer.config import ConfigError, load_settings, mask_url


def test_precedence_cli_over_env_over_file(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('ws_url = "http://file.example:5000"\ncontact = "file@example.org"\nrate = 0.5\n')
    s = load_settings({}, cfg, environ={})
    assert (s.ws_url, s.contact, s.rate) == ("http://file.example:5000", "file@example.org", 0.5)
    assert s.sources["rate"].startswith("config file")
    s = load_settings({}, cfg, environ={"MBINDEX_RATE": "2", "MBINDEX_CONTACT": "env@example.org"})
    assert (s.rate, s.contact) == (2.0, "env@example.org")
    s = load_settings({"rate": 3}, cfg, environ={"MBINDEX_RATE": "2"})
    assert s.rate == 3.0 and s.sources["rate"] == "command line"


def test_default_config_file_location(tmp_path):
    (tmp_path / "mbindex").mkdir()
    (tmp_path / "mbindex" / "config.toml").write_text('[mbindex]\ncontact = "x@example.org"\n')

    old = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path)
    try:
        assert load_settings({}, None, environ={}).contact == "x@example.org"
    finally:
        if old is None:
            del os.environ["XDG_CONFIG_HOME"]
        else:
            os.environ["XDG_CONFIG_HOME"] = old


@pytest.mark.parametrize(
    "env, message",
    [
        ({"MBINDEX_RATE": "fast"}, "rate"),
        ({"MBINDEX_RATE": "-1"}, "rate"),
        ({"MBINDEX_WS_URL": "musicbrainz.org"}, "ws_url"),
        ({"MBINDEX_TIMEOUT": "0"}, "timeout"),
    ],
)
def test_bad_values_are_clear_errors(env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings({}, None, environ=env)


def test_bad_config_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("rate = = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings({}, bad, environ={})
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("colour = 'blue'")
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings({}, unknown, environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({}, tmp_path / "missing.toml", environ={})


def test_mask_url():
    assert mask_url("postgresql://user:s3cret@host:5432/db") == "postgresql://user:***@host:5432/db"
    assert "s3cret" not in mask_url("postgresql://host/db?password=s3cret")
    assert "s3cret" not in mask_url("host=x password=s3cret dbname=y")
    assert mask_url("postgresql://host/db") == "postgresql://host/db"


def test_public_server_detection():
    assert load_settings({}, None, environ={}).uses_public_server
    assert not load_settings({"ws_url": "http://127.0.0.1:5000"}, None, environ={}).uses_public_server

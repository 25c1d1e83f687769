"""config.yaml validation: the shipped file loads; bad values name the key and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tracker.cli import cli
from tracker.config import load_config, parse_config
from tracker.errors import ConfigError

ROOT = Path(__file__).parent.parent


def test_shipped_config_tracks_the_seed_article_and_cited_outlets() -> None:
    config = load_config(ROOT / "config.yaml")
    assert [a.location for a in config.articles] == [
        str(ROOT / "articles" / "shifting-sands-of-support.txt")
    ]
    assert {o.name for o in config.outlets} == {
        "The Guardian",
        "DW",
        "Euronews",
        "Bloomberg",
        "Reuters",
    }
    reuters = [f for f in config.feeds if f.outlet == "Reuters"]
    assert [f.kind for f in reuters] == ["sitemap", "auto"]
    assert config.fetch.allow_private_networks is False
    assert Path(config.articles[0].location).exists()


def test_shipped_article_matches_the_demo_copy() -> None:
    shipped = (ROOT / "articles" / "shifting-sands-of-support.txt").read_bytes()
    assert shipped == (ROOT / "tracker" / "demo_data" / "article.txt").read_bytes()


def test_demo_tracks_the_article_as_the_shipped_config_does() -> None:
    from tracker.demo.run import INCLUDE_TERMS

    config = load_config(ROOT / "config.yaml")
    assert config.articles[0].include_terms == INCLUDE_TERMS


def test_empty_config_gets_defaults(tmp_path: Path) -> None:
    config = parse_config("", tmp_path / "c.yaml")
    assert config.database == tmp_path / "db" / "tracker.db"
    assert config.polling.interval == 900


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("polling:\n  interval: soon\n", "c.yaml:2: polling.interval: expected a duration"),
        (
            "polling:\n  intervall: 5m\n",
            "c.yaml:2: polling.intervall: unknown key (did you mean 'interval'?)",
        ),
        ("timezone: Mars/Olympus\n", "c.yaml:1: timezone: expected an IANA time zone"),
        (
            "relevance:\n  threshold: 3\n",
            "c.yaml:2: relevance.threshold: expected a number from 0 to 1",
        ),
        (
            "fetch:\n  allow_private_networks: yes please\n",
            "c.yaml:2: fetch.allow_private_networks: expected true or false",
        ),
        (
            "outlets:\n  - name: X\n    feeds:\n      - ftp://x.example/feed\n",
            "c.yaml:3: outlets[0].feeds[0].url: must be an http:// or https:// URL",
        ),
        ("outlets:\n  - aliases: [x]\n", "c.yaml:2: outlets[0]: needs a 'name'"),
        (
            "outlets:\n  - name: A\n  - name: a\n",
            "c.yaml:3: outlets[1].name: outlet 'a' is listed twice",
        ),
        ("polling: [1, 2]\n", "polling: expected a mapping"),
        (
            "polling:\n  min_interval: 2h\n  max_interval: 1h\n",
            "polling.min_interval: must not be greater",
        ),
        ("articles:\n  - {}\n", "articles[0]: needs either 'path' or 'url'"),
        ("database: [\n", "not valid YAML"),
        ("digest:\n  time: '25:00'\n", "digest.time: expected a local time"),
    ],
)
def test_bad_values_name_the_key_and_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, Path("c.yaml"))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


#: URLs that config.yaml and the command line both refuse, with the phrase they both give
BAD_URLS = [
    ("http://example.com/world rss", "must not contain a space"),
    ("http://example.com/world\nrss", "must not contain a line break"),
    ("http://example.com/world\trss", "must not contain a tab"),
    ("http://", "must name a host"),
    ("https://:8080/feed", "must name a host"),
    ("http://example.com:99999/feed", "must have a port from 1 to 65535, not '99999'"),
    ("http://example.com:rss/feed", "must have a port from 1 to 65535, not 'rss'"),
    ("http://a:b@example.com/feed", "must not contain a user name or password"),
    ("http://[::1/feed", "is not a valid URL"),
    ("ftp://example.com/feed", "must be an http:// or https:// URL"),
]


@pytest.mark.parametrize(("url", "message"), BAD_URLS)
def test_bad_feed_urls_name_the_key_and_what_is_wrong(
    tmp_path: Path, url: str, message: str
) -> None:
    text = f"outlets:\n  - name: X\n    feeds:\n      - url: {json.dumps(url)}\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text, Path("c.yaml"))
    assert f"c.yaml:4: outlets[0].feeds[0].url: {message}" in str(info.value)
    assert "\n" not in str(info.value) and ":b@" not in str(info.value)


def test_feed_url_in_config_is_stored_in_its_one_form() -> None:
    text = "outlets:\n  - name: X\n    feeds:\n      - HTTPS://Example.COM/rss?a=B#top\n"
    assert [f.url for f in parse_config(text, Path("c.yaml")).feeds] == [
        "https://example.com/rss?a=B"
    ]


def test_unquoted_digest_time_is_read_as_a_time() -> None:
    assert parse_config("digest:\n  time: 07:30\n", Path("c.yaml")).digest.time == "07:30"


def test_cli_reports_bad_config_with_exit_code_2(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("polling:\n  interval: soon\n")
    result = CliRunner().invoke(cli, ["--config", str(path), "init"])
    assert result.exit_code == 2
    assert "polling.interval" in result.output and "Traceback" not in result.output


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "nope.yaml"), "poll"])
    assert result.exit_code == 2
    assert "config file not found" in result.output


def test_tracker_config_environment_variable(tmp_path: Path) -> None:
    path = tmp_path / "env.yaml"
    path.write_text(f"database: {tmp_path}/env.db\n")
    result = CliRunner().invoke(cli, ["init"], env={"TRACKER_CONFIG": str(path)})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "env.db").exists()


def test_a_setting_written_twice_is_an_error_not_the_last_one_silently() -> None:
    for text, message in [
        ("timezone: UTC\ntimezone: Europe/Berlin\n", "c.yaml:2: "),
        ("polling:\n  interval: 15m\n  interval: 1h\n", "c.yaml:3: "),
    ]:
        with pytest.raises(ConfigError) as info:
            parse_config(text, Path("c.yaml"))
        assert str(info.value).startswith(message) and "is set twice (first on line" in str(
            info.value
        )
    # a key merged in with YAML's << may still be overridden, as YAML means it
    merged = "x-base: &base {interval: 15m}\npolling:\n  <<: *base\n  interval: 1h\n"
    with pytest.raises(ConfigError, match="x-base: unknown key"):
        parse_config(merged, Path("c.yaml"))


def test_an_empty_config_option_is_refused_not_taken_for_the_default(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", "", "coverage"])
    assert result.exit_code == 2
    assert result.output.strip() == "Error: --config: the path is empty"

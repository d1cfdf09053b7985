"""The site config loader: every bad config is refused, before anything starts, with `file: key.path: reason`.

Each test writes real YAML files into a temporary config directory and calls ``load_config`` on it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import traceback
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wall import demo
from wall.config import ConfigError, SiteConfig, load_config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "example"
SECRET = "Sup3r-s3cret-pw"  # the camera password the tests put in the environment


# --------------------------------------------------------------------------------------------------- helpers


def cam(i: int = 0, **fields: Any) -> dict[str, Any]:
    """A valid camera; ``fields`` override or (with value ``...``) remove keys."""
    base: dict[str, Any] = {"id": f"cam-{i:02d}", "name": f"Camera {i}"}
    base["url"] = f"rtsp://192.0.2.{10 + i}/live"
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}


def write(directory: Path, name: str, data: Any) -> Path:
    """Write ``data`` as YAML (or a str as it is) into ``directory/name``."""
    path = directory / name
    text = data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def site(tmp_path: Path, cameras: Any = None, server: Any = None) -> Path:
    """A config dir with cameras.yaml (default: one valid camera) and, if given, server.yaml."""
    write(tmp_path, "cameras.yaml", {"cameras": [cam()]} if cameras is None else cameras)
    if server is not None:
        write(tmp_path, "server.yaml", server)
    return tmp_path


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(directory)
    err = info.value
    assert err.problems, "a ConfigError always names at least one problem"
    assert str(err) == "\n".join(err.problems)
    return err.problems


def expect(directory: Path, file: str, key: str, *reason: str) -> str:
    """Loading fails with a line ``<directory>/<file>: <key>: <reason…>``; returns that line."""
    lines = problems_of(directory)
    prefix = f"{directory / file}: {key}: "
    matching = [line for line in lines if line.startswith(prefix)]
    assert matching, f"no problem starts with {prefix!r}; got {lines}"
    line = matching[0]
    for part in reason:
        assert part in line[len(prefix) :], f"{part!r} not in the reason of {line!r}"
    return line


def cameras_yaml(*cams: dict[str, Any]) -> dict[str, Any]:
    return {"cameras": list(cams)}


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYWALL_CAM_PASSWORD", SECRET)


# ------------------------------------------------------------------------------------------- good configs


def test_example_config_loads(secret_env: None) -> None:
    config = load_config(EXAMPLE)
    assert isinstance(config, SiteConfig)
    assert config.directory == EXAMPLE
    assert config.server_file.server.port == 8080 and config.server_file.server.grid_code_length == 14
    assert config.server_file.streams.backoff_max == 30
    (camera,) = config.cameras
    assert camera.id == "jiefang-rd-01"
    assert camera.url == f"rtsp://viewer:{SECRET}@192.0.2.10:554/Streaming/Channels/102"
    assert camera.main_url == f"rtsp://viewer:{SECRET}@192.0.2.10:554/Streaming/Channels/101"
    assert camera.national_id == "34020000001320000001"
    assert camera.grid_code == "34010200100101"
    assert (camera.lon, camera.lat) == (117.2830, 31.8612)
    assert camera.analysis_interval == 5.0
    assert config.data_dir == EXAMPLE / "data"


def test_demo_config_loads_with_its_media_resolved() -> None:
    config = load_config(demo.SITE)
    assert config.cameras
    for camera in config.cameras:
        assert camera.url.startswith("file:/"), camera.url
        assert Path(camera.url.removeprefix("file:")).is_file()


def test_example_without_the_password_names_the_variable_and_both_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CITYWALL_CAM_PASSWORD", raising=False)
    lines = problems_of(EXAMPLE)
    shown = EXAMPLE / "cameras.yaml"
    assert lines == [
        f"{shown}: cameras[0].url: environment variable 'CITYWALL_CAM_PASSWORD' is not set",
        f"{shown}: cameras[0].main_url: environment variable 'CITYWALL_CAM_PASSWORD' is not set",
    ]


def test_minimal_site_gets_defaults(tmp_path: Path) -> None:
    config = load_config(site(tmp_path))
    assert config.server_file.server.host == "127.0.0.1" and config.server_file.server.port == 8080
    assert config.server_file.server.allowed_origins == []
    assert config.server_file.streams.open_timeout == 10 and config.server_file.streams.backoff_initial == 1
    (camera,) = config.cameras
    assert camera.analysis_interval == 2.0 and camera.enabled is True
    assert camera.national_id is None and camera.grid_code is None and camera.main_url is None


def test_empty_server_yaml_means_defaults(tmp_path: Path) -> None:
    config = load_config(site(tmp_path, server="# nothing set yet\n"))
    assert config.server_file.server.port == 8080


def test_env_substitution_and_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYWALL_CAM_PW", "pw1")
    monkeypatch.delenv("CITYWALL_CAM_USER", raising=False)
    monkeypatch.setenv("CITYWALL_CAM_GROUP", "")
    monkeypatch.delenv("WALL_PORT", raising=False)
    camera = cam(
        url="rtsp://${CITYWALL_CAM_USER:-admin}:${CITYWALL_CAM_PW}@192.0.2.1/live",
        group="${CITYWALL_CAM_GROUP:-east}",
        name="Cam ${CITYWALL_CAM_PW}",
    )
    config = load_config(site(tmp_path, cameras_yaml(camera), {"server": {"port": "${WALL_PORT:-9090}"}}))
    (loaded,) = config.cameras
    assert loaded.url == "rtsp://admin:pw1@192.0.2.1/live"
    assert loaded.group == "east", "':-' stands in for an empty variable too, as in a shell"
    assert loaded.name == "Cam pw1"
    assert config.server_file.server.port == 9090


def test_env_value_is_not_substituted_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYWALL_CAM_PW", "a${NOT_A_REF}b")
    (loaded,) = load_config(site(tmp_path, cameras_yaml(cam(url="rtsp://u:${CITYWALL_CAM_PW}@h/live")))).cameras
    assert loaded.url == "rtsp://u:a${NOT_A_REF}b@h/live"


def test_relative_file_source_is_resolved_against_the_config_dir(tmp_path: Path) -> None:
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "demo.mp4").write_bytes(b"\0")
    absolute = tmp_path / "abs.mp4"
    absolute.write_bytes(b"\0")
    cams = cameras_yaml(
        cam(0, url="file:media/demo.mp4"), cam(1, url=f"file://{absolute}", main_url="file:abs.mp4")
    )
    config = load_config(site(tmp_path, cams))
    assert config.cameras[0].url == f"file:{(tmp_path / 'media' / 'demo.mp4').resolve()}"
    assert config.cameras[1].url == f"file:{absolute}"
    assert config.cameras[1].main_url == f"file:{absolute.resolve()}"
    assert Path(config.cameras[0].url.removeprefix("file:")).is_absolute()


def test_twelve_digit_grid_codes_when_configured(tmp_path: Path) -> None:
    config = load_config(
        site(tmp_path, cameras_yaml(cam(grid_code="340102001001")), {"server": {"grid_code_length": 12}})
    )
    assert config.cameras[0].grid_code == "340102001001"


def test_yaml_merge_keys_share_settings(tmp_path: Path) -> None:
    write(tmp_path, "cameras.yaml", textwrap.dedent("""\
        cameras:
          - &street
            id: cam-a
            name: A
            url: rtsp://192.0.2.1/live
            group: jiefang-road
            analysis_interval: 10
          - <<: *street
            id: cam-b
            name: B
            analysis_interval: 5
        """))
    a, b = load_config(tmp_path).cameras
    assert (b.id, b.name, b.group, b.url, b.analysis_interval) == ("cam-b", "B", "jiefang-road", a.url, 5.0)


def test_utf8_bom_and_chinese_text_are_fine(tmp_path: Path) -> None:
    text = "cameras:\n  - id: cam-00\n    name: 解放路与人民路口\n    url: rtsp://192.0.2.1/live\n"
    (tmp_path / "cameras.yaml").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert load_config(tmp_path).cameras[0].name == "解放路与人民路口"


# ------------------------------------------------------------------------- bad configs: one kind per case

# (test id, cameras.yaml data, server.yaml data or None, file, key path, parts of the reason)
C, S = "cameras.yaml", "server.yaml"
BAD: list[tuple[str, Any, Any, str, str, tuple[str, ...]]] = [
    # --- stream URLs
    ("url-missing", cameras_yaml(cam(url=...)), None, C, "cameras[0].url", ("is required",)),
    ("url-empty", cameras_yaml(cam(url="")), None, C, "cameras[0].url", ("is empty",)),
    ("url-blank", cameras_yaml(cam(url="   ")), None, C, "cameras[0].url", ("is empty",)),
    ("url-no-scheme", cameras_yaml(cam(url="192.0.2.1/live")), None, C, "cameras[0].url",
     ("scheme '192.0.2.1/live' is not supported (rtsp, rtsps, file)",)),
    ("url-http", cameras_yaml(cam(url="http://192.0.2.1/live")), None, C, "cameras[0].url",
     ("scheme 'http' is not supported",)),
    ("url-no-host", cameras_yaml(cam(url="rtsp:///Streaming/Channels/102")), None, C, "cameras[0].url",
     ("has no host",)),
    ("url-port-too-big", cameras_yaml(cam(url="rtsp://192.0.2.1:70000/live")), None, C, "cameras[0].url",
     ("has an invalid port",)),
    ("url-port-zero", cameras_yaml(cam(url="rtsp://192.0.2.1:0/live")), None, C, "cameras[0].url",
     ("has an invalid port",)),
    ("url-port-letters", cameras_yaml(cam(url="rtsp://192.0.2.1:rtsp/live")), None, C, "cameras[0].url",
     ("has an invalid port",)),
    ("file-url-no-path", cameras_yaml(cam(url="file:///")), None, C, "cameras[0].url", ("names no file",)),
    ("main-url-bad-scheme", cameras_yaml(cam(main_url="rtmp://192.0.2.1/live")), None, C,
     "cameras[0].main_url", ("scheme 'rtmp' is not supported",)),
    ("url-not-a-string", cameras_yaml(cam(url=554)), None, C, "cameras[0].url",
     ("Input should be a valid string", "got 554")),
    # --- camera ids
    ("id-uppercase", cameras_yaml(cam(id="Cam-01")), None, C, "cameras[0].id", ("a-z, 0-9, '-' or '_'",)),
    ("id-space", cameras_yaml(cam(id="cam 01")), None, C, "cameras[0].id", ("a-z, 0-9, '-' or '_'",)),
    ("id-leading-dash", cameras_yaml(cam(id="-cam")), None, C, "cameras[0].id",
     ("starting with a letter or digit",)),
    ("id-too-long", cameras_yaml(cam(id="c" * 65)), None, C, "cameras[0].id", ("1-64 characters",)),
    ("id-missing", cameras_yaml(cam(id=...)), None, C, "cameras[0].id", ("is required",)),
    ("id-yaml-boolean", "cameras:\n  - id: no\n    name: A\n    url: rtsp://h/live\n", None, C,
     "cameras[0].id", ("Input should be a valid string", "got False")),
    # --- names and groups
    ("name-missing", cameras_yaml(cam(name=...)), None, C, "cameras[0].name", ("is required",)),
    ("name-empty", cameras_yaml(cam(name="")), None, C, "cameras[0].name", ("at least 1 character",)),
    ("name-too-long", cameras_yaml(cam(name="路" * 121)), None, C, "cameras[0].name",
     ("at most 120 characters",)),
    ("group-too-long", cameras_yaml(cam(group="g" * 65)), None, C, "cameras[0].group",
     ("at most 64 characters",)),
    # --- national ids (GB/T 28181: 20 digits)
    ("national-id-19-digits", cameras_yaml(cam(national_id="3402000000132000000")), None, C,
     "cameras[0].national_id", ("exactly 20 digits",)),
    ("national-id-21-digits", cameras_yaml(cam(national_id="340200000013200000011")), None, C,
     "cameras[0].national_id", ("exactly 20 digits",)),
    ("national-id-letters", cameras_yaml(cam(national_id="3402000000132000000A")), None, C,
     "cameras[0].national_id", ("exactly 20 digits",)),
    ("national-id-fullwidth-digits", cameras_yaml(cam(national_id="３" * 20)), None, C,
     "cameras[0].national_id", ("exactly 20 digits",)),
    ("national-id-unquoted", "cameras:\n  - id: a\n    name: A\n    url: rtsp://h/live\n"
     "    national_id: 34020000001320000001\n", None, C, "cameras[0].national_id",
     ("Input should be a valid string", "got 34020000001320000001")),
    # --- grid codes (CJ/T 213: digits, configurable length, default 14)
    ("grid-code-letters", cameras_yaml(cam(grid_code="3401020010010A")), None, C, "cameras[0].grid_code",
     ("must be 14 digits", "got '3401020010010A'")),
    ("grid-code-13-digits", cameras_yaml(cam(grid_code="3401020010010")), None, C, "cameras[0].grid_code",
     ("must be 14 digits",)),
    ("grid-code-15-digits", cameras_yaml(cam(grid_code="340102001001011")), None, C, "cameras[0].grid_code",
     ("must be 14 digits",)),
    ("grid-code-fullwidth-digits", cameras_yaml(cam(grid_code="３４０１０２００１００１０１")), None, C,
     "cameras[0].grid_code", ("must be 14 digits",)),
    ("grid-code-with-dashes", cameras_yaml(cam(grid_code="340102-001-001-01")), None, C,
     "cameras[0].grid_code", ("must be 14 digits",)),
    ("grid-code-14-when-12-configured", cameras_yaml(cam(grid_code="34010200100101")),
     {"server": {"grid_code_length": 12}}, C, "cameras[0].grid_code", ("must be 12 digits",)),
    # --- analysis interval
    ("interval-zero", cameras_yaml(cam(analysis_interval=0)), None, C, "cameras[0].analysis_interval",
     ("greater than or equal to 0.2",)),
    ("interval-negative", cameras_yaml(cam(analysis_interval=-5)), None, C, "cameras[0].analysis_interval",
     ("greater than or equal to 0.2",)),
    ("interval-too-large", cameras_yaml(cam(analysis_interval=3601)), None, C, "cameras[0].analysis_interval",
     ("less than or equal to 3600",)),
    ("interval-infinite",
     "cameras:\n  - id: a\n    name: A\n    url: rtsp://h/live\n    analysis_interval: .inf\n", None, C,
     "cameras[0].analysis_interval", ("less than or equal to 3600",)),
    ("interval-string", cameras_yaml(cam(analysis_interval="5s")), None, C, "cameras[0].analysis_interval",
     ("valid number", "got '5s'")),
    # --- position
    ("lon-without-lat", cameras_yaml(cam(lon=117.28)), None, C, "cameras[0]",
     ("lon and lat must be given together",)),
    ("lat-without-lon", cameras_yaml(cam(lat=31.86)), None, C, "cameras[0]",
     ("lon and lat must be given together",)),
    ("lat-out-of-range", cameras_yaml(cam(lon=117.28, lat=91)), None, C, "cameras[0].lat",
     ("less than or equal to 90",)),
    ("lon-out-of-range", cameras_yaml(cam(lon=-181, lat=31.86)), None, C, "cameras[0].lon",
     ("greater than or equal to -180",)),
    ("lat-swapped-in", cameras_yaml(cam(lon=31.86, lat=117.28)), None, C, "cameras[0].lat",
     ("less than or equal to 90",)),
    # --- other camera keys
    ("enabled-not-boolean", cameras_yaml(cam(enabled="maybe")), None, C, "cameras[0].enabled",
     ("valid boolean", "got 'maybe'")),
    ("unknown-camera-key", cameras_yaml(cam(nmae="typo")), None, C, "cameras[0].nmae", ("unknown key",)),
    ("unknown-camera-key-in-4th", cameras_yaml(cam(0), cam(1), cam(2), cam(3, rtsp_transport="tcp")), None, C,
     "cameras[3].rtsp_transport", ("unknown key",)),
    ("camera-is-a-string", {"cameras": ["rtsp://192.0.2.1/live"]}, None, C, "cameras[0]",
     ("valid dictionary",)),
    # --- cameras.yaml structure
    ("cameras-empty-list", {"cameras": []}, None, C, "cameras", ("at least 1 item",)),
    ("cameras-null", "cameras:\n", None, C, "cameras", ("valid list", "got None")),
    ("cameras-mapping", {"cameras": {"cam-00": cam()}}, None, C, "cameras", ("valid list", "got a mapping")),
    ("cameras-key-missing", "# no cameras yet\n", None, C, "cameras", ("is required",)),
    ("unknown-top-level-key", {"cameras": [cam()], "camera_defaults": {"analysis_interval": 5}}, None, C,
     "camera_defaults", ("unknown key",)),
    ("cameras-top-level-list", [cam()], None, C, "(top level)", ("must be a mapping of keys, got list",)),
    ("cameras-top-level-scalar", "just some text\n", None, C, "(top level)",
     ("must be a mapping of keys, got str",)),
    # --- server.yaml: server
    ("server-port-zero", None, {"server": {"port": 0}}, S, "server.port", ("greater than or equal to 1",)),
    ("server-port-70000", None, {"server": {"port": 70000}}, S, "server.port",
     ("less than or equal to 65535",)),
    ("server-port-string", None, {"server": {"port": "http"}}, S, "server.port",
     ("valid integer", "got 'http'")),
    ("server-unknown-key", None, {"server": {"prot": 8080}}, S, "server.prot", ("unknown key",)),
    ("server-top-level-unknown-key", None, {"sever": {"port": 8080}}, S, "sever", ("unknown key",)),
    ("server-origin-no-scheme", None, {"server": {"allowed_origins": ["wall.example.org"]}}, S,
     "server.allowed_origins", ("'wall.example.org' is not an origin",)),
    ("server-origin-with-path", None, {"server": {"allowed_origins": ["https://wall.example.org/wall"]}}, S,
     "server.allowed_origins", ("'https://wall.example.org/wall' is not an origin",)),
    ("server-origins-not-a-list", None, {"server": {"allowed_origins": "https://wall.example.org"}}, S,
     "server.allowed_origins", ("valid list",)),
    ("grid-code-length-too-small", None, {"server": {"grid_code_length": 5}}, S, "server.grid_code_length",
     ("greater than or equal to 6",)),
    ("grid-code-length-too-large", None, {"server": {"grid_code_length": 21}}, S, "server.grid_code_length",
     ("less than or equal to 20",)),
    ("server-section-null", None, "server:\n", S, "server", ("valid dictionary", "got None")),
    ("server-top-level-list", None, ["server"], S, "(top level)", ("must be a mapping of keys, got list",)),
    # --- server.yaml: streams
    ("backoff-max-below-initial", None, {"streams": {"backoff_initial": 10, "backoff_max": 5}}, S, "streams",
     ("backoff_max must be at least backoff_initial",)),
    ("open-timeout-zero", None, {"streams": {"open_timeout": 0}}, S, "streams.open_timeout",
     ("greater than 0",)),
    ("read-timeout-negative", None, {"streams": {"read_timeout": -1}}, S, "streams.read_timeout",
     ("greater than 0",)),
    ("ring-seconds-too-large", None, {"streams": {"ring_seconds": 7200}}, S, "streams.ring_seconds",
     ("less than or equal to 3600",)),
    ("ring-max-mb-too-large", None, {"streams": {"ring_max_mb": 5000}}, S, "streams.ring_max_mb",
     ("less than or equal to 4096",)),
    ("stall-after-string", None, {"streams": {"stall_after": "3 s"}}, S, "streams.stall_after",
     ("valid number", "got '3 s'")),
    ("streams-unknown-key", None, {"streams": {"open_timout": 10}}, S, "streams.open_timout",
     ("unknown key",)),
]


@pytest.mark.parametrize(
    ("cameras", "server", "file", "key", "reason"),
    [pytest.param(c, s, f, k, r, id=i) for i, c, s, f, k, r in BAD],
)
def test_bad_config_is_refused_with_file_key_and_reason(
    tmp_path: Path, cameras: Any, server: Any, file: str, key: str, reason: tuple[str, ...]
) -> None:
    line = expect(site(tmp_path, cameras, server), file, key, *reason)
    assert problems_of(tmp_path) == [line], "one mistake, one line: no follow-on noise"


def test_bad_config_kinds_are_many_and_distinct() -> None:
    ids = [case[0] for case in BAD]
    assert len(ids) == len(set(ids))
    assert len({(case[3], case[4], case[5]) for case in BAD}) >= 40


def test_the_issue_example_verbatim(tmp_path: Path) -> None:
    cams = cameras_yaml(cam(0), cam(1), cam(2), cam(3, url="rtps://192.0.2.13/live"))
    lines = problems_of(site(tmp_path, cams))
    assert lines == [
        f"{tmp_path / 'cameras.yaml'}: cameras[3].url: scheme 'rtps' is not supported (rtsp, rtsps, file)"
    ]


def test_duplicate_camera_id_names_both_items(tmp_path: Path) -> None:
    cams = cameras_yaml(cam(0, id="gate"), cam(1), cam(2, id="gate"))
    assert problems_of(site(tmp_path, cams)) == [
        f"{tmp_path / 'cameras.yaml'}: cameras[2].id: duplicate id 'gate' (also cameras[0])"
    ]


def test_duplicate_national_id_names_both_items(tmp_path: Path) -> None:
    nid = "34020000001320000001"
    other = "34020000001320000002"
    cams = cameras_yaml(cam(0, national_id=nid), cam(1, national_id=other), cam(2, national_id=nid))
    assert problems_of(site(tmp_path, cams)) == [
        f"{tmp_path / 'cameras.yaml'}: cameras[2].national_id: duplicate national id (also cameras[0])"
    ]


def test_every_repeat_of_an_id_is_reported(tmp_path: Path) -> None:
    cams = cameras_yaml(cam(0, id="a"), cam(1, id="a"), cam(2, id="a"))
    shown = tmp_path / "cameras.yaml"
    assert problems_of(site(tmp_path, cams)) == [
        f"{shown}: cameras[1].id: duplicate id 'a' (also cameras[0])",
        f"{shown}: cameras[2].id: duplicate id 'a' (also cameras[0])",
    ]


def test_missing_file_source_is_resolved_against_the_config_dir(tmp_path: Path) -> None:
    line = expect(site(tmp_path, cameras_yaml(cam(url="file:media/missing.mp4"))), C, "cameras[0].url")
    assert line.endswith(f"file '{(tmp_path / 'media' / 'missing.mp4').resolve()}' does not exist")


def test_file_source_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "media").mkdir()
    directory = site(tmp_path, cameras_yaml(cam(main_url="file:media")))
    expect(directory, C, "cameras[0].main_url", "does not exist")


def test_missing_env_var_names_variable_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CITYWALL_CAM_PW", raising=False)
    cams = cameras_yaml(cam(0), cam(1, url="rtsp://viewer:${CITYWALL_CAM_PW}@192.0.2.1/live"))
    assert problems_of(site(tmp_path, cams)) == [
        f"{tmp_path / 'cameras.yaml'}: cameras[1].url: environment variable 'CITYWALL_CAM_PW' is not set"
    ]


def test_missing_env_var_in_server_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WALL_DATA", raising=False)
    expect(site(tmp_path, server={"server": {"data_dir": "${WALL_DATA}"}}), S, "server.data_dir",
           "environment variable 'WALL_DATA' is not set")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://viewer:${CAM-PW}@192.0.2.1/live", "'${CAM-PW}'"),
        ("rtsp://viewer:${CITYWALL_CAM_PW@192.0.2.1/live", "'${CITYWALL_CAM_PW@192.0.2.1/live'"),
        ("rtsp://viewer:${}@192.0.2.1/live", "'${}'"),
        ("rtsp://viewer:${1PW}@192.0.2.1/live", "'${1PW}'"),
    ],
    ids=["hyphen", "unclosed", "empty", "leading-digit"],
)
def test_malformed_env_reference_is_an_error_not_a_literal_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, shown: str
) -> None:
    monkeypatch.setenv("CITYWALL_CAM_PW", SECRET)
    expect(site(tmp_path, cameras_yaml(cam(url=url))), C, "cameras[0].url",
           f"{shown} is not a ${{NAME}} or ${{NAME:-default}} reference")


def test_cameras_yaml_missing(tmp_path: Path) -> None:
    assert problems_of(tmp_path) == [
        f"{tmp_path / 'cameras.yaml'}: missing (a site needs at least one camera)"
    ]


def test_config_dir_missing(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-site"
    (line,) = problems_of(missing)
    assert line.startswith(f"{missing}: not a directory")
    assert "cameras.yaml" in line


def test_config_dir_is_a_file(tmp_path: Path) -> None:
    path = write(tmp_path, "cameras.yaml", {"cameras": [cam()]})
    (line,) = problems_of(path)
    assert line.startswith(f"{path}: not a directory")


def test_yaml_syntax_error_shows_line_and_column(tmp_path: Path) -> None:
    write(tmp_path, "cameras.yaml", "cameras:\n  - id: cam-00\n    name: [unclosed\n    url: rtsp://h/live\n")
    (line,) = problems_of(tmp_path)
    assert line.startswith(f"{tmp_path / 'cameras.yaml'}:4:")
    assert ": invalid YAML: " in line


def test_yaml_tab_indentation_shows_line_and_column(tmp_path: Path) -> None:
    write(tmp_path, "server.yaml", "server:\n\tport: 8080\n")
    assert problems_of(site(tmp_path)) == [
        f"{tmp_path / 'server.yaml'}:2:1: invalid YAML: found character '\\t' that cannot start any token"
    ]


def test_duplicate_yaml_key_shows_both_lines(tmp_path: Path) -> None:
    write(tmp_path, "cameras.yaml", textwrap.dedent("""\
        cameras:
          - id: cam-00
            name: Gate
            url: rtsp://192.0.2.1/live
            name: Gate 2
        """))
    assert problems_of(tmp_path) == [
        f"{tmp_path / 'cameras.yaml'}:5:5: invalid YAML: duplicate key 'name' (first at line 3)"
    ]


def test_unhashable_yaml_key_is_a_config_error(tmp_path: Path) -> None:
    text = "cameras:\n  - id: a\n    name: A\n    url: rtsp://h/live\n    ? [1, 2]\n    : v\n"
    write(tmp_path, "cameras.yaml", text)
    (line,) = problems_of(tmp_path)
    assert line.startswith(f"{tmp_path / 'cameras.yaml'}:5:") and "unhashable key" in line


def test_python_tags_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "cameras.yaml", "cameras: !!python/object/apply:os.system ['true']\n")
    (line,) = problems_of(tmp_path)
    assert line.startswith(f"{tmp_path / 'cameras.yaml'}:1:") and "invalid YAML" in line


def test_non_utf8_file(tmp_path: Path) -> None:
    text = "cameras:\n  - id: cam-00\n    name: 解放路\n    url: rtsp://192.0.2.1/live\n"
    (tmp_path / "cameras.yaml").write_bytes(text.encode("gbk"))
    (line,) = problems_of(tmp_path)
    assert line.startswith(f"{tmp_path / 'cameras.yaml'}: not UTF-8 text")


def test_many_problems_in_one_error(tmp_path: Path) -> None:
    cams = cameras_yaml(
        cam(0, url="rtps://192.0.2.10/live"),
        cam(1, nmae="typo"),
        cam(2, grid_code="12345", analysis_interval=0),
        cam(3, lon=117.0),
    )
    shown = tmp_path / "cameras.yaml"
    lines = problems_of(site(tmp_path, cams))
    assert sorted(lines) == sorted([
        f"{shown}: cameras[0].url: scheme 'rtps' is not supported (rtsp, rtsps, file)",
        f"{shown}: cameras[1].nmae: unknown key",
        f"{shown}: cameras[2].grid_code: must be 14 digits (CJ/T 213 unit-grid code), got '12345'",
        f"{shown}: cameras[2].analysis_interval: Input should be greater than or equal to 0.2",
        f"{shown}: cameras[3]: lon and lat must be given together",
    ])


def test_env_and_schema_problems_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CITYWALL_CAM_URL", raising=False)
    cams = cameras_yaml(cam(0, url="${CITYWALL_CAM_URL}"), cam(1, analysis_interval=-1))
    shown = tmp_path / "cameras.yaml"
    # The unset ${CITYWALL_CAM_URL} is reported once; the blank it leaves is not also reported as "url: is empty".
    assert problems_of(site(tmp_path, cams)) == [
        f"{shown}: cameras[0].url: environment variable 'CITYWALL_CAM_URL' is not set",
        f"{shown}: cameras[1].analysis_interval: Input should be greater than or equal to 0.2",
    ]


def test_problems_of_both_files_together(tmp_path: Path) -> None:
    cams = cameras_yaml(cam(0, grid_code="abc"), cam(1, id="Bad Id"))
    lines = problems_of(site(tmp_path, cams, {"server": {"port": 0, "grid_code_length": 99}}))
    assert lines == [
        f"{tmp_path / 'server.yaml'}: server.port: Input should be greater than or equal to 1",
        f"{tmp_path / 'server.yaml'}: server.grid_code_length: Input should be less than or equal to 20",
        f"{tmp_path / 'cameras.yaml'}: cameras[1].id: must be 1-64 characters of a-z, 0-9, '-' or '_', "
        "starting with a letter or digit",
    ], "grid codes wait for a valid grid_code_length; everything else is reported at once"


def test_bad_server_yaml_and_missing_cameras_yaml_together(tmp_path: Path) -> None:
    write(tmp_path, "server.yaml", {"server": {"port": -1}})
    assert problems_of(tmp_path) == [
        f"{tmp_path / 'server.yaml'}: server.port: Input should be greater than or equal to 1",
        f"{tmp_path / 'cameras.yaml'}: missing (a site needs at least one camera)",
    ]


def test_no_half_started_config_cross_checks_run_after_schema(tmp_path: Path) -> None:
    # Duplicates and file sources are checked once every camera is valid on its own: the schema error first.
    cams = cameras_yaml(cam(0, id="a"), cam(1, id="a", url="file:nope.mp4", analysis_interval=0))
    assert problems_of(site(tmp_path, cams)) == [
        f"{tmp_path / 'cameras.yaml'}: cameras[1].analysis_interval: "
        "Input should be greater than or equal to 0.2"
    ]


# --------------------------------------------------------------------------------------- secrets stay out


@pytest.mark.parametrize(
    "cameras",
    [
        cameras_yaml(cam(url="rtsp://viewer:${CITYWALL_CAM_PASSWORD}@192.0.2.1/live", lon=117.0)),
        cameras_yaml(cam(url="rtps://viewer:${CITYWALL_CAM_PASSWORD}@192.0.2.1/live")),
        cameras_yaml(cam(url="rtsp://viewer:${CITYWALL_CAM_PASSWORD}@192.0.2.1:99999/live")),
        cameras_yaml(cam(main_url="rtsp://viewer:${CITYWALL_CAM_PASSWORD}@192.0.2.1/main", grid_code="x")),
        cameras_yaml(cam(0, url="rtsp://viewer:${CITYWALL_CAM_PASSWORD}@192.0.2.1/live"), cam(0)),
        cameras_yaml(cam(url="file:gone.mp4", main_url="rtsp://viewer:${CITYWALL_CAM_PASSWORD}@192.0.2.1/main")),
        {"cameras": {"gate": cam(url="rtsp://viewer:${CITYWALL_CAM_PASSWORD}@192.0.2.1/live")}},
        {"cameras": ["rtsp://viewer:${CITYWALL_CAM_PASSWORD}@192.0.2.1/live"]},
        {"cameras": [cam(url=["rtsp://viewer:${CITYWALL_CAM_PASSWORD}@192.0.2.1/live"])]},
    ],
    ids=["lon-only", "bad-scheme", "bad-port", "bad-grid", "dup-id", "missing-file", "cameras-mapping",
         "camera-string", "url-list"],
)
def test_camera_password_never_appears_in_errors(secret_env: None, tmp_path: Path, cameras: Any) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(site(tmp_path, cameras))
    err = info.value
    assert SECRET not in str(err)
    assert all(SECRET not in line for line in err.problems)
    logged = "".join(traceback.format_exception(err))
    assert SECRET not in logged, "nor in a logged traceback (chained errors)"


def test_credentials_in_a_shown_value_are_masked(secret_env: None, tmp_path: Path) -> None:
    directory = site(tmp_path, {"cameras": ["rtsp://viewer:${CITYWALL_CAM_PASSWORD}@192.0.2.1/live"]})
    line = expect(directory, C, "cameras[0]")
    assert line.endswith("got 'rtsp://***@192.0.2.1/live'")


def test_password_with_slash_and_at_is_masked_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYWALL_CAM_PASSWORD", "Xq/7@Zk9")
    directory = site(tmp_path, {"cameras": ["rtsp://viewer:${CITYWALL_CAM_PASSWORD}@192.0.2.1/live"]})
    line = expect(directory, C, "cameras[0]")
    assert "Xq/7" not in line and "Zk9" not in line
    assert line.endswith("got 'rtsp://***@192.0.2.1/live'")


def test_example_with_an_error_added_does_not_leak_the_password(secret_env: None, tmp_path: Path) -> None:
    data = yaml.safe_load((EXAMPLE / "cameras.yaml").read_text(encoding="utf-8"))
    data["cameras"][0]["grid_code"] = "3401"
    data["cameras"].append(dict(data["cameras"][0]))  # duplicate id and national id as well
    write(tmp_path, "cameras.yaml", data)
    write(tmp_path, "server.yaml", (EXAMPLE / "server.yaml").read_text(encoding="utf-8"))
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    text = "".join(traceback.format_exception(info.value))
    assert "cameras[0].grid_code: must be 14 digits" in text and "cameras[1].grid_code" in text
    assert SECRET not in text


# ----------------------------------------------------------------------------------------- property test

_GRID_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="$"), max_size=24)
# What str_strip_whitespace strips: Unicode White_Space (Python's isspace() also counts U+001C-U+001F).
_WHITE_SPACE = "".join(c for c in map(chr, range(0x3001)) if c.isspace() and c not in "\x1c\x1d\x1e\x1f")
_PADDING = st.text(st.sampled_from(" \t\u3000\x85\x1c\u00a0"), max_size=2)
_DIGITS = st.from_regex(r"\d{6,20}", fullmatch=True)  # \d: Unicode digits too (full-width, Arabic-Indic …)
_PADDED_DIGITS = st.builds(lambda a, d, b: a + d + b, _PADDING, _DIGITS, _PADDING)


@settings(
    max_examples=300,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the work tree
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # tmp_path is rewritten by every example
)
@given(
    length=st.integers(min_value=6, max_value=20),
    code=st.one_of(
        _GRID_TEXT,
        st.text("0123456789", min_size=5, max_size=21),
        _DIGITS,
        _PADDED_DIGITS,
    ),
)
def test_grid_code_accepted_iff_exactly_n_ascii_digits(tmp_path: Path, length: int, code: str) -> None:
    site(tmp_path, cameras_yaml(cam(grid_code=code)), {"server": {"grid_code_length": length}})
    value = code.strip(_WHITE_SPACE)  # values are read with surrounding whitespace stripped
    valid = len(value) == length and value.isascii() and value.isdigit()
    try:
        config = load_config(tmp_path)
    except ConfigError as err:
        assert not valid, f"{code!r} is {length} ASCII digits but was refused: {err.problems}"
        (line,) = err.problems
        assert line.startswith(
            f"{tmp_path / 'cameras.yaml'}: cameras[0].grid_code: "
            f"must be {length} digits (CJ/T 213 unit-grid code)"
        )
        assert len(str(err).splitlines()) == 1, "one problem, one line"
    else:
        assert valid, f"{code!r} is not {length} ASCII digits but was accepted"
        assert config.cameras[0].grid_code == value


# ------------------------------------------------------------------------------------- the reference doc


def test_configuration_doc_is_generated_from_the_models() -> None:
    script = ROOT / "docs" / "gen_config_reference.py"
    generated = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    begin = "<!-- BEGIN GENERATED: python docs/gen_config_reference.py --write -->"
    end = "<!-- END GENERATED -->"
    assert begin in doc and end in doc
    block = doc.split(begin, 1)[1].split(end, 1)[0].strip("\n") + "\n"
    assert block == generated, "docs/configuration.md is stale: python docs/gen_config_reference.py --write"
    for key in ("analysis_interval", "grid_code_length", "backoff_max", "allowed_origins", "national_id"):
        assert f"| `{key}` |" in block


# Cases whose error lines docs/configuration.md quotes: (cameras.yaml, or None for a valid one; server.yaml).
DOC_EXAMPLES: list[tuple[Any, Any]] = [
    (cameras_yaml(cam(0), cam(1), cam(2), cam(3, url="rtps://192.0.2.13/live")), None),
    (cameras_yaml(cam(0, id="gate-01"), cam(1, id="gate-01")), None),
    (cameras_yaml(cam(0, nmae="Gate")), None),
    (cameras_yaml(cam(0, grid_code="3401020010010A")), None),
    (cameras_yaml(cam(0, analysis_interval=0)), None),
    (cameras_yaml(cam(0, lon=117.283)), None),
    (cameras_yaml(cam(0, url="rtsp://viewer:${CITYWALL_CAM_PASSWORD}@192.0.2.10/live")), None),
    (cameras_yaml(cam(0, url="rtsp://viewer:${CAM-PASSWORD}@192.0.2.10/live")), None),
    (cameras_yaml(cam(0, url="file:media/gone.mp4")), None),
    (None, {"server": {"port": 70000}, "streams": {"backoff_initial": 60, "backoff_max": 30}}),
    ("cameras:\n  - id: cam-00\n    name: Gate\n    url: rtsp://192.0.2.1/live\n    name: Gate 2\n", None),
    ("cameras:\n  - id: cam-00\n    name: [Gate\n    url: rtsp://192.0.2.1/live\n", None),
]


def doc_example_lines(base: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The loader's lines for DOC_EXAMPLES, as if run in /srv/citywall on the directory 'config'."""
    monkeypatch.delenv("CITYWALL_CAM_PASSWORD", raising=False)
    lines = []
    for i, (cameras, server) in enumerate(DOC_EXAMPLES):
        directory = base / f"example{i}"
        directory.mkdir()
        for line in problems_of(site(directory, cameras, server)):
            line = line.replace(f"'{directory.resolve()}/", "'/srv/citywall/config/")
            lines.append(line.replace(f"{directory}/", "config/"))
    return lines


def test_configuration_doc_examples_match_the_loader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The error lines that the doc quotes are what the loader prints."""
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    lines = doc_example_lines(tmp_path, monkeypatch)
    assert "config/cameras.yaml: cameras[3].url: scheme 'rtps' is not supported (rtsp, rtsps, file)" in lines
    missing = [line for line in lines if line not in doc]
    assert not missing, "docs/configuration.md lacks these lines the loader prints:\n" + "\n".join(missing)


# -- walls and layouts in server.yaml ----------------------------------------------------------------------------


def test_walls_and_own_layouts_load(tmp_path: Path) -> None:
    d = site(tmp_path, cameras_yaml(cam(0), cam(1)), {
        "layouts": [{"name": "2x5", "grid": "2x5"}],
        "walls": [{"name": "hall", "layout": "3x6", "cameras": ["cam-01"]},
                  {"name": "east", "layout": "2x5", "tour": {"cameras": ["cam-00", "cam-01"], "interval": 10}}],
    })
    loaded = load_config(d)
    assert [w.name for w in loaded.server_file.walls] == ["hall", "east"]
    assert loaded.layouts["2x5"].tile_count == 10 and loaded.layouts["3x6"].tile_count == 18


def test_a_site_without_walls_gets_the_hall(tmp_path: Path) -> None:
    assert [w.name for w in load_config(site(tmp_path)).server_file.walls] == ["hall"]


@pytest.mark.parametrize(("walls", "key", "reason"), [
    ([{"name": "hall", "layout": "5x5"}], "walls[0].layout", "no layout '5x5'"),
    ([{"name": "hall", "cameras": ["nope"]}], "walls[0].cameras[0]", "no camera 'nope'"),
    ([{"name": "hall", "layout": "2x2", "alarm_tile": 4}], "walls[0].alarm_tile", "tiles 0..3"),
    ([{"name": "hall"}, {"name": "hall"}], "walls[1].name", "duplicate wall"),
    ([{"name": "hall", "tour": {"interval": 2, "cameras": ["cam-00"]}}], "walls[0].tour.interval", "5"),
    ([{"name": "hall", "tour": {"cameras": ["gone"]}}], "walls[0].tour.cameras[0]", "no camera 'gone'"),
    ([{"name": "Hall!"}], "walls[0].name", "pattern"),
])
def test_bad_walls_name_file_key_and_reason(tmp_path: Path, walls: list[Any], key: str, reason: str) -> None:
    expect(site(tmp_path, server={"walls": walls}), "server.yaml", key, reason)


def test_bad_layout_names_the_reason(tmp_path: Path) -> None:
    layouts = [{"name": "odd", "columns": 2, "rows": 2, "cells": [{"col": 0, "row": 0, "width": 2},
                                                                  {"col": 1, "row": 0}]}]
    expect(site(tmp_path, server={"layouts": layouts}), "server.yaml", "layouts[0]", "overlaps")

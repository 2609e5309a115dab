"""The market commands of SPEC section 4, run as an operator runs them: exit status,
what is printed, and what lands in storage and the database."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from market.models import App, Market
from portal.crypto import decrypt_json
from tests.market.api_helpers import (
    publish_small,
    queued_tasks_fixture,  # noqa: F401 - the queued_tasks fixture
    run_command,
    small_package,
    tree,
)
from tests.market.helpers import DEMO_APPS, local_market
from tests.market.storage_fixtures import (
    MarketHTTPServer,
    bucket_keys,
    new_bucket,
    s3_credentials,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued_tasks")]

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ market_init


def test_market_init_creates_an_empty_market(tmp_path: Path) -> None:
    folder = tmp_path / "team-market"

    result = run_command("market_init", str(folder), name="team", description="Our apps")

    assert result.status == 0, result.stderr
    assert result.stdout.strip() == f"created market team at local directory {folder}"
    doc = json.loads((folder / "market.json").read_text())
    assert doc["format"] == 1 and doc["name"] == "team" and doc["serial"] == 0
    assert doc["description"] == "Our apps" and doc["apps"] == {}


def test_market_init_refuses_an_existing_market_and_leaves_it_alone(tmp_path: Path) -> None:
    folder = tmp_path / "team-market"
    assert run_command("market_init", str(folder), name="team").status == 0
    before = tree(folder)

    again = run_command("market_init", str(folder), name="other")

    assert again.status == 1
    assert "a market already exists" in again.stderr
    assert tree(folder) == before


@pytest.mark.parametrize("name", ["Not A Slug", "team\n", "team-"])
def test_market_init_refuses_a_bad_name(tmp_path: Path, name: str) -> None:
    result = run_command("market_init", str(tmp_path / "m"), name=name)

    assert result.status == 1
    assert "Use lowercase letters, digits and dashes" in result.stderr
    assert not (tmp_path / "m" / "market.json").exists()


def test_market_init_on_s3_needs_the_flag_for_a_loopback_endpoint(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in s3_credentials().items():
        monkeypatch.setenv(name.upper(), value)
    bucket = new_bucket(moto_endpoint)
    location = f"s3://{bucket}/markets/team"

    refused = run_command("market_init", location, name="team", endpoint_url=moto_endpoint)
    created = run_command(
        "market_init", location, name="team", endpoint_url=moto_endpoint, allow_private_network=True
    )

    assert refused.status == 1 and "needs the allow flag" in refused.stderr
    assert created.status == 0, created.stderr
    assert bucket_keys(moto_endpoint, bucket) == ["markets/team/market.json"]


# ------------------------------------------------------------------ market_add


def test_market_add_a_folder_by_path_and_by_file_url(tmp_path: Path) -> None:
    folder = tmp_path / "upstream"
    run_command("market_init", str(folder), name="upstream")

    by_path = run_command("market_add", "upstream", str(folder))
    by_url = run_command("market_add", "mirror", f"file://{folder}", writable=True)

    assert by_path.status == 0, by_path.stderr
    assert by_path.stdout.strip() == "added market upstream (read-only); first sync queued"
    assert by_url.status == 0, by_url.stderr
    assert "(writable)" in by_url.stdout
    assert Market.objects.get(name="mirror").writable
    # The write probe cleans up after itself.
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == ["market.json"]
    assert not (folder / ".probe").exists()  # no empty probe folder either


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("nothing", "{tmp}/nowhere"), "no market at"),
        (("dup", "{tmp}/upstream"), "a market named dup already exists"),
        (("Bad_Name", "{tmp}/upstream"), "use lowercase letters, digits and dashes"),
        (("ftp", "ftp://example.org/m"), "unsupported market location scheme"),
    ],
)
def test_market_add_refusals_exit_1_with_the_reason(
    tmp_path: Path, args: tuple[str, str], words: str
) -> None:
    run_command("market_init", str(tmp_path / "upstream"), name="upstream")
    run_command("market_add", "dup", str(tmp_path / "upstream"))
    count = Market.objects.count()

    result = run_command("market_add", *(arg.format(tmp=tmp_path) for arg in args))

    assert result.status == 1
    assert words in result.stderr.lower()
    assert Market.objects.count() == count


def test_market_add_s3_with_endpoint_and_environment_credentials(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = new_bucket(moto_endpoint)
    location = f"s3://{bucket}/team"
    for name, value in s3_credentials().items():
        monkeypatch.setenv(name.upper(), value)
    run_command(
        "market_init", location, name="team", endpoint_url=moto_endpoint, allow_private_network=True
    )

    result = run_command(
        "market_add",
        "team",
        location,
        writable=True,
        endpoint_url=moto_endpoint,
        allow_private_network=True,
    )

    assert result.status == 0, result.stderr
    market = Market.objects.get(name="team")
    assert market.writable and market.endpoint_url == moto_endpoint
    assert decrypt_json(market.credentials_encrypted) == s3_credentials()
    assert bucket_keys(moto_endpoint, bucket) == ["team/market.json"]  # probe cleaned up


def test_market_add_http_needs_the_flag_for_a_private_address(
    tmp_path: Path, http_market: MarketHTTPServer, loopback_only: list[str]
) -> None:
    run_command("market_init", str(http_market.root), name="served")

    refused = run_command("market_add", "intranet", http_market.url)
    accepted = run_command("market_add", "intranet", http_market.url, allow_private_network=True)

    assert refused.status == 1
    assert "refusing to connect to 127.0.0.1" in refused.stderr
    assert "a loopback address" in refused.stderr
    assert "--allow-private-network" in refused.stderr
    assert accepted.status == 0, accepted.stderr
    assert [r.path for r in http_market.requests] == ["/market.json"]


def test_market_add_http_refuses_writable(
    http_market: MarketHTTPServer, loopback_only: list[str]
) -> None:
    run_command("market_init", str(http_market.root), name="served")

    result = run_command(
        "market_add", "intranet", http_market.url, writable=True, allow_private_network=True
    )

    assert result.status == 1 and "read-only" in result.stderr


# ------------------------------------------------------------------ market_sync


def test_market_sync_prints_what_changed_and_what_it_cost(tmp_path: Path) -> None:
    source = local_market(tmp_path, "upstream")
    publish_small(source, "redis-ops", "1.2.0")
    publish_small(source, "log-collector", "1.0.0")
    run_command("market_add", "mirror", str(tmp_path / "market-upstream"))

    first = run_command("market_sync", "mirror")
    unchanged = run_command("market_sync", "mirror")
    publish_small(source, "redis-ops", "1.3.0")
    publish_small(source, "cost-dashboard", "0.5.0")
    _remove_app(tmp_path / "market-upstream", "log-collector")
    second = run_command("market_sync", "mirror")

    assert first.status == 0, first.stderr
    assert first.stdout.splitlines() == [
        "mirror: serial 2: 2 added, 0 updated, 0 removed, 0 skipped (3 requests)",
        "  added log-collector",
        "  added redis-ops",
    ]
    assert unchanged.stdout.strip() == "mirror: unchanged (1 requests)"
    assert second.stdout.splitlines() == [
        "mirror: serial 5: 1 added, 1 updated, 1 removed, 0 skipped (3 requests)",
        "  added cost-dashboard",
        "  updated redis-ops",
        "  removed log-collector",
    ]
    assert sorted(App.objects.filter(market__name="mirror").values_list("name", "latest")) == [
        ("cost-dashboard", "0.5.0"),
        ("redis-ops", "1.3.0"),
    ]


def _remove_app(root: Path, name: str) -> None:
    """What an operator's cleanup would do: drop the app from market.json."""
    path = root / "market.json"
    doc = json.loads(path.read_text())
    del doc["apps"][name]
    doc["serial"] += 1
    path.write_text(json.dumps(doc))


def test_market_sync_prints_what_it_skipped(tmp_path: Path) -> None:
    source = local_market(tmp_path, "upstream")
    publish_small(source, "redis-ops", "1.2.0")
    publish_small(source, "log-collector", "1.0.0")
    index = tmp_path / "market-upstream" / "apps" / "redis-ops" / "index.json"
    index.write_bytes(index.read_bytes() + b"\n")
    run_command("market_add", "mirror", str(tmp_path / "market-upstream"))

    result = run_command("market_sync", "mirror")

    assert result.status == 0
    assert result.stdout.splitlines() == [
        "mirror: serial 2: 1 added, 0 updated, 0 removed, 1 skipped (3 requests)",
        "  added log-collector",
        "  skipped: redis-ops: index.json does not match its index_digest",
    ]


def test_market_add_token_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_command("market_init", str(tmp_path / "m"), name="m")

    unset = run_command("market_add", "a", "https://market.example.org/", token_env="NO_SUCH_VAR")
    local = run_command("market_add", "b", str(tmp_path / "m"), token_env="HOME")

    assert unset.status == 1 and "NO_SUCH_VAR is not set" in unset.stderr
    assert local.status == 1 and "applies to http(s) markets" in local.stderr
    assert not Market.objects.exists()


def test_market_sync_without_names_syncs_every_market(tmp_path: Path) -> None:
    for name in ("one", "two"):
        publish_small(local_market(tmp_path, name), f"app-{name}", "1.0.0")

    result = run_command("market_sync")

    assert result.status == 0
    assert [line.split(":")[0] for line in result.stdout.splitlines() if ":" in line] == [
        "one",
        "two",
    ]


def test_market_sync_of_an_unknown_market_exits_1(tmp_path: Path) -> None:
    local_market(tmp_path, "main")

    result = run_command("market_sync", "main", "nowhere")

    assert result.status == 1
    assert "no such market: nowhere" in result.stderr


def test_market_sync_reports_a_refused_market_and_exits_1(tmp_path: Path) -> None:
    source = local_market(tmp_path, "upstream")
    publish_small(source, "redis-ops", "1.2.0")
    publish_small(source, "redis-ops", "1.3.0")
    run_command("market_add", "mirror", str(tmp_path / "market-upstream"))
    run_command("market_sync", "mirror")
    path = tmp_path / "market-upstream" / "market.json"
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, "serial": 1, "apps": {}}))

    result = run_command("market_sync", "mirror")

    assert result.status == 1
    assert "mirror: sync failed: market.json serial 1 is lower than 2" in result.stderr
    assert App.objects.filter(market__name="mirror", name="redis-ops").exists()


# ------------------------------------------------------------------ market_publish


def test_market_publish_exit_statuses(tmp_path: Path) -> None:
    local_market(tmp_path, "main")
    filename, data = small_package("redis-ops", "1.2.0")
    _, other = small_package("redis-ops", "1.2.0", title="Something else")
    first, second = tmp_path / "a" / filename, tmp_path / "b" / filename
    for path, content in ((first, data), (second, other)):
        path.parent.mkdir()
        path.write_bytes(content)

    published = run_command("market_publish", str(first), market="main")
    again = run_command("market_publish", str(first), market="main")
    conflict = run_command("market_publish", str(second), market="main")
    (tmp_path / "bad.tgz").write_bytes(b"garbage")
    refused = run_command("market_publish", str(tmp_path / "bad.tgz"), market="main")

    assert published.status == 0, published.stderr
    assert re.fullmatch(r"published redis-ops 1\.2\.0 sha256:[0-9a-f]{64}\n", published.stdout)
    assert again.status == 0
    assert again.stdout.startswith("already published (unchanged) redis-ops 1.2.0")
    assert conflict.status == 3 and conflict.stderr.startswith("conflict: ")
    assert refused.status == 1 and refused.stderr.startswith("refused: ")


def test_market_publish_to_a_read_only_market_exits_1(tmp_path: Path) -> None:
    local_market(tmp_path, "mirror", writable=False)
    filename, data = small_package("redis-ops", "1.2.0")
    (tmp_path / filename).write_bytes(data)

    result = run_command("market_publish", str(tmp_path / filename), market="mirror")

    assert result.status == 1
    assert "read-only" in result.stderr


def test_package_build_then_market_publish(tmp_path: Path) -> None:
    market = local_market(tmp_path, "main")
    out = tmp_path / "dist"
    out.mkdir()

    built = run_command("package_build", str(DEMO_APPS / "redis-ops" / "1.3.0"), out=str(out))
    archive_path, digest = built.stdout.split()
    published = run_command("market_publish", archive_path, market="main")

    assert built.status == 0, built.stderr
    assert Path(archive_path) == out / "redis-ops-1.3.0.tgz"
    assert published.status == 0, published.stderr
    assert published.stdout.split() == ["published", "redis-ops", "1.3.0", digest]
    stored = tmp_path / "market-main" / "apps" / "redis-ops" / "redis-ops-1.3.0.tgz"
    assert stored.read_bytes() == Path(archive_path).read_bytes()
    index = json.loads((stored.parent / "index.json").read_text())
    assert index["versions"]["1.3.0"]["digest"] == digest
    assert index["versions"]["1.3.0"]["publisher"] == "system"
    assert market.name == "main"


# ------------------------------------------------------------------ as a shell runs them


def _manage(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "ELASTICSEARCH_URL"}
        and not key.startswith("PYTEST")
    }
    env["PORTAL_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


_PRINT_APPS = "from market.models import App; print(*App.objects.values_list('name', flat=True))"


@pytest.mark.slow
def test_the_commands_from_a_shell_with_nothing_configured(tmp_path: Path) -> None:
    """SPEC section 8: with no variable set, migrate and then the commands work."""
    data = tmp_path / "data"
    market = tmp_path / "market"
    source = tmp_path / "src" / "redis-ops"
    shutil.copytree(DEMO_APPS / "redis-ops" / "1.3.0", source)

    assert _manage(data, "migrate", "-v0").returncode == 0
    init = _manage(data, "market_init", str(market), "--name", "team")
    add = _manage(data, "market_add", "team", str(market), "--writable")
    build = _manage(data, "package_build", str(source), "-o", str(tmp_path / "dist"))
    archive_path = build.stdout.split()[0]
    published = _manage(data, "market_publish", archive_path, "--market", "team")
    (source / "README.md").write_text("# Changed without a new version\n")
    rebuilt = _manage(data, "package_build", str(source), "-o", str(tmp_path / "dist2"))
    conflict = _manage(data, "market_publish", rebuilt.stdout.split()[0], "--market", "team")
    refused = _manage(data, "market_publish", str(source / "README.md"), "--market", "team")
    synced = _manage(data, "market_sync", "team")

    for step in (init, add, build, published, rebuilt, synced):
        assert step.returncode == 0, step.stderr
    assert conflict.returncode == 3 and conflict.stderr.startswith("conflict: ")
    assert refused.returncode == 1 and refused.stderr.startswith("refused: ")
    # The publish already put redis-ops in the catalogue; the sync finds it there.
    assert synced.stdout.startswith("team: serial 1: 0 added")
    listed = _manage(data, "shell", "-c", _PRINT_APPS)
    assert listed.stdout.strip().splitlines()[-1] == "redis-ops", listed.stderr
    assert (data / "portal.sqlite3").is_file()

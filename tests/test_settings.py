"""Settings: defaults -> file -> environment -> validation naming the bad key."""

import pytest

from creditfactory.settings import Settings, SettingsError, load


def test_defaults():
    settings = load(environ={})
    assert settings == Settings()
    assert settings.embedded and settings.default_timezone == "Asia/Shanghai"
    assert settings.cluster_urls() == {"default": ""}


def test_file_then_environment(tmp_path):
    file = tmp_path / "cf.yaml"
    file.write_text("migration_workers: 8\nbase_domain: banks.example\nclusters: {east: 'postgresql://db-east/cf'}\n")
    settings = load(environ={"CREDITFACTORY_SETTINGS": str(file), "CREDITFACTORY_MIGRATION_WORKERS": "3",
                             "CREDITFACTORY_LOG_JSON": "true", "CREDITFACTORY_TEST_DATABASE_URL": "ignored"})
    assert settings.migration_workers == 3  # environment wins over the file
    assert settings.base_domain == "banks.example"  # file wins over the default
    assert settings.log_json is True
    assert settings.cluster_urls()["east"] == "postgresql://db-east/cf"


def test_clusters_from_environment():
    settings = load(environ={"CREDITFACTORY_CLUSTERS": "east=postgresql://a/cf, west=postgresql://b/cf",
                             "CREDITFACTORY_DEFAULT_CLUSTER": "west"})
    assert settings.clusters == {"east": "postgresql://a/cf", "west": "postgresql://b/cf"}
    assert settings.default_cluster == "west"


@pytest.mark.parametrize("environ, key", [
    ({"CREDITFACTORY_MIGRATION_WORKERS": "many"}, "CREDITFACTORY_MIGRATION_WORKERS"),
    ({"CREDITFACTORY_MIGRATION_WORKERS": "0"}, "CREDITFACTORY_MIGRATION_WORKERS"),
    ({"CREDITFACTORY_DATABASE_URL": "mysql://x/y"}, "CREDITFACTORY_DATABASE_URL"),
    ({"CREDITFACTORY_BROKER_URL": "kafka://x"}, "CREDITFACTORY_BROKER_URL"),
    ({"CREDITFACTORY_DEFAULT_TIMEZONE": "Asia/Atlantis"}, "CREDITFACTORY_DEFAULT_TIMEZONE"),
    ({"CREDITFACTORY_DEFAULT_CLUSTER": "east"}, "CREDITFACTORY_DEFAULT_CLUSTER"),
    ({"CREDITFACTORY_CLUSTERS": "East=postgresql://a/b"}, "CREDITFACTORY_CLUSTERS"),
    ({"CREDITFACTORY_LOG_JSON": "perhaps"}, "CREDITFACTORY_LOG_JSON"),
    ({"CREDITFACTORY_SETTINGS": "/nonexistent.yaml"}, "CREDITFACTORY_SETTINGS"),
])
def test_validation_names_the_bad_key(environ, key):
    with pytest.raises(SettingsError, match=key):
        load(environ=environ)


def test_unknown_key_in_file_is_named(tmp_path):
    file = tmp_path / "cf.yaml"
    file.write_text("migration_wrokers: 2\n")
    with pytest.raises(SettingsError, match="migration_wrokers"):
        load(environ={"CREDITFACTORY_SETTINGS": str(file)})


def test_cli_reports_bad_settings_with_exit_2(monkeypatch):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "creditfactory.cli", "tenants", "list"], capture_output=True,
                            text=True, env={"CREDITFACTORY_MIGRATION_WORKERS": "x", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2
    assert "CREDITFACTORY_MIGRATION_WORKERS" in result.stderr

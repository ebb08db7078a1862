"""The detection settings of the trust and sequence detectors: parsed from the environment or a
config file, refused with the setting's name when wrong, and reaching the detectors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from iamwatch.composition import build_engine
from iamwatch.settings import SettingsError, load_settings
from tests.conftest import EVENTS_DIR, load_case, run_records

pytestmark = pytest.mark.usefixtures("no_ambient_settings")

FOREIGN = "role-trust-opened/positive_trust_opened_to_a_foreign_user_keeps_the_previous_policy"


def test_defaults_trust_nobody_else_and_give_sequences_30_hours() -> None:
    detection = load_settings().detection
    assert detection.trusted_accounts == frozenset()
    assert detection.trusted_organizations == frozenset()
    assert detection.backdoor_window == timedelta(hours=30)


def test_lists_come_comma_separated_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IAMWATCH_TRUSTED_ACCOUNTS", " 111122223333, 444455556666,,111122223333 ")
    monkeypatch.setenv("IAMWATCH_TRUSTED_ORGANIZATIONS", "o-a1b2c3d4e5")
    monkeypatch.setenv("IAMWATCH_BACKDOOR_SEQUENCE_WINDOW_HOURS", "6")
    detection = load_settings().detection
    assert detection.trusted_accounts == {"111122223333", "444455556666"}
    assert detection.trusted_organizations == {"o-a1b2c3d4e5"}
    assert detection.backdoor_window == timedelta(hours=6)


def test_an_empty_deployment_parameter_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    """serverless.yml passes organizationId and trustedAccounts through, "" when unset."""
    monkeypatch.setenv("IAMWATCH_TRUSTED_ACCOUNTS", "")
    monkeypatch.setenv("IAMWATCH_TRUSTED_ORGANIZATIONS", "")
    assert load_settings().detection.trusted_organizations == frozenset()


def test_lists_from_a_toml_file(tmp_path: Path) -> None:
    config = tmp_path / "iamwatch.toml"
    config.write_text('trusted_accounts = ["111122223333"]\nbackdoor_sequence_window_hours = 48\n')
    detection = load_settings(config).detection
    assert detection.trusted_accounts == {"111122223333"}
    assert detection.backdoor_window == timedelta(hours=48)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("IAMWATCH_TRUSTED_ACCOUNTS", "1111-2222-3333", "12-digit AWS account ids"),
        ("IAMWATCH_TRUSTED_ACCOUNTS", "111122223333,*", "12-digit AWS account ids"),
        ("IAMWATCH_TRUSTED_ORGANIZATIONS", "a1b2c3d4e5", "AWS Organizations ids"),
        ("IAMWATCH_BACKDOOR_SEQUENCE_WINDOW_HOURS", "0", "IAMWATCH_BACKDOOR_SEQUENCE_WINDOW_HOURS"),
        (
            "IAMWATCH_BACKDOOR_SEQUENCE_WINDOW_HOURS",
            "721",
            "IAMWATCH_BACKDOOR_SEQUENCE_WINDOW_HOURS",
        ),
    ],
)
def test_wrong_values_are_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=message) as raised:
        load_settings()
    assert name in str(raised.value)


def test_a_trusted_account_is_not_an_outsider_any_more(monkeypatch: pytest.MonkeyPatch) -> None:
    records = load_case(EVENTS_DIR / f"{FOREIGN}.json").records
    assert [f.detector for f in run_records(records)] == ["role-trust-opened"]
    monkeypatch.setenv("IAMWATCH_TRUSTED_ACCOUNTS", "444455556666")
    assert run_records(records, build_engine(load_settings())) == []

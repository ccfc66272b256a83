"""Configuration defaults that a fresh machine relies on."""
from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor

from webapp.config import _instance_secret, from_environment


def test_secret_key_is_generated_once_privately_and_shared(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with ThreadPoolExecutor(8) as pool:  # several workers starting at once agree on one key
        keys = set(pool.map(lambda _: _instance_secret(tmp_path), range(16)))
    assert len(keys) == 1
    key = keys.pop()
    assert len(key) >= 40
    assert stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode) == 0o600
    assert _instance_secret(tmp_path) == key
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]


def test_secret_key_from_the_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "from-env")
    assert _instance_secret(tmp_path) == "from-env"
    assert not (tmp_path / "secret_key").exists()


def test_admin_email_defaults_to_the_contact_centre_and_can_be_switched_off(tmp_path, monkeypatch):
    monkeypatch.delenv("ADMIN_EMAIL", raising=False)
    monkeypatch.delenv("VAPID_SUBJECT", raising=False)
    config = from_environment(tmp_path, tmp_path)
    assert config["ADMIN_EMAIL"] == "lckzm@uml.lodz.pl"
    assert config["VAPID_SUBJECT"] == "mailto:lckzm@uml.lodz.pl"

    monkeypatch.setenv("ADMIN_EMAIL", "")  # switched off: no alerts, but push still needs a contact
    config = from_environment(tmp_path, tmp_path)
    assert config["ADMIN_EMAIL"] == ""
    assert config["VAPID_SUBJECT"] == "mailto:lckzm@uml.lodz.pl"

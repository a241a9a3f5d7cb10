"""Shared by every test module: personas per role plus an outsider tenant (healthchecks style), fast password
hashing, a prompt cache of this test session's own, the real SIP peers, and session-wide speech engines."""

import os

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache

from campaigns import engines
from campaigns.models import Role
from pipeline.asr import WhisperASR
from pipeline.tts import EspeakTTS, PiperTTS
from tests.factories import MembershipFactory, TenantFactory, UserFactory

pytest_plugins = ["tests.support.sip.peers"]  # the `peers` and `sipp` fixtures (real baresip and sipp)


@pytest.fixture(scope="session", autouse=True)
def _own_prompt_cache(tmp_path_factory):
    """No test passes only because an earlier run (or the demo) left prompts in var/tts-cache; worker
    subprocesses inherit the same folder through the environment."""
    path = tmp_path_factory.mktemp("tts-cache")
    os.environ["TTS_CACHE_DIR"] = str(path)
    django_settings.TTS_CACHE_DIR = path
    engines.prompt_cache.cache_clear()
    yield path
    engines.prompt_cache.cache_clear()


@pytest.fixture(autouse=True)
def _media_and_cache(settings, tmp_path_factory):
    settings.MEDIA_ROOT = tmp_path_factory.mktemp("media")
    # The cache is the real Redis (throttle history, login-failure counts; its own database, CACHE_URL in the
    # Makefile): each test starts with an empty one.
    cache.clear()


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Personas are made with a password; the production hasher's 1M PBKDF2 rounds cost ~0.5 s a user.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def tenant(db):
    return TenantFactory(name="Acme Clinic", slug="acme")


@pytest.fixture
def outsider_tenant(db):
    return TenantFactory(name="Other Co", slug="other")


def _member(tenant, role):
    return MembershipFactory(tenant=tenant, role=role).user


@pytest.fixture
def owner(tenant):
    return _member(tenant, Role.OWNER)


@pytest.fixture
def manager(tenant):
    return _member(tenant, Role.MANAGER)


@pytest.fixture
def viewer(tenant):
    return _member(tenant, Role.VIEWER)


@pytest.fixture
def outsider(outsider_tenant):
    return _member(outsider_tenant, Role.OWNER)


@pytest.fixture
def nobody(db):
    return UserFactory()


# Speech engines for the tests that run them for real; their models load once per test session.
@pytest.fixture(scope="session")
def piper():
    return PiperTTS()


@pytest.fixture(scope="session")
def espeak():
    return EspeakTTS()


@pytest.fixture(scope="session")
def whisper():
    return WhisperASR()

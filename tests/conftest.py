"""Personas per role plus an outsider tenant (healthchecks style), shared by every test module."""

import pytest
from django.core.cache import cache

from campaigns.models import Role
from pipeline.asr import WhisperASR
from pipeline.tts import EspeakTTS, PiperTTS
from tests.factories import MembershipFactory, TenantFactory, UserFactory


@pytest.fixture(autouse=True)
def _media_and_cache(settings, tmp_path_factory):
    settings.MEDIA_ROOT = tmp_path_factory.mktemp("media")
    # The cache is the real Redis (throttle history, login-failure counts): each test starts with an empty one.
    cache.clear()


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

import pytest

from tests.campaigns.api_support import client_for


@pytest.fixture
def api(manager):
    """An API client with a token of the tenant's manager."""
    return client_for(manager)

"""The core flows again on PostgreSQL with the Redis event bus: the same tests, run with
``database_engine`` set to "postgres" (tests/conftest.py). Imported test functions are
collected here too; this module's fixture below is the one they get."""

from __future__ import annotations

import pytest

from inbox.storage.redisbus import RedisBus
from tests.test_access import *  # noqa: F401,F403
from tests.test_contacts import *  # noqa: F401,F403
from tests.test_delivery import *  # noqa: F401,F403
from tests.test_live import (  # noqa: F401
    test_reconnecting_client_receives_what_it_missed_then_live_events,
    test_replay_past_the_retention_says_resync,
)
from tests.test_live_access import *  # noqa: F401,F403
from tests.test_notifications import (  # noqa: F401
    test_a_customer_message_notifies_the_owner,
    test_a_kind_switched_off_creates_nothing,
    test_notification_created_reaches_only_its_users_socket,
)
from tests.test_sms_flow import *  # noqa: F401,F403


@pytest.fixture
def database_engine() -> str:
    return "postgres"


@pytest.fixture(autouse=True)
def _really_on_postgres_and_redis(request: pytest.FixtureRequest) -> None:
    """Guard against the override silently not applying: every test here that runs the app
    runs it on PostgreSQL with the Redis bus."""
    if "live" in request.fixturenames:
        ctx = request.getfixturevalue("live").app.state.ctx
        assert ctx.db.engine.dialect.name == "postgresql"
        assert isinstance(ctx.bus, RedisBus)

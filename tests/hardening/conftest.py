"""The hardening tests share the integration tests' PostgreSQL fixtures (and their
``MAILSIFT_REQUIRE_POSTGRES`` rule: unreachable, they skip unless it is ``1``) and the API
tests' in-process server."""

from tests.api.conftest import make_server, server  # noqa: F401
from tests.integration.conftest import (  # noqa: F401
    migrated_postgres_url,
    postgres_admin_url,
    postgres_template,
)

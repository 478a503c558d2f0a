"""The hardening tests share the integration tests' PostgreSQL fixtures (and their
``MAILSIFT_REQUIRE_POSTGRES`` rule: unreachable, they skip unless it is ``1``)."""

from tests.integration.conftest import (  # noqa: F401
    migrated_postgres_url,
    postgres_admin_url,
    postgres_template,
)

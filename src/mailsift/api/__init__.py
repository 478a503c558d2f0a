"""The HTTP API: the four calls of the hosted verifier it mirrors, credit conversion, downloads."""

from mailsift.api.app import create_app
from mailsift.api.config import ApiSettings

__all__ = ["ApiSettings", "create_app"]

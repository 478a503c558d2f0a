"""The verification engine: syntax, DNS, SMTP and the verdict. Knows no database or web.

verifier = Verifier(EngineOptions(helo_name="mx.example.org"))
async for verification in verifier.verify_many(addresses):
    ...
"""

from mailsift.verify.connector import SmtpConnector, SmtpConversation, SocketConnector
from mailsift.verify.engine import Verifier
from mailsift.verify.model import Reason, Result, Verification
from mailsift.verify.options import EngineOptions
from mailsift.verify.testing import ScriptedConnector, ScriptedServer, StaticResolver

__all__ = [
    "EngineOptions",
    "Reason",
    "Result",
    "ScriptedConnector",
    "ScriptedServer",
    "SmtpConnector",
    "SmtpConversation",
    "SocketConnector",
    "StaticResolver",
    "Verification",
    "Verifier",
]

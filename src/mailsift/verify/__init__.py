"""The verification engine: syntax, DNS, SMTP and the verdict. Knows no database or web.

verifier = Verifier(EngineOptions(helo_name="mx.example.org"))
async for verification in verifier.verify_many(addresses):
    ...
"""

from mailsift.verify.connector import SmtpConnector, SmtpConversation, SocketConnector
from mailsift.verify.engine import Verifier
from mailsift.verify.memory import DomainFindings, DomainMemory, NoMemory
from mailsift.verify.model import Reason, Result, Verification
from mailsift.verify.options import EngineOptions
from mailsift.verify.score import ScoreEvidence, quality_score, score_verification
from mailsift.verify.testing import ScriptedConnector, ScriptedServer, StaticResolver

__all__ = [
    "DomainFindings",
    "DomainMemory",
    "EngineOptions",
    "NoMemory",
    "Reason",
    "Result",
    "ScoreEvidence",
    "ScriptedConnector",
    "ScriptedServer",
    "SmtpConnector",
    "SmtpConversation",
    "SocketConnector",
    "StaticResolver",
    "Verification",
    "Verifier",
    "quality_score",
    "score_verification",
]

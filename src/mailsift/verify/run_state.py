"""What one run knows about each domain, each address and each server's queue."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from mailsift.verify.address import ParsedAddress
from mailsift.verify.dns import MailRoute
from mailsift.verify.errors import ProbeError
from mailsift.verify.session import Endpoint
from mailsift.verify.smtp import Reply


@dataclass(eq=False)
class Domain:
    name: str
    route: MailRoute | None = None
    endpoints: tuple[Endpoint, ...] = ()
    accept_all: bool | None = None
    probe: Item | None = None
    accepted_any: bool = False
    probe_deferred: bool = False  # the accept-all probe will be asked again later
    in_flight: int = 0  # items (probe included) still being asked about
    parked: list[Item] = field(default_factory=list)  # answered, waiting on the domain


@dataclass(eq=False)
class Item:
    """One recipient to ask about (an address of the list, or a domain's accept-all probe).

    ``last`` is the newest evidence: the last RCPT reply, or the last failure that kept the
    question from being answered. It is only ever replaced by newer evidence, so an item
    settled by its deadline or by a server's pause is judged on what was really seen.
    """

    domain: Domain
    recipient: str  # what RCPT TO carries
    address: ParsedAddress | None  # None for the accept-all probe
    givens: list[str] = field(default_factory=list)
    endpoint_index: int = 0
    last: Reply | ProbeError | None = None
    mx_host: str = ""
    smtputf8_missing: bool = False

    @property
    def is_probe(self) -> bool:
        return self.address is None

    @property
    def endpoint(self) -> Endpoint:
        return self.domain.endpoints[self.endpoint_index]

    @property
    def reply(self) -> Reply | None:
        return self.last if isinstance(self.last, Reply) else None

    @property
    def failure(self) -> ProbeError | None:
        return self.last if isinstance(self.last, ProbeError) else None

    def heard(self, evidence: Reply | ProbeError) -> None:
        """This item's own question got an answer, or failed."""
        self.last = evidence

    def inherit(self, failure: ProbeError | None) -> None:
        """The server is known to be unusable: that is the evidence, unless there is some."""
        if self.last is None:
            self.last = failure


@dataclass(eq=False)
class HostQueue:
    """The recipients waiting for one server (one IP address) and its workers."""

    key: str
    pending: deque[Item] = field(default_factory=deque)
    workers: int = 0
    down_until: float = 0.0
    down_because: ProbeError | None = None  # why it is down (failover skips it meanwhile)
    paused_because: ProbeError | None = None  # why it asked to be left alone

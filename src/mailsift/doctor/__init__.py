"""``mailsift doctor``: can this machine verify addresses, and is the service set up right?

Each check answers pass, warn or fail with what to do about it. The network checks ask what
decides whether verification works at all from here: outbound port 25, the HELO name's forward
and reverse DNS, the MAIL FROM domain, the egress address on DNS blocklists.
"""

from mailsift.doctor.findings import Finding, Status
from mailsift.doctor.run import DoctorOptions, run_checks

__all__ = ["DoctorOptions", "Finding", "Status", "run_checks"]

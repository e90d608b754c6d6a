"""PII (the `pii` stage): e-mail addresses and public IP addresses become placeholders, as FineWeb's PII step does.

E-mail addresses: a local part of RFC 5322 atom characters, '@', a domain of dot-separated labels ending in an
alphabetic top-level label of 2+ letters (so "user@localhost" and "pkg@1.2.3" are not addresses). IP
addresses: IPv4 dotted quads (each part 0-255, not part of a longer dotted number: "1.2.3.4.5" or
"v1.2.3.4" are versions) and IPv6 (2+ colons, validated by `ipaddress`); by default only public addresses
(`ipaddress.is_global`) are replaced: private, loopback, link-local and documentation ranges stay, since they
identify nobody. Counts are stored as scores (`pii_emails`, `pii_ips`); with `max_pii` set, a document with
more matches than that is dropped (`pii_too_many`) instead of being rewritten.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Optional, Tuple

from filters.base import Document, DocumentFilter
from filters.stage_options import NonNegativeInt, Sources, checked_options
from schemas import TEXT

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"  # RFC 5322 atom characters
# Linear time on any text, since PII runs on untrusted pages and an exception cannot interrupt a regex match
# (filters/deadline.py): without the look-ahead, every position of a long run of atom characters with no "@"
# started a scan to the end of the run (quadratic: 8 s for 20 KB of "!"). RFC 5321 caps a local part at 64
# characters and RFC 1035 a label at 63, so bounding them loses no address.
EMAIL_RE = re.compile(
    r"(?<![\w.+-])(?=[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@)" + _ATEXT + r"+(?:\." + _ATEXT + r"+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?![\w-])")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
# A dash may follow (`8.8.8.8-8.8.8.9`, a range, kept its first address): datatrove's pattern has no guard there.
IPV4_RE = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?!\.?\d|\w)")
IPV6_RE = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")


@checked_options
class PIIFilter(DocumentFilter):
    name = "pii"

    def __init__(
        self,
        emails: bool = True,
        ips: bool = True,
        public_ips_only: bool = True,
        email_placeholder: str = "<EMAIL>",
        ip_placeholder: str = "<IP_ADDRESS>",
        max_pii: Optional[NonNegativeInt] = None,
        sources: Sources = None,
    ):
        super().__init__(sources)
        self.emails, self.ips, self.public_ips_only = emails, ips, public_ips_only
        self.email_placeholder, self.ip_placeholder = email_placeholder, ip_placeholder
        self.max_pii = max_pii

    def _is_target_ip(self, candidate: str) -> bool:
        try:
            ip = ipaddress.ip_address(candidate)
        except ValueError:
            return False
        return ip.is_global or not self.public_ips_only

    def redact(self, text: str) -> Tuple[str, int, int]:
        """(text with placeholders, e-mails replaced, IPs replaced)."""
        n_emails = n_ips = 0
        if self.emails:
            text, n_emails = EMAIL_RE.subn(self.email_placeholder, text)
        if self.ips:
            counter = [0]

            def replace(m: "re.Match[str]") -> str:
                if self._is_target_ip(m.group()):
                    counter[0] += 1
                    return self.ip_placeholder
                return m.group()

            text = IPV6_RE.sub(replace, IPV4_RE.sub(replace, text))
            n_ips = counter[0]
        return text, n_emails, n_ips

    def apply(self, doc: Document) -> Optional[str]:
        text, n_emails, n_ips = self.redact(doc[TEXT])
        self.set_score(doc, "pii_emails", n_emails)
        self.set_score(doc, "pii_ips", n_ips)
        if self.max_pii is not None and n_emails + n_ips > self.max_pii:
            return "pii_too_many"
        doc[TEXT] = text
        return None

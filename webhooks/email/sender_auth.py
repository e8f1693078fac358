"""Is the mail really from the domain in its From? Anyone can write any From (SMTP has no
sender check), so the inbox records what vouches for it and the UI marks the rest
"unverified sender". Two sources, either of which can vouch:

- **Authentication-Results** (RFC 8601, https://www.rfc-editor.org/rfc/rfc8601) added by a
  mail server the admin trusts: the inbox's ``trusted_authserv_id`` names it (e.g.
  ``mx.google.com`` when Google Workspace forwards to us). Such a server removes headers
  claiming its own id from incoming mail (RFC 8601 section 5); headers of any other id are
  the sender's own word, and ignored. The topmost header of a trusted id is read.
- **DKIM** (RFC 6376), checked here with dkimpy on the raw bytes, whichever way the mail
  came: the key is looked up in DNS (``INBOX_EMAIL_DKIM_RESOLVER``), off the event loop,
  in a small pool of its own so slow DNS never holds the threads database reads use.

Either way the pass only counts when it is *aligned* with the From domain (DMARC's idea,
RFC 7489 section 3.1): the DKIM signing domain, SPF's MAIL FROM domain, or DMARC's
header.from is the From domain or a parent of it. (Relaxed DMARC alignment would also take a
sibling under the same registered domain, which needs the public suffix list: stricter here.)

The result goes into the message's payload as ``sender_auth``:
``{"verified", "method": "dkim" | "authentication-results" | None, "domain", "detail"}``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dkim  # type: ignore[import-untyped]
import dkim.canonicalization  # type: ignore[import-untyped]
import dns.exception
import dns.rdatatype
import dns.resolver
from dkim.util import parse_tag_value  # type: ignore[import-untyped]

from inbox.config import Settings

log = logging.getLogger(__name__)

MAX_HEADER_CHARS = 8192  # longer Authentication-Results / DKIM-Signature headers are not read
MAX_RESULTS_HEADERS = 50
MAX_SIGNATURES = 5
DNS_TIMEOUT = 5.0
BUDGET = 20.0  # seconds for the whole DKIM check (a few lookups and the hashing)
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dkim")

DnsFunc = Callable[..., "bytes | None"]


def _strip_trailing_whitespace(content: bytes) -> bytes:
    """dkimpy's relaxed body canonicalization, ``re.sub(b"[\\t ]+\\r\\n", b"\\r\\n", body)``,
    backtracks over every long run of blanks (quadratic: minutes for a hostile 25 MiB line);
    this is the same result in linear time."""
    lines = content.split(b"\r\n")
    return b"\r\n".join([line.rstrip(b"\t ") for line in lines[:-1]] + lines[-1:])


dkim.canonicalization.strip_trailing_whitespace = _strip_trailing_whitespace


# -- alignment --------------------------------------------------------------------------------

def aligned(domain: str, from_domain: str) -> bool:
    domain, from_domain = domain.strip().strip(".").lower(), from_domain.lower()
    return bool(domain) and (from_domain == domain or from_domain.endswith("." + domain))


def _domain_of(value: str) -> str:
    return value.rpartition("@")[2].strip().strip("<>").lower()


def result(verified: bool, method: str | None, domain: str, detail: str) -> dict[str, Any]:
    return {"verified": verified, "method": method, "domain": domain, "detail": detail}


# -- Authentication-Results -------------------------------------------------------------------

def _uncomment(value: str) -> str:
    """The header without its (nested) comments and with quoted strings kept: linear."""
    out: list[str] = []
    depth, quoted, escaped = 0, False, False
    for char in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            if depth == 0:
                out.append(char)
        elif quoted:
            quoted = char != '"'
            out.append(char)
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif depth == 0:
            quoted = char == '"'
            out.append(char)
    return "".join(out)


def parse_results(value: str) -> tuple[str, list[tuple[str, str, dict[str, str]]]]:
    """(authserv-id, [(method, result, {"header.d": ..., ...})]) of one header value."""
    parts = _uncomment(value).split(";")
    head = parts[0].split()
    authserv_id = head[0].strip('"').lower() if head else ""
    results = []
    for part in parts[1:]:
        text = " ".join(part.split())
        for spaced in (" =", "= ", " .", ". "):
            while spaced in text:
                text = text.replace(spaced, spaced.strip())
        tokens = text.split(" ")
        method, _, outcome = tokens[0].partition("=")
        if not method or not outcome or method == "none":
            continue
        props = {}
        for token in tokens[1:]:
            key, sep, val = token.partition("=")
            if sep:
                props[key.lower()] = val.strip('"')
        results.append((method.partition("/")[0].lower(), outcome.lower(), props))
    return authserv_id, results


def from_results(headers: Sequence[str], trusted: frozenset[str], from_domain: str) -> dict[str, Any] | None:
    """The verdict of the topmost Authentication-Results (``headers``, top first) of a
    trusted server; None if none."""
    for value in headers[:MAX_RESULTS_HEADERS]:
        if len(value) > MAX_HEADER_CHARS:
            continue  # never cut: a cut header.d could read as another, aligned domain
        authserv_id, results = parse_results(value)
        if authserv_id in trusted:
            return _judge(authserv_id, results, from_domain)
    return None


def _judge(authserv_id: str, results: list[tuple[str, str, dict[str, str]]], from_domain: str) -> dict[str, Any]:
    seen = []
    for method, outcome, props in results:
        if method == "dmarc":
            domain = props.get("header.from", from_domain)
            if outcome == "pass" and aligned(domain, from_domain):
                return result(True, "authentication-results", from_domain, f"{authserv_id}: dmarc=pass")
        elif method == "dkim":
            domain = props.get("header.d") or _domain_of(props.get("header.i", ""))
            if outcome == "pass" and aligned(domain, from_domain):
                return result(True, "authentication-results", from_domain, f"{authserv_id}: dkim=pass ({domain})")
        elif method == "spf":
            domain = _domain_of(props.get("smtp.mailfrom", "")) or props.get("smtp.helo", "")
            if outcome == "pass" and aligned(domain, from_domain):
                return result(True, "authentication-results", from_domain, f"{authserv_id}: spf=pass ({domain})")
        else:
            continue
        seen.append(f"{method}={outcome}" + (f" for {domain}" if outcome == "pass" else ""))
    found = ", ".join(seen) if seen else "no DKIM, SPF or DMARC result"
    return result(False, "authentication-results", from_domain,
                  f"{authserv_id} found nothing vouching for {from_domain}: {found}")


# -- DKIM ----------------------------------------------------------------------------------------

def dns_txt(resolver: str) -> DnsFunc:
    """dkimpy's TXT lookup, on the configured resolver ("" = the system's)."""
    def lookup(name: bytes, timeout: float = DNS_TIMEOUT) -> bytes | None:
        dns_resolver = dns.resolver.Resolver(configure=not resolver)
        if resolver:
            host, _, port = resolver.rpartition(":") if resolver.count(":") == 1 else (resolver, "", "")
            dns_resolver.nameservers = [host.strip("[]") or "127.0.0.1"]
            dns_resolver.port = int(port or 53)
        try:
            answer = dns_resolver.resolve(name.decode("ascii"), dns.rdatatype.TXT, lifetime=timeout,
                                          search=False, raise_on_no_answer=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoNameservers):
            return None
        except dns.exception.Timeout as exc:
            raise dkim.DnsTimeoutError(str(exc)) from None
        for rrset in answer.response.answer:
            if rrset.rdtype == dns.rdatatype.TXT:
                return b"".join(next(iter(rrset)).strings)
        return None
    return lookup


def check_dkim(raw: bytes, from_domain: str, dnsfunc: DnsFunc) -> dict[str, Any]:
    """Verify the DKIM signatures aligned with the From domain (blocking: DNS and hashing)."""
    try:
        signer = dkim.DKIM(raw, minkey=1024, timeout=DNS_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - dkimpy's parser on hostile bytes
        return result(False, "dkim", from_domain, f"the message could not be read for DKIM: {exc}")
    signatures = [value for name, value in signer.headers if name.lower() == b"dkim-signature"]
    if not signatures:
        return result(False, "dkim", from_domain, "no DKIM signature")
    others: list[str] = []
    failures: list[str] = []
    tried = 0
    for index, value in enumerate(signatures):
        if len(value) > MAX_HEADER_CHARS:
            continue
        try:
            domain = parse_tag_value(value).get(b"d", b"").decode("ascii", "replace").lower()
        except Exception:  # noqa: BLE001 - a malformed signature is simply not one
            continue
        if not aligned(domain, from_domain):
            others.append(domain)
            continue
        if tried == MAX_SIGNATURES:
            break
        tried += 1
        try:
            if signer.verify(idx=index, dnsfunc=dnsfunc):
                return result(True, "dkim", from_domain, f"DKIM signature of {domain} verified")
            failures.append(f"the DKIM signature of {domain} does not verify (the message was changed on the way, "
                            "or the key does not match)")
        except dkim.ValidationError as exc:  # e.g. "body hash mismatch (got ..., expected ...)"
            failures.append(f"the DKIM signature of {domain} does not verify: {str(exc).partition(' (')[0]}")
        except dkim.DnsTimeoutError as exc:
            failures.append(f"the DKIM key of {domain} could not be looked up ({exc})")
        except Exception as exc:  # noqa: BLE001 - dkimpy's DKIMException and key parsing errors
            failures.append(f"the DKIM signature of {domain} is not valid: {exc}")
    if failures:
        return result(False, "dkim", from_domain, "; ".join(failures))
    names = ", ".join(sorted(set(others))) or "nobody readable"
    return result(False, "dkim", from_domain, f"signed by {names}, not by the From domain {from_domain}")


# -- the check --------------------------------------------------------------------------------

def trusted_ids(inbox: Mapping[str, Any]) -> frozenset[str]:
    value = str(inbox["settings"].get("trusted_authserv_id") or "")
    return frozenset(v.strip().lower() for v in value.replace(",", " ").split() if v.strip())


async def authenticate(settings: Settings, inbox: Mapping[str, Any], results_headers: Sequence[str], raw: bytes,
                       from_address: str) -> dict[str, Any]:
    """The sender authentication to store with a customer's mail (``results_headers``: its
    Authentication-Results, top first, as the mail reader found them). Never raises."""
    from_domain = _domain_of(from_address)
    verdicts = []
    try:
        trusted = trusted_ids(inbox)
        if trusted:
            verdict = from_results(results_headers, trusted, from_domain)
            if verdict is not None and verdict["verified"]:
                return verdict
            verdicts.append(verdict or result(False, None, from_domain,
                                              f"no Authentication-Results from {', '.join(sorted(trusted))}"))
        if settings.email_dkim_resolver.lower() != "off":
            loop = asyncio.get_running_loop()
            verdict = await asyncio.wait_for(loop.run_in_executor(
                _POOL, check_dkim, raw, from_domain, dns_txt(settings.email_dkim_resolver)), BUDGET)
            if verdict["verified"]:
                return verdict
            verdicts.append(verdict)
    except TimeoutError:
        verdicts.append(result(False, "dkim", from_domain, f"the DKIM check took over {BUDGET:g} s: not checked"))
    except Exception as exc:  # noqa: BLE001 - never lose a customer's mail over its authentication
        log.warning("sender authentication of a mail to inbox %s failed: %s: %s", inbox["id"],
                    type(exc).__name__, exc)
        verdicts.append(result(False, None, from_domain, f"not checked ({type(exc).__name__})"))
    if not verdicts:
        return result(False, None, from_domain, "not checked: no trusted Authentication-Results server is "
                      "configured for this inbox, and DKIM checks are off")
    return result(False, verdicts[-1]["method"], from_domain, "; ".join(v["detail"] for v in verdicts))

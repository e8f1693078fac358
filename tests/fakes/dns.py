"""A fake DNS server on 127.0.0.1 (UDP), answering TXT queries from a table the test fills,
NXDOMAIN otherwise: what DKIM key lookups meet (RFC 6376 section 3.6.2). It runs on the
test's event loop, which is also the app's: a lookup made on that loop would never be
answered, so a passing lookup shows the app made it off the loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class FakeDns(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.txt: dict[str, str] = {}  # "selector._domainkey.example.org" -> record text
        self.queries: list[str] = []
        self.port = 0
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text().rstrip(".").lower()
        self.queries.append(name)
        record = self.txt.get(name)
        if question.rdtype == dns.rdatatype.TXT and record is not None:
            # A TXT string holds at most 255 bytes: longer records are several strings.
            strings = " ".join(f'"{record[i:i + 255]}"' for i in range(0, len(record), 255))
            response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "TXT", strings))
        else:
            response.set_rcode(dns.rcode.NXDOMAIN)
        self.transport.sendto(response.to_wire(), addr)


@contextlib.asynccontextmanager
async def fake_dns() -> AsyncIterator[FakeDns]:
    transport, server = await asyncio.get_running_loop().create_datagram_endpoint(
        FakeDns, local_addr=("127.0.0.1", 0))
    server.port = transport.get_extra_info("sockname")[1]
    try:
        yield server
    finally:
        transport.close()

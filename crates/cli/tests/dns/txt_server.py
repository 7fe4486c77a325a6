"""A DNS server on loopback for the domain verification tests (tests/suite/api/domains.rs).

It answers TXT queries from a JSON file the test writes and may rewrite at any time (read on
every query): {"name": ["txt value", ...]} answers those TXT records (an empty list: the name
exists with no TXT record), {"name": "SERVFAIL"} answers SERVFAIL, any other name NXDOMAIN.
Names are lower case without the trailing dot. Prints the UDP port it listens on, then serves
until stdin closes.
"""

import json
import sys

from dnslib import QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver, DNSServer


class FileResolver(BaseResolver):
    def __init__(self, path):
        self.path = path

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        try:
            with open(self.path, encoding="utf-8") as f:
                records = json.load(f)
        except (OSError, ValueError):
            records = {}
        entry = records.get(name)
        if entry is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif entry == "SERVFAIL":
            reply.header.rcode = RCODE.SERVFAIL
        elif request.q.qtype == QTYPE.TXT:
            for value in entry:
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(value), ttl=60))
        return reply


class QuietLogger:
    def __getattr__(self, _name):
        return lambda *args, **kwargs: None


def main():
    server = DNSServer(FileResolver(sys.argv[1]), port=0, address="127.0.0.1", logger=QuietLogger())
    server.start_thread()
    print(server.server.server_address[1], flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()

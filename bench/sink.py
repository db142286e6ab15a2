"""A counting SMTP sink (aiosmtpd) for the benches: accepts and discards, reports counts on request.

python bench/sink.py PORT      listens on 127.0.0.1:PORT; `COUNT` on stdin prints the count
"""

from __future__ import annotations

import sys
import threading

from aiosmtpd.controller import Controller


class Counter:
    def __init__(self):
        self.messages = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages += len(envelope.rcpt_tos)
        return "250 2.0.0 OK"


def main() -> None:
    counter = Counter()
    controller = Controller(counter, hostname="127.0.0.1", port=int(sys.argv[1]))
    controller.start()
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "COUNT":
            print(counter.messages, flush=True)
        elif line.strip() == "RESET":
            counter.messages = 0
            print("ok", flush=True)
    controller.stop()


if __name__ == "__main__":
    main()

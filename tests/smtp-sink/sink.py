"""A real SMTP sink for ferry's mail tests: aiosmtpd on 127.0.0.1:PORT, each message written
to OUT_DIR as one JSON file {mail_from, rcpt_tos, data}. Prints "ready" once it listens.

Usage: python sink.py PORT OUT_DIR   (stop it with SIGTERM or SIGKILL)
"""

import json
import os
import sys
import threading

from aiosmtpd.controller import Controller


class Sink:
    """Accepts every message and writes it to a file (atomically: temp file, then rename)."""

    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        path = os.path.join(self.out_dir, f"{n:06d}.json")
        message = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "data": envelope.content.decode("utf-8", "replace"),
        }
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(message, f)
        os.replace(path + ".tmp", path)
        return "250 Message accepted"


def main():
    port, out_dir = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Sink(out_dir), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A loopback SMTP server for Rampart's notification tests, on aiosmtpd.

Optional STARTTLS (--cert/--key, then required) and AUTH (--user/--password, then required, over TLS only).
Each message is written to DIR as NNNN.eml (raw) and NNNN.json (envelope, subject, decoded MIME parts, and
whether the session was encrypted and authenticated). Prints "READY <port>" once listening; stops on SIGTERM.
"""
import argparse
import email
import json
import os
import signal
import ssl
import sys
import threading
import warnings
from email import policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            base = os.path.join(self.directory, f"{self.count:04d}")
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=policy.default)
        parts = [
            {"content_type": p.get_content_type(), "text": p.get_content()}
            for p in msg.walk()
            if not p.is_multipart()
        ]
        info = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(msg["subject"]),
            "message_id": str(msg["message-id"]),
            "content_type": msg.get_content_type(),
            "parts": parts,
            "tls": session.ssl is not None,
            "authenticated": bool(getattr(session, "authenticated", False)),
        }
        with open(base + ".eml", "wb") as f:
            f.write(raw)
        with open(base + ".json.tmp", "w") as f:
            json.dump(info, f)
        os.rename(base + ".json.tmp", base + ".json")
        return "250 OK"


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False)

    return check


def main():
    # aiosmtpd 1.4 warns about its own use of Session.login_data.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--user")
    ap.add_argument("--password")
    args = ap.parse_args()
    kwargs = {}
    if args.cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.cert, args.key)
        kwargs.update(tls_context=ctx, require_starttls=True)
    if args.user:
        kwargs.update(
            authenticator=authenticator(args.user, args.password),
            auth_required=True,
            auth_require_tls=bool(args.cert),
        )
    controller = Controller(Sink(args.dir), hostname="127.0.0.1", port=args.port, **kwargs)
    controller.start()
    print(f"READY {args.port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    sys.exit(main())

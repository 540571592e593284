"""Test SMTP server: python3 smtp_sink.py OUT_DIR [--tls CERT KEY] [--auth USER PASSWORD]
Listens on 127.0.0.1, on a port the system picks, and prints "LISTENING <port>".
Each message is written as OUT_DIR/NNNN.eml (raw, plus X-MailFrom/X-RcptTo)
and then OUT_DIR/NNNN.json {"from","to","subject","text","html","message_id",
"idempotency_key","tls","auth"} with the parts decoded; "tls" says whether the
session was upgraded with STARTTLS, "auth" names the user it logged in as.
Both files are renamed into place and the .json comes last, so a reader that
sees NNNN.json sees a complete message.
--tls: offer STARTTLS with this certificate and refuse mail before it.
--auth: require AUTH (PLAIN or LOGIN, only after STARTTLS) with these credentials.
Recipients whose local part starts with "reject" are refused with a permanent
550 at RCPT TO. Reads commands from stdin, one per line: "down" makes it drop
every new connection at once (an outage, on the same port), "up" ends that.
Exits when its stdin closes. Needs: pip install aiosmtpd."""
import argparse, asyncio, email, email.policy, itertools, json, os, ssl, sys
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def put(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


class Sink:
    def __init__(self, out):
        self.out, self.n = out, itertools.count(1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.split("@")[0].startswith("reject"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        base = os.path.join(self.out, f"{next(self.n):04}")
        head = (f"X-MailFrom: {envelope.mail_from}\r\n"
                f"X-RcptTo: {', '.join(envelope.rcpt_tos)}\r\n").encode()
        put(base + ".eml", head + envelope.original_content)
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        text = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        put(base + ".json", json.dumps({
            "from": envelope.mail_from, "to": envelope.rcpt_tos,
            "subject": msg["subject"],
            "text": text.get_content() if text else "",
            "html": html.get_content() if html else "",
            "message_id": msg["message-id"],
            "idempotency_key": msg["x-fieldsync-idempotency-key"],
            "tls": session.ssl is not None,
            "auth": session.auth_data if session.authenticated else None,
        }).encode())
        return "250 Message accepted for delivery"


class Dropped(asyncio.Protocol):
    """What a connection meets while the server is down: it is closed at once."""

    def connection_made(self, transport):
        transport.abort()


async def main(args):
    os.makedirs(args.out, exist_ok=True)
    loop = asyncio.get_running_loop()
    sink = Sink(args.out)  # one handler for all connections: one message counter
    options = {}
    if args.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*args.tls)
        options.update(tls_context=context, require_starttls=True)
    if args.auth:
        user, password = (s.encode() for s in args.auth)

        def check(server, session, envelope, mechanism, data):
            ok = isinstance(data, LoginPassword) and (data.login, data.password) == (user, password)
            # The user name becomes session.auth_data, for the JSON above.
            return AuthResult(success=ok, handled=False, auth_data=data.login.decode() if ok else None)

        options.update(authenticator=check, auth_required=True, auth_require_tls=True)
    down = False

    def protocol():
        return Dropped() if down else SMTP(sink, **options)

    server = await loop.create_server(protocol, "127.0.0.1", 0)
    print("LISTENING", server.sockets[0].getsockname()[1], flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():  # until the parent closes stdin
        command = line.decode().strip()
        if command in ("down", "up"):
            down = command == "down"
            print("OK", command, flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--auth", nargs=2, metavar=("USER", "PASSWORD"))
    asyncio.run(main(parser.parse_args()))

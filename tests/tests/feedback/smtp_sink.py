"""Test SMTP sink: python3 smtp_sink.py OUT_DIR [PORT]
Listens on 127.0.0.1 (PORT, or a free port) and prints "LISTENING <port>".
Each message is written as OUT_DIR/NNNN.eml (raw, plus X-MailFrom/X-RcptTo)
and then OUT_DIR/NNNN.json {"from","to","subject","text","html","message_id",
"idempotency_key"} with the parts decoded. Both are renamed into place and the
.json comes last, so a reader that sees NNNN.json sees a complete message.
Recipients whose local part starts with "reject" are refused with a permanent
550 at RCPT TO. Exits when its stdin closes. Needs: pip install aiosmtpd."""
import asyncio, email, email.policy, itertools, json, os, sys
from aiosmtpd.smtp import SMTP

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
        }).encode())
        return "250 Message accepted for delivery"

async def main(out, port):
    os.makedirs(out, exist_ok=True)
    loop = asyncio.get_running_loop()
    sink = Sink(out)  # one handler for all connections: one message counter
    server = await loop.create_server(lambda: SMTP(sink), "127.0.0.1", port)
    print("LISTENING", server.sockets[0].getsockname()[1], flush=True)
    await loop.run_in_executor(None, sys.stdin.buffer.read)  # until parent closes stdin

if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0))

"""An S3-compatible server for the e2e S3 check: moto's (pip install
'moto[server]'), plain HTTP on 127.0.0.1, behind a TLS proxy on HOST:PORT
that ends every connection with a TLS close_notify (pgBackRest, built on
OpenSSL 3, refuses a peer that just drops the connection, which werkzeug's
own TLS does after each response). The certificate is self-signed (the
check runs with verify_tls = false). Usage: s3_server.py HOST PORT CERT KEY
"""
import asyncio
import ssl
import sys

from moto.moto_server.threaded_moto_server import ThreadedMotoServer

host, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
BACKEND = 18999
ThreadedMotoServer(ip_address="127.0.0.1", port=BACKEND, verbose=False).start()


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        try:
            writer.close()
            await writer.wait_closed()
        except (ConnectionError, ssl.SSLError):
            pass


async def handle(client_r, client_w):
    try:
        back_r, back_w = await asyncio.open_connection("127.0.0.1", BACKEND)
    except OSError:
        client_w.close()
        return
    await asyncio.gather(pipe(client_r, back_w), pipe(back_r, client_w))


async def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server = await asyncio.start_server(handle, host, port, ssl=ctx)
    async with server:
        await server.serve_forever()


asyncio.run(main())

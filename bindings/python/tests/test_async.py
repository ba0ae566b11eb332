"""asyncio with ssa sockets: the descriptor is an ordinary socket to the event loop."""
import asyncio
import errno
import socket

import pytest

import ssa


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_open_connection_on_connected_socket(pki, s_server):
    async def main():
        s = ssa.create_connection(("localhost", s_server), timeout=10, cafile=pki / "ca.pem")
        reader, writer = await asyncio.open_connection(sock=s)
        assert writer.get_extra_info("peername") == ("127.0.0.1", s_server)
        writer.write(b"asyncio\n")
        line = await reader.readline()
        writer.close()
        await writer.wait_closed()
        return line

    assert run(main()) == b"oicnysa\n"


def test_sock_connect_nonblocking(pki, s_server):
    async def main():
        loop = asyncio.get_running_loop()
        with ssa.socket() as s:
            s.setblocking(False)
            s.setsockopt(ssa.IPPROTO_TLS, ssa.TLS_REMOTE_HOSTNAME, "localhost")
            await loop.sock_connect(s, ("127.0.0.1", s_server))
            assert s.getsockopt_str(ssa.TLS_PEER_IDENTITY) == "/CN=localhost"
            await loop.sock_sendall(s, b"sock_connect\n")
            return await loop.sock_recv(s, 100)

    assert run(main()) == b"tcennoc_kcos\n"


def test_sock_connect_failure(pki, s_server):
    async def main():
        loop = asyncio.get_running_loop()
        with ssa.socket() as s:
            s.setblocking(False)
            s.setsockopt(ssa.IPPROTO_TLS, ssa.TLS_REMOTE_HOSTNAME, "wrong.test")
            with pytest.raises(OSError) as e:
                await loop.sock_connect(s, ("127.0.0.1", s_server))
            assert e.value.errno == errno.EPROTO  # asyncio's OSError: errno only

    run(main())


def test_start_server_on_ssa_listener(pki):
    async def handle(reader, writer):
        peer = writer.get_extra_info("socket")
        name = peer.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL)
        line = await reader.readline()
        writer.write(b"%d %s" % (name, line))
        await writer.drain()
        writer.close()

    async def one_client(loop, port, i):
        s = ssa.socket()
        s.setblocking(False)
        s.setsockopt(ssa.IPPROTO_TLS, ssa.TLS_REMOTE_HOSTNAME, "localhost")
        await loop.sock_connect(s, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=s)
        writer.write(b"client %d\n" % i)
        answer = await reader.read()  # the server closes: EOF after close_notify
        writer.close()
        return answer

    async def main():
        loop = asyncio.get_running_loop()
        listener = ssa.create_server(("127.0.0.1", 0), certfile=pki / "localhost-chain.pem",
                                     keyfile=pki / "localhost.key")
        port = listener.getsockname()[1]
        server = await asyncio.start_server(handle, sock=listener)
        async with server:
            answers = await asyncio.gather(*(one_client(loop, port, i) for i in range(10)))
        return answers

    assert run(main()) == [b"205 client %d\n" % i for i in range(10)]

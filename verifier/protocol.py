"""The engine protocol, from Python (docs/protocol.md): ``serve(engine)`` answers its
requests for any Python engine, so that engine can be checked as a program
(``adverify campaign --engine 'cmd:python my_server.py'``), and adverify's own end of the
protocol is tested against every engine it can import.

    # my_server.py
    from verifier.protocol import serve
    from my_engine import MyEngine
    serve(MyEngine())

``adverify serve SPEC`` does the same for any ``--engine`` spec.
"""
from __future__ import annotations

from verifier.checking.serving import hello, serve
from verifier.engines.command import CommandEngine, ProtocolError
from verifier.floor.wire import VERSION

__all__ = ["serve", "hello", "CommandEngine", "ProtocolError", "VERSION"]

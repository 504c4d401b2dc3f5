"""Run moto's server with the Step Functions interpreter on.

Usage: moto_server.py PORT [--exit-on-eof]

With `execute_state_machine` on, moto runs the state machine definition, so an
execution moves from RUNNING to SUCCEEDED/FAILED as it would on AWS, instead of
staying RUNNING forever. The flag lives in moto's config module and must be set
before the server starts.

With `--exit-on-eof`, the server exits as soon as its stdin reaches end of file:
the integration tests start it with a pipe on stdin and never write to it, so
when the test process exits, however it exits, the kernel closes the pipe and the
server goes with it.
"""
import os
import sys
import threading

from moto.core.config import default_user_config
from moto.server import main


def exit_on_eof():
    sys.stdin.buffer.read()
    os._exit(0)


args = sys.argv[1:]
if len(args) not in (1, 2) or args[1:] not in ([], ["--exit-on-eof"]):
    sys.exit(f"usage: {sys.argv[0]} PORT [--exit-on-eof]")
port = args[0]
if args[1:]:
    threading.Thread(target=exit_on_eof, daemon=True).start()
default_user_config["stepfunctions"] = {"execute_state_machine": True}
main(["-H", "127.0.0.1", "-p", port])

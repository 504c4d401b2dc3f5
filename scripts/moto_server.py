"""Run moto's server with the Step Functions interpreter on.

Usage: moto_server.py PORT

With `execute_state_machine` on, moto runs the state machine definition, so an
execution moves from RUNNING to SUCCEEDED/FAILED as it would on AWS, instead of
staying RUNNING forever. The flag lives in moto's config module and must be set
before the server starts.
"""
import sys

from moto.core.config import default_user_config
from moto.server import main

default_user_config["stepfunctions"] = {"execute_state_machine": True}
main(["-H", "127.0.0.1", "-p", sys.argv[1]])

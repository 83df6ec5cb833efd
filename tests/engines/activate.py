#!/usr/bin/env python3
"""Usage: activate.py SOCKET COMMAND [ARG...]

Socket activation as systemd does it, without systemd: listens on the unix
socket SOCKET, then starts COMMAND as a child with the listening socket as
descriptor 3 (LISTEN_FDS=1, LISTEN_PID = the child's PID), and keeps
holding the socket itself, as a service manager does, until the child
ends; exits with the child's status. So the process that called listen()
(what SO_PEERCRED names) is not the one that serves the socket.
"""
import os
import socket
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    path, command = sys.argv[1], sys.argv[2:]
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    os.chmod(path, 0o660)
    sock.listen(128)
    pid = os.fork()
    if pid == 0:
        if sock.fileno() != 3:
            os.dup2(sock.fileno(), 3)
        os.set_inheritable(3, True)
        os.environ["LISTEN_FDS"] = "1"
        os.environ["LISTEN_PID"] = str(os.getpid())
        os.environ["LISTEN_FDNAMES"] = os.path.basename(path)
        os.execvp(command[0], command)
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8)


if __name__ == "__main__":
    main()

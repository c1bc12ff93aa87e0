"""Runs a command on a new pseudo-terminal and presses Ctrl-C once a file
exists: the terminal driver then sends SIGINT to the whole foreground process
group, as a user's Ctrl-C does (kill(2) cannot imitate that: its signals are
not the kernel's). Prints what the command wrote; exits with its status.

usage: ctrl_c.py WAIT_FOR_FILE COMMAND [ARG...]
"""
import os
import pty
import select
import sys
import time

wait_for, command = sys.argv[1], sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(command[0], command)
output = b""
pressed = False
deadline = time.time() + 120
while True:
    if not pressed and os.path.exists(wait_for):
        os.write(fd, b"\x03")
        pressed = True
    try:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            output += chunk
    except OSError:  # the child closed the terminal
        break
    if time.time() > deadline:
        os.kill(pid, 9)
        break
_, status = os.waitpid(pid, 0)
sys.stdout.write(output.decode("utf-8", "replace"))
sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))

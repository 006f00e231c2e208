"""Commands on stdin for the interop drivers that wait on it with select()."""
import os

_pending = bytearray()


def stdin_lines():
    """The whole lines now on stdin, or None at its end. Read from the descriptor, not
    sys.stdin, whose buffer would hide from select() a second line that came with the first."""
    data = os.read(0, 65536)
    if not data:
        return None
    _pending.extend(data)
    *lines, rest = _pending.split(b"\n")
    _pending[:] = rest
    return [line.decode() for line in lines]

"""A serial port for ``memres run``: pyserial, raw 8N1, no flow control.

The board session (``pygen.session.BoardClient``) needs only ``write(bytes)``
and ``read(timeout) -> bytes``; :class:`SerialPort` gives those over
``serial.Serial`` (a USB UART such as the iCEBreaker's FT2232H, or the
pseudo-terminal of ``memres run --sim``).
"""

from __future__ import annotations

import serial

from memres.sw_model.errors import MemresError

__all__ = ["SerialPortError", "SerialPort"]


class SerialPortError(MemresError, ValueError):
    """The serial port cannot be opened or used; the message says what to check."""


class SerialPort:
    """A serial port (or pseudo-terminal) in raw 8N1 mode, no flow control.

    Parameters
    ----------
    path : str
        e.g. ``/dev/ttyUSB1`` (the iCEBreaker's FT2232H shows two ports; the UART is the second).
    baud : int
    """

    def __init__(self, path: str, baud: int):
        self.path = path
        try:
            self._port = serial.Serial(path, int(baud), bytesize=serial.EIGHTBITS, parity=serial.PARITY_NONE,
                                       stopbits=serial.STOPBITS_ONE, xonxoff=False, rtscts=False,
                                       dsrdtr=False, timeout=0, write_timeout=None, exclusive=False)
        except ValueError as e:
            raise SerialPortError(f"{baud} baud is not a rate this system's serial driver offers ({e})") from None
        except serial.SerialException as e:
            raise SerialPortError(f"cannot open serial port {path}: {e}; is the board plugged in "
                                  f"(ls /dev/ttyUSB*), and may you use it (group dialout)?") from None
        self._port.reset_input_buffer()
        self._port.reset_output_buffer()

    def write(self, data: bytes) -> None:
        self._port.write(data)
        self._port.flush()

    def read(self, timeout: float) -> bytes:
        """Whatever arrives within ``timeout`` seconds (b"" if nothing)."""
        self._port.timeout = max(0.0, timeout)
        data = self._port.read(1)
        if data:
            self._port.timeout = 0
            data += self._port.read(max(0, self._port.in_waiting))
        return data

    def close(self) -> None:
        self._port.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

"""Writes static/alert.wav: the workbench's audible alert for a new red or class-1 appeal (two short
tones, 0.6 s, 8 kHz mono), made with the standard library so that nothing is fetched from a CDN.
Run once: ``python -m data.make_alert_sound``; the file is committed."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

RATE = 8000
OUT = Path(__file__).resolve().parent.parent / "static" / "alert.wav"


def tones() -> bytes:
    """Two beeps (880 Hz then 660 Hz, 0.25 s each, 0.1 s apart), 16-bit samples."""
    frames = bytearray()
    for freq, secs in ((880, 0.25), (0, 0.1), (660, 0.25)):
        for i in range(int(RATE * secs)):
            fade = min(1.0, i / 80, (RATE * secs - i) / 80)
            v = 0.5 * fade * math.sin(2 * math.pi * freq * i / RATE) if freq else 0.0
            frames += struct.pack("<h", int(v * 32767))
    return bytes(frames)


def main() -> None:
    """Write the file."""
    OUT.parent.mkdir(exist_ok=True)
    with wave.open(str(OUT), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(tones())


if __name__ == "__main__":
    main()

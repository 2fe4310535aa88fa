"""baresip 1.0 (Debian's baresip-core): a plain SIP phone for the customer's side of a call.

It registers over UDP with the stack's Kamailio as PHONE_NUMBER, answers every call by itself, plays the
8 kHz WAV it is given (PCMU/PCMA only, as a plain phone or trunk would), records what it hears into
RECORDINGS (sndfile: one `dump-*-dec.wav` per call), and reports its events (calls, received RFC 4733
DTMF) on its ctrl_tcp socket, where it also takes commands (service/... never talks to it; tests and
`python -m devstack pbx-call` do, through `PhoneControl` in devstack/baresip_control.py).
"""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

from . import install, procs
from .paths import LOGS, STATE

NAME = "baresip"
HOST = "127.0.0.1"
SIP_PORT = 5062
CTRL_PORT = 4444
RTP_PORTS = (31000, 31999)
PHONE_NUMBER = "2000"
CONFIG_DIR = STATE / "baresip"
RECORDINGS = STATE / "baresip" / "recordings"
PROMPT = STATE / "baresip" / "customer.wav"
MODULES = "/usr/lib/baresip/modules"
# baresip hangs up when the prompt ends: calls to the plain phone last at most this long.
PROMPT_SECONDS = 20 * 60


def config(prompt: Path, recordings: Path) -> str:
    return "\n".join([
        "poll_method epoll",
        f"sip_listen {HOST}:{SIP_PORT}",
        "sip_transports udp",
        f"audio_source aufile,{prompt}",
        # No sound card: the bridge device swallows what is played. What is heard is recorded by sndfile.
        "audio_player aubridge,customer",
        "audio_alert aubridge,customer",
        f"rtp_ports {RTP_PORTS[0]}-{RTP_PORTS[1]}",
        f"net_interface {HOST}",
        f"module_path {MODULES}",
        "module g711.so",
        "module aufile.so",
        "module aubridge.so",
        "module sndfile.so",
        f"snd_path {recordings}",
        "module_app account.so",
        "module_app menu.so",
        "module_app ctrl_tcp.so",
        f"ctrl_tcp_listen {HOST}:{CTRL_PORT}",
        "",
    ])


def account(kamailio_udp: tuple[str, int]) -> str:
    host, port = kamailio_udp
    return (f"<sip:{PHONE_NUMBER}@{host}:{port};transport=udp>;regint=60;answermode=auto;"
            "audio_codecs=PCMU/8000/1,PCMA/8000/1;medianat=;mediaenc=\n")


def write_prompt(path: Path, seconds: float = PROMPT_SECONDS, rate: int = 8000) -> None:
    """An 8 kHz mono WAV that is never silent: a 440 Hz tone rising and falling in level (a stand-in voice).

    baresip ends a call when its source file ends (aufile has no loop), so the prompt is long; the pattern
    repeats every 2 s, so one period is computed and repeated.
    """
    period = bytearray()
    for i in range(2 * rate):
        t = i / rate
        level = 0.25 + 0.2 * math.sin(2 * math.pi * 0.5 * t)
        period += struct.pack("<h", int(32767 * level * math.sin(2 * math.pi * 440 * t)))
    whole, rest = divmod(int(seconds * rate), 2 * rate)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(period) * whole + bytes(period[:2 * rest]))


def wave_seconds(path: Path) -> float:
    with wave.open(str(path)) as prompt:
        return prompt.getnframes() / prompt.getframerate()


def command(config_dir: Path) -> list[str]:
    return ["baresip", "-f", str(config_dir)]


def start(kamailio_udp: tuple[str, int]) -> bool:
    if procs.port_open(HOST, CTRL_PORT):
        return False
    install.ensure_packages({"baresip": ["baresip-core"]})
    RECORDINGS.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    if not PROMPT.exists() or wave_seconds(PROMPT) < PROMPT_SECONDS:
        write_prompt(PROMPT)
    (CONFIG_DIR / "config").write_text(config(PROMPT, RECORDINGS))
    (CONFIG_DIR / "accounts").write_text(account(kamailio_udp))
    procs.spawn(NAME, command(CONFIG_DIR))
    procs.wait_for_port(HOST, CTRL_PORT, NAME)
    return True


def stop() -> bool:
    return procs.stop(NAME)

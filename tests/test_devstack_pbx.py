"""devstack's PBX-shaped pieces without the daemons: baresip's control framing and the prompt it plays."""

from __future__ import annotations

import array
import json
import wave

from devstack import baresip
from devstack.baresip_control import NetstringReader, netstring


def test_netstrings_split_across_reads_and_joined_in_one() -> None:
    one = netstring(json.dumps({"event": True, "type": "CALL_DTMF_START", "param": "#"}).encode())
    two = netstring(b'{"response":true,"ok":true,"token":"1"}')
    reader = NetstringReader()
    stream = one + two
    got = []
    for i in range(0, len(stream), 7):
        got += reader.feed(stream[i:i + 7])
    assert [json.loads(p) for p in got] == [
        {"event": True, "type": "CALL_DTMF_START", "param": "#"}, {"response": True, "ok": True, "token": "1"}]
    assert reader.buffer == b""


def test_the_prompt_is_an_8_khz_mono_wav_that_is_never_silent(tmp_path) -> None:
    path = tmp_path / "prompt.wav"
    baresip.write_prompt(path, seconds=2.5)
    with wave.open(str(path)) as prompt:
        assert (prompt.getframerate(), prompt.getnchannels(), prompt.getsampwidth()) == (8000, 1, 2)
        samples = array.array("h", prompt.readframes(prompt.getnframes()))
    assert len(samples) == 20000 and baresip.wave_seconds(path) == 2.5
    for start in range(0, len(samples), 800):  # every 100 ms carries signal
        assert max(abs(x) for x in samples[start:start + 800]) > 1000


def test_the_plain_phone_offers_only_g711_and_answers_by_itself() -> None:
    account = baresip.account(("127.0.0.1", 5060))
    assert account.startswith(f"<sip:{baresip.PHONE_NUMBER}@127.0.0.1:5060;transport=udp>")
    assert ";answermode=auto;" in account and "audio_codecs=PCMU/8000/1,PCMA/8000/1" in account

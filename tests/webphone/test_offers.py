"""The offers the page takes: with a BUNDLE group (browsers) and without one (rtpengine, a PBX without bundle)."""

from __future__ import annotations

import pytest

from .conftest import ENGINES, growth, until
from .test_calls import connect_call, username_of

# An offer as a browser makes it, then without its BUNDLE group; answered with the configuration the page
# hands SIP.js for every call, and with that configuration set to max-bundle (which must refuse it).
ANSWER_OFFERS = r"""async () => {
  const offerer = new RTCPeerConnection();
  offerer.addTransceiver('audio');
  const { sdp } = await offerer.createOffer();
  offerer.close();
  const unbundled = sdp.replace(/^a=group:BUNDLE.*\r\n/m, '');
  const config = OmniSense.phone.sdhOptions.peerConnectionOptions.rtcConfiguration;
  const answer = async (rtcConfiguration, offer) => {
    const pc = new RTCPeerConnection(rtcConfiguration);
    try {
      await pc.setRemoteDescription({ type: 'offer', sdp: offer });
      await pc.setLocalDescription();
      return 'answered';
    } catch (error) {
      return error.message;
    } finally {
      pc.close();
    }
  };
  return {
    bundled: sdp.includes('a=group:BUNDLE'), unbundled: unbundled.includes('a=group:BUNDLE'),
    withBundle: await answer(config, sdp), withoutBundle: await answer(config, unbundled),
    maxBundle: await answer({ ...config, bundlePolicy: 'max-bundle' }, unbundled),
  };
}"""


# What each browser says of an offer without BUNDLE under max-bundle (Chromium refuses it, Firefox answers it),
# and of one without rtcp-mux under rtcpMuxPolicy "require".
MAX_BUNDLE_UNBUNDLED = {"chromium": "no BUNDLE group", "firefox": "answered"}
REQUIRED_MUX_MISSING = {"chromium": "RTCP-MUX is not enabled when it is required",
                        "firefox": "missing a=rtcp-mux, which is required by rtcpMuxPolicy"}


@pytest.mark.stack
@pytest.mark.browser
@pytest.mark.parametrize("engine", ENGINES)
async def test_offers_with_and_without_a_bundle_group_are_answered(service, open_phone, engine) -> None:
    a = await open_phone(service.url(), engine=engine)
    await a.wait_state("registered")  # TURN applied: the configuration calls really get
    out = await a.page.evaluate(ANSWER_OFFERS)
    assert out["bundled"] and not out["unbundled"]
    assert out["withBundle"] == "answered"
    assert out["withoutBundle"] == "answered"
    # In Chromium, what the page said before, and the test would catch.
    assert MAX_BUNDLE_UNBUNDLED[engine] in out["maxBundle"]


# An offer without rtcp-mux (and without BUNDLE), as an older PBX sends it, given to the factory the page
# hands SIP.js for a call that comes in with it; and to a plain RTCPeerConnection with the shared configuration.
ANSWER_UNMUXED = r"""async () => {
  const offerer = new RTCPeerConnection({ rtcpMuxPolicy: 'negotiate' });
  offerer.addTransceiver('audio');
  const { sdp } = await offerer.createOffer();
  offerer.close();
  const unmuxed = sdp.replace(/^a=group:BUNDLE.*\r\n/m, '').replace(/^a=rtcp-mux\r\n/mg, '');
  const { ua } = OmniSense.phone;
  const incoming = Object.assign(Object.create(SIP.InviteServerContext.prototype),
    { ua, id: 'unmuxed-offer', request: { body: unmuxed } });
  const sdh = ua.configuration.sessionDescriptionHandlerFactory(incoming,
    ua.configuration.sessionDescriptionHandlerFactoryOptions);
  const pc = sdh.peerConnection;
  const out = { policy: pc.getConfiguration().rtcpMuxPolicy, offerMux: unmuxed.includes('a=rtcp-mux') };
  try {
    await pc.setRemoteDescription({ type: 'offer', sdp: unmuxed });
    const answer = await pc.createAnswer();
    out.answered = true;
    out.answerMux = answer.sdp.includes('a=rtcp-mux');
  } catch (error) {
    out.answered = error.message;
  }
  sdh.close();
  const plain = new RTCPeerConnection(OmniSense.phone.rtc);
  try {
    await plain.setRemoteDescription({ type: 'offer', sdp: unmuxed });
    out.shared = 'answered';
  } catch (error) {
    out.shared = error.message;
  } finally {
    plain.close();
  }
  return out;
}"""


@pytest.mark.stack
@pytest.mark.browser
@pytest.mark.parametrize("engine", ENGINES)
async def test_an_offer_without_rtcp_mux_is_answered_without_it(service, open_phone, engine) -> None:
    a = await open_phone(service.url(), engine=engine)
    await a.wait_state("registered")
    assert await a.phone("phone.canMux")  # this Chromium and Firefox ESR 153 still negotiate rtcp-mux
    out = await a.page.evaluate(ANSWER_UNMUXED)
    assert not out["offerMux"]
    assert out["policy"] == "negotiate" and out["answered"] is True and not out["answerMux"], out
    assert REQUIRED_MUX_MISSING[engine] in out["shared"]  # what "require" alone would say


# The caller's page made into an older PBX: it offers without rtcp-mux and without BUNDLE (policy negotiate,
# and a SIP.js modifier that drops both lines from every description it sends).
OFFER_LIKE_AN_OLD_PBX = r"""() => {
  const phone = OmniSense.phone;
  phone.rtc.rtcpMuxPolicy = 'negotiate';
  phone.sdhOptions.modifiers = [async (d) => ({ ...d,
    sdp: d.sdp.replace(/^a=rtcp-mux\r\n/mg, '').replace(/^a=group:BUNDLE.*\r\n/m, '') })];
}"""


@pytest.mark.stack
@pytest.mark.browser
@pytest.mark.parametrize("engine", ENGINES)
async def test_a_call_offered_without_rtcp_mux_or_bundle_has_audio_both_ways(service, open_phone, engine) -> None:
    # The old-PBX-like caller is Chromium; the agent who answers is `engine`.
    a_url, b_url = service.url(), service.url()
    a, b = await open_phone(a_url), await open_phone(b_url, engine=engine)
    await a.wait_state("registered")
    await b.wait_state("registered")
    await a.page.evaluate(OFFER_LIKE_AN_OLD_PBX)
    await connect_call(a, b, username_of(b_url), typed=True)
    answered = await b.phone("""(() => {
        const pc = phone.call.session.sessionDescriptionHandler.peerConnection;
        return { policy: pc.getConfiguration().rtcpMuxPolicy, offer: pc.remoteDescription.sdp,
                 answer: pc.localDescription.sdp };
    })()""")
    assert answered["policy"] == "negotiate"
    assert "a=rtcp-mux" not in answered["offer"] and "a=group:BUNDLE" not in answered["offer"]
    assert "a=rtcp-mux" not in answered["answer"]
    for phone in (a, b):  # relay only, RTP and RTCP each on their own TURN allocation
        await until(phone.stats, lambda s: s["bytesReceived"] > 2000 and s["localCandidateType"] == "relay",
                    "media arriving over a relay candidate pair")
        assert await growth(phone, "bytesReceived") > 1000
    await b.page.click("#hangup-button")
    await a.wait_state("registered")
    await b.wait_state("registered")
    assert a.errors == [] and b.errors == []


# Before the page's scripts: a browser that takes only rtcpMuxPolicy "require" (Chromium has deprecated
# "negotiate"; a browser without it must say so rather than fail the call unexplained).
NO_NEGOTIATE = """(() => {
  const Native = RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(config) {
      if (config?.rtcpMuxPolicy === 'negotiate') throw new TypeError('rtcpMuxPolicy negotiate is not supported');
      super(config);
    }
  };
})()"""


@pytest.mark.stack
@pytest.mark.browser
@pytest.mark.parametrize("engine", ENGINES)
async def test_a_browser_without_negotiate_refuses_an_unmuxed_call_and_says_why(service, open_phone, engine) -> None:
    a_url, b_url = service.url(), service.url()
    a, b = await open_phone(a_url), await open_phone(b_url, engine=engine, init_script=NO_NEGOTIATE)
    await a.wait_state("registered")
    await b.wait_state("registered")
    assert await b.phone("phone.canMux") is False
    await a.page.evaluate(OFFER_LIKE_AN_OLD_PBX)
    ended = a.page.evaluate("new Promise((r) => OmniSense.phone.addEventListener('ended', (e) => r(e.detail.cause)))")
    await a.page.fill("#number", username_of(b_url))
    await a.page.click("#call-button")
    assert await ended == "Incompatible SDP"  # 488 Not Acceptable Here at once, never ringing out
    await until(lambda: b.text("#notices"), lambda t: "without rtcp-mux, which this browser requires" in t,
                "the agent told why the call was not taken")
    assert await b.state() == "registered"
    assert a.errors == [] and b.errors == []

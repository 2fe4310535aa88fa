"""The offers the page takes: with a BUNDLE group (browsers) and without one (rtpengine, a PBX without bundle)."""

from __future__ import annotations

import pytest

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


@pytest.mark.stack
@pytest.mark.browser
async def test_offers_with_and_without_a_bundle_group_are_answered(service, open_phone) -> None:
    a = await open_phone(service.url())
    await a.wait_state("registered")  # TURN applied: the configuration calls really get
    out = await a.page.evaluate(ANSWER_OFFERS)
    assert out["bundled"] and not out["unbundled"]
    assert out["withBundle"] == "answered"
    assert out["withoutBundle"] == "answered"
    assert "no BUNDLE group" in out["maxBundle"]  # what the page said before, and the test would catch

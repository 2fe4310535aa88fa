// The one place that knows SIP.js 0.15.11's internals (fields and methods outside its documented API). Every
// other module calls these functions instead; a different SIP.js version is refused here, at start-up, rather
// than misbehaving mid-call. Each function names the 0.15.11 source it relies on.

export const WRITTEN_FOR = "0.15.11";

/** Refuse any SIP.js but the one this adapter was written (and tested) against. */
export function checkSipJs(SIP) {
  if (!SIP || typeof SIP.UA !== "function") throw new Error("the SIP library (sip.js) did not load");
  if (SIP.version !== WRITTEN_FOR) {
    throw new Error(`this page needs SIP.js ${WRITTEN_FOR}, but SIP.js ${SIP.version} is loaded`);
  }
  return SIP;
}

/** The RTCPeerConnection behind a session (SessionDescriptionHandler.peerConnection), or null. */
export function peerConnectionOf(session) {
  return session?.sessionDescriptionHandler?.peerConnection ?? null;
}

/**
 * Stop waiting for ICE candidates and send the description now. Web/SessionDescriptionHandler.js waits in
 * waitForIceGatheringComplete until the gathering state is complete or `iceGatheringTimeout` is set (which
 * is what its own iceCheckingTimeout timer does before calling triggerIceGatheringComplete).
 */
export function finishIceGathering(sdh) {
  if (sdh.isIceGatheringComplete()) return false;
  sdh.iceGatheringTimeout = true;
  sdh.triggerIceGatheringComplete();
  return true;
}

/**
 * A re-INVITE that never got an answer: Session.js's sendReinvite refuses every later one while
 * `pendingReinvite` is set, and only a response clears it.
 */
export function forgetPendingReinvite(session) {
  session.pendingReinvite = false;
}

/**
 * Session.hold()/unhold() flip `localHold` before the re-INVITE and leave it flipped when it fails
 * (sip.js#685), after which hold() or unhold() does nothing. Put it back to what the other side agreed.
 */
export function restoreLocalHold(session, held) {
  session.localHold = held;
}

/**
 * Send tones as SIP INFO for this one call. Session.dtmf reads `ua.configuration.dtmfType` and falls back to
 * INFO only when the DTMF sender is missing altogether; a call without telephone-event makes insertDTMF throw
 * instead. So the UA's setting is switched for this one send.
 */
export function sendDtmfInfo(SIP, ua, session, tones, options) {
  const config = ua.configuration;
  const was = config.dtmfType;
  config.dtmfType = SIP.C.dtmfType.INFO;
  try {
    session.dtmf(tones, options);
  } finally {
    config.dtmfType = was;
  }
}

/** An incoming REFER for this session (ReferServerContext), as opposed to the echo of our own outgoing one. */
export function isIncomingRefer(SIP, context) {
  return context instanceof SIP.ReferServerContext;
}

/** The user part (or the whole URI) a REFER points at. */
export function referTarget(context) {
  return context.referTo?.uri?.user || String(context.referTo?.uri || "");
}

/** The SIP Call-ID of a session's dialog (its INVITE's, OutgoingRequestMessage/IncomingRequestMessage.callId). */
export function callIdOf(session) {
  return session?.request?.callId ?? null;
}

/** Whether the session has ended (Session.endTime is set in terminated()). */
export function hasEnded(session) {
  return Boolean(session.endTime);
}

/**
 * A sessionDescriptionHandlerFactory (a UA option) that builds SIP.js's own SessionDescriptionHandler, with the
 * RTCPeerConnection configuration `chooseRtc(offerSdp)` returns for an incoming INVITE's offer (the factory
 * options unchanged when it returns the shared configuration). The offer is InviteServerContext.request.body;
 * the handler creates its RTCPeerConnection once, in its constructor (initPeerConnection).
 */
export function sdhFactory(SIP, chooseRtc) {
  const build = SIP.Web.SessionDescriptionHandler.defaultFactory;
  return (session, options = {}) => {
    const offer = session instanceof SIP.InviteServerContext ? session.request?.body : null;
    const shared = options.peerConnectionOptions?.rtcConfiguration;
    const rtc = offer && shared ? chooseRtc(shared, offer) : shared;
    if (rtc === shared) return build(session, options);
    const peerConnectionOptions = { ...options.peerConnectionOptions, rtcConfiguration: rtc };
    return build(session, { ...options, peerConnectionOptions });
  };
}

/**
 * Send a re-INVITE (Session.js's sendReinvite) and learn how it ended: resolves {ok, code} with the final
 * response's status code. sendReinvite hands its delegate to the core session's invite() and reports only
 * `reinviteAccepted`/`reinviteFailed`, without the code, so the delegate is wrapped for this one request.
 * Session.reinvite's `sessionDescriptionHandlerOptions.RTCOfferOptions.iceRestart` does not reach the browser
 * (Web/SessionDescriptionHandler.js createOfferOrAnswer passes the options object to Function.apply as the
 * argument list, so createOffer gets none): an ICE restart is asked of the peer connection itself
 * (RTCPeerConnection.restartIce, which marks the next offer). Resolves {ok: false, code: null} when no
 * re-INVITE went out (one already pending, no description handler), and {ok: false, code: 408} when no answer
 * came within `timeoutMs` (the pending flag is then cleared, see forgetPendingReinvite: sendReinvite does not
 * return its promise, so a failed offer is otherwise never reported).
 */
export function reinvite(session, { iceRestart = false, timeoutMs = 10000 } = {}) {
  return new Promise((resolveOnce) => {
    const core = session.session;
    const invite = core?.invite;
    let timer = null;
    let done = false;
    const resolve = (result) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (core) core.invite = invite;
      // A refused re-INVITE leaves our offer applied (sendReinvite's onReject does not undo it): roll it
      // back, or the next offer, or the far end's, meets a connection still waiting for an answer.
      const pc = peerConnectionOf(session);
      if (!result.ok && pc?.signalingState === "have-local-offer") {
        pc.setLocalDescription({ type: "rollback" }).catch(() => {});
      }
      resolveOnce(result);
    };
    if (!core || session.pendingReinvite || !session.sessionDescriptionHandler) {
      resolve({ ok: false, code: null });
      return;
    }
    if (iceRestart) peerConnectionOf(session)?.restartIce?.();
    timer = setTimeout(() => {
      forgetPendingReinvite(session);
      resolve({ ok: false, code: 408 });
    }, timeoutMs);
    core.invite = function wrappedInvite(delegate, options) {
      core.invite = invite;
      const settle = (ok, handler) => (response) => {
        try {
          handler?.call(delegate, response);
        } finally {
          resolve({ ok, code: response?.message?.statusCode ?? null });
        }
      };
      return invite.call(core, {
        ...delegate,
        onAccept: settle(true, delegate.onAccept),
        onRedirect: settle(false, delegate.onRedirect),
        onReject: settle(false, delegate.onReject),
      }, options);
    };
    session.reinvite();
    if (!session.pendingReinvite) resolve({ ok: false, code: null });
  });
}

/**
 * Who an incoming call says it is from, best first: the From header (InviteServerContext.remoteIdentity), then
 * P-Asserted-Identity (parsed by SIP.js into `assertedIdentity`) and Remote-Party-ID (read here with SIP.js's
 * name-addr grammar). Asterisk puts "Anonymous" <sip:anonymous@anonymous.invalid> in From when the caller id
 * is restricted or unset, and may still name the caller in the other two. Each {user, displayName, host}.
 */
export function callerIdentities(SIP, session) {
  const out = [];
  const add = (nameAddr) => {
    if (nameAddr?.uri) out.push({ user: nameAddr.uri.user ?? "", displayName: nameAddr.displayName ?? "", host: nameAddr.uri.host ?? "" });
  };
  add(session.remoteIdentity);
  add(session.assertedIdentity);
  const rpid = session.request?.getHeader?.("Remote-Party-ID");
  if (rpid) add(SIP.Grammar.nameAddrHeaderParse(rpid));
  return out;
}


// The phone's connection to the relay (the Phone's half that owns the SIP.js UA): one connection attempt per
// watchdog turn (session check, TURN, WebSocket, REGISTER), the UA's settings (registration expiry, CRLF
// keep-alive), the connection state and the signalling link, and the refresh of a call in progress once the link
// is back. A mixin over the Phone's fields (ua, connection, linkUp, everRegistered, watchdog, call), which
// phone.js's constructor sets up; expire, logOut and fail (expiry.js) end it for good.

import { sdhFactory } from "./adapter-sipjs.js";
import { MAX_TIMEOUT, closeReason, keepAliveSettings } from "./phone-rules.js";
import { iceSettings, rtcConfigurationFor } from "./turn.js";

const REGISTER_EXPIRES = 300; // s: a tab closed without unregistering is forgotten by the registrar within minutes

/** The connection half of the Phone, over `Base` (an EventTarget with the Phone's emit, changed, notice). */
export const withConnection = (Base) => class extends Base {
  /** One connection attempt: check the session (and fetch TURN), then open the WebSocket and register. */
  async connect() {
    if (this.finished) return;
    this.setConnection(this.everRegistered ? "reconnecting" : "connecting");
    if (!(await this.checkSession()) || this.finished) return;
    if (!this.ua) {
      this.ua = this.createUa();
      this.ua.start();
    } else if (this.ua.transport.isConnected()) {
      this.ua.register();
    } else {
      await this.ua.transport.connect();
    }
  }

  /**
   * Check the session with the service (which fetches TURN credentials too). False when the service refused
   * it for good (the phone has then expired or failed); throws when it should be tried again.
   */
  async checkSession() {
    const answer = await this.sessionCheck.check();
    switch (answer.kind) {
      case "turn":
        this.applyTurn(answer.body);
        return true;
      case "no-turn":
        this.log.warn(`no TURN credentials: ${answer.why}; calling without TURN`);
        this.applyTurn(null);
        return true;
      case "expired":
        this.expire("The server says this session has expired.");
        return false;
      case "logged-out":
        this.logOut();
        return false;
      case "refused":
        this.fail(answer.message);
        return false;
      default:
        throw new Error(answer.message);
    }
  }

  applyTurn(body) {
    const ice = iceSettings(body);
    this.rtc.iceServers = ice.iceServers;
    this.rtc.iceTransportPolicy = ice.iceTransportPolicy;
    this.log.info(`TURN: ${ice.uris.length ? ice.uris.join(", ") : "none"}; ICE transport policy ${this.rtc.iceTransportPolicy}`);
    clearTimeout(this.turnRefresh);
    if (ice.refreshMs !== null) this.scheduleTurnRefresh(ice.refreshMs);
  }

  scheduleTurnRefresh(delay) {
    clearTimeout(this.turnRefresh);
    this.turnRefresh = setTimeout(() => {
      if (this.finished) return;
      this.checkSession().catch((error) => {
        this.log.warn(`TURN refresh failed (${error.message}): trying again in a minute`);
        this.scheduleTurnRefresh(60000);
      });
    }, Math.min(MAX_TIMEOUT, delay));
  }

  createUa() {
    const { SIP } = this;
    const keepAlive = keepAliveSettings(window.webphoneKeepAliveS);
    const ua = new SIP.UA({
      uri: `sip:${this.params.username}@${this.domain}`,
      authorizationUser: this.params.username,
      password: this.params.password,
      displayName: this.params.username,
      // The Contact's user is the agent's username (SIP.js makes up a random one): Asterisk's `sip show peers`
      // then lists 1001/1001. Its host stays SIP.js's made-up `<random>.invalid` (RFC 7118): the relay's
      // identity rules recognise an agent's own Contact after a reconnect by that `.invalid` host.
      contactName: this.params.username,
      register: true,
      registerOptions: { expires: REGISTER_EXPIRES },
      autostart: false,
      autostop: true,
      transportOptions: {
        wsServers: [this.wsUrl],
        traceSip: this.log.enabled,
        connectionTimeout: 5,
        // SIP.js's own retries stop after a few tries; the watchdog owns reconnection instead.
        maxReconnectionAttempts: 0,
        // CRLF pings (RFC 5626) find a dead path that never closes; see onKeepAliveTimeout.
        keepAliveInterval: keepAlive.interval,
        keepAliveDebounce: keepAlive.debounce,
      },
      sessionDescriptionHandlerFactoryOptions: this.sdhOptions,
      // Offers without rtcp-mux are answered with rtcpMuxPolicy "negotiate" where the browser still has it.
      sessionDescriptionHandlerFactory: sdhFactory(SIP, (rtc, offer) => rtcConfigurationFor(rtc, offer, this.canMux)),
      // RFC 4733 through RTCDTMFSender; Call.sendDtmf falls back to INFO where the call has no telephone-event.
      dtmfType: SIP.C.dtmfType.RTP,
      noAnswerTimeout: 60,
      // 0.15.11 has no session timers and no UPDATE: nothing extra is advertised.
      rel100: SIP.C.supported.UNSUPPORTED,
      replaces: SIP.C.supported.UNSUPPORTED,
      userAgentString: `TForge OmniSense Webphone (SIP.js ${SIP.version})`,
      log: this.log.sipJsOptions(),
    });
    ua.on("registered", () => this.onRegistered());
    ua.on("unregistered", (response, cause) => this.onUnregistered(cause));
    ua.on("registrationFailed", (response, cause) => this.onRegistrationFailed(response, cause));
    ua.on("invite", (session) => this.onInvite(session));
    ua.transport.on("connected", () => this.log.info("signalling connected"));
    ua.transport.on("disconnected", (e) => this.onDisconnected(e));
    ua.transport.on("closed", () => this.onDisconnected(null));
    ua.transport.on("keepAliveDebounceTimeout", () => this.onKeepAliveTimeout());
    return ua;
  }

  setConnection(next) {
    if (this.connection === next) return;
    const was = this.connection;
    this.connection = next;
    if (was === "registered") this.emit("unregistered", { cause: next });
    if (next === "registered") this.emit("registered", {});
    if (next === "reconnecting") this.setLink(false);
    if (next === "registered") this.setLink(true);
    this.changed();
  }

  /** The signalling link is down from its loss until the phone has registered again. */
  setLink(up) {
    if (this.linkUp === up) return;
    this.linkUp = up;
    this.log[up ? "info" : "warn"](up ? "signalling link restored" : "signalling link lost");
    this.call?.setLink(up);
    this.emit("link", { up });
    if (up) this.refreshCall();
  }

  /** After a reconnect, move the call in progress onto the new connection (see Call.refresh). */
  refreshCall() {
    const call = this.call;
    if (call?.state !== "in-call") return;
    call.refresh().then((outcome) => {
      if (outcome === "refreshed") performance.mark("webphone:refreshed"); // User Timing, for bench/webphone.py
      if (outcome !== "stopped" && outcome !== "none") this.emit("refreshed", { outcome });
    });
  }

  onRegistered() {
    this.watchdog.succeeded();
    // SIP.js fires `registered` again on every refresh: only the first one after a loss changes anything.
    if (this.connection === "registered" || this.finished) return;
    if (!this.everRegistered) performance.mark("webphone:registered"); // User Timing, for bench/webphone.py
    this.everRegistered = true;
    this.log.info("registered");
    this.setConnection("registered");
  }

  onUnregistered(cause) {
    if (this.finished || this.connection !== "registered") return;
    this.log.warn(`unregistered (${cause || "no reason given"})`);
    this.setConnection("reconnecting");
    this.watchdog.failed(`unregistered: ${cause}`);
  }

  onRegistrationFailed(response, cause) {
    if (this.finished) return;
    const code = response?.statusCode;
    const { causes } = this.SIP.C;
    if (cause === causes.AUTHENTICATION_ERROR || cause === causes.REJECTED || [401, 403, 407].includes(code)) {
      this.fail(`Registration refused (${code ?? cause}${response?.reasonPhrase ? ` ${response.reasonPhrase}` : ""}): `
        + "check the username and password in the webphone link.");
      return;
    }
    this.log.warn(`registration failed (${code ?? cause})`);
    this.setConnection(this.everRegistered ? "reconnecting" : "connecting");
    this.watchdog.failed(`registration failed: ${code ?? cause}`);
  }

  onDisconnected(event) {
    if (this.finished) return;
    if (event?.code === 4001 && event.reason === "logged out") {
      this.logOut();
      return;
    }
    if (event?.code === 4001) {
      this.expire("The session has expired (the server closed the connection).");
      return;
    }
    if (event) this.log.warn(`signalling connection closed (code ${event.code}${event.reason ? `, ${event.reason}` : ""})`);
    this.setConnection(this.everRegistered ? "reconnecting" : "connecting");
    this.watchdog.failed(closeReason(event));
  }

  /** No answer to a CRLF ping: the path is dead even if the socket says open. Drop it and reconnect. */
  onKeepAliveTimeout() {
    if (this.finished) return;
    this.log.warn("no answer to the keep-alive: reconnecting");
    // A disconnect SIP.js asked for emits no `disconnected`, so the watchdog is told here.
    this.ua.transport.disconnect({ force: true });
    this.onDisconnected({ code: 1006, reason: "keep-alive timeout" });
  }

  /** The next reconnection attempt while not registered: {at (epoch ms) or null, reason}. */
  get retry() {
    return { at: this.watchdog.nextAt, reason: this.watchdog.reason };
  }

  /** The agent asked: try to connect now instead of waiting for the back-off. */
  retryNow() {
    if (this.finished || this.connection === "registered") return;
    this.watchdog.now("asked by the agent");
  }
};

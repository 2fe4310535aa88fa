"""Asterisk 18 as the local stack's PBX, configured like a ViciDial telephony server, on loopback.

chan_sip and chan_pjsip both take the `sip` WebSocket protocol on `/ws`, so one Asterisk cannot serve both: two
processes run from the one build (devstack/asterisk_build.py), each with a config directory and ports of its own:
`asterisk` (chan_sip, ViciDial's webphone template) and `asterisk-pjsip` (PJSIP endpoints with `webrtc=yes`).
Each has ws and wss (an ast_tls_cert-style certificate, devstack/asterisk_certs.py), the agents (the demo ones
and a pool for tests) with the passwords derived from AUTH_KEY_SECRET (tools/sipload/agents.py), ConfBridge rooms
numbered as ViciDial's dialplan numbers them, an echo, and the plain phone (baresip) reachable as 2000.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tools.sipload.agents import agent_password, agent_secret

from . import asterisk_build, asterisk_certs, baresip, procs

HOST = "127.0.0.1"
ECHO_NUMBER = "600"
DEMO_AGENTS = tuple(str(n) for n in range(1001, 1011))
TEST_AGENTS = tuple(str(n) for n in range(7000, 8000))
"""Usernames the tests draw agents from at random (each must be configured in Asterisk): enough that test runs
of several checkouts on the one machine-wide Asterisk seldom draw the same agent at the same time."""
AGENT_PATTERN = "_[17]XXX"
STACK_DIR = asterisk_build.cache_root() / "stack"
"""The instances' config, logs, control sockets and certificates: one place per machine, as their ports are, so a
checkout that finds them started by another reaches the same CLI, log and CA."""
KEYS_DIR = STACK_DIR / "keys"
# ViciDial's conference numbers: MeetMe-style rooms 86000xx, and ConfBridge rooms 96xxxxx whose agents dial
# 2 + room (ViciDial's vici_agent_* profiles); one engine, ConfBridge, serves both.
MEETME_PATTERN = "_86000XX"
CONFBRIDGE_PATTERN = "_96XXXXX"


@dataclass(frozen=True)
class Instance:
    name: str
    driver: str
    """`sip` (chan_sip) or `pjsip` (chan_pjsip)."""
    ws_port: int
    wss_port: int
    sip_port: int
    """Plain SIP over UDP: how this Asterisk reaches the plain phone."""
    rtp_ports: tuple[int, int]
    session_limit: int = 100
    """http.conf `sessionlimit`: Asterisk's default, and so ViciDial's."""
    state: Path = field(default=STACK_DIR)

    @property
    def dir(self) -> Path:
        return self.state / self.name

    @property
    def conf(self) -> Path:
        return self.dir / "etc" / "asterisk.conf"

    @property
    def log_file(self) -> Path:
        return self.dir / "log" / "messages.log"

    @property
    def run_dir(self) -> Path:
        return self.dir / "run"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.ws_port}/ws"

    @property
    def wss_url(self) -> str:
        return f"wss://{HOST}:{self.wss_port}/ws"

    @property
    def tech(self) -> str:
        return "SIP" if self.driver == "sip" else "PJSIP"


CHAN_SIP = Instance("asterisk", "sip", ws_port=8188, wss_port=8189, sip_port=5070, rtp_ports=(32000, 32099))
PJSIP = Instance("asterisk-pjsip", "pjsip", ws_port=8288, wss_port=8289, sip_port=5080, rtp_ports=(32100, 32199))
INSTANCES = (CHAN_SIP, PJSIP)

COMMON_MODULES = (
    "res_crypto", "res_http_websocket", "res_srtp", "res_rtp_asterisk", "res_pjproject", "res_timing_timerfd",
    "res_musiconhold", "res_clioriginate", "res_sorcery_config", "res_sorcery_memory", "res_sorcery_astdb",
    "app_dial", "app_echo", "app_playback", "app_confbridge", "app_read", "app_senddtmf", "app_verbose",
    "app_transfer", "app_stack", "chan_bridge_media", "bridge_simple", "bridge_softmix", "bridge_native_rtp",
    "bridge_holding", "bridge_builtin_features", "bridge_builtin_interval_features", "codec_ulaw", "codec_alaw",
    "format_wav", "format_pcm", "pbx_config", "func_channel", "func_callerid", "func_strings", "func_logic",
)
PJSIP_MODULES = (
    "res_pjsip", "res_pjsip_session", "res_pjsip_transport_websocket", "res_pjsip_registrar",
    "res_pjsip_authenticator_digest", "res_pjsip_outbound_authenticator_digest",
    "res_pjsip_endpoint_identifier_user", "res_pjsip_sdp_rtp", "res_pjsip_nat", "res_pjsip_refer",
    "res_pjsip_pubsub", "res_pjsip_caller_id", "res_pjsip_dtmf_info", "res_pjsip_rfc3326", "res_pjsip_logger",
    "res_pjsip_empty_info", "res_pjsip_path", "res_pjsip_header_funcs",
    "res_pjsip_dlg_options", "chan_pjsip",
)


def agents() -> tuple[str, ...]:
    return DEMO_AGENTS + TEST_AGENTS


def _ini(sections: list[tuple[str, list[str]]]) -> str:
    """Sections named `name` (`[name]`), or given whole (`[1001](webphone)`, a section on a template)."""
    return "\n".join((name if name.startswith("[") else f"[{name}]") + "\n" + "".join(f"{line}\n" for line in lines)
                     for name, lines in sections)


def asterisk_conf(inst: Instance, build: Path) -> str:
    d = inst.dir
    return _ini([
        ("directories", [
            f"astetcdir => {d / 'etc'}", f"astmoddir => {build / 'lib' / 'asterisk' / 'modules'}",
            f"astvarlibdir => {d / 'lib'}", f"astdbdir => {d / 'lib'}", f"astkeydir => {d / 'lib'}",
            f"astdatadir => {d / 'lib'}", f"astagidir => {d / 'lib' / 'agi-bin'}", f"astspooldir => {d / 'spool'}",
            f"astrundir => {inst.run_dir}", f"astlogdir => {d / 'log'}", f"astsbindir => {build / 'sbin'}",
            f"astcachedir => {d / 'cache'}",
        ]),
        ("options", ["verbose = 3", "debug = 0", "maxfiles = 8192"]),
    ])


def modules_conf(inst: Instance) -> str:
    names = COMMON_MODULES + (("chan_sip",) if inst.driver == "sip" else PJSIP_MODULES)
    return _ini([("modules", ["autoload = no", *(f"load = {n}.so" for n in names)])])


def logger_conf() -> str:
    # `dtmf` puts "DTMF end '1' received on SIP/..., duration 100 ms" in messages.log.
    return _ini([("general", ["dateformat = %F %T.%3q"]),
                 ("logfiles", ["messages.log => notice,warning,error,verbose,dtmf",
                               "console => notice,warning,error"])])


def http_conf(inst: Instance, keys: asterisk_certs.Keys) -> str:
    return _ini([("general", [
        "servername = Asterisk", "enabled = yes", f"bindaddr = {HOST}", f"bindport = {inst.ws_port}",
        "tlsenable = yes", f"tlsbindaddr = {HOST}:{inst.wss_port}", f"tlscertfile = {keys.cert}",
        f"tlsprivatekey = {keys.key}",
        # Counts every open HTTP session, each agent's WebSocket included; the 101st is closed unanswered.
        f"sessionlimit = {inst.session_limit}",
    ])])


def rtp_conf(inst: Instance, interface_addresses: list[str]) -> str:
    """A small port range, and each interface address announced as 127.0.0.1: Asterisk never offers a loopback
    ICE candidate, so on loopback the page's TURN relay would have nothing to send to."""
    return _ini([
        ("general", [f"rtpstart = {inst.rtp_ports[0]}", f"rtpend = {inst.rtp_ports[1]}", "icesupport = yes",
                     "ice_deny = ::/0"]),
        ("ice_host_candidates", [f"{address} => {HOST}" for address in interface_addresses]),
    ])


def confbridge_conf() -> str:
    quiet_user = ["type = user", "quiet = yes", "dtmf_passthrough = yes"]
    return _ini([
        ("vici_agent_bridge", ["type = bridge"]), ("vici_agent_user", quiet_user),
        ("default_bridge", ["type = bridge"]), ("default_user", quiet_user),
    ])


def extensions_conf(inst: Instance) -> str:
    plain_phone = (f"SIP/plainphone/{baresip.PHONE_NUMBER}" if inst.driver == "sip"
                   else f"PJSIP/plainphone/sip:{baresip.PHONE_NUMBER}@{baresip.HOST}:{baresip.SIP_PORT}")
    return _ini([
        ("general", ["static = yes", "writeprotect = yes"]),
        ("agents", [
            f"exten => {AGENT_PATTERN},1,Dial({inst.tech}/${{EXTEN}},30)", "same => n,Hangup()",
            f"exten => {ECHO_NUMBER},1,Answer()", "same => n,Echo()",
            f"exten => {baresip.PHONE_NUMBER},1,Dial({plain_phone},30)", "same => n,Hangup()",
            f"exten => {MEETME_PATTERN},1,Answer()", "same => n,ConfBridge(${EXTEN},vici_agent_bridge,vici_agent_user)",
            f"exten => _2{CONFBRIDGE_PATTERN[1:]},1,Answer()",
            "same => n,ConfBridge(${EXTEN:1},vici_agent_bridge,vici_agent_user)",
            f"exten => {CONFBRIDGE_PATTERN},1,Answer()", "same => n,ConfBridge(${EXTEN})",
        ]),
        # Calls from the plain phone: only to the agents.
        ("from-plain-phone", [f"exten => {AGENT_PATTERN},1,Dial({inst.tech}/${{EXTEN}},30)"]),
    ])


def sip_conf(inst: Instance, secret: str, keys: asterisk_certs.Keys) -> str:
    """chan_sip with ViciDial's webphone template (one peer per agent) and the plain phone as a peer."""
    # `transport` without `ws`: SIP.js's Contact says `;transport=ws` even over wss, and chan_sip then files the
    # peer under ws, apart from the wss connection it registered on, and cannot reach it (Serious Network Trouble).
    template = [
        "type = friend", "host = dynamic", "transport = wss,udp", "encryption = yes", "avpf = yes",
        "force_avp = yes", "icesupport = yes", "directmedia = no", "dtlsenable = yes", "dtlsverify = no",
        f"dtlscertfile = {keys.combined}", f"dtlsprivatekey = {keys.combined}", "dtlssetup = actpass",
        "rtcp_mux = yes", "context = agents", "disallow = all", "allow = ulaw,alaw",
    ]
    sections = [
        ("general", [
            f"udpbindaddr = {HOST}:{inst.sip_port}", "tcpenable = no", "transport = udp", "context = nowhere",
            "allowguest = no", "alwaysauthreject = yes", "websocket_enabled = yes", "dtmfmode = rfc2833",
            "useragent = Asterisk PBX", "realm = asterisk",
        ]),
        ("[webphone](!)", template),
        ("plainphone", [
            "type = friend", f"host = {baresip.HOST}", f"port = {baresip.SIP_PORT}", "transport = udp",
            "insecure = invite", "context = from-plain-phone", "disallow = all", "allow = ulaw,alaw",
            "directmedia = no",
        ]),
    ]
    sections += [(f"[{name}](webphone)", [f"secret = {agent_password(secret, name)}", f'callerid = "{name}" <{name}>'])
                 for name in agents()]
    return _ini(sections)


def pjsip_conf(inst: Instance, secret: str) -> str:
    """PJSIP: ws and wss transports, one endpoint with `webrtc=yes` (and its aor and auth) per agent."""
    sections = [
        ("transport-ws", ["type = transport", "protocol = ws", f"bind = {HOST}"]),
        ("transport-wss", ["type = transport", "protocol = wss", f"bind = {HOST}"]),
        ("transport-udp", ["type = transport", "protocol = udp", f"bind = {HOST}:{inst.sip_port}"]),
        # Asterisk calls the plain phone; calls from it are not identified (no res_pjsip_endpoint_identifier_ip:
        # by address, every agent, all behind the gateway's 127.0.0.1, would be taken for it).
        ("plainphone", ["type = endpoint", "transport = transport-udp", "context = from-plain-phone",
                        "disallow = all", "allow = ulaw,alaw", "aors = plainphone", "direct_media = no"]),
        ("plainphone", ["type = aor", f"contact = sip:{baresip.PHONE_NUMBER}@{baresip.HOST}:{baresip.SIP_PORT}"]),
    ]
    for name in agents():
        sections += [
            (name, ["type = endpoint", "transport = transport-wss", "context = agents", "disallow = all",
                    "allow = ulaw,alaw", "webrtc = yes", "dtls_auto_generate_cert = yes", f"aors = {name}",
                    f"auth = {name}", f'callerid = "{name}" <{name}>']),
            (name, ["type = aor", "max_contacts = 1", "remove_existing = yes"]),
            (name, ["type = auth", "auth_type = userpass", f"username = {name}",
                    f"password = {agent_password(secret, name)}"]),
        ]
    return _ini(sections)


def interface_addresses() -> list[str]:
    """The machine's IPv4 addresses but loopback (what Asterisk gathers as host candidates)."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [a for a in out.split() if "." in a and not a.startswith("127.")]


def write_config(inst: Instance, env: dict[str, str], build: Path | None = None) -> None:
    secret = agent_secret(env["AUTH_KEY_SECRET"])
    keys = asterisk_certs.ensure(KEYS_DIR, HOST)
    etc = inst.dir / "etc"
    for sub in ("etc", "lib/keys", "log", "spool", "cache"):
        (inst.dir / sub).mkdir(parents=True, exist_ok=True)
    inst.run_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "asterisk.conf": asterisk_conf(inst, build or asterisk_build.prefix().resolve()),
        "modules.conf": modules_conf(inst), "logger.conf": logger_conf(), "http.conf": http_conf(inst, keys),
        "rtp.conf": rtp_conf(inst, interface_addresses()), "confbridge.conf": confbridge_conf(),
        "extensions.conf": extensions_conf(inst), "musiconhold.conf": "[general]\n",
    }
    files["sip.conf" if inst.driver == "sip" else "pjsip.conf"] = (
        sip_conf(inst, secret, keys) if inst.driver == "sip" else pjsip_conf(inst, secret))
    for name, text in files.items():
        (etc / name).write_text(text)


def command(inst: Instance) -> list[str]:
    # -f: stay in the foreground (devstack keeps the pid); -g: core dumps off is the default, nothing else.
    return [str(asterisk_build.binary()), "-f", "-C", str(inst.conf)]


def cli(inst: Instance, command_line: str, timeout: float = 15) -> str:
    """`asterisk -rx COMMAND` against this instance; its output."""
    result = subprocess.run([str(asterisk_build.binary()), "-C", str(inst.conf), "-rx", command_line],
                            capture_output=True, text=True, timeout=timeout)
    return result.stdout


def start(env: dict[str, str], inst: Instance = CHAN_SIP) -> bool:
    if procs.port_open(HOST, inst.ws_port):
        return False
    write_config(inst, env)
    procs.spawn(inst.name, command(inst))
    # The wss port opens with the ws one (a plain connection to it would only log a TLS error).
    procs.wait_for_port(HOST, inst.ws_port, inst.name, timeout=60)
    wait_fully_booted(inst)  # `/ws` answers 400 until its modules are loaded
    return True


def stop(inst: Instance = CHAN_SIP) -> bool:
    return procs.stop(inst.name)


def wait_fully_booted(inst: Instance, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "fully booted" in cli(inst, "core waitfullybooted", timeout=timeout):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{inst.name} did not finish booting within {timeout:.0f}s")

"""devstack's Asterisk without running it: the configs it writes, its certificates, and finding the sources."""

from __future__ import annotations

import ssl

from cryptography import x509

from devstack import asterisk, asterisk_build, asterisk_certs
from tools.sipload.agents import agent_password, agent_secret

SECRET = agent_secret("test-auth-key-secret-0123456789")


def sections(text: str) -> list[str]:
    return [line[1:].split("]")[0] for line in text.splitlines() if line.startswith("[")]


def test_chan_sip_has_a_peer_per_agent_on_the_webrtc_template_with_the_derived_password(tmp_path) -> None:
    keys = asterisk_certs.paths(tmp_path)
    conf = asterisk.sip_conf(asterisk.CHAN_SIP, SECRET, keys)
    assert "[webphone](!)" in conf and "[1001](webphone)" in conf and "[7999](webphone)" in conf
    peer = conf.split("[1001](webphone)\n")[1].split("\n[")[0]
    assert f"secret = {agent_password(SECRET, '1001')}" in peer
    template = conf.split("[webphone](!)\n")[1].split("\n[")[0]
    for line in ("transport = wss,udp", "encryption = yes", "avpf = yes", "icesupport = yes", "dtlsenable = yes",
                 "dtlssetup = actpass", "rtcp_mux = yes", f"dtlscertfile = {keys.combined}"):
        assert line in template


def test_pjsip_has_a_webrtc_endpoint_an_aor_keeping_one_contact_and_an_auth_per_agent() -> None:
    conf = asterisk.pjsip_conf(asterisk.PJSIP, SECRET)
    assert sections(conf).count("1002") == 3
    assert "webrtc = yes" in conf and "max_contacts = 1" in conf and "remove_existing = yes" in conf
    assert f"password = {agent_password(SECRET, '7000')}" in conf


def test_only_the_instance_s_own_channel_driver_is_loaded() -> None:
    pjsip = asterisk.modules_conf(asterisk.PJSIP)
    assert "load = chan_sip.so" in asterisk.modules_conf(asterisk.CHAN_SIP)
    assert "res_pjsip" not in asterisk.modules_conf(asterisk.CHAN_SIP)
    assert "load = chan_pjsip.so" in pjsip and "chan_sip.so" not in pjsip
    # Every module loaded is one the build enables.
    for inst in asterisk.INSTANCES:
        lines = asterisk.modules_conf(inst).splitlines()
        loaded = {line.split("= ")[1][:-3] for line in lines if line.startswith("load =")}
        assert loaded <= set(asterisk_build.MODULES), loaded - set(asterisk_build.MODULES)


def test_rtp_maps_each_interface_address_to_loopback_in_a_small_range() -> None:
    conf = asterisk.rtp_conf(asterisk.CHAN_SIP, ["192.0.2.2", "10.1.2.3"])
    assert "rtpstart = 32000\nrtpend = 32099\n" in conf
    assert "[ice_host_candidates]\n192.0.2.2 => 127.0.0.1\n10.1.2.3 => 127.0.0.1\n" in conf


def test_http_takes_ws_and_wss_on_loopback_away_from_the_stack_s_ports(tmp_path) -> None:
    used = {8088, 8090, 5060, 5062, 3478, 5766, 22222}
    ports = [p for inst in asterisk.INSTANCES for p in (inst.ws_port, inst.wss_port, inst.sip_port)]
    assert len(set(ports)) == len(ports) and not used & set(ports)
    conf = asterisk.http_conf(asterisk.PJSIP, asterisk_certs.paths(tmp_path))
    assert "bindaddr = 127.0.0.1\nbindport = 8288\n" in conf and "tlsbindaddr = 127.0.0.1:8289" in conf
    assert "sessionlimit = 100" in conf


def test_the_dialplan_numbers_rooms_as_vicidial_does() -> None:
    conf = asterisk.extensions_conf(asterisk.CHAN_SIP)
    assert "exten => _86000XX,1,Answer()\nsame => n,ConfBridge(${EXTEN},vici_agent_bridge,vici_agent_user)" in conf
    assert "exten => _296XXXXX,1,Answer()\nsame => n,ConfBridge(${EXTEN:1},vici_agent_bridge,vici_agent_user)" in conf
    assert "exten => _96XXXXX,1,Answer()\nsame => n,ConfBridge(${EXTEN})" in conf
    assert "exten => 600,1,Answer()\nsame => n,Echo()" in conf
    assert "Dial(SIP/plainphone/2000,30)" in conf
    assert "Dial(PJSIP/plainphone/sip:2000@127.0.0.1:5062,30)" in asterisk.extensions_conf(asterisk.PJSIP)


def test_the_certificate_is_ast_tls_cert_like_and_verifies_by_chain_only(tmp_path) -> None:
    keys = asterisk_certs.ensure(tmp_path, "127.0.0.1")
    cert = x509.load_pem_x509_certificate(keys.cert.read_bytes())
    with_san = [e for e in cert.extensions if isinstance(e.value, x509.SubjectAlternativeName)]
    assert with_san == [] and cert.subject.rfc4514_string().startswith("O=OmniSense devstack,CN=127.0.0.1")
    context = ssl.create_default_context(cafile=str(keys.ca))
    context.check_hostname = False
    context.load_cert_chain(keys.combined)  # key and certificate in one file, as chan_sip reads it
    # Kept while valid: a second start reuses it (the gateway's CA file stays the same).
    before = keys.cert.read_bytes()
    assert asterisk_certs.ensure(tmp_path, "127.0.0.1") == keys and keys.cert.read_bytes() == before


def test_without_the_sources_the_reason_names_the_folder(tmp_path) -> None:
    assert asterisk_build.missing_reason(tmp_path) == (
        f"no Asterisk sources in {tmp_path} (asterisk-*.tar.gz and pjproject-*.tar.bz2)")
    (tmp_path / "asterisk-18-x.tar.gz").write_bytes(b"a")
    (tmp_path / "pjproject-2.15.1.tar.bz2").write_bytes(b"p")
    assert asterisk_build.missing_reason(tmp_path) is None
    key = asterisk_build.build_key(*asterisk_build.tarballs(tmp_path))  # type: ignore[misc]
    (tmp_path / "pjproject-2.15.1.tar.bz2").write_bytes(b"q")
    assert asterisk_build.build_key(*asterisk_build.tarballs(tmp_path)) != key  # type: ignore[misc]

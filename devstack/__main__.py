"""python -m devstack up|down|status|run|pbx-call|agent-screen|vicidial-logout"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys

from service.config import DatabaseConfig

from . import (
    agent_screen,
    asterisk,
    asterisk_build,
    baresip,
    baresip_control,
    cluster,
    coturn,
    dotenv,
    firefox,
    install,
    kamailio,
    mariadb,
    procs,
    rtpengine,
    sysctl,
)
from .paths import LOGS

DEPLOY_TOOLS = {"/usr/sbin/nginx": ["nginx"], "/usr/sbin/haproxy": ["haproxy"], "systemd-analyze": ["systemd"]}
"""What the tests of deploy/ run: nginx in front of the service, HAProxy before several, systemd's unit checker."""


def up(*, browser: bool = False, bench_tools: bool = False, deploy_tools: bool = False) -> dict[str, str]:
    if deploy_tools:
        install.ensure_packages(DEPLOY_TOOLS)
    if browser:
        # Playwright drives Debian's Chromium, puppeteer-core Debian's Firefox ESR (never a browser download).
        install.ensure_packages({"chromium": ["chromium"], firefox.EXECUTABLE: ["firefox-esr"]})
    if bench_tools:
        install.ensure_packages({"nginx": ["nginx"], "pt-archiver": ["percona-toolkit"]})
    if not sysctl.ensure_migrate_req():
        print("devstack: cannot set net.ipv4.tcp_migrate_req=1: a rolling restart may reset a queued connection",
              flush=True)
    dotenv.ensure()
    env = dotenv.environment()
    env.update(coturn.cli_env(env))  # the service reaches the local coturn's CLI with these (README)
    db = DatabaseConfig.from_url(env.get("DATABASE_URL", "mysql://root@127.0.0.1:3306/asterisk"))
    for name, start in (
        ("mariadb", lambda: mariadb.start(db)),
        # Before Kamailio, whose rtpengine module looks for it at start-up.
        ("rtpengine", rtpengine.start),
        ("kamailio", lambda: kamailio.start(env)),
        (cluster.NAME, lambda: cluster.start(env)),
        ("coturn", lambda: coturn.start(env)),
        ("baresip", lambda: baresip.start((kamailio.address(kamailio.local_url(env))[0], kamailio.UDP_PORT))),
    ):
        try:
            started = start()
        except Exception as exc:  # noqa: BLE001 - any failure to start is reported as one line
            sys.exit(f"devstack: {name} failed to start: {exc}")
        print(f"devstack: {name} {'started' if started else 'already running'}", flush=True)
    start_asterisk(env)
    try:
        cluster.ensure_demo_rows(db, env, vicidial_pbx(env))
    except Exception as exc:  # noqa: BLE001 - any failure is reported as one line
        sys.exit(f"devstack: the demo ViciDial servers and phones could not be written: {exc}")
    print(f"devstack: logs in {LOGS}", flush=True)
    return env


def start_asterisk(env: dict[str, str]) -> bool:
    """Build Asterisk once and start its two instances, if the sources are beside the clone; True if it runs."""
    reason = asterisk_build.missing_reason()
    if reason is not None:
        print(f"devstack: {reason}: the PBX stays Kamailio alone (the Asterisk tests are skipped)", flush=True)
        return False
    try:
        asterisk_build.ensure_built()
        for inst in asterisk.INSTANCES:
            started = asterisk.start(env, inst)
            print(f"devstack: {inst.name} {'started' if started else 'already running'}", flush=True)
    except Exception as exc:  # noqa: BLE001 - any failure to build or start is reported as one line
        sys.exit(f"devstack: Asterisk failed to build or start: {exc}")
    return True


def asterisk_runs() -> bool:
    """The stack's chan_sip Asterisk is built and listening."""
    return (asterisk_build.missing_reason() is None and asterisk_build.built()
            and procs.port_open(asterisk.HOST, asterisk.CHAN_SIP.ws_port))


def vicidial_pbx(env: dict[str, str]) -> agent_screen.DemoPbx:
    """The PBX of the agent screen's demo phone: the chan_sip Asterisk if it runs, else the stack's Kamailio."""
    return agent_screen.demo_pbx(kamailio.local_url(env), asterisk.CHAN_SIP.wss_url if asterisk_runs() else None)


def down() -> None:
    for inst in asterisk.INSTANCES:
        if asterisk.stop(inst):
            print(f"devstack: {inst.name} stopped", flush=True)
    for name, stop in (("baresip", baresip.stop), ("coturn", coturn.stop), (cluster.NAME, cluster.stop),
                       ("kamailio", kamailio.stop), ("rtpengine", rtpengine.stop), ("mariadb", mariadb.stop)):
        if stop():
            print(f"devstack: {name} stopped", flush=True)


def status() -> int:
    for name in ("mariadb", "rtpengine", "kamailio", cluster.NAME, "coturn", "baresip",
                 *(inst.name for inst in asterisk.INSTANCES)):
        pid = procs.pid_of(name)
        print(f"{name}: {f'running, pid {pid}' if pid else 'not started by devstack'}")
    return 0


def run() -> int:
    """`make run`: the stack, the demo URLs and curl, then the service in the foreground; Ctrl-C stops all."""
    env = up()
    from . import demo

    service_env = {**demo.announce(env, vicidial_pbx(env), asterisk=asterisk_runs()), **coturn.cli_env(env)}
    # ViciDial's agent screen, on an origin of its own, framing the demo agent's webphone (README).
    screen = subprocess.Popen([sys.executable, "-m", "devstack", "agent-screen"], env={**os.environ, **env})
    proc = subprocess.Popen([sys.executable, "-m", "service", "serve"], env={**os.environ, **service_env})
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        return proc.wait()
    finally:
        screen.terminate()
        screen.wait()
        down()


def serve_agent_screen() -> int:
    """`python -m devstack agent-screen`: the demo agent logged in, its screen served until stopped."""
    from aiohttp import web

    env = dotenv.environment()
    db = DatabaseConfig.from_url(env.get("DATABASE_URL", "mysql://root@127.0.0.1:3306/asterisk"))
    gateway = f"http://{env.get('HOST', '127.0.0.1')}:{env.get('PORT', '8080')}"
    agent = agent_screen.DemoAgent(db, gateway=gateway, conference=vicidial_pbx(env).conference)
    agent.login()
    web.run_app(agent_screen.app(agent), host=agent_screen.HOST, port=agent_screen.PORT, print=None)
    return 0


def vicidial_logout() -> int:
    """`python -m devstack vicidial-logout`: the demo agent logs out of ViciDial (its live row goes)."""
    env = dotenv.environment()
    db = DatabaseConfig.from_url(env.get("DATABASE_URL", "mysql://root@127.0.0.1:3306/asterisk"))
    gone = agent_screen.logout(db)
    print(f"demo agent {agent_screen.DEMO_USER}: {'logged out' if gone else 'was not logged in'}")
    return 0


def pbx_call(username: str) -> int:
    """Make the "PBX" (the stack's plain phone, through Kamailio) call agent USERNAME as Asterisk calls a
    registered phone: the INVITE goes to the agent's Contact, with that Contact URI in To."""
    answer = baresip_control.send("dial", f"sip:agent-{username}@127.0.0.1:{kamailio.UDP_PORT}")
    if answer.get("ok"):
        print(f"dialled sip:agent-{username}@127.0.0.1:{kamailio.UDP_PORT}: "
              f"agent {username}'s webphone rings if it is registered")
    else:
        print(f"baresip refused the dial: {answer.get('data')}")
    return 0 if answer.get("ok") else 1


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "run", "pbx-call", "agent-screen",
                                            "vicidial-logout"])
    parser.add_argument("username", nargs="?", help="pbx-call: the agent to call")
    parser.add_argument("--with-browser", action="store_true", help="also install Chromium and Firefox ESR (tests)")
    parser.add_argument("--with-deploy-tools", action="store_true",
                        help="also install nginx and systemd-analyze (tests)")
    parser.add_argument("--with-bench-tools", action="store_true", help="also install nginx and pt-archiver")
    args = parser.parse_args()
    if args.command == "up":
        up(browser=args.with_browser, bench_tools=args.with_bench_tools, deploy_tools=args.with_deploy_tools)
    elif args.command == "down":
        down()
    elif args.command == "status":
        return status()
    elif args.command == "run":
        return run()
    elif args.command == "agent-screen":
        return serve_agent_screen()
    elif args.command == "vicidial-logout":
        return vicidial_logout()
    elif args.command == "pbx-call":
        if not args.username:
            parser.error("pbx-call needs the agent's username, e.g. python -m devstack pbx-call 1001")
        return pbx_call(args.username)
    return 0


if __name__ == "__main__":
    sys.exit(main())

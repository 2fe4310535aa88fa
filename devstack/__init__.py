"""The local stack the project starts by itself: MariaDB (ViciDial's database), Kamailio (the PBX's webRTC
server) and coturn (TURN), each on loopback with the project's own config and data directory `.stack/`.

`python -m devstack up|down|status|run`; `make stack`, `make stop`, `make run` and `make test` call it.
Tests import it to restart a component (`restart("kamailio")`).
"""

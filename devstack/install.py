"""Install Debian packages that are missing (the machine may have nothing but Python)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

_updated = False


def ensure_packages(binaries_to_packages: dict[str, list[str]]) -> None:
    """Install the packages for every binary not on PATH (`apt-get`, as root)."""
    global _updated
    missing: list[str] = []
    for binary, packages in binaries_to_packages.items():
        if not (shutil.which(binary) or os.path.exists(binary)):
            missing.extend(p for p in packages if p not in missing)
    if not missing:
        return
    if shutil.which("apt-get") is None:
        sys.exit(f"devstack: missing {', '.join(missing)} and there is no apt-get to install them")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"devstack: installing {' '.join(missing)}", flush=True)
    if not _updated:
        subprocess.run([*sudo, "apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
        _updated = True
    # Debian's maintainer scripts would start the packaged services (a system MariaDB on 3306, coturn,
    # nginx) where the project starts its own: forbid that for the duration of the install.
    policy = "/usr/sbin/policy-rc.d"
    own_policy = os.geteuid() == 0 and not os.path.exists(policy)
    if own_policy:
        with open(policy, "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(policy, 0o755)
    try:
        subprocess.run(
            [*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
    finally:
        if own_policy:
            os.unlink(policy)

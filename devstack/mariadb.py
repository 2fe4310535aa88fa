"""MariaDB: ViciDial's database, with the demo schema and 500 demo leads.

If something already answers at DATABASE_URL's address it is used as it is (only the schema and demo
data are ensured, with DATABASE_URL's own credentials). Otherwise the project starts its own server with
its own data directory in `.stack/mariadb`, listening on DATABASE_URL's host and port, and makes
DATABASE_URL's user (Debian's root logs in by unix socket only, so the service gets a TCP user of its own).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pymysql

from service.config import DatabaseConfig

from . import install, procs
from .paths import CONFIG, LOGS, STATE, short_run_dir

NAME = "mariadb"
DATADIR = STATE / "mariadb"
SOCKET = short_run_dir("mariadb") / "mysqld.sock"


def _server_args(db: DatabaseConfig) -> list[str]:
    return [
        "mariadbd",
        "--no-defaults",
        f"--datadir={DATADIR}",
        f"--socket={SOCKET}",
        f"--pid-file={SOCKET.parent / 'mariadbd.pid'}",
        f"--bind-address={db.host}",
        f"--port={db.port}",
        "--user=root",
        f"--log-error={LOGS / 'mariadb.err'}",
        "--skip-name-resolve",
        "--skip-log-bin",
        "--max-connections=1000",
        "--innodb-buffer-pool-size=512M",
        # Development stack: an OS crash may lose the last second of commits; tests and benchmarks
        # compare against the same server, so the figures stay fair.
        "--innodb-flush-log-at-trx-commit=2",
        "--character-set-server=utf8mb3",
        "--collation-server=utf8mb3_unicode_ci",
    ]


def start(db: DatabaseConfig) -> bool:
    """Make sure a server answers at `db`'s address. True if this call started one."""
    if procs.port_open(db.host, db.port):
        try:
            ensure_schema(db)
        except pymysql.err.OperationalError as exc:
            if procs.running(NAME):
                # Our own server, from a start interrupted before DATABASE_URL's user was made: finish it.
                _bootstrap_as_root(db)
                ensure_schema(db)
                return False
            raise RuntimeError(
                f"a server already answers on {db.host}:{db.port} but refuses DATABASE_URL's user {db.user!r}"
                f" ({exc.args[-1]}); stop it (another checkout: make stop there), or set DATABASE_URL in .env"
                " to credentials it accepts"
            ) from None
        return False
    install.ensure_packages({"mariadbd": ["mariadb-server", "mariadb-client"]})
    if not (DATADIR / "mysql").is_dir():
        DATADIR.mkdir(parents=True, exist_ok=True)
        LOGS.mkdir(parents=True, exist_ok=True)
        with open(LOGS / "mariadb-install.log", "wb") as log:
            subprocess.run(
                ["mariadb-install-db", "--no-defaults", f"--datadir={DATADIR}", "--user=root",
                 "--auth-root-authentication-method=socket", "--skip-test-db"],
                check=True,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
    SOCKET.parent.mkdir(parents=True, exist_ok=True)
    procs.spawn(NAME, _server_args(db))
    procs.wait_for_port(db.host, db.port, NAME, timeout=60)
    _wait_for_socket()
    _bootstrap_as_root(db)
    ensure_schema(db)
    return True


def _wait_for_socket(timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            pymysql.connect(unix_socket=str(SOCKET), user="root").close()
            return
        except pymysql.err.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def root_connection(database: str | None = None) -> pymysql.Connection:
    """Root over the project server's unix socket (for tests that need to make databases)."""
    return pymysql.connect(unix_socket=str(SOCKET), user="root", database=database, autocommit=True)


def _bootstrap_as_root(db: DatabaseConfig) -> None:
    with root_connection() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{db.database}` CHARACTER SET utf8mb3 COLLATE utf8mb3_unicode_ci")
        for host in ("127.0.0.1", "localhost", "::1"):
            cur.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (db.user, host, db.password))
            cur.execute("ALTER USER %s@%s IDENTIFIED BY %s", (db.user, host, db.password))
            # The project's own development server: the user also makes the tests' throwaway databases.
            cur.execute("GRANT ALL PRIVILEGES ON *.* TO %s@%s WITH GRANT OPTION", (db.user, host))


def connect(db: DatabaseConfig, database: str | None = None) -> pymysql.Connection:
    return pymysql.connect(
        host=db.host, port=db.port, user=db.user, password=db.password,
        database=database, autocommit=True, charset="utf8mb4",
    )


def run_sql_file(cur: pymysql.cursors.Cursor, path: Path) -> None:
    """Run a file of `;`-terminated statements (no semicolons inside strings)."""
    for statement in path.read_text().split(";\n"):
        lines = [line for line in statement.splitlines() if not line.lstrip().startswith("--")]
        if "".join(lines).strip():
            cur.execute("\n".join(lines))


DEMO_LIST_ID = 999


def leads_sql(count: int, *, list_id: int = DEMO_LIST_ID, source_id: str = "demo", only_if_empty: bool = False) -> str:
    """INSERT ... SELECT of `count` ViciDial-shaped leads, with the variety real lead loads have: NULLs,
    ViciDial's zero and placeholder dates, non-Latin names, a trailing space. Used by the demo database
    (a "dummy list of 500 leads"), the archive tests and the archive benchmark alike."""
    guard = "WHERE NOT EXISTS (SELECT 1 FROM vicidial_list LIMIT 1)" if only_if_empty else ""
    return f"""
INSERT INTO vicidial_list
  (entry_date, status, user, vendor_lead_code, source_id, list_id, gmt_offset_now, called_since_last_reset,
   phone_code, phone_number, title, first_name, middle_initial, last_name, address1, city, state,
   postal_code, country_code, gender, date_of_birth, alt_phone, email, comments, called_count,
   last_local_call_time, `rank`, owner, entry_list_id)
SELECT NOW() - INTERVAL seq MINUTE, ELT(1 + seq % 4, 'NEW', 'NA', 'B', 'CALLBK'), IF(seq % 3 = 0, NULL, 'VDAD'),
  CONCAT('V', LPAD(seq, 7, '0')), '{source_id}', {int(list_id)}, '2.00', 'N', '27', CONCAT('082', LPAD(seq, 7, '0')),
  IF(seq % 5 = 0, NULL, ELT(1 + seq % 3, 'Mr', 'Ms', 'Dr')),
  ELT(1 + seq % 6, 'Thandi', 'Pieter', 'Zoë', 'Ahmed', 'Lindiwe', 'Nakamura 中村'), IF(seq % 2 = 0, 'J', NULL),
  ELT(1 + seq % 5, 'Naidoo', 'van der Merwe', 'Dlamini', 'Müller', 'Smith '), CONCAT(seq, ' Main Road'),
  'Durban', 'KZ', LPAD(4000 + seq % 100, 4, '0'), 'ZA', ELT(1 + seq % 3, 'M', 'F', 'U'),
  IF(seq % 7 = 0, '0000-00-00', DATE('1980-01-01') + INTERVAL seq % 9000 DAY), NULL,
  CONCAT('lead', seq, '@example.com'), IF(seq % 4 = 0, NULL, '{source_id} lead'), seq % 5,
  '2008-01-01 00:00:00', 0, '', 0
FROM seq_1_to_{int(count)}
{guard}"""


def ensure_schema(db: DatabaseConfig, database: str | None = None, *, demo_leads: bool = True) -> None:
    """Create ViciDial's tables (if missing) in `database` (default: DATABASE_URL's) and the demo leads."""
    name = database or db.database
    with connect(db) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb3 COLLATE utf8mb3_unicode_ci")
        cur.execute(f"USE `{name}`")
        cur.execute("SET SESSION sql_mode='NO_ENGINE_SUBSTITUTION'")
        run_sql_file(cur, CONFIG / "mariadb" / "schema.sql")
        # Only a missing archive is made; an existing one (perhaps a real ViciDial's) is never altered.
        if not cur.execute("SHOW TABLES LIKE 'vicidial_list_archive'"):
            cur.execute("CREATE TABLE vicidial_list_archive LIKE vicidial_list")
            cur.execute("ALTER TABLE vicidial_list_archive MODIFY lead_id INT(9) UNSIGNED NOT NULL")
        if demo_leads:
            cur.execute(leads_sql(500, only_if_empty=True))


def stop() -> bool:
    return procs.stop(NAME, timeout=60)

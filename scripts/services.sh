#!/usr/bin/env bash
# Makes sure the services the tests need run on loopback: MariaDB on 3306 and
# PostgreSQL on 5432 (with a database named test), installing them from Debian's
# packages where they are missing, and that kcat (librdkafka's command-line
# client, for runtime/kafka's tests), OpenSSH's sftp-server (the SFTP
# subsystem connectors/sftp's tests also run against), Chromium (driven
# headless by the web console's browser tests in runtime/api/ui), protoc and
# Python's gRPC (for the connector plugins) are installed. Idempotent; safe
# to run on every `make test`.
set -euo pipefail

log() { echo "services: $*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
	for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 0.5; done
	log "port $1 did not open"; return 1
}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=""
apt_install() {
	if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
	DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

mariadb_up() {
	port_open 3306 && return 0
	if ! command -v mariadbd >/dev/null && [ ! -x /usr/sbin/mariadbd ]; then
		log "installing MariaDB"; apt_install mariadb-server mariadb-client
	fi
	log "starting MariaDB"
	as_root mkdir -p /run/mysqld && as_root chown mysql:mysql /run/mysqld 2>/dev/null || true
	if [ ! -d /var/lib/mysql/mysql ]; then as_root mariadb-install-db --user=mysql >/dev/null; fi
	as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql --bind-address=127.0.0.1 --port=3306
	wait_port 3306
}

mariadb_ready() {
	# root over TCP without a password, and a database named test.
	mysql -h127.0.0.1 -P3306 -uroot -e "CREATE DATABASE IF NOT EXISTS test" 2>/dev/null && return 0
	as_root mysql -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD(''); CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; FLUSH PRIVILEGES; CREATE DATABASE IF NOT EXISTS test;"
	mysql -h127.0.0.1 -P3306 -uroot -e "SELECT 1" >/dev/null
}

postgres_up() {
	port_open 5432 && return 0
	if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
		log "installing PostgreSQL"; apt_install postgresql postgresql-client
	fi
	local ver; ver=$(ls /etc/postgresql | sort -V | tail -1)
	local conf="/etc/postgresql/$ver/main/pg_hba.conf"
	if ! grep -q "braid-trust" "$conf"; then
		log "allowing trust auth on loopback"
		as_root sed -i '1i host all all 127.0.0.1/32 trust # braid-trust\nhost all all ::1/128 trust # braid-trust\nlocal all all trust # braid-trust' "$conf"
	fi
	log "starting PostgreSQL $ver"
	as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
	wait_port 5432
}

postgres_ready() {
	psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" 2>/dev/null | grep -q 1 ||
		psql -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE test" >/dev/null
	psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_roles WHERE rolname='root'" | grep -q 1 ||
		psql -h 127.0.0.1 -U postgres -d postgres -c "CREATE ROLE root SUPERUSER LOGIN" >/dev/null
}

kcat_installed() {
	command -v kcat >/dev/null && return 0
	log "installing kcat"; apt_install kcat
	command -v kcat >/dev/null
}

# Only the subsystem binary: the sftp tests run it behind their own SSH
# server on loopback, so no sshd is installed or started.
sftp_server_installed() {
	[ -x /usr/lib/openssh/sftp-server ] && return 0
	log "installing OpenSSH's sftp-server"; apt_install --no-install-recommends openssh-sftp-server
	[ -x /usr/lib/openssh/sftp-server ]
}

chromium_installed() {
	command -v chromium >/dev/null && return 0
	log "installing chromium"; apt_install chromium
	command -v chromium >/dev/null
}

# The console's tests drive Firefox too (over WebDriver BiDi).
firefox_installed() {
	command -v firefox-esr >/dev/null && return 0
	log "installing firefox-esr"; apt_install firefox-esr
	command -v firefox-esr >/dev/null
}

# protoc regenerates the plugin protocol's Go code (make proto); the build
# itself never needs it, the generated files are committed.
protoc_installed() {
	command -v protoc >/dev/null && return 0
	log "installing protoc"; apt_install protobuf-compiler
	command -v protoc >/dev/null
}

# The Python connector SDK (sdk/python) and its example plugin, which
# connectors/plugin's tests run, use Debian's gRPC and protobuf for Python.
python_grpc_installed() {
	/usr/bin/python3 -c "import grpc, google.protobuf" 2>/dev/null && return 0
	log "installing python3-grpcio"; apt_install python3-grpcio python3-protobuf
	/usr/bin/python3 -c "import grpc, google.protobuf"
}

kcat_installed
sftp_server_installed
chromium_installed
firefox_installed
protoc_installed
python_grpc_installed
mariadb_up && mariadb_ready
postgres_up && postgres_ready
log "MariaDB 127.0.0.1:3306 and PostgreSQL 127.0.0.1:5432 are up"

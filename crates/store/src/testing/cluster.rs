//! A throw-away PostgreSQL cluster for the TLS tests: `initdb` in a temporary directory,
//! password authentication (SCRAM), and either `ssl = on` with a server certificate issued
//! for `localhost` by a test CA made here, or no TLS at all.
//!
//! PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` OS user
//! (`runuser`). The server binaries are found with `pg_config --bindir`, else in the newest
//! `/usr/lib/postgresql/<version>/bin`, else on `PATH`. A watchdog shell stops the server and
//! removes its directory when the test process goes away, even through a panic or a kill:
//! a cluster shared from a `static` is never dropped.

use std::io::Read;
use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use tokio::sync::OnceCell;

use super::random_suffix;
use crate::Store;

/// The superuser of every test cluster (its password is random per cluster).
pub const USER: &str = "postgres";
/// The only name the server certificate is issued for.
pub const CERTIFICATE_HOST: &str = "localhost";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Stops the server (fast shutdown) when the test process's end of stdin closes, then removes
/// the cluster's directory; a server that failed keeps it (its log is read from there).
const WATCHDOG: &str = r#"dir=$1; shift
exec 3<&0
"$@" >"$dir/postgres.log" 2>&1 &
pg=$!
(read _ <&3; kill -INT $pg 2>/dev/null) &
wait $pg && rm -rf "$dir""#;

/// A running test cluster; dropping it stops the server and removes its files.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    port: u16,
    password: String,
    tls: bool,
    /// This machine's own non-loopback address, which the server also listens on (for
    /// connections that must count as remote), if the machine has one.
    own_address: Option<IpAddr>,
    /// Closing it tells the watchdog to stop the server.
    watchdog_stdin: Mutex<Option<ChildStdin>>,
    watchdog: Mutex<Child>,
}

static TLS: OnceCell<Cluster> = OnceCell::const_new();
static PLAIN: OnceCell<Cluster> = OnceCell::const_new();

/// The test binary's cluster with TLS, started on first use.
pub async fn tls_cluster() -> &'static Cluster {
    TLS.get_or_init(|| async { Cluster::start(true).await })
        .await
}

/// The test binary's cluster without TLS, started on first use.
pub async fn plain_cluster() -> &'static Cluster {
    PLAIN
        .get_or_init(|| async { Cluster::start(false).await })
        .await
}

impl Cluster {
    /// Creates and starts a cluster; panics with the server's log when it cannot.
    pub async fn start(tls: bool) -> Cluster {
        let bin = bin_dir();
        let dir = std::env::temp_dir().join(format!("pcl_pg_{}", random_suffix()));
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let password = random_suffix();
        write_private(&dir.join("pwfile"), &password);
        if tls {
            let ca = TestCa::new("Portcullis test CA");
            let (cert, key) = ca.issue(CERTIFICATE_HOST);
            std::fs::write(dir.join("ca.crt"), ca.pem()).unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(dir.join("server.crt"), cert).unwrap_or_else(|e| panic!("{e}"));
            write_private(&dir.join("server.key"), &key);
        }
        let as_root = running_as_root();
        if as_root {
            run(Command::new("chown").arg("-R").arg("postgres:").arg(&dir));
        }
        let initdb = bin.join("initdb");
        run(as_postgres(as_root, &initdb)
            .arg("-D")
            .arg(dir.join("data"))
            .args([
                "-U",
                USER,
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .arg("--no-sync")
            .arg(format!("--pwfile={}", dir.join("pwfile").display())));
        let own_address = own_address();
        let mut listen = "127.0.0.1".to_owned();
        if let Some(address) = own_address {
            // Only this machine itself may connect there (its own address as the source).
            let mut hba = std::fs::OpenOptions::new()
                .append(true)
                .open(dir.join("data/pg_hba.conf"))
                .unwrap_or_else(|e| panic!("pg_hba.conf: {e}"));
            let host = IpAddr::to_string(&address);
            let prefix = if address.is_ipv4() { 32 } else { 128 };
            std::io::Write::write_all(
                &mut hba,
                format!("host all all {host}/{prefix} scram-sha-256\n").as_bytes(),
            )
            .unwrap_or_else(|e| panic!("pg_hba.conf: {e}"));
            listen = format!("{listen},{host}");
        }
        let port = free_port();
        let mut server = as_postgres(as_root, Path::new("sh"));
        server
            .arg("-c")
            .arg(WATCHDOG)
            .arg("sh")
            .arg(&dir)
            .arg(bin.join("postgres"))
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-p", &port.to_string()])
            .arg("-c")
            .arg(format!("listen_addresses={listen}"))
            .args(["-c", "unix_socket_directories="])
            .args(["-c", "fsync=off", "-c", "max_connections=200"]);
        if tls {
            server
                .args(["-c", "ssl=on"])
                .arg("-c")
                .arg(format!(
                    "ssl_cert_file={}",
                    dir.join("server.crt").display()
                ))
                .arg("-c")
                .arg(format!("ssl_key_file={}", dir.join("server.key").display()));
        }
        let mut watchdog = server
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the PostgreSQL watchdog: {e}"));
        let cluster = Cluster {
            watchdog_stdin: Mutex::new(watchdog.stdin.take()),
            watchdog: Mutex::new(watchdog),
            dir,
            port,
            password,
            tls,
            own_address,
        };
        cluster.wait_until_ready().await;
        cluster
    }

    async fn wait_until_ready(&self) {
        let started = Instant::now();
        let options = PgConnectOptions::new()
            .host("127.0.0.1")
            .port(self.port)
            .username(USER)
            .password(&self.password)
            .database("postgres")
            .ssl_mode(PgSslMode::Disable);
        loop {
            match PgConnection::connect_with(&options).await {
                Ok(conn) => {
                    drop(conn.close().await);
                    return;
                }
                Err(err) => {
                    let exited = self
                        .watchdog
                        .lock()
                        .ok()
                        .and_then(|mut w| w.try_wait().ok().flatten());
                    if exited.is_some() || started.elapsed() > STARTUP_TIMEOUT {
                        panic!(
                            "the test PostgreSQL cluster did not start ({err}); its log:\n{}",
                            self.log()
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn log(&self) -> String {
        let mut log = String::new();
        drop(
            std::fs::File::open(self.dir.join("postgres.log"))
                .and_then(|mut f| f.read_to_string(&mut log)),
        );
        log
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// An address of this machine that is not loopback, which the server listens on too: a
    /// connection there counts as one to another machine. `None` on a machine without one.
    pub fn own_address(&self) -> Option<IpAddr> {
        self.own_address
    }

    /// The superuser's password (give it apart from the URL, as a password file would).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The PEM file of the CA that issued the server certificate (TLS clusters only).
    pub fn ca_file(&self) -> PathBuf {
        assert!(self.tls, "a cluster without TLS has no CA");
        self.dir.join("ca.crt")
    }

    /// `postgres://postgres@<host>:<port>/<database>?<query>`, without the password.
    pub fn url(&self, host: &str, database: &str, query: &str) -> String {
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        format!("postgres://{USER}@{host}:{}/{database}{query}", self.port)
    }

    /// A new empty database, created over a `verify-full` connection on a TLS cluster.
    pub async fn create_database(&self) -> String {
        let name = format!("pcl_t_{}", random_suffix());
        self.execute(&format!("CREATE DATABASE {name}")).await;
        name
    }

    /// Runs `sql` as the superuser (over `verify-full` on a TLS cluster); panics on failure.
    pub async fn execute(&self, sql: &str) {
        let query = if self.tls {
            format!(
                "sslmode=verify-full&sslrootcert={}",
                self.ca_file().display()
            )
        } else {
            "sslmode=disable".to_owned()
        };
        let options = PgConnectOptions::from_str(&self.url(CERTIFICATE_HOST, "postgres", &query))
            .unwrap_or_else(|e| panic!("{e}"))
            .password(&self.password);
        let mut conn = PgConnection::connect_with(&options)
            .await
            .unwrap_or_else(|e| panic!("cannot reach the test cluster: {e}"));
        sqlx::raw_sql(sql)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        drop(conn.close().await);
    }

    /// A migrated, empty store in a new database of this cluster, reached as the `query`
    /// (e.g. `sslmode=verify-full&sslrootcert=…`) says, the password given apart.
    pub async fn fresh_store(&self, query: &str) -> crate::Result<Store> {
        let database = self.create_database().await;
        Store::open_with_password(
            &self.url(CERTIFICATE_HOST, &database, query),
            Some(&self.password),
        )
        .await
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Ok(mut stdin) = self.watchdog_stdin.lock() {
            drop(stdin.take());
        }
        if let Ok(mut watchdog) = self.watchdog.lock() {
            drop(watchdog.wait());
        }
    }
}

/// A certificate authority made for one test run.
pub struct TestCa {
    key: KeyPair,
    cert: rcgen::Certificate,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestCa")
    }
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap_or_else(|e| panic!("{e}"));
        Self { key, cert }
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A server certificate for `host` and its private key, both PEM.
    pub fn issue(&self, host: &str) -> (String, String) {
        let key = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        let mut params =
            CertificateParams::new(vec![host.to_owned()]).unwrap_or_else(|e| panic!("{e}"));
        params.distinguished_name.push(DnType::CommonName, host);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .unwrap_or_else(|e| panic!("{e}"));
        (cert.pem(), key.serialize_pem())
    }
}

/// Where `initdb` and `postgres` are.
fn bin_dir() -> PathBuf {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return dir;
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    // Empty: `initdb` and `postgres` are looked up on PATH.
    versions.pop().map(|(_, bin)| bin).unwrap_or_default()
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `program`, run as the `postgres` OS user when the tests run as root.
fn as_postgres(as_root: bool, program: &Path) -> Command {
    if as_root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command) {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write_private(path: &Path, contents: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    file.write_all(contents.as_bytes())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// The address this machine's traffic to the outside leaves from (a UDP "connect" sends
/// nothing), unless it is loopback or there is no route.
fn own_address() -> Option<IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let address = socket.local_addr().ok()?.ip();
    (!address.is_loopback() && !address.is_unspecified()).then_some(address)
}

/// A port nobody listens on now (the server binds it a moment later).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

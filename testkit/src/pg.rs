//! A throw-away PostgreSQL for one test: `initdb` and `postgres` run as the postgres user (when
//! the tests run as root; as the current user otherwise) in a temporary folder, listening on
//! 127.0.0.1 and a free port only, stopped and removed when the [`Cluster`] is dropped, even
//! if the test panics. The server is a child of the test with a parent-death signal, so it
//! goes with the test's thread if the test process is killed outright.
//!
//! `initdb` takes about two seconds here, so it runs once per build (a template kept in the
//! target folder, made atomically) and each cluster starts from a copy of it (a tenth of that).
//! The server has the same settings as `scripts/pg.sh`'s (fsync off, synchronous commit on).
//!
//! Where PostgreSQL is not installed, [`Cluster::start`] returns `None` after printing why, and
//! the tests that need it return early; `scripts/test.sh` installs it first and sets
//! `DT_REQUIRE_POSTGRES=1`, which turns that into a failure.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The settings `scripts/pg.sh` writes, for the same reasons (see its header).
const SETTINGS: &str = "
listen_addresses = '127.0.0.1'
max_connections = 300
shared_buffers = 32MB
fsync = off
full_page_writes = off
synchronous_commit = on
idle_in_transaction_session_timeout = '60s'
log_min_messages = warning
";

/// A running server in a temporary folder.
#[derive(Debug)]
pub struct Cluster {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
    server: Option<Child>,
}

/// Where initdb, postgres and friends are, if anywhere.
pub fn bindir() -> Option<PathBuf> {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let d = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if d.join("initdb").exists() {
            return Some(d);
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|d| d.join("initdb").exists())
        .collect();
    versions.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop()
}

fn is_root() -> bool {
    // /proc/self belongs to the process's effective user.
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A command run as the cluster's owner: the postgres user when we are root.
fn as_owner(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
        ])
        .arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn chown_to_owner(path: &Path) {
    if is_root() {
        let status = Command::new("chown")
            .args(["-R", "postgres:"])
            .arg(path)
            .status()
            .expect("chown");
        assert!(
            status.success(),
            "chown {} to postgres failed",
            path.display()
        );
    }
}

/// The initdb'd data folder every cluster copies, made once per build folder.
fn template(bin: &Path) -> PathBuf {
    // One per build folder (the test binary is in target/<profile>/deps), but kept in the
    // temporary folder, not beside the binary: as root, initdb runs as `postgres`, which must
    // be able to enter every parent folder, and a checkout may sit in a private one (mktemp -d
    // makes it 0700).
    let exe = std::env::current_exe().expect("the test binary's path");
    let build = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        exe.parent().expect("deps").hash(&mut h);
        h.finish()
    };
    let deps = std::env::temp_dir();
    let version = bin
        .parent()
        .and_then(|v| v.file_name())
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap_or_else(|| "pg".into());
    let owner = if is_root() { "postgres" } else { "self" };
    let done = deps.join(format!("dt-pg-template-{version}-{owner}-{build:016x}"));
    if done.join("PG_VERSION").exists() {
        return done;
    }
    let work = tempfile::Builder::new()
        .prefix(".pg-template-")
        .tempdir_in(deps)
        .expect("a folder for the template");
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    chown_to_owner(work.path());
    let data = work.path().join("data");
    let out = as_owner(&bin.join("initdb"))
        .current_dir(work.path())
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C"])
        .args(["--no-sync", "--no-instructions"])
        .output()
        .expect("initdb");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conf = data.join("postgresql.conf");
    let mut text = std::fs::read_to_string(&conf).expect("postgresql.conf");
    text.push_str(SETTINGS);
    std::fs::write(&conf, text).expect("postgresql.conf");
    chown_to_owner(&data);
    // Another test binary may have made it meanwhile: either copy is as good.
    if std::fs::rename(&data, &done).is_err() {
        assert!(
            done.join("PG_VERSION").exists(),
            "no template at {}",
            done.display()
        );
    }
    done
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Cluster {
    /// Start a cluster, or say why there is none and return `None` (see the module doc).
    pub fn start() -> Option<Cluster> {
        let Some(bin) = bindir() else {
            let why = "PostgreSQL is not installed (scripts/pg.sh install installs it)";
            assert!(
                std::env::var_os("DT_REQUIRE_POSTGRES").is_none(),
                "DT_REQUIRE_POSTGRES is set but {why}"
            );
            eprintln!("SKIPPED: {why}");
            return None;
        };
        let template = template(&bin);
        let dir = tempfile::Builder::new()
            .prefix("dt-pg-")
            .tempdir()
            .expect("a temporary folder");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let status = Command::new("cp")
            .arg("-a")
            .arg(&template)
            .arg(dir.path().join("data"))
            .status()
            .expect("cp");
        assert!(status.success(), "cannot copy the template cluster");
        chown_to_owner(dir.path());
        let mut cluster = Cluster {
            dir,
            bin,
            port: 0,
            server: None,
        };
        cluster.launch();
        Some(cluster)
    }

    /// Start the server on its data folder (a fresh port the first time, the same one after).
    fn launch(&mut self) {
        // A restart keeps its port (the clients' URL); a first start looks for a free one, and
        // another if something took it between looking and listening.
        let restart = self.port != 0;
        for _ in 0..5 {
            if !restart {
                self.port = free_port();
            }
            let log = std::fs::File::create(self.dir.path().join("server.log")).expect("log");
            let mut server = if is_root() {
                let mut c = Command::new("setpriv");
                c.args([
                    "--reuid=postgres",
                    "--regid=postgres",
                    "--init-groups",
                    "--pdeathsig",
                    "SIGKILL",
                    "--",
                ])
                .arg(self.bin.join("postgres"));
                c
            } else {
                Command::new(self.bin.join("postgres"))
            };
            server
                .arg("-D")
                .arg(self.dir.path().join("data"))
                .arg("-p")
                .arg(self.port.to_string())
                .arg("-k")
                .arg(self.dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log);
            let mut child = server.spawn().expect("cannot start postgres");
            if self.wait_ready(&mut child) {
                self.server = Some(child);
                return;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "PostgreSQL did not start: {}",
            std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
        );
    }

    fn wait_ready(&self, child: &mut Child) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                return false;
            }
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-U", "postgres", "-p"])
                .arg(self.port.to_string())
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The URL of another database in it, made now.
    pub fn database(&self, name: &str) -> String {
        self.sql(&format!("CREATE DATABASE {name}"));
        format!("postgresql://postgres@127.0.0.1:{}/{name}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's pid (the postmaster), while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.server.as_ref().map(Child::id)
    }

    /// Run SQL with psql in the `postgres` database and return what it printed (unaligned,
    /// tuples only); panic if it fails.
    pub fn sql(&self, sql: &str) -> String {
        self.sql_in("postgres", sql)
    }

    /// The same in database `db`.
    pub fn sql_in(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
            ])
            .args(["-U", "postgres", "-p"])
            .arg(self.port.to_string())
            .args(["-d", db, "-c", sql])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql -c {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The server killed outright: SIGKILL to the postmaster and every process it started, as
    /// a crash or the OOM killer would; the clients' connections break at once.
    pub fn kill(&mut self) {
        let Some(mut server) = self.server.take() else {
            return;
        };
        let backends = crate::procs::children_of(server.id());
        let _ = server.kill();
        for pid in &backends {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = server.wait();
        crate::procs::assert_all_gone(&backends, Duration::from_secs(10));
    }

    /// Start it again on the same data and port after [`Cluster::kill`] (crash recovery runs).
    pub fn restart(&mut self) {
        assert!(self.server.is_none(), "restart a killed cluster only");
        self.launch();
    }

    /// The folder it lives in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            // SIGQUIT is PostgreSQL's immediate shutdown: every session ends now.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(server.id() as i32),
                nix::sys::signal::Signal::SIGQUIT,
            );
            let deadline = Instant::now() + Duration::from_secs(10);
            while server.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

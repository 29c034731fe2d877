//! A real Kubernetes control plane for tests: etcd, kube-apiserver and kube-controller-manager,
//! built from the official Go modules by `scripts/control-plane/build`, started once per test
//! binary on loopback ports, and gone when the test binary ends.
//!
//! There is no kubelet and no scheduler. A test creates a Node object ([`ControlPlane::node`]),
//! Pods with `spec.nodeName` set to it, and writes their `status` (podIP/podIPs, phase, Ready
//! condition) through the status subresource; the real EndpointSlice controller then builds the
//! slices. The EndpointSlice controller leaves out pods whose node does not exist (unless the
//! Service publishes not-ready addresses), so the Node is not optional.
//!
//! Processes are started from one long-lived thread with `PR_SET_PDEATHSIG`, so they die with
//! the test binary even when it is killed; an `atexit` hook kills them and removes the temporary
//! directory on an ordinary exit (statics are never dropped). Their logs are in [`ControlPlane::dir`];
//! set `SIGNPOST_KEEP_CONTROL_PLANE=1` to keep that directory after the run.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, Once, OnceLock, mpsc};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Node, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};

use crate::free_port;

/// How long a process may take to become ready (a cold start on a busy 2-core machine takes a
/// fraction of this).
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// The Service CIDRs (dual stack); only these ranges are used in this project's tests.
pub const SERVICE_CIDRS: &str = "198.18.0.0/16,2001:db8:1::/112";

/// The address written to the `kubernetes` Service's endpoints. For [`ControlPlane::shared`]
/// nothing listens there and nothing connects to it (loopback cannot be used because endpoint
/// validation rejects it); a real node (`crate::node`) puts it on a host link, so pods reach
/// the apiserver through the `kubernetes` Service.
pub const APISERVER_ADVERTISE_ADDRESS: &str = "198.19.255.254";

const BINARIES: [&str; 3] = ["etcd", "kube-apiserver", "kube-controller-manager"];

const KCM_CONTROLLERS: &str = "endpointslice-controller,endpointslice-mirroring-controller,\
serviceaccount-controller,serviceaccount-token-controller,namespace-controller,\
garbage-collector-controller";

/// What [`ControlPlane::for_node`] adds to [`KCM_CONTROLLERS`]: the workload controllers a real
/// node's Deployments and DaemonSets need, and the `kube-root-ca.crt` publisher that pods'
/// service-account volumes mount.
const KCM_NODE_CONTROLLERS: &str = "deployment-controller,replicaset-controller,\
daemonset-controller,root-ca-certificate-publisher-controller,disruption-controller,\
node-lifecycle-controller";

/// How a control plane is started: the default one (loopback only, no workload controllers),
/// the one a real node joins ([`ControlPlane::for_node`]), or the benchmark's
/// ([`ControlPlane::for_bench`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Flavour {
    Default,
    Node,
    Bench,
}

/// The test control plane. See the module documentation.
pub struct ControlPlane {
    dir: PathBuf,
    kubeconfig: PathBuf,
    ca: PathBuf,
    apiserver_port: u16,
    etcd_addr: String,
    apiserver_program: PathBuf,
    apiserver_args: Vec<String>,
    apiserver: Mutex<Option<Child>>,
    etcd: Mutex<Child>,
    controller_manager: Mutex<Child>,
    namespaces: AtomicU32,
    startup: Duration,
}

impl ControlPlane {
    /// Starts etcd + kube-apiserver + kube-controller-manager once per test binary and returns
    /// it. Panics with a clear message if `SIGNPOST_CONTROL_PLANE_BIN` is unset or the binaries
    /// are missing, or (with the tail of the process's log) if a process does not come up.
    pub fn shared() -> &'static ControlPlane {
        Self::shared_flavour(Flavour::Default)
    }

    /// The control plane a real node joins (`crate::node`), once per test binary: as
    /// [`ControlPlane::shared`], but the apiserver also listens on the advertise address
    /// [`APISERVER_ADVERTISE_ADDRESS`] (all addresses, so pods reach it through the `kubernetes`
    /// Service; its certificate names that Service's ClusterIP), and the controller manager
    /// also runs the Deployment, ReplicaSet, DaemonSet, disruption and root-CA publisher
    /// controllers, and the node-lifecycle controller (which lifts the not-ready taint). A test
    /// binary uses one flavour or the other.
    pub fn for_node() -> &'static ControlPlane {
        Self::shared_flavour(Flavour::Node)
    }

    /// The benchmark's control plane, once per test binary: as [`ControlPlane::shared`], but
    /// with the apiserver's watch cache on, as clusters run it. Its watch bookmarks keep a
    /// quiet watch's resourceVersion recent, so a watch that times out resumes where it was
    /// instead of meeting an etcd compaction (410 Gone) and listing everything again, which
    /// at 100k services takes half a minute. An etcd compaction followed by an apiserver
    /// restart still sends every watch back to a full list.
    pub fn for_bench() -> &'static ControlPlane {
        Self::shared_flavour(Flavour::Bench)
    }

    fn shared_flavour(flavour: Flavour) -> &'static ControlPlane {
        static SHARED: OnceLock<(Flavour, Result<ControlPlane, String>)> = OnceLock::new();
        // A failed start is remembered, so the other tests fail at once with the same message
        // instead of each starting a control plane of its own.
        let (started, result) = SHARED.get_or_init(|| {
            (
                flavour,
                on_keeper_thread(move || ControlPlane::start(flavour)),
            )
        });
        assert_eq!(
            *started, flavour,
            "one test binary uses one control-plane flavour (shared(), for_node() or for_bench())"
        );
        match result {
            Ok(cp) => cp,
            Err(e) => panic!("the test control plane did not start: {e}"),
        }
    }

    /// The apiserver's secure port (on 127.0.0.1, and for [`ControlPlane::for_node`] on the
    /// advertise address too).
    pub fn apiserver_port(&self) -> u16 {
        self.apiserver_port
    }

    /// The CA that signed the apiserver's certificate.
    pub fn ca(&self) -> &Path {
        &self.ca
    }

    /// The admin kubeconfig (a static token for a user in `system:masters`; the CA by path).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// `https://127.0.0.1:<port>`.
    pub fn server_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.apiserver_port)
    }

    /// A new client for the admin user, built in the caller's tokio runtime.
    pub async fn client(&self) -> kube::Client {
        client_for(&self.kubeconfig)
            .await
            .unwrap_or_else(|e| panic!("admin client: {e}"))
    }

    /// Creates a fresh namespace `<prefix>-<n>` (unique per call) and returns its name, once its
    /// `default` ServiceAccount exists (the ServiceAccount admission plugin rejects Pods until
    /// then).
    pub async fn namespace(&self, prefix: &str) -> String {
        let name = format!(
            "{prefix}-{}",
            self.namespaces.fetch_add(1, Ordering::Relaxed)
        );
        let client = self.client().await;
        let ns = Namespace {
            metadata: named(&name),
            ..Default::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
        let accounts: Api<ServiceAccount> = Api::namespaced(client, &name);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(_)) = accounts.get_opt("default").await {
                return name;
            }
            assert!(
                Instant::now() < deadline,
                "namespace {name}: no `default` ServiceAccount after 60s (kube-controller-manager log: {})",
                self.dir.join("kube-controller-manager.log").display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Creates the Node object `name` unless it exists. Pods that name a node which does not
    /// exist are left out of EndpointSlices, so create one for `spec.nodeName`.
    pub async fn node(&self, name: &str) {
        let node = Node {
            metadata: named(name),
            ..Default::default()
        };
        match Api::<Node>::all(self.client().await)
            .create(&PostParams::default(), &node)
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(e) => panic!("create node {name}: {e}"),
        }
    }

    /// Stops the apiserver with SIGSTOP: connections stay open and nothing answers.
    ///
    /// The faults (pause, kill, `compact_etcd`) hit every test in the binary that uses the
    /// shared control plane: serialize them, for example with a `tokio::sync::RwLock` that
    /// fault tests take for writing and the others for reading (`tests/tests/control_plane.rs`).
    pub fn pause_apiserver(&self) {
        self.signal_apiserver(libc::SIGSTOP);
    }

    /// Continues a paused apiserver (SIGCONT).
    pub fn resume_apiserver(&self) {
        self.signal_apiserver(libc::SIGCONT);
    }

    /// Kills the apiserver (SIGKILL) and waits for it to be gone.
    pub fn kill_apiserver(&self) {
        let child = lock(&self.apiserver).take();
        let mut child = child.expect("kill_apiserver: the apiserver is not running");
        let _ = child.kill();
        let _ = child.wait();
        forget_pid(child.id());
    }

    /// Starts the apiserver again with the same port, arguments and data; returns once it is
    /// ready (`/readyz`).
    pub fn start_apiserver(&self) {
        assert!(
            lock(&self.apiserver).is_none(),
            "start_apiserver: the apiserver is already running"
        );
        let program = self.apiserver_program.clone();
        let args = self.apiserver_args.clone();
        let log = self.dir.join("kube-apiserver.log");
        let kubeconfig = self.kubeconfig.clone();
        let child = on_keeper_thread(move || -> Result<Child, String> {
            let mut child = spawn(&program, &args, &log)?;
            wait_ready(&mut child, &kubeconfig, "/readyz", &log)?;
            Ok(child)
        })
        .unwrap_or_else(|e| panic!("start_apiserver: {e}"));
        *lock(&self.apiserver) = Some(child);
    }

    /// Compacts etcd at its current revision, so that watches (and lists) from an older
    /// resourceVersion get 410 Gone. The apiserver runs without its watch cache
    /// (`--watch-cache=false`), so watches go to etcd and see the compaction at once; with
    /// [`ControlPlane::for_bench`]'s watch cache, only watches the apiserver starts after it
    /// (a restarted apiserver's) do.
    pub fn compact_etcd(&self) {
        // The gRPC gateway takes keys base64-encoded; "AA==" is the key "\0".
        let range = etcd_post(
            &self.etcd_addr,
            "/v3/kv/range",
            r#"{"key":"AA==","count_only":true}"#,
        )
        .unwrap_or_else(|e| panic!("compact_etcd: read the revision: {e}"));
        let revision = range["header"]["revision"]
            .as_str()
            .unwrap_or_else(|| panic!("compact_etcd: no revision in {range}"))
            .to_string();
        let body = format!(r#"{{"revision":"{revision}","physical":true}}"#);
        etcd_post(&self.etcd_addr, "/v3/kv/compaction", &body)
            .unwrap_or_else(|e| panic!("compact_etcd at revision {revision}: {e}"));
    }

    /// Writes a kubeconfig that authenticates with `token` (for example a ServiceAccount token
    /// from the TokenRequest API) against this apiserver, and returns its path.
    pub fn kubeconfig_for_token(&self, name: &str, token: &str) -> PathBuf {
        let path = self.dir.join(format!("{name}.kubeconfig"));
        write_kubeconfig(&path, &self.server_url(), &self.ca, name, token)
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// The temporary directory with the processes' logs (`etcd.log`, `kube-apiserver.log`,
    /// `kube-controller-manager.log`), certificates and kubeconfigs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How long the start took (all three processes ready).
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// The process ids of etcd, kube-apiserver (if running) and kube-controller-manager.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids = vec![lock(&self.etcd).id()];
        pids.extend(lock(&self.apiserver).as_ref().map(Child::id));
        pids.push(lock(&self.controller_manager).id());
        pids
    }

    fn signal_apiserver(&self, signal: libc::c_int) {
        let guard = lock(&self.apiserver);
        let child = guard.as_ref().expect("the apiserver is not running");
        // SAFETY: kill(2) with a pid we spawned and have not reaped.
        let rc = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "signal {signal} to the apiserver failed");
    }

    /// Runs on the keeper thread.
    fn start(flavour: Flavour) -> Result<ControlPlane, String> {
        let began = Instant::now();
        let bin = binaries()?;
        remove_stale_dirs();
        let dir = std::env::temp_dir().join(format!("{DIR_PREFIX}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let _ = DIR.set(dir.clone());
        static AT_EXIT: Once = Once::new();
        AT_EXIT.call_once(|| {
            // SAFETY: registers a plain extern "C" function.
            unsafe { libc::atexit(clean_up_at_exit) };
        });
        let started = Self::start_in(&dir, &bin, began, flavour);
        if started.is_err() {
            kill_all();
        }
        started
    }

    fn start_in(
        dir: &Path,
        bin: &Path,
        began: Instant,
        flavour: Flavour,
    ) -> Result<ControlPlane, String> {
        let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
        make_certificates(dir)?;
        let admin_token = random_token()?;
        let kcm_token = random_token()?;
        std::fs::write(
            dir.join("tokens.csv"),
            format!(
                "{admin_token},admin,admin,\"system:masters\"\n\
                 {kcm_token},system:kube-controller-manager,kube-controller-manager,\"system:masters\"\n"
            ),
        )
        .map_err(|e| format!("write tokens.csv: {e}"))?;

        let (etcd_port, peer_port, apiserver_port, kcm_port) =
            (free_port(), free_port(), free_port(), free_port());
        let ca = dir.join("ca.crt");
        let server_url = format!("https://127.0.0.1:{apiserver_port}");
        let kubeconfig = dir.join("admin.kubeconfig");
        let kcm_kubeconfig = dir.join("kube-controller-manager.kubeconfig");
        let kcm_health = dir.join("kube-controller-manager-health.kubeconfig");
        let written = write_kubeconfig(&kubeconfig, &server_url, &ca, "admin", &admin_token)
            .and_then(|()| write_kubeconfig(&kcm_kubeconfig, &server_url, &ca, "kcm", &kcm_token))
            .and_then(|()| {
                let url = format!("https://127.0.0.1:{kcm_port}");
                write_kubeconfig(&kcm_health, &url, &ca, "admin", &admin_token)
            });
        written.map_err(|e| format!("write kubeconfigs: {e}"))?;

        let etcd_addr = format!("127.0.0.1:{etcd_port}");
        let etcd_url = format!("http://{etcd_addr}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let etcd_args = [
            "--name=signpost".to_string(),
            format!("--data-dir={}", path("etcd")),
            format!("--listen-client-urls={etcd_url}"),
            format!("--advertise-client-urls={etcd_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=signpost={peer_url}"),
            "--log-level=warn".to_string(),
            // Test data: durability buys nothing and fsync is slow on shared disks.
            "--unsafe-no-fsync".to_string(),
        ];
        let etcd_log = dir.join("etcd.log");
        let mut etcd = spawn(&bin.join("etcd"), &etcd_args, &etcd_log)?;
        wait_etcd(&mut etcd, &etcd_addr, &etcd_log)?;

        let bind = match flavour {
            Flavour::Default | Flavour::Bench => "127.0.0.1",
            Flavour::Node => "0.0.0.0",
        };
        let mut apiserver_args = vec![
            format!("--bind-address={bind}"),
            format!("--secure-port={apiserver_port}"),
            format!("--advertise-address={APISERVER_ADVERTISE_ADDRESS}"),
            format!("--etcd-servers={etcd_url}"),
            // Watches go to etcd, so compact_etcd makes old resourceVersions 410 Gone at once.
            format!("--watch-cache={}", flavour == Flavour::Bench),
            format!("--tls-cert-file={}", path("server.crt")),
            format!("--tls-private-key-file={}", path("server.key")),
            format!("--token-auth-file={}", path("tokens.csv")),
            "--authorization-mode=RBAC".to_string(),
            format!("--service-account-key-file={}", path("sa.pub")),
            format!("--service-account-signing-key-file={}", path("sa.key")),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".to_string(),
            format!("--service-cluster-ip-range={SERVICE_CIDRS}"),
            "--profiling=false".to_string(),
        ];
        if flavour == Flavour::Node {
            // `kubectl exec`, logs and port-forward reach kubelet at the node's InternalIP; the
            // default order tries its Hostname first, which no resolver here knows.
            apiserver_args.push("--kubelet-preferred-address-types=InternalIP".to_string());
            // Service names that start with a digit (alpha in 1.35): Kubernetes' DNS e2e suite
            // has a spec asking the cluster DNS for one (tests/tests/conformance.rs).
            apiserver_args.push("--feature-gates=RelaxedServiceNameValidation=true".to_string());
        }
        let apiserver_program = bin.join("kube-apiserver");
        let apiserver_log = dir.join("kube-apiserver.log");
        let mut apiserver = spawn(&apiserver_program, &apiserver_args, &apiserver_log)?;
        wait_ready(&mut apiserver, &kubeconfig, "/readyz", &apiserver_log)?;

        let controllers = match flavour {
            Flavour::Default | Flavour::Bench => KCM_CONTROLLERS.to_string(),
            Flavour::Node => format!("{KCM_CONTROLLERS},{KCM_NODE_CONTROLLERS}"),
        };
        let kcm_args = [
            format!("--kubeconfig={}", kcm_kubeconfig.display()),
            "--leader-elect=false".to_string(),
            format!("--controllers={controllers}"),
            "--bind-address=127.0.0.1".to_string(),
            format!("--secure-port={kcm_port}"),
            format!("--tls-cert-file={}", path("server.crt")),
            format!("--tls-private-key-file={}", path("server.key")),
            format!("--root-ca-file={}", ca.display()),
            format!("--service-account-private-key-file={}", path("sa.key")),
            "--profiling=false".to_string(),
        ];
        let kcm_log = dir.join("kube-controller-manager.log");
        let mut kcm = spawn(&bin.join("kube-controller-manager"), &kcm_args, &kcm_log)?;
        wait_ready(&mut kcm, &kcm_health, "/healthz", &kcm_log)?;
        // Healthy is not yet working: wait for the controllers to act (the ServiceAccount
        // controller creating `default` in `default`).
        wait_default_service_account(&mut kcm, &kubeconfig, &kcm_log)?;

        let startup = began.elapsed();
        eprintln!(
            "test control plane ready in {startup:.1?}: {server_url}, logs in {}",
            dir.display()
        );
        Ok(ControlPlane {
            dir: dir.to_path_buf(),
            kubeconfig,
            ca,
            apiserver_port,
            etcd_addr,
            apiserver_program,
            apiserver_args,
            apiserver: Mutex::new(Some(apiserver)),
            etcd: Mutex::new(etcd),
            controller_manager: Mutex::new(kcm),
            namespaces: AtomicU32::new(0),
            startup,
        })
    }
}

/// The temporary directory is `<tmp>/signpost-control-plane-<pid>`.
const DIR_PREFIX: &str = "signpost-control-plane-";

/// The processes to kill at exit, and the directory to remove.
static PIDS: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static DIR: OnceLock<PathBuf> = OnceLock::new();

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn forget_pid(pid: u32) {
    lock(&PIDS).retain(|&p| p != pid);
}

/// Kills (SIGKILL) and reaps every process started here.
fn kill_all() {
    let pids = std::mem::take(&mut *lock(&PIDS));
    for &pid in &pids {
        // SAFETY: kill(2) on pids we spawned and have not reaped.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    }
    for &pid in &pids {
        // SAFETY: waitpid(2) with a null status pointer.
        unsafe { libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0) };
    }
}

extern "C" fn clean_up_at_exit() {
    kill_all();
    if std::env::var_os("SIGNPOST_KEEP_CONTROL_PLANE").is_none()
        && let Some(dir) = DIR.get()
    {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Directories left by test binaries that were killed (no atexit ran).
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)) else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// Runs `job` on the keeper thread: one thread that lives as long as the test binary and
/// spawns every control-plane process. `PR_SET_PDEATHSIG` fires when the *thread* that spawned
/// a process ends, so processes must never be spawned from a test's thread.
fn on_keeper_thread<R: Send + 'static>(job: impl FnOnce() -> R + Send + 'static) -> R {
    static KEEPER: OnceLock<mpsc::Sender<Job>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(KEEPER_NAME.into())
            .spawn(move || {
                for job in rx {
                    job();
                }
            })
            .expect("start the control-plane keeper thread");
        tx
    });
    let (tx, rx) = mpsc::sync_channel(1);
    keeper
        .send(Box::new(move || {
            // A panicking job must not end the thread (that would kill the processes).
            let _ = tx.send(catch_unwind(AssertUnwindSafe(job)));
        }))
        .expect("the control-plane keeper thread is gone");
    match rx.recv().expect("the control-plane keeper thread is gone") {
        Ok(r) => r,
        Err(panic) => resume_unwind(panic),
    }
}

const KEEPER_NAME: &str = "control-plane-keeper";

/// Spawns `program` with its output appended to `log`; the process gets SIGKILL when the
/// keeper thread (so the test binary) ends.
fn spawn(program: &Path, args: &[String], log: &Path) -> Result<Child, String> {
    assert_eq!(
        std::thread::current().name(),
        Some(KEEPER_NAME),
        "control-plane processes are spawned from the keeper thread only"
    );
    let open = || OpenOptions::new().create(true).append(true).open(log);
    let (out, err) = open()
        .and_then(|out| Ok((out.try_clone()?, out)))
        .map_err(|e| format!("open {}: {e}", log.display()))?;
    let parent = std::process::id() as libc::pid_t;
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before the prctl: then nobody would kill us.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("start {}: {e}", program.display()))?;
    lock(&PIDS).push(child.id());
    Ok(child)
}

fn binaries() -> Result<PathBuf, String> {
    const HOW: &str = "run scripts/control-plane/build and export SIGNPOST_CONTROL_PLANE_BIN=<the \
                       directory it prints last> (scripts/test does both)";
    let bin = std::env::var_os("SIGNPOST_CONTROL_PLANE_BIN")
        .map(PathBuf::from)
        .ok_or_else(|| format!("SIGNPOST_CONTROL_PLANE_BIN is not set: {HOW}"))?;
    for name in BINARIES {
        if !bin.join(name).is_file() {
            return Err(format!("{} is missing: {HOW}", bin.join(name).display()));
        }
    }
    Ok(bin)
}

/// The CA (`ca.crt`), a serving certificate for 127.0.0.1 and `localhost` signed by it
/// (`server.crt`, `server.key`: apiserver and controller-manager, and any TLS server a test
/// starts) and the service-account signing key pair, with the `openssl` command.
pub fn make_certificates(dir: &Path) -> Result<(), String> {
    const CONFIG: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = signpost-test
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost,IP:198.18.0.1,IP:198.19.255.254,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
authorityKeyIdentifier = keyid
";
    std::fs::write(dir.join("openssl.cnf"), CONFIG).map_err(|e| format!("openssl.cnf: {e}"))?;
    const EC: &str = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    let steps = [
        format!(
            "req -x509 -config openssl.cnf -extensions ca {EC} -keyout ca.key -days 3650 -out ca.crt"
        ),
        format!(
            "req -new -config openssl.cnf -subj /CN=127.0.0.1 {EC} -keyout server.key -out server.csr"
        ),
        "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial 2 -days 3650 \
         -extfile openssl.cnf -extensions server -out server.crt"
            .to_string(),
        "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out sa.key".to_string(),
        "pkey -in sa.key -pubout -out sa.pub".to_string(),
    ];
    for step in steps {
        let out = Command::new("openssl")
            .args(step.split_whitespace())
            .current_dir(dir)
            .output()
            .map_err(|e| format!("run openssl (install it; scripts/install-deps does): {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "openssl {step}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    Ok(())
}

fn random_token() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("read /dev/urandom: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn write_kubeconfig(
    path: &Path,
    server: &str,
    ca: &Path,
    user: &str,
    token: &str,
) -> std::io::Result<()> {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: signpost-test\n  cluster:\n    \
         server: {server}\n    certificate-authority: {ca}\nusers:\n- name: {user}\n  user:\n    \
         token: {token}\ncontexts:\n- name: signpost-test\n  context:\n    cluster: \
         signpost-test\n    user: {user}\ncurrent-context: signpost-test\n",
        ca = ca.display()
    );
    std::fs::write(path, text)
}

async fn client_for(kubeconfig: &Path) -> Result<kube::Client, String> {
    let file = kube::config::Kubeconfig::read_from(kubeconfig)
        .map_err(|e| format!("read {}: {e}", kubeconfig.display()))?;
    let config = kube::Config::from_custom_kubeconfig(file, &Default::default())
        .await
        .map_err(|e| format!("load {}: {e}", kubeconfig.display()))?;
    kube::Client::try_from(config).map_err(|e| format!("client: {e}"))
}

fn named(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        ..Default::default()
    }
}

/// The last lines of a log, for a failure message.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(40);
    format!(
        "--- last lines of {} ---\n{}",
        log.display(),
        lines[from..].join("\n")
    )
}

/// Err with the log's tail if the process has exited.
fn check_alive(child: &mut Child, log: &Path) -> Result<(), String> {
    match child.try_wait() {
        Ok(None) => Ok(()),
        Ok(Some(status)) => Err(format!("exited ({status})\n{}", tail(log))),
        Err(e) => Err(format!("wait: {e}")),
    }
}

/// Polls `probe` every 100 ms until it returns Ok(true), the process exits, or the timeout.
async fn poll_ready<F: Future<Output = Result<bool, String>>>(
    child: &mut Child,
    log: &Path,
    what: &str,
    mut probe: impl FnMut() -> F,
) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut last = String::from("no answer yet");
    loop {
        check_alive(child, log).map_err(|e| format!("{what}: {e}"))?;
        match tokio::time::timeout(Duration::from_secs(5), probe()).await {
            Ok(Ok(true)) => return Ok(()),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => last = e,
            Err(_) => last = "probe timed out".into(),
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{what}: not ready after {READY_TIMEOUT:?} (last: {last})\n{}",
                tail(log)
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn keeper_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

/// Waits until `path` (`/readyz`, `/healthz`) on the server in `kubeconfig` answers "ok".
fn wait_ready(child: &mut Child, kubeconfig: &Path, path: &str, log: &Path) -> Result<(), String> {
    let what = format!("{} {path}", log.display());
    keeper_runtime()?.block_on(async {
        let client = client_for(kubeconfig).await?;
        poll_ready(child, log, &what, || {
            let client = client.clone();
            async move {
                let request = http::Request::get(path)
                    .body(Vec::new())
                    .map_err(|e| e.to_string())?;
                let body = client
                    .request_text(request)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(body.trim() == "ok")
            }
        })
        .await
    })
}

fn wait_default_service_account(
    kcm: &mut Child,
    kubeconfig: &Path,
    log: &Path,
) -> Result<(), String> {
    keeper_runtime()?.block_on(async {
        let client = client_for(kubeconfig).await?;
        let accounts: Api<ServiceAccount> = Api::namespaced(client, "default");
        poll_ready(
            kcm,
            log,
            "kube-controller-manager (default ServiceAccount)",
            || {
                let accounts = accounts.clone();
                async move {
                    let found = accounts
                        .get_opt("default")
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok(found.is_some())
                }
            },
        )
        .await
    })
}

fn wait_etcd(etcd: &mut Child, addr: &str, log: &Path) -> Result<(), String> {
    keeper_runtime()?.block_on(poll_ready(etcd, log, "etcd /health", || async {
        let (status, body) = http_request(addr, "GET", "/health", "")?;
        Ok(status == 200 && body.contains("\"true\""))
    }))
}

/// POSTs JSON to etcd's gRPC gateway and returns the JSON answer.
fn etcd_post(addr: &str, path: &str, body: &str) -> Result<serde_json::Value, String> {
    let (status, answer) = http_request(addr, "POST", path, body)?;
    if status != 200 {
        return Err(format!("HTTP {status}: {answer}"));
    }
    serde_json::from_str(&answer).map_err(|e| format!("{e}: {answer}"))
}

/// A plain HTTP/1.0 exchange on loopback (etcd's client port): status and body.
fn http_request(addr: &str, method: &str, path: &str, body: &str) -> Result<(u16, String), String> {
    let exchange = || -> std::io::Result<String> {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer)
    };
    let answer = exchange().map_err(|e| format!("{method} http://{addr}{path}: {e}"))?;
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{method} {path}: no HTTP header in {answer:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{method} {path}: bad status line in {head:?}"))?;
    Ok((status, body.to_string()))
}

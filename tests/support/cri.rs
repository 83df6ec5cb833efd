//! A private containerd with its CRI plugin, and a CRI client that drives
//! pods the way kubelet would (without kubelet): host-network pods, the
//! busybox image as sandbox and container image.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::*;
use tonic::transport::{Channel, Endpoint};

/// Where install-deps.sh unpacks containerd 1.7 (Debian trixie's).
pub const CONTAINERD17_BIN: &str = "/opt/whalewatcher-tests/containerd-1.7/usr/bin";

/// The labels kubelet puts on a pod's sandbox and (with the container's
/// name) on its containers.
fn kubelet_labels(pod: (&str, &str, &str), container: Option<&str>) -> HashMap<String, String> {
    let mut l = HashMap::from([
        ("io.kubernetes.pod.name".to_string(), pod.0.to_string()),
        ("io.kubernetes.pod.namespace".to_string(), pod.1.to_string()),
        ("io.kubernetes.pod.uid".to_string(), pod.2.to_string()),
    ]);
    if let Some(c) = container {
        l.insert("io.kubernetes.container.name".to_string(), c.to_string());
    }
    l
}

pub struct PrivateCri {
    pub dir: PathBuf,
    pub socket: PathBuf,
    bin_dir: Option<String>,
    rt: tokio::runtime::Runtime,
    client: RuntimeServiceClient<Channel>,
}

impl Drop for PrivateCri {
    fn drop(&mut self) {
        // Pods first, through CRI: a stopped daemon would leave shims and mounts.
        let _ = self.remove_all_pods();
        self.script("stop");
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/engines/containerd.sh")
}

impl PrivateCri {
    /// A fresh containerd with CRI in an empty `/tmp/wwt-NAME`: containerd
    /// 1.7 (with `GetContainerEvents`) or, with `v17` false, the system's
    /// containerd (Debian bookworm's 1.6, without it).
    pub fn fresh(name: &str, v17: bool) -> PrivateCri {
        let dir = PathBuf::from(format!("/tmp/wwt-{name}"));
        let bin_dir = v17.then(|| CONTAINERD17_BIN.to_string());
        if let Some(b) = &bin_dir {
            assert!(
                Path::new(b).join("containerd").exists(),
                "{b}/containerd is missing: run tests/engines/install-deps.sh"
            );
        }
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut me = PrivateCri {
            dir: dir.clone(),
            socket: dir.join("containerd.sock"),
            bin_dir,
            client: rt.block_on(async { RuntimeServiceClient::new(Endpoint::from_static("http://x").connect_lazy()) }),
            rt,
        };
        if dir.exists() {
            me.script("stop");
            std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("remove {}: {e}", dir.display()));
        }
        me.socket = PathBuf::from(me.script_with("start", &["k8s.io"]));
        let socket = me.socket.clone();
        me.client = me.rt.block_on(async move {
            let channel = Endpoint::from_static("http://cri.invalid")
                .connect_with_connector(tower::service_fn(move |_| {
                    let s = socket.clone();
                    async move {
                        Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tokio::net::UnixStream::connect(s).await?))
                    }
                }))
                .await
                .expect("connect to the CRI socket");
            RuntimeServiceClient::new(channel)
        });
        me
    }

    fn script(&self, verb: &str) -> String {
        self.script_with(verb, &[])
    }

    fn script_with(&self, verb: &str, extra: &[&str]) -> String {
        let mut cmd = Command::new(script());
        cmd.arg(verb).arg(&self.dir).args(extra).env("CONTAINERD_CRI", "1");
        if let Some(b) = &self.bin_dir {
            cmd.env("CONTAINERD_BIN_DIR", b);
        }
        let out = cmd.output().expect("run tests/engines/containerd.sh");
        assert!(
            out.status.success(),
            "containerd.sh {verb} {} failed: {}\n{}",
            self.dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().lines().last().unwrap_or_default().to_string()
    }

    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// SIGKILL for containerd; shims and containers live on.
    pub fn kill(&self) {
        self.script("kill");
    }

    pub fn restart(&self) {
        self.script("start");
    }

    fn sandbox_config(name: &str, namespace: &str, uid: &str) -> PodSandboxConfig {
        PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: name.into(),
                uid: uid.into(),
                namespace: namespace.into(),
                attempt: 0,
            }),
            labels: kubelet_labels((name, namespace, uid), None),
            linux: Some(LinuxPodSandboxConfig {
                // Privileged, so that privileged containers are allowed in it.
                security_context: Some(LinuxSandboxSecurityContext {
                    namespace_options: Some(NamespaceOption {
                        network: NamespaceMode::Node as i32,
                        ..Default::default()
                    }),
                    privileged: true,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Runs a host-network pod; returns the sandbox ID.
    pub fn run_pod(&mut self, name: &str, namespace: &str, uid: &str) -> String {
        let config = Self::sandbox_config(name, namespace, uid);
        let mut c = self.client.clone();
        self.rt
            .block_on(c.run_pod_sandbox(RunPodSandboxRequest { config: Some(config), runtime_handler: String::new() }))
            .expect("RunPodSandbox")
            .into_inner()
            .pod_sandbox_id
    }

    /// Creates and starts container `name` (attempt `attempt`) in pod
    /// `sandbox`; returns its ID.
    pub fn run_container(
        &mut self,
        sandbox: &str,
        pod: (&str, &str, &str),
        name: &str,
        attempt: u32,
        privileged: bool,
        cmd: &[&str],
    ) -> String {
        let cmd: Vec<String> = if cmd.is_empty() {
            vec!["/bin/sleep".into(), "100000".into()]
        } else {
            cmd.iter().map(|s| s.to_string()).collect()
        };
        let config = ContainerConfig {
            metadata: Some(ContainerMetadata { name: name.into(), attempt }),
            image: Some(ImageSpec { image: "docker.io/library/busybox:local".into(), ..Default::default() }),
            command: cmd,
            labels: kubelet_labels(pod, Some(name)),
            linux: Some(LinuxContainerConfig {
                security_context: Some(LinuxContainerSecurityContext {
                    privileged,
                    namespace_options: Some(NamespaceOption {
                        network: NamespaceMode::Node as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let req = CreateContainerRequest {
            pod_sandbox_id: sandbox.into(),
            config: Some(config),
            sandbox_config: Some(Self::sandbox_config(pod.0, pod.1, pod.2)),
        };
        let mut c = self.client.clone();
        let id = self.rt.block_on(c.create_container(req)).expect("CreateContainer").into_inner().container_id;
        self.rt
            .block_on(c.start_container(StartContainerRequest { container_id: id.clone() }))
            .expect("StartContainer");
        id
    }

    pub fn stop_container(&mut self, id: &str) {
        let mut c = self.client.clone();
        self.rt
            .block_on(c.stop_container(StopContainerRequest { container_id: id.into(), timeout: 0 }))
            .expect("StopContainer");
    }

    pub fn remove_container(&mut self, id: &str) {
        let mut c = self.client.clone();
        self.rt
            .block_on(c.remove_container(RemoveContainerRequest { container_id: id.into() }))
            .expect("RemoveContainer");
    }

    /// Stops and removes pod `sandbox` with its containers.
    pub fn remove_pod(&mut self, sandbox: &str) {
        let mut c = self.client.clone();
        self.rt
            .block_on(c.stop_pod_sandbox(StopPodSandboxRequest { pod_sandbox_id: sandbox.into() }))
            .expect("StopPodSandbox");
        self.rt
            .block_on(c.remove_pod_sandbox(RemovePodSandboxRequest { pod_sandbox_id: sandbox.into() }))
            .expect("RemovePodSandbox");
    }

    fn remove_all_pods(&mut self) -> Result<(), tonic::Status> {
        let mut c = self.client.clone();
        let pods = self.rt.block_on(c.list_pod_sandbox(ListPodSandboxRequest { filter: None }))?.into_inner().items;
        for p in pods {
            let _ = self.rt.block_on(c.stop_pod_sandbox(StopPodSandboxRequest { pod_sandbox_id: p.id.clone() }));
            let _ = self.rt.block_on(c.remove_pod_sandbox(RemovePodSandboxRequest { pod_sandbox_id: p.id }));
        }
        Ok(())
    }

    /// The PID of a container's (or sandbox's) init process, from the
    /// runtime's verbose status.
    pub fn pid_of(&mut self, id: &str, sandbox: bool) -> i32 {
        let mut c = self.client.clone();
        let info = if sandbox {
            self.rt
                .block_on(c.pod_sandbox_status(PodSandboxStatusRequest { pod_sandbox_id: id.into(), verbose: true }))
                .unwrap()
                .into_inner()
                .info
        } else {
            self.rt
                .block_on(c.container_status(ContainerStatusRequest { container_id: id.into(), verbose: true }))
                .unwrap()
                .into_inner()
                .info
        };
        let v: serde_json::Value = serde_json::from_str(&info["info"]).unwrap();
        v["pid"].as_i64().unwrap() as i32
    }

    /// The state of container `id` (CONTAINER_RUNNING = 1, EXITED = 2).
    pub fn container_state(&mut self, id: &str) -> i32 {
        let mut c = self.client.clone();
        let s = self
            .rt
            .block_on(c.container_status(ContainerStatusRequest { container_id: id.into(), verbose: false }))
            .unwrap();
        s.into_inner().status.map_or(-1, |s| s.state)
    }
}

static SHARED: std::sync::OnceLock<std::sync::Mutex<PrivateCri>> = std::sync::OnceLock::new();

extern "C" fn stop_shared() {
    if let Some(c) = SHARED.get() {
        let mut c = c.lock().unwrap_or_else(|e| e.into_inner());
        let _ = c.remove_all_pods();
        c.script("stop");
    }
}

/// One private containerd 1.7 with CRI shared by all tests of a test
/// binary, stopped (its pods removed) when the binary exits.
pub fn shared(name: &str) -> &'static std::sync::Mutex<PrivateCri> {
    SHARED.get_or_init(|| {
        let c = PrivateCri::fresh(name, true);
        // SAFETY: registering a plain extern "C" fn without arguments.
        unsafe { libc::atexit(stop_shared) };
        std::sync::Mutex::new(c)
    })
}

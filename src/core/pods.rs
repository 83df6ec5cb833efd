//! Pod identity: which Kubernetes (or podman) pod a container belongs to,
//! taken from the labels Kubernetes' runtimes put on every pod container.

use std::collections::HashMap;

/// The label with a Kubernetes pod's name.
pub const POD_NAME_LABEL: &str = "io.kubernetes.pod.name";
/// The label with a Kubernetes pod's namespace.
pub const POD_NAMESPACE_LABEL: &str = "io.kubernetes.pod.namespace";
/// The label with a Kubernetes pod's UID.
pub const POD_UID_LABEL: &str = "io.kubernetes.pod.uid";
/// containerd's CRI plugin: `sandbox` or `container`.
pub const CRI_CONTAINERD_KIND_LABEL: &str = "io.cri-containerd.kind";
/// Docker-based Kubernetes (dockershim, cri-dockerd): `podsandbox` or `container`.
pub const DOCKER_KUBE_TYPE_LABEL: &str = "io.kubernetes.docker.type";

/// The pod a container belongs to; all empty outside pods.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pod {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    /// True for the pod's sandbox (Kubernetes) or infra (podman) container.
    pub sandbox: bool,
}

impl Pod {
    /// The pod Kubernetes' labels name; empty when the container carries none.
    pub fn from_labels(labels: &HashMap<String, String>) -> Pod {
        let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
        let name = get(POD_NAME_LABEL);
        if name.is_empty() {
            return Pod::default();
        }
        let sandbox = labels.get(CRI_CONTAINERD_KIND_LABEL).is_some_and(|k| k == "sandbox")
            || labels.get(DOCKER_KUBE_TYPE_LABEL).is_some_and(|k| k == "podsandbox");
        Pod { name, namespace: get(POD_NAMESPACE_LABEL), uid: get(POD_UID_LABEL), sandbox }
    }

    /// True outside pods.
    pub fn is_empty(&self) -> bool {
        self.name.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(kv: &[(&str, &str)]) -> HashMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn kubernetes_labels_make_a_pod() {
        let l = labels(&[
            (POD_NAME_LABEL, "web-0"),
            (POD_NAMESPACE_LABEL, "shop"),
            (POD_UID_LABEL, "u-1"),
            (CRI_CONTAINERD_KIND_LABEL, "sandbox"),
        ]);
        assert_eq!(
            Pod::from_labels(&l),
            Pod { name: "web-0".into(), namespace: "shop".into(), uid: "u-1".into(), sandbox: true }
        );
        let docker = labels(&[(POD_NAME_LABEL, "p"), (DOCKER_KUBE_TYPE_LABEL, "podsandbox")]);
        assert!(Pod::from_labels(&docker).sandbox);
        let container = labels(&[(POD_NAME_LABEL, "p"), (CRI_CONTAINERD_KIND_LABEL, "container")]);
        assert!(!Pod::from_labels(&container).sandbox);
    }

    #[test]
    fn no_pod_name_no_pod() {
        assert!(Pod::from_labels(&labels(&[(POD_UID_LABEL, "u"), (CRI_CONTAINERD_KIND_LABEL, "sandbox")])).is_empty());
        assert!(Pod::from_labels(&HashMap::new()).is_empty());
    }
}

//! Kubernetes identity from the labels the kubelet gives containers and pod sandboxes through the
//! CRI (`io.kubernetes.*`), and the pod labels as `container.tags`, as Datadog's agent tags them.
//!
//! Labels are written by whoever may create pods: a label must never pass for one of the tags the
//! agent itself derives (`kube_namespace:prod` from a pod label `kube_namespace: prod` in another
//! namespace), and a pod with thousands of labels must not bloat every event.

use std::collections::BTreeMap;

pub const POD_NAME_LABEL: &str = "io.kubernetes.pod.name";
pub const POD_NAMESPACE_LABEL: &str = "io.kubernetes.pod.namespace";
pub const POD_UID_LABEL: &str = "io.kubernetes.pod.uid";
pub const CONTAINER_NAME_LABEL: &str = "io.kubernetes.container.name";

/// Labels worth a tag of their own, and the tag's name (Datadog's names).
pub const LABEL_TAGS: [(&str, &str); 8] = [
    (POD_NAME_LABEL, "pod_name"),
    (POD_NAMESPACE_LABEL, "kube_namespace"),
    (CONTAINER_NAME_LABEL, "kube_container_name"),
    ("com.docker.compose.project", "compose_project"),
    ("com.docker.compose.service", "compose_service"),
    // Datadog's unified service tagging.
    ("tags.datadoghq.com/env", "env"),
    ("tags.datadoghq.com/service", "service"),
    ("tags.datadoghq.com/version", "version"),
];

/// Tags the agent derives itself: a pod label of the same name is not made a tag.
const DERIVED_TAGS: [&str; 9] = [
    "runtime",
    "pod_uid",
    "image_name",
    "image_tag",
    "short_image",
    "image_id",
    "container_name",
    "container_id",
    "kube_ownerref_kind",
];

/// At most this many pod labels become tags (a pod's labels are user input).
pub const MAX_POD_LABEL_TAGS: usize = 32;
/// Longer label keys or values are not made tags (Kubernetes allows 63 for a name, 253 for a prefix).
const MAX_LABEL_LEN: usize = 317;

/// `io.kubernetes.*` and runtime-private labels say who the pod is, not what the user labelled it.
fn is_system_label(key: &str) -> bool {
    ["io.kubernetes.", "io.cri-containerd.", "io.x-k8s."]
        .iter()
        .any(|p| key.starts_with(p))
        || key == "annotation.io.kubernetes.container.hash"
}

/// The user's labels of a pod, from its sandbox's labels.
pub fn pod_labels<'a>(
    sandbox_labels: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> BTreeMap<String, String> {
    sandbox_labels
        .into_iter()
        .filter(|(k, _)| !is_system_label(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The tags a container's labels and its pod's labels give, in a stable order.
pub fn label_tags(
    labels: &BTreeMap<String, String>,
    pod_labels: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut tags = Vec::new();
    for (label, tag) in LABEL_TAGS {
        let value = labels.get(label).or_else(|| pod_labels.get(label));
        if let Some(value) = value.filter(|v| is_tag_value(v)) {
            tags.push(format!("{tag}:{value}"));
        }
    }
    let reserved = |key: &str| {
        DERIVED_TAGS.contains(&key)
            || LABEL_TAGS
                .iter()
                .any(|(label, tag)| *tag == key || *label == key)
    };
    let user = pod_labels
        .iter()
        .filter(|(k, v)| {
            !reserved(k)
                && !k.is_empty()
                && k.len() <= MAX_LABEL_LEN
                && !k.contains(':')
                && !k.bytes().any(|b| b.is_ascii_control())
                && is_tag_value(v)
        })
        .take(MAX_POD_LABEL_TAGS)
        .map(|(k, v)| format!("{k}:{v}"));
    tags.extend(user);
    tags
}

fn is_tag_value(v: &str) -> bool {
    !v.is_empty() && v.len() <= MAX_LABEL_LEN && !v.bytes().any(|b| b.is_ascii_control())
}

/// The image's last path component, Datadog's `short_image` (`docker.io/library/nginx` → `nginx`).
pub fn short_image(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// A Kubernetes pod uid in its dashed form (`5a6d9b1c-0f3e-4c2a-9d7b-8e1f2a3b4c5d`).
pub fn is_pod_uid(uid: &str) -> bool {
    uid.len() == 36
        && uid.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn kubelet_labels_and_pod_labels_become_tags() {
        let labels = map(&[
            (POD_NAME_LABEL, "web-7d9f"),
            (POD_NAMESPACE_LABEL, "shop"),
            (POD_UID_LABEL, "5a6d9b1c-0f3e-4c2a-9d7b-8e1f2a3b4c5d"),
            (CONTAINER_NAME_LABEL, "nginx"),
            ("io.cri-containerd.kind", "container"),
        ]);
        let sandbox = map(&[
            (POD_NAME_LABEL, "web-7d9f"),
            ("app", "web"),
            ("tags.datadoghq.com/service", "storefront"),
            ("io.cri-containerd.kind", "sandbox"),
            ("pod-template-hash", "7d9f"),
        ]);
        let pod = pod_labels(&sandbox);
        assert_eq!(
            pod,
            map(&[
                ("app", "web"),
                ("pod-template-hash", "7d9f"),
                ("tags.datadoghq.com/service", "storefront")
            ])
        );
        assert_eq!(
            label_tags(&labels, &pod),
            [
                "pod_name:web-7d9f",
                "kube_namespace:shop",
                "kube_container_name:nginx",
                "service:storefront",
                "app:web",
                "pod-template-hash:7d9f",
            ]
        );
    }

    #[test]
    fn hostile_pod_labels_cannot_pass_for_derived_tags_or_flood() {
        let labels = map(&[(POD_NAMESPACE_LABEL, "dev")]);
        let mut pod = map(&[
            ("kube_namespace", "prod"),
            ("image_name", "trusted/base"),
            ("pod_name", "x"),
            ("kube_namespace:prod", ""),
            ("a:b", "c"),
            ("nl", "x\ny"),
            ("", "empty-key"),
            ("empty-value", ""),
        ]);
        pod.insert("long".into(), "v".repeat(MAX_LABEL_LEN + 1));
        assert_eq!(label_tags(&labels, &pod), ["kube_namespace:dev"]);

        let many: BTreeMap<String, String> = (0..1000)
            .map(|i| (format!("l{i:04}"), "v".to_string()))
            .collect();
        let tags = label_tags(&BTreeMap::new(), &many);
        assert_eq!(tags.len(), MAX_POD_LABEL_TAGS);
        assert_eq!(tags[0], "l0000:v");
    }

    #[test]
    fn short_images_and_pod_uids() {
        assert_eq!(short_image("docker.io/library/nginx"), "nginx");
        assert_eq!(short_image("registry.local:5000/team/app"), "app");
        assert_eq!(short_image("busybox"), "busybox");
        assert!(is_pod_uid("5a6d9b1c-0f3e-4c2a-9d7b-8e1f2a3b4c5d"));
        assert!(!is_pod_uid("5a6d9b1c_0f3e_4c2a_9d7b_8e1f2a3b4c5d"));
        assert!(!is_pod_uid("5a6d9b1c-0f3e-4c2a-9d7b-8e1f2a3b4c5\""));
        assert!(!is_pod_uid(""));
    }
}

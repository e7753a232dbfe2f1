//! Policy bundles: what remote configuration sends an agent, and how it is signed.
//!
//! A [`Bundle`] is one configuration revision as one agent must run it: whether to load the embedded
//! default policy, the custom policies that target the agent, and per-rule overrides. The server serialises
//! it once to JSON and signs exactly those bytes with its ed25519 key ([`SignedBundle`]); the agent pins the
//! server's public key at enrollment and verifies the bytes before it even parses them (strict ed25519: no
//! malleable or small-order signatures), so a bundle altered on the way, or signed by anyone else, is refused
//! whole. A bundle names the agent it was issued to and when it stops being fresh, so a captured bundle can
//! be neither replayed to another agent nor held back and delivered later ([`SignedBundle::verify_for`]).

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::PolicySource;

/// One configuration revision for one agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// Monotonic across the fleet: an agent applies a bundle only if it is newer than what it runs.
    pub revision: i64,
    /// When the server issued it (epoch ns).
    pub issued_at: i64,
    /// Load Rampart's embedded default policy first.
    pub include_default: bool,
    /// Custom policies, in load order.
    pub policies: Vec<BundlePolicy>,
    /// Rule overrides (disable, suppress), applied after every policy.
    #[serde(default)]
    pub overrides: Vec<RuleOverride>,
    /// Stable security profiles of the workloads the fleet runs: an event of a profiled workload that its
    /// profile does not contain is an anomaly.
    #[serde(default)]
    pub profiles: Vec<BundleProfile>,
    /// The agent the bundle was issued to. Absent only from bundles for agents that do not ask for bound
    /// bundles (older agents, which refuse unknown fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<i64>,
    /// Epoch ns after which a bundle received from the network is stale and refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// A stable security profile as agents use it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleProfile {
    pub id: i64,
    /// Image name and tag of the containers it applies to (or `systemd:<unit>` and a version for host
    /// services).
    pub image_name: String,
    pub image_tag: String,
    /// The behaviour keys ([`rampart_model::behavior::Behavior::key`]) the profile holds.
    pub behaviors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundlePolicy {
    pub name: String,
    /// The policy file's YAML.
    pub content: String,
}

/// A per-rule override pushed by the server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleOverride {
    pub rule_id: String,
    /// The rule is not loaded at all.
    #[serde(default)]
    pub disabled: bool,
    /// SECL expressions (same event type as the rule): a match that also satisfies one is suppressed
    /// (its actions still run; it is not reported).
    #[serde(default)]
    pub suppressions: Vec<String>,
}

impl Bundle {
    /// The policy sources the bundle stands for, in load order, after `default` (Rampart's embedded
    /// policy, when the bundle includes it) and before the agent's local policy files.
    pub fn sources(&self) -> Vec<PolicySource> {
        self.policies
            .iter()
            .map(|p| PolicySource {
                name: p.name.clone(),
                file: format!("remote:{}@{}", p.name, self.revision),
                text: p.content.clone(),
            })
            .collect()
    }

    /// The suppressions of the overrides, by rule id (for [`crate::LoadOptions::suppressions`]).
    pub fn suppressions(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        self.overrides
            .iter()
            .filter(|o| !o.suppressions.is_empty())
            .map(|o| (o.rule_id.clone(), o.suppressions.clone()))
            .collect()
    }

    /// A policy that disables the rules the overrides turn off (merged last, `combine: override`).
    pub fn overrides_source(&self) -> Option<PolicySource> {
        let disabled: Vec<&str> = self
            .overrides
            .iter()
            .filter(|o| o.disabled)
            .map(|o| o.rule_id.as_str())
            .collect();
        if disabled.is_empty() {
            return None;
        }
        let mut text = String::from("version: 1.0.0\nrules:\n");
        for id in disabled {
            // Rule ids are `[A-Za-z0-9_.-]`: quoted anyway, so a hostile id cannot inject YAML.
            text.push_str(&format!(
                "  - id: {}\n    disabled: true\n    combine: override\n",
                serde_json::to_string(id).unwrap_or_default()
            ));
        }
        Some(PolicySource {
            name: "remote-overrides".into(),
            file: format!("remote:overrides@{}", self.revision),
            text,
        })
    }
}

/// A bundle as sent on the wire: its exact JSON bytes and their signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedBundle {
    /// The JSON of a [`Bundle`], exactly as signed.
    pub bundle: String,
    /// Hex ed25519 signature of `bundle`'s bytes.
    pub signature: String,
    /// Hex public key of the signer (informational: the agent checks against its pinned key).
    pub key: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BundleError {
    #[error("the bundle is not signed by the pinned server key (tampered or forged)")]
    BadSignature,
    #[error("malformed signature or key: {0}")]
    Malformed(String),
    #[error("the signed bundle is not valid JSON: {0}")]
    Invalid(String),
    #[error("the bundle was issued to agent {issued_to:?}, not to this agent ({agent}): replayed from another agent")]
    WrongAgent { issued_to: Option<i64>, agent: i64 },
    #[error("the bundle expired at {expires_at:?} (now {now}): stale or held back")]
    Expired { expires_at: Option<i64>, now: i64 },
}

/// How far an agent's clock may run behind the server's before a fresh bundle looks expired.
pub const CLOCK_SKEW_NS: i64 = 5 * 60 * 1_000_000_000;

/// A server's signing key.
pub struct BundleSigner(SigningKey);

impl BundleSigner {
    /// From a 32-byte secret in hex.
    pub fn from_hex(secret: &str) -> Result<BundleSigner, BundleError> {
        let bytes: [u8; 32] = hex::decode(secret)
            .map_err(|e| BundleError::Malformed(e.to_string()))?
            .try_into()
            .map_err(|_| BundleError::Malformed("a secret key is 32 bytes".into()))?;
        Ok(BundleSigner(SigningKey::from_bytes(&bytes)))
    }

    /// A fresh key from 32 random bytes (the caller's CSPRNG).
    pub fn from_random(seed: [u8; 32]) -> BundleSigner {
        BundleSigner(SigningKey::from_bytes(&seed))
    }

    pub fn secret_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    pub fn public_hex(&self) -> String {
        hex::encode(self.0.verifying_key().to_bytes())
    }

    pub fn sign(&self, bundle: &Bundle) -> SignedBundle {
        let json = serde_json::to_string(bundle).expect("a bundle serialises");
        let signature = self.0.sign(json.as_bytes());
        SignedBundle {
            bundle: json,
            signature: hex::encode(signature.to_bytes()),
            key: self.public_hex(),
        }
    }
}

impl SignedBundle {
    /// Verifies the signature against `pinned_key` (hex) and only then parses the bundle.
    pub fn verify(&self, pinned_key: &str) -> Result<Bundle, BundleError> {
        let key: [u8; 32] = hex::decode(pinned_key)
            .map_err(|e| BundleError::Malformed(format!("pinned key: {e}")))?
            .try_into()
            .map_err(|_| BundleError::Malformed("a public key is 32 bytes".into()))?;
        let key = VerifyingKey::from_bytes(&key)
            .map_err(|e| BundleError::Malformed(format!("pinned key: {e}")))?;
        let sig: [u8; 64] = hex::decode(&self.signature)
            .map_err(|e| BundleError::Malformed(format!("signature: {e}")))?
            .try_into()
            .map_err(|_| BundleError::Malformed("a signature is 64 bytes".into()))?;
        key.verify_strict(self.bundle.as_bytes(), &Signature::from_bytes(&sig))
            .map_err(|_| BundleError::BadSignature)?;
        serde_json::from_str(&self.bundle).map_err(|e| BundleError::Invalid(e.to_string()))
    }

    /// [`SignedBundle::verify`], then checks the bundle was issued to `agent_id`.
    pub fn verify_for(&self, pinned_key: &str, agent_id: i64) -> Result<Bundle, BundleError> {
        let bundle = self.verify(pinned_key)?;
        if bundle.agent_id != Some(agent_id) {
            return Err(BundleError::WrongAgent {
                issued_to: bundle.agent_id,
                agent: agent_id,
            });
        }
        Ok(bundle)
    }
}

impl Bundle {
    /// Refuses a bundle past its expiry (allowing [`CLOCK_SKEW_NS`]), or one without any.
    pub fn check_fresh(&self, now_ns: i64) -> Result<(), BundleError> {
        match self.expires_at {
            Some(e) if now_ns <= e.saturating_add(CLOCK_SKEW_NS) => Ok(()),
            expires_at => Err(BundleError::Expired {
                expires_at,
                now: now_ns,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle() -> Bundle {
        Bundle {
            revision: 7,
            issued_at: 1,
            include_default: true,
            policies: vec![BundlePolicy {
                name: "custom".into(),
                content: "rules: []\n".into(),
            }],
            overrides: vec![RuleOverride {
                rule_id: "noisy\"\n  - id: injected".into(),
                disabled: true,
                suppressions: vec![],
            }],
            profiles: vec![],
            agent_id: Some(3),
            expires_at: Some(1_000),
        }
    }

    #[test]
    fn bundles_are_bound_to_their_agent_and_expire() {
        let signer = BundleSigner::from_random([7; 32]);
        let signed = signer.sign(&bundle());
        assert!(signed.verify_for(&signer.public_hex(), 3).is_ok());
        assert!(matches!(
            signed.verify_for(&signer.public_hex(), 4),
            Err(BundleError::WrongAgent {
                issued_to: Some(3),
                agent: 4
            })
        ));
        let legacy = Bundle {
            agent_id: None,
            ..bundle()
        };
        assert!(matches!(
            signer.sign(&legacy).verify_for(&signer.public_hex(), 3),
            Err(BundleError::WrongAgent {
                issued_to: None,
                ..
            })
        ));
        assert!(bundle().check_fresh(1_000 + CLOCK_SKEW_NS).is_ok());
        assert!(bundle().check_fresh(1_001 + CLOCK_SKEW_NS).is_err());
        let forever = Bundle {
            expires_at: None,
            ..bundle()
        };
        assert!(
            forever.check_fresh(0).is_err(),
            "a bundle must say when it expires"
        );
        // Older agents refuse unknown fields: a bundle for them carries neither.
        let old = serde_json::to_string(&Bundle {
            agent_id: None,
            expires_at: None,
            ..bundle()
        })
        .unwrap();
        assert!(
            !old.contains("agent_id") && !old.contains("expires_at"),
            "{old}"
        );
    }

    #[test]
    fn weak_keys_do_not_verify_anything() {
        // A small-order (identity) key with an identity R and s = 0 satisfies the cofactorless check for
        // every message; strict verification refuses it.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut sig = [0u8; 64];
        sig[0] = 1;
        let forged = SignedBundle {
            bundle: serde_json::to_string(&bundle()).unwrap(),
            signature: hex::encode(sig),
            key: hex::encode(identity),
        };
        assert_eq!(
            forged.verify(&hex::encode(identity)),
            Err(BundleError::BadSignature)
        );
    }

    #[test]
    fn signed_bundles_verify_and_tampering_is_refused() {
        let signer = BundleSigner::from_random([7; 32]);
        let signed = signer.sign(&bundle());
        assert_eq!(signed.verify(&signer.public_hex()).unwrap(), bundle());

        let mut altered = signed.clone();
        altered.bundle = altered.bundle.replace("\"revision\":7", "\"revision\":8");
        assert_eq!(
            altered.verify(&signer.public_hex()),
            Err(BundleError::BadSignature)
        );
        let other = BundleSigner::from_random([9; 32]);
        assert_eq!(
            other.sign(&bundle()).verify(&signer.public_hex()),
            Err(BundleError::BadSignature),
            "signed by another key"
        );
        let mut unsigned = signed;
        unsigned.signature = String::new();
        assert!(matches!(
            unsigned.verify(&signer.public_hex()),
            Err(BundleError::Malformed(_))
        ));
        let restored = BundleSigner::from_hex(&signer.secret_hex()).unwrap();
        assert_eq!(restored.public_hex(), signer.public_hex());
    }

    #[test]
    fn overrides_become_a_quoted_disabling_policy() {
        let src = bundle().overrides_source().unwrap();
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&src.text).unwrap();
        let rules = doc["rules"].as_sequence().unwrap();
        assert_eq!(
            rules.len(),
            1,
            "a hostile id stays one rule id: {}",
            src.text
        );
        assert_eq!(rules[0]["id"], "noisy\"\n  - id: injected");
        assert_eq!(bundle().sources()[0].file, "remote:custom@7");
    }
}

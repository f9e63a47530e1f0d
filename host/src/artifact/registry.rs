//! Pushing and pulling components as OCI artifacts in the CNCF Wasm layout
//! (one `application/wasm` layer, an `application/vnd.wasm.config.v0+json`
//! config), so `wkg` and other tools read what `switchyard push` writes.
//! Built on `oci-client`; credentials come from `SWITCHYARD_REGISTRY_*`
//! variables or the Docker config file; registries on a loopback address
//! (or listed in `SWITCHYARD_INSECURE_REGISTRIES`) speak plain HTTP.
//! Everything pulled is checked: the manifest against the pinned digest,
//! the layer against the manifest, and its size before it is read.

use std::collections::BTreeMap;

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::{OciDescriptor, OciImageManifest, OCI_IMAGE_MEDIA_TYPE};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde::{Deserialize, Serialize};

use super::store::digest_of;
use crate::spec::OciRef;

/// The config media type of a Wasm artifact.
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// The layer media type of a Wasm artifact.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";
/// The largest component pulled (the same cap as a hot-swap's body).
pub const MAX_PULL_BYTES: u64 = 256 << 20;
/// The largest manifest or config document read.
const MAX_DOCUMENT_BYTES: i64 = 1 << 20;

/// Why a push or a pull failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry answered with an error, or could not be reached.
    #[error("registry {registry}: {message}")]
    Registry {
        /// `host[:port]`.
        registry: String,
        /// What it said, or why it could not be asked.
        message: String,
    },
    /// What the registry holds is not a Wasm component artifact.
    #[error("{reference} is not a Wasm component artifact: {reason}")]
    NotWasm {
        /// The reference.
        reference: String,
        /// Why not.
        reason: String,
    },
    /// Bytes did not match the digest that names them.
    #[error("{reference}: digest mismatch: expected {expected}, got {actual}; the registry served bytes other than the ones published, so they were refused")]
    DigestMismatch {
        /// The reference.
        reference: String,
        /// The digest that names the content.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// The artifact is larger than a component may be.
    #[error("{reference}: the component is {bytes} bytes, above the {max}-byte cap")]
    TooLarge {
        /// The reference.
        reference: String,
        /// Its declared size.
        bytes: i64,
        /// The cap.
        max: u64,
    },
}

/// The CNCF Wasm artifact config (`application/vnd.wasm.config.v0+json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    /// RFC 3339 creation time.
    pub created: String,
    /// Who published it, if said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Always `wasm`.
    pub architecture: String,
    /// `wasip2` for a component.
    pub os: String,
    /// The layers' digests, in order.
    pub layer_digests: Vec<String>,
    /// The component's imports and exports.
    pub component: Option<ComponentInfo>,
}

/// A component's imports and exports, as the Wasm artifact config lists them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ComponentInfo {
    /// Exported interface names.
    pub exports: Vec<String>,
    /// Imported interface names.
    pub imports: Vec<String>,
    /// The world it targets, if known.
    pub target: Option<String>,
}

/// What a push published.
#[derive(Debug, Clone, Serialize)]
pub struct Pushed {
    /// The reference, pinned to the manifest digest.
    pub reference: String,
    /// The OCI manifest's digest: what a manifest pins.
    pub manifest_digest: String,
    /// The component's own digest (the layer).
    pub content_digest: String,
}

/// What a pull fetched.
#[derive(Debug)]
pub struct Pulled {
    /// The OCI manifest's digest.
    pub manifest_digest: String,
    /// The OCI manifest as served (its digest checked).
    pub manifest: Vec<u8>,
    /// The component's bytes, checked against the layer digest.
    pub bytes: Vec<u8>,
}

/// A registry client.
#[derive(Debug, Clone, Default)]
pub struct RegistryClient {
    /// Registries asked over plain HTTP besides loopback ones.
    insecure: Vec<String>,
}

impl RegistryClient {
    /// A client: HTTPS, except to loopback addresses and the registries in
    /// `SWITCHYARD_INSECURE_REGISTRIES` (comma-separated `host:port`).
    pub fn from_env() -> Self {
        let insecure = std::env::var("SWITCHYARD_INSECURE_REGISTRIES")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        Self { insecure }
    }

    /// The HTTP scheme `registry` is asked with.
    pub fn scheme(&self, registry: &str) -> &'static str {
        if is_loopback(registry) || self.insecure.iter().any(|i| i == registry) {
            "http"
        } else {
            "https"
        }
    }

    /// An `oci-client` for one operation on `registry`.
    fn client(&self, registry: &str) -> Client {
        let protocol = match self.scheme(registry) {
            "http" => ClientProtocol::Http,
            _ => ClientProtocol::Https,
        };
        Client::new(ClientConfig {
            protocol,
            connect_timeout: Some(std::time::Duration::from_secs(10)),
            read_timeout: Some(std::time::Duration::from_secs(60)),
            ..ClientConfig::default()
        })
    }

    fn reference(r: &OciRef) -> Reference {
        match (&r.digest, &r.tag) {
            (Some(d), _) => {
                Reference::with_digest(r.registry.clone(), r.repository.clone(), d.clone())
            }
            (None, Some(t)) => {
                Reference::with_tag(r.registry.clone(), r.repository.clone(), t.clone())
            }
            (None, None) => unreachable!("an OciRef has a tag or a digest"),
        }
    }

    fn err(r: &OciRef, e: impl std::fmt::Display) -> RegistryError {
        let raw = e.to_string();
        let unauthorized = raw.contains("401")
            || raw.contains("Not authorized")
            || raw.contains("UNAUTHORIZED")
            || raw.contains("403");
        // Registries answer with JSON error bodies: keep the first line only.
        let mut message: String = raw
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect();
        if unauthorized {
            message.push_str(
                " (no or wrong credentials: set SWITCHYARD_REGISTRY_USERNAME and SWITCHYARD_REGISTRY_PASSWORD, or `docker login`, which writes ~/.docker/config.json)",
            );
        }
        RegistryError::Registry {
            registry: r.registry.clone(),
            message,
        }
    }

    /// Publishes `bytes` at `r` (its tag; a digest in `r` is ignored) in the
    /// Wasm artifact layout, and returns the pinned reference.
    pub async fn push(
        &self,
        r: &OciRef,
        bytes: &[u8],
        info: ComponentInfo,
        annotations: BTreeMap<String, String>,
    ) -> Result<Pushed, RegistryError> {
        let auth = credentials(&r.registry);
        let content_digest = digest_of(bytes);
        let config = WasmConfig {
            created: jiff::Timestamp::now().to_string(),
            author: None,
            architecture: "wasm".into(),
            os: "wasip2".into(),
            layer_digests: vec![content_digest.clone()],
            component: Some(info),
        };
        let config = Config {
            data: serde_json::to_vec(&config).expect("the config serialises"),
            media_type: WASM_CONFIG_MEDIA_TYPE.into(),
            annotations: None,
        };
        let layer = ImageLayer {
            data: bytes.to_vec(),
            media_type: WASM_LAYER_MEDIA_TYPE.into(),
            annotations: None,
        };
        let mut manifest = OciImageManifest::build(
            std::slice::from_ref(&layer),
            &config,
            (!annotations.is_empty()).then_some(annotations),
        );
        manifest.media_type = Some(OCI_IMAGE_MEDIA_TYPE.into());
        let tagged = OciRef {
            digest: None,
            ..r.clone()
        };
        let reference = Self::reference(&tagged);
        let client = self.client(&r.registry);
        client
            .store_auth_if_needed(reference.resolve_registry(), &auth)
            .await;
        client
            .push_blob(&reference, &layer.data, &content_digest)
            .await
            .map_err(|e| Self::err(r, e))?;
        client
            .push_blob(&reference, &config.data, &manifest.config.digest)
            .await
            .map_err(|e| Self::err(r, e))?;
        let body = serde_json::to_vec(&manifest).expect("the manifest serialises");
        let manifest_digest = digest_of(&body);
        client
            .push_manifest_raw(
                &reference,
                body,
                reqwest::header::HeaderValue::from_static(OCI_IMAGE_MEDIA_TYPE),
            )
            .await
            .map_err(|e| Self::err(r, e))?;
        Ok(Pushed {
            reference: tagged.pinned(&manifest_digest).to_string(),
            manifest_digest,
            content_digest,
        })
    }

    /// Fetches the component `r` names, checking every digest on the way.
    pub async fn pull(&self, r: &OciRef) -> Result<Pulled, RegistryError> {
        let reference = Self::reference(r);
        let auth = credentials(&r.registry);
        let client = self.client(&r.registry);
        let (body, _) = client
            .pull_manifest_raw(&reference, &auth, &[OCI_IMAGE_MEDIA_TYPE])
            .await
            .map_err(|e| match e {
                oci_client::errors::OciDistributionError::DigestError(d) => {
                    RegistryError::DigestMismatch {
                        reference: r.to_string(),
                        expected: r.digest.clone().unwrap_or_default(),
                        actual: d.to_string(),
                    }
                }
                e => Self::err(r, e),
            })?;
        let actual = digest_of(&body);
        if let Some(expected) = &r.digest {
            if &actual != expected {
                return Err(RegistryError::DigestMismatch {
                    reference: r.to_string(),
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        let not_wasm = |reason: String| RegistryError::NotWasm {
            reference: r.to_string(),
            reason,
        };
        let manifest = parse_manifest(&body).map_err(not_wasm)?;
        let layer = wasm_layer(&manifest).map_err(not_wasm)?;
        if layer.size < 0 || layer.size as u64 > MAX_PULL_BYTES {
            return Err(RegistryError::TooLarge {
                reference: r.to_string(),
                bytes: layer.size,
                max: MAX_PULL_BYTES,
            });
        }
        if manifest.config.size > MAX_DOCUMENT_BYTES {
            return Err(not_wasm("its config is larger than 1 MiB".into()));
        }
        let mut bytes = Vec::with_capacity(layer.size as usize);
        client
            .pull_blob(
                &reference,
                layer,
                &mut Bounded::new(&mut bytes, layer.size as u64),
            )
            .await
            .map_err(|e| match e {
                oci_client::errors::OciDistributionError::DigestError(_) => {
                    RegistryError::DigestMismatch {
                        reference: r.to_string(),
                        expected: layer.digest.clone(),
                        actual: digest_of(&bytes),
                    }
                }
                e => Self::err(r, e),
            })?;
        // Checked again here: this is the check everything downstream
        // relies on, whatever the client library does.
        let actual = digest_of(&bytes);
        if actual != layer.digest {
            return Err(RegistryError::DigestMismatch {
                reference: r.to_string(),
                expected: layer.digest.clone(),
                actual,
            });
        }
        Ok(Pulled {
            manifest_digest: digest_of(&body),
            manifest: body,
            bytes,
        })
    }
}

/// `localhost`, `127.0.0.0/8` or `[::1]`, with or without a port.
fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => registry.rsplit_once(':').map_or(registry, |(h, _)| h),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// An OCI image manifest's text, parsed.
pub fn parse_manifest(body: &[u8]) -> Result<OciImageManifest, String> {
    serde_json::from_slice(body)
        .map_err(|e| format!("its manifest is not an OCI image manifest: {e}"))
}

/// The one `application/wasm` layer of a Wasm artifact manifest.
pub fn wasm_layer(manifest: &OciImageManifest) -> Result<&OciDescriptor, String> {
    if manifest.config.media_type != WASM_CONFIG_MEDIA_TYPE {
        return Err(format!(
            "its config is `{}`, not `{WASM_CONFIG_MEDIA_TYPE}`",
            manifest.config.media_type
        ));
    }
    match manifest.layers.as_slice() {
        [layer] if layer.media_type == WASM_LAYER_MEDIA_TYPE => Ok(layer),
        [layer] => Err(format!(
            "its layer is `{}`, not `{WASM_LAYER_MEDIA_TYPE}`",
            layer.media_type
        )),
        layers => Err(format!(
            "it has {} layers; a component artifact has exactly one",
            layers.len()
        )),
    }
}

/// Credentials for `registry`: `SWITCHYARD_REGISTRY_USERNAME` and
/// `SWITCHYARD_REGISTRY_PASSWORD` (or `SWITCHYARD_REGISTRY_TOKEN`), else the
/// Docker config file (`$DOCKER_CONFIG/config.json` or
/// `~/.docker/config.json`, credential helpers included), else anonymous.
pub fn credentials(registry: &str) -> RegistryAuth {
    if let Ok(token) = std::env::var("SWITCHYARD_REGISTRY_TOKEN") {
        return RegistryAuth::Bearer(token);
    }
    if let (Ok(user), Ok(password)) = (
        std::env::var("SWITCHYARD_REGISTRY_USERNAME"),
        std::env::var("SWITCHYARD_REGISTRY_PASSWORD"),
    ) {
        return RegistryAuth::Basic(user, password);
    }
    match docker_credential::get_credential(registry) {
        Ok(docker_credential::DockerCredential::UsernamePassword(user, password)) => {
            RegistryAuth::Basic(user, password)
        }
        Ok(docker_credential::DockerCredential::IdentityToken(token)) => {
            RegistryAuth::Bearer(token)
        }
        Err(_) => RegistryAuth::Anonymous,
    }
}

/// An async writer that refuses more than `max` bytes: a registry cannot
/// make the host buffer more than the manifest declared.
struct Bounded<'a> {
    out: &'a mut Vec<u8>,
    max: u64,
}

impl<'a> Bounded<'a> {
    fn new(out: &'a mut Vec<u8>, max: u64) -> Self {
        Self { out, max }
    }
}

impl tokio::io::AsyncWrite for Bounded<'_> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.out.len() as u64 + buf.len() as u64 > this.max {
            return std::task::Poll::Ready(Err(std::io::Error::other(format!(
                "the registry sent more than the {} bytes the manifest declares",
                this.max
            ))));
        }
        this.out.extend_from_slice(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

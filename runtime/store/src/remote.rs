//! Datastores in object stores: `s3://bucket/prefix`, `gs://bucket/prefix`
//! and `az://container/prefix`, configured the usual way (environment
//! variables and each cloud's credential chain).

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};

use crate::StoreError;

/// The longest a store request may take, retries included, before the run
/// fails with a message naming the endpoint: `MFW_STORE_TIMEOUT` seconds
/// (default 30). A frozen endpoint must not hold a run for minutes; raise
/// it to move large artifacts over a slow link.
pub(crate) fn request_bound() -> Duration {
    let seconds = std::env::var("MFW_STORE_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&s| s > 0)
        .unwrap_or(30);
    Duration::from_secs(seconds)
}

/// Retries within half the bound, so that with the last attempt's own
/// limit (the other half) a failing request ends within the bound.
fn retry() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            base: 2.0,
        },
        max_retries: 3,
        retry_timeout: request_bound() / 2,
    }
}

fn client(allow_http: bool) -> ClientOptions {
    let bound = request_bound();
    ClientOptions::new()
        .with_connect_timeout(bound.min(Duration::from_secs(5)))
        // An endpoint that stops answering mid-response is noticed between
        // reads, not only at the end of the request.
        .with_read_timeout(bound / 3)
        .with_timeout(bound / 2)
        .with_allow_http(allow_http)
}

/// The endpoint the S3 client will use, from the environment.
pub(crate) fn s3_endpoint() -> Option<String> {
    ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
}

/// Whether requests to an S3 `endpoint` (AWS's own when `None`) are kept
/// from tampering on the way: TLS, or a loopback address.
fn endpoint_is_guarded(endpoint: Option<&str>) -> bool {
    let Some(endpoint) = endpoint else {
        return true;
    };
    if endpoint.starts_with("https://") {
        return true;
    }
    let Some(rest) = endpoint.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        // [::1]:9000
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Opens `scheme://bucket/prefix`; the prefix becomes the datastore's root.
pub(crate) fn open(location: &str) -> Result<Arc<dyn ObjectStore>, StoreError> {
    let open_error = |reason: String| StoreError::Open {
        location: location.to_string(),
        reason,
    };
    let (scheme, rest) = location
        .split_once("://")
        .ok_or_else(|| open_error("not a URL".to_string()))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(open_error(format!(
            "name the bucket: {scheme}://BUCKET/optional/prefix"
        )));
    }
    let base = format!("{scheme}://{bucket}");
    let store: Arc<dyn ObjectStore> = match scheme {
        "s3" => {
            let endpoint = s3_endpoint();
            let allow_http = endpoint
                .as_deref()
                .is_some_and(|e| e.starts_with("http://"));
            let mut builder = AmazonS3Builder::from_env()
                .with_url(&base)
                .with_retry(retry())
                .with_client_options(client(allow_http));
            if let Some(endpoint) = &endpoint {
                // S3-compatible servers (MinIO...) use path-style requests.
                builder = builder
                    .with_endpoint(endpoint)
                    .with_virtual_hosted_style_request(false);
            }
            // Signing each request's body costs a SHA-256 of every byte
            // on both sides; the body needs it only where nothing else
            // guards it in flight. TLS does on https, nothing can on
            // loopback, and every read checks what it gets against its
            // blake3 anyway. AWS_UNSIGNED_PAYLOAD set either way decides.
            if std::env::var_os("AWS_UNSIGNED_PAYLOAD").is_none()
                && endpoint_is_guarded(endpoint.as_deref())
            {
                builder = builder.with_unsigned_payload(true);
            }
            if std::env::var_os("AWS_REGION").is_none()
                && std::env::var_os("AWS_DEFAULT_REGION").is_none()
            {
                builder = builder.with_region("us-east-1");
            }
            Arc::new(builder.build().map_err(|e| open_error(e.to_string()))?)
        }
        "gs" => Arc::new(
            GoogleCloudStorageBuilder::from_env()
                .with_url(&base)
                .with_retry(retry())
                .with_client_options(client(false))
                .build()
                .map_err(|e| open_error(e.to_string()))?,
        ),
        "az" | "azure" | "abfs" | "abfss" => Arc::new(
            MicrosoftAzureBuilder::from_env()
                .with_url(&base)
                .with_retry(retry())
                .with_client_options(client(false))
                .build()
                .map_err(|e| open_error(e.to_string()))?,
        ),
        other => {
            return Err(open_error(format!(
                "the `{other}` scheme is not supported; use a directory, file://, s3://, gs:// or az://"
            )));
        }
    };
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        Ok(store)
    } else {
        Ok(Arc::new(PrefixStore::new(store, Path::from(prefix))))
    }
}

#[cfg(test)]
mod tests {
    use super::endpoint_is_guarded;

    #[test]
    fn request_bodies_go_unsigned_only_over_tls_or_loopback() {
        for guarded in [
            None,
            Some("https://s3.eu-west-1.amazonaws.com"),
            Some("https://minio.example.com:9000/"),
            Some("http://127.0.0.1:9000"),
            Some("http://localhost:9000"),
            Some("http://[::1]:9000"),
            Some("http://127.0.0.1"),
        ] {
            assert!(endpoint_is_guarded(guarded), "{guarded:?}");
        }
        for open in [
            Some("http://minio.internal:9000"),
            Some("http://10.0.0.5:9000"),
            Some("http://127.0.0.1.example.com:9000"),
            Some("http://[fe80::1]:9000"),
            Some("ftp://127.0.0.1"),
        ] {
            assert!(!endpoint_is_guarded(open), "{open:?}");
        }
    }
}

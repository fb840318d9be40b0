//! A real S3 server for the tests: MinIO, built by `scripts/minio install`,
//! started here on a free loopback port with a temporary directory.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

const USER: &str = "mfwtest";
const PASSWORD: &str = "mfwtest-secret-key";

/// A running MinIO server; stopped when dropped.
pub struct Minio {
    child: Option<Child>,
    binary: PathBuf,
    data: tempfile::TempDir,
    pub port: u16,
}

fn binary() -> Option<PathBuf> {
    if let Some(explicit) = std::env::var_os("MFW_MINIO_BIN") {
        return Some(PathBuf::from(explicit));
    }
    let output = Command::new(super::repo().join("scripts/minio"))
        .arg("path")
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    path.exists().then_some(path)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Minio {
    /// Starts MinIO, or returns `None` (saying why) when it is not built
    /// here. In CI (`MFW_REQUIRE_MINIO=1`) a missing server is a failure.
    pub fn start() -> Option<Minio> {
        let Some(binary) = binary() else {
            let why = "MinIO is not built: run `scripts/minio install` to run the S3 tests";
            assert!(std::env::var_os("MFW_REQUIRE_MINIO").is_none(), "{why}");
            eprintln!("skipping: {why}");
            return None;
        };
        let mut minio = Minio {
            child: None,
            binary,
            data: tempfile::tempdir().expect("a temporary directory"),
            port: free_port(),
        };
        minio.run();
        Some(minio)
    }

    fn run(&mut self) {
        let console = free_port();
        let child = Command::new(&self.binary)
            .arg("server")
            .arg(self.data.path())
            .args(["--address", &format!("127.0.0.1:{}", self.port)])
            .args(["--console-address", &format!("127.0.0.1:{console}")])
            .env("MINIO_ROOT_USER", USER)
            .env("MINIO_ROOT_PASSWORD", PASSWORD)
            .env("MINIO_BROWSER", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("minio starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self
                .request("GET", "/minio/health/ready", "")
                .is_some_and(|(status, _)| status == 200)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("minio did not become ready on port {}", self.port);
    }

    /// Stops the server (its data stays).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): it keeps its port, and the kernel
    /// still accepts connections, but nothing answers.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Lets a frozen server run again (SIGCONT).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let status = std::process::Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status()
                .expect("kill runs");
            assert!(status.success(), "kill {signal} failed");
        }
    }

    /// Starts it again on the same port and data.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An object_store client of `bucket` on this server, for a test that
    /// looks at what is stored.
    pub fn client(&self, bucket: &str) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id(USER)
            .with_secret_access_key(PASSWORD)
            .build()
            .expect("an S3 client")
    }

    /// The environment a client needs to reach this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", USER.to_string()),
            ("AWS_SECRET_ACCESS_KEY", PASSWORD.to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("MFW_BLOB_CACHE", String::new()),
        ]
    }

    /// Creates a bucket (a SigV4-signed PUT).
    pub fn create_bucket(&self, bucket: &str) {
        // MinIO can say it is ready before it takes requests (503 "server
        // not initialized yet"), more so on a busy machine: retry a while.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, body) = self
                .request("PUT", &format!("/{bucket}"), "")
                .unwrap_or((0, "no answer".to_string()));
            if status == 200 {
                return;
            }
            assert!(
                Instant::now() < deadline && (status == 503 || status == 0),
                "creating bucket {bucket}: {status} {body}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// One signed HTTP/1.1 request; returns the status and body.
    fn request(&self, method: &str, path: &str, query: &str) -> Option<(u16, String)> {
        let host = format!("127.0.0.1:{}", self.port);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs();
        let (date, stamp) = amz_dates(now);
        let payload = hex(&Sha256::digest(b""));
        let canonical = format!(
            "{method}\n{path}\n{query}\nhost:{host}\nx-amz-content-sha256:{payload}\nx-amz-date:{stamp}\n\nhost;x-amz-content-sha256;x-amz-date\n{payload}"
        );
        let scope = format!("{date}/us-east-1/s3/aws4_request");
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        let mut key = format!("AWS4{PASSWORD}").into_bytes();
        for part in [date.as_str(), "us-east-1", "s3", "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        let signature = hex(&hmac(&key, to_sign.as_bytes()));
        let target = if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{query}")
        };
        let request = format!(
            "{method} {target} HTTP/1.1\r\nHost: {host}\r\nx-amz-date: {stamp}\r\nx-amz-content-sha256: {payload}\r\nAuthorization: AWS4-HMAC-SHA256 Credential={USER}/{scope}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={signature}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let mut stream = TcpStream::connect(&host).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        stream.write_all(request.as_bytes()).ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let status = response.split_whitespace().nth(1)?.parse().ok()?;
        let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        Some((status, body))
    }
}

impl Drop for Minio {
    fn drop(&mut self) {
        self.stop();
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length works");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `YYYYMMDD` and `YYYYMMDDTHHMMSSZ` for a Unix time (UTC).
fn amz_dates(secs: u64) -> (String, String) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    let date = format!("{y:04}{m:02}{d:02}");
    let stamp = format!(
        "{date}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    );
    (date, stamp)
}

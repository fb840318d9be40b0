//! Datastore throughput on an S3 server: one 100 MiB artifact up and down,
//! and 1,000 small artifacts up and down. `benches/s3.sh` starts MinIO on
//! loopback and runs this with `MFW_BENCH_DATASTORE=s3://bucket/prefix`.

use std::time::Instant;

use bytes::Bytes;
use futures::StreamExt;
use mfw_store::Datastore;

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn main() {
    let Ok(location) = std::env::var("MFW_BENCH_DATASTORE") else {
        eprintln!("skipping: set MFW_BENCH_DATASTORE=s3://bucket/prefix (benches/s3.sh does)");
        return;
    };
    // Measure the store, not the local cache.
    // SAFETY: set before any other thread exists.
    unsafe { std::env::set_var("MFW_BLOB_CACHE", "") };
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let store = Datastore::open(&location).expect("the datastore opens");
        store.check().await.expect("the datastore is reachable");

        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        let big = Bytes::from(pseudo_random(100 << 20, seed));
        let started = Instant::now();
        let hash = store.put_blob(big.clone()).await.expect("upload");
        let up = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let back = store.get_blob(&hash).await.expect("download");
        let down = started.elapsed().as_secs_f64();
        assert_eq!(back.len(), big.len());
        let mb = big.len() as f64 / 1e6;
        println!(
            "100 MiB artifact: upload {up:.3} s ({:.0} MB/s), download and verify {down:.3} s ({:.0} MB/s), round trip {:.0} MB/s",
            mb / up,
            mb / down,
            2.0 * mb / (up + down)
        );

        // As a task moves a large value: written a MiB at a time through
        // a value writer, read a piece at a time through a value reader
        // (other bytes, so nothing is shared with the value above).
        let streamed = Bytes::from(pseudo_random(100 << 20, seed ^ 0x5eed));
        let started = Instant::now();
        let mut writer = store.value_writer();
        for piece in streamed.chunks(1 << 20) {
            writer.write(piece).await.expect("write");
        }
        let hash = writer.finish().await.expect("upload");
        let up = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let mut reader = store.value_reader(&hash).await.expect("open");
        let mut read = 0;
        while let Some(piece) = reader.next_piece().await.expect("download") {
            read += piece.len();
        }
        let down = started.elapsed().as_secs_f64();
        assert_eq!(read, streamed.len());
        println!(
            "100 MiB artifact, streamed: upload {up:.3} s ({:.0} MB/s), download and verify {down:.3} s ({:.0} MB/s), round trip {:.0} MB/s",
            mb / up,
            mb / down,
            2.0 * mb / (up + down)
        );

        let small: Vec<Bytes> = (0..1000u64)
            .map(|i| Bytes::from(pseudo_random(64, seed ^ (i + 1))))
            .collect();
        let started = Instant::now();
        let hashes: Vec<_> = futures::stream::iter(small.iter().cloned())
            .map(|b| {
                let store = store.clone();
                async move { store.put_blob(b).await.expect("upload") }
            })
            .buffer_unordered(16)
            .collect()
            .await;
        let up = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let fetched: Vec<_> = futures::stream::iter(hashes.iter().copied())
            .map(|h| {
                let store = store.clone();
                async move { store.get_blob(&h).await.expect("download") }
            })
            .buffer_unordered(16)
            .collect()
            .await;
        let down = started.elapsed().as_secs_f64();
        assert_eq!(fetched.len(), 1000);
        println!(
            "1,000 small artifacts: upload {up:.3} s ({:.0}/s), download {down:.3} s ({:.0}/s)",
            1000.0 / up,
            1000.0 / down
        );
    });
}

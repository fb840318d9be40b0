//! `mfw ui` on a large store: 10,000 runs, one of them a foreach of
//! 10,000 tasks. Measures, as the server sees it (request in, last byte
//! out, over loopback): the runs list, the 10,000-task run page, a task
//! page, and the first read of the store when the UI starts.
//!
//! `cargo bench -p mfw-ui --bench ui_pages` (the store is made once in a
//! temporary directory, which takes a minute).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use mfw_graph::{FlowGraph, Step};
use mfw_store::{Attempt, Datastore, RunRecord, RunStatus, TaskRecord, TaskStatus};

const RUNS: usize = 10_000;
const TASKS: usize = 10_000;

fn get(addr: &str, path: &str) -> (Duration, usize) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).expect("the UI listens");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("a request");
    let mut body = Vec::new();
    stream.read_to_end(&mut body).expect("a response");
    assert!(
        body.starts_with(b"HTTP/1.1 200"),
        "{path}: {}",
        String::from_utf8_lossy(&body[..200.min(body.len())])
    );
    (started.elapsed(), body.len())
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    // MFW_BENCH_UI_STORE=DIR keeps the store there, to look at in a
    // browser with `mfw --datastore DIR ui`.
    let dir = tempfile::tempdir().expect("a directory");
    let kept = std::env::var("MFW_BENCH_UI_STORE").ok();
    let path = kept
        .clone()
        .unwrap_or_else(|| dir.path().display().to_string());
    let store = Datastore::open(&path).expect("a store");
    let graph = FlowGraph::new("WideFlow")
        .with_step(Step::foreach("start", "work", "items"))
        .with_step(Step::linear("work", ["join"]))
        .with_step(Step::join("join", ["end"]))
        .with_step(Step::end());
    let made = Instant::now();
    let big_run = runtime.block_on(async {
        let mut big = String::new();
        for i in 0..RUNS {
            let mut run = RunRecord::new(if i % 2 == 0 { "WideFlow" } else { "OtherFlow" });
            run.graph = Some(graph.clone());
            run.status = if i % 10 == 3 {
                RunStatus::Failed
            } else {
                RunStatus::Succeeded
            };
            run.finished_at = Some(run.started_at + 1000);
            run.tasks_succeeded = 4;
            run.tags = vec![format!("batch-{}", i % 7)];
            run.system_tags = vec!["user:ana".into()];
            store.create_run(&mut run).await.expect("a run");
            if i == 0 {
                big = run.run_id.clone();
            }
        }
        let now = mfw_store::now_millis();
        let tasks: Vec<_> = (0..TASKS)
            .map(|i| {
                let mut task = TaskRecord::new("WideFlow", &big, "work", &i.to_string());
                task.attempts.push(Attempt {
                    attempt: 0,
                    started_at: now + i as u64,
                    finished_at: now + i as u64 + 3,
                    status: TaskStatus::Succeeded,
                    error: None,
                    stdout: None,
                    stderr: None,
                    memory_bytes: Some(12 << 20),
                });
                task.parents = vec!["start/0".into()];
                task
            })
            .collect();
        let store = &store;
        futures::future::join_all(tasks.chunks(500).map(|chunk| async move {
            for task in chunk {
                store.write_task(task).await.expect("a task");
            }
        }))
        .await;
        big
    });
    eprintln!(
        "made {RUNS} runs and a {TASKS}-task run in {:.1} s",
        made.elapsed().as_secs_f64()
    );

    // What reading the big run's records alone takes (the run page's
    // main cost).
    let reads: Vec<Duration> = (0..5)
        .map(|_| {
            let started = Instant::now();
            let (tasks, _) = runtime
                .block_on(store.list_tasks_checked("WideFlow", &big_run))
                .expect("the tasks");
            assert_eq!(tasks["work"].len(), TASKS);
            started.elapsed()
        })
        .collect();
    let reads = median(reads);

    let started = Instant::now();
    let ui = runtime
        .block_on(mfw_ui::Ui::bind(
            store,
            mfw_ui::UiOptions {
                addr: "127.0.0.1:0".parse().expect("an address"),
                ..mfw_ui::UiOptions::default()
            },
        ))
        .expect("the UI binds");
    let start_up = started.elapsed();
    let addr = ui.local_addr().expect("an address").to_string();
    runtime.spawn(ui.serve());

    let pages = [
        ("runs list (newest 200 of 10,000)", "/".to_string()),
        (
            "runs list, one flow, one tag",
            "/?flow=WideFlow&tag=batch-3".to_string(),
        ),
        (
            "run page, 10,000 tasks",
            format!("/flows/WideFlow/runs/{big_run}"),
        ),
        (
            "task page",
            format!("/flows/WideFlow/runs/{big_run}/steps/work/tasks/4242"),
        ),
    ];
    println!("| what | median of 5 | page size |");
    println!("| --- | ---: | ---: |");
    println!(
        "| start-up: first read of {RUNS} runs | {:.0} ms | — |",
        start_up.as_secs_f64() * 1000.0
    );
    println!(
        "| of which reading the 10,000 task records | {:.0} ms | — |",
        reads.as_secs_f64() * 1000.0
    );
    for (what, path) in pages {
        let _ = get(&addr, &path);
        let runs: Vec<(Duration, usize)> = (0..5).map(|_| get(&addr, &path)).collect();
        let size = runs[0].1;
        let time = median(runs.into_iter().map(|r| r.0).collect());
        println!(
            "| {what} | {:.0} ms | {} KB |",
            time.as_secs_f64() * 1000.0,
            size / 1024
        );
    }
}

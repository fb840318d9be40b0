//! Steps in pods on a real control plane: Jobs the real Job controller
//! turns into Pods, which the `mfw-node` agent runs as `mfw worker`
//! processes, all sharing a MinIO datastore. Runs in CI; elsewhere it skips
//! (saying why) unless `scripts/k8s-build` and `scripts/minio install` ran.

#[path = "common/cluster.rs"]
mod cluster;
mod common;

use std::time::{Duration, Instant};

use cluster::{Cluster, IMAGE, SECRET, STORE};
use common::{Scratch, example, guest};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::Api;
use kube::api::ListParams;

const CLUSTER_ARGS: [&str; 4] = ["--kubernetes-image", IMAGE, "--kubernetes-secret", SECRET];

fn dump(cluster: &Cluster, scratch: &Scratch, pathspec: &str) -> serde_json::Value {
    let ran = cluster.mfw(scratch, &["dump", "--json", pathspec]).ok();
    serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}: {}", ran.stdout))
}

fn run_args<'a>(flow: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run", flow];
    args.extend_from_slice(extra);
    args.extend_from_slice(&CLUSTER_ARGS);
    args
}

#[test]
fn hello_and_wide_run_in_pods_with_the_same_results() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let scratch = Scratch::new();
    let hello = example("hello").display().to_string();
    let ran = cluster
        .mfw(&scratch, &run_args(&hello, &["--with", "kubernetes"]))
        .ok();
    // The task's output comes back from the pod through the datastore.
    assert!(
        ran.stdout
            .contains("end/0: Hello world! The value of x is 2"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stderr.contains("runs 1 start task(s) on 1 pod(s)"),
        "{}",
        ran.stderr
    );
    let run = ran.run_id();
    let end = dump(&cluster, &scratch, &format!("HelloFlow/{run}/end"));
    assert_eq!(end["tasks"][0]["artifacts"]["x"], 2);
    // Each task records the image that ran it.
    assert_eq!(end["tasks"][0]["image"], IMAGE);
    assert_eq!(
        cluster
            .pods_that_said(&format!("HelloFlow/{run} step"))
            .len(),
        2
    );

    let wide = example("wide").display().to_string();
    let ran = cluster
        .mfw(
            &scratch,
            &run_args(
                &wide,
                &[
                    "--n",
                    "1000",
                    "--with",
                    "kubernetes",
                    "--kubernetes-pods",
                    "4",
                    "--kubernetes-parallelism",
                    "2",
                ],
            ),
        )
        .ok();
    let run = ran.run_id();
    let join = dump(&cluster, &scratch, &format!("WideFlow/{run}/join"));
    assert_eq!(join["tasks"][0]["artifacts"]["total"], 999_000);
    let train = dump(&cluster, &scratch, &format!("WideFlow/{run}/double"));
    assert_eq!(train["tasks"].as_array().map(Vec::len), Some(1000));
    // The fan-out ran as one Indexed Job of four shards (two at a time),
    // each one process.
    let shards = cluster.pods_that_said(&format!("WideFlow/{run} step double: shard"));
    assert_eq!(shards.len(), 4, "{shards:?}");
    for pod in shards {
        assert!(
            cluster::stderr_of(&pod).contains("250 succeeded"),
            "{}",
            cluster::stderr_of(&pod)
        );
    }
}

#[test]
fn only_kubernetes_steps_run_in_the_cluster_when_asked() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let scratch = Scratch::new();
    let flow = guest("scheduled").display().to_string();
    // Without asking, @kubernetes is recorded and the step runs here.
    let ran = cluster.mfw(&scratch, &["run", &flow]).ok();
    assert!(
        ran.stderr.contains("step `end` asks for @kubernetes"),
        "{}",
        ran.stderr
    );
    let end = dump(
        &cluster,
        &scratch,
        &format!("ScheduledFlow/{}/end", ran.run_id()),
    );
    assert!(end["tasks"][0].get("image").is_none());

    // The same tasks again: --no-cache, or the cache would answer them.
    let ran = cluster
        .mfw(
            &scratch,
            &run_args(&flow, &["--kubernetes", "decorated", "--no-cache"]),
        )
        .ok();
    let run = ran.run_id();
    let start = dump(&cluster, &scratch, &format!("ScheduledFlow/{run}/start"));
    let end = dump(&cluster, &scratch, &format!("ScheduledFlow/{run}/end"));
    assert!(start["tasks"][0].get("image").is_none(), "start ran here");
    assert_eq!(end["tasks"][0]["image"], IMAGE, "end ran in a pod");
    let jobs: Api<Job> = Api::namespaced(cluster.client(), "default");
    let list = cluster
        .block_on(jobs.list(&ListParams::default().labels(&format!("mfw.dev/run={run}"))))
        .unwrap();
    assert_eq!(list.items.len(), 0, "jobs are deleted when the run ends");
}

#[test]
fn a_pod_killed_mid_task_is_retried_and_the_run_completes() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let scratch = Scratch::new();
    let flow = guest("resilient").display().to_string();
    let args = run_args(
        &flow,
        &[
            "--n",
            "2000",
            "--flaky_failures",
            "1",
            "-q",
            "--with",
            "kubernetes",
            "--kubernetes-pods",
            "2",
            "--kubernetes-threads",
            "1",
        ],
    );
    let mut mfw = cluster.spawn_mfw(&scratch, &args);
    // Kill the first `work` worker once it has recorded a task of its
    // shard (it says so in its log), so a replacement has some to skip.
    let (killed, pid) = cluster.wait_for_pods("/batches/work/").remove(0);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !cluster::stderr_of(&killed).contains("done so far") {
        assert!(
            Instant::now() < deadline,
            "the worker recorded no task in 2 minutes:\n{}",
            cluster::stderr_of(&killed)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "the worker was still running when killed");
    let exit = mfw.wait().unwrap();
    let log = std::fs::read_to_string(scratch.path().join("mfw.log")).unwrap_or_default();
    assert!(exit.success(), "{log}");
    // The killed pod never finished its shard; a new pod of the same index
    // skipped what it had recorded and ran the rest.
    assert!(!cluster::stderr_of(&killed).contains("succeeded,"));
    let resumed = cluster.pods_that_said("already done");
    assert!(
        resumed
            .iter()
            .any(|p| !cluster::stderr_of(p).contains(" 0 already done")),
        "no replacement pod picked up the shard"
    );
    let run = log
        .lines()
        .find_map(|l| {
            l.strip_prefix("mfw: ResilientFlow run ")?
                .strip_suffix(" started")
        })
        .expect("a run id")
        .to_string();
    let join = dump(&cluster, &scratch, &format!("ResilientFlow/{run}/join"));
    assert_eq!(
        join["tasks"][0]["artifacts"]["total"],
        3 * (1999 * 2000 / 2)
    );
    // @retry maps onto pods: the failed attempt's pod exits, the Job makes
    // another, and the record keeps both attempts.
    let flaky = dump(&cluster, &scratch, &format!("ResilientFlow/{run}/flaky"));
    assert_eq!(flaky["tasks"][0]["attempts"], 2);
    assert_eq!(
        cluster
            .pods_that_said(&format!("ResilientFlow/{run} step flaky"))
            .len(),
        2
    );
}

#[test]
fn a_cronjob_has_the_flows_schedule_and_triggering_it_runs_the_flow() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let scratch = Scratch::new();
    let flow = guest("scheduled").display().to_string();
    let mut deploy = vec!["kubernetes", "deploy", flow.as_str()];
    deploy.extend_from_slice(&CLUSTER_ARGS);
    let ran = cluster.mfw(&scratch, &deploy).ok();
    assert!(
        ran.stderr.contains("cronjob default/mfw-scheduledflow"),
        "{}",
        ran.stderr
    );

    let crons: Api<CronJob> = Api::namespaced(cluster.client(), "default");
    let cron = cluster.block_on(crons.get("mfw-scheduledflow")).unwrap();
    let spec = cron.spec;
    assert_eq!(spec.schedule, "*/10 * * * *");
    assert_eq!(spec.time_zone.as_deref(), Some("Europe/Paris"));
    let pod = spec.job_template.spec.unwrap().template.spec.unwrap();
    let container = &pod.containers[0];
    assert_eq!(container.image.as_deref(), Some(IMAGE));
    let command = container.command.clone().unwrap().join(" ");
    assert!(
        command.contains(&format!("--datastore {STORE} run package:")),
        "{command}"
    );
    let secret = container.env_from.as_ref().unwrap()[0]
        .secret_ref
        .as_ref()
        .unwrap();
    assert_eq!(secret.name, SECRET);

    let listed = cluster.mfw(&scratch, &["kubernetes", "list"]).ok();
    assert!(
        listed.stdout.contains("mfw-scheduledflow"),
        "{}",
        listed.stdout
    );
    assert!(listed.stdout.contains("*/10 * * * *"), "{}", listed.stdout);

    // Triggered, the CronJob's pod runs the stored package, and its
    // @kubernetes step as a Job of its own.
    cluster
        .mfw(
            &scratch,
            &["kubernetes", "trigger", "mfw-scheduledflow", "--wait"],
        )
        .ok();
    let runs = cluster.mfw(&scratch, &["runs", "ScheduledFlow"]).ok();
    let run = runs
        .stdout
        .lines()
        .find(|l| l.contains("succeeded"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or_else(|| panic!("no succeeded run: {}", runs.stdout))
        .to_string();
    let end = dump(&cluster, &scratch, &format!("ScheduledFlow/{run}/end"));
    assert_eq!(end["tasks"][0]["image"], IMAGE);
    assert_eq!(end["tasks"][0]["artifacts"]["greeting"], "scheduled hello");

    cluster
        .mfw(&scratch, &["kubernetes", "delete", "mfw-scheduledflow"])
        .ok();
    let listed = cluster.mfw(&scratch, &["kubernetes", "list"]).ok();
    assert!(
        !listed.stdout.contains("mfw-scheduledflow"),
        "{}",
        listed.stdout
    );
}

#[test]
fn ctrl_c_deletes_the_jobs_the_run_created() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let scratch = Scratch::new();
    let flow = guest("resilient").display().to_string();
    let args = run_args(
        &flow,
        &[
            "--n",
            "5000",
            "-q",
            "--with",
            "kubernetes",
            "--kubernetes-threads",
            "1",
        ],
    );
    let mut mfw = cluster.spawn_mfw(&scratch, &args);
    let workers = cluster.wait_for_pods("/batches/work/");
    std::process::Command::new("kill")
        .args(["-INT", &mfw.id().to_string()])
        .status()
        .unwrap();
    let exit = mfw.wait().unwrap();
    assert_eq!(exit.code(), Some(130));
    let jobs: Api<Job> = Api::namespaced(cluster.client(), "default");
    let remaining = |deadline: Instant| loop {
        let list = cluster
            .block_on(jobs.list(&ListParams::default().labels("mfw.dev/flow")))
            .unwrap();
        if list.items.is_empty() || Instant::now() > deadline {
            return list.items.len();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(remaining(Instant::now() + Duration::from_secs(30)), 0);
    // Deleting the Job deleted its pods, and the agent stopped them.
    let deadline = Instant::now() + Duration::from_secs(30);
    while workers
        .iter()
        .any(|(_, pid)| std::path::Path::new(&format!("/proc/{pid}")).exists())
    {
        assert!(
            Instant::now() < deadline,
            "worker processes outlived their Job"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let runs = cluster.mfw(&scratch, &["runs", "ResilientFlow"]).ok();
    assert!(runs.stdout.contains("interrupted"), "{}", runs.stdout);
}

#[test]
fn a_missing_context_missing_rbac_or_local_store_are_clear_errors() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let scratch = Scratch::new();
    let hello = example("hello").display().to_string();
    let args = run_args(&hello, &["--with", "kubernetes"]);

    let empty_home = tempfile::tempdir().unwrap();
    let mut env = cluster.env();
    env.retain(|(k, _)| *k != "KUBECONFIG");
    env.push((
        "KUBECONFIG",
        empty_home.path().join("none").display().to_string(),
    ));
    env.push(("HOME", empty_home.path().display().to_string()));
    let mut all = vec!["--datastore", STORE];
    all.extend_from_slice(&args);
    let ran = scratch.mfw_env(&all, &env).failed();
    assert!(
        ran.stderr.contains("no Kubernetes cluster to use"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("KUBECONFIG"), "{}", ran.stderr);

    let mut env = cluster.env();
    env.retain(|(k, _)| *k != "KUBECONFIG");
    env.push((
        "KUBECONFIG",
        cluster.noperm_kubeconfig().display().to_string(),
    ));
    let ran = scratch.mfw_env(&all, &env).failed();
    assert!(
        ran.stderr
            .contains("refused to let mfw create/get/delete jobs in namespace `default`"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("docs/kubernetes.md"), "{}", ran.stderr);

    // The pods could not reach a store on this machine's disk.
    let ran = scratch.mfw_env(&args, &cluster.env()).failed();
    assert!(
        ran.stderr.contains("need a datastore the pods can reach"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("--datastore s3://"), "{}", ran.stderr);
}

const UPSTREAM: &str = "\
from mfw import FlowSpec, step


class UpKubeFlow(FlowSpec):
    @step
    def start(self):
        self.model = {'w': 5}
        self.next(self.end)

    @step
    def end(self):
        pass
";

const DOWNSTREAM: &str = "\
from mfw import FlowSpec, current, step, trigger_on_finish


@trigger_on_finish(flow='UpKubeFlow')
class ServeKubeFlow(FlowSpec):
    @step
    def start(self):
        run = current.trigger.run
        self.model_run = run.id
        self.w = run.data.model['w']
        self.next(self.end)

    @step
    def end(self):
        pass
";

#[test]
fn a_flow_deployed_in_the_cluster_runs_there_when_its_upstream_succeeds() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let scratch = Scratch::new();
    let up = scratch.write("up/flow.py", UPSTREAM).display().to_string();
    let serve = scratch
        .write("serve/flow.py", DOWNSTREAM)
        .display()
        .to_string();
    let mut deploy = vec!["kubernetes", "deploy", serve.as_str()];
    deploy.extend_from_slice(&CLUSTER_ARGS);
    let deployed = cluster.mfw(&scratch, &deploy).ok();
    assert!(
        deployed
            .stderr
            .contains("deployed ServeKubeFlow as cronjob default/mfw-servekubeflow"),
        "{}",
        deployed.stderr
    );
    // The CronJob only holds the job: it never runs on a schedule.
    let crons: Api<CronJob> = Api::namespaced(cluster.client(), "default");
    let cron = cluster.block_on(crons.get("mfw-servekubeflow")).unwrap();
    assert_eq!(cron.spec.suspend, Some(true));

    // The upstream run, here; its success starts a Job in the cluster.
    let ran = cluster.mfw(&scratch, &["run", up.as_str()]).ok();
    let up_id = ran.run_id();
    assert!(
        ran.stderr.contains(&format!(
            "run UpKubeFlow/{up_id} starts ServeKubeFlow as job default/"
        )),
        "{}",
        ran.stderr
    );
    let deadline = Instant::now() + Duration::from_secs(180);
    let run = loop {
        let runs = cluster.mfw(&scratch, &["runs", "ServeKubeFlow"]);
        if let Some(run) = runs
            .stdout
            .lines()
            .find(|l| l.contains("succeeded"))
            .and_then(|l| l.split_whitespace().nth(1))
        {
            break run.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "ServeKubeFlow did not succeed: {}{}",
            runs.stdout,
            runs.stderr
        );
        std::thread::sleep(Duration::from_secs(2));
    };
    let start = dump(&cluster, &scratch, &format!("ServeKubeFlow/{run}/start"));
    assert_eq!(start["tasks"][0]["artifacts"]["model_run"], up_id.as_str());
    assert_eq!(start["tasks"][0]["artifacts"]["w"], 5);
    assert_eq!(start["tasks"][0]["image"], IMAGE);

    // No laptop: the upstream, scheduled in the cluster and run there,
    // starts ServeKubeFlow from its own pod.
    let scheduled_up = scratch
        .write(
            "scheduled-up/flow.py",
            &UPSTREAM.replace(
                "from mfw import FlowSpec, step\n\n\nclass",
                "from mfw import FlowSpec, schedule, step\n\n\n@schedule(daily=True)\nclass",
            ),
        )
        .display()
        .to_string();
    let mut deploy = vec!["kubernetes", "deploy", scheduled_up.as_str()];
    deploy.extend_from_slice(&CLUSTER_ARGS);
    cluster.mfw(&scratch, &deploy).ok();
    cluster
        .mfw(
            &scratch,
            &["kubernetes", "trigger", "mfw-upkubeflow", "--wait"],
        )
        .ok();
    let newest_up = cluster
        .mfw(&scratch, &["runs", "UpKubeFlow"])
        .ok()
        .stdout
        .lines()
        .filter(|l| l.contains("succeeded"))
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .max_by_key(|id| (id.len(), id.clone()))
        .expect("the scheduled run succeeded");
    assert_ne!(newest_up, up_id);
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let runs = cluster
            .mfw(&scratch, &["runs", "ServeKubeFlow"])
            .ok()
            .stdout;
        let served: Vec<String> = runs
            .lines()
            .filter(|l| l.contains("succeeded"))
            .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
            .collect();
        let from_pod = served.iter().any(|run| {
            let start = dump(&cluster, &scratch, &format!("ServeKubeFlow/{run}/start"));
            start["tasks"][0]["artifacts"]["model_run"] == newest_up.as_str()
        });
        if from_pod {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no ServeKubeFlow run read {newest_up}: {runs}"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    cluster
        .mfw(&scratch, &["kubernetes", "delete", "mfw-upkubeflow"])
        .ok();

    // Undeployed: the record and the CronJob are gone.
    cluster.mfw(&scratch, &["undeploy", "ServeKubeFlow"]).ok();
    assert!(cluster.block_on(crons.get("mfw-servekubeflow")).is_err());
    let listed = cluster.mfw(&scratch, &["deployments"]).ok();
    assert!(
        !listed.stdout.contains("ServeKubeFlow"),
        "{}",
        listed.stdout
    );
}

/// What a task in a pod prints reaches the datastore while it runs (its
/// live log), as a local task's does, so `mfw ui` can show it.
#[test]
fn a_pod_tasks_output_is_stored_while_it_runs() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let scratch = Scratch::new();
    let flow = guest("faulty").display().to_string();
    let args = run_args(
        &flow,
        &["--mode", "spin", "--timeout", "120", "--with", "kubernetes"],
    );
    let mut mfw = cluster.spawn_mfw(&scratch, &args);
    let _spinning = cluster.wait_for_pods("/batches/fail/");
    let store = mfw_store::Datastore::with_backend(
        std::sync::Arc::new(object_store::prefix::PrefixStore::new(
            cluster.minio.client("runs"),
            "team",
        )),
        STORE,
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let log = loop {
        let found = cluster.block_on(async {
            let run = store.list_run_ids("FaultyFlow").await.ok()?.pop()?;
            store.live_log("FaultyFlow", &run, "fail", "0").await.ok()?
        });
        if let Some(log) = found {
            break log;
        }
        assert!(
            Instant::now() < deadline,
            "the pod's task never stored its output"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    // Interrupted, the run deletes its Jobs (and so the spinning pod).
    std::process::Command::new("kill")
        .args(["-INT", &mfw.id().to_string()])
        .status()
        .expect("kill runs");
    let _ = mfw.wait();
    assert_eq!(log.stdout, "spinning\n");
}

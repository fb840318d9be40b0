//! Scheduled flows: `@schedule` becomes a CronJob whose pods run the flow
//! (`mfw run` of its stored components) in the cluster.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams, PropagationPolicy};
use serde_json::json;

use crate::jobs::JobSpec;
use crate::{Cluster, KubeError};

/// The label every mfw CronJob carries, naming its flow.
pub const FLOW_LABEL: &str = "mfw.dev/flow";

/// A cron schedule from `@schedule` options (JSON texts): `hourly`,
/// `daily`, `weekly` or `cron`.
///
/// ```
/// use mfw_kubernetes::cron::schedule;
/// assert_eq!(schedule(&[("daily".into(), "true".into())]).unwrap(), "0 0 * * *");
/// assert_eq!(schedule(&[("cron".into(), "\"*/5 * * * *\"".into())]).unwrap(), "*/5 * * * *");
/// ```
pub fn schedule(options: &[(String, String)]) -> Result<String, KubeError> {
    let get = |key: &str| {
        options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    if let Some(cron) = get("cron") {
        let cron: String = serde_json::from_str(cron).map_err(|_| {
            KubeError::Decorator(format!("@schedule(cron={cron}) must be a string"))
        })?;
        if cron.split_whitespace().count() != 5 {
            return Err(KubeError::Decorator(format!(
                "@schedule(cron=\"{cron}\") is not a five-field cron expression"
            )));
        }
        return Ok(cron);
    }
    if get("hourly") == Some("true") {
        return Ok("0 * * * *".to_string());
    }
    if get("weekly") == Some("true") {
        return Ok("0 0 * * 0".to_string());
    }
    if get("daily") != Some("false") {
        return Ok("0 0 * * *".to_string());
    }
    Err(KubeError::Decorator(
        "@schedule needs one of hourly=True, daily=True, weekly=True or cron='...'".to_string(),
    ))
}

/// A schedule that never comes due on its own: a triggered flow's CronJob
/// is suspended, a template its triggers start jobs from.
pub const TRIGGERED_ONLY: &str = "0 0 1 1 *";

/// Creates or replaces the CronJob `name`, whose jobs run `job`: on
/// `schedule`, or only when triggered (`schedule` `None`: the CronJob is
/// suspended and holds the job's template).
pub async fn deploy(
    cluster: &Cluster,
    name: &str,
    flow: &str,
    schedule: Option<&str>,
    timezone: Option<&str>,
    job: &JobSpec,
) -> Result<CronJob, KubeError> {
    let template = job.to_job()?;
    let mut labels: BTreeMap<String, String> = job.labels.clone();
    labels.insert(FLOW_LABEL.to_string(), flow.to_string());
    let mut spec = json!({
        "schedule": schedule.unwrap_or(TRIGGERED_ONLY),
        "suspend": schedule.is_none(),
        "concurrencyPolicy": "Forbid",
        "jobTemplate": {"metadata": {"labels": labels}, "spec": template.spec},
    });
    if let Some(tz) = timezone {
        spec["timeZone"] = json!(tz);
    }
    let cron: CronJob = serde_json::from_value(json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
    }))
    .map_err(|source| KubeError::Describe {
        what: format!("cronjob {name}"),
        source,
    })?;
    let crons: Api<CronJob> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let _ = crons.delete(name, &DeleteParams::default()).await;
    crons
        .create(&PostParams::default(), &cron)
        .await
        .map_err(|e| KubeError::from_kube(e, "create cronjobs").in_namespace(&cluster.namespace))
}

/// Every mfw CronJob in the namespace.
pub async fn list(cluster: &Cluster) -> Result<Vec<CronJob>, KubeError> {
    let crons: Api<CronJob> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    crons
        .list(&ListParams::default().labels(FLOW_LABEL))
        .await
        .map(|list| list.items)
        .map_err(|e| KubeError::from_kube(e, "list cronjobs").in_namespace(&cluster.namespace))
}

/// Runs the CronJob `name` now, as `kubectl create job --from=cronjob/...`
/// does, with `extra_args` after its command (what started it); returns
/// the Job's name.
pub async fn trigger(
    cluster: &Cluster,
    name: &str,
    extra_args: &[String],
) -> Result<String, KubeError> {
    let crons: Api<CronJob> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let cron = crons
        .get(name)
        .await
        .map_err(|e| KubeError::from_kube(e, "read cronjobs").in_namespace(&cluster.namespace))?;
    let mut template = cron.spec.job_template;
    if let Some(container) = template
        .spec
        .as_mut()
        .and_then(|job| job.template.spec.as_mut())
        .and_then(|pod| pod.containers.first_mut())
    {
        container
            .command
            .get_or_insert_with(Vec::new)
            .extend(extra_args.iter().cloned());
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let job_name = crate::object_name(&[name, "manual", &stamp.to_string()]);
    let job: Job = serde_json::from_value(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name,
            "labels": template.metadata.as_ref().and_then(|m| m.labels.clone()),
            "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
        },
        "spec": template.spec,
    }))
    .map_err(|source| KubeError::Describe {
        what: format!("job {job_name}"),
        source,
    })?;
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    jobs.create(&PostParams::default(), &job)
        .await
        .map_err(|e| KubeError::from_kube(e, "create jobs").in_namespace(&cluster.namespace))?;
    Ok(job_name)
}

/// Deletes the CronJob `name` and the jobs it made.
pub async fn delete(cluster: &Cluster, name: &str) -> Result<(), KubeError> {
    let crons: Api<CronJob> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    crons
        .delete(name, &params)
        .await
        .map(|_| ())
        .map_err(|e| KubeError::from_kube(e, "delete cronjobs").in_namespace(&cluster.namespace))
}

//! Native Python packages in sandboxed steps: numpy (and pandas) built for
//! the component by mfw's wheel recipe, their results compared with the
//! same code in the build machine's CPython with the PyPI wheels.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Scratch;

/// A test flow's directory: tests/native/<name>, holding flow.py and the
/// module whose `compute()` it stores.
fn native_dir(name: &str) -> std::path::PathBuf {
    common::repo().join("tests/native").join(name)
}

/// Runs `module.compute()` from tests/native/<dir> in the Python at `python`
/// (the build machine's `python3`, with numpy and pandas from PyPI, or a
/// virtualenv: scripts/setup makes both) and returns its JSON.
fn natively_in(python: &Path, dir: &str, module: &str) -> serde_json::Value {
    let output = Command::new(python)
        .arg("-c")
        .arg(format!(
            "import json, {module}; print(json.dumps({module}.compute()))"
        ))
        .env("PYTHONPATH", native_dir(dir))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "the native run in {} failed (scripts/setup installs numpy and pandas, and \
         scikit-learn in a virtualenv of its own): {}",
        python.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON from the native run")
}

/// Runs tests/native/<dir>/flow.py, checks its end step printed `printed`,
/// and compares the `results` its start step stored with `module.compute()`
/// run natively.
fn compare_with_native(dir: &str, module: &str, flow_name: &str, printed: &str) -> Scratch {
    compare_with_native_in(Path::new("python3"), dir, module, flow_name, printed).scratch
}

/// A compared run: its scratch directory, and its start step's artifacts
/// (`mfw dump --json`).
struct Compared {
    scratch: Scratch,
    start: serde_json::Value,
}

/// [`compare_with_native`], natively in the Python at `python`.
fn compare_with_native_in(
    python: &Path,
    dir: &str,
    module: &str,
    flow_name: &str,
    printed: &str,
) -> Compared {
    let scratch = Scratch::new();
    let flow = native_dir(dir).join("flow.py");
    let ran = scratch.mfw(["run".as_ref(), flow.as_os_str()]).ok();
    assert!(ran.stdout.contains(printed), "{}", ran.stdout);
    let run = ran.run_id();
    let start = scratch.dump(&format!("{flow_name}/{run}/start"));
    let results =
        find_key(&start, "results").unwrap_or_else(|| panic!("no results artifact in {start}"));
    assert_close("results", results, &natively_in(python, dir, module));
    Compared { scratch, start }
}

/// `mfw show --env` of tests/native/<dir>/flow.py: its lock.
fn show_env(scratch: &Scratch, dir: &str) -> String {
    let flow = native_dir(dir).join("flow.py");
    scratch
        .mfw(["show".as_ref(), "--env".as_ref(), flow.as_os_str()])
        .ok()
        .stdout
}

/// Asserts `got` equals `want`: exact for integers, strings and lists of
/// them; floats within 1e-9 relative (1e-12 absolute near zero).
fn assert_close(path: &str, got: &serde_json::Value, want: &serde_json::Value) {
    use serde_json::Value;
    match (got, want) {
        (Value::Number(g), Value::Number(w)) if g.is_f64() || w.is_f64() => {
            let (g, w) = (g.as_f64().unwrap(), w.as_f64().unwrap());
            let tolerance = (w.abs() * 1e-9).max(1e-12);
            assert!(
                (g - w).abs() <= tolerance,
                "{path}: {g} in the step, {w} natively"
            );
        }
        (Value::Array(g), Value::Array(w)) => {
            assert_eq!(g.len(), w.len(), "{path}: lengths differ");
            for (i, (g, w)) in g.iter().zip(w).enumerate() {
                assert_close(&format!("{path}[{i}]"), g, w);
            }
        }
        (Value::Object(g), Value::Object(w)) => {
            let mut keys: Vec<_> = g.keys().collect();
            keys.sort();
            let mut want_keys: Vec<_> = w.keys().collect();
            want_keys.sort();
            assert_eq!(keys, want_keys, "{path}: keys differ");
            for key in keys {
                assert_close(&format!("{path}.{key}"), &g[key], &w[key]);
            }
        }
        _ => assert_eq!(got, want, "{path}"),
    }
}

#[test]
fn numpy_in_a_step_computes_what_native_numpy_computes() {
    let scratch = compare_with_native(
        "numpy",
        "kernels",
        "NumpyKernelsFlow",
        "end/0: numpy 2.3.5 sum",
    );
    // The lock names the wheel mfw built and what it was built from.
    let env = show_env(&scratch, "numpy");
    assert!(env.contains("numpy 2.3.5"), "{env}");
    assert!(env.contains("built from source sha256:784db1dc"), "{env}");
}

#[test]
fn pandas_in_a_step_computes_what_native_pandas_computes() {
    let scratch = compare_with_native(
        "pandas",
        "frames",
        "PandasFramesFlow",
        "end/0: pandas 2.3.3 rows",
    );
    // pandas brings numpy (built too) and its pure-Python dependencies.
    let env = show_env(&scratch, "pandas");
    for package in [
        "numpy 2.3.5",
        "pandas 2.3.3",
        "python-dateutil",
        "pytz",
        "tzdata",
    ] {
        assert!(env.contains(package), "{package}: {env}");
    }
}

#[test]
fn scipy_in_a_step_computes_what_numpy_and_math_compute() {
    // scipy 1.18 cannot be installed in the build machine's Python (3.11):
    // expected.py computes the same quantities with numpy and math.
    let scratch = compare_with_native(
        "scipy",
        "expected",
        "ScipyKernelsFlow",
        "end/0: scipy 1.18.1 solve [1.0, -2.0, 3.0] minimum [1.0, -2.0]",
    );
    // scipy brings numpy, and is built against the recipe's OpenBLAS.
    let env = show_env(&scratch, "scipy");
    for package in [
        "numpy 2.3.5",
        "scipy 1.18.1",
        "built from source sha256:52c4b742",
    ] {
        assert!(env.contains(package), "{package}: {env}");
    }
}

/// The Python of the virtualenv scripts/setup makes with scikit-learn 1.9.1
/// from PyPI (with numpy 2.3.5 and the newest scipy for the build machine's
/// Python), apart from the user's Python.
fn sklearn_python() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache"));
    let python = cache.join("mfw/native/scikit-learn-1.9.1/bin/python");
    assert!(
        python.exists(),
        "{} is missing: scripts/setup makes it (native scikit-learn 1.9.1)",
        python.display()
    );
    python
}

#[test]
fn sklearn_in_a_step_fits_what_native_sklearn_fits() {
    let python = sklearn_python();
    // A random forest, linear and logistic regression, a scaler, a split and
    // KMeans, compared with the same code run by native scikit-learn.
    // The end step unpickled the forest, which predicted the same there.
    let Compared { scratch, start } = compare_with_native_in(
        &python,
        "sklearn",
        "models",
        "SklearnModelsFlow",
        "end/0: scikit-learn 1.9.1 unpickled forest predicts the same: True in a pandas 2.3.3 frame",
    );

    // Every scikit-learn module that imports natively is in the snapshot.
    let snapshot = find_key(&start, "sklearn_modules").expect("sklearn_modules in start");
    let native = natively_in(&python, "sklearn", "modules");
    let missing: Vec<&serde_json::Value> = native
        .as_array()
        .expect("a list of modules")
        .iter()
        .filter(|m| !snapshot.as_array().unwrap().contains(m))
        .collect();
    assert!(
        missing.is_empty(),
        "modules that import natively but not in the component: {missing:?}"
    );

    // The pickled forest loads in native CPython with scikit-learn and
    // predicts what it predicted in the step.
    let predicted = sklearn_natively(
        &scratch,
        &native_dir("sklearn"),
        "import json, models\n\
         from mfw import Flow\n\
         model = Flow('SklearnModelsFlow').latest_run['start'].task.data.model\n\
         x_test, _ = models.test_split()\n\
         print(json.dumps(model.predict(x_test).tolist()))",
    );
    let stored = find_key(&start, "forest_predictions").expect("forest_predictions in start");
    assert_close("pickled forest", &predicted, stored);
    // scikit-learn brings numpy and scipy (built) and its pure dependencies.
    let env = show_env(&scratch, "sklearn");
    for package in [
        "numpy 2.3.5",
        "scipy 1.18.1",
        "scikit-learn 1.9.1",
        "built from source sha256:629cada3",
        "joblib 1.6.0",
        "threadpoolctl 3.8.0",
        "narwhals 2.29.0",
    ] {
        assert!(env.contains(package), "{package}: {env}");
    }
}

/// Runs `code` in the native scikit-learn virtualenv, in `scratch` (its
/// datastore) with the SDK and `dir` importable; returns its JSON.
fn sklearn_natively(scratch: &Scratch, dir: &Path, code: &str) -> serde_json::Value {
    let python = sklearn_python();
    let output = Command::new(&python)
        .arg("-c")
        .arg(code)
        .current_dir(scratch.path())
        .env(
            "PYTHONPATH",
            std::env::join_paths([common::repo().join("guest-sdks/python/src"), dir.into()])
                .unwrap(),
        )
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("MFW_DATASTORE", scratch.path().join(".mfw"))
        .output()
        .expect("the virtualenv's python runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON from the native run")
}

/// `mfw replay` of the whole run: every task, numpy, pandas and
/// scikit-learn included, computes again exactly what was stored.
fn assert_replays_identically(scratch: &Scratch, flow: &str, run: &str) {
    let ran = scratch.mfw(["replay", "--json", &format!("{flow}/{run}")]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let tasks: Vec<serde_json::Value> =
        serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}: {}", ran.stdout));
    assert!(!tasks.is_empty(), "{flow}/{run}: nothing replayed");
    for task in &tasks {
        assert_eq!(task["verdict"], "identical", "{flow}: {task}");
    }
}

#[test]
fn the_train_example_keeps_the_forest_native_scikit_learn_scores_best() {
    // Metaflow's train flow (examples/train/python): a forest per size in a
    // foreach, the join keeps the lowest rmse.
    let scratch = Scratch::new();
    let example = common::repo().join("examples/train/python");
    let ran = scratch
        .mfw(["run".as_ref(), example.join("train.py").as_os_str()])
        .ok();
    let run = ran.run_id();
    let join = scratch.dump(&format!("TrainFlow/{run}/join/0"));
    let rmses = &join["artifacts"]["rmses"];
    let best = &join["artifacts"]["best_rmse"];
    // The same forests, fitted natively on the same data, score the same.
    let native = sklearn_natively(
        &scratch,
        &example,
        "import json, data\n\
         from sklearn.ensemble import RandomForestRegressor\n\
         X, y, X_test, y_test = data.make_data()\n\
         fit = lambda n: RandomForestRegressor(n_estimators=n, random_state=0).fit(X, y)\n\
         rmses = [data.rmse(fit(n), X_test, y_test) for n in (16, 32, 64)]\n\
         print(json.dumps({'rmses': rmses, 'best': min(rmses)}))",
    );
    assert_close("rmses", rmses, &native["rmses"]);
    assert_close("best rmse", best, &native["best"]);
    assert!(
        ran.stdout.contains(&format!(
            "end/0: best rmse: {:.6}",
            native["best"].as_f64().unwrap()
        )),
        "{}",
        ran.stdout
    );
    // The forests are artifacts: a notebook with scikit-learn loads them
    // through the client and they score what they scored in the step.
    let loaded = sklearn_natively(
        &scratch,
        &example,
        "import json, data\n\
         from mfw import Flow\n\
         _, _, X_test, y_test = data.make_data()\n\
         tasks = sorted(Flow('TrainFlow').latest_run['train'], key=lambda t: t.data.model.n_estimators)\n\
         print(json.dumps([data.rmse(t.data.model, X_test, y_test) for t in tasks]))",
    );
    assert_close("loaded forests", &loaded, &native["rmses"]);
    assert_replays_identically(&scratch, "TrainFlow", &run);
}

/// What `mfw build` says of a flow pinning `name==version`.
fn build_error_pinning(name: &str, version: &str) -> String {
    let scratch = Scratch::new();
    let flow = scratch.write(
        "f/flow.py",
        &format!(
            "\
from mfw import FlowSpec, pypi_base, step


@pypi_base(packages={{'{name}': '{version}'}})
class F(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass
"
        ),
    );
    scratch
        .mfw(["build".as_ref(), flow.as_os_str()])
        .failed()
        .stderr
}

#[test]
fn a_native_package_without_a_recipe_is_named_with_what_to_do() {
    let stderr = build_error_pinning("pyyaml", "6.0.2");
    assert!(
        stderr.contains(
            "package pyyaml==6.0.2 has native code, and mfw's wheel recipe does not build it"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("numpy 2.3.5"), "{stderr}");
}

#[test]
fn a_version_the_recipe_does_not_build_names_the_ones_it_does() {
    let stderr = build_error_pinning("numpy", "1.26.4");
    assert!(
        stderr.contains(
            "package numpy==1.26.4: numpy==1.26.4 has no recipe: it builds numpy 2.3.5; pin one of those"
        ),
        "{stderr}"
    );
}

#[test]
fn the_movie_stats_example_gives_native_pandas_quartiles() {
    let scratch = Scratch::new();
    let flow = common::repo().join("examples/tutorials/02-statistics/stats.py");
    let ran = scratch.mfw(["run".as_ref(), flow.as_os_str()]).ok();
    assert!(
        ran.stdout.contains("movies, median gross"),
        "{}",
        ran.stdout
    );
    let run = ran.run_id();
    let end = scratch.dump(&format!("MovieStatsFlow/{run}/end"));
    let stats = find_key(&end, "genre_stats").expect("genre_stats in the end step");
    let native = Command::new("python3")
        .arg("-c")
        .arg(
            "import json, sys, pandas\n\
             df = pandas.read_csv(sys.argv[1])\n\
             df['genre'] = df['genres'].str.split('|')\n\
             df = df.explode('genre')\n\
             print(json.dumps({g: {'count': int(len(m)), 'quartiles': \
             m['gross'].quantile([0.25, 0.5, 0.75]).tolist()} for g, m in df.groupby('genre')}))",
        )
        .arg(flow.with_file_name("movies.csv"))
        .output()
        .expect("python3 runs");
    assert!(
        native.status.success(),
        "{}",
        String::from_utf8_lossy(&native.stderr)
    );
    let want: serde_json::Value = serde_json::from_slice(&native.stdout).unwrap();
    assert_close("genre_stats", stats, &want);
    // Each foreach task stored its quartiles as a numpy array, not a pickle.
    let task = scratch.dump(&format!("MovieStatsFlow/{run}/compute_statistics"));
    let quartiles = find_key(&task, "quartiles").expect("quartiles in compute_statistics");
    assert_eq!(quartiles["$ndarray"]["dtype"], "float64", "{quartiles}");
    assert_eq!(
        quartiles["$ndarray"]["shape"],
        serde_json::json!([3]),
        "{quartiles}"
    );
    assert_replays_identically(&scratch, "MovieStatsFlow", &run);
}

/// The first value under `key` anywhere in `mfw dump --json` output.
fn find_key<'a>(dumped: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    match dumped {
        serde_json::Value::Object(map) => map
            .get(key)
            .or_else(|| map.values().find_map(|v| find_key(v, key))),
        serde_json::Value::Array(items) => items.iter().find_map(|v| find_key(v, key)),
        _ => None,
    }
}

#[test]
fn packages_read_their_own_data_files_read_only() {
    let scratch = Scratch::new();
    let flow = native_dir("data").join("flow.py");
    let ran = scratch.mfw(["run".as_ref(), flow.as_os_str()]).ok();
    // zoneinfo through tzdata (America/New_York in July: UTC-4), pytz's own
    // zone files (Tokyo: UTC+9) and installed metadata.
    assert!(
        ran.stdout.contains("end/0: offsets -4.0 9.0 tzdata 2025.2"),
        "{}",
        ran.stdout
    );
    let start = scratch.dump(&format!("PackageDataFlow/{}/start", ran.run_id()));
    assert_eq!(
        find_key(&start, "write_refused"),
        Some(&serde_json::json!(true)),
        "{start}"
    );
}

#[test]
fn a_rust_step_reads_a_pandas_frame_and_python_reads_the_rust_table() {
    let scratch = Scratch::new();
    let example = common::repo().join("examples/frames");
    let ran = scratch.mfw(["run".as_ref(), example.as_os_str()]).ok();
    let run = ran.run_id();
    // The same readings, summarised by native pandas.
    let native = Command::new("python3")
        .arg("-c")
        .arg(
            "import json, readings\n\
             df = readings.make()\n\
             g = df.groupby('city')\n\
             print(json.dumps({'city': list(g.groups), 'readings': g.size().tolist(), \
             'mean_temperature': g['temperature'].mean().tolist(), \
             'rainy_hours': g['rain'].sum().tolist(), \
             'spread': float(df['temperature'].max() - df['temperature'].min())}))",
        )
        .env("PYTHONPATH", &example)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 runs");
    assert!(
        native.status.success(),
        "{}",
        String::from_utf8_lossy(&native.stderr)
    );
    let mut want: serde_json::Value = serde_json::from_slice(&native.stdout).unwrap();
    let spread = want["spread"].take();

    // The DataFrame was stored as an Arrow table with pandas' column types.
    let start = scratch.dump(&format!("FramesFlow/{run}/start"));
    let readings = &find_key(&start, "readings").expect("readings in start")["$table"];
    assert_eq!(readings["rows"], 1000, "{readings}");
    assert_eq!(
        readings["types"],
        serde_json::json!({"city": "LargeUtf8", "temperature": "Float64",
                           "rain": "Boolean", "day": "Timestamp(ns)"})
    );

    // The Rust step's summary of it is pandas' groupby.
    let summarize = scratch.dump(&format!("FramesFlow/{run}/summarize"));
    let summary = &find_key(&summarize, "summary").expect("summary in summarize")["$table"];
    let mut got = summary["columns"].clone();
    got.as_object_mut().unwrap().remove("spread");
    want.as_object_mut().unwrap().remove("spread");
    assert_close("summary", &got, &want);

    // The Go step read the numpy array.
    let end = scratch.dump(&format!("FramesFlow/{run}/end"));
    assert_close("spread", find_key(&end, "spread").unwrap(), &spread);

    // Python read the Rust table back as a DataFrame.
    let first = format!(
        "end/0: {}: {} readings, mean {:.3}",
        want["city"][0].as_str().unwrap(),
        want["readings"][0],
        want["mean_temperature"][0].as_f64().unwrap()
    );
    assert!(ran.stdout.contains(&first), "{first}\n{}", ran.stdout);
    // Python, Rust and Go steps over pandas frames replay identically.
    assert_replays_identically(&scratch, "FramesFlow", &run);
}

/// A wheel is a function of its recipe: nanoarrow (whose Cython module once
/// came out different from build to build) built again in an empty cache
/// at another, deeper path, with a toolchain of its own, is the same file.
/// Two builds asked for at once there take turns: one makes the toolchain
/// and the wheel, the other waits and uses them.
#[test]
fn a_wheel_built_again_in_another_cache_is_the_same_file() {
    let scratch = Scratch::new();
    let built = |env: &[(&str, String)]| {
        let ran = scratch
            .mfw_env(["wheels", "build", "nanoarrow==0.9.0"], env)
            .ok();
        PathBuf::from(ran.stdout.trim())
    };
    // The usual cache's (scripts/test builds it).
    let first = built(&[]);
    // The pinned downloads are copied, so nothing is fetched twice; the
    // toolchain and the build are this cache's own.
    let other = scratch
        .path()
        .join("another/machine/with/a/longer/path/wheels");
    std::fs::create_dir_all(&other).unwrap();
    for pinned in ["sdists", "debs"] {
        let from = common::wheel_cache().join(pinned);
        if from.exists() {
            let copied = Command::new("cp")
                .arg("-a")
                .arg(&from)
                .arg(&other)
                .status()
                .unwrap();
            assert!(copied.success());
        }
    }
    let env = [("MFW_WHEEL_CACHE", other.display().to_string())];
    let (one, two) = std::thread::scope(|s| {
        let one = s.spawn(|| scratch.mfw_env(["wheels", "build", "nanoarrow==0.9.0"], &env));
        let two = s.spawn(|| scratch.mfw_env(["wheels", "build", "nanoarrow==0.9.0"], &env));
        (one.join().unwrap(), two.join().unwrap())
    });
    let (one, two) = (one.ok(), two.ok());
    assert_eq!(one.stdout, two.stdout);
    assert!(
        format!("{}{}", one.stderr, two.stderr).contains("waiting for another build"),
        "neither build waited for the other:\n{}\n{}",
        one.stderr,
        two.stderr
    );
    let second = PathBuf::from(one.stdout.trim());
    assert!(second.starts_with(&other), "{}", second.display());
    assert_eq!(first.file_name(), second.file_name());
    assert!(
        std::fs::read(&first).unwrap() == std::fs::read(&second).unwrap(),
        "{} and {} differ",
        first.display(),
        second.display()
    );
}

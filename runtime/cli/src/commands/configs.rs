//! `--config NAME FILE` and `--config-value NAME TEXT`: the texts a
//! Python flow's Configs are built with, for `run`, `resume` and the two
//! `deploy` commands.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};

/// `--config NAME FILE` and `--config-value NAME TEXT`, each occurrence's
/// values kept together: `--config VALUE`, with one value, is the flow's
/// own parameter `config` (flows had those before Metaflow had Configs).
/// clap's derive cannot group values by occurrence yet, hence by hand.
#[derive(Debug, Clone, Default)]
pub struct ConfigArgs {
    /// `--config NAME FILE`: (name, file).
    files: Vec<(String, String)>,
    /// `--config-value NAME TEXT`: (name, text).
    values: Vec<(String, String)>,
    /// `--config VALUE`, as the flow's parameters take it. clap also takes
    /// the next parameter's `--name` as a second value: it is kept here too.
    pub(super) parameters: Vec<String>,
}

impl clap::FromArgMatches for ConfigArgs {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let grouped = |id: &str| -> Vec<Vec<String>> {
            matches
                .get_occurrences::<String>(id)
                .map(|occurrences| {
                    occurrences
                        .map(|values| values.cloned().collect())
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut args = ConfigArgs::default();
        for occurrence in grouped("config") {
            match <[String; 2]>::try_from(occurrence) {
                Ok([name, file]) if !file.starts_with("--") => args.files.push((name, file)),
                Ok(flag_after) => args
                    .parameters
                    .extend(std::iter::once("--config".to_string()).chain(flag_after)),
                Err(value) => args
                    .parameters
                    .extend(std::iter::once("--config".to_string()).chain(value)),
            }
        }
        for occurrence in grouped("config_value") {
            // clap gives exactly two values (`num_args = 2`).
            if let Ok([name, text]) = <[String; 2]>::try_from(occurrence) {
                args.values.push((name, text));
            }
        }
        Ok(args)
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for ConfigArgs {
    fn augment_args(command: clap::Command) -> clap::Command {
        command
            .arg(
                clap::Arg::new("config")
                    .long("config")
                    .num_args(1..=2)
                    .value_names(["NAME", "FILE"])
                    .value_parser(clap::value_parser!(String))
                    .action(clap::ArgAction::Append)
                    .help(
                        "Build the flow with FILE as its Config NAME (Metaflow's --config NAME \
                         FILE), instead of the config's default (repeatable)",
                    ),
            )
            .arg(
                clap::Arg::new("config_value")
                    .long("config-value")
                    .num_args(2)
                    .value_names(["NAME", "TEXT"])
                    .value_parser(clap::value_parser!(String))
                    .action(clap::ArgAction::Append)
                    .help(
                        "Build the flow with TEXT (JSON, or what its parser reads) as its \
                         Config NAME (repeatable)",
                    ),
            )
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        Self::augment_args(command)
    }
}

impl ConfigArgs {
    /// The texts given for the flow's Configs, by name: `--config`'s files
    /// read now, `--config-value`'s as given.
    pub fn texts(&self) -> anyhow::Result<BTreeMap<String, String>> {
        let read = |(name, file): &(String, String)| -> anyhow::Result<(String, String)> {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("--config {name} {file}: cannot read the file as text"))?;
            Ok((name.clone(), text))
        };
        let files = self.files.iter().map(read);
        let values = self.values.iter().cloned().map(Ok);
        let mut configs = BTreeMap::new();
        for given in files.chain(values) {
            let (name, text) = given?;
            if configs.contains_key(&name) {
                bail!("config {name} is given twice: give one --config or --config-value for it");
            }
            configs.insert(name, text);
        }
        Ok(configs)
    }

    /// The texts, for a command that takes no parameters: there `--config`
    /// with one value is a mistake, not the flow's parameter `config`.
    pub fn for_build(&self) -> anyhow::Result<BTreeMap<String, String>> {
        if let Some(value) = self.parameters.get(1) {
            bail!(
                "--config {value}: give a Config's name and file, as in --config settings \
                 prod.json (or --config-value settings '{{...}}')"
            );
        }
        self.texts()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Deploy {
        #[command(flatten)]
        configs: ConfigArgs,
        flow: String,
    }

    fn parse(args: &[&str]) -> Deploy {
        Deploy::try_parse_from(std::iter::once("deploy").chain(args.iter().copied()))
            .expect("arguments parse")
    }

    #[test]
    fn a_command_without_parameters_takes_configs_by_name_only() {
        let given = parse(&["--config-value", "settings", "{}", "flow.py"]);
        assert_eq!(given.flow, "flow.py");
        assert_eq!(
            given.configs.for_build().unwrap(),
            BTreeMap::from([("settings".to_string(), "{}".to_string())])
        );
        let file = std::env::temp_dir().join(format!("mfw-config-{}.json", std::process::id()));
        std::fs::write(&file, r#"{"a": 1}"#).unwrap();
        let path = file.to_str().unwrap();
        let from_file = parse(&["--config", "settings", path, "flow.py"]);
        assert_eq!(
            from_file.configs.for_build().unwrap()["settings"],
            r#"{"a": 1}"#
        );
        std::fs::remove_file(&file).unwrap();
        // One value would be the flow's parameter `config` in a run; a
        // deployment takes no parameters, so it says what to write.
        let one = parse(&["flow.py", "--config", "prod.json"]);
        let error = one.configs.for_build().unwrap_err().to_string();
        assert!(
            error.starts_with("--config prod.json: give a Config's name and file"),
            "{error}"
        );
    }
}

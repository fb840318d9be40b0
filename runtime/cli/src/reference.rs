//! The book's CLI reference (`docs/reference/cli.md`), made from the same
//! clap definitions that parse the command line, so the two cannot drift:
//! a test compares the page with what this module makes, and
//! `MFW_BLESS=1 cargo test -p mfw-cli reference` rewrites it.

use clap::CommandFactory;

/// The reference page: every command's full help, visible ones only.
pub(crate) fn cli_reference() -> String {
    let mut page = String::from(
        "# The `mfw` command line\n\n\
         Every command's `--help`, as `mfw` prints it. This page is made from \
         the definitions the command line is parsed with (a test fails when \
         they differ).\n",
    );
    let mut command = crate::Cli::command();
    command.build();
    describe(&mut command, "mfw", &mut page);
    page
}

/// Appends `command`'s help (named `path`) and its subcommands' to `page`.
fn describe(command: &mut clap::Command, path: &str, page: &mut String) {
    // An environment variable's value at the time the page is made is not
    // part of the reference.
    let mut shown = command.clone().mut_args(|arg| arg.hide_env_values(true));
    let help = shown.render_long_help().to_string();
    page.push_str(&format!(
        "\n## `{path}`\n\n```text\n{}\n```\n",
        help.trim_end()
    ));
    for sub in command.get_subcommands_mut() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        let name = format!("{path} {}", sub.get_name());
        describe(sub, &name, page);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_in_the_book_is_what_the_command_line_says() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/reference/cli.md");
        let made = cli_reference();
        if std::env::var_os("MFW_BLESS").is_some() {
            std::fs::write(&path, &made).unwrap();
        }
        let page = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            page == made,
            "{} is not what `mfw --help` says: run `MFW_BLESS=1 cargo test -p mfw-cli \
             reference` and commit it",
            path.display()
        );
    }

    #[test]
    fn the_reference_has_every_visible_command_and_no_hidden_one() {
        let page = cli_reference();
        for command in ["## `mfw run`", "## `mfw card get`", "## `mfw wheels build`"] {
            assert!(page.contains(command), "{command} is missing");
        }
        assert!(!page.contains("## `mfw worker`"));
    }
}
